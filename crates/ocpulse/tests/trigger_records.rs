//! Trigger records, the cross-version vocabulary, fan-out, the ExtendedTriggerMessage retry,
//! capabilities, and every failure outcome a caller can act on; a real server and a
//! scripted station on real sockets.

mod common;

use std::time::Duration;

use common::{Server, Station, spawn_trigger};
use serde_json::{Value, json};

async fn record(server: &Server, id: &Value) -> Value {
    let (code, body) = server
        .get(&format!(
            "/api/v1/triggers/{}",
            id.as_str().expect("trigger id")
        ))
        .await;
    assert_eq!(code, 200, "{body}");
    body
}

/// Polls a record until it is no longer running.
async fn ended(server: &Server, id: &Value) -> Value {
    for _ in 0..250 {
        let r = record(server, id).await;
        if r["outcome"] != "Running" {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("trigger {id} never ended");
}

#[tokio::test]
async fn wait_false_is_202_with_a_record_that_completes_later_and_is_listed() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "ASYNC", "ocpp1.6").await;
    st.boot16().await;
    let r = reqwest::Client::new()
        .post(server.url("/api/v1/stations/ASYNC/trigger"))
        .header("x-requested-by", "nightly-billing")
        .json(&json!({"requestedMessage": "Heartbeat", "wait": false}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 202);
    let accepted: Value = r.json().await.expect("json");
    let id = accepted["triggerId"].clone();
    assert_eq!(accepted["outcome"], "Running");
    let running = record(&server, &id).await;
    assert_eq!(
        running["outcome"], "Running",
        "visible before the station answers"
    );
    assert_eq!(running["requestedBy"], "nightly-billing");

    let (msg_id, action, payload) = st.next_call().await;
    assert_eq!(
        (action.as_str(), &payload),
        ("TriggerMessage", &json!({"requestedMessage": "Heartbeat"}))
    );
    st.reply(&msg_id, json!({"status": "Accepted"})).await;
    st.call("Heartbeat", json!({})).await;

    let done = ended(&server, &id).await;
    assert_eq!(done["outcome"], "Completed", "{done}");
    assert_eq!(done["complete"], true);
    assert_eq!(done["calls"][0]["status"], "Accepted");
    assert_eq!(done["messages"][0]["action"], "Heartbeat");
    assert!(done["elapsedMs"].as_u64().is_some() && done["completedAt"].is_string());

    // Stored: listed by station and by outcome, and its frames carry its id.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, list) = server
        .get("/api/v1/triggers?station=ASYNC&outcome=Completed")
        .await;
    assert_eq!(list["items"][0]["id"], id, "{list}");
    let (_, none) = server
        .get("/api/v1/triggers?station=ASYNC&outcome=Rejected")
        .await;
    assert_eq!(none["items"], json!([]));
    let (_, journal) = server.get("/api/v1/stations/ASYNC/messages?limit=20").await;
    let tagged: Vec<&str> = journal["items"]
        .as_array()
        .expect("journal entries")
        .iter()
        .filter(|e| e["triggerId"] == id)
        .filter_map(|e| e["action"].as_str())
        .collect();
    for want in ["TriggerMessage", "Heartbeat", "TriggerCompleted"] {
        assert!(
            tagged.contains(&want),
            "{want} journaled with the trigger id: {tagged:?}"
        );
    }
}

#[tokio::test]
async fn record_queries_reject_bad_input_with_what_is_valid() {
    let server = Server::start().await;
    let (code, body) = server.get("/api/v1/triggers/nope").await;
    assert_eq!(
        (code, body["error"].as_str()),
        (404, Some("trigger_not_found"))
    );
    let (code, body) = server.get("/api/v1/triggers?outcome=Great").await;
    assert_eq!(
        (code, body["error"].as_str()),
        (400, Some("invalid_outcome"))
    );
    assert!(
        body["validValues"]
            .as_array()
            .is_some_and(|v| v.contains(&json!("MessageTimeout")))
    );
    let (code, body) = server.get("/api/v1/triggers?colour=red").await;
    assert_eq!((code, body["error"].as_str()), (400, Some("invalid_query")));
    let (code, _) = server.get("/api/v1/triggers?limit=0").await;
    assert_eq!(code, 400);
}

#[tokio::test]
async fn a_16_name_works_on_a_201_station_and_the_answer_says_what_was_sent() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "VOC", "ocpp2.0.1").await;
    st.boot201().await;
    let http = spawn_trigger(
        &server,
        "VOC",
        json!({"requestedMessage": "DiagnosticsStatusNotification"}),
    );
    let (id, action, payload) = st.next_call().await;
    assert_eq!(action, "TriggerMessage");
    assert_eq!(
        payload,
        json!({"requestedMessage": "LogStatusNotification"})
    );
    st.reply(&id, json!({"status": "Accepted"})).await;
    st.call("LogStatusNotification", json!({"status": "Idle"}))
        .await;
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["sent"]["payload"]["requestedMessage"],
        "LogStatusNotification"
    );
    assert!(
        body["note"]
            .as_str()
            .is_some_and(|n| n.contains("LogStatusNotification")),
        "{body}"
    );
    assert_eq!(body["messages"][0]["payload"], json!({"status": "Idle"}));
}

