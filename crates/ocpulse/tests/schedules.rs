//! Schedules that fire on a short interval and survive a restart, freshness targets that
//! refresh stale data by themselves, and the liveness probe of quiet stations.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Server, Station};
use ocpp_rpc::ProtocolVersion;
use ocpulse_sim::runner::{RunOptions, run_station};
use ocpulse_sim::{Station as SimStation, StationConfig};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn spawn_sim(server: &Server, id: &str, version: ProtocolVersion) -> CancellationToken {
    let stop = CancellationToken::new();
    let opts = Arc::new(RunOptions {
        url: format!("ws://{}/ocpp", server.addr),
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(300),
        ..RunOptions::default()
    });
    tokio::spawn(run_station(
        SimStation::new(StationConfig::new(id, version), None),
        opts,
        Arc::default(),
        stop.clone(),
        true,
    ));
    stop
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> Option<Value>) -> Value {
    for _ in 0..300 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_fires_on_its_interval_keeps_a_record_per_station_and_survives_a_restart() {
    let server = Server::start_with(|c| c.job_resume_delay = Duration::from_millis(100)).await;
    let stops: Vec<_> = ["SCH1", "SCH2", "SCH3"]
        .iter()
        .enumerate()
        .map(|(i, id)| {
            spawn_sim(
                &server,
                id,
                if i % 2 == 0 {
                    ProtocolVersion::V16
                } else {
                    ProtocolVersion::V201
                },
            )
        })
        .collect();
    for id in ["SCH1", "SCH2", "SCH3"] {
        common::wait_connected(&server, id, true).await;
    }
    let (code, created) = server
        .post(
            "/api/v1/schedules",
            &json!({
                "name": "heartbeat check",
                "selector": {"all": true},
                "trigger": {"requestedMessage": "Heartbeat"},
                "everySeconds": 1,
            })
            .to_string(),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    let id = created["scheduleId"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/schedules/{id}");
    let before = eventually("two finished firings", async || {
        let (_, s) = server.get(&path).await;
        let finished = !s["lastRun"]["finishedAt"].is_null();
        (s["runs"].as_u64() >= Some(2) && finished).then_some(s)
    })
    .await;
    for station in ["SCH1", "SCH2", "SCH3"] {
        let last = &before["stations"][station];
        assert_eq!(last["outcome"], "Completed", "{before}");
        assert_eq!(last["failuresInARow"], 0, "{before}");
    }
    let job_id = before["lastRun"]["jobId"].as_str().expect("job").to_owned();
    let (_, job) = server.get(&format!("/api/v1/trigger-jobs/{job_id}")).await;
    assert_eq!(job["requestedBy"], format!("schedule:{id}"), "{job}");
    assert_eq!(job["counts"], json!({"Completed": 3}), "{job}");

    let server = server
        .restart(|c| c.job_resume_delay = Duration::from_millis(100))
        .await;
    let (code, kept) = server.get(&path).await;
    assert_eq!(code, 200, "the schedule survived the restart: {kept}");
    let runs_before = kept["runs"].as_u64().expect("runs");
    assert!(runs_before >= 2, "{kept}");
    let after = eventually("firings after the restart", async || {
        let (_, s) = server.get(&path).await;
        (s["runs"].as_u64() >= Some(runs_before + 2) && !s["lastRun"]["finishedAt"].is_null())
            .then_some(s)
    })
    .await;
    assert_ne!(after["lastRun"]["jobId"], json!(job_id));
    for station in ["SCH1", "SCH2", "SCH3"] {
        assert_eq!(
            after["stations"][station]["outcome"], "Completed",
            "{after}"
        );
        assert_eq!(
            after["stations"][station]["jobId"], after["lastRun"]["jobId"],
            "{after}"
        );
    }
    // Paused, it stops firing; deleted, it is gone.
    let (code, paused) = reqwest::Client::new()
        .put(server.url(&path))
        .json(&json!({
            "selector": {"all": true},
            "trigger": {"requestedMessage": "Heartbeat"},
            "everySeconds": 1,
            "enabled": false,
        }))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map(|c| (c, ()))
        .expect("PUT");
    assert_eq!(code, 200, "{paused:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, s1) = server.get(&path).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, s2) = server.get(&path).await;
    assert_eq!(s1["runs"], s2["runs"], "a paused schedule does not fire");
    let r = reqwest::Client::new()
        .delete(server.url(&path))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(server.get(&path).await.0, 404);
    for s in stops {
        s.cancel();
    }
}

#[tokio::test]
async fn bad_schedules_and_freshness_targets_are_refused() {
    let server = Server::start().await;
    let cases = [
        (
            "/api/v1/schedules",
            json!({"selector": {"all": true}, "trigger": {"requestedMessage": "Heartbeat"}}),
            "missing_interval",
        ),
        (
            "/api/v1/schedules",
            json!({"selector": {"all": true}, "trigger": {"requestedMessage": "Heartbeat"}, "everySeconds": 0}),
            "invalid_interval",
        ),
        (
            "/api/v1/schedules",
            json!({"selector": {"all": true}, "trigger": {"requestedMessage": "Heartbeat"}, "everySeconds": 60, "jitterSeconds": 61}),
            "invalid_jitter",
        ),
        (
            "/api/v1/schedules",
            json!({"trigger": {"requestedMessage": "Heartbeat"}, "everySeconds": 60}),
            "missing_selector",
        ),
        (
            "/api/v1/freshness",
            json!({"selector": {"all": true}, "data": "connectorStatus"}),
            "missing_field",
        ),
        (
            "/api/v1/freshness",
            json!({"selector": {"all": true}, "data": "connectorStatus", "maxAgeSeconds": 0}),
            "invalid_max_age",
        ),
        (
            "/api/v1/freshness",
            json!({"selector": {"all": true}, "data": "weather", "maxAgeSeconds": 60}),
            "invalid_body",
        ),
    ];
    for (path, body, code) in cases {
        let (status, err) = server.post(path, &body.to_string()).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (400, Some(code)),
            "{body}: {err}"
        );
    }
    assert_eq!(server.get("/api/v1/schedules/nope").await.0, 404);
    assert_eq!(server.get("/api/v1/freshness/nope").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_connector_status_is_refreshed_by_a_trigger_ocpulse_sends_itself() {
    let server = Server::start_with(|c| c.job_resume_delay = Duration::from_millis(100)).await;
    let stop = spawn_sim(&server, "FRESH1", ProtocolVersion::V16);
    common::wait_connected(&server, "FRESH1", true).await;
    let (code, target) = server
        .post(
            "/api/v1/freshness",
            &json!({"name": "status", "selector": {"stationIds": ["FRESH1"]}, "data": "connectorStatus", "maxAgeSeconds": 2})
                .to_string(),
        )
        .await;
    assert_eq!(code, 201, "{target}");
    let id = target["targetId"].as_str().expect("id").to_owned();
    let seen = eventually("a refresh that succeeded", async || {
        let (_, t) = server.get(&format!("/api/v1/freshness/{id}")).await;
        (t["succeeded"].as_u64() >= Some(1)).then_some(t)
    })
    .await;
    let trigger = seen["stations"]["FRESH1"]["triggerId"]
        .as_str()
        .expect("trigger id");
    let (_, record) = server.get(&format!("/api/v1/triggers/{trigger}")).await;
    assert_eq!(record["requestedBy"], format!("freshness:{id}"), "{record}");
    assert_eq!(record["outcome"], "Completed", "{record}");
    assert_eq!(record["request"]["requestedMessage"], "StatusNotification");
    // The station's connectors are fresh now: no connector older than the max age.
    let (_, station) = server.get("/api/v1/stations/FRESH1").await;
    let now = time::OffsetDateTime::now_utc();
    for c in station["connectors"].as_array().expect("connectors") {
        let at = time::OffsetDateTime::parse(
            c["receivedAt"].as_str().expect("receivedAt"),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("time");
        assert!((now - at).whole_seconds() <= 4, "{c}");
    }
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_station_is_probed_before_it_is_declared_unresponsive() {
    let server = Server::start_with(|c| {
        c.job_resume_delay = Duration::from_millis(100);
        c.probe_after = Duration::from_secs(1);
        c.call_timeout = Duration::from_millis(800);
    })
    .await;
    // A station that answers: probed, stays responsive.
    let stop = spawn_sim(&server, "ALIVE", ProtocolVersion::V201);
    // A station whose socket is open but whose application is dead: never answers.
    let mut dead = Station::connect(&server, "DEAD", "ocpp1.6").await;
    dead.boot16().await;
    common::wait_connected(&server, "ALIVE", true).await;
    let station = eventually("DEAD declared unresponsive", async || {
        let (_, s) = server.get("/api/v1/stations/DEAD").await;
        (s["liveness"]["status"] == "unresponsive").then_some(s)
    })
    .await;
    assert_eq!(
        station["liveness"]["probeOutcome"], "StationTimeout",
        "{station}"
    );
    // The probe was a real TriggerMessage for Heartbeat, and the verdict is a journal event.
    let (call_id, action, payload) = dead.next_call().await;
    assert_eq!(action, "TriggerMessage");
    assert_eq!(payload["requestedMessage"], "Heartbeat");
    drop(call_id);
    let (_, journal) = server
        .get("/api/v1/stations/DEAD/messages?action=StationUnresponsive")
        .await;
    assert_eq!(
        journal["items"].as_array().map(Vec::len),
        Some(1),
        "{journal}"
    );
    // The simulator answers its probes, so it is never declared unresponsive.
    eventually("ALIVE probed and answering", async || {
        let (_, probes) = server.get("/api/v1/triggers?station=ALIVE").await;
        probes["items"]
            .as_array()?
            .iter()
            .any(|t| t["requestedBy"] == "probe" && t["outcome"] == "Completed")
            .then_some(probes)
    })
    .await;
    let (_, alive) = server.get("/api/v1/stations/ALIVE").await;
    assert_eq!(alive["liveness"]["status"], "responsive", "{alive}");
    // The dead station speaks again: responsive again.
    dead.call("Heartbeat", json!({})).await;
    eventually("DEAD responsive again", async || {
        let (_, s) = server.get("/api/v1/stations/DEAD").await;
        (s["liveness"]["status"] != "unresponsive").then_some(s)
    })
    .await;
    stop.cancel();
}
