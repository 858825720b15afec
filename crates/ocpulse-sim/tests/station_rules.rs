//! The station state machine with plain values: no sockets, time stepped by hand. Every
//! frame the station sends is validated against the official schemas.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ocpp_rpc::{Family, Frame, PayloadKind, ProtocolVersion, SchemaRegistry};
use ocpulse_core::answers::{Answer, AnswerContext, answer};
use ocpulse_sim::station::Registration;
use ocpulse_sim::{Now, Output, Station, StationConfig, TriggerFault};
use serde_json::{Value, json};

fn schemas() -> Arc<SchemaRegistry> {
    static R: OnceLock<Arc<SchemaRegistry>> = OnceLock::new();
    Arc::clone(R.get_or_init(|| Arc::new(SchemaRegistry::load().expect("schemas"))))
}

/// Plays the CSMS against one station and checks every frame it sends.
struct Csms {
    station: Station,
    now: Now,
    version: ProtocolVersion,
    /// Every frame the station sent, parsed.
    sent: Vec<Frame>,
    /// Our CALLs the station has not answered yet: id → action.
    ours: Vec<(String, String)>,
    next: u64,
    /// Answer station CALLs automatically.
    auto: bool,
    boot_status: &'static str,
    /// Uploads the station asked its runner to make.
    uploads: Vec<ocpulse_sim::Upload>,
}

impl Csms {
    fn new(cfg: StationConfig) -> Self {
        let version = cfg.protocol;
        Self {
            station: Station::new(cfg, Some(schemas())),
            now: Now::system(),
            version,
            sent: Vec::new(),
            ours: Vec::new(),
            next: 0,
            auto: true,
            boot_status: "Accepted",
            uploads: Vec::new(),
        }
    }

    fn v16() -> Self {
        let mut cfg = StationConfig::new("SIM16", ProtocolVersion::V16);
        cfg.evses = 2;
        Self::new(cfg)
    }

    fn v201() -> Self {
        let mut cfg = StationConfig::new("SIM201", ProtocolVersion::V201);
        cfg.evses = 2;
        cfg.connectors = 2;
        Self::new(cfg)
    }

    fn v21() -> Self {
        let mut cfg = StationConfig::new("SIM21", ProtocolVersion::V21);
        cfg.evses = 2;
        cfg.connectors = 2;
        Self::new(cfg)
    }

    fn take(&mut self, outputs: Vec<Output>) {
        for output in outputs {
            let text = match output {
                Output::Send(text) => text,
                Output::Upload(upload) => {
                    self.uploads.push(upload);
                    continue;
                }
            };
            let frame = Frame::parse(&text).expect("the station sends well-formed frames");
            match &frame {
                Frame::Call {
                    action, payload, ..
                } => {
                    schemas()
                        .validate(self.version, action, PayloadKind::Request, payload)
                        .unwrap_or_else(|e| panic!("{action}: {e}\n{payload}"));
                }
                Frame::CallResult { id, payload } => {
                    let action = self
                        .ours
                        .iter()
                        .find(|(i, _)| i == id)
                        .map(|(_, a)| a.clone())
                        .expect("answers one of our CALLs");
                    schemas()
                        .validate(self.version, &action, PayloadKind::Response, payload)
                        .unwrap_or_else(|e| panic!("{action} response: {e}\n{payload}"));
                    self.ours.retain(|(i, _)| i != id);
                }
                Frame::CallError { id, .. } => self.ours.retain(|(i, _)| i != id),
            }
            self.sent.push(frame.clone());
            if self.auto
                && let Frame::Call { id, action, .. } = frame
            {
                self.answer_call(&id, &action);
            }
        }
    }

    fn answer_call(&mut self, id: &str, action: &str) {
        let ctx = AnswerContext {
            now: "2025-01-01T12:00:00.000Z".into(),
            heartbeat_interval: 60,
            transaction_id: Some(77),
            id_token: Some(ocpulse_core::authorization::Verdict::accepted()),
        };
        let Answer::Result(mut payload) = answer(self.version, action, &ctx) else {
            panic!("no answer for {action}")
        };
        if action == "BootNotification" {
            payload["status"] = json!(self.boot_status);
        }
        let text = Frame::CallResult {
            id: id.into(),
            payload,
        }
        .to_text();
        let out = self.station.on_text(&text, self.now);
        self.take(out);
    }

    fn connect(&mut self) {
        let out = self.station.on_connected(self.now);
        self.take(out);
    }

    fn advance(&mut self, d: Duration) {
        self.now = self.now.after(d);
        let out = self.station.on_tick(self.now);
        self.take(out);
    }

