//! The trigger API end to end: a real server, real WebSocket stations of both versions.

mod common;

use common::{Server, Station, spawn_trigger};
use serde_json::json;

#[tokio::test]
async fn v16_targeted_status_trigger_returns_the_message_the_station_sent() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CP16", "ocpp1.6").await;
    st.boot16().await;
    st.status16(1, "Available").await;
    let http = spawn_trigger(
        &server,
        "CP16",
        json!({"requestedMessage": "StatusNotification", "connectorId": 1}),
    );
    let (id, action, payload) = st.next_call().await;
    assert_eq!(action, "TriggerMessage");
    assert_eq!(
        payload,
        json!({"requestedMessage": "StatusNotification", "connectorId": 1})
    );
    st.reply(&id, json!({"status": "Accepted"})).await;
    // 1.6 §5.17: the triggered message is a new CALL with the station's own id.
    let answer = st.status16(1, "Charging").await;
    assert_eq!(answer[0], 3);
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "Accepted");
    assert_eq!(body["protocol"], "ocpp1.6");
    assert_eq!(body["complete"], true);
    let messages = body["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["action"], "StatusNotification");
    assert_eq!(messages[0]["payload"]["status"], "Charging");
    assert_eq!(messages[0]["messageId"], answer[1]);
    let (_, station) = server.get("/api/v1/stations/CP16").await;
    assert_eq!(station["connectors"][0]["status"], "Charging");
}

#[tokio::test]
async fn v16_untargeted_status_trigger_collects_every_known_connector_including_0() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CPALL", "ocpp1.6").await;
    st.boot16().await;
    for c in 0..=2 {
        st.status16(c, "Available").await;
    }
    let http = spawn_trigger(
        &server,
        "CPALL",
        json!({"requestedMessage": "StatusNotification"}),
    );
    let (id, _, payload) = st.next_call().await;
    assert_eq!(payload, json!({"requestedMessage": "StatusNotification"}));
    st.reply(&id, json!({"status": "Accepted"})).await;
    for c in 0..=2 {
        st.status16(c, "Available").await;
    }
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 200, "{body}");
    let connectors: Vec<_> = body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["payload"]["connectorId"].clone())
        .collect();
    assert_eq!(connectors, vec![json!(0), json!(1), json!(2)]);
}

#[tokio::test]
async fn v16_wrong_connector_does_not_satisfy_a_targeted_trigger() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CPW", "ocpp1.6").await;
    st.boot16().await;
    let http = spawn_trigger(
        &server,
        "CPW",
        json!({"requestedMessage": "MeterValues", "connectorId": 2, "timeoutMs": 3000}),
    );
    let (id, _, _) = st.next_call().await;
    st.reply(&id, json!({"status": "Accepted"})).await;
    let meter = |c: i64, v: &str| json!({"connectorId": c, "meterValue": [{"timestamp": "2025-01-01T12:00:00Z", "sampledValue": [{"value": v, "context": "Trigger"}]}]});
    st.call("MeterValues", meter(1, "111")).await;
    st.call("MeterValues", meter(2, "222")).await;
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["messages"].as_array().expect("messages").len(), 1);
    assert_eq!(
        body["messages"][0]["payload"]["meterValue"][0]["sampledValue"][0]["value"],
        "222"
    );
}

#[tokio::test]
async fn v201_status_trigger_fills_in_the_only_connector_f06_fr_13() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CS201", "ocpp2.0.1").await;
    st.boot201().await;
    st.status201(1, 1, "Available").await;
    let http = spawn_trigger(
        &server,
        "CS201",
        json!({"requestedMessage": "StatusNotification"}),
    );
    let (id, action, payload) = st.next_call().await;
    assert_eq!(action, "TriggerMessage");
    assert_eq!(
        payload,
        json!({"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}})
    );
    st.reply(&id, json!({"status": "Accepted"})).await;
    st.status201(1, 1, "Occupied").await;
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["protocol"], "ocpp2.0.1");
    assert_eq!(
        body["messages"][0]["payload"]["connectorStatus"],
        "Occupied"
    );
}

#[tokio::test]
async fn v201_heartbeat_trigger_accepts_connector_id_in_16_form_and_returns_the_heartbeat() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CSHB", "ocpp2.0.1").await;
    st.boot201().await;
    let http = spawn_trigger(&server, "CSHB", json!({"requestedMessage": "Heartbeat"}));
    let (id, _, payload) = st.next_call().await;
    assert_eq!(payload, json!({"requestedMessage": "Heartbeat"}));
    st.reply(&id, json!({"status": "Accepted"})).await;
    let beat = st.call("Heartbeat", json!({})).await;
    assert!(beat[2]["currentTime"].is_string());
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["messages"][0]["action"], "Heartbeat");
}

