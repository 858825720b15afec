//! `POST /api/v1/stations/{id}/calls` end to end: a real server, raw WebSocket stations of
//! both versions answering (or not) exactly as each test says.

mod common;

use std::time::Duration;

use common::{Server, Station, wait_connected};
use serde_json::{Value, json};

/// POSTs a call in the background, so the test can play the station meanwhile.
fn spawn_call(
    server: &Server,
    station: &str,
    body: Value,
) -> tokio::task::JoinHandle<(u16, Value)> {
    let url = server.url(&format!("/api/v1/stations/{station}/calls"));
    tokio::spawn(async move {
        let r = reqwest::Client::new()
            .post(url)
            .json(&body)
            .send()
            .await
            .expect("POST");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    })
}

async fn call(server: &Server, station: &str, body: Value) -> (u16, Value) {
    server
        .post(
            &format!("/api/v1/stations/{station}/calls"),
            &body.to_string(),
        )
        .await
}

/// The station receives no frame within `ms`.
async fn assert_silence(st: &mut Station, ms: u64) {
    use futures_util::StreamExt;
    let next = tokio::time::timeout(Duration::from_millis(ms), st.ws.next()).await;
    assert!(next.is_err(), "the station received {next:?}");
}

#[tokio::test]
async fn v16_get_configuration_returns_the_stations_callresult() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CP16", "ocpp1.6").await;
    st.boot16().await;
    let http = spawn_call(
        &server,
        "CP16",
        json!({"action": "GetConfiguration", "payload": {"key": ["HeartbeatInterval"]}}),
    );
    let (id, action, payload) = st.next_call().await;
    assert_eq!(action, "GetConfiguration");
    assert_eq!(payload, json!({"key": ["HeartbeatInterval"]}));
    let answer = json!({"configurationKey": [{"key": "HeartbeatInterval", "readonly": false, "value": "300"}]});
    st.reply(&id, answer.clone()).await;
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["stationId"], "CP16");
    assert_eq!(body["protocol"], "ocpp1.6");
    assert_eq!(body["action"], "GetConfiguration");
    assert_eq!(body["request"], json!({"key": ["HeartbeatInterval"]}));
    assert_eq!(body["response"], answer);
    assert!(body.get("status").is_none(), "{body}");
    assert!(body["elapsedMs"].as_u64().is_some(), "{body}");
    // Journaled like every CSMS CALL: the CALL and its CALLRESULT.
    let (code, messages) = server.get("/api/v1/stations/CP16/messages").await;
    assert_eq!(code, 200, "{messages}");
    let text = messages.to_string();
    assert!(text.contains("GetConfiguration"), "{text}");
}

#[tokio::test]
async fn v201_reset_returns_the_stations_status() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CP2", "ocpp2.0.1").await;
    st.boot201().await;
    let http = spawn_call(
        &server,
        "CP2",
        json!({"action": "Reset", "payload": {"type": "OnIdle"}, "timeoutMs": 5000}),
    );
    let (id, action, payload) = st.next_call().await;
    assert_eq!(
        (action.as_str(), payload),
        ("Reset", json!({"type": "OnIdle"}))
    );
    st.reply(&id, json!({"status": "Scheduled"})).await;
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["protocol"], "ocpp2.0.1");
    assert_eq!(body["status"], "Scheduled");
    assert_eq!(body["response"], json!({"status": "Scheduled"}));
}

#[tokio::test]
async fn a_bad_payload_is_refused_before_anything_is_sent() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CPB", "ocpp1.6").await;
    st.boot16().await;
    let (code, body) = call(
        &server,
        "CPB",
        json!({"action": "ChangeAvailability", "payload": {"connectorId": 1, "type": "Sometimes"}}),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["error"], "invalid_payload");
    assert_eq!(body["path"], "/type");
    assert_eq!(body["protocol"], "ocpp1.6");
    let message = body["message"].as_str().expect("message");
    assert!(
        message.contains("Inoperative") && message.contains("Operative"),
        "names what is valid: {message}"
    );
    // A missing required field names the payload itself.
    let (code, body) = call(&server, "CPB", json!({"action": "ChangeAvailability"})).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["path"], "/");
    assert_silence(&mut st, 300).await;
}

