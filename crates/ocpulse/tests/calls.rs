//! `POST /api/v1/stations/{id}/calls` end to end: a real server, raw WebSocket stations of
//! both versions answering (or not) exactly as each test says.

mod common;

use std::time::Duration;

use common::{Server, Station, spawn_post, wait_connected};
use serde_json::{Value, json};

/// POSTs a call in the background, so the test can play the station meanwhile.
fn spawn_call(
    server: &Server,
    station: &str,
    body: Value,
) -> tokio::task::JoinHandle<(u16, Value)> {
    spawn_post(server, &format!("/api/v1/stations/{station}/calls"), body)
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
    // Journaled like every CSMS CALL: the CALL and its CALLRESULT. A CSMS CALL is journaled
    // without waiting for the commit (`Store::record`), so wait for both entries.
    let messages = poll(&server, "/api/v1/stations/CP16/messages", |m| {
        m["items"].as_array().is_some_and(|items| {
            let of = |kind: &str| {
                items
                    .iter()
                    .any(|e| e["action"] == "GetConfiguration" && e["type"] == kind)
            };
            of("CALL") && of("CALLRESULT")
        })
    })
    .await;
    assert!(
        messages.to_string().contains("HeartbeatInterval"),
        "{messages}"
    );
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

/// GETs `path` until `ready` holds for its body (bounded: about 5 s).
async fn poll(server: &Server, path: &str, ready: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..250 {
        let (code, body) = server.get(path).await;
        if code == 200 && ready(&body) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{path} never became ready");
}

#[tokio::test]
async fn every_call_is_recorded_listed_and_read_back_apart_from_triggers() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CPR", "ocpp1.6").await;
    st.boot16().await;
    let http = spawn_call(
        &server,
        "CPR",
        json!({"action": "GetConfiguration", "payload": {"key": ["HeartbeatInterval"]}}),
    );
    let (id, _, _) = st.next_call().await;
    let answer = json!({"configurationKey": [{"key": "HeartbeatInterval", "readonly": false, "value": "300"}]});
    st.reply(&id, answer.clone()).await;
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 200, "{body}");
    let call_id = body["callId"].as_str().expect("callId").to_owned();
    let record = poll(&server, &format!("/api/v1/calls/{call_id}"), |r| {
        r["outcome"] == "Completed"
    })
    .await;
    assert_eq!(record["kind"], "call");
    assert_eq!(record["stationId"], "CPR");
    assert_eq!(record["protocol"], "ocpp1.6");
    assert_eq!(record["requestedBy"], "api");
    assert_eq!(record["calls"][0]["action"], "GetConfiguration");
    assert_eq!(record["calls"][0]["response"], answer);
    assert_eq!(record["request"]["action"], "GetConfiguration");
    assert_eq!(
        record["request"]["payload"],
        json!({"key": ["HeartbeatInterval"]})
    );
    // A CALLERROR and a silence are recorded too, each with its outcome.
    let http = spawn_call(&server, "CPR", json!({"action": "ClearCache"}));
    let (id, _, _) = st.next_call().await;
    st.send_text(&json!([4, id, "InternalError", "cache locked", {}]).to_string())
        .await;
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 502, "{body}");
    let error_id = body["callId"].as_str().expect("callId").to_owned();
    let (code, body) = call(
        &server,
        "CPR",
        json!({"action": "ClearCache", "timeoutMs": 200}),
    )
    .await;
    assert_eq!(code, 504, "{body}");
    let silent_id = body["callId"].as_str().expect("callId").to_owned();
    let _ = st.next_call().await;
    let record = poll(&server, &format!("/api/v1/calls/{silent_id}"), |r| {
        r["outcome"] != "Running"
    })
    .await;
    assert_eq!(record["outcome"], "StationTimeout", "{record}");
    let listed = poll(&server, "/api/v1/calls?station=CPR", |p| {
        p["items"].as_array().is_some_and(|i| i.len() == 3)
    })
    .await;
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        vec![silent_id.as_str(), error_id.as_str(), call_id.as_str()]
    );
    let errors = poll(&server, "/api/v1/calls?outcome=CallError", |p| {
        p["items"].as_array().is_some_and(|i| i.len() == 1)
    })
    .await;
    assert_eq!(errors["items"][0]["id"], error_id.as_str());
    assert_eq!(
        errors["items"][0]["calls"][0]["error"]["errorCode"],
        "InternalError"
    );
    // Calls are not triggers: neither listed nor found there (and the reverse).
    let (code, triggers) = server.get("/api/v1/triggers?station=CPR").await;
    assert_eq!(code, 200, "{triggers}");
    assert_eq!(triggers["items"], json!([]));
    let (code, body) = server.get(&format!("/api/v1/triggers/{call_id}")).await;
    assert_eq!((code, &body["error"]), (404, &json!("trigger_not_found")));
    let (code, body) = server.get("/api/v1/calls/nope").await;
    assert_eq!((code, &body["error"]), (404, &json!("call_not_found")));
    let (code, body) = server.get("/api/v1/calls?outcome=Sideways").await;
    assert_eq!((code, &body["error"]), (400, &json!("invalid_outcome")));
}

