//! Authorization end to end: the id-token registry (`/api/v1/id-tokens`) answered on
//! Authorize, 1.6 Start/StopTransaction and 2.0.1 TransactionEvent by a real server to raw
//! WebSocket stations, the policy switch, and SendLocalList pushed to simulated and raw
//! stations of both versions (accepted, refused, silent) with the version tracked.

mod common;

use std::time::Duration;

use common::sim::{spawn, wait_for};
use common::{Server, Station, wait_connected};
use ocpp_rpc::ProtocolVersion;
use ocpulse::config::ServerConfig;
use ocpulse_core::authorization::Policy;
use ocpulse_sim::StationConfig;
use serde_json::{Value, json};

fn registry_policy(config: &mut ServerConfig) {
    config.authorization = Policy::Registry;
}

async fn send(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = reqwest::Client::new().request(method, server.url(path));
    if let Some(body) = body {
        r = r.json(&body);
    }
    let r = r.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn put_token(server: &Server, token: &str, body: Value) -> (u16, Value) {
    send(
        server,
        reqwest::Method::PUT,
        &format!("/api/v1/id-tokens/{token}"),
        Some(body),
    )
    .await
}

/// Registers the tokens every test uses: an Accepted card with an expiry and a group, a
/// blocked one, and one whose expiry has passed.
async fn register_tokens(server: &Server) {
    for (token, body) in [
        (
            "04A2B3C4",
            json!({"status": "Accepted", "expiry": "2099-12-31T23:59:59Z", "groupId": "FLEET-A"}),
        ),
        ("BLOCKED1", json!({"status": "Blocked"})),
        ("OLDCARD", json!({"expiry": "2020-01-01T00:00:00Z"})),
    ] {
        let (code, body) = put_token(server, token, body).await;
        assert_eq!(code, 201, "{body}");
    }
}

fn start16(tag: &str) -> Value {
    json!({"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": "2025-01-01T12:00:00Z"})
}

#[tokio::test]
async fn v16_authorize_start_and_stop_are_answered_from_the_registry() {
    let server = Server::start_with(registry_policy).await;
    register_tokens(&server).await;
    let mut st = Station::connect(&server, "CP16", "ocpp1.6").await;
    st.boot16().await;
    let r = st.call("Authorize", json!({"idTag": "04a2b3c4"})).await;
    assert_eq!(
        r[2],
        json!({"idTagInfo": {"status": "Accepted", "expiryDate": "2099-12-31T23:59:59.000Z", "parentIdTag": "FLEET-A"}}),
        "case-insensitive, with expiry and group"
    );
    let r = st.call("Authorize", json!({"idTag": "BLOCKED1"})).await;
    assert_eq!(r[2], json!({"idTagInfo": {"status": "Blocked"}}));
    let r = st.call("Authorize", json!({"idTag": "OLDCARD"})).await;
    assert_eq!(r[2]["idTagInfo"]["status"], "Expired");
    let r = st.call("Authorize", json!({"idTag": "STRANGER"})).await;
    assert_eq!(
        r[2],
        json!({"idTagInfo": {"status": "Invalid"}}),
        "unknown under registry"
    );
    // A blocked tag starting a transaction gets its id and Blocked (the station then stops
    // it, 1.6 §5.16); an accepted one Accepted.
    let r = st.call("StartTransaction", start16("BLOCKED1")).await;
    assert_eq!(r[2]["idTagInfo"], json!({"status": "Blocked"}), "{r}");
    assert!(r[2]["transactionId"].as_i64().is_some(), "{r}");
    let r = st.call("StartTransaction", start16("04A2B3C4")).await;
    assert_eq!(r[2]["idTagInfo"]["status"], "Accepted");
    let tx = r[2]["transactionId"].clone();
    let stop = json!({"transactionId": tx, "meterStop": 10, "timestamp": "2025-01-01T13:00:00Z"});
    let r = st.call("StopTransaction", stop.clone()).await;
    assert_eq!(r[2], json!({}), "no idTag: no idTagInfo");
    let mut stop = stop;
    stop["idTag"] = json!("BLOCKED1");
    let r = st.call("StopTransaction", stop).await;
    assert_eq!(r[2], json!({"idTagInfo": {"status": "Blocked"}}));
    // The answers are journaled: the journal shows the Blocked answer to StartTransaction.
    let (code, messages) = server.get("/api/v1/stations/CP16/messages?limit=100").await;
    assert_eq!(code, 200);
    assert!(messages.to_string().contains("Blocked"), "{messages}");
}

#[tokio::test]
async fn v201_authorize_and_transaction_event_are_answered_from_the_registry() {
    let server = Server::start_with(registry_policy).await;
    register_tokens(&server).await;
    let mut st = Station::connect(&server, "CS2", "ocpp2.0.1").await;
    st.boot201().await;
    let token = |t: &str| json!({"idToken": t, "type": "ISO14443"});
    let r = st
        .call("Authorize", json!({"idToken": token("04A2B3C4")}))
        .await;
    assert_eq!(
        r[2],
        json!({"idTokenInfo": {"status": "Accepted", "cacheExpiryDateTime": "2099-12-31T23:59:59.000Z", "groupIdToken": {"idToken": "FLEET-A", "type": "Central"}}})
    );
    let r = st
        .call("Authorize", json!({"idToken": token("BLOCKED1")}))
        .await;
    assert_eq!(r[2], json!({"idTokenInfo": {"status": "Blocked"}}));
    let r = st
        .call("Authorize", json!({"idToken": token("nobody")}))
        .await;
    assert_eq!(r[2], json!({"idTokenInfo": {"status": "Invalid"}}));
    let event = |seq: i64, token: Option<Value>| {
        let mut e = json!({"eventType": if seq == 0 {"Started"} else {"Updated"}, "timestamp": "2025-01-01T12:00:00Z", "triggerReason": "Authorized", "seqNo": seq, "transactionInfo": {"transactionId": "T-1"}, "evse": {"id": 1, "connectorId": 1}});
        if let Some(t) = token {
            e["idToken"] = t;
        }
        e
    };
    let r = st
        .call("TransactionEvent", event(0, Some(token("BLOCKED1"))))
        .await;
    assert_eq!(r[2], json!({"idTokenInfo": {"status": "Blocked"}}), "{r}");
    let r = st.call("TransactionEvent", event(1, None)).await;
    assert_eq!(r[2], json!({}), "no idToken: no idTokenInfo");
    let r = st
        .call("TransactionEvent", event(2, Some(token("OLDCARD"))))
        .await;
    assert_eq!(r[2]["idTokenInfo"]["status"], "Expired");
}

#[tokio::test]
async fn accept_all_accepts_unknown_tokens_but_still_refuses_a_blocked_one() {
    let server = Server::start().await; // loopback default: accept-all
    register_tokens(&server).await;
    let mut st = Station::connect(&server, "CP16", "ocpp1.6").await;
    st.boot16().await;
    let r = st.call("Authorize", json!({"idTag": "ANYONE"})).await;
    assert_eq!(r[2], json!({"idTagInfo": {"status": "Accepted"}}));
    let r = st.call("StartTransaction", start16("BLOCKED1")).await;
    assert_eq!(r[2]["idTagInfo"]["status"], "Blocked");
}

#[tokio::test]
async fn the_id_token_api_creates_replaces_lists_deletes_and_survives_a_restart() {
    let server = Server::start_with(registry_policy).await;
    let (code, created) = put_token(&server, "04a2b3c4", json!({"groupId": "FLEET-A"})).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["idToken"], "04a2b3c4");
    assert_eq!(created["type"], "ISO14443");
    assert_eq!(created["status"], "Accepted");
    assert_eq!(created["answeredNow"], "Accepted");
    assert_eq!(created["expiry"], Value::Null);
    let (code, replaced) = put_token(
        &server,
        "04A2B3C4",
        json!({"status": "Blocked", "type": "Central", "expiry": "2030-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(code, 200, "the same token, whatever its case: {replaced}");
    assert_eq!(replaced["status"], "Blocked");
    assert_eq!(
        replaced["groupId"],
        Value::Null,
        "a PUT replaces the whole entry"
    );
    assert_eq!(replaced["createdAt"], created["createdAt"]);
    let (code, one) = server.get("/api/v1/id-tokens/04a2B3c4").await;
    assert_eq!(code, 200);
    assert_eq!(one["status"], "Blocked");
    for t in ["AAA", "BBB", "CCC"] {
        assert_eq!(put_token(&server, t, json!({})).await.0, 201);
    }
    let (code, page) = server.get("/api/v1/id-tokens?limit=2").await;
    assert_eq!(code, 200, "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["items"][0]["idToken"], "04A2B3C4");
    let next = page["next"].as_str().expect("more");
    let (_, rest) = server
        .get(&format!("/api/v1/id-tokens?limit=2&after={next}"))
        .await;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(rest["next"], Value::Null);
    let (code, deleted) = send(
        &server,
        reqwest::Method::DELETE,
        "/api/v1/id-tokens/aaa",
        None,
    )
    .await;
    assert_eq!(code, 200, "{deleted}");
    assert_eq!(deleted["deleted"]["idToken"], "AAA");
    let (code, gone) = server.get("/api/v1/id-tokens/AAA").await;
    assert_eq!(code, 404);
    assert_eq!(gone["error"], "id_token_not_found");
    // What is registered is durable: a restarted server answers from it.
    let server = server.restart(registry_policy).await;
    let (_, list) = server.get("/api/v1/id-tokens").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(3), "{list}");
    let mut st = Station::connect(&server, "CP16", "ocpp1.6").await;
    st.boot16().await;
    let r = st.call("Authorize", json!({"idTag": "04A2B3C4"})).await;
    assert_eq!(r[2]["idTagInfo"]["status"], "Blocked");
    let r = st.call("Authorize", json!({"idTag": "AAA"})).await;
    assert_eq!(
        r[2]["idTagInfo"]["status"], "Invalid",
        "deleted before the restart"
    );
}

#[tokio::test]
async fn bad_id_token_requests_are_refused_naming_the_field() {
    let server = Server::start().await;
    for (token, body, code, field) in [
        (
            "A",
            json!({"status": "Maybe"}),
            "invalid_id_token_field",
            "status",
        ),
        (
            "A",
            json!({"type": "RFID"}),
            "invalid_id_token_field",
            "type",
        ),
        (
            "A",
            json!({"expiry": "tomorrow"}),
            "invalid_id_token_field",
            "expiry",
        ),
        (
            "A",
            json!({"groupId": 7}),
            "invalid_id_token_field",
            "groupId",
        ),
        (
            "A",
            json!({"groupId": ""}),
            "invalid_id_token_field",
            "groupId",
        ),
        (&"X".repeat(37), json!({}), "invalid_id_token", "idToken"),
    ] {
        let (status, err) = put_token(&server, token, body.clone()).await;
        assert_eq!(status, 400, "{body}: {err}");
        assert_eq!(err["error"], code, "{body}: {err}");
        assert_eq!(err["field"], field, "{body}: {err}");
    }
    let (_, err) = put_token(&server, "A", json!({"status": "Maybe"})).await;
    assert_eq!(
        err["validValues"],
        json!(["Accepted", "Blocked", "Expired", "Invalid"])
    );
    let (_, err) = put_token(&server, "A", json!({"type": "RFID"})).await;
    assert!(err["validValues"].to_string().contains("ISO14443"), "{err}");
    let (status, err) = put_token(&server, "A", json!({"colour": "red"})).await;
    assert_eq!(status, 400);
    assert_eq!(err["error"], "invalid_body");
    assert!(
        err["message"]
            .as_str()
            .unwrap_or_default()
            .contains("colour"),
        "{err}"
    );
    assert_eq!(server.get("/api/v1/id-tokens/NOPE").await.0, 404);
}

/// A simulated station of `version` (no automatic transactions).
fn sim_station(id: &str, version: ProtocolVersion) -> StationConfig {
    StationConfig::new(id, version)
}

#[tokio::test]
async fn local_lists_are_pushed_to_simulated_stations_of_both_versions_and_tracked() {
    let server = Server::start_with(registry_policy).await;
    register_tokens(&server).await;
    let (stop16, t16) = spawn(&server, sim_station("CP0001", ProtocolVersion::V16));
    let (stop2, t2) = spawn(&server, sim_station("CS0001", ProtocolVersion::V201));
    for id in ["CP0001", "CS0001"] {
        wait_for(&server, id, |s| s["registrationStatus"] == "Accepted").await;
        let path = format!("/api/v1/stations/{id}/local-list");
        let (code, full) = server.post(&path, r#"{"updateType": "Full"}"#).await;
        assert_eq!(code, 200, "{id}: {full}");
        assert_eq!(full["status"], "Accepted", "{full}");
        assert_eq!(full["listVersion"], 1);
        assert_eq!(full["entries"], 3);
        assert_eq!(full["updateType"], "Full");
        let (code, diff) = server
            .post(
                &path,
                r#"{"updateType": "Differential", "idTokens": ["BLOCKED1", "GONE"]}"#,
            )
            .await;
        assert_eq!(code, 200, "{diff}");
        assert_eq!(diff["status"], "Accepted");
        assert_eq!(diff["listVersion"], 2);
        assert_eq!(
            (diff["entries"].clone(), diff["removals"].clone()),
            (json!(1), json!(1))
        );
        let (_, view) = server.get(&format!("/api/v1/stations/{id}")).await;
        assert_eq!(view["localList"]["version"], 2, "{view}");
        assert_eq!(view["localList"]["source"], "SendLocalList");
        assert_eq!(view["localList"]["updateType"], "Differential");
        // An old version for a Differential update: the station refuses, nothing changes.
        let (code, old) = server
            .post(
                &path,
                r#"{"updateType": "Differential", "idTokens": ["BLOCKED1"], "listVersion": 1}"#,
            )
            .await;
        assert_eq!(code, 200, "{old}");
        assert_eq!(old["status"], "VersionMismatch");
        let (_, view) = server.get(&format!("/api/v1/stations/{id}")).await;
        assert_eq!(
            view["localList"]["version"], 2,
            "a refused list changes no version"
        );
        // GetLocalListVersion sent through /calls is tracked too.
        let (code, got) = server
            .post(
                &format!("/api/v1/stations/{id}/calls"),
                r#"{"action": "GetLocalListVersion"}"#,
            )
            .await;
        assert_eq!(code, 200, "{got}");
        let (_, view) = server.get(&format!("/api/v1/stations/{id}")).await;
        assert_eq!(view["localList"]["source"], "GetLocalListVersion", "{view}");
        assert_eq!(view["localList"]["version"], 2);
    }
    stop16.cancel();
    stop2.cancel();
    let _ = tokio::join!(t16, t2);
    // The version is folded from the journal: a restart keeps it.
    let server = server.restart(registry_policy).await;
    let (_, view) = server.get("/api/v1/stations/CP0001").await;
    assert_eq!(view["localList"]["version"], 2, "{view}");
}

#[tokio::test]
async fn a_station_refusing_or_silent_or_failing_is_reported_and_bad_bodies_send_nothing() {
    let server = Server::start_with(|c| {
        registry_policy(c);
    })
    .await;
    register_tokens(&server).await;
    let mut st = Station::connect(&server, "CP16", "ocpp1.6").await;
    st.boot16().await;
    wait_connected(&server, "CP16", true).await;
    let path = "/api/v1/stations/CP16/local-list";
    let url = server.url(path);
    let push = |body: Value| {
        let url = url.clone();
        tokio::spawn(async move {
            let r = reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("POST");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        })
    };
    // NotSupported: the station has no local list.
    let http = push(json!({"updateType": "Full"}));
    let (id, action, payload) = st.next_call().await;
    assert_eq!(action, "SendLocalList");
    assert_eq!(payload["listVersion"], 1);
    assert_eq!(payload["updateType"], "Full");
    let list = payload["localAuthorizationList"].as_array().expect("list");
    assert!(
        list.contains(&json!({"idTag": "BLOCKED1", "idTagInfo": {"status": "Blocked"}})),
        "{payload}"
    );
    st.reply(&id, json!({"status": "NotSupported"})).await;
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "NotSupported");
    let (_, view) = server.get("/api/v1/stations/CP16").await;
    assert!(
        view.get("localList").is_none(),
        "not accepted: no version known: {view}"
    );
    // Silent: 504 after timeoutMs.
    let http = push(json!({"updateType": "Full", "timeoutMs": 300}));
    let (_, action, _) = st.next_call().await;
    assert_eq!(action, "SendLocalList");
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 504, "{body}");
    assert_eq!(body["error"], "station_timeout");
    // CALLERROR: 502 with the error.
    let http = push(json!({"updateType": "Full"}));
    let (id, _, _) = st.next_call().await;
    st.send_text(&json!([4, id, "NotImplemented", "no local list here", {}]).to_string())
        .await;
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 502, "{body}");
    assert_eq!(body["error"], "station_call_error");
    assert_eq!(body["callError"]["errorCode"], "NotImplemented");
    // Bad bodies: 400, and nothing reaches the station.
    for (body, code, field) in [
        (json!({}), "missing_update_type", "updateType"),
        (
            json!({"updateType": "Partial"}),
            "invalid_update_type",
            "updateType",
        ),
        (
            json!({"updateType": "Differential"}),
            "invalid_id_tokens",
            "idTokens",
        ),
        (
            json!({"updateType": "Full", "idTokens": []}),
            "invalid_id_tokens",
            "idTokens",
        ),
        (
            json!({"updateType": "Full", "idTokens": ["a b"]}),
            "invalid_id_tokens",
            "idTokens",
        ),
        (
            json!({"updateType": "Full", "listVersion": 0}),
            "invalid_list_version",
            "listVersion",
        ),
        (
            json!({"updateType": "Full", "timeoutMs": 0}),
            "invalid_timeout",
            "timeoutMs",
        ),
    ] {
        let (status, err) = server.post(path, &body.to_string()).await;
        assert_eq!(status, 400, "{body}: {err}");
        assert_eq!(err["error"], code, "{body}: {err}");
        assert_eq!(err["field"], field, "{body}: {err}");
    }
    let (_, err) = server.post(path, r#"{"updateType": "Partial"}"#).await;
    assert_eq!(err["validValues"], json!(["Full", "Differential"]));
    let (status, err) = server
        .post(path, r#"{"updateType": "Full", "colour": 1}"#)
        .await;
    assert_eq!((status, err["error"].clone()), (400, json!("invalid_body")));
    let silent = tokio::time::timeout(Duration::from_millis(300), st.next_call()).await;
    assert!(
        silent.is_err(),
        "a refused request sends nothing: {silent:?}"
    );
    let (status, err) = server
        .post(
            "/api/v1/stations/NOPE/local-list",
            r#"{"updateType": "Full"}"#,
        )
        .await;
    assert_eq!(
        (status, err["error"].clone()),
        (404, json!("station_not_found"))
    );
}

#[tokio::test]
async fn a_v201_station_gets_id_token_info_in_its_list_and_may_answer_version_mismatch() {
    let server = Server::start_with(registry_policy).await;
    register_tokens(&server).await;
    let mut st = Station::connect(&server, "CS2", "ocpp2.0.1").await;
    st.boot201().await;
    wait_connected(&server, "CS2", true).await;
    let url = server.url("/api/v1/stations/CS2/local-list");
    let http = tokio::spawn(async move {
        let r = reqwest::Client::new()
            .post(url)
            .json(
                &json!({"updateType": "Differential", "idTokens": ["04A2B3C4"], "listVersion": 5}),
            )
            .send()
            .await
            .expect("POST");
        (
            r.status().as_u16(),
            r.json::<Value>().await.unwrap_or(Value::Null),
        )
    });
    let (id, action, payload) = st.next_call().await;
    assert_eq!(action, "SendLocalList");
    assert_eq!(
        payload,
        json!({"versionNumber": 5, "updateType": "Differential", "localAuthorizationList": [
            {"idToken": {"idToken": "04A2B3C4", "type": "ISO14443"}, "idTokenInfo": {"status": "Accepted", "cacheExpiryDateTime": "2099-12-31T23:59:59.000Z", "groupIdToken": {"idToken": "FLEET-A", "type": "Central"}}}
        ]})
    );
    st.reply(&id, json!({"status": "VersionMismatch"})).await;
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "VersionMismatch");
    assert_eq!(body["protocol"], "ocpp2.0.1");
}

/// Whether the station's journal holds a CALL of `action` whose payload contains `needle`.
async fn journal_has(server: &Server, id: &str, action: &str, needle: &str) -> bool {
    let (_, page) = server
        .get(&format!("/api/v1/stations/{id}/messages?limit=200"))
        .await;
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|m| m["action"] == action && m["type"] == "CALL" && m.to_string().contains(needle))
}

#[tokio::test]
async fn a_simulated_station_ends_a_transaction_whose_token_is_refused() {
    let server = Server::start_with(registry_policy).await;
    register_tokens(&server).await;
    let (stop16, t16) = spawn(&server, sim_station("CP0001", ProtocolVersion::V16));
    let (stop2, t2) = spawn(&server, sim_station("CS0001", ProtocolVersion::V201));
    for (id, start) in [
        (
            "CP0001",
            json!({"action": "RemoteStartTransaction", "payload": {"connectorId": 1, "idTag": "BLOCKED1"}}),
        ),
        (
            "CS0001",
            json!({"action": "RequestStartTransaction", "payload": {"evseId": 1, "remoteStartId": 7, "idToken": {"idToken": "BLOCKED1", "type": "ISO14443"}}}),
        ),
    ] {
        // Statuses come once the station has read its Accepted boot: only then does it
        // start transactions (a start while Pending would send nothing).
        wait_for(&server, id, |s| {
            s["connectors"].as_array().is_some_and(|c| !c.is_empty())
        })
        .await;
        let (code, body) = server
            .post(&format!("/api/v1/stations/{id}/calls"), &start.to_string())
            .await;
        assert_eq!(
            (code, body["status"].clone()),
            (200, json!("Accepted")),
            "{body}"
        );
        // The start is answered Blocked, and the station ends the transaction itself.
        let (end_action, end_needle) = if id == "CP0001" {
            ("StopTransaction", "\"reason\":\"DeAuthorized\"")
        } else {
            ("TransactionEvent", "\"stoppedReason\":\"DeAuthorized\"")
        };
        let mut ended = false;
        for _ in 0..150 {
            if journal_has(&server, id, end_action, end_needle).await {
                ended = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (_, page) = server
            .get(&format!("/api/v1/stations/{id}/messages?limit=200"))
            .await;
        assert!(ended, "{id} never ended the refused transaction: {page}");
        assert!(
            page.to_string().contains("Blocked"),
            "{id}: the start was answered Blocked: {page}"
        );
    }
    stop16.cancel();
    stop2.cancel();
    let _ = tokio::join!(t16, t2);
}
