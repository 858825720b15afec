//! Prints what the durability rule costs and how fast trigger-and-await is, against the
//! real `ocpulse serve` binary (SQLite journal, `synchronous=FULL`).
//!
//! `cargo bench -p ocpulse --bench ingest` — bounded: a few thousand messages, loopback only.
#![allow(missing_docs)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn start(port: u16, dir: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ocpulse"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ocpulse")
}

async fn connect(port: u16, id: &str) -> Ws {
    // Stations, like the server, send small frames that must not wait for Nagle.
    let mut request = format!("ws://127.0.0.1:{port}/ocpp/{id}")
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "ocpp1.6".parse().expect("header"));
    for _ in 0..200 {
        if let Ok((ws, _)) =
            tokio_tungstenite::connect_async_with_config(request.clone(), None, true).await
        {
            return ws;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cannot connect");
}

async fn call(ws: &mut Ws, id: &str, action: &str, payload: Value) {
    ws.send(Message::Text(
        json!([2, id, action, payload]).to_string().into(),
    ))
    .await
    .expect("send");
    loop {
        let Some(Ok(Message::Text(t))) = ws.next().await else {
            panic!("closed")
        };
        let v: Value = serde_json::from_str(t.as_str()).expect("json");
        if v[0] == 3 && v[1] == json!(id) {
            return;
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn report(name: &str, mut lat: Vec<Duration>, elapsed: Duration) {
    lat.sort();
    println!(
        "{name:<48} {:>7} msgs  {:>8.0}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        lat.len(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
}

async fn meter_stream(port: u16, station: String, count: usize) -> Vec<Duration> {
    let mut ws = connect(port, &station).await;
    let mut lat = Vec::with_capacity(count);
    for n in 0..count {
        let payload = json!({"connectorId": 1, "meterValue": [{"timestamp": "2025-01-01T12:00:00Z", "sampledValue": [{"value": n.to_string(), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]});
        let t = Instant::now();
        call(&mut ws, &format!("m{n}"), "MeterValues", payload).await;
        lat.push(t.elapsed());
    }
    lat
}

#[tokio::main]
async fn main() {
    ocpulse::install_tls_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let mut server = start(port, dir.path());
    println!("ocpulse ingest/trigger bench (journal: SQLite WAL synchronous=FULL, group commit)");

    // 1. One station, closed loop: each MeterValues waits for its acknowledgement.
    let t = Instant::now();
    let lat = meter_stream(port, "BENCH-1".into(), 3000).await;
    report("MeterValues, 1 station, acked (durable)", lat, t.elapsed());

    // 2. Many stations at once: group commit shares each fsync.
    for stations in [10usize, 100] {
        let per = 20_000 / stations;
        let t = Instant::now();
        let tasks: Vec<_> = (0..stations)
            .map(|i| tokio::spawn(meter_stream(port, format!("BENCH-{stations}-{i}"), per)))
            .collect();
        let mut lat = Vec::new();
        for task in tasks {
            lat.extend(task.await.expect("join"));
        }
        report(
            &format!("MeterValues, {stations} stations, acked (durable)"),
            lat,
            t.elapsed(),
        );
    }

    // 3. Trigger-and-await round trips (HTTP → TriggerMessage → Accepted → Heartbeat → HTTP).
    let mut ws = connect(port, "BENCH-TRIG").await;
    let station = tokio::spawn(async move {
        let mut n = 0u64;
        while let Some(Ok(msg)) = ws.next().await {
            let Message::Text(t) = msg else { continue };
            let v: Value = serde_json::from_str(t.as_str()).expect("json");
            if v[0] == 2 && v[2] == "TriggerMessage" {
                ws.send(Message::Text(
                    json!([3, v[1], {"status": "Accepted"}]).to_string().into(),
                ))
                .await
                .expect("send");
                n += 1;
                ws.send(Message::Text(
                    json!([2, format!("h{n}"), "Heartbeat", {}])
                        .to_string()
                        .into(),
                ))
                .await
                .expect("send");
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/api/v1/stations/BENCH-TRIG/trigger");
    let mut lat = Vec::new();
    let t = Instant::now();
    for _ in 0..2000 {
        let s = Instant::now();
        let r = client
            .post(&url)
            .body(r#"{"requestedMessage":"Heartbeat"}"#)
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status().as_u16(), 200);
        let _ = r.bytes().await;
        lat.push(s.elapsed());
    }
    report(
        "trigger-and-await Heartbeat, 1 station, sequential",
        lat,
        t.elapsed(),
    );
    station.abort();
    let _ = server.kill();
    let _ = server.wait();
}