    /// Sends a CSMS CALL; returns the frames the station sent in reaction, in order.
    fn call(&mut self, action: &str, payload: Value) -> Vec<Frame> {
        self.next += 1;
        let id = format!("csms-{}", self.next);
        self.ours.push((id.clone(), action.into()));
        let before = self.sent.len();
        let out = self.station.on_text(
            &Frame::Call {
                id,
                action: action.into(),
                payload,
            }
            .to_text(),
            self.now,
        );
        self.take(out);
        self.sent[before..].to_vec()
    }

    fn trigger(&mut self, payload: Value) -> (Value, Vec<(String, Value)>) {
        let action = if self.version == ProtocolVersion::V16 && is_extended_only(&payload) {
            "ExtendedTriggerMessage"
        } else {
            "TriggerMessage"
        };
        let frames = self.call(action, payload);
        let mut response = Value::Null;
        let mut calls = Vec::new();
        for f in frames {
            match f {
                Frame::CallResult { payload, .. } if response.is_null() => response = payload,
                Frame::Call {
                    action, payload, ..
                } => calls.push((action, payload)),
                _ => {}
            }
        }
        (response, calls)
    }
}

fn is_extended_only(payload: &Value) -> bool {
    matches!(
        payload["requestedMessage"].as_str(),
        Some("LogStatusNotification" | "SignChargePointCertificate")
    )
}

fn booted(mut csms: Csms) -> Csms {
    csms.connect();
    assert_eq!(csms.station.registration(), Registration::Accepted);
    csms
}

#[test]
fn v16_boot_then_a_status_for_connector_0_and_every_connector() {
    let csms = booted(Csms::v16());
    let actions: Vec<_> = csms
        .sent
        .iter()
        .filter_map(|f| match f {
            Frame::Call {
                action, payload, ..
            } => Some((action.clone(), payload.get("connectorId").cloned())),
            _ => None,
        })
        .collect();
    assert_eq!(actions[0].0, "BootNotification");
    let statuses: Vec<_> = actions
        .iter()
        .filter(|(a, _)| a == "StatusNotification")
        .map(|(_, c)| c.clone())
        .collect();
    assert_eq!(
        statuses,
        vec![Some(json!(0)), Some(json!(1)), Some(json!(2))]
    );
}

#[test]
fn heartbeats_follow_the_interval_the_csms_gave() {
    let mut csms = booted(Csms::v16());
    let beats = |c: &Csms| {
        c.sent
            .iter()
            .filter(|f| matches!(f, Frame::Call { action, .. } if action == "Heartbeat"))
            .count()
    };
    csms.advance(Duration::from_secs(59));
    assert_eq!(beats(&csms), 0);
    csms.advance(Duration::from_secs(1));
    assert_eq!(beats(&csms), 1);
    csms.advance(Duration::from_secs(60));
    assert_eq!(beats(&csms), 2);
}

#[test]
fn pending_station_sends_only_triggered_messages_and_retries_boot() {
    let mut csms = Csms::v201();
    csms.boot_status = "Pending";
    csms.connect();
    assert_eq!(csms.station.registration(), Registration::Pending);
    assert!(
        !csms
            .sent
            .iter()
            .any(|f| matches!(f, Frame::Call { action, .. } if action == "StatusNotification")),
        "nothing untriggered while Pending"
    );
    // TC_B_31: a BootNotification trigger ends Pending early; the new boot says reason Triggered.
    csms.boot_status = "Accepted";
    let (response, calls) = csms.trigger(json!({"requestedMessage": "BootNotification"}));
    assert_eq!(response["status"], "Accepted");
    assert_eq!(calls[0].0, "BootNotification");
    assert_eq!(calls[0].1["reason"], "Triggered");
    assert_eq!(csms.station.registration(), Registration::Accepted);
}

#[test]
fn f06_fr_04_response_comes_first_and_the_message_is_a_new_call_with_a_new_id() {
    let mut csms = booted(Csms::v201());
    let frames = csms.call("TriggerMessage", json!({"requestedMessage": "Heartbeat"}));
    assert!(matches!(&frames[0], Frame::CallResult { id, .. } if id.starts_with("csms-")));
    assert!(
        matches!(&frames[1], Frame::Call { id, action, .. } if action == "Heartbeat" && !id.starts_with("csms-"))
    );
}

#[test]
fn v16_5_17_status_without_connector_covers_connector_0_and_every_connector() {
    let mut csms = booted(Csms::v16());
    let (response, calls) = csms.trigger(json!({"requestedMessage": "StatusNotification"}));
    assert_eq!(response["status"], "Accepted");
    let ids: Vec<_> = calls
        .iter()
        .map(|(_, p)| p["connectorId"].clone())
        .collect();
    assert_eq!(ids, vec![json!(0), json!(1), json!(2)]);
    let (_, calls) =
        csms.trigger(json!({"requestedMessage": "StatusNotification", "connectorId": 2}));
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].1["connectorId"], 2);
}

