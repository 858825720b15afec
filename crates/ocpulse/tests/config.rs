//! The configuration of `ocpulse serve`, through the real binary: the `--config` TOML file,
//! the `OCPULSE_*` environment, flags, their precedence, and `ocpulse config check`.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// The repository's root (the example file and the docs live there).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `ocpulse ARGS` with `env` set, and every other serve variable the test uses unset.
fn ocpulse(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ocpulse"));
    cmd.args(args).env("RUST_LOG", "warn");
    for var in [
        "OCPULSE_CONFIG",
        "OCPULSE_HEARTBEAT_INTERVAL",
        "OCPULSE_CALL_TIMEOUT",
        "OCPULSE_DATABASE_URL",
        "OCPULSE_LISTEN",
        "OCPULSE_DATA_DIR",
        "OCPULSE_REQUIRE_TOKEN",
        "OCPULSE_WEBHOOK_ALLOW",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run ocpulse")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The line of `config check`'s output that sets `key`.
fn setting(stdout: &str, key: &str) -> String {
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no {key} in:\n{stdout}"))
        .to_owned()
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).expect("write config");
    path.to_string_lossy().into_owned()
}

#[test]
fn the_shipped_example_file_is_accepted() {
    let file = root().join("packaging/ocpulse.toml");
    let out = ocpulse(
        &["config", "check", "--config", &file.to_string_lossy()],
        &[],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        setting(&stdout, "data-dir"),
        "data-dir = \"/var/lib/ocpulse\"  # file"
    );
    assert_eq!(
        setting(&stdout, "retain-action"),
        "retain-action = [\"BootNotification=forever\"]  # file"
    );
}

#[test]
fn the_documented_example_file_is_accepted() {
    let page = std::fs::read_to_string(root().join("docs/configuration.md")).expect("page");
    let start = page.find("```toml\n").expect("a toml example") + "```toml\n".len();
    let len = page[start..].find("```").expect("closed");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "doc.toml", &page[start..start + len]);
    let out = ocpulse(&["config", "check", "--config", &file], &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        setting(&stdout, "webhook-allow"),
        "webhook-allow = [\"10.20.0.0/16\"]  # file"
    );
    assert_eq!(
        setting(&stdout, "require-token"),
        "require-token = true  # file"
    );
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_file_which_beats_the_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "c.toml", "heartbeat-interval = 77\n");
    let check = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["config", "check", "--config", &file];
        all.extend_from_slice(args);
        let out = ocpulse(&all, env);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        setting(&stdout, "heartbeat-interval")
    };
    let no_file = text(&ocpulse(&["config", "check"], &[])).0;
    assert_eq!(
        setting(&no_file, "heartbeat-interval"),
        "heartbeat-interval = 300  # default"
    );
    assert_eq!(check(&[], &[]), "heartbeat-interval = 77  # file");
    assert_eq!(
        check(&[], &[("OCPULSE_HEARTBEAT_INTERVAL", "88")]),
        "heartbeat-interval = 88  # env OCPULSE_HEARTBEAT_INTERVAL"
    );
    assert_eq!(
        check(
            &["--heartbeat-interval", "99"],
            &[("OCPULSE_HEARTBEAT_INTERVAL", "88")]
        ),
        "heartbeat-interval = 99  # flag"
    );
    // The file itself can come from the environment.
    let out = ocpulse(&["config", "check"], &[("OCPULSE_CONFIG", &file)]);
    assert_eq!(
        setting(&text(&out).0, "heartbeat-interval"),
        "heartbeat-interval = 77  # file"
    );
}

