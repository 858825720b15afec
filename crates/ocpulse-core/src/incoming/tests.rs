use ocpp_rpc::ProtocolVersion::{V16, V21, V201};
use ocpp_rpc::trigger::{Marker, TargetKey};
use serde_json::{Value, json};

use super::*;

fn v16(action: &str, payload: Value) -> StationCall {
    StationCall::parse(V16, action, &payload)
}

fn v201(action: &str, payload: Value) -> StationCall {
    StationCall::parse(V201, action, &payload)
}

fn status16(connector: i64) -> Value {
    json!({"connectorId": connector, "errorCode": "NoError", "status": "Available"})
}

fn status201(evse: i64, connector: i64) -> Value {
    json!({"timestamp": "2025-01-01T00:00:00Z", "connectorStatus": "Available", "evseId": evse, "connectorId": connector})
}

fn event(extra: Value) -> Value {
    let mut e = json!({"eventType": "Updated", "timestamp": "2025-01-01T00:00:00Z", "triggerReason": "Trigger", "seqNo": 0, "transactionInfo": {"transactionId": "tx-1"}});
    if let (Some(e), Some(extra)) = (e.as_object_mut(), extra.as_object()) {
        e.extend(extra.clone());
    }
    e
}

#[test]
fn targets_are_read_from_the_fields_each_version_uses() {
    assert_eq!(
        v16("StatusNotification", status16(2)).target(),
        Some(TargetKey::of(2))
    );
    assert_eq!(
        v201("StatusNotification", status201(1, 2)).target(),
        Some(TargetKey::evse_connector(1, 2))
    );
    assert_eq!(
        v201(
            "MeterValues",
            json!({"evseId": 3, "meterValue": [{"timestamp": "t", "sampledValue": [{"value": 1}]}]})
        )
        .target(),
        Some(TargetKey::of(3))
    );
    assert_eq!(
        v201("TransactionEvent", event(json!({"evse": {"id": 4}}))).target(),
        Some(TargetKey::of(4))
    );
    assert_eq!(v16("Heartbeat", json!({})).target(), None);
    assert_eq!(
        StationCall::parse(V21, "StatusNotification", &status201(1, 2)).target(),
        Some(TargetKey::evse_connector(1, 2)),
        "2.1 is read as its family, 2.x"
    );
    assert_eq!(
        StationCall::parse(V21, "TransactionEvent", &event(json!({"evse": {"id": 4}}))).target(),
        Some(TargetKey::of(4))
    );
}

#[test]
fn a_21_message_with_values_only_21_has_is_read_as_its_201_twin() {
    let running_cost = event(json!({
        "triggerReason": "RunningCost",
        "evse": {"id": 2},
        "meterValue": [{"timestamp": "t", "sampledValue": [
            {"value": 1, "measurand": "Display.PresentSOC"},
            {"value": 2, "context": "Trigger"}
        ]}]
    }));
    assert_eq!(
        v201("TransactionEvent", running_cost.clone()),
        StationCall::Other,
        "RunningCost is no 2.0.1 reason"
    );
    let read = StationCall::parse(V21, "TransactionEvent", &running_cost);
    assert_eq!(read.target(), Some(TargetKey::of(2)));
    assert_eq!(
        read.marker(),
        Marker::Routine,
        "a running cost update is not a trigger's"
    );
    assert_eq!(
        StationCall::read_journaled("TransactionEvent", &running_cost),
        read,
        "the journal reads it the same"
    );
    let triggered = event(json!({"evse": {"id": 2}, "idToken": {"idToken": "X", "type": "VIN"}}));
    assert_eq!(
        StationCall::parse(V21, "TransactionEvent", &triggered).marker(),
        Marker::Triggered
    );
}

#[test]
fn meter_values_are_marked_by_the_trigger_context_and_transaction_events_by_their_reason() {
    let meter = |context: &str| json!({"connectorId": 1, "meterValue": [{"timestamp": "t", "sampledValue": [{"value": "1"}, {"value": "2", "context": context}]}]});
    assert_eq!(
        v16("MeterValues", meter("Trigger")).marker(),
        Marker::Triggered
    );
    assert_eq!(
        v16("MeterValues", meter("Sample.Clock")).marker(),
        Marker::Routine
    );
    assert_eq!(
        v201("TransactionEvent", event(json!({}))).marker(),
        Marker::Triggered
    );
    assert_eq!(
        v201(
            "TransactionEvent",
            event(json!({"triggerReason": "MeterValuePeriodic"}))
        )
        .marker(),
        Marker::Routine
    );
    assert_eq!(
        v16("StatusNotification", status16(1)).marker(),
        Marker::Unmarkable
    );
}