#[tokio::test]
async fn v201_status_for_every_connector_is_one_trigger_per_connector_one_at_a_time() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "FAN", "ocpp2.0.1").await;
    st.boot201().await;
    st.status201(1, 1, "Available").await;
    st.status201(2, 1, "Occupied").await;
    let http = spawn_trigger(
        &server,
        "FAN",
        json!({"requestedMessage": "StatusNotification"}),
    );
    for (evse, status) in [(1, "Available"), (2, "Occupied")] {
        let (id, action, payload) = st.next_call().await;
        assert_eq!(action, "TriggerMessage");
        assert_eq!(payload["evse"], json!({"id": evse, "connectorId": 1}));
        // One call in flight: nothing else arrives before this one is answered.
        let early = tokio::time::timeout(Duration::from_millis(200), st.recv()).await;
        assert!(
            early.is_err(),
            "a second TriggerMessage before the first was answered: {early:?}"
        );
        st.reply(&id, json!({"status": "Accepted"})).await;
        st.status201(evse, 1, status).await;
    }
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["complete"], true);
    assert_eq!(body["outcome"], "Completed");
    let evses: Vec<&Value> = body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| &m["payload"]["evseId"])
        .collect();
    assert_eq!(evses, vec![&json!(1), &json!(2)]);
    assert_eq!(body["calls"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn a_16_not_implemented_is_retried_with_extended_trigger_message_and_learned() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "EXT", "ocpp1.6").await;
    st.boot16().await;
    let http = spawn_trigger(&server, "EXT", json!({"requestedMessage": "Heartbeat"}));
    let (id, action, _) = st.next_call().await;
    assert_eq!(action, "TriggerMessage");
    st.reply(&id, json!({"status": "NotImplemented"})).await;
    let (id, action, payload) = st.next_call().await;
    assert_eq!(
        (action.as_str(), &payload),
        (
            "ExtendedTriggerMessage",
            &json!({"requestedMessage": "Heartbeat"})
        )
    );
    st.reply(&id, json!({"status": "Accepted"})).await;
    st.call("Heartbeat", json!({})).await;
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["outcome"], "Completed");
    assert_eq!(body["calls"][0]["status"], "NotImplemented");
    assert_eq!(body["calls"][1]["action"], "ExtendedTriggerMessage");
    let (_, station) = server.get("/api/v1/stations/EXT").await;
    let cap = &station["capabilities"]["Heartbeat"];
    assert_eq!(cap["worksWith"], "ExtendedTriggerMessage", "{station}");
    assert_eq!(cap["delivered"], 1);
    assert_eq!(cap["knownUnsupported"], false);
}

#[tokio::test]
async fn not_implemented_everywhere_is_visible_before_the_next_ask() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "NOPE", "ocpp2.0.1").await;
    st.boot201().await;
    let http = spawn_trigger(
        &server,
        "NOPE",
        json!({"requestedMessage": "FirmwareStatusNotification"}),
    );
    let (id, _, _) = st.next_call().await;
    st.reply(&id, json!({"status": "NotImplemented"})).await;
    let (code, body) = http.await.expect("join");
    assert_eq!(
        (code, body["outcome"].as_str()),
        (200, Some("NotImplemented")),
        "{body}"
    );
    let (_, station) = server.get("/api/v1/stations/NOPE").await;
    let cap = &station["capabilities"]["FirmwareStatusNotification"];
    assert_eq!(cap["knownUnsupported"], true, "{station}");
    assert_eq!(cap["notImplemented"], 1);
}

