//! The rule engine with plain values, both OCPP versions.

use serde_json::{Value, json};

use super::*;
use crate::journal::{
    CONNECTION_REFUSED, Direction, EVENT, JournalEntry, SECURITY_EVENT, STATION_CONNECTED,
};

fn rule(id: &str, condition: Value) -> AlertRule {
    let spec: RuleSpec =
        serde_json::from_value(json!({"name": id, "condition": condition})).expect("valid rule");
    spec.validate().expect("valid rule");
    AlertRule::new(id, spec, 0)
}

fn entry(
    frame_type: &'static str,
    direction: Direction,
    action: Option<&str>,
    id: &str,
    payload: Value,
) -> JournalEntry {
    JournalEntry {
        seq: 0,
        station_id: "CP1".into(),
        direction,
        frame_type,
        message_id: Some(id.into()),
        action: action.map(Into::into),
        payload: payload.to_string(),
        at: 1_000,
        violation: None,
        trigger_id: None,
    }
}

/// A station CALL and the CSMS's CALLRESULT, fed in journal order.
fn acked(engine: &mut AlertEngine, id: &str, action: &str, payload: Value) -> Vec<Decision> {
    assert!(
        engine
            .on_entry(&entry("CALL", Direction::In, Some(action), id, payload))
            .is_empty()
    );
    engine.on_entry(&entry(
        "CALLRESULT",
        Direction::Out,
        Some(action),
        id,
        json!({}),
    ))
}

fn kinds(decisions: &[Decision]) -> Vec<(&'static str, String)> {
    decisions
        .iter()
        .map(|d| match d {
            Decision::Raise(f) => ("raise", f.key.target.clone()),
            Decision::Repeat(f) => ("repeat", f.key.target.clone()),
            Decision::Resolve(f) => ("resolve", f.key.target.clone()),
        })
        .collect()
}

fn status16(connector: i64, status: &str, error: &str) -> Value {
    json!({"connectorId": connector, "errorCode": error, "status": status})
}

#[test]
fn connector_faulted_v16_raises_once_repeats_and_resolves_per_connector() {
    let mut e = AlertEngine::new(vec![rule("r1", json!({"kind": "connectorFaulted"}))], []);
    let d = acked(
        &mut e,
        "1",
        "StatusNotification",
        status16(1, "Faulted", "GroundFailure"),
    );
    assert_eq!(kinds(&d), [("raise", "connector:1".to_owned())]);
    let Decision::Raise(f) = &d[0] else {
        unreachable!()
    };
    assert_eq!(f.key.rule_id, "r1");
    assert_eq!(f.details["errorCode"], "GroundFailure");
    // Still faulted: counted, not raised again.
    let d = acked(
        &mut e,
        "2",
        "StatusNotification",
        status16(1, "Faulted", "GroundFailure"),
    );
    assert_eq!(kinds(&d), [("repeat", "connector:1".to_owned())]);
    // Another connector is clear: nothing to resolve there.
    assert!(
        acked(
            &mut e,
            "3",
            "StatusNotification",
            status16(2, "Available", "NoError")
        )
        .is_empty()
    );
    let d = acked(
        &mut e,
        "4",
        "StatusNotification",
        status16(1, "Available", "NoError"),
    );
    assert_eq!(kinds(&d), [("resolve", "connector:1".to_owned())]);
    assert!(
        acked(
            &mut e,
            "5",
            "StatusNotification",
            status16(1, "Available", "NoError")
        )
        .is_empty()
    );
}

#[test]
fn connector_faulted_v16_error_code_other_than_no_error_fires_without_faulted() {
    let mut e = AlertEngine::new(vec![rule("r1", json!({"kind": "connectorFaulted"}))], []);
    let d = acked(
        &mut e,
        "1",
        "StatusNotification",
        status16(0, "Available", "HighTemperature"),
    );
    assert_eq!(kinds(&d), [("raise", "connector:0".to_owned())]);
}

