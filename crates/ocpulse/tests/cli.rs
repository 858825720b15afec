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

/// Starts a simulated station on `server`, stopped with `stop`, and waits until it is up.
async fn station(server: &Server, id: &str, protocol: ProtocolVersion, stop: &CancellationToken) {
    tokio::spawn(run_station(
        Station::new(StationConfig::new(id, protocol), None),
        Arc::new(RunOptions {
            url: format!("ws://{}/ocpp", server.addr),
            reconnect_min: Duration::from_millis(50),
            ..RunOptions::default()
        }),
        Arc::default(),
        stop.clone(),
        true,
    ));
    common::wait_connected(server, id, true).await;
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
