//! Meter readings as rows: one per sampled value a station reported, read from its journaled
//! CALLs (1.6 `MeterValues` and `StopTransaction.transactionData`, 2.0.1 `MeterValues` and
//! `TransactionEvent.meterValue`). Station state keeps only the latest reading per
//! connector/EVSE; readings over time, and their export, come from the journal through here.
//!
//! Each payload is read once into its typed message (`crate::incoming`), which fills in the
//! spec's defaults (measurand `Energy.Active.Import.Register`, context `Sample.Periodic`,
//! location `Outlet`, unit `Wh` for energy), so rows of both versions compare directly. A
//! payload that does not fit its type yields no rows.

use serde_json::Value;

use crate::Millis;
use crate::incoming::StationCall;
use crate::journal::{Direction, JournalEntry};

/// The actions whose payloads carry meter values: the journal filter for meter rows.
pub const METER_ACTIONS: [&str; 3] = ["MeterValues", "StopTransaction", "TransactionEvent"];

/// One sampled value of one meter reading.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterRow {
    /// The journal entry it was read from.
    pub seq: i64,
    /// The station.
    pub station_id: String,
    /// The message that carried it (`MeterValues`, `StopTransaction`, `TransactionEvent`).
    pub action: String,
    /// When ocpulse received the message.
    pub received_at: Millis,
    /// The station's timestamp of the sample (its `meterValue[].timestamp`), as sent.
    pub timestamp: Option<String>,
    /// 2.0.1 EVSE id (0 = main meter).
    pub evse_id: Option<i64>,
    /// 1.6 connector id (0 = main meter), or the 2.0.1 `evse.connectorId` of a TransactionEvent.
    pub connector_id: Option<i64>,
    /// The transaction the sample belongs to, if the message names one.
    pub transaction_id: Option<String>,
    /// What was measured.
    pub measurand: String,
    /// The phase, if any.
    pub phase: Option<String>,
    /// Where it was measured (`Outlet` unless stated).
    pub location: String,
    /// Why it was sampled (`Sample.Periodic` unless stated).
    pub context: String,
    /// The unit (`Wh` for an energy measurand unless stated; none otherwise).
    pub unit: Option<String>,
    /// 2.0.1 `unitOfMeasure.multiplier`, a power of ten (0 unless stated); `None` on 1.6.
    /// `value` is as sent: multiply by `10^multiplier` for the unit's value.
    pub multiplier: Option<i64>,
    /// The value as a number; `None` when the station's value is not one (1.6 `SignedData`).
    pub value: Option<f64>,
}

impl MeterRow {
    /// The 2.0.1 EVSE or, on 1.6, the connector: what an `evse` filter selects.
    pub fn target(&self) -> Option<i64> {
        self.evse_id.or(self.connector_id)
    }
}

