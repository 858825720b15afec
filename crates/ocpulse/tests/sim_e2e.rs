//! The simulator against `ocpulse serve`, end to end through the HTTP trigger API: every
//! requestedMessage of both versions, and a load smoke test.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Server, sim};
use ocpp_rpc::ProtocolVersion;
use ocpulse_core::trigger_plan::valid_messages;
use ocpulse_sim::StationConfig;
use ocpulse_sim::fleet::{FleetOptions, run_fleet};
use ocpulse_sim::runner::FleetStats;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The action a requestedMessage produces: the certificate triggers all send SignCertificate,
/// every other value names its own message.
fn produced(requested: &str) -> &str {
    match requested {
        "SignChargePointCertificate"
        | "SignChargingStationCertificate"
        | "SignV2GCertificate"
        | "SignCombinedCertificate" => "SignCertificate",
        other => other,
    }
}

/// The CSMS's view of the station, read after a triggered message, holds that message field
/// by field: what the trigger API returned is what the station state was built from.
fn assert_reflected(m: &Value, s: &Value) {
    let p = &m["payload"];
    let action = m["action"].as_str().unwrap_or_default();
    match action {
        "BootNotification" => assert_eq!(s["boot"]["payload"], *p, "{s}"),
        "Heartbeat" => assert_eq!(s["lastHeartbeat"], m["receivedAt"], "{s}"),
        "StatusNotification" => {
            let known = s["connectors"]
                .as_array()
                .and_then(|cs| {
                    cs.iter().find(|c| {
                        c["connectorId"] == p["connectorId"]
                            && (p["evseId"].is_null() || c["evseId"] == p["evseId"])
                    })
                })
                .unwrap_or_else(|| panic!("connector of {p} unknown: {s}"));
            let status = if p["status"].is_null() {
                &p["connectorStatus"]
            } else {
                &p["status"]
            };
            assert_eq!(&known["status"], status, "{p} vs {known}");
            assert_eq!(known["timestamp"], p["timestamp"], "{p} vs {known}");
        }
        "FirmwareStatusNotification"
        | "SignedFirmwareStatusNotification"
        | "PublishFirmwareStatusNotification" => {
            assert_eq!(s["firmwareStatus"]["status"], p["status"], "{s}");
            assert_eq!(s["firmwareStatus"]["reportedBy"], action, "{s}");
        }
        "DiagnosticsStatusNotification" | "LogStatusNotification" => {
            assert_eq!(s["logStatus"]["status"], p["status"], "{s}");
            assert_eq!(s["logStatus"]["reportedBy"], action, "{s}");
        }
        "MeterValues" => {
            let last = p["meterValue"]
                .as_array()
                .and_then(|v| v.last())
                .expect("a meter value");
            let target = if p["evseId"].is_null() {
                ("connectorId", &p["connectorId"])
            } else {
                ("evseId", &p["evseId"])
            };
            let known = s["meterValues"]
                .as_array()
                .and_then(|ms| ms.iter().find(|r| r[target.0] == *target.1))
                .unwrap_or_else(|| panic!("no reading for {target:?}: {s}"));
            assert_eq!(
                known["sampledValue"], last["sampledValue"],
                "{p} vs {known}"
            );
            assert_eq!(known["timestamp"], last["timestamp"], "{p} vs {known}");
        }
        "SignCertificate" => {
            assert!(
                p["csr"]
                    .as_str()
                    .is_some_and(|c| c.contains("CERTIFICATE REQUEST"))
            );
            assert!(s["certificate"]["csrSubject"].is_string(), "{s}");
            assert_eq!(
                s["certificate"]["certificateType"],
                p.get("certificateType").cloned().unwrap_or(Value::Null),
                "{s}"
            );
        }
        "TransactionEvent" => {
            let tx = &p["transactionInfo"]["transactionId"];
            assert!(
                s["transactions"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|x| x["transactionId"] == *tx)),
                "transaction {tx} unknown: {s}"
            );
        }
        other => panic!("no state check for {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_v16_requested_message_returns_the_simulators_message() {
    let server = Server::start().await;
    let mut cfg = StationConfig::new("SIM16", ProtocolVersion::V16);
    cfg.evses = 2;
    let (stop, task) = sim::spawn(&server, cfg);
    let station = sim::wait_for(&server, "SIM16", |s| {
        s["connectors"].as_array().is_some_and(|c| c.len() == 3)
    })
    .await;
    assert_eq!(station["registrationStatus"], "Accepted");
    for requested in valid_messages(ProtocolVersion::V16) {
        let (code, body) = server
            .trigger("SIM16", json!({"requestedMessage": requested}))
            .await;
        assert_eq!(code, 200, "{requested}: {body}");
        assert_eq!(body["status"], "Accepted", "{requested}: {body}");
        let messages = body["messages"].as_array().expect("messages");
        assert!(!messages.is_empty(), "{requested}: {body}");
        assert!(
            messages.iter().all(|m| m["action"] == produced(requested)),
            "{requested}: {body}"
        );
        let sent_action = if matches!(
            requested,
            "LogStatusNotification" | "SignChargePointCertificate"
        ) {
            "ExtendedTriggerMessage"
        } else {
            "TriggerMessage"
        };
        assert_eq!(body["sent"]["action"], sent_action);
        let state = sim::wait_for(&server, "SIM16", |_| true).await;
        assert_reflected(messages.last().expect("a message"), &state);
    }
    // Field by field against the station's state as the CSMS recorded it.
    let (_, body) = server
        .trigger("SIM16", json!({"requestedMessage": "StatusNotification"}))
        .await;
    let ids: Vec<_> = body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["payload"]["connectorId"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![json!(0), json!(1), json!(2)],
        "1.6 §5.17: connector 0 and every connector"
    );
    let state = sim::wait_for(&server, "SIM16", |_| true).await;
    for m in body["messages"].as_array().expect("messages") {
        let c = m["payload"]["connectorId"].clone();
        let known = state["connectors"]
            .as_array()
            .and_then(|cs| cs.iter().find(|x| x["connectorId"] == c))
            .expect("known connector");
        assert_eq!(known["status"], m["payload"]["status"]);
    }
    let (_, body) = server
        .trigger(
            "SIM16",
            json!({"requestedMessage": "MeterValues", "connectorId": 2}),
        )
        .await;
    let sampled = &body["messages"][0]["payload"]["meterValue"][0]["sampledValue"];
    assert!(
        sampled
            .as_array()
            .is_some_and(|s| s.iter().all(|v| v["context"] == "Trigger")),
        "{body}"
    );
    let (_, body) = server
        .trigger(
            "SIM16",
            json!({"requestedMessage": "SignChargePointCertificate"}),
        )
        .await;
    assert!(
        body["messages"][0]["payload"]["csr"]
            .as_str()
            .is_some_and(|c| c.contains("CERTIFICATE REQUEST"))
    );
    stop.cancel();
    let _ = task.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_v201_requested_message_returns_the_simulators_message() {
    let server = Server::start().await;
    let cfg = sim::charging_on_two_evses("SIM201", ProtocolVersion::V201);
    let (stop, task) = sim::spawn(&server, cfg);
    sim::wait_for(&server, "SIM201", |s| {
        s["transactions"].as_array().is_some_and(|t| t.len() == 2)
    })
    .await;
    for requested in valid_messages(ProtocolVersion::V201) {
        let body = if requested == "StatusNotification" {
            json!({"requestedMessage": requested, "evse": {"id": 2, "connectorId": 1}})
        } else {
            json!({"requestedMessage": requested})
        };
        let (code, body) = server.trigger("SIM201", body).await;
        assert_eq!(code, 200, "{requested}: {body}");
        if requested == "BootNotification" {
            assert_eq!(body["status"], "Rejected", "F06.FR.17: already Accepted");
            continue;
        }
        assert_eq!(body["status"], "Accepted", "{requested}: {body}");
        let messages = body["messages"].as_array().expect("messages");
        assert!(
            !messages.is_empty() && messages.iter().all(|m| m["action"] == produced(requested)),
            "{requested}: {body}"
        );
        let state = sim::wait_for(&server, "SIM201", |_| true).await;
        assert_reflected(messages.last().expect("a message"), &state);
    }
    let (_, body) = server
        .trigger("SIM201", json!({"requestedMessage": "TransactionEvent"}))
        .await;
    let events = body["messages"].as_array().expect("messages");
    assert_eq!(events.len(), 2, "one per EVSE with a transaction: {body}");
    assert!(
        events
            .iter()
            .all(|e| e["payload"]["triggerReason"] == "Trigger"
                && e["payload"]["eventType"] == "Updated")
    );
    let (_, body) = server
        .trigger("SIM201", json!({"requestedMessage": "SignV2GCertificate"}))
        .await;
    assert_eq!(
        body["messages"][0]["payload"]["certificateType"],
        "V2GCertificate"
    );
    let (_, body) = server
        .trigger(
            "SIM201",
            json!({"requestedMessage": "MeterValues", "evse": {"id": 2}}),
        )
        .await;
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["messages"][0]["payload"]["evseId"], 2);
    let power = body["messages"][0]["payload"]["meterValue"][0]["sampledValue"][1]["value"]
        .as_f64()
        .expect("power");
    assert!(power > 0.0, "charging EVSE reports power: {body}");
    stop.cancel();
    let _ = task.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_exits_with_an_error_when_the_url_is_wrong() {
    let server = Server::start().await;
    let mut opts = (*sim::run_options(&server)).clone();
    opts.url = format!("ws://{}/not-ocpp", server.addr);
    let result = run_fleet(
        FleetOptions {
            stations: vec![StationConfig::new("X", ProtocolVersion::V16)],
            run: opts,
            ramp_per_sec: 0.0,
            summary_every: None,
        },
        Arc::default(),
        CancellationToken::new(),
    )
    .await;
    assert!(result.is_err(), "{result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_smoke_500_stations_boot_and_answer_a_trigger() {
    let server = Server::start().await;
    let stations: Vec<_> = (1..=500)
        .map(|i| {
            StationConfig::new(
                format!("LOAD{i:04}"),
                if i % 2 == 0 {
                    ProtocolVersion::V16
                } else {
                    ProtocolVersion::V201
                },
            )
        })
        .collect();
    let stats = Arc::new(FleetStats::default());
    let stop = CancellationToken::new();
    let fleet = tokio::spawn(run_fleet(
        FleetOptions {
            stations,
            run: (*sim::run_options(&server)).clone(),
            ramp_per_sec: 0.0,
            summary_every: None,
        },
        Arc::clone(&stats),
        stop.clone(),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while stats.booted.load(Ordering::Relaxed) < 500 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of 500 booted",
            stats.booted.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = server.url("");
    let client = reqwest::Client::new();
    let mut ok = 0;
    for chunk in (1..=500).collect::<Vec<_>>().chunks(50) {
        let calls = chunk.iter().map(|i| {
            let client = client.clone();
            let url = format!("{url}/api/v1/stations/LOAD{i:04}/trigger");
            async move {
                client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(r#"{"requestedMessage": "Heartbeat"}"#)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            }
        });
        ok += futures_util::future::join_all(calls)
            .await
            .into_iter()
            .filter(|r| matches!(r, Ok(200)))
            .count();
    }
    assert_eq!(ok, 500);
    assert!(stats.triggers_accepted.load(Ordering::Relaxed) >= 500);
    stop.cancel();
    let report = fleet.await.expect("join").expect("fleet ran");
    assert_eq!(report["booted"], 500);
}

/// Every failure a station can cause, played by the simulator's own fault injection: each
/// ends the trigger with an outcome a caller can act on, and the record says the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_simulated_fault_ends_with_its_named_outcome() {
    let server = Server::start().await;
    let mut cfg = StationConfig::new("FAULTY", ProtocolVersion::V16);
    cfg.evses = 2;
    for flag in [
        "Heartbeat=callerror:NotSupported",
        "BootNotification=no-answer",
        "FirmwareStatusNotification=accept-never-send",
        "StatusNotification=wrong-target",
        "MeterValues=before-response",
        "DiagnosticsStatusNotification=delay:3000",
    ] {
        cfg.faults.add_flag(flag).expect("fault flag");
    }
    let (stop, task) = sim::spawn(&server, cfg);
    sim::wait_for(&server, "FAULTY", |s| {
        s["connectors"].as_array().is_some_and(|c| c.len() == 3)
    })
    .await;
    let cases = [
        (
            json!({"requestedMessage": "Heartbeat"}),
            502,
            Some("station_call_error"),
            "CallError",
        ),
        (
            json!({"requestedMessage": "BootNotification", "timeoutMs": 500}),
            504,
            Some("station_timeout"),
            "StationTimeout",
        ),
        (
            json!({"requestedMessage": "FirmwareStatusNotification", "timeoutMs": 500}),
            504,
            Some("message_timeout"),
            "MessageTimeout",
        ),
        (
            json!({"requestedMessage": "StatusNotification", "connectorId": 1, "timeoutMs": 800}),
            502,
            Some("wrong_target"),
            "WrongTarget",
        ),
        (
            json!({"requestedMessage": "MeterValues", "connectorId": 1}),
            200,
            None,
            "Completed",
        ),
        (
            json!({"requestedMessage": "DiagnosticsStatusNotification", "timeoutMs": 500}),
            504,
            Some("message_timeout"),
            "MessageTimeout",
        ),
    ];
    for (request, want_code, want_error, want_outcome) in cases {
        let (code, body) = server.trigger("FAULTY", request.clone()).await;
        assert_eq!(code, want_code, "{request}: {body}");
        assert_eq!(body["error"].as_str(), want_error, "{request}: {body}");
        assert_eq!(body["outcome"], want_outcome, "{request}: {body}");
        let (_, record) = server
            .get(&format!(
                "/api/v1/triggers/{}",
                body["triggerId"].as_str().expect("id")
            ))
            .await;
        assert_eq!(record["outcome"], want_outcome, "{record}");
        if want_outcome == "Completed" {
            assert_eq!(record["messages"][0]["beforeAnswer"], true, "{record}");
        }
    }
    // Disconnect mid-trigger: the station accepts, then goes away.
    let http = tokio::spawn({
        let url = server.url("/api/v1/stations/FAULTY/trigger");
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .json(&json!({"requestedMessage": "FirmwareStatusNotification", "timeoutMs": 5000}))
                .send()
                .await
                .expect("POST");
            (r.status().as_u16(), r.json::<Value>().await.expect("json"))
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    let _ = task.await;
    let (code, body) = http.await.expect("join");
    assert_eq!(
        (code, body["outcome"].as_str()),
        (409, Some("Disconnected")),
        "{body}"
    );
}