#[test]
fn unknown_keys_and_bad_values_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (body, says) in [
        ("heartbeat = 10\n", "unknown setting `heartbeat`"),
        (
            "heartbeat-interval = 0\n",
            "`heartbeat-interval = 0`: 0 is not in 1..",
        ),
        ("heartbeat-interval = \"often\"\n", "heartbeat-interval"),
        (
            "validation = \"loose\"\n",
            "unknown validation mode \"loose\"",
        ),
        ("require-token = \"yes\"\n", "a switch: write true or false"),
        ("listen = [\"127.0.0.1:1\"]\n", "give one value, not a list"),
        (
            "retain-journal = \"10s\"\n",
            "shorter than the shortest retention",
        ),
        ("tls-cert = \"server.pem\"\n", "--tls-key"),
        ("listen = [1\n", "is not valid TOML"),
        ("config = \"other.toml\"\n", "unknown setting `config`"),
    ] {
        let file = write(dir.path(), "bad.toml", body);
        for command in [&["config", "check"][..], &["serve"][..]] {
            let mut args = command.to_vec();
            args.extend(["--config", &file]);
            let out = ocpulse(&args, &[]);
            let (_, stderr) = text(&out);
            assert!(!out.status.success(), "{body} was accepted by {command:?}");
            assert!(stderr.contains(&file), "{body}: names the file: {stderr}");
            assert!(stderr.contains(says), "{body}: {stderr}");
        }
    }
    let out = ocpulse(&["config", "check", "--config", "/nonexistent.toml"], &[]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("cannot read the config file"));
}

#[test]
fn secrets_are_redacted_and_exposure_is_checked() {
    let out = ocpulse(
        &["config", "check"],
        &[(
            "OCPULSE_DATABASE_URL",
            "postgres://ops:s3cret@127.0.0.1:5432/ocpulse",
        )],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.contains("s3cret"), "{stdout}");
    assert!(
        stdout.contains("postgres://ops:REDACTED@127.0.0.1:5432/ocpulse"),
        "{stdout}"
    );
    let out = ocpulse(&["config", "check", "--listen", "0.0.0.0:8180"], &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("# in force: auto-register = false, require-token = true"),
        "what the listener makes of the defaults is shown: {stdout}"
    );
    let out = ocpulse(
        &[
            "config",
            "check",
            "--listen",
            "0.0.0.0:8180",
            "--auto-register",
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(text(&out).1.contains("refusing to listen"));
}

#[tokio::test]
async fn serve_starts_with_the_settings_of_its_file() {
    ocpulse::install_tls_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let data = dir.path().join("data");
    let file = write(
        dir.path(),
        "serve.toml",
        &format!(
            "listen = \"127.0.0.1:{port}\"\ndata-dir = {:?}\nrequire-token = true\n",
            data.to_string_lossy()
        ),
    );
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ocpulse"))
        .args(["serve", "--config", &file])
        .env("RUST_LOG", "warn")
        .env_remove("OCPULSE_LISTEN")
        .env_remove("OCPULSE_DATA_DIR")
        .env_remove("OCPULSE_REQUIRE_TOKEN")
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn serve");
    let url = format!("http://127.0.0.1:{port}/api/v1/stations");
    let started = Instant::now();
    let status = loop {
        match reqwest::get(&url).await {
            Ok(r) => break r.status().as_u16(),
            Err(_) if started.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("serve did not listen on the file's address: {e}"),
        }
    };
    assert_eq!(
        status, 401,
        "require-token = true from the file is in force"
    );
    assert!(data.exists(), "the file's data-dir is used");
    child.kill().await.expect("stop serve");
}

#[test]
fn the_environment_takes_switches_and_comma_separated_lists() {
    let out = ocpulse(
        &["config", "check"],
        &[
            ("OCPULSE_REQUIRE_TOKEN", "true"),
            ("OCPULSE_WEBHOOK_ALLOW", "10.0.0.0/8,192.168.1.5"),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        setting(&stdout, "require-token"),
        "require-token = true  # env OCPULSE_REQUIRE_TOKEN"
    );
    assert_eq!(
        setting(&stdout, "webhook-allow"),
        "webhook-allow = [\"10.0.0.0/8\", \"192.168.1.5\"]  # env OCPULSE_WEBHOOK_ALLOW"
    );
    let out = ocpulse(&["config", "check"], &[("OCPULSE_REQUIRE_TOKEN", "maybe")]);
    assert!(!out.status.success(), "a bad environment value is refused");
}