#[test]
fn v16_5_17_irrelevant_connector_is_ignored_and_missing_connector_is_rejected() {
    let mut csms = booted(Csms::v16());
    let (response, calls) =
        csms.trigger(json!({"requestedMessage": "Heartbeat", "connectorId": 1}));
    assert_eq!(
        (response["status"].clone(), calls[0].0.as_str()),
        (json!("Accepted"), "Heartbeat")
    );
    let (response, calls) =
        csms.trigger(json!({"requestedMessage": "MeterValues", "connectorId": 9}));
    assert_eq!(
        (response["status"].clone(), calls.len()),
        (json!("Rejected"), 0)
    );
}

#[test]
fn triggered_meter_values_carry_context_trigger_and_the_current_register() {
    let mut csms = booted(Csms::v16());
    csms.station.start_transaction(0, "TAG", csms.now);
    csms.advance(Duration::from_secs(600));
    let (_, calls) = csms.trigger(json!({"requestedMessage": "MeterValues", "connectorId": 1}));
    let sampled = &calls[0].1["meterValue"][0]["sampledValue"];
    assert!(
        sampled
            .as_array()
            .is_some_and(|s| s.iter().all(|v| v["context"] == "Trigger"))
    );
    let register: f64 = sampled[0]["value"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("register");
    let start = csms.station.evses()[0]
        .tx
        .as_ref()
        .map(|t| t.meter_start_wh)
        .expect("tx");
    assert!(
        (register - start - 11_000.0 / 6.0).abs() < 2.0,
        "10 minutes at 11 kW: {register} vs {start}"
    );
    assert_eq!(calls[0].1["transactionId"], 77, "the CSMS's transaction id");
    let (_, all) = csms.trigger(json!({"requestedMessage": "MeterValues"}));
    assert_eq!(
        all.iter()
            .map(|(_, p)| p["connectorId"].clone())
            .collect::<Vec<_>>(),
        vec![json!(1), json!(2)]
    );
}

#[test]
fn f06_fr_12_v201_status_trigger_needs_evse_and_connector() {
    let mut csms = booted(Csms::v201());
    for payload in [
        json!({"requestedMessage": "StatusNotification"}),
        json!({"requestedMessage": "StatusNotification", "evse": {"id": 1}}),
    ] {
        let (response, calls) = csms.trigger(payload);
        assert_eq!(
            (response["status"].clone(), calls.len()),
            (json!("Rejected"), 0)
        );
    }
    let (response, calls) = csms.trigger(
        json!({"requestedMessage": "StatusNotification", "evse": {"id": 2, "connectorId": 2}}),
    );
    assert_eq!(response["status"], "Accepted");
    assert_eq!(
        (
            calls[0].1["evseId"].clone(),
            calls[0].1["connectorId"].clone()
        ),
        (json!(2), json!(2))
    );
}

#[test]
fn unknown_evse_or_connector_is_rejected() {
    let mut csms = booted(Csms::v201());
    for evse in [json!({"id": 3}), json!({"id": 1, "connectorId": 3})] {
        let (response, calls) =
            csms.trigger(json!({"requestedMessage": "MeterValues", "evse": evse}));
        assert_eq!(
            (response["status"].clone(), calls.len()),
            (json!("Rejected"), 0)
        );
    }
}

#[test]
fn f06_fr_17_boot_trigger_is_rejected_once_accepted() {
    let mut csms = booted(Csms::v201());
    let (response, calls) = csms.trigger(json!({"requestedMessage": "BootNotification"}));
    assert_eq!(
        (response["status"].clone(), calls.len()),
        (json!("Rejected"), 0)
    );
}

#[test]
fn triggered_transaction_event_exists_only_during_a_transaction_with_reason_trigger() {
    let mut csms = booted(Csms::v201());
    let (response, _) = csms.trigger(json!({"requestedMessage": "TransactionEvent"}));
    assert_eq!(response["status"], "Rejected");
    csms.station.start_transaction(1, "TAG", csms.now);
    csms.advance(Duration::ZERO);
    let (response, calls) = csms.trigger(json!({"requestedMessage": "TransactionEvent"}));
    assert_eq!(response["status"], "Accepted");
    assert_eq!(
        calls.len(),
        1,
        "one per EVSE with a transaction (F06.FR.11)"
    );
    assert_eq!(
        (
            calls[0].1["eventType"].clone(),
            calls[0].1["triggerReason"].clone()
        ),
        (json!("Updated"), json!("Trigger"))
    );
    assert_eq!(calls[0].1["evse"]["id"], 2);
    assert_eq!(
        calls[0].1["meterValue"][0]["sampledValue"][0]["context"],
        "Trigger"
    );
}

#[test]
fn sign_certificate_triggers_send_a_real_csr_with_the_right_type() {
    let mut csms = booted(Csms::v201());
    for (requested, kind) in [
        (
            "SignChargingStationCertificate",
            Some("ChargingStationCertificate"),
        ),
        ("SignV2GCertificate", Some("V2GCertificate")),
        ("SignCombinedCertificate", None),
    ] {
        let (_, calls) = csms.trigger(json!({"requestedMessage": requested}));
        assert_eq!(calls[0].0, "SignCertificate");
        assert!(
            calls[0].1["csr"]
                .as_str()
                .is_some_and(|c| c.starts_with("-----BEGIN CERTIFICATE REQUEST-----"))
        );
        assert_eq!(
            calls[0].1.get("certificateType").and_then(Value::as_str),
            kind
        );
    }
    let mut csms16 = booted(Csms::v16());
    let (response, calls) =
        csms16.trigger(json!({"requestedMessage": "SignChargePointCertificate"}));
    assert_eq!(response["status"], "Accepted");
    assert_eq!(calls[0].0, "SignCertificate");
    assert!(
        calls[0].1.get("certificateType").is_none(),
        "1.6 SignCertificate has no certificateType"
    );
}

#[test]
fn extended_firmware_trigger_reports_the_signed_firmware_status() {
    let mut csms = booted(Csms::v16());
    let frames = csms.call(
        "ExtendedTriggerMessage",
        json!({"requestedMessage": "FirmwareStatusNotification"}),
    );
    assert!(frames.iter().any(|f| matches!(f, Frame::Call { action, payload, .. } if action == "SignedFirmwareStatusNotification" && payload["status"] == "Idle")));
}

#[test]
fn every_value_of_both_versions_is_answered_and_every_frame_validates() {
    let mut v16 = booted(Csms::v16());
    v16.station.start_transaction(0, "TAG", v16.now);
    v16.advance(Duration::ZERO);
    for m in ocpp_types::v16::MessageTrigger::ALL {
        let (response, calls) = v16.trigger(json!({"requestedMessage": m.as_str()}));
        assert_eq!(response["status"], "Accepted", "1.6 {m:?}");
        assert!(!calls.is_empty(), "1.6 {m:?} sent its message");
    }
    for m in ocpp_types::v16::MessageTriggerEnumType::ALL {
        let frames = v16.call(
            "ExtendedTriggerMessage",
            json!({"requestedMessage": m.as_str()}),
        );
        assert!(
            matches!(&frames[0], Frame::CallResult { payload, .. } if payload["status"] == "Accepted"),
            "1.6 extended {m:?}"
        );
    }
    let mut v201 = Csms::v201();
    v201.boot_status = "Pending";
    v201.connect();
    v201.boot_status = "Accepted";
    v201.trigger(json!({"requestedMessage": "BootNotification"}));
    v201.station.start_transaction(0, "TAG", v201.now);
    v201.advance(Duration::ZERO);
    for m in ocpp_types::v201::MessageTriggerEnumType::ALL {
        let evse = if m.as_str() == "StatusNotification" {
            json!({"id": 1, "connectorId": 1})
        } else {
            json!({"id": 1})
        };
        let (response, calls) = v201.trigger(json!({"requestedMessage": m.as_str(), "evse": evse}));
        if m.as_str() == "BootNotification" {
            assert_eq!(response["status"], "Rejected", "F06.FR.17");
        } else {
            assert_eq!(response["status"], "Accepted", "2.0.1 {m:?}");
            assert!(!calls.is_empty(), "2.0.1 {m:?} sent its message");
        }
    }
}

#[test]
fn every_v21_value_is_answered_and_every_frame_validates_against_the_21_schemas() {
    let mut v21 = Csms::v21();
    v21.boot_status = "Pending";
    v21.connect();
    v21.boot_status = "Accepted";
    v21.trigger(json!({"requestedMessage": "BootNotification"}));
    v21.station.start_transaction(0, "TAG", v21.now);
    v21.advance(Duration::ZERO);
    for m in ocpp_types::v21::MessageTriggerEnumType::ALL {
        let evse = if m.as_str() == "StatusNotification" {
            json!({"id": 1, "connectorId": 1})
        } else {
            json!({"id": 1})
        };
        let mut request = json!({"requestedMessage": m.as_str(), "evse": evse});
        if m.as_str() == "CustomTrigger" {
            request["customTrigger"] = json!(ocpulse_sim::triggers::CUSTOM_TRIGGERS[0].0);
        }
        let (response, calls) = v21.trigger(request);
        if m.as_str() == "BootNotification" {
            assert_eq!(response["status"], "Rejected", "F06.FR.17");
        } else {
            assert_eq!(response["status"], "Accepted", "2.1 {m:?}");
            assert!(!calls.is_empty(), "2.1 {m:?} sent its message");
        }
    }
}

#[test]
fn v21_custom_trigger_sends_its_message_and_unknown_names_are_not_implemented() {
    let mut csms = booted(Csms::v21());
    let (response, calls) = csms.trigger(
        json!({"requestedMessage": "CustomTrigger", "customTrigger": "ocpulse-sim.heartbeat"}),
    );
    assert_eq!(response["status"], "Accepted");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "Heartbeat");
    let (response, calls) = csms
        .trigger(json!({"requestedMessage": "CustomTrigger", "customTrigger": "com.other.vendor"}));
    assert_eq!(response["status"], "NotImplemented");
    assert!(calls.is_empty());
    let (_, calls) = csms.trigger(json!({"requestedMessage": "SignV2G20Certificate"}));
    assert_eq!(calls[0].0, "SignCertificate");
    assert_eq!(calls[0].1["certificateType"], "V2G20Certificate");
}