#[test]
fn connector_faulted_v201_targets_evse_and_connector() {
    let mut e = AlertEngine::new(vec![rule("r1", json!({"kind": "connectorFaulted"}))], []);
    let faulted = json!({"timestamp": "2025-01-01T00:00:00Z", "connectorStatus": "Faulted", "evseId": 2, "connectorId": 1});
    let d = acked(&mut e, "a", "StatusNotification", faulted);
    assert_eq!(kinds(&d), [("raise", "evse:2/connector:1".to_owned())]);
    let other = json!({"timestamp": "2025-01-01T00:00:00Z", "connectorStatus": "Available", "evseId": 1, "connectorId": 1});
    assert!(acked(&mut e, "b", "StatusNotification", other).is_empty());
    let back = json!({"timestamp": "2025-01-01T00:00:00Z", "connectorStatus": "Available", "evseId": 2, "connectorId": 1});
    assert_eq!(
        kinds(&acked(&mut e, "c", "StatusNotification", back)),
        [("resolve", "evse:2/connector:1".to_owned())]
    );
}

#[test]
fn a_refused_call_changes_nothing_and_an_unanswered_one_waits() {
    let mut e = AlertEngine::new(vec![rule("r1", json!({"kind": "connectorFaulted"}))], []);
    e.on_entry(&entry(
        "CALL",
        Direction::In,
        Some("StatusNotification"),
        "1",
        status16(1, "Faulted", "NoError"),
    ));
    let refused = entry(
        "CALLERROR",
        Direction::Out,
        Some("StatusNotification"),
        "1",
        json!({}),
    );
    assert!(e.on_entry(&refused).is_empty());
    // An answer to a CSMS CALL (inbound) is not a station CALL's acknowledgement.
    e.on_entry(&entry(
        "CALL",
        Direction::In,
        Some("StatusNotification"),
        "2",
        status16(1, "Faulted", "NoError"),
    ));
    assert!(
        e.on_entry(&entry("CALLRESULT", Direction::In, None, "2", json!({})))
            .is_empty()
    );
    let d = e.on_entry(&entry("CALLRESULT", Direction::Out, None, "2", json!({})));
    assert_eq!(kinds(&d), [("raise", "connector:1".to_owned())]);
}

#[test]
fn firmware_failures_of_every_version_raise_and_installed_resolves() {
    let mut e = AlertEngine::new(vec![rule("fw", json!({"kind": "firmwareFailed"}))], []);
    // 1.6 core.
    let d = acked(
        &mut e,
        "1",
        "FirmwareStatusNotification",
        json!({"status": "DownloadFailed"}),
    );
    assert_eq!(kinds(&d), [("raise", "firmware".to_owned())]);
    // Progress statuses say nothing.
    assert!(
        acked(
            &mut e,
            "2",
            "FirmwareStatusNotification",
            json!({"status": "Downloading"})
        )
        .is_empty()
    );
    assert_eq!(
        kinds(&acked(
            &mut e,
            "3",
            "FirmwareStatusNotification",
            json!({"status": "Installed"})
        )),
        [("resolve", "firmware".to_owned())]
    );
    // 1.6 security extension.
    let d = acked(
        &mut e,
        "4",
        "SignedFirmwareStatusNotification",
        json!({"status": "InvalidSignature", "requestId": 7}),
    );
    let Decision::Raise(f) = &d[0] else {
        panic!("raise: {d:?}")
    };
    assert_eq!(f.details["requestId"], 7);
    assert_eq!(f.details["action"], "SignedFirmwareStatusNotification");
    acked(
        &mut e,
        "5",
        "SignedFirmwareStatusNotification",
        json!({"status": "Installed", "requestId": 7}),
    );
    // 2.0.1 (same action name as 1.6, requestId).
    for status in FIRMWARE_FAILURES {
        let d = acked(
            &mut e,
            status,
            "FirmwareStatusNotification",
            json!({"status": status, "requestId": 1}),
        );
        assert!(!d.is_empty(), "{status} raises or repeats");
    }
}

