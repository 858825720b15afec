//! OCPP 2.1 over a real socket: a station that negotiates `ocpp2.1` is served the messages
//! 2.1 shares with 2.0.1 as 2.0.1, is told `NotImplemented` for 2.1's new station messages,
//! and can be triggered with 2.1's TriggerMessage values, `CustomTrigger` included.

mod common;

use common::{Server, Station, sim, spawn_trigger};
use ocpp_rpc::ProtocolVersion;
use ocpulse_core::trigger_plan::valid_messages;
use ocpulse_sim::triggers::CUSTOM_TRIGGERS;
use serde_json::json;

/// A booted 2.1 station with one EVSE of one connector, `Available`.
async fn station21(server: &Server, id: &str) -> Station {
    let mut st = Station::connect(server, id, "ocpp2.1").await;
    st.boot201().await;
    let answer = st.status201(1, 1, "Available").await;
    assert_eq!(
        answer,
        json!([3, answer[1], {}]),
        "StatusNotification answered"
    );
    st
}

#[tokio::test]
async fn a_21_station_boots_reports_its_status_and_answers_a_trigger() {
    let server = Server::start().await;
    let mut st = station21(&server, "CS21").await;
    let (code, state) = server.get("/api/v1/stations/CS21").await;
    assert_eq!(code, 200);
    assert_eq!(state["protocol"], "ocpp2.1");
    assert_eq!(state["registrationStatus"], "Accepted");
    assert_eq!(state["connectors"][0]["status"], "Available");

    let http = spawn_trigger(
        &server,
        "CS21",
        json!({"requestedMessage": "StatusNotification"}),
    );
    let (id, action, payload) = st.next_call().await;
    assert_eq!(action, "TriggerMessage");
    assert_eq!(
        payload,
        json!({"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}}),
        "F06.FR.13 filled in from the known layout, as for 2.0.1"
    );
    st.reply(&id, json!({"status": "Accepted"})).await;
    let answer = st.status201(1, 1, "Occupied").await;
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["protocol"], "ocpp2.1");
    assert_eq!(body["outcome"], "Completed");
    assert_eq!(body["messages"][0]["action"], "StatusNotification");
    assert_eq!(body["messages"][0]["messageId"], answer[1]);
    assert_eq!(
        body["messages"][0]["payload"]["connectorStatus"],
        "Occupied"
    );
}

#[tokio::test]
async fn a_21_custom_trigger_carries_its_name_and_ends_with_the_stations_answer() {
    let server = Server::start().await;
    let mut st = station21(&server, "CUSTOM21").await;
    let http = spawn_trigger(
        &server,
        "CUSTOM21",
        json!({"requestedMessage": "CustomTrigger", "customTrigger": "com.vendor.diagnostics"}),
    );
    let (id, action, payload) = st.next_call().await;
    assert_eq!(action, "TriggerMessage");
    assert_eq!(
        payload,
        json!({"requestedMessage": "CustomTrigger", "customTrigger": "com.vendor.diagnostics"})
    );
    st.reply(&id, json!({"status": "Accepted"})).await;
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["outcome"], "Completed");
    assert_eq!(
        body["messages"],
        json!([]),
        "nothing can be told to answer it"
    );
    assert!(
        body["note"]
            .as_str()
            .is_some_and(|n| n.contains("vendor-defined")),
        "{body}"
    );
    assert_eq!(
        body["sent"]["payload"]["customTrigger"],
        "com.vendor.diagnostics"
    );

    let http = spawn_trigger(
        &server,
        "CUSTOM21",
        json!({"requestedMessage": "CustomTrigger", "customTrigger": "com.vendor.unknown"}),
    );
    let (id, _, _) = st.next_call().await;
    st.reply(&id, json!({"status": "NotImplemented"})).await;
    let (code, body) = http.await.expect("join");
    assert_eq!((code, &body["outcome"]), (200, &json!("NotImplemented")));
}

