//! Configuration verification end to end: a real server, simulated stations of both
//! versions (1.6 GetConfiguration / ChangeConfiguration, 2.0.1 GetBaseReport in several
//! NotifyReport parts / GetVariables / SetVariables), and raw stations that refuse or stay
//! silent.

mod common;

use std::time::Duration;

use common::{Server, Station, sim, spawned};
use ocpp_rpc::ProtocolVersion;
use ocpulse_sim::StationConfig;
use serde_json::{Value, json};

async fn put(server: &Server, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .put(server.url(path))
        .json(&body)
        .send()
        .await
        .expect("PUT");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post(server: &Server, path: &str, body: Value) -> (u16, Value) {
    server.post(path, &body.to_string()).await
}

async fn eventually(server: &Server, path: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        let (code, body) = server.get(path).await;
        if code == 200 && ok(&body) {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{path} never matched; last {last}");
}

fn standing<'a>(report: &'a Value, station: &str) -> &'a Value {
    report["stations"]
        .as_array()
        .and_then(|s| s.iter().find(|d| d["stationId"] == station))
        .unwrap_or_else(|| panic!("{station} not in {report}"))
}

#[tokio::test]
async fn drift_is_found_and_corrected_on_simulated_stations_of_both_versions() {
    let server = Server::start().await;
    let (stop16, task16) = sim::spawn(&server, StationConfig::new("CFG16", ProtocolVersion::V16));
    let (stop2, task2) = sim::spawn(&server, StationConfig::new("CFG201", ProtocolVersion::V201));
    for id in ["CFG16", "CFG201"] {
        sim::wait_for(&server, id, |s| s["registrationStatus"] == "Accepted").await;
    }
    let (code, rule) = post(
        &server,
        "/api/v1/alert-rules",
        json!({"name": "config drift", "condition": {"kind": "configDrift"}}),
    )
    .await;
    assert_eq!(code, 201, "{rule}");
    let (code, p16) = put(
        &server,
        "/api/v1/config/profiles/fleet-16",
        json!({"protocol": "1.6", "selector": {"all": true},
               "settings": {"HeartbeatInterval": "120", "MeterValueSampleInterval": "60", "WebSocketPingInterval": "15"}}),
    )
    .await;
    assert_eq!(code, 201, "{p16}");
    assert_eq!(p16["protocol"], "ocpp1.6");
    let (code, _) = put(
        &server,
        "/api/v1/config/profiles/fleet-201",
        json!({"protocol": "ocpp2.0.1", "selector": {"all": true},
               "settings": {"OCPPCommCtrlr.HeartbeatInterval": "120", "SampledDataCtrlr.TxUpdatedInterval": "30"}}),
    )
    .await;
    assert_eq!(code, 201);

    // Never read: unread, not compliant.
    let (_, report) = server.get("/api/v1/config/drift").await;
    assert_eq!(standing(&report, "CFG16")["standing"], "unread", "{report}");

    // A full read of each: 1.6 GetConfiguration, 2.0.1 GetBaseReport in several parts.
    let (code, snap16) = post(
        &server,
        "/api/v1/stations/CFG16/configuration/read",
        json!({}),
    )
    .await;
    assert_eq!(code, 200, "{snap16}");
    assert_eq!(snap16["source"], "GetConfiguration");
    assert_eq!(snap16["complete"], true);
    assert_eq!(snap16["entries"]["HeartbeatInterval"]["value"], "300");
    assert_eq!(
        snap16["entries"]["SupportedFeatureProfiles"]["readonly"],
        true
    );
    let (code, empty) = server
        .post("/api/v1/stations/CFG201/configuration/read", "")
        .await;
    assert_eq!(
        (code, empty["error"].as_str()),
        (400, Some("invalid_body")),
        "a body is required: {empty}"
    );
    let (code, snap2) = server
        .post("/api/v1/stations/CFG201/configuration/read", "{}")
        .await;
    assert_eq!(code, 200, "{snap2}");
    assert_eq!(snap2["source"], "GetBaseReport");
    let entries = snap2["entries"].as_object().expect("entries");
    assert!(entries.len() > 4, "every part assembled: {snap2}");
    assert_eq!(entries["OCPPCommCtrlr.HeartbeatInterval"]["value"], "300");
    assert_eq!(entries["DeviceDataCtrlr.ItemsPerMessage"]["readonly"], true);

    // Drift found, per key, and alerted per station and profile.
    let (code, report) = server.get("/api/v1/config/drift").await;
    assert_eq!(code, 200, "{report}");
    let d16 = standing(&report, "CFG16");
    assert_eq!(d16["standing"], "drifting", "{report}");
    let keys: Vec<&str> = d16["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["key"].as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "HeartbeatInterval",
            "MeterValueSampleInterval",
            "WebSocketPingInterval"
        ]
    );
    assert_eq!(d16["items"][0]["actual"], "300");
    assert_eq!(d16["items"][0]["kind"], "differs");
    assert_eq!(standing(&report, "CFG201")["standing"], "drifting");
    let fleet = report["profiles"].as_array().expect("profiles");
    assert!(fleet.iter().all(|p| p["drifting"] == 1), "{report}");
    eventually(&server, "/api/v1/alerts?status=open", |b| {
        b["items"].as_array().is_some_and(|a| {
            a.iter()
                .any(|x| x["stationId"] == "CFG16" && x["target"] == "config:fleet-16")
                && a.iter()
                    .any(|x| x["stationId"] == "CFG201" && x["target"] == "config:fleet-201")
        })
    })
    .await;

    // Applied as a job: 1.6 one ChangeConfiguration per key, WebSocketPingInterval needs a
    // reboot (said, not hidden); 2.0.1 one SetVariables.
    let (code, job) = post(
        &server,
        "/api/v1/config/apply",
        json!({"profile": "fleet-16"}),
    )
    .await;
    assert_eq!(code, 200, "{job}");
    assert_eq!(job["status"], "finished");
    let s = &job["stations"][0];
    assert_eq!(s["stationId"], "CFG16");
    assert_eq!(s["outcome"], "rebootRequired", "{job}");
    let results: Vec<(&str, &str)> = s["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap_or(""),
                r["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            ("HeartbeatInterval", "Accepted"),
            ("MeterValueSampleInterval", "Accepted"),
            ("WebSocketPingInterval", "RebootRequired")
        ]
    );
    assert_eq!(s["remaining"], json!([]), "{job}");
    let (code, job2) = post(
        &server,
        "/api/v1/config/apply",
        json!({"profile": "fleet-201", "wait": false}),
    )
    .await;
    assert_eq!(code, 202, "{job2}");
    let id = job2["jobId"].as_str().expect("jobId");
    let done = eventually(&server, &format!("/api/v1/config/applies/{id}"), |j| {
        j["status"] == "finished"
    })
    .await;
    assert_eq!(done["stations"][0]["outcome"], "applied", "{done}");
    assert_eq!(done["counts"], json!({"applied": 1}));

    // Corrected: compliant, the alerts resolved, and the history shows the reads.
    let (_, report) = server.get("/api/v1/config/drift").await;
    assert_eq!(
        standing(&report, "CFG16")["standing"],
        "compliant",
        "{report}"
    );
    assert_eq!(
        standing(&report, "CFG201")["standing"],
        "compliant",
        "{report}"
    );
    eventually(&server, "/api/v1/alerts?status=open", |b| {
        b["items"].as_array().is_some_and(|a| {
            a.iter()
                .all(|x| !x["target"].as_str().unwrap_or("").starts_with("config:"))
        })
    })
    .await;
    let (code, history) = server
        .get("/api/v1/stations/CFG16/configuration/history")
        .await;
    assert_eq!(code, 200, "{history}");
    let snaps = history["snapshots"].as_array().expect("snapshots");
    assert!(
        snaps.len() >= 3,
        "the full read, the apply's read before and after: {history}"
    );
    assert_eq!(snaps[0]["entries"]["HeartbeatInterval"]["value"], "120");
    assert_eq!(
        snaps[0]["complete"], true,
        "a partial read merges into the full one"
    );
    let (code, latest) = server.get("/api/v1/stations/CFG201/configuration").await;
    assert_eq!(code, 200);
    assert_eq!(
        latest["latest"]["entries"]["OCPPCommCtrlr.HeartbeatInterval"]["value"],
        "120"
    );
    assert_eq!(latest["drift"][0]["standing"], "compliant");

    // A check reads only the profiles' keys, fresh (GetVariables on 2.0.1).
    let (code, checked) = post(
        &server,
        "/api/v1/config/drift/check",
        json!({"profile": "fleet-201"}),
    )
    .await;
    assert_eq!(code, 200, "{checked}");
    assert_eq!(standing(&checked, "CFG201")["standing"], "compliant");
    let (_, history) = server
        .get("/api/v1/stations/CFG201/configuration/history")
        .await;
    assert_eq!(history["snapshots"][0]["source"], "GetVariables");

    stop16.cancel();
    stop2.cancel();
    let _ = (task16.await, task2.await);
}