#[test]
fn heartbeat_missing_counts_from_the_heartbeat_or_the_connection_and_resolves_on_one() {
    let mut e = AlertEngine::new(
        vec![rule(
            "hb",
            json!({"kind": "heartbeatMissing", "minutes": 0.5}),
        )],
        [],
    );
    let mut connected = entry(EVENT, Direction::In, Some(STATION_CONNECTED), "", json!({}));
    connected.at = 100_000;
    e.on_entry(&connected);
    let snap = |hb: Option<i64>, connected: bool| StationSnapshot {
        id: "CP1".into(),
        connected,
        last_heartbeat: hb,
        last_seen: Some(100_000),
    };
    // A heartbeat from an earlier connection is older than the connection: count from it.
    assert!(e.on_tick(&[snap(Some(10_000), true)], 129_999).is_empty());
    let d = e.on_tick(&[snap(Some(10_000), true)], 130_000);
    assert_eq!(kinds(&d), [("raise", "heartbeat".to_owned())]);
    let Decision::Raise(f) = &d[0] else {
        unreachable!()
    };
    assert_eq!(f.details["silentForSeconds"], 30);
    // Still silent: no second alert.
    assert!(e.on_tick(&[snap(Some(10_000), true)], 200_000).is_empty());
    let d = acked(&mut e, "h", "Heartbeat", json!({}));
    assert_eq!(kinds(&d), [("resolve", "heartbeat".to_owned())]);
    // A fresh heartbeat keeps it quiet; a disconnected station is not judged.
    assert!(e.on_tick(&[snap(Some(190_000), true)], 200_000).is_empty());
    assert!(e.on_tick(&[snap(Some(0), false)], 900_000).is_empty());
    // Without a connection event the last message is the reference.
    let mut fresh = AlertEngine::new(e.rules().to_vec(), []);
    let d = fresh.on_tick(&[snap(None, true)], 131_000);
    assert_eq!(kinds(&d), [("raise", "heartbeat".to_owned())]);
}

fn trigger_completed(outcome: &str, requested: &str, trigger: &str) -> JournalEntry {
    let mut e = entry(
        EVENT,
        Direction::Out,
        Some("TriggerCompleted"),
        trigger,
        json!({"outcome": outcome, "requestedMessage": requested}),
    );
    e.trigger_id = Some(trigger.into());
    e
}

#[test]
fn trigger_outcome_raises_per_requested_message_and_a_completed_one_resolves() {
    let mut e = AlertEngine::new(
        vec![
            rule(
                "any",
                json!({"kind": "triggerOutcome", "outcomes": ["Rejected", "NotImplemented"]}),
            ),
            rule(
                "hb",
                json!({"kind": "triggerOutcome", "outcomes": ["StationTimeout"], "requestedMessage": "Heartbeat"}),
            ),
        ],
        [],
    );
    let d = e.on_entry(&trigger_completed("Rejected", "MeterValues", "t1"));
    assert_eq!(kinds(&d), [("raise", "trigger:MeterValues".to_owned())]);
    let Decision::Raise(f) = &d[0] else {
        unreachable!()
    };
    assert_eq!(f.key.rule_id, "any");
    assert_eq!(f.details["triggerId"], "t1");
    // The Heartbeat-only rule ignores other messages; a Completed Heartbeat trigger has nothing to clear.
    assert!(
        e.on_entry(&trigger_completed("StationTimeout", "MeterValues", "t2"))
            .is_empty()
    );
    assert!(
        e.on_entry(&trigger_completed("Completed", "Heartbeat", "t3"))
            .is_empty()
    );
    let d = e.on_entry(&trigger_completed("StationTimeout", "Heartbeat", "t4"));
    assert_eq!(kinds(&d), [("raise", "trigger:Heartbeat".to_owned())]);
    // Completed for another message leaves MeterValues open; for MeterValues it resolves.
    assert_eq!(
        kinds(&e.on_entry(&trigger_completed("Completed", "Heartbeat", "t5"))),
        [("resolve", "trigger:Heartbeat".to_owned())]
    );
    assert_eq!(
        kinds(&e.on_entry(&trigger_completed("Completed", "MeterValues", "t6"))),
        [("resolve", "trigger:MeterValues".to_owned())]
    );
}