#[tokio::test]
async fn custom_trigger_is_refused_with_a_400_that_says_why_unless_it_can_be_sent() {
    let server = Server::start().await;
    let _st21 = station21(&server, "R21").await;
    let mut st201 = Station::connect(&server, "R201", "ocpp2.0.1").await;
    st201.boot201().await;
    let cases = [
        (
            "R21",
            json!({"requestedMessage": "CustomTrigger"}),
            "missing_custom_trigger",
        ),
        (
            "R21",
            json!({"requestedMessage": "Heartbeat", "customTrigger": "x"}),
            "unexpected_custom_trigger",
        ),
        (
            "R21",
            json!({"requestedMessage": "CustomTrigger", "customTrigger": "x".repeat(51)}),
            "invalid_custom_trigger",
        ),
        (
            "R201",
            json!({"requestedMessage": "CustomTrigger", "customTrigger": "x"}),
            "no_equivalent",
        ),
        (
            "R201",
            json!({"requestedMessage": "SignV2G20Certificate"}),
            "no_equivalent",
        ),
        (
            "R201",
            json!({"requestedMessage": "Heartbeat", "customTrigger": "x"}),
            "unexpected_custom_trigger",
        ),
    ];
    for (station, request, code) in cases {
        let (status, body) = server.trigger(station, request.clone()).await;
        assert_eq!(status, 400, "{station} {request}: {body}");
        assert_eq!(body["error"], code, "{station} {request}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| m.len() > 20),
            "{body}"
        );
    }
    let (_, body) = server
        .trigger(
            "R201",
            json!({"requestedMessage": "CustomTrigger", "customTrigger": "x"}),
        )
        .await;
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("only in OCPP 2.1") && m.contains("ocpp2.0.1")),
        "{body}"
    );
}

#[tokio::test]
async fn station_messages_new_in_21_are_not_implemented_and_csms_ones_not_supported() {
    let server = Server::start().await;
    let mut st = station21(&server, "NEW21").await;
    let answer = st
        .call(
            "VatNumberValidation",
            json!({"vatNumber": "NL123456789B01"}),
        )
        .await;
    assert_eq!(answer[0], 4, "{answer}");
    assert_eq!(answer[2], "NotImplemented", "{answer}");
    let answer = st
        .call(
            "NotifyAllowedEnergyTransfer",
            json!({"transactionId": "t", "allowedEnergyTransfer": ["AC_single_phase"]}),
        )
        .await;
    assert_eq!(answer[2], "NotSupported", "a CSMS message: {answer}");
    // 2.1's SEND (message type 6) is not implemented: answered like any unknown type.
    st.send_text(r#"[6, "send-1", "NotifyPeriodicEventStream", {"id": 1, "pending": 0, "basetime": "2025-01-01T00:00:00Z", "data": []}]"#)
        .await;
    let answer = st.recv().await;
    assert_eq!(answer[2], "MessageTypeNotSupported", "{answer}");
    // A shared message is validated against its 2.1 schema: `statusInfo` is new in 2.1's
    // LogStatusNotification, and a 2.0.1 station sending it is refused.
    let log = json!({"status": "Idle", "statusInfo": {"reasonCode": "NoUpload"}});
    let answer = st.call("LogStatusNotification", log.clone()).await;
    assert_eq!(answer, json!([3, answer[1], {}]), "{answer}");
    let mut st201 = Station::connect(&server, "OLD201", "ocpp2.0.1").await;
    st201.boot201().await;
    let answer = st201.call("LogStatusNotification", log).await;
    assert_eq!(answer[2], "FormatViolation", "{answer}");
}

/// A 2.1 TransactionEvent of transaction `TX21` carrying meter values only 2.1 has.
fn event21(event_type: &str, trigger_reason: &str, seq_no: i64) -> serde_json::Value {
    json!({
        "eventType": event_type,
        "timestamp": "2025-01-01T12:00:00Z",
        "triggerReason": trigger_reason,
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": "TX21", "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1},
        "idToken": {"idToken": "TAG21", "type": "ISO14443"},
        "meterValue": [{
            "timestamp": "2025-01-01T12:00:00Z",
            "sampledValue": [
                {"value": 1500.0, "measurand": "Energy.Active.Import.Register", "location": "Upstream"},
                {"value": 42.0, "measurand": "Display.PresentSOC", "unitOfMeasure": {"unit": "Percent"}}
            ]
        }]
    })
}

