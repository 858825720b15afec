//! A clean stop: SIGTERM with 1,000 booted stations connected closes every one with a
//! close frame (1001, going away), journals exactly one `StationDisconnected` for each
//! after its `StationConnected`, and exits within `--shutdown-timeout`. Checked from
//! outside: the stations' own sockets, then the journal export of the restarted server.

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::spawned::{Running, call, connect, free_port, serve, wait_ready};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const STATIONS: usize = 1000;

/// A client that opened a connection and sent nothing does not hold a stop up until the
/// handshake timeout (5 s): before, such a connection made a test server's stop miss its
/// 5 s bound now and then.
#[tokio::test]
async fn a_connection_without_a_request_does_not_delay_the_stop() {
    let server = common::Server::start().await;
    let idle = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    // Let the listener accept it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    server.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the stop took {:?}",
        started.elapsed()
    );
    drop(idle);
}
const SHUTDOWN_TIMEOUT: u64 = 10;

/// The test process holds one socket per station: make sure the soft limit allows it.
fn raise_fd_limit() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        let _ = setrlimit(
            Resource::Nofile,
            rustix::process::Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        );
    }
}

/// Connects and boots one station, then reads until the server closes it; returns the
/// close frame's code (`None`: the socket ended without one, or the station never booted).
async fn station(
    port: u16,
    id: String,
    booted: tokio::sync::mpsc::UnboundedSender<()>,
    gate: Arc<tokio::sync::Semaphore>,
) -> Option<u16> {
    let mut ws = {
        let _turn = gate.acquire().await.ok()?;
        let mut ws = connect(port, &id).await?;
        let answer = call(
            &mut ws,
            &format!("{id}-boot"),
            "BootNotification",
            json!({"chargePointVendor": "ocpulse", "chargePointModel": "shutdown-test"}),
        )
        .await?;
        assert_eq!(answer["status"], "Accepted", "{id}: {answer}");
        ws
    };
    let _ = booted.send(());
    while let Some(message) = ws.next().await {
        match message {
            Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_and_journals_every_station_within_the_timeout() {
    raise_fd_limit();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("stop.log")).expect("log file");
    let mut server = Running(
        serve(port, &dir.path().join("data"))
            .args(["--shutdown-timeout", &SHUTDOWN_TIMEOUT.to_string()])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn ocpulse"),
    );
    wait_ready(port).await;

    let (booted_tx, mut booted) = tokio::sync::mpsc::unbounded_channel();
    let gate = Arc::new(tokio::sync::Semaphore::new(100));
    let ids: Vec<String> = (0..STATIONS).map(|n| format!("STOP{n:04}")).collect();
    let stations: Vec<_> = ids
        .iter()
        .map(|id| {
            tokio::spawn(station(
                port,
                id.clone(),
                booted_tx.clone(),
                Arc::clone(&gate),
            ))
        })
        .collect();
    drop(booted_tx);
    let connected = Instant::now();
    for n in 0..STATIONS {
        tokio::time::timeout(Duration::from_secs(30), booted.recv())
            .await
            .unwrap_or_else(|_| panic!("only {n} stations booted within 30 s"))
            .unwrap_or_else(|| panic!("only {n} stations booted"));
    }
    eprintln!(
        "{STATIONS} stations connected and booted in {:?}",
        connected.elapsed()
    );

    let stopping = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let limit = Duration::from_secs(SHUTDOWN_TIMEOUT + 2);
    let exit = loop {
        if let Some(exit) = server.0.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            stopping.elapsed() < limit,
            "the server did not exit within {limit:?} of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let took = stopping.elapsed();
    eprintln!("SIGTERM with {STATIONS} stations: exited in {took:?}");
    let log = std::fs::read_to_string(dir.path().join("stop.log")).unwrap_or_default();
    assert!(exit.success(), "exit {exit}: {log}");
    assert!(
        took < Duration::from_secs(SHUTDOWN_TIMEOUT),
        "the stop took {took:?}: {log}"
    );

    // Every station saw a close frame saying the server goes away.
    let mut codes: HashMap<Option<u16>, usize> = HashMap::new();
    for task in stations {
        let code = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("station task ends")
            .expect("station task");
        *codes.entry(code).or_default() += 1;
    }
    assert_eq!(codes, HashMap::from([(Some(1001), STATIONS)]), "{log}");

    // The restarted server's journal: exactly StationConnected then one StationDisconnected
    // (saying why) for every station.
    let restarted = common::spawned::start(port, &dir.path().join("data"));
    wait_ready(port).await;
    let export = reqwest::get(format!(
        "http://127.0.0.1:{port}/api/v1/export/journal?action=StationConnected,StationDisconnected&format=jsonl"
    ))
    .await
    .expect("export")
    .text()
    .await
    .expect("export body");
    let mut journal: HashMap<String, Vec<(String, Value)>> = HashMap::new();
    for line in export.lines() {
        let entry: Value = serde_json::from_str(line).expect("jsonl");
        journal
            .entry(entry["stationId"].as_str().expect("stationId").to_owned())
            .or_default()
            .push((
                entry["action"].as_str().expect("action").to_owned(),
                entry["payload"].clone(),
            ));
    }
    let mut wrong = Vec::new();
    for id in &ids {
        let actions: Vec<&str> = journal
            .get(id)
            .map(|entries| entries.iter().map(|(a, _)| a.as_str()).collect())
            .unwrap_or_default();
        if actions != ["StationConnected", "StationDisconnected"] {
            wrong.push(format!("{id}: {actions:?}"));
            continue;
        }
        let reason = &journal[id][1].1["reason"];
        assert_eq!(reason, "the CSMS is shutting down", "{id}");
    }
    assert!(
        wrong.is_empty(),
        "{} of {STATIONS} stations without exactly one disconnect after their connect: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
    restarted.terminate();
}

/// A trigger under way when SIGTERM arrives is let finish: the station answers its
/// TriggerMessage a second after the signal, sends the Heartbeat asked for, and only then
/// is closed; the restarted server has the trigger `Completed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_in_flight_at_sigterm_finishes_before_its_station_is_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut server = Running(
        serve(port, &dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ocpulse"),
    );
    wait_ready(port).await;
    let mut ws = connect(port, "SLOW").await.expect("connect");
    let boot = call(
        &mut ws,
        "boot",
        "BootNotification",
        json!({"chargePointVendor": "ocpulse", "chargePointModel": "slow"}),
    )
    .await
    .expect("boot");
    assert_eq!(boot["status"], "Accepted");
    let trigger = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!(
                "http://127.0.0.1:{port}/api/v1/stations/SLOW/trigger"
            ))
            .json(&json!({"requestedMessage": "Heartbeat"}))
            .send()
            .await
            .expect("POST trigger")
            .json::<Value>()
            .await
            .expect("trigger json")
    });
    let asked = loop {
        let Some(Ok(Message::Text(t))) = ws.next().await else {
            panic!("no TriggerMessage");
        };
        let v: Value = serde_json::from_str(t.as_str()).expect("json");
        if v[0] == 2 && v[2] == "TriggerMessage" {
            break v[1].clone();
        }
    };
    let stopping = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    tokio::time::sleep(Duration::from_secs(1)).await;
    futures_util::SinkExt::send(
        &mut ws,
        Message::Text(json!([3, asked, {"status": "Accepted"}]).to_string().into()),
    )
    .await
    .expect("answer the TriggerMessage");
    let heartbeat = call(&mut ws, "hb", "Heartbeat", json!({})).await;
    assert!(heartbeat.is_some(), "the Heartbeat was answered");
    let answer = trigger.await.expect("trigger task");
    assert_eq!(answer["outcome"], "Completed", "{answer}");
    let code = loop {
        match ws.next().await {
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            _ => break None,
        }
    };
    assert_eq!(code, Some(1001));
    while server.0.try_wait().expect("wait").is_none() {
        assert!(stopping.elapsed() < Duration::from_secs(12), "no exit");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let restarted = common::spawned::start(port, &dir.path().join("data"));
    wait_ready(port).await;
    let id = answer["triggerId"].as_str().expect("triggerId");
    let record: Value = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/triggers/{id}"))
        .await
        .expect("GET trigger")
        .json()
        .await
        .expect("record json");
    assert_eq!(record["outcome"], "Completed", "{record}");
    restarted.terminate();
}
