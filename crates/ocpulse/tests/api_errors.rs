//! Every API error code, each with the JSON error shape.

mod common;

use common::{Server, Station, spawn_trigger, wait_connected};
use serde_json::{Value, json};

fn assert_error(code: u16, body: &Value, want_code: u16, want_error: &str) {
    assert_eq!(code, want_code, "{body}");
    assert_eq!(body["error"], want_error, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| m.len() > 10),
        "a helpful message: {body}"
    );
}

/// A 1.6 station that connected (so its version is known) and is gone again.
async fn connect_and_leave(server: &Server, id: &str) {
    let st = Station::connect(server, id, "ocpp1.6").await;
    wait_connected(server, id, true).await;
    drop(st);
    wait_connected(server, id, false).await;
}

#[tokio::test]
async fn station_list_is_an_empty_array_when_nobody_connected() {
    let server = Server::start().await;
    assert_eq!(server.get("/api/v1/stations").await, (200, json!([])));
}

#[tokio::test]
async fn unknown_station_is_404() {
    let server = Server::start().await;
    let (code, body) = server
        .trigger("NOPE", json!({"requestedMessage": "Heartbeat"}))
        .await;
    assert_error(code, &body, 404, "station_not_found");
    let (code, body) = server.get("/api/v1/stations/NOPE").await;
    assert_error(code, &body, 404, "station_not_found");
    let (code, body) = server.get("/api/v1/stations/NOPE/messages").await;
    assert_error(code, &body, 404, "station_not_found");
    let (code, body) = server.get("/api/v2/whatever").await;
    assert_error(code, &body, 404, "not_found");
}

#[tokio::test]
async fn known_but_disconnected_station_is_409() {
    let server = Server::start().await;
    connect_and_leave(&server, "GONE").await;
    let (code, body) = server
        .trigger("GONE", json!({"requestedMessage": "Heartbeat"}))
        .await;
    assert_error(code, &body, 409, "station_not_connected");
}

#[tokio::test]
async fn a_request_a_disconnected_station_could_never_run_is_400_not_409() {
    let server = Server::start().await;
    connect_and_leave(&server, "GONE16").await;
    // Checked against the version it last spoke: retrying after it reconnects cannot help.
    let (code, body) = server
        .trigger("GONE16", json!({"requestedMessage": "NoSuchMessage"}))
        .await;
    assert_error(code, &body, 400, "unknown_requested_message");
    assert_eq!(body["protocol"], "ocpp1.6", "{body}");
    assert!(
        body["validValues"]
            .as_array()
            .is_some_and(|v| v.contains(&json!("DiagnosticsStatusNotification"))),
        "{body}"
    );
    // A request it could run still waits for the connection.
    let (code, body) = server
        .trigger("GONE16", json!({"requestedMessage": "Heartbeat"}))
        .await;
    assert_error(code, &body, 409, "station_not_connected");
}

#[tokio::test]
async fn bad_bodies_are_400_and_nothing_is_sent() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "B16", "ocpp1.6").await;
    st.boot16().await;
    for (body, error) in [
        ("", "invalid_body"),
        ("{not json", "invalid_body"),
        (r#"{"requestedMessage": 5}"#, "invalid_body"),
        (
            r#"{"requestedMessage": "Heartbeat", "colour": "red"}"#,
            "invalid_body",
        ),
        (r#"{"connectorId": 1}"#, "missing_requested_message"),
        (
            r#"{"requestedMessage": "Heartbeat", "timeoutMs": 0}"#,
            "invalid_timeout",
        ),
        (
            r#"{"requestedMessage": "MeterValues", "connectorId": -1}"#,
            "invalid_target",
        ),
        (
            r#"{"requestedMessage": "MeterValues", "evse": {"id": 1, "connectorId": 2}}"#,
            "untranslatable_target",
        ),
        (
            r#"{"requestedMessage": "MeterValues", "evse": {"id": 1}, "connectorId": 2}"#,
            "conflicting_target",
        ),
    ] {
        let (code, resp) = server.post("/api/v1/stations/B16/trigger", body).await;
        assert_error(code, &resp, 400, error);
    }
    let nothing = tokio::time::timeout(std::time::Duration::from_millis(200), st.recv()).await;
    assert!(nothing.is_err(), "no CALL reached the station: {nothing:?}");
}

#[tokio::test]
async fn messages_without_an_equivalent_or_unknown_are_400_listing_the_valid_ones() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "V16", "ocpp1.6").await;
    st.boot16().await;
    let (code, body) = server
        .trigger("V16", json!({"requestedMessage": "TransactionEvent"}))
        .await;
    assert_error(code, &body, 400, "no_equivalent");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("MeterValues")),
        "says what to do instead: {body}"
    );
    assert!(
        body["validValues"]
            .as_array()
            .is_some_and(|v| v.contains(&json!("DiagnosticsStatusNotification"))),
        "{body}"
    );
    let mut st2 = Station::connect(&server, "V201", "ocpp2.0.1").await;
    st2.boot201().await;
    let (code, body) = server
        .trigger("V201", json!({"requestedMessage": "StatusReport"}))
        .await;
    assert_error(code, &body, 400, "unknown_requested_message");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("LogStatusNotification")),
        "{body}"
    );
}