#[test]
fn meter_out_of_range_reads_v16_strings_and_v201_numbers() {
    let mut e = AlertEngine::new(
        vec![rule(
            "m",
            json!({"kind": "meterOutOfRange", "measurand": "Voltage", "min": 207, "max": 253}),
        )],
        [],
    );
    let v16 = |value: &str| {
        json!({"connectorId": 1, "meterValue": [{"timestamp": "2025-01-01T00:00:00Z", "sampledValue": [
            {"value": "1234", "measurand": "Energy.Active.Import.Register"},
            {"value": value, "measurand": "Voltage", "phase": "L1", "unit": "V"}
        ]}]})
    };
    let d = acked(&mut e, "1", "MeterValues", v16("190.5"));
    assert_eq!(kinds(&d), [("raise", "meter:connector:1".to_owned())]);
    let Decision::Raise(f) = &d[0] else {
        unreachable!()
    };
    assert_eq!(f.details["value"], 190.5);
    assert_eq!(f.details["phase"], "L1");
    assert_eq!(f.details["min"], 207.0);
    assert_eq!(
        kinds(&acked(&mut e, "2", "MeterValues", v16("230"))),
        [("resolve", "meter:connector:1".to_owned())]
    );
    // Unreadable values are skipped, not errors.
    assert!(acked(&mut e, "3", "MeterValues", v16("n/a")).is_empty());
    // 2.0.1 MeterValues and TransactionEvent.
    let v201 = json!({"evseId": 2, "meterValue": [{"timestamp": "2025-01-01T00:00:00Z", "sampledValue": [{"value": 260.0, "measurand": "Voltage", "unitOfMeasure": {"unit": "V"}}]}]});
    let d = acked(&mut e, "4", "MeterValues", v201);
    assert_eq!(kinds(&d), [("raise", "meter:evse:2".to_owned())]);
    let Decision::Raise(f) = &d[0] else {
        unreachable!()
    };
    assert_eq!(f.details["unit"], "V");
    let tx = json!({"eventType": "Updated", "timestamp": "2025-01-01T00:00:00Z", "triggerReason": "MeterValuePeriodic", "seqNo": 3,
        "transactionInfo": {"transactionId": "tx-1"}, "evse": {"id": 2, "connectorId": 1},
        "meterValue": [{"timestamp": "2025-01-01T00:00:00Z", "sampledValue": [{"value": 231, "measurand": "Voltage"}]}]});
    assert_eq!(
        kinds(&acked(&mut e, "5", "TransactionEvent", tx)),
        [("resolve", "meter:evse:2".to_owned())]
    );
}

#[test]
fn meter_default_measurand_is_the_energy_register() {
    let mut e = AlertEngine::new(
        vec![rule("m", json!({"kind": "meterOutOfRange", "max": 1000}))],
        [],
    );
    let mv = json!({"connectorId": 1, "meterValue": [{"timestamp": "2025-01-01T00:00:00Z", "sampledValue": [{"value": "5000"}]}]});
    assert_eq!(
        kinds(&acked(&mut e, "1", "MeterValues", mv)),
        [("raise", "meter:connector:1".to_owned())]
    );
}

#[test]
fn station_filters_and_active_alerts_from_storage_are_respected() {
    let mut only = rule("r1", json!({"kind": "connectorFaulted"}));
    only.stations = Some(vec!["CP9".into()]);
    let mut e = AlertEngine::new(vec![only], []);
    assert!(
        acked(
            &mut e,
            "1",
            "StatusNotification",
            status16(1, "Faulted", "NoError")
        )
        .is_empty()
    );
    // An alert still active at start is not raised again, and can be resolved.
    let key = AlertKey {
        rule_id: "r1".into(),
        station_id: "CP1".into(),
        target: "connector:1".into(),
    };
    let mut e = AlertEngine::new(
        vec![rule("r1", json!({"kind": "connectorFaulted"}))],
        [key.clone()],
    );
    assert_eq!(
        kinds(&acked(
            &mut e,
            "1",
            "StatusNotification",
            status16(1, "Faulted", "NoError")
        )),
        [("repeat", "connector:1".to_owned())]
    );
    e.forget(&key);
    assert_eq!(
        kinds(&acked(
            &mut e,
            "2",
            "StatusNotification",
            status16(1, "Faulted", "NoError")
        )),
        [("raise", "connector:1".to_owned())]
    );
    // Removing the rule stops its decisions.
    assert!(e.remove_rule("r1").is_some());
    assert!(
        acked(
            &mut e,
            "3",
            "StatusNotification",
            status16(1, "Available", "NoError")
        )
        .is_empty()
    );
}