#[tokio::test]
async fn wait_false_answers_202_with_the_record_and_the_call_completes_in_the_background() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CPW", "ocpp2.0.1").await;
    st.boot201().await;
    let r = reqwest::Client::new()
        .post(server.url("/api/v1/stations/CPW/calls"))
        .header("X-Requested-By", "ops-console")
        .json(&json!({"action": "Reset", "payload": {"type": "OnIdle"}, "wait": false}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 202);
    let accepted: Value = r.json().await.expect("json");
    assert_eq!(accepted["outcome"], "Running", "{accepted}");
    assert_eq!(accepted["kind"], "call");
    assert_eq!(accepted["requestedBy"], "ops-console");
    let id = accepted["id"].as_str().expect("id").to_owned();
    let (running, _) = server.get(&format!("/api/v1/calls/{id}")).await;
    assert_eq!(running, 200);
    let (msg, action, _) = st.next_call().await;
    assert_eq!(action, "Reset");
    st.reply(&msg, json!({"status": "Scheduled"})).await;
    let record = poll(&server, &format!("/api/v1/calls/{id}"), |r| {
        r["outcome"] == "Completed"
    })
    .await;
    assert_eq!(record["calls"][0]["status"], "Scheduled");
    assert_eq!(
        record["calls"][0]["response"],
        json!({"status": "Scheduled"})
    );
    assert!(record["elapsedMs"].as_u64().is_some(), "{record}");
}

#[tokio::test]
async fn secrets_reach_the_station_but_not_the_record_or_the_journal() {
    let server = Server::start().await;
    let mut st16 = Station::connect(&server, "CPK16", "ocpp1.6").await;
    st16.boot16().await;
    let mut st2 = Station::connect(&server, "CPK2", "ocpp2.0.1").await;
    st2.boot201().await;
    let key = "0123456789abcdef-key";
    let password = "correct-horse-battery-staple";
    let cases = [
        (
            &mut st16,
            "CPK16",
            json!({"action": "ChangeConfiguration", "payload": {"key": "AuthorizationKey", "value": key}}),
            key,
            json!({"status": "Accepted"}),
        ),
        (
            &mut st2,
            "CPK2",
            json!({"action": "SetVariables", "payload": {"setVariableData": [
                {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}, "attributeValue": password},
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}, "attributeValue": "60"}
            ]}}),
            password,
            json!({"setVariableResult": [
                {"attributeStatus": "Accepted", "component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}},
                {"attributeStatus": "Accepted", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
            ]}),
        ),
    ];
    for (st, station, body, secret, answer) in cases {
        let http = spawn_call(&server, station, body);
        let (id, _, payload) = st.next_call().await;
        assert!(payload.to_string().contains(secret), "the station gets it");
        st.reply(&id, answer).await;
        let (code, body) = http.await.expect("join");
        assert_eq!(code, 200, "{body}");
        let call_id = body["callId"].as_str().expect("callId").to_owned();
        let record = poll(&server, &format!("/api/v1/calls/{call_id}"), |r| {
            r["outcome"] == "Completed"
        })
        .await;
        let text = record.to_string();
        assert!(!text.contains(secret), "record: {text}");
        assert!(text.contains("<redacted>"), "record: {text}");
        // A CSMS CALL is journaled without waiting for the commit (`Store::record`): wait
        // for its entry, then look for the secret in everything journaled.
        let messages = poll(
            &server,
            &format!("/api/v1/stations/{station}/messages"),
            |m| m.to_string().contains("<redacted>"),
        )
        .await;
        let text = messages.to_string();
        assert!(!text.contains(secret), "journal: {text}");
    }
    // What is not secret stays readable.
    let messages = poll(&server, "/api/v1/stations/CPK2/messages", |m| {
        m.to_string().contains("HeartbeatInterval")
    })
    .await;
    assert!(messages.to_string().contains("HeartbeatInterval"));
}