#[test]
fn invalid_trigger_payload_gets_a_callerror_like_a_real_station() {
    let mut csms = booted(Csms::v16());
    let frames = csms.call("TriggerMessage", json!({"requestedMessage": "Teleport"}));
    assert!(
        matches!(&frames[0], Frame::CallError { code, .. } if code == "PropertyConstraintViolation")
    );
}

fn with_fault(mut csms: Csms, message: &str, fault: TriggerFault) -> Csms {
    let mut cfg = csms.station.config().clone();
    cfg.faults.triggers.insert(message.into(), fault);
    csms.station = Station::new(cfg, Some(schemas()));
    booted(csms)
}

#[test]
fn faults_answer_rejected_not_implemented_callerror_or_nothing() {
    for (fault, expect) in [
        (TriggerFault::Reject, "Rejected"),
        (TriggerFault::NotImplemented, "NotImplemented"),
    ] {
        let mut csms = with_fault(Csms::v16(), "Heartbeat", fault);
        let (response, calls) = csms.trigger(json!({"requestedMessage": "Heartbeat"}));
        assert_eq!(
            (response["status"].clone(), calls.len()),
            (json!(expect), 0)
        );
    }
    let mut csms = with_fault(
        Csms::v16(),
        "Heartbeat",
        TriggerFault::CallError("NotSupported".into()),
    );
    let frames = csms.call("TriggerMessage", json!({"requestedMessage": "Heartbeat"}));
    assert!(matches!(&frames[0], Frame::CallError { code, .. } if code == "NotSupported"));
    let mut csms = with_fault(Csms::v16(), "*", TriggerFault::NoAnswer);
    assert!(
        csms.call("TriggerMessage", json!({"requestedMessage": "Heartbeat"}))
            .is_empty()
    );
    let mut csms = with_fault(Csms::v16(), "Heartbeat", TriggerFault::AcceptNeverSend);
    let (response, calls) = csms.trigger(json!({"requestedMessage": "Heartbeat"}));
    assert_eq!(
        (response["status"].clone(), calls.len()),
        (json!("Accepted"), 0)
    );
}