#[tokio::test]
async fn rejected_trigger_returns_the_status_and_no_messages() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CPREJ", "ocpp1.6").await;
    st.boot16().await;
    let http = spawn_trigger(
        &server,
        "CPREJ",
        json!({"requestedMessage": "BootNotification"}),
    );
    let (id, _, _) = st.next_call().await;
    st.reply(&id, json!({"status": "Rejected"})).await;
    let (code, body) = http.await.expect("join");
    assert_eq!(
        (code, body["status"].clone(), body["messages"].clone()),
        (200, json!("Rejected"), json!([]))
    );
}

#[tokio::test]
async fn message_sent_before_the_response_still_counts() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CPEARLY", "ocpp1.6").await;
    st.boot16().await;
    let http = spawn_trigger(&server, "CPEARLY", json!({"requestedMessage": "Heartbeat"}));
    let (id, _, _) = st.next_call().await;
    st.call("Heartbeat", json!({})).await;
    st.reply(&id, json!({"status": "Accepted"})).await;
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["messages"][0]["action"], "Heartbeat");
}

#[tokio::test]
async fn wait_false_returns_202_and_the_record_id_at_once() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CPNW", "ocpp1.6").await;
    st.boot16().await;
    // The station has not even seen the TriggerMessage when the caller gets its answer.
    let (code, body) = server
        .trigger(
            "CPNW",
            json!({"requestedMessage": "Heartbeat", "wait": false}),
        )
        .await;
    assert_eq!(
        (code, body["outcome"].as_str()),
        (202, Some("Running")),
        "{body}"
    );
    assert!(body["triggerId"].as_str().is_some_and(|t| !t.is_empty()));
    let (id, action, _) = st.next_call().await;
    assert_eq!(action, "TriggerMessage");
    st.reply(&id, json!({"status": "Accepted"})).await;
}

#[tokio::test]
async fn triggers_to_one_station_are_sent_one_at_a_time_in_order() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CPQ", "ocpp1.6").await;
    st.boot16().await;
    let first = spawn_trigger(&server, "CPQ", json!({"requestedMessage": "Heartbeat"}));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let second = spawn_trigger(
        &server,
        "CPQ",
        json!({"requestedMessage": "BootNotification"}),
    );
    let (id1, _, p1) = st.next_call().await;
    assert_eq!(p1["requestedMessage"], "Heartbeat");
    // Nothing else may arrive while the first is unanswered (OCPP-J §4.1.1).
    let early = tokio::time::timeout(std::time::Duration::from_millis(300), st.recv()).await;
    assert!(
        early.is_err(),
        "second CALL sent while the first was in flight: {early:?}"
    );
    st.reply(&id1, json!({"status": "Accepted"})).await;
    st.call("Heartbeat", json!({})).await;
    let (id2, _, p2) = st.next_call().await;
    assert_eq!(p2["requestedMessage"], "BootNotification");
    st.reply(&id2, json!({"status": "Rejected"})).await;
    assert_eq!(first.await.expect("join").0, 200);
    assert_eq!(second.await.expect("join").1["status"], "Rejected");
}

#[tokio::test]
async fn a_station_call_in_flight_does_not_block_the_trigger_answer() {
    // Crossing CALLs: the station sends its own CALL while the CSMS's TriggerMessage is
    // unanswered; both must complete.
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CPX", "ocpp1.6").await;
    st.boot16().await;
    let http = spawn_trigger(&server, "CPX", json!({"requestedMessage": "Heartbeat"}));
    let (id, _, _) = st.next_call().await;
    let answer = st
        .call(
            "StatusNotification",
            json!({"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
        )
        .await;
    assert_eq!(answer[0], 3);
    st.reply(&id, json!({"status": "Accepted"})).await;
    st.call("Heartbeat", json!({})).await;
    assert_eq!(http.await.expect("join").0, 200);
}

#[tokio::test]
async fn concurrent_triggers_each_get_their_own_message() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CPC", "ocpp1.6").await;
    st.boot16().await;
    let first = spawn_trigger(&server, "CPC", json!({"requestedMessage": "Heartbeat"}));
    let (id1, _, _) = st.next_call().await;
    let second = spawn_trigger(&server, "CPC", json!({"requestedMessage": "Heartbeat"}));
    st.reply(&id1, json!({"status": "Accepted"})).await;
    let (id2, _, _) = st.next_call().await;
    st.reply(&id2, json!({"status": "Accepted"})).await;
    let beat1 = st.call("Heartbeat", json!({})).await;
    let beat2 = st.call("Heartbeat", json!({})).await;
    let (c1, b1) = first.await.expect("join");
    let (c2, b2) = second.await.expect("join");
    assert_eq!((c1, c2), (200, 200), "{b1} {b2}");
    assert_eq!(
        b1["messages"][0]["messageId"], beat1[1],
        "the older trigger gets the first message"
    );
    assert_eq!(
        b2["messages"][0]["messageId"], beat2[1],
        "the newer one gets the second"
    );
}
