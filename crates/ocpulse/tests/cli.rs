//! The client commands (`ocpulse trigger`, `stations`, `jobs`) run as the real binary
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
        out.contains("CLI1 TriggerMessage → Accepted Completed"),
        "{out}"
    );
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