#[test]
fn rule_bodies_are_checked_with_messages_that_say_what_is_right() {
    let parse = |v: Value| -> Result<RuleSpec, String> {
        let spec: RuleSpec = serde_json::from_value(v).map_err(|e| e.to_string())?;
        spec.validate().map(|()| spec)
    };
    let ok = parse(json!({"name": "n", "condition": {"kind": "connectorFaulted"}, "severity": "critical", "stations": ["CP1"]})).expect("valid");
    assert_eq!(ok.severity, Severity::Critical);
    let defaults = parse(json!({"name": "n", "condition": {"kind": "meterOutOfRange", "min": 0}}))
        .expect("valid");
    assert_eq!(defaults.severity, Severity::Warning);
    assert!(
        matches!(defaults.condition, Condition::MeterOutOfRange { ref measurand, .. } if measurand == DEFAULT_MEASURAND)
    );
    let err = |v: Value| parse(v).expect_err("invalid");
    assert!(err(json!({"name": "n", "condition": {"kind": "nope"}})).contains("unknown variant"));
    assert!(
        err(json!({"name": "n", "condition": {"kind": "connectorFaulted", "extra": 1}}))
            .contains("unknown field")
    );
    assert!(
        err(json!({"name": "n", "condition": {"kind": "connectorFaulted"}, "colour": "red"}))
            .contains("unknown field")
    );
    assert!(
        err(json!({"name": "n", "condition": {"kind": "heartbeatMissing"}})).contains("minutes")
    );
    assert!(
        err(json!({"name": "n", "condition": {"kind": "heartbeatMissing", "minutes": 0}}))
            .contains("greater than 0")
    );
    assert!(err(json!({"name": " ", "condition": {"kind": "firmwareFailed"}})).contains("name"));
    assert!(
        err(json!({"name": "n", "condition": {"kind": "firmwareFailed"}, "stations": []}))
            .contains("stations")
    );
    assert!(
        err(json!({"name": "n", "condition": {"kind": "triggerOutcome", "outcomes": []}}))
            .contains("at least one")
    );
    assert!(
        err(
            json!({"name": "n", "condition": {"kind": "triggerOutcome", "outcomes": ["Completed"]}})
        )
        .contains("Rejected")
    );
    assert!(
        err(json!({"name": "n", "condition": {"kind": "meterOutOfRange"}})).contains("min, max")
    );
    assert!(
        err(json!({"name": "n", "condition": {"kind": "meterOutOfRange", "min": 5, "max": 1}}))
            .contains("greater than")
    );
    assert!(
        err(json!({"name": "n", "condition": {"kind": "connectorFaulted"}, "severity": "loud"}))
            .contains("unknown variant")
    );
}

#[test]
fn alerts_move_through_their_lifecycle() {
    let r = rule("r1", json!({"kind": "connectorFaulted"}));
    let finding = Finding {
        key: AlertKey {
            rule_id: "r1".into(),
            station_id: "CP1".into(),
            target: "connector:1".into(),
        },
        details: json!({"status": "Faulted"}),
    };
    let mut a = Alert::raise("a1", &r, &finding, 0);
    assert_eq!(
        (a.status, a.count, a.key()),
        (AlertStatus::Open, 1, finding.key.clone())
    );
    a.repeat(json!({"status": "Faulted", "n": 2}), 1000);
    assert_eq!(a.count, 2);
    assert_eq!(a.details["n"], 2);
    a.acknowledge("ops".into(), Some("on it".into()), 2000)
        .expect("open");
    assert!(matches!(
        a.acknowledge("x".into(), None, 3000),
        Err(AckError::Already { .. })
    ));
    assert!(a.is_active());
    a.resolve(json!({"status": "Available"}), 4000);
    assert!(!a.is_active());
    assert!(matches!(
        a.acknowledge("x".into(), None, 5000),
        Err(AckError::Resolved(_))
    ));
    let stored: Alert =
        serde_json::from_str(&serde_json::to_string(&a).expect("json")).expect("round trip");
    assert_eq!(stored, a);
    assert_eq!(
        AlertStatus::parse("acknowledged"),
        Some(AlertStatus::Acknowledged)
    );
}

fn security16(kind: &str, tech_info: &str) -> Value {
    json!({"type": kind, "timestamp": "2025-01-01T12:00:00Z", "techInfo": tech_info})
}

fn csms_event(action: &str, payload: Value) -> JournalEntry {
    let mut e = entry(EVENT, Direction::In, Some(action), "", payload);
    e.message_id = None;
    e.at = 1_735_732_800_000; // 2025-01-01T12:00:00Z
    e
}