#[tokio::test]
async fn a_job_runs_a_call_over_a_selector_with_each_stations_result() {
    use common::sim;
    use ocpp_rpc::ProtocolVersion;
    use ocpulse_sim::StationConfig;

    let server = Server::start().await;
    let mut refusing = StationConfig::new("JC16B", ProtocolVersion::V16);
    refusing
        .faults
        .add_flag("ChangeConfiguration=reject")
        .expect("fault");
    let stations = [
        StationConfig::new("JC16A", ProtocolVersion::V16),
        refusing,
        StationConfig::new("JC201", ProtocolVersion::V201),
    ];
    let mut running = Vec::new();
    for cfg in stations {
        let id = cfg.id.clone();
        running.push(sim::spawn(&server, cfg));
        wait_connected(&server, &id, true).await;
    }
    let (code, job) = server
        .post(
            "/api/v1/trigger-jobs",
            &json!({
                "selector": {"stationIds": ["JC16A", "JC16B", "JC201"]},
                "call": {"action": "ChangeConfiguration", "payload": {"key": "HeartbeatInterval", "value": "120"}, "timeoutMs": 5000},
                "retries": 0,
                "wait": true
            })
            .to_string(),
        )
        .await;
    assert_eq!(code, 200, "{job}");
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["call"]["action"], "ChangeConfiguration");
    assert!(job.get("trigger").is_none(), "{job}");
    let result = |id: &str| {
        job["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|r| r["stationId"] == id)
            .cloned()
            .expect("a result per station")
    };
    let a = result("JC16A");
    assert_eq!(
        (&a["outcome"], &a["status"]),
        (&json!("Completed"), &json!("Accepted")),
        "{a}"
    );
    let call_id = a["callId"].as_str().expect("callId");
    let record = poll(&server, &format!("/api/v1/calls/{call_id}"), |r| {
        r["outcome"] == "Completed"
    })
    .await;
    assert_eq!(
        record["requestedBy"],
        format!("job:{}", job["jobId"].as_str().unwrap_or(""))
    );
    let b = result("JC16B");
    assert_eq!(
        (&b["outcome"], &b["status"]),
        (&json!("Rejected"), &json!("Rejected")),
        "{b}"
    );
    // The 2.0.1 station's version has no ChangeConfiguration: said why, nothing sent.
    let c = result("JC201");
    assert_eq!(c["outcome"], "NotApplicable", "{c}");
    assert_eq!(c["attempts"], 0, "{c}");
    let detail = c["detail"].as_str().expect("detail");
    assert!(
        detail.starts_with("unknown_action") && detail.contains("ocpp2.0.1"),
        "{detail}"
    );
    assert_eq!(
        job["counts"],
        json!({"Completed": 1, "NotApplicable": 1, "Rejected": 1})
    );

    // A call no version takes is refused up front, each version's reason said; trigger
    // and call together are refused.
    let (code, body) = server
        .post(
            "/api/v1/trigger-jobs",
            &json!({"selector": {"all": true}, "call": {"action": "Reset", "payload": {"type": "Sometime"}}}).to_string(),
        )
        .await;
    assert_eq!(
        (code, &body["error"]),
        (400, &json!("invalid_payload")),
        "{body}"
    );
    assert_eq!(body["byProtocol"]["ocpp1.6"]["error"], "invalid_payload");
    assert!(
        body["byProtocol"]["ocpp2.0.1"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Immediate")),
        "{body}"
    );
    let (code, body) = server
        .post(
            "/api/v1/trigger-jobs",
            &json!({"selector": {"all": true}, "call": {"action": "ClearCache"}, "trigger": {"requestedMessage": "Heartbeat"}}).to_string(),
        )
        .await;
    assert_eq!(
        (code, &body["error"]),
        (400, &json!("conflicting_work")),
        "{body}"
    );
    for (stop, task) in running {
        stop.cancel();
        let _ = task.await;
    }
}