#[test]
fn delay_fault_sends_the_message_after_the_delay() {
    let mut csms = with_fault(
        Csms::v16(),
        "Heartbeat",
        TriggerFault::Delay(Duration::from_secs(20)),
    );
    let (response, calls) = csms.trigger(json!({"requestedMessage": "Heartbeat"}));
    assert_eq!(
        (response["status"].clone(), calls.len()),
        (json!("Accepted"), 0)
    );
    let before = csms.sent.len();
    csms.advance(Duration::from_secs(19));
    assert_eq!(csms.sent.len(), before);
    csms.advance(Duration::from_secs(1));
    assert!(
        csms.sent[before..]
            .iter()
            .any(|f| matches!(f, Frame::Call { action, .. } if action == "Heartbeat"))
    );
}

#[test]
fn before_response_twice_and_wrong_target_faults() {
    let mut csms = with_fault(Csms::v16(), "Heartbeat", TriggerFault::BeforeResponse);
    let frames = csms.call("TriggerMessage", json!({"requestedMessage": "Heartbeat"}));
    assert!(matches!(&frames[0], Frame::Call { action, .. } if action == "Heartbeat"));
    assert!(matches!(&frames[1], Frame::CallResult { .. }));
    let mut csms = with_fault(Csms::v16(), "Heartbeat", TriggerFault::Twice);
    let (_, calls) = csms.trigger(json!({"requestedMessage": "Heartbeat"}));
    assert_eq!(calls.len(), 2);
    let mut csms = with_fault(Csms::v16(), "StatusNotification", TriggerFault::WrongTarget);
    let (_, calls) =
        csms.trigger(json!({"requestedMessage": "StatusNotification", "connectorId": 1}));
    assert_eq!(calls[0].1["connectorId"], 2);
}

#[test]
fn crossing_fault_sends_its_own_call_before_answering() {
    let mut csms = with_fault(Csms::v16(), "Heartbeat", TriggerFault::Crossing);
    let frames = csms.call("TriggerMessage", json!({"requestedMessage": "Heartbeat"}));
    assert_eq!(frames.len(), 1);
    assert!(
        matches!(&frames[0], Frame::Call { action, .. } if action == "Heartbeat"),
        "own CALL while the CSMS's is unanswered"
    );
    let before = csms.sent.len();
    csms.advance(Duration::from_millis(300));
    assert!(
        matches!(&csms.sent[before], Frame::CallResult { .. }),
        "then the response"
    );
}