#[test]
fn security_event_notification_raises_on_its_callresult_per_type_and_repeats_while_open() {
    let mut e = AlertEngine::new(vec![rule("sec", json!({"kind": "securityEvent"}))], []);
    // Not answered yet: nothing; answered: raised on the event type.
    assert!(
        e.on_entry(&entry(
            "CALL",
            Direction::In,
            Some("SecurityEventNotification"),
            "1",
            security16("TamperDetectionActivated", "lid opened"),
        ))
        .is_empty()
    );
    let d = e.on_entry(&entry(
        "CALLRESULT",
        Direction::Out,
        Some("SecurityEventNotification"),
        "1",
        json!({}),
    ));
    assert_eq!(
        kinds(&d),
        [("raise", "TamperDetectionActivated".to_owned())]
    );
    let Decision::Raise(f) = &d[0] else {
        unreachable!()
    };
    assert_eq!(f.key.rule_id, "sec");
    assert_eq!(
        f.details,
        json!({"source": "station", "action": "SecurityEventNotification", "type": "TamperDetectionActivated",
            "timestamp": "2025-01-01T12:00:00Z", "techInfo": "lid opened"})
    );
    // The same type again while open: counted; another type: its own alert.
    let d = acked(
        &mut e,
        "2",
        "SecurityEventNotification",
        security16("TamperDetectionActivated", "lid opened again"),
    );
    assert_eq!(
        kinds(&d),
        [("repeat", "TamperDetectionActivated".to_owned())]
    );
    let d = acked(
        &mut e,
        "3",
        "SecurityEventNotification",
        json!({"type": "FirmwareUpdated", "timestamp": "2025-01-01T12:05:00Z"}),
    );
    assert_eq!(kinds(&d), [("raise", "FirmwareUpdated".to_owned())]);
    let Decision::Raise(f) = &d[0] else {
        unreachable!()
    };
    assert!(f.details.get("techInfo").is_none(), "{}", f.details);
    // Without a type there is nothing to name the alert after.
    assert!(
        acked(
            &mut e,
            "4",
            "SecurityEventNotification",
            json!({"timestamp": "2025-01-01T12:00:00Z"})
        )
        .is_empty()
    );
}

#[test]
fn a_security_event_notification_refused_with_a_callerror_raises_nothing() {
    let mut e = AlertEngine::new(vec![rule("sec", json!({"kind": "securityEvent"}))], []);
    e.on_entry(&entry(
        "CALL",
        Direction::In,
        Some("SecurityEventNotification"),
        "1",
        security16("InvalidCentralSystemCertificate", ""),
    ));
    let refused = entry(
        "CALLERROR",
        Direction::Out,
        Some("SecurityEventNotification"),
        "1",
        json!({}),
    );
    assert!(e.on_entry(&refused).is_empty());
    // The refused CALL is forgotten: a late CALLRESULT of the same id finds nothing.
    assert!(
        e.on_entry(&entry(
            "CALLRESULT",
            Direction::Out,
            Some("SecurityEventNotification"),
            "1",
            json!({})
        ))
        .is_empty()
    );
}

#[test]
fn security_event_types_filter_keeps_only_the_named_types() {
    let mut e = AlertEngine::new(
        vec![rule(
            "sec",
            json!({"kind": "securityEvent", "types": ["InvalidFirmwareSignature", "InvalidCsr"]}),
        )],
        [],
    );
    assert!(
        acked(
            &mut e,
            "1",
            "SecurityEventNotification",
            security16("SettingSystemTime", "")
        )
        .is_empty()
    );
    assert_eq!(
        kinds(&acked(
            &mut e,
            "2",
            "SecurityEventNotification",
            security16("InvalidFirmwareSignature", "sha256 mismatch")
        )),
        [("raise", "InvalidFirmwareSignature".to_owned())]
    );
    // The filter applies to the CSMS's own events too.
    assert!(
        e.on_entry(&csms_event(
            SECURITY_EVENT,
            json!({"type": "SomethingElse", "techInfo": "x"})
        ))
        .is_empty()
    );
    assert_eq!(
        kinds(&e.on_entry(&csms_event(
            SECURITY_EVENT,
            json!({"type": "InvalidCsr", "techInfo": "CN=CP2"})
        ))),
        [("raise", "InvalidCsr".to_owned())]
    );
}

#[test]
fn a_csms_security_event_raises_at_once_with_the_journal_time() {
    let mut e = AlertEngine::new(vec![rule("sec", json!({"kind": "securityEvent"}))], []);
    let d = e.on_entry(&csms_event(
        SECURITY_EVENT,
        json!({"type": "InvalidCsr", "techInfo": "a CSR with CN=CP2 from CP1"}),
    ));
    assert_eq!(kinds(&d), [("raise", "InvalidCsr".to_owned())]);
    let Decision::Raise(f) = &d[0] else {
        unreachable!()
    };
    assert_eq!(
        f.details,
        json!({"source": "csms", "action": "SecurityEvent", "type": "InvalidCsr",
            "timestamp": "2025-01-01T12:00:00.000Z", "techInfo": "a CSR with CN=CP2 from CP1"})
    );
    // A station's notification of the same type shares the alert (one alert per type).
    assert_eq!(
        kinds(&acked(
            &mut e,
            "1",
            "SecurityEventNotification",
            security16("InvalidCsr", "")
        )),
        [("repeat", "InvalidCsr".to_owned())]
    );
    // Unreadable payloads are skipped, and no other condition reads these events.
    let mut bad = csms_event(SECURITY_EVENT, json!({}));
    bad.payload = "not json".into();
    assert!(e.on_entry(&bad).is_empty());
    let mut other = AlertEngine::new(vec![rule("c", json!({"kind": "connectorFaulted"}))], []);
    assert!(
        other
            .on_entry(&csms_event(SECURITY_EVENT, json!({"type": "InvalidCsr"})))
            .is_empty()
    );
}

