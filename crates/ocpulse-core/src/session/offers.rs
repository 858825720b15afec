//! What trigger matching reads of a station CALL: its target, its trigger marker, its
//! transaction and whether it reports a change, taken from the CALL's typed message
//! against the state as it was before the CALL changed it.

use ocpp_rpc::trigger::{Marker, TargetKey};
use ocpp_types::v201::TransactionEventEnumType;

use crate::StationState;
use crate::incoming::StationCall;

/// The facts of one station CALL that decide which trigger (if any) it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallFacts {
    pub target: Option<TargetKey>,
    pub marker: Marker,
    pub transaction_id: Option<String>,
    pub reports_change: bool,
}

impl CallFacts {
    /// Reads `call`; `before` is the station state before this CALL applies.
    pub(crate) fn read(call: &StationCall, before: &StationState) -> Self {
        let mut facts = Self {
            target: call.target(),
            marker: call.marker(),
            transaction_id: None,
            reports_change: status_changed(call, before),
        };
        if let Some(event) = call.transaction_event() {
            let id = &event.transaction_info.transaction_id;
            facts.transaction_id = Some(id.clone());
            facts.reports_change = matches!(
                event.event_type,
                TransactionEventEnumType::Started | TransactionEventEnumType::Ended
            );
            // Only a transaction's first event must name its EVSE (E01.FR.16); the rest
            // are placed by the transaction the CSMS knows.
            if facts.target.is_none() {
                facts.target = before
                    .transactions
                    .iter()
                    .find(|t| t.transaction_id == *id)
                    .and_then(|t| t.evse_id)
                    .map(TargetKey::of);
            }
        }
        facts
    }
}

/// Whether a StatusNotification reports a status other than the one the CSMS knew: a
/// transition, which explains the message as routine. A triggered one repeats the status.
fn status_changed(call: &StationCall, before: &StationState) -> bool {
    let Some(report) = call.connector_status() else {
        return false;
    };
    before
        .connectors
        .iter()
        .find(|c| c.connector_id == report.connector_id && c.evse_id == report.evse_id)
        .is_some_and(|c| c.status != report.status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocpp_rpc::ProtocolVersion;
    use serde_json::{Value, json};

    fn read(
        version: ProtocolVersion,
        action: &str,
        payload: &Value,
        state: &StationState,
    ) -> CallFacts {
        CallFacts::read(&StationCall::parse(version, action, payload), state)
    }

    #[test]
    fn meter_values_are_marked_by_the_trigger_context() {
        let state = StationState::new("s");
        let marked = json!({"connectorId": 1, "meterValue": [{"timestamp": "t", "sampledValue": [{"value": "1", "context": "Trigger"}]}]});
        let periodic = json!({"connectorId": 1, "meterValue": [{"timestamp": "t", "sampledValue": [{"value": "1"}]}]});
        let v16 = ProtocolVersion::V16;
        assert_eq!(
            read(v16, "MeterValues", &marked, &state).marker,
            Marker::Triggered
        );
        assert_eq!(
            read(v16, "MeterValues", &periodic, &state).marker,
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
        let event = json!({"eventType": "Updated", "timestamp": "2025-01-01T00:00:00Z", "triggerReason": "Trigger", "seqNo": 1, "transactionInfo": {"transactionId": "tx-1"}});
        let facts = read(ProtocolVersion::V201, "TransactionEvent", &event, &state);
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
        assert!(!read(v16, "StatusNotification", &same, &state).reports_change);
        assert!(read(v16, "StatusNotification", &other, &state).reports_change);
    }
}
