//! The typed station operations (`/reset`, `/change-availability`, `/unlock-connector`,
//! `/clear-cache`) against simulated stations of both versions: the translation to each
//! version, the station refusing, the station silent, bad bodies refused before anything
//! is sent, and ChangeAvailability returning the StatusNotification that followed.

mod common;

use common::sim::{self, wait_for};
use common::{Server, Station, wait_connected};
use ocpp_rpc::ProtocolVersion;
use ocpulse_sim::StationConfig;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Runs simulated stations until dropped.
struct Sims(Vec<CancellationToken>);

impl Drop for Sims {
    fn drop(&mut self) {
        for stop in &self.0 {
            stop.cancel();
        }
    }
}

/// Starts `configs` against `server` and waits until each has booted.
async fn sims(server: &Server, configs: Vec<StationConfig>) -> Sims {
    let mut running = Vec::new();
    for cfg in configs {
        let id = cfg.id.clone();
        // The task runs on (detached) until its token is cancelled.
        let (stop, _task) = sim::spawn(server, cfg);
        running.push(stop);
        wait_for(server, &id, |s| {
            s["connected"] == true && s["registrationStatus"] == "Accepted"
        })
        .await;
    }
    Sims(running)
}

async fn op(server: &Server, station: &str, op: &str, body: Value) -> (u16, Value) {
    server
        .post(
            &format!("/api/v1/stations/{station}/{op}"),
            &body.to_string(),
        )
        .await
}

fn both() -> Vec<StationConfig> {
    vec![
        StationConfig::new("OPS16", ProtocolVersion::V16),
        StationConfig::new("OPS2", ProtocolVersion::V201),
    ]
}

#[tokio::test]
async fn reset_speaks_each_version_and_says_what_it_cannot() {
    let server = Server::start().await;
    let _sims = sims(&server, both()).await;
    let (code, body) = op(&server, "OPS16", "reset", json!({"type": "Hard"})).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["action"], "Reset");
    assert_eq!(body["request"], json!({"type": "Hard"}));
    assert_eq!(body["status"], "Accepted");
    assert_eq!(body["protocol"], "ocpp1.6");
    assert!(body.get("note").is_none(), "{body}");
    // The same word for a 2.0.1 station is translated, and the record says how.
    let (code, body) = op(&server, "OPS2", "reset", json!({"type": "Soft"})).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["request"], json!({"type": "Immediate"}));
    assert!(
        body["note"]
            .as_str()
            .is_some_and(|n| n.contains("Immediate")),
        "{body}"
    );
    let call_id = body["callId"].as_str().expect("callId");
    let (code, record) = server.get(&format!("/api/v1/calls/{call_id}")).await;
    assert_eq!(code, 200, "{record}");
    assert_eq!(
        record["request"],
        json!({"type": "Soft"}),
        "as the caller wrote it"
    );
    assert_eq!(record["calls"][0]["payload"], json!({"type": "Immediate"}));
    assert!(record["calls"][0]["note"].is_string(), "{record}");
    // What 1.6 cannot say is a 400 naming the field and the valid values.
    let (code, body) = op(&server, "OPS16", "reset", json!({"type": "OnIdle"})).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(
        (&body["error"], &body["field"]),
        (&json!("no_equivalent"), &json!("type"))
    );
    assert_eq!(body["validValues"], json!(["Hard", "Soft", "Immediate"]));
    let (code, body) = op(
        &server,
        "OPS16",
        "reset",
        json!({"type": "Hard", "evseId": 1}),
    )
    .await;
    assert_eq!((code, &body["field"]), (400, &json!("evseId")), "{body}");
    let (code, body) = op(&server, "OPS2", "reset", json!({"type": "Sometime"})).await;
    assert_eq!(
        (code, &body["error"]),
        (400, &json!("invalid_value")),
        "{body}"
    );
    assert!(
        body["validValues"]
            .as_array()
            .is_some_and(|v| v.contains(&json!("OnIdle")))
    );
    let (code, body) = op(&server, "OPS2", "reset", json!({})).await;
    assert_eq!(
        (code, &body["error"]),
        (400, &json!("missing_field")),
        "{body}"
    );
    let (code, body) = op(
        &server,
        "OPS2",
        "reset",
        json!({"type": "Immediate", "when": "now"}),
    )
    .await;
    assert_eq!(
        (code, &body["error"]),
        (400, &json!("invalid_body")),
        "{body}"
    );
}