#[tokio::test]
async fn station_messages_unknown_actions_and_triggers_are_refused_with_the_valid_actions() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CPA", "ocpp2.0.1").await;
    st.boot201().await;
    for action in ["BootNotification", "GetConfiguration", "Nonsense"] {
        let (code, body) = call(&server, "CPA", json!({"action": action})).await;
        assert_eq!(code, 400, "{action}: {body}");
        assert_eq!(body["error"], "unknown_action", "{action}");
        let valid = body["validValues"].as_array().expect("validValues");
        assert!(valid.contains(&json!("GetVariables")), "{valid:?}");
        assert!(valid.contains(&json!("DataTransfer")), "{valid:?}");
        assert!(!valid.contains(&json!("BootNotification")), "{valid:?}");
        assert!(!valid.contains(&json!("TriggerMessage")), "{valid:?}");
    }
    let (code, body) = call(
        &server,
        "CPA",
        json!({"action": "TriggerMessage", "payload": {"requestedMessage": "Heartbeat"}}),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["error"], "use_trigger_endpoint");
    assert_eq!(body["endpoint"], "/api/v1/stations/{id}/trigger");
    let (code, body) = call(
        &server,
        "CPA",
        json!({"action": "ClearCache", "wait": false}),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["error"], "wait_not_supported");
    assert_silence(&mut st, 300).await;
}

#[tokio::test]
async fn a_callerror_is_a_502_with_the_stations_error() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CPE", "ocpp2.0.1").await;
    st.boot201().await;
    let http = spawn_call(
        &server,
        "CPE",
        json!({"action": "GetVariables", "payload": {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}}),
    );
    let (id, action, _) = st.next_call().await;
    assert_eq!(action, "GetVariables");
    st.send_text(
        &json!([4, id, "NotImplemented", "no variables here", {"why": "test"}]).to_string(),
    )
    .await;
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 502, "{body}");
    assert_eq!(body["error"], "station_call_error");
    assert_eq!(
        body["callError"],
        json!({"errorCode": "NotImplemented", "errorDescription": "no variables here", "errorDetails": {"why": "test"}})
    );
}

#[tokio::test]
async fn a_silent_station_is_a_504_within_the_timeout() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CPS", "ocpp1.6").await;
    st.boot16().await;
    let started = std::time::Instant::now();
    let http = spawn_call(
        &server,
        "CPS",
        json!({"action": "ClearCache", "timeoutMs": 400}),
    );
    let (_, action, _) = st.next_call().await;
    assert_eq!(action, "ClearCache");
    let (code, body) = http.await.expect("join");
    let elapsed = started.elapsed();
    assert_eq!(code, 504, "{body}");
    assert_eq!(body["error"], "station_timeout");
    assert!(
        elapsed >= Duration::from_millis(400) && elapsed < Duration::from_millis(2000),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn unknown_and_disconnected_stations_are_refused_as_triggers_are() {
    let server = Server::start().await;
    let (code, body) = call(&server, "NOPE", json!({"action": "ClearCache"})).await;
    assert_eq!(code, 404, "{body}");
    assert_eq!(body["error"], "station_not_found");
    let mut st = Station::connect(&server, "CPD", "ocpp1.6").await;
    st.boot16().await;
    drop(st);
    wait_connected(&server, "CPD", false).await;
    let (code, body) = call(&server, "CPD", json!({"action": "ClearCache"})).await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["error"], "station_not_connected");
    // A call the version it last spoke cannot express is told so now.
    let (code, body) = call(&server, "CPD", json!({"action": "GetVariables"})).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["error"], "unknown_action");
}

#[tokio::test]
async fn calls_to_one_station_go_one_at_a_time_and_a_drop_is_a_502() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CPQ", "ocpp1.6").await;
    st.boot16().await;
    let first = spawn_call(&server, "CPQ", json!({"action": "ClearCache"}));
    let (id, action, _) = st.next_call().await;
    assert_eq!(action, "ClearCache");
    let second = spawn_call(
        &server,
        "CPQ",
        json!({"action": "UnlockConnector", "payload": {"connectorId": 1}}),
    );
    // The second CALL waits in the outbox until the first is answered.
    assert_silence(&mut st, 300).await;
    st.reply(&id, json!({"status": "Accepted"})).await;
    let (code, body) = first.await.expect("join");
    assert_eq!((code, &body["status"]), (200, &json!("Accepted")), "{body}");
    let (_, action, payload) = st.next_call().await;
    assert_eq!(
        (action.as_str(), payload),
        ("UnlockConnector", json!({"connectorId": 1}))
    );
    drop(st);
    let (code, body) = second.await.expect("join");
    assert_eq!(code, 502, "{body}");
    assert_eq!(body["error"], "station_disconnected");
    assert_eq!(body["action"], "UnlockConnector");
}