#[tokio::test]
async fn values_only_21_has_in_shared_messages_do_not_hide_the_message_from_the_csms() {
    let server = Server::start().await;
    let mut st = station21(&server, "TX21").await;
    // `Upstream`, `Display.PresentSOC` and the trigger reason `RunningCost` are new in 2.1.
    let answer = st
        .call("TransactionEvent", event21("Started", "Authorized", 0))
        .await;
    assert_eq!(answer[0], 3, "{answer}");
    let answer = st
        .call("TransactionEvent", event21("Updated", "RunningCost", 1))
        .await;
    assert_eq!(answer[0], 3, "{answer}");
    let (_, state) = server.get("/api/v1/stations/TX21").await;
    let known = state["transactions"]
        .as_array()
        .is_some_and(|t| t.iter().any(|x| x["transactionId"] == "TX21"));
    assert!(
        known,
        "the 2.1 transaction is known as a 2.0.1 one would be (a reader of 2.0.1 types reads a 2.1 payload through ocpp_types::v21::as_v201 first): {state}"
    );
    // A trigger for it is answered by the station's marked Updated, as in 2.0.1 (F06.FR.07).
    let http = spawn_trigger(
        &server,
        "TX21",
        json!({"requestedMessage": "TransactionEvent"}),
    );
    let (id, _, payload) = st.next_call().await;
    assert_eq!(payload, json!({"requestedMessage": "TransactionEvent"}));
    st.reply(&id, json!({"status": "Accepted"})).await;
    st.call("TransactionEvent", event21("Updated", "Trigger", 2))
        .await;
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["outcome"], "Completed", "{body}");
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(1), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_21_requested_message_returns_the_simulators_message() {
    let server = Server::start().await;
    let cfg = sim::charging_on_two_evses("SIM21", ProtocolVersion::V21);
    let (stop, task) = sim::spawn(&server, cfg);
    let state = sim::wait_for(&server, "SIM21", |s| {
        s["transactions"].as_array().is_some_and(|t| t.len() == 2)
    })
    .await;
    assert_eq!(state["protocol"], "ocpp2.1");
    for requested in valid_messages(ProtocolVersion::V21) {
        let body = match requested {
            "StatusNotification" => {
                json!({"requestedMessage": requested, "evse": {"id": 2, "connectorId": 1}})
            }
            "CustomTrigger" => {
                json!({"requestedMessage": requested, "customTrigger": CUSTOM_TRIGGERS[0].0})
            }
            _ => json!({"requestedMessage": requested}),
        };
        let (code, body) = server.trigger("SIM21", body).await;
        assert_eq!(code, 200, "{requested}: {body}");
        if requested == "BootNotification" {
            assert_eq!(body["status"], "Rejected", "F06.FR.17: already Accepted");
            continue;
        }
        assert_eq!(body["status"], "Accepted", "{requested}: {body}");
        assert_eq!(body["outcome"], "Completed", "{requested}: {body}");
        let messages = body["messages"].as_array().expect("messages");
        let expected = match requested {
            "CustomTrigger" => None,
            r if r.starts_with("Sign") => Some("SignCertificate"),
            r => Some(r),
        };
        match expected {
            None => assert!(messages.is_empty(), "{requested}: {body}"),
            Some(action) => assert!(
                !messages.is_empty() && messages.iter().all(|m| m["action"] == action),
                "{requested}: {body}"
            ),
        }
    }
    let (_, body) = server
        .trigger("SIM21", json!({"requestedMessage": "SignV2G20Certificate"}))
        .await;
    assert_eq!(
        body["messages"][0]["payload"]["certificateType"],
        "V2G20Certificate"
    );
    let (_, body) = server
        .trigger("SIM21", json!({"requestedMessage": "TransactionEvent"}))
        .await;
    let events = body["messages"].as_array().expect("messages");
    assert_eq!(events.len(), 2, "one per running transaction: {body}");
    assert!(
        events
            .iter()
            .all(|e| e["payload"]["triggerReason"] == "Trigger")
    );
    stop.cancel();
    let _ = task.await;
}