#[tokio::test]
async fn change_availability_returns_the_status_notification_that_followed() {
    let server = Server::start().await;
    let _sims = sims(&server, both()).await;
    let (code, body) = op(
        &server,
        "OPS16",
        "change-availability",
        json!({"operative": false, "connectorId": 1}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["request"],
        json!({"connectorId": 1, "type": "Inoperative"})
    );
    assert_eq!(body["status"], "Accepted");
    let followed = body["statusNotifications"].as_array().expect("followed");
    assert!(
        followed
            .iter()
            .any(|s| s["payload"]["connectorId"] == 1 && s["payload"]["status"] == "Unavailable"),
        "{body}"
    );
    assert!(
        followed.iter().all(|s| s["seq"].as_i64().is_some()),
        "{body}"
    );
    // 2.0.1: the EVSE form, and `type` as the OCPP word.
    let (code, body) = op(
        &server,
        "OPS2",
        "change-availability",
        json!({"type": "Inoperative", "evseId": 1}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["request"],
        json!({"operationalStatus": "Inoperative", "evse": {"id": 1}})
    );
    let followed = body["statusNotifications"].as_array().expect("followed");
    assert!(
        followed.iter().any(
            |s| s["payload"]["evseId"] == 1 && s["payload"]["connectorStatus"] == "Unavailable"
        ),
        "{body}"
    );
    // Back to operative, without waiting for the notification.
    let (code, body) = op(
        &server,
        "OPS2",
        "change-availability",
        json!({"operative": true, "evseId": 1, "followMs": 0}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["statusNotifications"], json!([]));
    // Bad bodies: nothing sent.
    for (bad, error, field) in [
        (json!({"connectorId": 1}), "missing_field", "operative"),
        (
            json!({"operative": true, "type": "Inoperative"}),
            "conflicting_fields",
            "operative",
        ),
        (json!({"type": "Broken"}), "invalid_value", "type"),
        (
            json!({"operative": true, "followMs": 60000}),
            "invalid_follow",
            "followMs",
        ),
    ] {
        let (code, body) = op(&server, "OPS2", "change-availability", bad).await;
        assert_eq!(code, 400, "{body}");
        assert_eq!(
            (&body["error"], &body["field"]),
            (&json!(error), &json!(field))
        );
    }
    let (code, body) = op(
        &server,
        "OPS16",
        "change-availability",
        json!({"operative": true, "evseId": 1, "connectorId": 2}),
    )
    .await;
    assert_eq!(
        (code, &body["error"]),
        (400, &json!("no_equivalent")),
        "{body}"
    );
}

#[tokio::test]
async fn unlock_and_clear_cache_answer_for_both_versions() {
    let server = Server::start().await;
    let _sims = sims(&server, both()).await;
    let (code, body) = op(
        &server,
        "OPS16",
        "unlock-connector",
        json!({"connectorId": 1}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        (&body["request"], &body["status"]),
        (&json!({"connectorId": 1}), &json!("Unlocked"))
    );
    let (code, body) = op(
        &server,
        "OPS2",
        "unlock-connector",
        json!({"evseId": 1, "connectorId": 1}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["request"], json!({"evseId": 1, "connectorId": 1}));
    let (code, body) = op(&server, "OPS2", "unlock-connector", json!({"evseId": 1})).await;
    assert_eq!(
        (code, &body["field"]),
        (400, &json!("connectorId")),
        "{body}"
    );
    let (code, body) = op(
        &server,
        "OPS16",
        "unlock-connector",
        json!({"connectorId": 0}),
    )
    .await;
    assert_eq!(
        (code, &body["error"]),
        (400, &json!("invalid_value")),
        "{body}"
    );
    for station in ["OPS16", "OPS2"] {
        // An empty body is fine for clear-cache.
        let (code, body) = server
            .post(&format!("/api/v1/stations/{station}/clear-cache"), "")
            .await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(
            (&body["action"], &body["status"]),
            (&json!("ClearCache"), &json!("Accepted"))
        );
    }
    let (code, calls) = server.get("/api/v1/calls?station=OPS2").await;
    assert_eq!(code, 200, "{calls}");
    assert_eq!(calls["items"].as_array().map(Vec::len), Some(2), "{calls}");
}

#[tokio::test]
async fn a_refusing_station_a_silent_one_and_missing_ones() {
    let server = Server::start().await;
    let mut refusing = StationConfig::new("OPSR", ProtocolVersion::V201);
    for action in [
        "Reset",
        "ChangeAvailability",
        "UnlockConnector",
        "ClearCache",
    ] {
        refusing
            .faults
            .add_flag(&format!("{action}=reject"))
            .expect("fault");
    }
    let mut silent = StationConfig::new("OPSS", ProtocolVersion::V16);
    silent.faults.ignore_csms_calls = true;
    let _sims = sims(&server, vec![refusing, silent]).await;
    for (path, body, status) in [
        ("reset", json!({"type": "Immediate"}), "Rejected"),
        (
            "change-availability",
            json!({"operative": false}),
            "Rejected",
        ),
        (
            "unlock-connector",
            json!({"evseId": 1, "connectorId": 1}),
            "UnlockFailed",
        ),
        ("clear-cache", json!({}), "Rejected"),
    ] {
        let (code, answer) = op(&server, "OPSR", path, body).await;
        assert_eq!(code, 200, "{path}: {answer}");
        assert_eq!(answer["status"], status, "{path}");
        if path == "change-availability" {
            assert_eq!(
                answer["statusNotifications"],
                json!([]),
                "not waited for after a refusal"
            );
        }
    }
    let started = std::time::Instant::now();
    let (code, body) = op(
        &server,
        "OPSS",
        "reset",
        json!({"type": "Soft", "timeoutMs": 300}),
    )
    .await;
    assert_eq!(code, 504, "{body}");
    assert_eq!(body["error"], "station_timeout");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    let call_id = body["callId"].as_str().expect("callId");
    let (_, record) = server.get(&format!("/api/v1/calls/{call_id}")).await;
    assert_eq!(record["outcome"], "StationTimeout", "{record}");
    let (code, body) = op(&server, "NOPE", "clear-cache", json!({})).await;
    assert_eq!((code, &body["error"]), (404, &json!("station_not_found")));
    // A station that left: a 409, after its version is checked.
    let mut st = Station::connect(&server, "OPSD", "ocpp1.6").await;
    st.boot16().await;
    drop(st);
    wait_connected(&server, "OPSD", false).await;
    let (code, body) = op(&server, "OPSD", "reset", json!({"type": "OnIdle"})).await;
    assert_eq!(
        (code, &body["error"]),
        (400, &json!("no_equivalent")),
        "{body}"
    );
    let (code, body) = op(&server, "OPSD", "reset", json!({"type": "Hard"})).await;
    assert_eq!(
        (code, &body["error"]),
        (409, &json!("station_not_connected")),
        "{body}"
    );
}