#[tokio::test]
async fn failure_outcomes_are_named_in_the_record() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "BAD", "ocpp1.6").await;
    st.boot16().await;
    st.status16(1, "Available").await;
    st.status16(2, "Available").await;

    // CALLERROR.
    let http = spawn_trigger(&server, "BAD", json!({"requestedMessage": "Heartbeat"}));
    let (id, _, _) = st.next_call().await;
    st.send_text(&json!([4, id, "NotSupported", "no remote trigger", {}]).to_string())
        .await;
    let (code, body) = http.await.expect("join");
    assert_eq!(
        (code, body["error"].as_str()),
        (502, Some("station_call_error"))
    );
    assert_eq!(
        record(&server, &body["triggerId"]).await["outcome"],
        "CallError"
    );

    // The wrong connector: a near miss, not a result.
    let http = spawn_trigger(
        &server,
        "BAD",
        json!({"requestedMessage": "StatusNotification", "connectorId": 1, "timeoutMs": 800}),
    );
    let (id, _, _) = st.next_call().await;
    st.reply(&id, json!({"status": "Accepted"})).await;
    st.status16(2, "Available").await;
    let (code, body) = http.await.expect("join");
    assert_eq!(
        (code, body["error"].as_str()),
        (502, Some("wrong_target")),
        "{body}"
    );
    assert_eq!(body["unmatched"][0]["payload"]["connectorId"], 2);
    assert_eq!(
        record(&server, &body["triggerId"]).await["outcome"],
        "WrongTarget"
    );

    // The message before the answer: correlated all the same, and marked.
    let http = spawn_trigger(&server, "BAD", json!({"requestedMessage": "Heartbeat"}));
    let (id, _, _) = st.next_call().await;
    st.call("Heartbeat", json!({})).await;
    st.reply(&id, json!({"status": "Accepted"})).await;
    let (code, body) = http.await.expect("join");
    assert_eq!(
        (code, body["outcome"].as_str()),
        (200, Some("Completed")),
        "{body}"
    );
    let r = record(&server, &body["triggerId"]).await;
    assert_eq!(r["messages"][0]["beforeAnswer"], true, "{r}");

    // Accepted, then nothing.
    let http = spawn_trigger(
        &server,
        "BAD",
        json!({"requestedMessage": "Heartbeat", "timeoutMs": 300}),
    );
    let (id, _, _) = st.next_call().await;
    st.reply(&id, json!({"status": "Accepted"})).await;
    let (code, body) = http.await.expect("join");
    assert_eq!(
        (code, body["error"].as_str()),
        (504, Some("message_timeout"))
    );
    assert_eq!(
        record(&server, &body["triggerId"]).await["outcome"],
        "MessageTimeout"
    );

    // A late answer: the trigger has ended; the answer is journaled and ignored.
    let http = spawn_trigger(
        &server,
        "BAD",
        json!({"requestedMessage": "Heartbeat", "timeoutMs": 300}),
    );
    let (id, _, _) = st.next_call().await;
    let (code, body) = http.await.expect("join");
    assert_eq!(
        (code, body["error"].as_str()),
        (504, Some("station_timeout"))
    );
    st.reply(&id, json!({"status": "Accepted"})).await;
    assert_eq!(
        record(&server, &body["triggerId"]).await["outcome"],
        "StationTimeout"
    );

    // Disconnect mid-trigger.
    let http = spawn_trigger(&server, "BAD", json!({"requestedMessage": "Heartbeat"}));
    let (id, _, _) = st.next_call().await;
    st.reply(&id, json!({"status": "Accepted"})).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(st);
    let (code, body) = http.await.expect("join");
    assert_eq!(
        (code, body["error"].as_str()),
        (409, Some("station_disconnected")),
        "{body}"
    );
    assert_eq!(
        record(&server, &body["triggerId"]).await["outcome"],
        "Disconnected"
    );
}