#[tokio::test]
async fn a_read_only_key_is_shown_and_its_refusal_reported() {
    let server = Server::start().await;
    let (stop, task) = sim::spawn(&server, StationConfig::new("RO16", ProtocolVersion::V16));
    sim::wait_for(&server, "RO16", |s| s["registrationStatus"] == "Accepted").await;
    put(
        &server,
        "/api/v1/config/profiles/ro",
        json!({"protocol": "ocpp1.6", "selector": {"stationIds": ["RO16"]},
               "settings": {"SupportedFeatureProfiles": "Core", "NoSuchKey": "1"}}),
    )
    .await;
    let (code, report) = post(&server, "/api/v1/config/drift/check", json!({})).await;
    assert_eq!(code, 200, "{report}");
    let items = &standing(&report, "RO16")["items"];
    assert_eq!(items[0]["key"], "NoSuchKey");
    assert_eq!(items[0]["kind"], "missing");
    assert_eq!(items[1]["kind"], "readOnly");
    let (code, job) = post(&server, "/api/v1/config/apply", json!({"profile": "ro"})).await;
    assert_eq!(code, 200, "{job}");
    let s = &job["stations"][0];
    assert_eq!(s["outcome"], "partial", "{job}");
    let statuses: Vec<&str> = s["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["status"].as_str())
        .collect();
    assert_eq!(statuses, ["NotSupported", "Rejected"]);
    assert_eq!(s["remaining"].as_array().map(Vec::len), Some(2));
    stop.cancel();
    let _ = task.await;
}

#[tokio::test]
async fn a_station_that_refuses_errs_or_stays_silent_gets_a_named_error() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "RAW2", "ocpp2.0.1").await;
    st.boot201().await;
    let url = server.url("/api/v1/stations/RAW2/configuration/read");
    let read = |body: Value| {
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
    // Refused.
    let http = read(json!({}));
    let (id, action, payload) = st.next_call().await;
    assert_eq!(action, "GetBaseReport");
    assert_eq!(payload["reportBase"], "FullInventory");
    st.reply(&id, json!({"status": "NotSupported"})).await;
    let (code, body) = http.await.expect("join");
    assert_eq!(
        (code, body["error"].as_str()),
        (422, Some("station_refused")),
        "{body}"
    );
    // Accepted, but the report never completes.
    let http = read(json!({"timeoutMs": 600}));
    let (id, _, payload) = st.next_call().await;
    st.reply(&id, json!({"status": "Accepted"})).await;
    let part = json!({"requestId": payload["requestId"], "generatedAt": "2026-01-01T00:00:00Z", "seqNo": 0, "tbc": true,
        "reportData": [{"component": {"name": "C"}, "variable": {"name": "V"}, "variableAttribute": [{"value": "1"}]}]});
    st.call("NotifyReport", part).await;
    let (code, body) = http.await.expect("join");
    assert_eq!(
        (code, body["error"].as_str()),
        (504, Some("report_incomplete")),
        "{body}"
    );
    // Silent.
    let http = read(json!({"keys": ["OCPPCommCtrlr.HeartbeatInterval"], "timeoutMs": 300}));
    let (_, action, _) = st.next_call().await;
    assert_eq!(action, "GetVariables");
    let (code, body) = http.await.expect("join");
    assert_eq!(
        (code, body["error"].as_str()),
        (504, Some("station_timeout")),
        "{body}"
    );
}

