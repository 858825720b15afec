//! The durability rule under `kill -9`: every MeterValues a station saw acknowledged is in
//! the journal after the server is SIGKILLed mid-stream and restarted, the station state it
//! produced is never behind, and no 1.6 transaction id a station saw acknowledged is ever
//! handed out again.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

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

async fn wait_ready(port: u16) {
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

type Station =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A 1.6 station connection, or `None` if the server is gone.
async fn connect(port: u16, station: &str) -> Option<Station> {
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
async fn call(ws: &mut Station, id: &str, action: &str, payload: Value) -> Option<Value> {
    let frame = json!([2, id, action, payload]);
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .ok()?;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
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

/// Streams MeterValues until the connection breaks; reports each acknowledged message id.
async fn stream_meter_values(
    port: u16,
    station: String,
    acked: tokio::sync::mpsc::UnboundedSender<String>,
) {
    let Some(mut ws) = connect(port, &station).await else {
        return;
    };
    for n in 0u64..100_000 {
        let id = format!("{station}-{n}");
        let payload = json!({"connectorId": 1, "meterValue": [{"timestamp": "2025-01-01T12:00:00Z", "sampledValue": [{"value": n.to_string()}]}]});
        if call(&mut ws, &id, "MeterValues", payload).await.is_none() {
            return;
        }
        let _ = acked.send(id);
    }
}

/// Starts transactions until the connection breaks (or `count` are done); reports each
/// transaction id the server acknowledged.
async fn start_transactions(
    port: u16,
    station: String,
    count: u64,
    acked: tokio::sync::mpsc::UnboundedSender<i64>,
) {
    let Some(mut ws) = connect(port, &station).await else {
        return;
    };
    for n in 0..count {
        let payload = json!({"connectorId": 1, "idTag": "TAG", "meterStart": n, "timestamp": "2025-01-01T12:00:00Z"});
        let Some(answer) = call(
            &mut ws,
            &format!("{station}-{n}"),
            "StartTransaction",
            payload,
        )
        .await
        else {
            return;
        };
        let id = answer["transactionId"]
            .as_i64()
            .unwrap_or_else(|| panic!("a transaction id in {answer}"));
        let _ = acked.send(id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_message_survives_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut server = start(port, dir.path());
    wait_ready(port).await;

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stations: Vec<_> = (0..4)
        .map(|i| tokio::spawn(stream_meter_values(port, format!("DUR{i}"), tx.clone())))
        .collect();
    drop(tx);
    let mut acked = HashSet::new();
    let started = Instant::now();
    while acked.len() < 400 {
        let id = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("acks keep coming")
            .expect("streams alive");
        acked.insert(id);
    }
    let rate = acked.len() as f64 / started.elapsed().as_secs_f64();
    server.kill().expect("SIGKILL"); // std's kill() is SIGKILL on Unix
    let _ = server.wait();
    for s in stations {
        let _ = s.await;
    }
    while let Ok(id) = rx.try_recv() {
        acked.insert(id);
    }
    println!(
        "acknowledged {} MeterValues from 4 stations before SIGKILL ({rate:.0}/s, debug build)",
        acked.len()
    );

    let port = free_port();
    let mut server = start(port, dir.path());
    wait_ready(port).await;
    let mut journaled = HashSet::new();
    for i in 0..4 {
        let mut after: Option<String> = None;
        loop {
            let cursor = after.map(|a| format!("&after={a}")).unwrap_or_default();
            let page: Value = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/stations/DUR{i}/messages?action=MeterValues&limit=1000{cursor}"))
                .await
                .expect("GET")
                .json()
                .await
                .expect("json");
            let entries = page["items"].as_array().expect("array");
            for e in entries {
                if e["direction"] == "in" && e["type"] == "CALL" {
                    journaled.insert(e["messageId"].as_str().unwrap_or_default().to_owned());
                }
            }
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => break,
            }
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    let lost: Vec<_> = acked.difference(&journaled).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged messages lost, e.g. {:?}",
        lost.len(),
        lost.iter().take(5).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_transaction_ids_are_never_reused_after_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut server = start(port, dir.path());
    wait_ready(port).await;

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stations: Vec<_> = (0..4)
        .map(|i| {
            tokio::spawn(start_transactions(
                port,
                format!("TXID{i}"),
                u64::MAX,
                tx.clone(),
            ))
        })
        .collect();
    drop(tx);
    let mut acked = HashSet::new();
    while acked.len() < 200 {
        let id = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("acks keep coming")
            .expect("streams alive");
        assert!(acked.insert(id), "transaction id {id} handed out twice");
    }
    server.kill().expect("SIGKILL"); // mid-stream: some StartTransactions are in flight
    let _ = server.wait();
    for s in stations {
        let _ = s.await;
    }
    while let Ok(id) = rx.try_recv() {
        assert!(acked.insert(id), "transaction id {id} handed out twice");
    }
    let highest = acked.iter().copied().max().unwrap_or(0);

    let port = free_port();
    let mut server = start(port, dir.path());
    wait_ready(port).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    start_transactions(port, "TXID-AFTER".into(), 20, tx).await;
    let _ = server.kill();
    let _ = server.wait();
    let mut after = Vec::new();
    while let Ok(id) = rx.try_recv() {
        after.push(id);
    }
    assert_eq!(
        after.len(),
        20,
        "every StartTransaction answered after the restart"
    );
    assert!(
        after.iter().all(|id| *id > highest && !acked.contains(id)),
        "after a SIGKILL, ids continue past the highest acknowledged ({highest}): {after:?}"
    );
}

/// The station state an acknowledged CALL produced is never behind after `kill -9`: state
/// is not written per message but folded from the journal at start (snapshots plus the
/// entries after them), so the last acknowledged MeterValues of each station is what the
/// restarted server shows (or a later one it committed but could not acknowledge).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_state_is_never_behind_after_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut server = start(port, dir.path());
    wait_ready(port).await;

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stations: Vec<_> = (0..4)
        .map(|i| tokio::spawn(stream_meter_values(port, format!("STATE{i}"), tx.clone())))
        .collect();
    drop(tx);
    // Long enough for the first background snapshot round (a second after start) to store
    // part of the stream: the restart then folds the rest on top of it.
    let mut last_acked: std::collections::BTreeMap<String, u64> = Default::default();
    let mut acked = 0;
    let started = Instant::now();
    while acked < 600 || started.elapsed() < Duration::from_millis(1500) {
        let id = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("acks keep coming")
            .expect("streams alive");
        let (station, n) = id.rsplit_once('-').expect("station-n");
        let n: u64 = n.parse().expect("n");
        let top = last_acked.entry(station.to_owned()).or_default();
        *top = (*top).max(n);
        acked += 1;
    }
    server.kill().expect("SIGKILL");
    let _ = server.wait();
    for s in stations {
        let _ = s.await;
    }
    while let Ok(id) = rx.try_recv() {
        let (station, n) = id.rsplit_once('-').expect("station-n");
        let n: u64 = n.parse().expect("n");
        let top = last_acked.entry(station.to_owned()).or_default();
        *top = (*top).max(n);
    }

    let port = free_port();
    let mut server = start(port, dir.path());
    wait_ready(port).await;
    for (station, acked) in &last_acked {
        let view: Value =
            reqwest::get(format!("http://127.0.0.1:{port}/api/v1/stations/{station}"))
                .await
                .expect("GET")
                .json()
                .await
                .expect("json");
        let shown: u64 = view["meterValues"][0]["sampledValue"][0]["value"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{station}: no meter reading after restart: {view}"));
        assert!(
            shown >= *acked,
            "{station}: the state shows reading {shown} but {acked} was acknowledged"
        );
        assert_eq!(view["connected"], json!(false));
    }
    let _ = server.kill();
    let _ = server.wait();
}