#[test]
fn dead_firmware_heartbeats_but_ignores_csms_calls() {
    let mut cfg = StationConfig::new("DEAD", ProtocolVersion::V16);
    cfg.faults.ignore_csms_calls = true;
    let mut csms = booted(Csms::new(cfg));
    assert!(
        csms.call("TriggerMessage", json!({"requestedMessage": "Heartbeat"}))
            .is_empty()
    );
    let before = csms.sent.len();
    csms.advance(Duration::from_secs(60));
    assert!(
        csms.sent[before..]
            .iter()
            .any(|f| matches!(f, Frame::Call { action, .. } if action == "Heartbeat"))
    );
}

#[test]
fn faulted_station_reports_faulted_connectors() {
    let mut cfg = StationConfig::new("BROKEN", ProtocolVersion::V16);
    cfg.faults.faulted = true;
    let csms = booted(Csms::new(cfg));
    let statuses: Vec<_> = csms
        .sent
        .iter()
        .filter_map(|f| match f {
            Frame::Call {
                action, payload, ..
            } if action == "StatusNotification" => {
                Some((payload["status"].clone(), payload["errorCode"].clone()))
            }
            _ => None,
        })
        .collect();
    assert!(statuses.iter().all(|(s, _)| s == "Faulted"));
    assert!(statuses.iter().all(|(_, e)| e != "NoError"));
}

#[test]
fn messages_made_offline_are_flushed_after_reconnect_at_the_set_rate() {
    let mut cfg = StationConfig::new("FLUSH", ProtocolVersion::V16);
    cfg.flush_rate = 2.0;
    let mut csms = booted(Csms::new(cfg));
    csms.station.on_disconnected(csms.now);
    csms.station.start_transaction(0, "TAG", csms.now);
    csms.station.stop_transaction(0, csms.now);
    let kept = csms.station.offline_len();
    assert!(
        kept >= 4,
        "Start/Stop and status changes kept offline: {kept}"
    );
    let before = csms.sent.len();
    csms.connect();
    let sent_now = csms.sent.len() - before;
    assert!(
        sent_now <= 2,
        "no BootNotification on reconnect, and no burst: {sent_now}"
    );
    assert!(
        !csms.sent[before..]
            .iter()
            .any(|f| matches!(f, Frame::Call { action, .. } if action == "BootNotification"))
    );
    for _ in 0..10 {
        csms.advance(Duration::from_millis(500));
    }
    assert_eq!(csms.station.offline_len(), 0, "flushed at 2/s within 5 s");
}

#[test]
fn automatic_transactions_run_their_whole_life_in_both_versions() {
    for version in ProtocolVersion::ALL {
        let mut cfg = StationConfig::new("AUTO", version);
        cfg.auto_transactions = true;
        cfg.idle_time = Duration::from_secs(10);
        cfg.session_time = Duration::from_secs(120);
        cfg.meter_interval = Duration::from_secs(30);
        let mut csms = booted(Csms::new(cfg));
        for _ in 0..40 {
            csms.advance(Duration::from_secs(5));
        }
        let actions: Vec<String> = csms
            .sent
            .iter()
            .filter_map(|f| match f {
                Frame::Call {
                    action, payload, ..
                } if action == "TransactionEvent" => Some(format!(
                    "TransactionEvent:{}",
                    payload["eventType"].as_str().unwrap_or_default()
                )),
                Frame::Call { action, .. } => Some(action.clone()),
                _ => None,
            })
            .collect();
        let expected: &[&str] = match version.family() {
            Family::V16 => &["StartTransaction", "MeterValues", "StopTransaction"],
            Family::V2 => &[
                "TransactionEvent:Started",
                "TransactionEvent:Updated",
                "TransactionEvent:Ended",
            ],
        };
        for e in expected {
            assert!(
                actions.iter().any(|a| a == e),
                "{version}: {e} in {actions:?}"
            );
        }
    }
}

fn calls_of<'a>(frames: &'a [Frame], wanted: &str) -> Vec<&'a Value> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Call {
                action, payload, ..
            } if action == wanted => Some(payload),
            _ => None,
        })
        .collect()
}

fn result_of(frames: &[Frame]) -> Value {
    frames
        .iter()
        .find_map(|f| match f {
            Frame::CallResult { payload, .. } => Some(payload.clone()),
            _ => None,
        })
        .expect("a CALLRESULT")
}