#[tokio::test]
async fn bad_requests_are_refused_with_what_would_be_right() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "BAD2", "ocpp2.0.1").await;
    st.boot201().await;
    let cases = [
        (
            "/api/v1/config/profiles/p1",
            json!({"protocol": "ocpp3", "selector": {"all": true}, "settings": {"A": "1"}}),
            "invalid_protocol",
        ),
        (
            "/api/v1/config/profiles/p1",
            json!({"protocol": "ocpp2.0.1", "selector": {"all": true}, "settings": {"HeartbeatInterval": "1"}}),
            "invalid_key",
        ),
        (
            "/api/v1/config/profiles/p1",
            json!({"protocol": "ocpp1.6", "selector": {"all": true}, "settings": {}}),
            "empty_settings",
        ),
        (
            "/api/v1/config/profiles/p1",
            json!({"protocol": "ocpp1.6", "settings": {"A": "1"}}),
            "missing_field",
        ),
        (
            "/api/v1/config/profiles/p1",
            json!({"protocol": "ocpp1.6", "selector": {}, "settings": {"A": "1"}}),
            "empty_selector",
        ),
        (
            "/api/v1/config/profiles/bad%20id",
            json!({"protocol": "ocpp1.6", "selector": {"all": true}, "settings": {"A": "1"}}),
            "invalid_profile_id",
        ),
    ];
    for (path, body, error) in cases {
        let (code, answer) = put(&server, path, body.clone()).await;
        assert_eq!(
            (code, answer["error"].as_str()),
            (400, Some(error)),
            "{body}: {answer}"
        );
        assert!(
            answer["message"].as_str().is_some_and(|m| m.len() > 20),
            "{answer}"
        );
    }
    let (code, body) = server.get("/api/v1/config/drift?profile=nope").await;
    assert_eq!(
        (code, body["error"].as_str()),
        (404, Some("profile_not_found")),
        "{body}"
    );
    let (code, body) = post(&server, "/api/v1/config/apply", json!({})).await;
    assert_eq!(
        (code, body["error"].as_str()),
        (400, Some("missing_field")),
        "{body}"
    );
    put(
        &server,
        "/api/v1/config/profiles/p16",
        json!({"protocol": "ocpp1.6", "selector": {"all": true}, "settings": {"A": "1"}}),
    )
    .await;
    let (code, body) = post(
        &server,
        "/api/v1/config/apply",
        json!({"profile": "p16", "stationIds": ["BAD2"]}),
    )
    .await;
    assert_eq!(
        (code, body["error"].as_str()),
        (400, Some("not_applicable")),
        "a 1.6 profile on a 2.0.1 station: {body}"
    );
    let (code, body) = post(
        &server,
        "/api/v1/stations/NOPE/configuration/read",
        json!({}),
    )
    .await;
    assert_eq!(
        (code, body["error"].as_str()),
        (404, Some("station_not_found")),
        "{body}"
    );
    let (code, body) = post(
        &server,
        "/api/v1/stations/BAD2/configuration/read",
        json!({"keys": ["NoDot"]}),
    )
    .await;
    assert_eq!(
        (code, body["error"].as_str()),
        (400, Some("invalid_key")),
        "{body}"
    );
    let (code, body) = post(
        &server,
        "/api/v1/stations/BAD2/configuration/read",
        json!({"timeoutMs": 0}),
    )
    .await;
    assert_eq!(
        (code, body["error"].as_str()),
        (400, Some("invalid_timeout")),
        "{body}"
    );
    let (code, body) = server.get("/api/v1/stations/BAD2/configuration").await;
    assert_eq!(
        (code, body["error"].as_str()),
        (404, Some("configuration_not_read")),
        "{body}"
    );
    // Nothing was sent to the station for any of these.
    use futures_util::StreamExt;
    let next = tokio::time::timeout(Duration::from_millis(200), st.ws.next()).await;
    assert!(next.is_err(), "the station received {next:?}");
}