#[test]
fn odd_payloads_are_other_and_never_a_panic() {
    // Out-of-range numbers, wrong types, missing fields, unknown enum values.
    for (action, payload) in [
        (
            "StatusNotification",
            json!({"connectorId": 1e300, "errorCode": "NoError", "status": "Available"}),
        ),
        (
            "StatusNotification",
            json!({"connectorId": 4_294_967_296_i64, "errorCode": "NoError", "status": "Available"}),
        ),
        ("StatusNotification", json!({"connectorId": "one"})),
        (
            "StatusNotification",
            json!({"connectorId": 1, "errorCode": "NoError", "status": "Occupied"}),
        ),
        (
            "MeterValues",
            json!({"connectorId": 1, "meterValue": "nope"}),
        ),
        ("MeterValues", json!(null)),
        ("StopTransaction", json!([1, 2])),
        ("NoSuchAction", json!({})),
    ] {
        assert_eq!(
            v16(action, payload.clone()),
            StationCall::Other,
            "{action} {payload}"
        );
        assert_eq!(
            StationCall::read_journaled(action, &payload),
            StationCall::Other
        );
    }
    assert_eq!(StationCall::Other.target(), None);
    assert_eq!(StationCall::Other.marker(), Marker::Unmarkable);
    assert!(StationCall::Other.meter().is_none());
}

#[test]
fn unknown_fields_are_ignored() {
    let mut payload = status16(1);
    payload["vendorQuirk"] = json!({"x": 1});
    assert_eq!(
        v16("StatusNotification", payload)
            .connector_status()
            .map(|c| c.connector_id),
        Some(1)
    );
}

#[test]
fn journaled_payloads_are_read_by_the_fields_of_their_version() {
    let old = StationCall::read_journaled("StatusNotification", &status16(1));
    assert!(matches!(old, StationCall::V16(_)), "{old:?}");
    let new = StationCall::read_journaled("StatusNotification", &status201(1, 1));
    assert!(matches!(new, StationCall::V2(_)), "{new:?}");
    let signed = StationCall::read_journaled(
        "SignedFirmwareStatusNotification",
        &json!({"status": "InvalidSignature", "requestId": 7}),
    );
    assert_eq!(
        signed.activity().map(|a| (a.status, a.request_id)),
        Some(("InvalidSignature", Some(7)))
    );
}

#[test]
fn v16_samples_fill_the_spec_defaults_and_read_text_or_numbers() {
    let call = v16(
        "MeterValues",
        json!({"connectorId": 2, "transactionId": 42, "meterValue": [{"timestamp": "t0", "sampledValue": [
            {"value": " 1500 "},
            {"value": 16.5, "measurand": "Current.Import", "unit": "A", "phase": "L1"},
            {"value": "AbC=", "format": "SignedData"}
        ]}]}),
    );
    let meter = call.meter().expect("meter values");
    assert_eq!(
        (
            meter.evse_id,
            meter.connector_id,
            meter.transaction_id.as_deref()
        ),
        (None, Some(2), Some("42"))
    );
    let samples: Vec<_> = meter.readings.samples().collect();
    assert_eq!(
        samples
            .iter()
            .map(|s| (s.measurand, s.unit(), s.value))
            .collect::<Vec<_>>(),
        [
            (DEFAULT_MEASURAND, Some("Wh"), Some(1500.0)),
            ("Current.Import", Some("A"), Some(16.5)),
            (DEFAULT_MEASURAND, Some("Wh"), None),
        ]
    );
    assert_eq!(
        (
            samples[0].context,
            samples[0].location,
            samples[0].stated_unit
        ),
        ("Sample.Periodic", "Outlet", None)
    );
    assert_eq!(samples[1].phase, Some("L1"));
}

#[test]
fn v201_samples_keep_units_and_multipliers() {
    let call = v201(
        "MeterValues",
        json!({"evseId": 1, "meterValue": [{"timestamp": "t0", "sampledValue": [
            {"value": 12.5, "unitOfMeasure": {"multiplier": 3}},
            {"value": 230.1, "measurand": "Voltage"}
        ]}]}),
    );
    let samples: Vec<_> = call.meter().expect("meter").readings.samples().collect();
    assert_eq!(
        (
            samples[0].stated_unit,
            samples[0].unit(),
            samples[0].multiplier
        ),
        (None, Some("Wh"), Some(3))
    );
    assert_eq!((samples[1].unit(), samples[1].multiplier), (None, Some(0)));
}

#[test]
fn a_transaction_event_without_meter_values_carries_none() {
    assert!(v201("TransactionEvent", event(json!({}))).meter().is_none());
    let call = v201(
        "TransactionEvent",
        event(
            json!({"evse": {"id": 2, "connectorId": 1}, "meterValue": [{"timestamp": "t", "sampledValue": [{"value": 1}]}]}),
        ),
    );
    let meter = call.meter().expect("meter");
    assert_eq!(
        (
            meter.evse_id,
            meter.connector_id,
            meter.transaction_id.as_deref()
        ),
        (Some(2), Some(1), Some("tx-1"))
    );
}