#[test]
fn v16_configuration_can_be_read_and_changed() {
    let mut csms = booted(Csms::v16());
    let frames = csms.call(
        "GetConfiguration",
        json!({"key": ["HeartbeatInterval", "Nope"]}),
    );
    let answer = result_of(&frames);
    assert_eq!(answer["configurationKey"][0]["key"], "HeartbeatInterval");
    assert_eq!(answer["unknownKey"], json!(["Nope"]));
    let frames = csms.call(
        "ChangeConfiguration",
        json!({"key": "HeartbeatInterval", "value": "10"}),
    );
    assert_eq!(result_of(&frames)["status"], "Accepted");
    assert_eq!(
        result_of(&csms.call(
            "ChangeConfiguration",
            json!({"key": "SupportedFeatureProfiles", "value": "x"})
        ))["status"],
        "Rejected"
    );
    assert_eq!(
        result_of(&csms.call("ChangeConfiguration", json!({"key": "Nope", "value": "x"})))["status"],
        "NotSupported"
    );
    let before = csms.sent.len();
    csms.advance(Duration::from_secs(10));
    assert_eq!(
        calls_of(&csms.sent[before..], "Heartbeat").len(),
        1,
        "the new interval applies"
    );
}

#[test]
fn v201_variables_can_be_read_and_set() {
    let mut csms = booted(Csms::v201());
    let frames = csms.call(
        "GetVariables",
        json!({"getVariableData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "Nope"}},
        {"component": {"name": "Nope"}, "variable": {"name": "X"}}]}),
    );
    let statuses: Vec<_> = result_of(&frames)["getVariableResult"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["attributeStatus"].clone())
        .collect();
    assert_eq!(
        statuses,
        vec![
            json!("Accepted"),
            json!("UnknownVariable"),
            json!("UnknownComponent")
        ]
    );
    let frames = csms.call("SetVariables", json!({"setVariableData": [{"attributeValue": "15", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}));
    assert_eq!(
        result_of(&frames)["setVariableResult"][0]["attributeStatus"],
        "Accepted"
    );
}

#[test]
fn remote_start_and_stop_run_a_transaction() {
    let mut csms = booted(Csms::v16());
    let frames = csms.call(
        "RemoteStartTransaction",
        json!({"connectorId": 2, "idTag": "REMOTE1"}),
    );
    assert_eq!(result_of(&frames)["status"], "Accepted");
    assert_eq!(calls_of(&frames, "StartTransaction")[0]["connectorId"], 2);
    let frames = csms.call("RemoteStopTransaction", json!({"transactionId": 77}));
    assert_eq!(result_of(&frames)["status"], "Accepted");
    assert_eq!(calls_of(&frames, "StopTransaction").len(), 1);
    assert_eq!(
        result_of(&csms.call("RemoteStopTransaction", json!({"transactionId": 5})))["status"],
        "Rejected"
    );
    let mut v201 = booted(Csms::v201());
    let frames = v201.call(
        "RequestStartTransaction",
        json!({"idToken": {"idToken": "T", "type": "ISO14443"}, "remoteStartId": 1, "evseId": 1}),
    );
    let answer = result_of(&frames);
    assert_eq!(answer["status"], "Accepted");
    let tx = answer["transactionId"].clone();
    assert_eq!(
        calls_of(&frames, "TransactionEvent")[0]["eventType"],
        "Started"
    );
    let frames = v201.call("RequestStopTransaction", json!({"transactionId": tx}));
    assert_eq!(result_of(&frames)["status"], "Accepted");
}

#[test]
fn a_firmware_update_runs_through_its_statuses_and_a_trigger_reports_the_current_one() {
    let mut csms = booted(Csms::v201());
    let frames = csms.call("UpdateFirmware", json!({"requestId": 42, "firmware": {"location": "https://example.invalid/fw.bin", "retrieveDateTime": "2025-01-01T00:00:00Z"}}));
    assert_eq!(result_of(&frames)["status"], "Accepted");
    csms.advance(Duration::from_millis(600));
    let (_, calls) = csms.trigger(json!({"requestedMessage": "FirmwareStatusNotification"}));
    assert_eq!(
        (
            calls[0].1["status"].clone(),
            calls[0].1["requestId"].clone()
        ),
        (json!("Downloading"), json!(42)),
        "the current status, with its requestId"
    );
    for _ in 0..6 {
        csms.advance(Duration::from_secs(1));
    }
    let statuses: Vec<_> = calls_of(&csms.sent, "FirmwareStatusNotification")
        .iter()
        .map(|p| p["status"].clone())
        .collect();
    // L01: the station reboots to install (InstallRebooting), boots with the new version
    // (the image's file name without its extension), then reports Installed.
    assert!(
        statuses.ends_with(&[
            json!("Downloading"),
            json!("Downloaded"),
            json!("SignatureVerified"),
            json!("Installing"),
            json!("InstallRebooting"),
            json!("Installed")
        ]),
        "{statuses:?}"
    );
    let boot = calls_of(&csms.sent, "BootNotification")
        .last()
        .map(|b| (*b).clone())
        .expect("a boot after the install");
    assert_eq!(boot["reason"], "FirmwareUpdate", "{boot}");
    assert_eq!(boot["chargingStation"]["firmwareVersion"], "fw", "{boot}");
    let (_, calls) = csms.trigger(json!({"requestedMessage": "FirmwareStatusNotification"}));
    assert_eq!(
        calls[0].1,
        json!({"status": "Idle"}),
        "Idle without requestId once nothing runs"
    );
}

#[test]
fn a_log_upload_is_reported_live_to_a_triggered_status_in_both_versions() {
    let mut csms = booted(Csms::v16());
    let frames = csms.call(
        "GetDiagnostics",
        json!({"location": "ftp://example.invalid/"}),
    );
    assert!(result_of(&frames)["fileName"].is_string());
    csms.advance(Duration::from_millis(600));
    let (_, calls) = csms.trigger(json!({"requestedMessage": "DiagnosticsStatusNotification"}));
    assert_eq!(calls[0].1["status"], "Uploading");
    let mut v201 = booted(Csms::v201());
    v201.call("GetLog", json!({"logType": "DiagnosticsLog", "requestId": 9, "log": {"remoteLocation": "https://example.invalid/"}}));
    v201.advance(Duration::from_millis(600));
    let (_, calls) = v201.trigger(json!({"requestedMessage": "LogStatusNotification"}));
    assert_eq!(
        (
            calls[0].1["status"].clone(),
            calls[0].1["requestId"].clone()
        ),
        (json!("Uploading"), json!(9))
    );
}

#[test]
fn a_log_is_uploaded_by_the_runner_and_its_outcome_reported_with_the_request_id() {
    let mut v201 = booted(Csms::v201());
    let frames = v201.call("GetLog", json!({"logType": "DiagnosticsLog", "requestId": 5, "log": {"remoteLocation": "http://csms.invalid/uploads/t1"}}));
    assert_eq!(result_of(&frames)["filename"], "log-SIM201.log");
    assert!(v201.uploads.is_empty(), "not before Uploading");
    v201.advance(Duration::from_millis(600));
    let upload = v201.uploads.pop().expect("an upload once Uploading");
    assert_eq!(upload.url, "http://csms.invalid/uploads/t1");
    assert!(!upload.multipart, "2.0.1 PUTs the file");
    assert!(String::from_utf8_lossy(&upload.body).contains("station=SIM201"));
    let out = v201.station.on_upload_done(false, v201.now);
    v201.take(out);
    let statuses: Vec<_> = calls_of(&v201.sent, "LogStatusNotification")
        .iter()
        .map(|p| (p["status"].clone(), p["requestId"].clone()))
        .collect();
    assert_eq!(
        statuses,
        [
            (json!("Uploading"), json!(5)),
            (json!("UploadFailure"), json!(5))
        ]
    );
    let mut v16 = booted(Csms::v16());
    v16.call(
        "GetDiagnostics",
        json!({"location": "http://csms.invalid/uploads/t2"}),
    );
    v16.advance(Duration::from_millis(600));
    assert!(
        v16.uploads.pop().expect("upload").multipart,
        "1.6 POSTs a form"
    );
    let out = v16.station.on_upload_done(true, v16.now);
    v16.take(out);
    assert_eq!(
        calls_of(&v16.sent, "DiagnosticsStatusNotification")
            .last()
            .copied(),
        Some(&json!({"status": "Uploaded"}))
    );
    let mut refusing = StationConfig::new("SIMREJ", ProtocolVersion::V201);
    refusing.faults.add_flag("GetLog=reject").expect("fault");
    let mut refusing = booted(Csms::new(refusing));
    let frames = refusing.call("GetLog", json!({"logType": "SecurityLog", "requestId": 1, "log": {"remoteLocation": "http://csms.invalid/u"}}));
    assert_eq!(result_of(&frames)["status"], "Rejected");
}

#[test]
fn reset_reboots_with_a_new_boot_notification() {
    let mut csms = booted(Csms::v201());
    assert_eq!(
        result_of(&csms.call("Reset", json!({"type": "Immediate"})))["status"],
        "Accepted"
    );
    let before = csms.sent.len();
    csms.advance(Duration::from_secs(1));
    let boots = calls_of(&csms.sent[before..], "BootNotification");
    assert_eq!(boots.len(), 1);
    assert_eq!(boots[0]["reason"], "RemoteReset");
}

#[test]
fn unsupported_operations_get_not_supported() {
    let mut csms = booted(Csms::v16());
    let frames = csms.call("ReserveNow", json!({"connectorId": 1, "expiryDate": "2025-01-01T00:00:00Z", "idTag": "T", "reservationId": 1}));
    assert!(matches!(&frames[0], Frame::CallError { code, .. } if code == "NotSupported"));
}