#[tokio::test]
async fn an_apply_job_cut_by_a_restart_is_marked_interrupted_at_the_next_start() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = spawned::free_port();
    let server = spawned::start(port, dir.path());
    spawned::wait_ready(port).await;
    let api = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let client = reqwest::Client::new();
    let mut ws = spawned::connect(port, "CUT16").await.expect("connect");
    let boot = json!({"chargePointVendor": "V", "chargePointModel": "M"});
    let answer = spawned::call(&mut ws, "b1", "BootNotification", boot).await;
    assert_eq!(answer.map(|a| a["status"].clone()), Some(json!("Accepted")));
    let profile = json!({"protocol": "ocpp1.6", "selector": {"all": true}, "settings": {"HeartbeatInterval": "77"}});
    let r = client
        .put(api("/api/v1/config/profiles/cut"))
        .json(&profile)
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status().as_u16(), 201);
    let r = client
        .post(api("/api/v1/config/apply"))
        .json(&json!({"profile": "cut", "wait": false, "timeoutMs": 60000}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 202);
    let job: Value = r.json().await.expect("json");
    assert_eq!(job["status"], "running", "{job}");
    let job_id = job["jobId"].as_str().expect("jobId").to_owned();
    // The job is at work: the station was asked for its configuration and stays silent.
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a CALL within 10 s");
        if let Some(Ok(Message::Text(t))) = frame {
            let v: Value = serde_json::from_str(t.as_str()).expect("json");
            if v[0] == 2 && v[2] == "GetConfiguration" {
                break;
            }
        }
    }
    server.kill();
    drop(ws);

    let server = spawned::start(port, dir.path());
    spawned::wait_ready(port).await;
    let job: Value = client
        .get(api(&format!("/api/v1/config/applies/{job_id}")))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(job["status"], "interrupted", "{job}");
    assert!(job["finishedAt"].is_string(), "{job}");
    assert_eq!(job["counts"], json!({"interrupted": 1}), "{job}");
    let station = &job["stations"][0];
    assert_eq!(
        (station["stationId"].as_str(), station["outcome"].as_str()),
        (Some("CUT16"), Some("interrupted")),
        "{job}"
    );
    assert!(
        station["error"]
            .as_str()
            .is_some_and(|e| e.contains("ocpulse stopped")),
        "{job}"
    );
    let list: Value = client
        .get(api("/api/v1/config/applies"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(list["items"][0]["status"], "interrupted", "{list}");
    server.terminate();
}

#[tokio::test]
async fn a_bad_key_in_a_later_get_variables_part_is_refused_before_any_part_is_sent() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "LATE2", "ocpp2.0.1").await;
    st.boot201().await;
    // 20 keys go in one GetVariables; the bad one is the 23rd, in the second part.
    let mut keys: Vec<String> = (0..25).map(|i| format!("OCPPCommCtrlr.Var{i}")).collect();
    keys[22] = "NoDotHere".into();
    let (code, body) = post(
        &server,
        "/api/v1/stations/LATE2/configuration/read",
        json!({"keys": keys, "timeoutMs": 2000}),
    )
    .await;
    assert_eq!(
        (code, body["error"].as_str()),
        (400, Some("invalid_key")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("\"NoDotHere\"")),
        "the message names the key: {body}"
    );
    use futures_util::StreamExt;
    let next = tokio::time::timeout(Duration::from_millis(300), st.ws.next()).await;
    assert!(next.is_err(), "the station received {next:?}");
}
