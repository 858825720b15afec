//! The server on PostgreSQL (`ocpulse serve --database-url`), as the real binary: a
//! simulated station is triggered, what it sent is journaled, and it is all still there
//! after a graceful restart and after `kill -9`. Skipped (passing) when
//! `OCPULSE_TEST_POSTGRES_URL` is unset; the start-up errors are checked always.

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use ocpp_rpc::ProtocolVersion;
use ocpulse_sim::runner::{RunOptions, run_station};
use ocpulse_sim::{Station, StationConfig};
use ocpulse_store::contract::PgSchema;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use common::spawned::{Running, free_port, serve, wait_ready};

fn start(port: u16, dir: &std::path::Path, url: &str) -> Running {
    Running(
        serve(port, dir)
            .args(["--database-url", url])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn ocpulse"),
    )
}

async fn get(port: u16, path: &str) -> (u16, Value) {
    let r = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .expect("GET");
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

async fn trigger(port: u16, station: &str) -> Value {
    let r = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{port}/api/v1/stations/{station}/trigger"
        ))
        .json(&json!({"requestedMessage": "Heartbeat"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["outcome"], "Completed", "{body}");
    body
}

async fn wait_connected(port: u16, station: &str) {
    for _ in 0..500 {
        let (code, body) = get(port, &format!("/api/v1/stations/{station}")).await;
        if code == 200 && body["connected"] == json!(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{station} never connected");
}

/// The journal's entries of `station` that belong to `trigger`, by action.
async fn journaled(port: u16, station: &str, trigger: &Value) -> Vec<String> {
    let (code, body) = get(
        port,
        &format!("/api/v1/stations/{station}/messages?limit=100"),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    body["items"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["triggerId"] == *trigger)
        .filter_map(|e| e["action"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_triggered_message_is_journaled_in_postgres_and_survives_restarts() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    ocpulse::install_tls_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let server = start(port, dir.path(), &schema.url);
    wait_ready(port).await;
    assert!(
        !dir.path().join("ocpulse.sqlite3").exists(),
        "no SQLite database beside PostgreSQL"
    );

    let stop_station = CancellationToken::new();
    let options = Arc::new(RunOptions {
        url: format!("ws://127.0.0.1:{port}/ocpp"),
        reconnect_min: Duration::from_millis(50),
        ..RunOptions::default()
    });
    let station = tokio::spawn(run_station(
        Station::new(StationConfig::new("PG1", ProtocolVersion::V16), None),
        options,
        Arc::default(),
        stop_station.clone(),
        true,
    ));
    wait_connected(port, "PG1").await;
    let first = trigger(port, "PG1").await;
    let first_id = first["triggerId"].clone();
    let actions = journaled(port, "PG1", &first_id).await;
    for want in ["TriggerMessage", "Heartbeat", "TriggerCompleted"] {
        assert!(actions.iter().any(|a| a == want), "{want} in {actions:?}");
    }

    // A graceful restart: the record, the journal and the station are read back.
    server.terminate();
    let server = start(port, dir.path(), &schema.url);
    wait_ready(port).await;
    let (code, record) = get(
        port,
        &format!("/api/v1/triggers/{}", first_id.as_str().expect("id")),
    )
    .await;
    assert_eq!(code, 200, "{record}");
    assert_eq!(record["outcome"], "Completed");
    assert_eq!(
        journaled(port, "PG1", &first_id).await,
        actions,
        "the same entries"
    );
    let (code, known) = get(port, "/api/v1/stations/PG1").await;
    assert_eq!(code, 200, "{known}");

    // kill -9 right after the station's answer was acknowledged: it is still there.
    wait_connected(port, "PG1").await;
    let second = trigger(port, "PG1").await;
    let second_id = second["triggerId"].clone();
    let (_, before) = get(port, "/api/v1/stations/PG1").await;
    server.kill(); // SIGKILL
    let server = start(port, dir.path(), &schema.url);
    wait_ready(port).await;
    let after = journaled(port, "PG1", &second_id).await;
    assert!(
        after.iter().any(|a| a == "Heartbeat"),
        "the acknowledged triggered Heartbeat survived kill -9: {after:?}"
    );
    // Its state too, folded from the journal at start.
    let (_, known) = get(port, "/api/v1/stations/PG1").await;
    assert_eq!(
        known["lastHeartbeat"], before["lastHeartbeat"],
        "the state the acknowledged Heartbeat produced: {known}"
    );

    stop_station.cancel();
    let _ = station.await;
    server.terminate();
}

/// Runs `ocpulse serve` expecting it to refuse to start; returns its stderr.
fn refused(url: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_ocpulse"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--data-dir",
        ])
        .arg(dir.path())
        .args(["--database-url", url])
        .env("RUST_LOG", "off")
        .output()
        .expect("run ocpulse");
    assert!(!out.status.success(), "started with {url}");
    let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn a_bad_database_url_or_an_unreachable_database_stops_start_up_with_one_line() {
    let away = refused("postgres://nobody:secret@127.0.0.1:1/none");
    assert!(
        away.starts_with("error: cannot connect to PostgreSQL at nobody@127.0.0.1:1/none"),
        "{away}"
    );
    assert!(
        !away.contains("secret"),
        "the password is never shown: {away}"
    );
    let bad = refused("postgres://[oops");
    assert!(bad.starts_with("error: invalid PostgreSQL URL"), "{bad}");
    let other = refused("mysql://root:secret@localhost/db");
    assert!(other.contains("must be a postgres://"), "{other}");
    assert!(!other.contains("secret"), "{other}");
}
