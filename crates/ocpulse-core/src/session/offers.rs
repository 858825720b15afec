//! What trigger matching reads of a station CALL: its target, its trigger marker, its
//! transaction and whether it reports a change, read once against the state as it was
//! before the CALL changed it.

use ocpp_rpc::trigger::{Marker, TargetKey, target_of};
use ocpp_rpc::{Family, ProtocolVersion};
use serde_json::Value;

use crate::StationState;

/// The facts of one station CALL that decide which trigger (if any) it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallFacts {
    pub target: Option<TargetKey>,
    pub marker: Marker,
    pub transaction_id: Option<String>,
    pub reports_change: bool,
}

impl CallFacts {
    /// Reads `payload` of `action`; `before` is the station state before this CALL applies.
    pub(crate) fn read(
        version: ProtocolVersion,
        action: &str,
        payload: &Value,
        before: &StationState,
    ) -> Self {
        let mut facts = Self {
            target: target_of(version, action, payload),
            marker: Marker::Unmarkable,
            transaction_id: None,
            reports_change: false,
        };
        match action {
            "MeterValues" => facts.marker = meter_marker(payload.get("meterValue")),
            "StatusNotification" => {
                facts.reports_change = status_changed(version, payload, before);
            }
            "TransactionEvent" => {
                let id = payload
                    .pointer("/transactionInfo/transactionId")
                    .and_then(Value::as_str);
                facts.transaction_id = id.map(str::to_owned);
                facts.marker =
                    if payload.get("triggerReason").and_then(Value::as_str) == Some("Trigger") {
                        Marker::Triggered
                    } else {
                        Marker::Routine
                    };
                facts.reports_change = matches!(
                    payload.get("eventType").and_then(Value::as_str),
                    Some("Started" | "Ended")
                );
                // Only a transaction's first event must name its EVSE (E01.FR.16); the rest
                // are placed by the transaction the CSMS knows.
                if facts.target.is_none() {
                    facts.target = id
                        .and_then(|id| before.transactions.iter().find(|t| t.transaction_id == id))
                        .and_then(|t| t.evse_id)
                        .map(TargetKey::of);
                }
            }
            _ => {}
        }
        facts
    }
}

/// `Triggered` when any sampled value says `context: "Trigger"`; otherwise `Routine`
/// (an absent context means `Sample.Periodic` in both versions).
fn meter_marker(meter_values: Option<&Value>) -> Marker {
    let triggered = meter_values
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|mv| mv.get("sampledValue").and_then(Value::as_array))
        .flatten()
        .any(|sv| sv.get("context").and_then(Value::as_str) == Some("Trigger"));
    if triggered {
        Marker::Triggered
    } else {
        Marker::Routine
    }
}

/// Whether a StatusNotification reports a status other than the one the CSMS knew: a
/// transition, which explains the message as routine. A triggered one repeats the status.
fn status_changed(version: ProtocolVersion, payload: &Value, before: &StationState) -> bool {
    let int = |k: &str| payload.get(k).and_then(Value::as_i64);
    let (evse, connector, status) = if version.family() == Family::V16 {
        (None, int("connectorId"), payload.get("status"))
    } else {
        (
            int("evseId"),
            int("connectorId"),
            payload.get("connectorStatus"),
        )
    };
    let status = status.and_then(Value::as_str);
    let known = before
        .connectors
        .iter()
        .find(|c| Some(c.connector_id) == connector && c.evse_id == evse);
    match (known, status) {
        (Some(c), Some(s)) => c.status != s,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn meter_values_are_marked_by_the_trigger_context() {
        let state = StationState::new("s");
        let marked = json!({"connectorId": 1, "meterValue": [{"timestamp": "t", "sampledValue": [{"value": "1", "context": "Trigger"}]}]});
        let periodic = json!({"connectorId": 1, "meterValue": [{"timestamp": "t", "sampledValue": [{"value": "1"}]}]});
        let v16 = ProtocolVersion::V16;
        assert_eq!(
            CallFacts::read(v16, "MeterValues", &marked, &state).marker,
            Marker::Triggered
        );
        assert_eq!(
            CallFacts::read(v16, "MeterValues", &periodic, &state).marker,
            Marker::Routine
        );
    }

    #[test]
    fn a_transaction_event_without_evse_is_placed_by_its_known_transaction() {
        let mut state = StationState::new("s");
        state.transactions.push(crate::state::Transaction {
            transaction_id: "tx-1".into(),
            connector_id: None,
            evse_id: Some(2),
            id_tag: None,
            meter_start: None,
            charging_state: None,
            started_at: None,
            updated_at: 0,
        });
        let event = json!({"eventType": "Updated", "triggerReason": "Trigger", "transactionInfo": {"transactionId": "tx-1"}});
        let facts = CallFacts::read(ProtocolVersion::V201, "TransactionEvent", &event, &state);
        assert_eq!(facts.target, Some(TargetKey::of(2)));
        assert_eq!(facts.marker, Marker::Triggered);
        assert_eq!(facts.transaction_id.as_deref(), Some("tx-1"));
        assert!(!facts.reports_change);
    }

    #[test]
    fn a_status_transition_reports_a_change_and_a_repeat_does_not() {
        let mut state = StationState::new("s");
        state.connectors.push(crate::state::ConnectorStatus {
            connector_id: 1,
            evse_id: None,
            status: "Available".into(),
            error_code: None,
            info: None,
            vendor_error_code: None,
            timestamp: None,
            received_at: 0,
        });
        let v16 = ProtocolVersion::V16;
        let same = json!({"connectorId": 1, "status": "Available", "errorCode": "NoError"});
        let other = json!({"connectorId": 1, "status": "Finishing", "errorCode": "NoError"});
        assert!(!CallFacts::read(v16, "StatusNotification", &same, &state).reports_change);
        assert!(CallFacts::read(v16, "StatusNotification", &other, &state).reports_change);
    }
}