#[test]
fn refused_connections_raise_only_with_the_flag_and_their_code_is_the_type() {
    let refusal = || {
        csms_event(
            CONNECTION_REFUSED,
            json!({"code": "wrong_credentials", "reason": "the password does not match", "remote": "127.0.0.1:50123", "profile": 1}),
        )
    };
    let mut without = AlertEngine::new(vec![rule("sec", json!({"kind": "securityEvent"}))], []);
    assert!(without.on_entry(&refusal()).is_empty());
    let mut e = AlertEngine::new(
        vec![
            rule(
                "all",
                json!({"kind": "securityEvent", "includeRefusedConnections": true}),
            ),
            rule(
                "downgrades",
                json!({"kind": "securityEvent", "types": ["downgrade"], "includeRefusedConnections": true}),
            ),
        ],
        [],
    );
    let d = e.on_entry(&refusal());
    assert_eq!(kinds(&d), [("raise", "wrong_credentials".to_owned())]);
    let Decision::Raise(f) = &d[0] else {
        unreachable!()
    };
    assert_eq!(f.key.rule_id, "all");
    assert_eq!(
        f.details,
        json!({"source": "csms", "action": "ConnectionRefused", "type": "wrong_credentials",
            "timestamp": "2025-01-01T12:00:00.000Z", "techInfo": "the password does not match",
            "remote": "127.0.0.1:50123", "profile": 1})
    );
    // Guessing again is counted on the open alert, not raised again.
    assert_eq!(
        kinds(&e.on_entry(&refusal())),
        [("repeat", "wrong_credentials".to_owned())]
    );
    let d = e.on_entry(&csms_event(
        CONNECTION_REFUSED,
        json!({"code": "downgrade", "reason": "profile 2 station without TLS"}),
    ));
    let mut rules: Vec<&str> = d
        .iter()
        .map(|d| match d {
            Decision::Raise(f) => f.key.rule_id.as_str(),
            other => panic!("raise: {other:?}"),
        })
        .collect();
    rules.sort_unstable();
    assert_eq!(rules, ["all", "downgrades"]);
}

#[test]
fn tech_info_and_type_are_cut_to_a_sane_length_on_character_boundaries() {
    let mut e = AlertEngine::new(vec![rule("sec", json!({"kind": "securityEvent"}))], []);
    let long = "é".repeat(300);
    let kind = format!("Vendor{}", "X".repeat(100));
    let d = acked(
        &mut e,
        "1",
        "SecurityEventNotification",
        security16(&kind, &long),
    );
    let Decision::Raise(f) = &d[0] else {
        panic!("raise: {d:?}")
    };
    assert_eq!(f.key.target.chars().count(), SECURITY_TYPE_MAX_CHARS);
    assert_eq!(f.details["type"], json!(f.key.target));
    let info = f.details["techInfo"].as_str().expect("techInfo");
    assert_eq!(info.chars().count(), TECH_INFO_MAX_CHARS);
    assert_eq!(f.details["techInfoTruncated"], true);
    // A type filter compares the whole type, not its cut form.
    let mut filtered = AlertEngine::new(
        vec![rule(
            "sec",
            json!({"kind": "securityEvent", "types": [f.key.target]}),
        )],
        [],
    );
    assert!(
        acked(
            &mut filtered,
            "1",
            "SecurityEventNotification",
            security16(&kind, "")
        )
        .is_empty()
    );
}

