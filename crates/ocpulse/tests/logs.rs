//! `ocpulse serve`'s log as an operator gets it: no colour codes when stderr is a pipe or a
//! file, colour on a terminal, `--log-format json` one object a line, and the lines of a
//! station's session naming the station.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt as _;

/// A `serve` process on a free loopback port with its stderr piped.
struct Serve {
    child: tokio::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

async fn serve(args: &[&str]) -> Serve {
    ocpulse::install_tls_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ocpulse"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .env_remove("OCPULSE_LOG_FORMAT")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn serve");
    let started = Instant::now();
    while reqwest::get(format!("http://127.0.0.1:{port}/health/live"))
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Serve {
        child,
        port,
        _dir: dir,
    }
}

impl Serve {
    /// Connects a station for a moment, so its session logs its connect and disconnect.
    async fn station(&self, id: &str) {
        let url = format!("ws://127.0.0.1:{}/ocpp/{id}", self.port);
        let (ws, _) = common::connect_raw(&url, Some("ocpp1.6")).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(ws);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    /// Stops the server and returns everything it logged.
    async fn log(mut self) -> String {
        self.child.start_kill().expect("kill");
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            err.read_to_string(&mut text).await.expect("read stderr");
        }
        let _ = self.child.wait().await;
        text
    }
}

#[tokio::test]
async fn a_piped_text_log_has_no_colour_codes_and_session_lines_name_the_station() {
    let server = serve(&[]).await;
    server.station("LOG1").await;
    let log = server.log().await;
    assert!(!log.contains('\x1b'), "escape codes in a piped log:\n{log}");
    let connected = log
        .lines()
        .find(|l| l.contains("station connected"))
        .unwrap_or_else(|| panic!("no connect line:\n{log}"));
    assert!(connected.contains("station=LOG1"), "{connected}");
    let disconnected = log
        .lines()
        .find(|l| l.contains("station disconnected"))
        .unwrap_or_else(|| panic!("no disconnect line:\n{log}"));
    assert!(disconnected.contains("station=LOG1"), "{disconnected}");
}

#[tokio::test]
async fn a_json_log_is_one_object_a_line_with_the_station_in_its_span() {
    let server = serve(&["--log-format", "json"]).await;
    server.station("LOG2").await;
    let log = server.log().await;
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let listening = lines
        .iter()
        .find(|l| l["message"] == "ocpulse listening")
        .unwrap_or_else(|| panic!("no start line:\n{log}"));
    assert_eq!(listening["level"], "INFO");
    assert!(
        listening["addr"].is_string(),
        "fields are flattened: {listening}"
    );
    let connected = lines
        .iter()
        .find(|l| l["message"] == "station connected")
        .unwrap_or_else(|| panic!("no connect line:\n{log}"));
    assert_eq!(connected["span"]["station"], "LOG2", "{connected}");
    assert_eq!(connected["protocol"], "ocpp1.6", "{connected}");
}

#[tokio::test]
async fn a_terminal_gets_colour() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    // util-linux `script` gives the server a pseudo-terminal; `timeout` stops it.
    let command = format!(
        "timeout 3 {} serve --listen 127.0.0.1:{port} --data-dir {}",
        env!("CARGO_BIN_EXE_ocpulse"),
        dir.path().display()
    );
    let Ok(out) = tokio::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("RUST_LOG", "info")
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .await
    else {
        eprintln!("skipped: no `script` to run a pseudo-terminal");
        return;
    };
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("ocpulse listening"), "{shown}");
    assert!(shown.contains("\x1b["), "no colour on a terminal:\n{shown}");
}

#[tokio::test]
async fn sigterm_stops_a_server_whose_log_reader_went_away() {
    // `ocpulse serve 2>&1 | head -3`: head exits, and the next log line meets a closed pipe.
    let mut server = serve(&[]).await;
    drop(server.child.stderr.take());
    let pid = server.child.id().expect("running").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(sent.success());
    let exited = tokio::time::timeout(Duration::from_secs(10), server.child.wait()).await;
    assert!(
        exited.is_ok(),
        "the server ignored SIGTERM once it could not write its log"
    );
}
