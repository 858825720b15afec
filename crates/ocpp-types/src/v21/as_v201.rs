//! Reading a 2.1 station message with the 2.0.1 types.
//!
//! 2.1 keeps the shape of the messages it shares with 2.0.1 but widens some of their
//! vocabularies (new measurands, the `Upstream` location, new trigger and stop reasons,
//! free-form id token types). A 2.1 payload carrying one of those values fails to parse
//! as its 2.0.1 type, and the whole message would be lost to a reader of 2.0.1 types.
//! [`as_v201`] rewrites only those values into what a 2.0.1 reader can hold, losing as
//! little as it can; the payload as sent (journaled, shown by the API) is never changed.

use serde_json::Value;

use crate::v201::{
    IdTokenEnumType, LocationEnumType, MeasurandEnumType, ReasonEnumType, TriggerReasonEnumType,
};

/// What a 2.0.1 reader is given for a 2.1 trigger reason it has no name for: an
/// ordinary update, never `Trigger` (which 2.0.1 has, so it is never rewritten).
pub const UNKNOWN_TRIGGER_REASON: &str = "MeterValuePeriodic";

/// `payload` of a 2.1 station CALL of `action`, rewritten so the 2.0.1 type can read it;
/// `None` when it needs no change. Rules:
/// - a sampled value whose measurand or location 2.0.1 lacks is left out (a 2.0.1 reader
///   has no name for the quantity), and a meter value left without any is left out;
/// - a TransactionEvent `triggerReason` 2.0.1 lacks reads as [`UNKNOWN_TRIGGER_REASON`],
///   a `stoppedReason` it lacks as `Other`;
/// - an `idToken` whose `type` is not one of 2.0.1's is left out of a TransactionEvent.
pub fn as_v201(action: &str, payload: &Value) -> Option<Value> {
    let mut out = payload.clone();
    let mut changed = false;
    if matches!(action, "MeterValues" | "TransactionEvent") {
        changed |= keep_known_samples(&mut out);
    }
    if action == "TransactionEvent" {
        changed |= replace_unknown(
            &mut out,
            "/triggerReason",
            TriggerReasonEnumType::ALL.iter().map(|v| v.as_str()),
            UNKNOWN_TRIGGER_REASON,
        );
        changed |= replace_unknown(
            &mut out,
            "/transactionInfo/stoppedReason",
            ReasonEnumType::ALL.iter().map(|v| v.as_str()),
            "Other",
        );
        let token_type = out.pointer("/idToken/type").and_then(Value::as_str);
        if token_type.is_some_and(|t| !IdTokenEnumType::ALL.iter().any(|k| k.as_str() == t))
            && let Some(map) = out.as_object_mut()
        {
            map.remove("idToken");
            changed = true;
        }
    }
    changed.then_some(out)
}

/// Replaces the string at `pointer` with `fallback` when it is not one of `known`.
fn replace_unknown<'a>(
    value: &mut Value,
    pointer: &str,
    mut known: impl Iterator<Item = &'a str>,
    fallback: &str,
) -> bool {
    match value.pointer_mut(pointer) {
        Some(Value::String(s)) if !known.any(|k| k == s) => {
            *s = fallback.to_owned();
            true
        }
        _ => false,
    }
}

/// The string at `key` of `sample`, if any.
fn names<'a>(sample: &'a Value, key: &str) -> Option<&'a str> {
    sample.get(key).and_then(Value::as_str)
}

/// Drops sampled values 2.0.1 cannot name, and meter values left empty.
fn keep_known_samples(payload: &mut Value) -> bool {
    let Some(meter_values) = payload.get_mut("meterValue").and_then(Value::as_array_mut) else {
        return false;
    };
    let known = |s: &Value| {
        names(s, "measurand").is_none_or(|v| MeasurandEnumType::ALL.iter().any(|m| m.as_str() == v))
            && names(s, "location")
                .is_none_or(|v| LocationEnumType::ALL.iter().any(|l| l.as_str() == v))
    };
    let mut changed = false;
    for mv in meter_values.iter_mut() {
        if let Some(samples) = mv.get_mut("sampledValue").and_then(Value::as_array_mut) {
            let before = samples.len();
            samples.retain(known);
            changed |= samples.len() != before;
        }
    }
    let before = meter_values.len();
    meter_values.retain(|mv| {
        mv.get("sampledValue")
            .and_then(Value::as_array)
            .is_none_or(|s| !s.is_empty())
    });
    changed | (meter_values.len() != before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v201::{MeterValuesRequest, TransactionEventRequest};
    use serde_json::json;

    fn event(trigger_reason: &str, token_type: &str) -> Value {
        json!({
            "eventType": "Ended", "timestamp": "2025-01-01T12:00:00Z",
            "triggerReason": trigger_reason, "seqNo": 3,
            "transactionInfo": {"transactionId": "T", "stoppedReason": "ReqEnergyTransferRejected"},
            "idToken": {"idToken": "X", "type": token_type},
            "meterValue": [
                {"timestamp": "2025-01-01T12:00:00Z", "sampledValue": [
                    {"value": 1.0, "measurand": "Energy.Active.Import.Register"},
                    {"value": 2.0, "measurand": "Display.PresentSOC"}
                ]},
                {"timestamp": "2025-01-01T12:00:01Z", "sampledValue": [
                    {"value": 3.0, "location": "Upstream"}
                ]}
            ]
        })
    }

    #[test]
    fn a_21_transaction_event_with_21_only_values_reads_as_201() {
        let raw = event("TxResumed", "VIN");
        assert!(serde_json::from_value::<TransactionEventRequest>(raw.clone()).is_err());
        let read = as_v201("TransactionEvent", &raw).expect("rewritten");
        let typed: TransactionEventRequest = serde_json::from_value(read.clone()).expect("2.0.1");
        assert_eq!(typed.trigger_reason.as_str(), UNKNOWN_TRIGGER_REASON);
        assert_eq!(read["transactionInfo"]["stoppedReason"], "Other");
        assert!(typed.id_token.is_none());
        let meter = typed.meter_value.expect("kept what 2.0.1 can name");
        assert_eq!(meter.len(), 1);
        assert_eq!(meter[0].sampled_value.len(), 1);
    }

    #[test]
    fn what_201_can_read_is_left_alone_and_trigger_stays_trigger() {
        let mut plain = event("Trigger", "ISO14443");
        plain["transactionInfo"]["stoppedReason"] = json!("EVDisconnected");
        plain["meterValue"] = json!([{"timestamp": "2025-01-01T12:00:00Z",
            "sampledValue": [{"value": 1.0, "context": "Trigger"}]}]);
        assert_eq!(as_v201("TransactionEvent", &plain), None);
        assert_eq!(as_v201("Heartbeat", &json!({})), None);
    }

    #[test]
    fn meter_values_keep_only_the_samples_201_can_name() {
        let raw = json!({"evseId": 1, "meterValue": [{"timestamp": "2025-01-01T12:00:00Z",
            "sampledValue": [{"value": 5.0, "measurand": "Voltage.Minimum"}, {"value": 230.0, "measurand": "Voltage"}]}]});
        let read = as_v201("MeterValues", &raw).expect("rewritten");
        let typed: MeterValuesRequest = serde_json::from_value(read).expect("2.0.1");
        assert_eq!(typed.meter_value[0].sampled_value.len(), 1);
    }
}