/// The rows of one journal entry: empty unless it is a station CALL that carries meter
/// values. Rows come in the order of the payload (meterValue, then sampledValue).
pub fn meter_rows(entry: &JournalEntry) -> Vec<MeterRow> {
    if entry.direction != Direction::In || entry.frame_type != "CALL" {
        return Vec::new();
    }
    let Some(action) = entry.action.as_deref() else {
        return Vec::new();
    };
    if !METER_ACTIONS.contains(&action) {
        return Vec::new();
    }
    let Ok(payload) = serde_json::from_str::<Value>(&entry.payload) else {
        return Vec::new();
    };
    let call = StationCall::read_journaled(action, &payload);
    let Some(meter) = call.meter() else {
        return Vec::new();
    };
    meter
        .readings
        .samples()
        .map(|sample| MeterRow {
            seq: entry.seq,
            station_id: entry.station_id.clone(),
            action: action.to_owned(),
            received_at: entry.at,
            timestamp: Some(sample.timestamp.to_owned()),
            evse_id: meter.evse_id,
            connector_id: meter.connector_id,
            transaction_id: meter.transaction_id.as_deref().map(str::to_owned),
            measurand: sample.measurand.to_owned(),
            phase: sample.phase.map(str::to_owned),
            location: sample.location.to_owned(),
            context: sample.context.to_owned(),
            unit: sample.unit().map(str::to_owned),
            multiplier: sample.multiplier,
            value: sample.value,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(action: &str, payload: Value) -> JournalEntry {
        JournalEntry {
            seq: 7,
            station_id: "CP1".into(),
            direction: Direction::In,
            frame_type: "CALL",
            message_id: Some("m1".into()),
            action: Some(action.into()),
            payload: payload.to_string(),
            at: 1_000,
            violation: None,
            trigger_id: None,
        }
    }

    fn brief(r: &MeterRow) -> (Option<i64>, Option<i64>, &str, Option<&str>, Option<f64>) {
        (
            r.evse_id,
            r.connector_id,
            r.measurand.as_str(),
            r.unit.as_deref(),
            r.value,
        )
    }

    #[test]
    fn v16_meter_values_fill_the_spec_defaults_and_parse_string_values() {
        let rows = meter_rows(&call(
            "MeterValues",
            json!({"connectorId": 2, "transactionId": 42, "meterValue": [
                {"timestamp": "2025-01-01T00:00:00Z", "sampledValue": [
                    {"value": "1500"},
                    {"value": "16.5", "measurand": "Current.Import", "unit": "A", "phase": "L1", "context": "Sample.Clock", "location": "Inlet"}
                ]},
                {"timestamp": "2025-01-01T00:01:00Z", "sampledValue": [
                    {"value": "AbC=", "format": "SignedData"}
                ]}
            ]}),
        ));
        assert_eq!(rows.len(), 3);
        assert_eq!(
            brief(&rows[0]),
            (
                None,
                Some(2),
                "Energy.Active.Import.Register",
                Some("Wh"),
                Some(1500.0)
            )
        );
        assert_eq!(
            (
                rows[0].context.as_str(),
                rows[0].location.as_str(),
                rows[0].transaction_id.as_deref()
            ),
            ("Sample.Periodic", "Outlet", Some("42"))
        );
        assert_eq!(
            brief(&rows[1]),
            (None, Some(2), "Current.Import", Some("A"), Some(16.5))
        );
        assert_eq!(
            (
                rows[1].phase.as_deref(),
                rows[1].context.as_str(),
                rows[1].location.as_str()
            ),
            (Some("L1"), "Sample.Clock", "Inlet")
        );
        assert_eq!(rows[2].value, None, "a signed value is not a number");
        assert_eq!(rows[2].timestamp.as_deref(), Some("2025-01-01T00:01:00Z"));
        assert!(rows.iter().all(|r| r.seq == 7
            && r.received_at == 1_000
            && r.multiplier.is_none()
            && r.target() == Some(2)));
    }

    #[test]
    fn v16_stop_transaction_data_is_read() {
        let rows = meter_rows(&call(
            "StopTransaction",
            json!({"transactionId": 9, "meterStop": 20, "timestamp": "2025-01-01T00:00:00Z", "transactionData": [
                {"timestamp": "2025-01-01T00:00:00Z", "sampledValue": [{"value": "20", "context": "Transaction.End"}]}
            ]}),
        ));
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (
                rows[0].action.as_str(),
                rows[0].transaction_id.as_deref(),
                rows[0].context.as_str(),
                rows[0].value
            ),
            ("StopTransaction", Some("9"), "Transaction.End", Some(20.0))
        );
    }

    #[test]
    fn v201_meter_values_keep_numbers_units_and_multipliers() {
        let rows = meter_rows(&call(
            "MeterValues",
            json!({"evseId": 1, "meterValue": [{"timestamp": "2025-01-01T00:00:00Z", "sampledValue": [
                {"value": 12.5, "unitOfMeasure": {"unit": "kWh", "multiplier": 3}},
                {"value": 230.1, "measurand": "Voltage", "phase": "L1-N", "unitOfMeasure": {"unit": "V"}},
                {"value": 7}
            ]}]}),
        ));
        assert_eq!(rows.len(), 3);
        assert_eq!(
            brief(&rows[0]),
            (
                Some(1),
                None,
                "Energy.Active.Import.Register",
                Some("kWh"),
                Some(12.5)
            )
        );
        assert_eq!(rows[0].multiplier, Some(3));
        assert_eq!(
            brief(&rows[1]),
            (Some(1), None, "Voltage", Some("V"), Some(230.1))
        );
        assert_eq!(rows[1].multiplier, Some(0));
        assert_eq!(rows[2].unit.as_deref(), Some("Wh"), "energy defaults to Wh");
        assert_eq!(rows[0].target(), Some(1));
    }

    #[test]
    fn v201_transaction_event_meter_values_carry_evse_and_transaction() {
        let rows = meter_rows(&call(
            "TransactionEvent",
            json!({"eventType": "Updated", "timestamp": "2025-01-01T00:00:00Z", "triggerReason": "MeterValuePeriodic", "seqNo": 1,
                "transactionInfo": {"transactionId": "tx-1"}, "evse": {"id": 2, "connectorId": 1},
                "meterValue": [{"timestamp": "2025-01-01T00:00:00Z", "sampledValue": [{"value": 321, "context": "Sample.Periodic"}]}]}),
        ));
        assert_eq!(rows.len(), 1);
        assert_eq!(
            brief(&rows[0]),
            (
                Some(2),
                Some(1),
                "Energy.Active.Import.Register",
                Some("Wh"),
                Some(321.0)
            )
        );
        assert_eq!(rows[0].transaction_id.as_deref(), Some("tx-1"));
        assert_eq!(rows[0].target(), Some(2), "2.0.1 rows are selected by EVSE");
    }

    #[test]
    fn only_station_calls_with_meter_values_yield_rows() {
        let mut answer = call(
            "MeterValues",
            json!({"connectorId": 1, "meterValue": [{"timestamp": "t", "sampledValue": [{"value": "1"}]}]}),
        );
        assert_eq!(meter_rows(&answer).len(), 1);
        answer.frame_type = "CALLRESULT";
        assert!(meter_rows(&answer).is_empty());
        let mut out = call("MeterValues", json!({"connectorId": 1, "meterValue": []}));
        out.direction = Direction::Out;
        assert!(meter_rows(&out).is_empty());
        assert!(meter_rows(&call("Heartbeat", json!({}))).is_empty());
        assert!(
            meter_rows(&call(
                "MeterValues",
                json!({"connectorId": 1, "meterValue": "odd"})
            ))
            .is_empty()
        );
        let mut malformed = call("MeterValues", json!({}));
        malformed.payload = "not json".into();
        assert!(meter_rows(&malformed).is_empty());
    }
}
