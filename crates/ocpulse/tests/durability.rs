//! The durability rule under `kill -9`: every MeterValues a station saw acknowledged is in
//! the journal after the server is SIGKILLed mid-stream and restarted, the station state it
//! produced is never behind, and no 1.6 transaction id a station saw acknowledged is ever
//! handed out again.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::spawned::{call, connect, free_port, start, wait_ready};
use serde_json::{Value, json};

/// Streams one-sample MeterValues until the connection breaks; reports each acknowledged
/// message id (`{station}-{n}`, the reading being `n`).
async fn stream_meter_values(
    port: u16,
    station: String,
    acked: tokio::sync::mpsc::UnboundedSender<String>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stream = tokio::spawn(common::spawned::stream_meter_values(
        port,
        station,
        1,
        u64::MAX,
        tx,
    ));
    while let Some((id, _)) = rx.recv().await {
        let _ = acked.send(id);
    }
    let _ = stream.await;
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
    let server = start(port, dir.path());
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
    server.kill(); // SIGKILL
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
    let server = start(port, dir.path());
    wait_ready(port).await;
    let mut journaled = HashSet::new();
    for i in 0..4 {
        journaled.extend(common::spawned::journaled(port, &format!("DUR{i}")).await);
    }
    server.kill();
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
    let server = start(port, dir.path());
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
    server.kill(); // SIGKILL mid-stream: some StartTransactions are in flight
    for s in stations {
        let _ = s.await;
    }
    while let Ok(id) = rx.try_recv() {
        assert!(acked.insert(id), "transaction id {id} handed out twice");
    }
    let highest = acked.iter().copied().max().unwrap_or(0);

    let port = free_port();
    let server = start(port, dir.path());
    wait_ready(port).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    start_transactions(port, "TXID-AFTER".into(), 20, tx).await;
    server.kill();
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
    let server = start(port, dir.path());
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
    server.kill(); // SIGKILL
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
    let server = start(port, dir.path());
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
            .and_then(|v| v.split('.').next()?.parse().ok())
            .unwrap_or_else(|| panic!("{station}: no meter reading after restart: {view}"));
        assert!(
            shown >= *acked,
            "{station}: the state shows reading {shown} but {acked} was acknowledged"
        );
        assert_eq!(view["connected"], json!(false));
    }
    server.kill();
}
