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
async fn station_list_is_an_empty_page_when_nobody_connected() {
    let server = Server::start().await;
    assert_eq!(
        server.get("/api/v1/stations").await,
        (200, json!({"items": [], "next": null}))
    );
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

#[tokio::test]
async fn every_route_refuses_an_unknown_query_parameter_and_names_the_accepted_ones() {
    let server = Server::start().await;
    let client = reqwest::Client::new();
    for (method, path) in ocpulse::api::ROUTES {
        let url = server.url(&format!("{}?bogus=1", path.replace("{id}", "X")));
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let r = client
            .request(method.clone(), url)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .expect("request");
        let code = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_error(code, &body, 400, "invalid_query");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains("\"bogus\""), "{method} {path}: {body}");
        assert!(body["accepted"].is_array(), "{method} {path}: {body}");
    }
}

#[tokio::test]
async fn every_list_is_a_page_of_items_with_a_next_cursor() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "PAGED1", "ocpp1.6").await;
    st.boot16().await;
    let mut other = Station::connect(&server, "PAGED2", "ocpp1.6").await;
    other.boot16().await;
    let lists = [
        "/api/v1/stations",
        "/api/v1/stations/PAGED1/messages",
        "/api/v1/stations/PAGED1/meter-values",
        "/api/v1/triggers",
        "/api/v1/trigger-jobs",
        "/api/v1/schedules",
        "/api/v1/freshness",
        "/api/v1/reports/health",
        "/api/v1/alert-rules",
        "/api/v1/alerts",
        "/api/v1/webhooks",
        "/api/v1/tokens",
    ];
    for path in lists {
        let (code, page) = server.get(&format!("{path}?limit=1")).await;
        assert_eq!(code, 200, "{path}: {page}");
        let keys: Vec<&String> = page.as_object().expect("an object").keys().collect();
        assert_eq!(keys, ["items", "next"], "{path}: {page}");
        assert!(
            page["items"].as_array().is_some_and(|i| i.len() <= 1),
            "{path}: {page}"
        );
        let (code, body) = server.get(&format!("{path}?limit=1001")).await;
        assert_error(code, &body, 400, "invalid_limit");
    }
    // Two stations, one a page: the cursor reads the second, and the second page is the last.
    let (_, first) = server.get("/api/v1/stations?limit=1").await;
    assert_eq!(first["items"][0]["id"], "PAGED1");
    assert_eq!(first["next"], "PAGED1");
    let (_, second) = server.get("/api/v1/stations?limit=1&after=PAGED1").await;
    assert_eq!(second["items"][0]["id"], "PAGED2");
    assert_eq!(second["next"], Value::Null, "{second}");
    // A journal pages with its seq as the cursor, newest first, without overlap.
    let (_, newest) = server.get("/api/v1/stations/PAGED1/messages?limit=1").await;
    let cursor = newest["next"].as_str().expect("more entries").to_owned();
    assert_eq!(cursor, newest["items"][0]["seq"].to_string());
    let (_, older) = server
        .get(&format!(
            "/api/v1/stations/PAGED1/messages?limit=1&after={cursor}"
        ))
        .await;
    assert!(older["items"][0]["seq"].as_i64() < newest["items"][0]["seq"].as_i64());
    let (code, body) = server
        .get("/api/v1/stations/PAGED1/messages?after=latest")
        .await;
    assert_error(code, &body, 400, "invalid_after");
}
