//! Charging sessions end to end: a real server and simulated stations of both versions.
//! Start a session with one call (answered once the station started it), watch its energy
//! rise, stop it (answered with the final energy); the station refusing, staying silent,
//! or having no car plugged in; bad bodies refused before anything is sent; list filters.

mod common;

use std::time::Duration;

use common::Server;
use common::sim::{spawn, wait_for};
use ocpp_rpc::ProtocolVersion;
use ocpulse_sim::StationConfig;
use serde_json::{Value, json};

fn station(id: &str, version: ProtocolVersion) -> StationConfig {
    let mut cfg = StationConfig::new(id, version);
    cfg.meter_interval = Duration::from_millis(200);
    cfg
}

async fn connected(server: &Server, cfg: StationConfig) -> tokio_util::sync::CancellationToken {
    let id = cfg.id.clone();
    let (stop, _task) = spawn(server, cfg);
    wait_for(server, &id, |s| {
        s["connected"] == json!(true) && s["connectors"].as_array().is_some_and(|c| !c.is_empty())
    })
    .await;
    stop
}

async fn start(server: &Server, station: &str, body: Value) -> (u16, Value) {
    server
        .post(
            &format!("/api/v1/stations/{station}/sessions"),
            &body.to_string(),
        )
        .await
}

/// Polls the session until `ready` holds (bounded: about 10 s).
async fn session_when(server: &Server, id: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        let (code, body) = server.get(&format!("/api/v1/sessions/{id}")).await;
        assert_eq!(code, 200, "{body}");
        if ready(&body) {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("session {id} never got there: {last}");
}

async fn start_watch_stop(version: ProtocolVersion, id: &str) -> Value {
    let server = Server::start().await;
    let _stop = connected(&server, station(id, version)).await;
    let (code, started) = start(
        &server,
        id,
        json!({"evseId": 1, "idToken": "TAG-1", "timeoutMs": 10000}),
    )
    .await;
    assert_eq!(code, 201, "{started}");
    assert_eq!(started["stationId"], id);
    assert_eq!(started["active"], true);
    assert_eq!(started["idToken"], "TAG-1");
    let session = started["id"].as_str().expect("id").to_owned();
    // Energy rises while it charges.
    let first = session_when(&server, &session, |s| {
        s["timeline"].as_array().is_some_and(|t| !t.is_empty())
    })
    .await;
    let e0 = first["energyWh"].as_f64().expect("energy");
    let rising = session_when(&server, &session, |s| {
        s["energyWh"].as_f64().is_some_and(|e| e > e0) && s["powerW"].as_f64() > Some(0.0)
    })
    .await;
    assert!(
        rising["timeline"].as_array().is_some_and(|t| t.len() >= 2),
        "{rising}"
    );
    let listed = server
        .get(&format!("/api/v1/sessions?station={id}&active=true"))
        .await;
    assert_eq!(listed.0, 200, "{}", listed.1);
    assert_eq!(listed.1["items"][0]["id"], session.as_str());
    // Stop: answered with the ended session and its final energy.
    let (code, ended) = server
        .post(
            &format!("/api/v1/sessions/{session}/stop"),
            &json!({"timeoutMs": 10000}).to_string(),
        )
        .await;
    assert_eq!(code, 200, "{ended}");
    assert_eq!(ended["active"], false);
    assert_eq!(ended["stopReason"], "Remote");
    assert!(
        ended["energyWh"].as_f64() >= rising["energyWh"].as_f64(),
        "{ended}"
    );
    assert_eq!(ended["powerW"], 0.0);
    let (code, again) = server.get(&format!("/api/v1/sessions/{session}")).await;
    assert_eq!((code, &again["active"]), (200, &json!(false)), "{again}");
    // Stopping it again says so, and sends nothing.
    let (code, body) = server
        .post(&format!("/api/v1/sessions/{session}/stop"), "")
        .await;
    assert_eq!(
        (code, body["error"].as_str()),
        (409, Some("session_ended")),
        "{body}"
    );
    // Filters.
    let ended_list = server
        .get(&format!("/api/v1/sessions?station={id}&active=false"))
        .await
        .1;
    assert_eq!(
        ended_list["items"].as_array().map(Vec::len),
        Some(1),
        "{ended_list}"
    );
    let none = server.get("/api/v1/sessions?active=true").await.1;
    assert_eq!(none["items"], json!([]), "{none}");
    let other = server.get("/api/v1/sessions?station=NOPE").await.1;
    assert_eq!(other["items"], json!([]));
    let future = server
        .get("/api/v1/sessions?from=2999-01-01T00:00:00Z")
        .await
        .1;
    assert_eq!(future["items"], json!([]));
    let past = server
        .get("/api/v1/sessions?to=2999-01-01T00:00:00Z")
        .await
        .1;
    assert_eq!(past["items"].as_array().map(Vec::len), Some(1));
    let before = server
        .get("/api/v1/sessions?to=2000-01-01T00:00:00Z")
        .await
        .1;
    assert_eq!(before["items"], json!([]));
    // Sessions survive a restart (rebuilt from the stored fold and the journal).
    let server = server.restart(|_| {}).await;
    let (code, kept) = server.get(&format!("/api/v1/sessions/{session}")).await;
    assert_eq!(code, 200, "{kept}");
    assert_eq!(kept["energyWh"], ended["energyWh"]);
    ended
}

#[tokio::test]
async fn v16_a_session_is_started_watched_and_stopped() {
    let ended = start_watch_stop(ProtocolVersion::V16, "SES16").await;
    assert_eq!(ended["family"], "1.6");
    assert_eq!(ended["connectorId"], 1);
    assert_eq!(ended["authorization"], "Accepted");
}

#[tokio::test]
async fn v201_a_session_is_started_watched_and_stopped() {
    let ended = start_watch_stop(ProtocolVersion::V201, "SES201").await;
    assert_eq!(ended["family"], "2.x");
    assert_eq!(ended["evseId"], 1);
    assert!(ended["remoteStartId"].as_i64().is_some(), "{ended}");
}

#[tokio::test]
async fn a_station_refusing_to_start_is_409_with_its_answer() {
    let server = Server::start().await;
    for (id, version) in [
        ("REJ16", ProtocolVersion::V16),
        ("REJ201", ProtocolVersion::V201),
    ] {
        let mut cfg = station(id, version);
        cfg.faults.reject_remote_start = true;
        let _stop = connected(&server, cfg).await;
        let (code, body) = start(&server, id, json!({"idToken": "T"})).await;
        assert_eq!(code, 409, "{body}");
        assert_eq!(body["error"], "start_rejected");
        assert_eq!(body["response"]["status"], "Rejected");
    }
}

#[tokio::test]
async fn no_car_plugged_in_is_a_timeout_outcome() {
    let server = Server::start().await;
    for (id, version) in [
        ("CAR16", ProtocolVersion::V16),
        ("CAR201", ProtocolVersion::V201),
    ] {
        let mut cfg = station(id, version);
        cfg.faults.no_car = true;
        let _stop = connected(&server, cfg).await;
        let (code, body) = start(&server, id, json!({"idToken": "T", "timeoutMs": 800})).await;
        assert_eq!(code, 504, "{body}");
        assert_eq!(body["error"], "no_session_started");
        assert_eq!(body["response"]["status"], "Accepted");
    }
    let (_, list) = server.get("/api/v1/sessions").await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn a_silent_station_is_504_station_timeout() {
    let server = Server::start().await;
    let mut cfg = station("MUTE", ProtocolVersion::V201);
    cfg.faults.ignore_csms_calls = true;
    let _stop = connected(&server, cfg).await;
    let (code, body) = start(&server, "MUTE", json!({"idToken": "T", "timeoutMs": 500})).await;
    assert_eq!(code, 504, "{body}");
    assert_eq!(body["error"], "station_timeout");
}

#[tokio::test]
async fn bad_requests_are_refused_before_anything_is_sent() {
    let server = Server::start().await;
    let _stop = connected(&server, station("BAD16", ProtocolVersion::V16)).await;
    for (body, code, error) in [
        (json!({}), 400, "missing_id_token"),
        (json!({"idToken": ""}), 400, "missing_id_token"),
        (json!({"idToken": "T", "evseId": 0}), 400, "invalid_evse"),
        (
            json!({"idToken": "T", "evseId": 1, "connectorId": 2}),
            400,
            "invalid_evse",
        ),
        (
            json!({"idToken": "T", "timeoutMs": 0}),
            400,
            "invalid_timeout",
        ),
        (json!({"idToken": "T", "evse": 1}), 400, "invalid_body"),
        // 1.6 idTag is at most 20 characters: the schema says so before sending.
        (json!({"idToken": "X".repeat(21)}), 400, "invalid_payload"),
    ] {
        let (got, answer) = start(&server, "BAD16", body.clone()).await;
        assert_eq!(
            (got, answer["error"].as_str()),
            (code, Some(error)),
            "{body}: {answer}"
        );
    }
    let (code, body) = server.post("/api/v1/stations/BAD16/sessions", "[1]").await;
    assert_eq!((code, body["error"].as_str()), (400, Some("invalid_body")));
    let (code, body) = start(&server, "NOPE", json!({"idToken": "T"})).await;
    assert_eq!(
        (code, body["error"].as_str()),
        (404, Some("station_not_found"))
    );
    let (code, body) = server.get("/api/v1/sessions/0000000000003039").await;
    assert_eq!(
        (code, body["error"].as_str()),
        (404, Some("session_not_found"))
    );
    let (code, body) = server
        .post("/api/v1/sessions/0000000000003039/stop", "")
        .await;
    assert_eq!(
        (code, body["error"].as_str()),
        (404, Some("session_not_found"))
    );
    for (query, error) in [
        ("active=maybe", "invalid_active"),
        ("from=yesterday", "invalid_time"),
        ("after=x", "invalid_after"),
        ("statoin=A", "invalid_query"),
    ] {
        let (code, body) = server.get(&format!("/api/v1/sessions?{query}")).await;
        assert_eq!(
            (code, body["error"].as_str()),
            (400, Some(error)),
            "{query}: {body}"
        );
    }
    // No CALL reached the station: nothing but its own boot traffic is journaled out.
    let (_, messages) = server.get("/api/v1/stations/BAD16/messages").await;
    assert!(
        !messages.to_string().contains("RemoteStartTransaction"),
        "{messages}"
    );
}

#[tokio::test]
async fn a_disconnected_station_is_409() {
    let server = Server::start().await;
    let stop = connected(&server, station("GONE", ProtocolVersion::V16)).await;
    stop.cancel();
    wait_for(&server, "GONE", |s| s["connected"] == json!(false)).await;
    let (code, body) = start(&server, "GONE", json!({"idToken": "T"})).await;
    assert_eq!(
        (code, body["error"].as_str()),
        (409, Some("station_not_connected")),
        "{body}"
    );
}

#[tokio::test]
async fn an_untargeted_trigger_refreshes_open_sessions_in_both_versions() {
    let server = Server::start().await;
    for (id, version, message) in [
        ("TRG16", ProtocolVersion::V16, "MeterValues"),
        ("TRG201", ProtocolVersion::V201, "TransactionEvent"),
    ] {
        let mut cfg = station(id, version);
        // No periodic readings: only the trigger brings one.
        cfg.meter_interval = Duration::from_secs(3600);
        let _stop = connected(&server, cfg).await;
        let (code, started) = start(&server, id, json!({"idToken": "T"})).await;
        assert_eq!(code, 201, "{started}");
        let before = started["timeline"].as_array().map_or(0, Vec::len);
        let (code, answer) = server
            .trigger(id, json!({"requestedMessage": message}))
            .await;
        assert_eq!(
            (code, &answer["outcome"]),
            (200, &json!("Completed")),
            "{answer}"
        );
        let session = started["id"].as_str().expect("id");
        let refreshed = session_when(&server, session, |s| {
            s["timeline"].as_array().map_or(0, Vec::len) > before
        })
        .await;
        assert_eq!(refreshed["active"], true, "{refreshed}");
        assert!(refreshed["powerW"].as_f64() > Some(0.0), "{refreshed}");
    }
}

/// A crash between the journal's commit and the sessions' documents loses nothing: with
/// the stored sessions and their fold gone, the next start folds them again from the
/// journal. (SQLite only: the documents are removed through the store on disk.)
#[tokio::test]
async fn sessions_are_rebuilt_from_the_journal_when_their_documents_are_lost() {
    if std::env::var("OCPULSE_TEST_SERVER_STORE").is_ok_and(|s| s == "postgres") {
        return;
    }
    let server = Server::start().await;
    let stop = connected(&server, station("LOST", ProtocolVersion::V16)).await;
    let (code, started) = start(&server, "LOST", json!({"idToken": "T"})).await;
    assert_eq!(code, 201, "{started}");
    let id = started["id"].as_str().expect("id").to_owned();
    let (code, ended) = server
        .post(&format!("/api/v1/sessions/{id}/stop"), "")
        .await;
    assert_eq!(code, 200, "{ended}");
    stop.cancel();
    let addr = server.addr;
    let dir = server.stop().await;
    {
        use ocpulse_core::store::{Doc, Store as _};
        let store = ocpulse_store::SqliteStore::open(dir.path()).expect("open");
        store
            .save_docs(vec![
                Doc::delete("charging_session", id.clone()),
                Doc::delete("charging_session_fold", "fold"),
            ])
            .await
            .expect("delete");
    }
    let server = Server::start_in(dir, addr, |_| {}).await;
    let mut rebuilt = Value::Null;
    for _ in 0..200 {
        let (code, body) = server.get(&format!("/api/v1/sessions/{id}")).await;
        if code == 200 && body["active"] == json!(false) {
            rebuilt = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for key in [
        "transactionId",
        "energyWh",
        "stopReason",
        "meterStartWh",
        "startedAt",
    ] {
        assert_eq!(rebuilt[key], ended[key], "{key}: {rebuilt}");
    }
}