#[test]
fn acknowledging_ends_a_security_alert_so_the_next_event_raises_again() {
    let mut e = AlertEngine::new(
        vec![
            rule("sec", json!({"kind": "securityEvent"})),
            rule("c", json!({"kind": "connectorFaulted"})),
        ],
        [],
    );
    let d = e.on_entry(&csms_event(SECURITY_EVENT, json!({"type": "InvalidCsr"})));
    let Decision::Raise(sec) = &d[0] else {
        panic!("raise: {d:?}")
    };
    let d = acked(
        &mut e,
        "1",
        "StatusNotification",
        status16(1, "Faulted", "NoError"),
    );
    let Decision::Raise(faulted) = &d[0] else {
        panic!("raise: {d:?}")
    };
    // A fault still holds after acknowledgement; a security event is over once seen.
    assert_eq!(e.resolution_on_acknowledge(&faulted.key), None);
    let resolution = e
        .resolution_on_acknowledge(&sec.key)
        .expect("a security alert ends when acknowledged");
    assert!(
        resolution["reason"]
            .as_str()
            .is_some_and(|r| r.contains("acknowledged"))
    );
    e.forget(&sec.key);
    // Nothing active any more: nothing to end, and the next event is a new alert.
    assert_eq!(e.resolution_on_acknowledge(&sec.key), None);
    assert_eq!(
        kinds(&e.on_entry(&csms_event(SECURITY_EVENT, json!({"type": "InvalidCsr"})))),
        [("raise", "InvalidCsr".to_owned())]
    );
    assert!(
        Condition::SecurityEvent {
            types: None,
            include_refused_connections: false
        }
        .ends_on_acknowledge()
    );
}

#[test]
fn security_event_rules_are_checked_and_read_back() {
    let parse = |v: Value| -> Result<RuleSpec, String> {
        let spec: RuleSpec = serde_json::from_value(v).map_err(|e| e.to_string())?;
        spec.validate().map(|()| spec)
    };
    let plain = parse(json!({"name": "n", "condition": {"kind": "securityEvent"}})).expect("valid");
    assert_eq!(
        plain.condition,
        Condition::SecurityEvent {
            types: None,
            include_refused_connections: false
        }
    );
    assert_eq!(
        serde_json::to_value(&plain.condition).expect("json"),
        json!({"kind": "securityEvent", "includeRefusedConnections": false})
    );
    let full = json!({"kind": "securityEvent", "types": ["InvalidCsr"], "includeRefusedConnections": true});
    let spec = parse(json!({"name": "n", "condition": full})).expect("valid");
    assert_eq!(serde_json::to_value(&spec.condition).expect("json"), full);
    let err = |v: Value| parse(v).expect_err("invalid");
    assert!(
        err(json!({"name": "n", "condition": {"kind": "securityEvent", "types": []}}))
            .contains("non-empty list")
    );
    assert!(
        err(json!({"name": "n", "condition": {"kind": "securityEvent", "types": [" "]}}))
            .contains("leave it out")
    );
    assert!(
        err(json!({"name": "n", "condition": {"kind": "securityEvent", "includeRefused": true}}))
            .contains("unknown field")
    );
    assert!(
        err(json!({"name": "n", "condition": {"kind": "securityEvent", "includeRefusedConnections": "yes"}}))
            .contains("boolean")
    );
}

#[test]
fn config_drift_raises_per_profile_and_clears_when_compliant() {
    let mut e = AlertEngine::new(
        vec![rule(
            "r1",
            json!({"kind": "configDrift", "profiles": ["base"]}),
        )],
        [],
    );
    let checked = |profile: &str, drifting: bool| {
        entry(
            EVENT,
            Direction::Out,
            Some(crate::journal::CONFIGURATION_CHECKED),
            "c",
            json!({"profileId": profile, "drifting": drifting, "keys": ["HeartbeatInterval"]}),
        )
    };
    assert!(e.on_entry(&checked("base", false)).is_empty());
    let d = e.on_entry(&checked("base", true));
    assert_eq!(kinds(&d), [("raise", "config:base".to_owned())]);
    let Decision::Raise(f) = &d[0] else {
        unreachable!()
    };
    assert_eq!(f.details["keys"], json!(["HeartbeatInterval"]));
    assert!(
        e.on_entry(&checked("other", true)).is_empty(),
        "a profile the rule does not name"
    );
    let d = e.on_entry(&checked("base", false));
    assert_eq!(kinds(&d), [("resolve", "config:base".to_owned())]);
    let empty: RuleSpec = serde_json::from_value(
        json!({"name": "x", "condition": {"kind": "configDrift", "profiles": []}}),
    )
    .expect("parses");
    assert!(empty.validate().is_err());
}