#[tokio::test]
async fn v201_status_trigger_on_a_station_of_unknown_layout_is_400_saying_what_to_add() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "AMB", "ocpp2.0.1").await;
    st.boot201().await;
    let (code, body) = server
        .trigger("AMB", json!({"requestedMessage": "StatusNotification"}))
        .await;
    assert_error(code, &body, 400, "missing_evse");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("F06.FR.13") && m.contains("not reported any connector")),
        "{body}"
    );
}

#[tokio::test]
async fn silent_station_is_504() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "MUTE", "ocpp1.6").await;
    st.boot16().await;
    let http = spawn_trigger(
        &server,
        "MUTE",
        json!({"requestedMessage": "Heartbeat", "timeoutMs": 300}),
    );
    let (_, action, _) = st.next_call().await;
    assert_eq!(action, "TriggerMessage");
    let (code, body) = http.await.expect("join");
    assert_error(code, &body, 504, "station_timeout");
}

#[tokio::test]
async fn accepted_but_never_sent_is_504_with_the_status() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "LIAR", "ocpp1.6").await;
    st.boot16().await;
    let http = spawn_trigger(
        &server,
        "LIAR",
        json!({"requestedMessage": "Heartbeat", "timeoutMs": 400}),
    );
    let (id, _, _) = st.next_call().await;
    st.reply(&id, json!({"status": "Accepted"})).await;
    let (code, body) = http.await.expect("join");
    assert_error(code, &body, 504, "message_timeout");
    assert_eq!(body["status"], "Accepted");
}

#[tokio::test]
async fn call_error_answer_is_502_and_included() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "ERR", "ocpp1.6").await;
    st.boot16().await;
    let http = spawn_trigger(&server, "ERR", json!({"requestedMessage": "Heartbeat"}));
    let (id, _, _) = st.next_call().await;
    st.send_text(
        &json!([
            4,
            id,
            "NotSupported",
            "RemoteTrigger profile not supported",
            {}
        ])
        .to_string(),
    )
    .await;
    let (code, body) = http.await.expect("join");
    assert_error(code, &body, 502, "station_call_error");
    assert_eq!(body["callError"]["errorCode"], "NotSupported");
}

#[tokio::test]
async fn invalid_trigger_response_is_502() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "ODD", "ocpp1.6").await;
    st.boot16().await;
    let http = spawn_trigger(&server, "ODD", json!({"requestedMessage": "Heartbeat"}));
    let (id, _, _) = st.next_call().await;
    st.reply(&id, json!({"status": "Maybe"})).await;
    let (code, body) = http.await.expect("join");
    assert_error(code, &body, 502, "invalid_station_response");
}

#[tokio::test]
async fn journal_query_errors_are_400() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "JQ", "ocpp1.6").await;
    st.boot16().await;
    for (query, error) in [
        ("limit=0", "invalid_limit"),
        ("limit=abc", "invalid_limit"),
        ("before=yesterday", "invalid_before"),
        ("colour=red", "invalid_query"),
    ] {
        let (code, body) = server
            .get(&format!("/api/v1/stations/JQ/messages?{query}"))
            .await;
        assert_error(code, &body, 400, error);
    }
}

#[tokio::test]
async fn framework_errors_also_have_the_json_error_shape() {
    let server = Server::start().await;
    let r = reqwest::Client::new()
        .get(server.url("/api/v1/stations/X/trigger"))
        .send()
        .await
        .expect("GET");
    let code = r.status().as_u16();
    let body: Value = r.json().await.expect("json body");
    assert_error(code, &body, 405, "method_not_allowed");
    let r = reqwest::get(server.url("/api/v1/stations/%FF%FE"))
        .await
        .expect("GET");
    let code = r.status().as_u16();
    let body: Value = r.json().await.expect("json body");
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["error"], "invalid_request");
}
