//! The client commands (`ocpulse trigger`, `stations`, `jobs`, `sessions`) run as the real binary
//! against a real server with a simulated station: human output, `--json`, and errors.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Server;
use ocpp_rpc::ProtocolVersion;
use ocpulse_sim::runner::{RunOptions, run_station};
use ocpulse_sim::{Station, StationConfig};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Starts a simulated station on `server`, stopped with `stop`, and waits until it is up.
async fn station(server: &Server, id: &str, protocol: ProtocolVersion, stop: &CancellationToken) {
    station_with(server, StationConfig::new(id, protocol), stop).await;
}

/// Starts a simulated station of this configuration and waits until it is up.
async fn station_with(server: &Server, cfg: StationConfig, stop: &CancellationToken) {
    let id = cfg.id.clone();
    tokio::spawn(run_station(
        Station::new(cfg, None),
        Arc::new(RunOptions {
            url: format!("ws://{}/ocpp", server.addr),
            reconnect_min: Duration::from_millis(50),
            ..RunOptions::default()
        }),
        Arc::default(),
        stop.clone(),
        true,
    ));
    common::wait_connected(server, &id, true).await;
}

/// Runs `ocpulse ARGS --server URL` and returns (success, stdout, stderr).
async fn ocpulse(server: &Server, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ocpulse"))
        .args(args)
        .args(["--server", &server.url("")])
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("run ocpulse");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_stations_and_jobs_from_the_command_line() {
    let server = Server::start().await;
    let stop = CancellationToken::new();
    let mut cfg = StationConfig::new("CLI1", ProtocolVersion::V16);
    cfg.evses = 2;
    tokio::spawn(run_station(
        Station::new(cfg, None),
        Arc::new(RunOptions {
            url: format!("ws://{}/ocpp", server.addr),
            reconnect_min: Duration::from_millis(50),
            ..RunOptions::default()
        }),
        Arc::default(),
        stop.clone(),
        true,
    ));
    common::wait_connected(&server, "CLI1", true).await;

    let (ok, out, err) = ocpulse(
        &server,
        &["trigger", "CLI1", "StatusNotification", "--connector", "1"],
    )
    .await;
    assert!(ok, "{out}{err}");
    assert!(
        out.starts_with("CLI1 TriggerMessage → Completed (ocpp1.6, "),
        "{out}"
    );
    assert!(!out.contains('\x1b'), "no colour in a pipe: {out:?}");
    assert!(out.contains("StatusNotification {"), "{out}");
    assert!(out.contains("\"connectorId\":1"), "{out}");

    let (ok, out, err) = ocpulse(&server, &["trigger", "CLI1", "Heartbeat", "--json"]).await;
    assert!(ok, "{err}");
    let answer: Value = serde_json::from_str(&out).expect("--json prints the API's JSON");
    assert_eq!(answer["outcome"], "Completed");
    assert_eq!(answer["messages"][0]["action"], "Heartbeat");

    let (ok, out, err) = ocpulse(&server, &["trigger", "NOPE", "Heartbeat"]).await;
    assert!(!ok, "an API error fails the command: {out}");
    assert!(err.contains("404 station_not_found"), "{err}");
    let (ok, _, err) = ocpulse(&server, &["trigger", "CLI1", "Heartbeet"]).await;
    assert!(!ok);
    assert!(err.contains("400 unknown_requested_message"), "{err}");
    let (ok, _, err) = ocpulse(
        &server,
        &["trigger", "CLI1", "Heartbeat", "--custom-trigger", "x"],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("400 unexpected_custom_trigger"), "{err}");

    let (ok, out, err) = ocpulse(&server, &["stations"]).await;
    assert!(ok, "{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("CLI1"))
        .expect("CLI1 listed");
    assert!(
        line.contains("connected") && line.contains("ocpp1.6"),
        "{line}"
    );
    assert!(line.contains("1:Available"), "{line}");
    assert!(out.contains("1 stations"), "{out}");

    let (ok, out, err) = ocpulse(&server, &["jobs", "create", "Heartbeat", "--all"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("completed, 1 stations"), "{out}");
    assert!(out.contains("Completed 1"), "{out}");
    let job_id = out.split_whitespace().nth(1).expect("job id").to_owned();
    let (ok, out, _) = ocpulse(&server, &["jobs"]).await;
    assert!(ok);
    assert!(out.contains(&job_id) && out.contains("Heartbeat"), "{out}");
    let (ok, out, _) = ocpulse(&server, &["jobs", "show", &job_id, "--json"]).await;
    assert!(ok);
    let job: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(job["results"][0]["stationId"], "CLI1");
    let (ok, _, err) = ocpulse(&server, &["jobs", "cancel", &job_id]).await;
    assert!(!ok);
    assert!(err.contains("409 job_finished"), "{err}");
    stop.cancel();
}

#[test]
fn completions_cover_every_command() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ocpulse"))
        .args(["completions", "bash"])
        .output()
        .expect("run ocpulse");
    assert!(out.status.success());
    let script = String::from_utf8_lossy(&out.stdout);
    for word in [
        "trigger",
        "change-availability",
        "clear-cache",
        "jobs",
        "config",
        "--heartbeat-interval",
        "--no-wait",
    ] {
        assert!(
            script.contains(word),
            "{word} missing from the bash completions"
        );
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ocpulse"))
        .args(["completions", "tcsh"])
        .output()
        .expect("run ocpulse");
    assert!(!out.status.success(), "an unknown shell is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_that_does_not_complete_says_why_once_and_fails() {
    let server = Server::start().await;
    let stop = CancellationToken::new();
    station(&server, "CLI201", ProtocolVersion::V201, &stop).await;
    // A booted 2.0.1 station refuses a BootNotification trigger: Rejected, AlreadyAccepted.
    let (ok, out, err) = ocpulse(&server, &["trigger", "CLI201", "BootNotification"]).await;
    assert!(!ok, "a Rejected trigger fails the command: {out}");
    let first = out.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("CLI201 TriggerMessage → Rejected (ocpp2.0.1, "),
        "{out}"
    );
    assert_eq!(first.matches("Rejected").count(), 1, "said once: {first}");
    assert!(
        out.contains("station answered Rejected, reason AlreadyAccepted"),
        "{out}"
    );
    assert!(!out.contains("incomplete"), "{out}");
    assert!(err.contains("the trigger ended Rejected"), "{err}");
    // --json still prints the answer, and still fails.
    let (ok, out, _) = ocpulse(
        &server,
        &["trigger", "CLI201", "BootNotification", "--json"],
    )
    .await;
    assert!(!ok);
    let answer: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(answer["statusInfo"]["reasonCode"], "AlreadyAccepted");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_take_every_protocol_spelling_refuse_unknown_statuses_and_no_wait_prints_the_id() {
    let server = Server::start().await;
    let stop = CancellationToken::new();
    station(&server, "P16", ProtocolVersion::V16, &stop).await;
    station(&server, "P201", ProtocolVersion::V201, &stop).await;

    for (spelling, picked) in [
        ("1.6", "P16"),
        ("ocpp1.6", "P16"),
        ("2.0.1", "P201"),
        ("ocpp2.0.1", "P201"),
    ] {
        let (ok, out, err) = ocpulse(
            &server,
            &["jobs", "create", "Heartbeat", "--protocol", spelling],
        )
        .await;
        assert!(ok, "--protocol {spelling}: {err}");
        assert!(out.contains("completed, 1 stations"), "{spelling}: {out}");
        assert!(out.contains(picked), "{spelling}: {out}");
        assert!(
            err.is_empty(),
            "no progress bar outside a terminal: {err:?}"
        );
    }
    let (ok, out, _) = ocpulse(
        &server,
        &["jobs", "create", "Heartbeat", "--protocol", "2.1"],
    )
    .await;
    assert!(ok && out.contains("completed, 0 stations"), "{out}");
    let (ok, _, err) = ocpulse(&server, &["jobs", "create", "Heartbeat", "--protocol", "3"]).await;
    assert!(!ok);
    assert!(err.contains("use 1.6, 2.0.1 or 2.1"), "{err}");
    // The API takes the same spellings.
    let (status, job) = server
        .post(
            "/api/v1/trigger-jobs",
            r#"{"selector": {"protocol": "1.6"}, "trigger": {"requestedMessage": "Heartbeat"}, "wait": true}"#,
        )
        .await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["total"], 1, "{job}");
    assert_eq!(job["selector"]["protocol"], "ocpp1.6", "{job}");

    let (ok, _, err) = ocpulse(
        &server,
        &[
            "jobs",
            "create",
            "Heartbeat",
            "--all",
            "--connector-status",
            "Bogus",
        ],
    )
    .await;
    assert!(!ok, "an unknown connector status is refused");
    assert!(
        err.contains("400 invalid_selector")
            && err.contains("connectorStatus")
            && err.contains("Charging"),
        "{err}"
    );

    let (ok, out, err) = ocpulse(
        &server,
        &["jobs", "create", "Heartbeat", "--all", "--no-wait"],
    )
    .await;
    assert!(ok, "{err}");
    let id = out.trim();
    assert_eq!(out.lines().count(), 1, "only the id: {out}");
    assert!(
        !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()),
        "{out}"
    );
    let (ok, shown, _) = ocpulse(&server, &["jobs", "show", id]).await;
    assert!(ok && shown.contains(id), "{shown}");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_the_simulator_quietly() {
    let server = Server::start().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ocpulse"))
        .args(["sim", "--duration", "1", "--summary-secs", "0", "--url"])
        .arg(format!("ws://{}/ocpp", server.addr))
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run ocpulse sim");
    // The reader goes away at once, as `| head -0` would.
    drop(child.stdout.take());
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("sim ends")
        .expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?} {stderr}", out.status);
}

/// Runs `ocpulse ARGS` with `input` on stdin.
async fn ocpulse_stdin(server: &Server, args: &[&str], input: &str) -> (bool, String, String) {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ocpulse"))
        .args(args)
        .args(["--server", &server.url("")])
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run ocpulse");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(input.as_bytes())
        .await
        .expect("write stdin");
    drop(stdin);
    let out = child.wait_with_output().await.expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The id `create` printed (`created ID`).
fn created(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("created "))
        .unwrap_or_else(|| panic!("no `created` line in {out}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_and_freshness_targets_from_the_command_line() {
    let server = Server::start().await;
    let stop = CancellationToken::new();
    station(&server, "SCH1", ProtocolVersion::V16, &stop).await;

    let body = r#"{"name": "hourly heartbeat", "selector": {"all": true}, "trigger": {"requestedMessage": "Heartbeat"}, "everySeconds": 3600}"#;
    let (ok, out, err) = ocpulse(&server, &["schedules", "create", "--body", body]).await;
    assert!(ok, "{err}");
    let id = created(&out);
    assert!(
        out.contains("everySeconds") && out.contains("3600"),
        "{out}"
    );
    let (ok, out, _) = ocpulse(&server, &["schedules"]).await;
    assert!(ok);
    let line = out.lines().find(|l| l.starts_with(&id)).expect("listed");
    assert!(
        line.contains("hourly heartbeat") && line.contains("Heartbeat"),
        "{line}"
    );
    let (ok, out, _) = ocpulse(&server, &["schedules", "show", &id, "--json"]).await;
    assert!(ok);
    let shown: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(shown["scheduleId"], id.as_str());
    let disabled = r#"{"name": "hourly heartbeat", "selector": {"all": true}, "trigger": {"requestedMessage": "Heartbeat"}, "everySeconds": 3600, "enabled": false}"#;
    let (ok, out, err) = ocpulse(&server, &["schedules", "replace", &id, "--body", disabled]).await;
    assert!(ok, "{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("enabled") && l.ends_with("false")),
        "{out}"
    );
    let (ok, out, _) = ocpulse(&server, &["schedules", "delete", &id]).await;
    assert!(ok && out.trim() == format!("deleted {id}"), "{out}");
    let (ok, out, _) = ocpulse(&server, &["schedules", "list"]).await;
    assert!(ok && out.trim() == "none", "{out}");
    let (ok, _, err) = ocpulse(&server, &["schedules", "show", &id]).await;
    assert!(!ok && err.contains("404"), "{err}");
    let (ok, _, err) = ocpulse(&server, &["schedules", "create", "--body", "{oops"]).await;
    assert!(!ok && err.contains("--body is not JSON"), "{err}");
    let (ok, _, err) = ocpulse(&server, &["schedules", "create", "--body", "{}"]).await;
    assert!(
        !ok && err.contains("400"),
        "the API's refusal is shown: {err}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("target.json");
    std::fs::write(
        &file,
        r#"{"name": "connector status", "selector": {"all": true}, "data": "connectorStatus", "maxAgeSeconds": 900}"#,
    )
    .expect("write body");
    let at_file = format!("@{}", file.display());
    let (ok, out, err) = ocpulse(&server, &["freshness", "create", "--body", &at_file]).await;
    assert!(ok, "{err}");
    let id = created(&out);
    let (ok, out, _) = ocpulse(&server, &["freshness"]).await;
    assert!(ok);
    let line = out.lines().find(|l| l.starts_with(&id)).expect("listed");
    assert!(
        line.contains("connectorStatus") && line.contains("900"),
        "{line}"
    );
    let (ok, out, _) = ocpulse(&server, &["freshness", "show", &id]).await;
    assert!(ok && out.contains("maxAgeSeconds"), "{out}");
    let (ok, _, _) = ocpulse(&server, &["freshness", "delete", &id]).await;
    assert!(ok);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_rules_alerts_and_webhooks_from_the_command_line() {
    let server = Server::start_with(common::allow_loopback_webhooks).await;
    let stop = CancellationToken::new();

    let (ok, out, err) = ocpulse_stdin(
        &server,
        &["alert-rules", "create", "--body", "-"],
        r#"{"name": "Connector faulted", "condition": {"kind": "connectorFaulted"}, "severity": "critical"}"#,
    )
    .await;
    assert!(ok, "{err}");
    let rule = created(&out);
    let (ok, out, _) = ocpulse(&server, &["alert-rules"]).await;
    assert!(ok);
    let line = out.lines().find(|l| l.starts_with(&rule)).expect("listed");
    assert!(
        line.contains("critical") && line.contains("connectorFaulted"),
        "{line}"
    );

    let mut cfg = StationConfig::new("ALR1", ProtocolVersion::V16);
    cfg.faults.faulted = true;
    station_with(&server, cfg, &stop).await;
    let mut listed = String::new();
    for _ in 0..100 {
        let (ok, out, err) = ocpulse(&server, &["alerts", "list", "--status", "open"]).await;
        assert!(ok, "{err}");
        if out.contains("ALR1") {
            listed = out;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let line = listed
        .lines()
        .find(|l| l.contains("ALR1"))
        .expect("the faulted station raised an alert");
    assert!(
        line.contains("open") && line.contains("Connector faulted"),
        "{line}"
    );
    let alert = line.split_whitespace().next().expect("alert id").to_owned();
    let (ok, out, err) = ocpulse(
        &server,
        &[
            "alerts",
            "acknowledge",
            &alert,
            "--by",
            "alice",
            "--note",
            "on it",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert!(
        out.contains("acknowledged") && out.contains("alice"),
        "{out}"
    );
    let (ok, out, _) = ocpulse(&server, &["alerts", "show", &alert, "--json"]).await;
    assert!(ok);
    let shown: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(shown["acknowledgeNote"], "on it");
    let (ok, _, err) = ocpulse(&server, &["alerts", "list", "--status", "bogus"]).await;
    assert!(!ok && err.contains("open"), "{err}");

    let body =
        r#"{"url": "http://127.0.0.1:9/hooks", "secret": "change-me-to-a-long-random-secret"}"#;
    let (ok, out, err) = ocpulse(&server, &["webhooks", "create", "--body", body]).await;
    assert!(ok, "{err}");
    let hook = created(&out);
    let (ok, out, _) = ocpulse(&server, &["webhooks"]).await;
    assert!(ok);
    assert!(
        out.contains(&hook) && out.contains("http://127.0.0.1:9/hooks"),
        "{out}"
    );
    assert!(!out.contains("change-me-to-a-long-random-secret"), "{out}");
    let (ok, out, err) = ocpulse(&server, &["webhooks", "deliveries", &hook]).await;
    assert!(ok, "{err}");
    assert!(out.starts_with("DELIVERY") || out.trim() == "none", "{out}");
    let (ok, _, _) = ocpulse(&server, &["webhooks", "delete", &hook]).await;
    assert!(ok);
    let renamed = r#"{"name": "Faulted connector", "condition": {"kind": "connectorFaulted"}, "severity": "warning"}"#;
    let (ok, out, err) = ocpulse(
        &server,
        &["alert-rules", "replace", &rule, "--body", renamed],
    )
    .await;
    assert!(ok, "{err}");
    assert!(
        out.contains("Faulted connector") && out.contains("warning"),
        "{out}"
    );
    let (ok, _, _) = ocpulse(&server, &["alert-rules", "delete", &rule]).await;
    assert!(ok);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_and_exports_from_the_command_line() {
    let server = Server::start().await;
    let stop = CancellationToken::new();
    station(&server, "REP1", ProtocolVersion::V16, &stop).await;
    let (ok, _, err) = ocpulse(&server, &["trigger", "REP1", "Heartbeat"]).await;
    assert!(ok, "{err}");

    let (ok, out, err) = ocpulse(&server, &["reports", "fleet"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("ocpp1.6"), "{out}");
    let (ok, out, _) = ocpulse(&server, &["reports", "health"]).await;
    assert!(ok);
    let line = out.lines().find(|l| l.starts_with("REP1")).expect("listed");
    assert!(line.contains("ocpp1.6") && line.contains("true"), "{line}");
    let (ok, out, _) = ocpulse(&server, &["reports", "health", "REP1", "--json"]).await;
    assert!(ok);
    let health: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(health["stationId"], "REP1");
    let (ok, out, err) = ocpulse(&server, &["reports", "storage"]).await;
    assert!(ok && !out.is_empty(), "{err}");

    let (ok, out, err) = ocpulse(
        &server,
        &[
            "export",
            "journal",
            "--station",
            "REP1",
            "--format",
            "jsonl",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let entries: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(entries.iter().any(|e| e["action"] == "Heartbeat"), "{out}");
    assert!(entries.iter().all(|e| e["stationId"] == "REP1"), "{out}");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("journal.csv");
    let (ok, out, err) = ocpulse(
        &server,
        &[
            "export",
            "journal",
            "--action",
            "BootNotification",
            "-o",
            &file.to_string_lossy(),
        ],
    )
    .await;
    assert!(ok && out.is_empty(), "{err}");
    let csv = std::fs::read_to_string(&file).expect("export written");
    assert!(csv.starts_with("seq,at,stationId"), "{csv}");
    assert!(
        csv.contains("BootNotification") && !csv.contains("Heartbeat"),
        "{csv}"
    );
    let (ok, out, err) = ocpulse(&server, &["export", "meter-values"]).await;
    assert!(ok, "{err}");
    assert!(
        out.lines().next().is_some_and(|h| h.contains("stationId")),
        "{out}"
    );
    let (ok, _, err) = ocpulse(&server, &["export", "journal", "--station", "NOPE"]).await;
    assert!(!ok && err.contains("404 station_not_found"), "{err}");
    stop.cancel();
}

/// Runs `ocpulse ARGS` on a pseudo-terminal (util-linux `script`, in Debian's essential
/// bsdutils) and returns what the terminal showed, or `None` without `script`.
async fn on_a_terminal(server: &Server, args: &str, env: &[(&str, &str)]) -> Option<String> {
    let command = format!(
        "{} {args} --server {}",
        env!("CARGO_BIN_EXE_ocpulse"),
        server.url("")
    );
    let out = tokio::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("RUST_LOG", "warn")
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_gets_colour_and_a_progress_bar() {
    let server = Server::start().await;
    let stop = CancellationToken::new();
    station(&server, "TTY1", ProtocolVersion::V16, &stop).await;
    let mut mute = StationConfig::new("TTY2", ProtocolVersion::V16);
    mute.faults.ignore_csms_calls = true;
    station_with(&server, mute, &stop).await;

    let args = "jobs create Heartbeat --all --retries 0 --timeout-ms 1500";
    let Some(shown) = on_a_terminal(&server, args, &[]).await else {
        eprintln!("skipped: no `script` to run a pseudo-terminal");
        return;
    };
    assert!(shown.contains("2 stations in"), "{shown}");
    assert!(
        shown.contains("\x1b[32mCompleted\x1b[0m"),
        "green: {shown:?}"
    );
    assert!(
        shown.contains("\x1b[31mStationTimeout\x1b[0m"),
        "red: {shown:?}"
    );
    assert!(
        shown.contains("/2 stations"),
        "a progress bar while it ran: {shown:?}"
    );

    let shown = on_a_terminal(&server, args, &[("NO_COLOR", "1")])
        .await
        .expect("script ran before");
    assert!(shown.contains("2 stations in"), "{shown}");
    assert!(
        !shown.contains("\x1b[32m") && !shown.contains("\x1b[31m"),
        "{shown:?}"
    );
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_started_watched_and_stopped_from_the_command_line() {
    let server = Server::start().await;
    let stop = CancellationToken::new();
    let mut cfg = StationConfig::new("CLIS", ProtocolVersion::V201);
    cfg.meter_interval = Duration::from_millis(300);
    station_with(&server, cfg, &stop).await;
    common::sim::wait_for(&server, "CLIS", |s| {
        s["connectors"].as_array().is_some_and(|c| !c.is_empty())
    })
    .await;

    let (ok, out, err) = ocpulse(
        &server,
        &[
            "sessions",
            "start",
            "CLIS",
            "--id-token",
            "TAG9",
            "--evse",
            "1",
            "--json",
        ],
    )
    .await;
    assert!(ok, "{out}{err}");
    let started: Value = serde_json::from_str(&out).expect("--json prints the session");
    let id = started["id"].as_str().expect("id").to_owned();
    assert_eq!(started["active"], true);

    // watch prints a line per change until --for passes: energy rises.
    let (ok, out, err) = ocpulse(
        &server,
        &["sessions", "watch", &id, "--for", "2", "--every", "0.2"],
    )
    .await;
    assert!(ok, "{err}");
    let energies: Vec<f64> = out
        .lines()
        .filter_map(|l| l.split("energy ").nth(1))
        .filter_map(|e| e.split(" kWh").next())
        .filter_map(|e| e.parse().ok())
        .collect();
    assert!(
        energies.len() >= 2 && energies.last() > energies.first(),
        "energy rising: {out}"
    );
    assert!(out.contains("active") && out.contains("11.0 kW"), "{out}");

    let (ok, out, err) = ocpulse(&server, &["sessions", "list", "--active"]).await;
    assert!(ok, "{err}");
    assert!(out.starts_with("SESSION"), "{out}");
    assert!(out.contains(&id) && out.contains("TAG9"), "{out}");

    let (ok, out, err) = ocpulse(&server, &["sessions", "stop", &id]).await;
    assert!(ok, "{err}");
    assert!(out.contains("ended") && out.contains("Remote"), "{out}");
    let (ok, out, _) = ocpulse(&server, &["sessions", "get", &id]).await;
    assert!(ok);
    assert!(out.contains("READING") && out.contains("REGISTER"), "{out}");
    let (ok, out, _) = ocpulse(&server, &["sessions", "list", "--ended", "--json"]).await;
    assert!(ok);
    let list: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(list["items"][0]["id"], id.as_str());

    let (ok, _, err) = ocpulse(&server, &["sessions", "stop", &id]).await;
    assert!(!ok, "stopping an ended session fails the command");
    assert!(err.contains("409 session_ended"), "{err}");
    let (ok, _, err) = ocpulse(&server, &["sessions", "start", "NOPE", "--id-token", "T"]).await;
    assert!(!ok);
    assert!(err.contains("404 station_not_found"), "{err}");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_is_uploaded_and_downloaded_each_with_one_command_in_both_versions() {
    let server = Server::start().await;
    let stop = CancellationToken::new();
    station(&server, "CLILOG16", ProtocolVersion::V16, &stop).await;
    station(&server, "CLILOG201", ProtocolVersion::V201, &stop).await;
    let dir = tempfile::tempdir().expect("tempdir");
    for (id, version) in [("CLILOG16", "ocpp1.6"), ("CLILOG201", "ocpp2.0.1")] {
        let file = dir.path().join(format!("{id}.log"));
        let file_arg = file.to_string_lossy().into_owned();
        // One command: ask, wait, write the file.
        let (ok, out, err) =
            ocpulse(&server, &["logs", "request", id, "--wait", "-o", &file_arg]).await;
        assert!(ok, "{out}{err}");
        let text = std::fs::read_to_string(&file).expect("the file was written");
        assert!(text.contains(&format!("station={id}")), "{text}");
        assert!(text.contains(&format!("protocol={version}")), "{text}");
        // One command to download it again, to stdout.
        let (ok, out, err) = ocpulse(&server, &["logs", "list", "--station", id, "--json"]).await;
        assert!(ok, "{err}");
        let list: Value = serde_json::from_str(&out).expect("json");
        let log_id = list["items"][0]["id"].as_str().expect("id").to_owned();
        let (ok, downloaded, err) = ocpulse(&server, &["logs", "download", &log_id]).await;
        assert!(ok, "{err}");
        assert_eq!(downloaded, text);
        let (ok, shown, _) = ocpulse(&server, &["logs", "get", &log_id]).await;
        assert!(ok && shown.contains("received"), "{shown}");
    }
    let (ok, table, _) = ocpulse(&server, &["logs", "list"]).await;
    assert!(ok, "{table}");
    assert!(table.starts_with("LOG"), "{table}");
    assert!(
        table.contains("GetDiagnostics") && table.contains("GetLog"),
        "{table}"
    );
    // A refusal fails the command and says so.
    let mut cfg = StationConfig::new("CLILOGREJ", ProtocolVersion::V201);
    cfg.faults.add_flag("GetLog=reject").expect("fault");
    station_with(&server, cfg, &stop).await;
    let (ok, out, err) = ocpulse(&server, &["logs", "request", "CLILOGREJ", "--wait"]).await;
    assert!(!ok, "{out}");
    assert!(err.contains("rejected"), "{err}");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_and_station_operations_from_the_command_line() {
    let server = Server::start().await;
    let stop = CancellationToken::new();
    station(&server, "CLIC16", ProtocolVersion::V16, &stop).await;
    station(&server, "CLIC2", ProtocolVersion::V201, &stop).await;
    let (ok, out, err) = ocpulse(
        &server,
        &[
            "call",
            "CLIC16",
            "GetConfiguration",
            r#"{"key": ["HeartbeatInterval"]}"#,
        ],
    )
    .await;
    assert!(ok, "{out}{err}");
    assert!(
        out.starts_with("CLIC16 GetConfiguration → answered (ocpp1.6"),
        "{out}"
    );
    assert!(out.contains("HeartbeatInterval"), "{out}");
    // A payload the schema refuses fails before anything is sent, saying where.
    let (ok, _, err) = ocpulse(&server, &["call", "CLIC2", "Reset", r#"{"type": "Later"}"#]).await;
    assert!(!ok);
    assert!(
        err.contains("invalid_payload") && err.contains("/type"),
        "{err}"
    );
    let (ok, out, err) = ocpulse(&server, &["call", "CLIC2", "ClearCache", "--no-wait"]).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("ocpulse calls get"), "{out}");
    let (ok, out, err) = ocpulse(&server, &["reset", "CLIC2", "Hard"]).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("Reset → Accepted") && out.contains("note:"),
        "{out}"
    );
    let (ok, out, err) = ocpulse(
        &server,
        &[
            "change-availability",
            "CLIC16",
            "--inoperative",
            "--connector",
            "1",
        ],
    )
    .await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("StatusNotification") && out.contains("Unavailable"),
        "{out}"
    );
    let (ok, out, err) = ocpulse(
        &server,
        &["unlock", "CLIC2", "--evse", "1", "--connector", "1"],
    )
    .await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("Unlocked"), "{out}");
    let (ok, out, err) = ocpulse(&server, &["clear-cache", "CLIC16", "--json"]).await;
    assert!(ok, "{out}{err}");
    let answer: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(answer["status"], "Accepted");
    let (ok, out, err) = ocpulse(&server, &["reset", "CLIC16", "OnIdle"]).await;
    assert!(!ok, "{out}");
    assert!(err.contains("no_equivalent"), "{err}");
    let (ok, out, err) = ocpulse(&server, &["calls", "list", "--station", "CLIC2"]).await;
    assert!(ok, "{out}{err}");
    assert!(out.starts_with("CALL"), "{out}");
    for action in ["UnlockConnector", "Reset", "ClearCache"] {
        assert!(out.contains(action), "{action}: {out}");
    }
    let id = answer["callId"].as_str().expect("callId");
    let (ok, out, err) = ocpulse(&server, &["calls", "get", id, "--json"]).await;
    assert!(ok, "{out}{err}");
    let record: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(record["kind"], "call");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firmware_rollout_runs_and_is_followed_with_one_command() {
    let server = Server::start().await;
    let stop = CancellationToken::new();
    station(&server, "CLIFW16", ProtocolVersion::V16, &stop).await;
    station(&server, "CLIFW201", ProtocolVersion::V201, &stop).await;
    // One command: staged over both versions, followed to the end.
    let (ok, out, err) = ocpulse(
        &server,
        &[
            "firmware",
            "rollout",
            "https://127.0.0.1/fw/acme-7.bin",
            "--stations",
            "CLIFW16,CLIFW201",
            "--firmware-version",
            "acme-7",
            "--canary-percent",
            "50",
            "--canary-wait",
            "0",
            "--wait",
        ],
    )
    .await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("completed"), "{out}");
    assert!(out.contains("CLIFW16") && out.contains("CLIFW201"), "{out}");
    assert!(out.matches("installed").count() >= 2, "{out}");
    let (ok, table, err) = ocpulse(&server, &["firmware", "list"]).await;
    assert!(ok, "{err}");
    assert!(
        table.starts_with("ROLLOUT") && table.contains("completed"),
        "{table}"
    );
    let (ok, json_out, err) = ocpulse(&server, &["firmware", "list", "--json"]).await;
    assert!(ok, "{err}");
    let list: Value = serde_json::from_str(&json_out).expect("json");
    let id = list["items"][0]["id"].as_str().expect("id").to_owned();
    // Cancelling a finished rollout fails the command and says why.
    let (ok, _, err) = ocpulse(&server, &["firmware", "cancel", &id]).await;
    assert!(!ok);
    assert!(err.contains("rollout_stopped"), "{err}");
    // A rollout that fails fails the command.
    let mut cfg = StationConfig::new("CLIFWBAD", ProtocolVersion::V201);
    cfg.faults.add_flag("UpdateFirmware=fail").expect("fault");
    station_with(&server, cfg, &stop).await;
    let (ok, out, err) = ocpulse(
        &server,
        &[
            "firmware",
            "rollout",
            "https://127.0.0.1/fw/acme-8.bin",
            "--stations",
            "CLIFWBAD",
            "--wait",
        ],
    )
    .await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("DownloadFailed") && err.contains("halted"),
        "{out}{err}"
    );
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_tokens_are_set_listed_and_pushed_from_the_command_line_also_as_tokens() {
    let server = Server::start().await;
    let stop = CancellationToken::new();
    station(&server, "CLITOK16", ProtocolVersion::V16, &stop).await;
    let (ok, out, err) = ocpulse(
        &server,
        &["id-tokens", "set", "TAG-CLI-1", "--status", "Blocked"],
    )
    .await;
    assert!(ok, "{out}{err}");
    // `tokens` is the short name of `id-tokens`.
    let (ok, table, err) = ocpulse(&server, &["tokens", "list"]).await;
    assert!(ok, "{err}");
    assert!(
        table.starts_with("ID TOKEN") && table.contains("TAG-CLI-1") && table.contains("Blocked"),
        "{table}"
    );
    let (ok, shown, err) = ocpulse(&server, &["tokens", "show", "TAG-CLI-1", "--json"]).await;
    assert!(ok, "{err}");
    let token: Value = serde_json::from_str(&shown).expect("json");
    assert_eq!(token["status"], "Blocked", "{token}");
    let (ok, out, err) = ocpulse(&server, &["tokens", "push-local-list", "CLITOK16"]).await;
    assert!(ok, "{out}{err}");
    let (ok, _, err) = ocpulse(&server, &["tokens", "show", "NO-SUCH-TAG"]).await;
    assert!(!ok);
    assert!(err.contains("not_found") || err.contains("404"), "{err}");
    stop.cancel();
}
