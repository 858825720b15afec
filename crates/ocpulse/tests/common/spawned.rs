//! Test support for servers run as processes (`kill -9`, restarts, refusals to start):
//! the real `ocpulse` binary on a free port, and a raw OCPP 1.6 station that streams
//! MeterValues and records what was acknowledged.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn ocpulse() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ocpulse"));
    command.env("RUST_LOG", "warn").stdin(Stdio::null());
    command
}

pub fn serve(port: u16, dir: &Path) -> Command {
    let mut command = ocpulse();
    command
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir);
    command
}

/// A server process; dropped, it is killed, so a failing test leaves no server behind.
pub struct Running(pub Child);

impl Running {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// `kill -9`, and waits for it to be gone.
    pub fn kill(mut self) {
        let _ = self.0.kill(); // std's kill() is SIGKILL on Unix
        let _ = self.0.wait();
    }

    /// Stops it as an operator would (SIGTERM) and waits for it to exit.
    pub fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.0.try_wait().expect("wait").is_none() {
            assert!(
                Instant::now() < deadline,
                "the server did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

pub fn start(port: u16, dir: &Path) -> Running {
    Running(
        serve(port, dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ocpulse"),
    )
}

pub async fn wait_ready(port: u16) {
    ocpulse::install_tls_provider();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if reqwest::get(format!("http://127.0.0.1:{port}/api/v1/health"))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server did not start");
}

/// Runs `ocpulse serve` expecting it to refuse to start: its exit and what it said. A
/// server that starts anyway is killed after 20 s and fails the test.
pub fn refused(port: u16, dir: &Path) -> (Output, String) {
    let mut child = serve(port, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ocpulse");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("output");
            panic!(
                "the server started on {}: {}",
                dir.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "exit status {}", output.status);
    (output, stderr)
}

pub type Station =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(port: u16, station: &str) -> Option<Station> {
    let mut request = format!("ws://127.0.0.1:{port}/ocpp/{station}")
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "ocpp1.6".parse().expect("header"));
    tokio_tungstenite::connect_async(request)
        .await
        .ok()
        .map(|(ws, _)| ws)
}

/// Sends one CALL and returns its CALLRESULT's payload, or `None` if the connection broke.
pub async fn call(ws: &mut Station, id: &str, action: &str, payload: Value) -> Option<Value> {
    let frame = json!([2, id, action, payload]);
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .ok()?;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(t.as_str()).expect("json");
                if v[0] == 3 && v[1] == json!(id) {
                    return Some(v[2].clone());
                }
            }
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

/// A MeterValues with `samples` sampled values (about 130 bytes each).
pub fn meter_values(n: u64, samples: usize) -> Value {
    let sampled: Vec<Value> = (0..samples)
        .map(|i| json!({"value": format!("{n}.{i}"), "measurand": "Energy.Active.Import.Register", "unit": "Wh", "context": "Sample.Periodic", "location": "Outlet"}))
        .collect();
    json!({"connectorId": 1, "meterValue": [{"timestamp": "2025-01-01T12:00:00Z", "sampledValue": sampled}]})
}

/// Streams MeterValues until the connection breaks or `count` are acknowledged; reports
/// each acknowledged message id and when its acknowledgement arrived.
pub async fn stream_meter_values(
    port: u16,
    station: String,
    samples: usize,
    count: u64,
    acked: tokio::sync::mpsc::UnboundedSender<(String, Instant)>,
) {
    let Some(mut ws) = connect(port, &station).await else {
        return;
    };
    for n in 0..count {
        let id = format!("{station}-{n}");
        if call(&mut ws, &id, "MeterValues", meter_values(n, samples))
            .await
            .is_none()
        {
            return;
        }
        let _ = acked.send((id, Instant::now()));
    }
}

/// The message ids of every MeterValues CALL the server's journal holds for `station`.
pub async fn journaled(port: u16, station: &str) -> HashSet<String> {
    let mut ids = HashSet::new();
    let mut after: Option<String> = None;
    loop {
        let cursor = after.map(|a| format!("&after={a}")).unwrap_or_default();
        let page: Value = reqwest::get(format!(
            "http://127.0.0.1:{port}/api/v1/stations/{station}/messages?action=MeterValues&limit=1000{cursor}"
        ))
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
        for e in page["items"].as_array().expect("array") {
            if e["direction"] == "in" && e["type"] == "CALL" {
                ids.insert(e["messageId"].as_str().unwrap_or_default().to_owned());
            }
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return ids,
        }
    }
}

/// Fills a server's journal with `count` MeterValues of `samples` values from one station.
pub async fn fill(port: u16, station: &str, samples: usize, count: u64) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    stream_meter_values(port, station.into(), samples, count, tx).await;
    let mut n = 0;
    while rx.try_recv().is_ok() {
        n += 1;
    }
    assert_eq!(n, count, "every MeterValues acknowledged");
}
