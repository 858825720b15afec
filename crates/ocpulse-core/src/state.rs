//! What ocpulse knows about one station, kept current from every CALL it acknowledges.
//!
//! State is read from each CALL's typed message (`crate::incoming`); a payload that does
//! not fit its type (possible under the lenient policy) updates only `last_seen`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use std::borrow::Cow;

use ocpp_types::v201;

use crate::incoming::{Activity, Call2, Call16, ConnectorReport, Readings, StationCall};
use crate::{Millis, validation::ValidationMode};

/// The boot information a station last reported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootInfo {
    /// Vendor name.
    pub vendor: Option<String>,
    /// Model name.
    pub model: Option<String>,
    /// Serial number of the station (1.6 chargePointSerialNumber / 2.0.1 serialNumber).
    pub serial_number: Option<String>,
    /// Firmware version.
    pub firmware_version: Option<String>,
    /// 2.0.1 boot reason (e.g. `Triggered`).
    pub reason: Option<String>,
    /// The whole BootNotification payload, for fields not lifted above.
    pub payload: RawJson,
    /// When it arrived.
    pub received_at: Millis,
}

/// JSON kept as its text: for payloads that are only ever shown back, never inspected.
///
/// A `Value` object costs a B-tree node and an allocation per key and string; every
/// connected station holds its boot payload for as long as it lives, so at tens of
/// thousands of stations that was a measurable share of each idle station's memory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawJson(Box<serde_json::value::RawValue>);

impl RawJson {
    /// The compact JSON text of `value`.
    pub fn from_value(value: &Value) -> Self {
        // Serializing a `Value` cannot fail; the fallback only satisfies the types.
        serde_json::value::to_raw_value(value).map_or_else(|_| Self::default(), Self)
    }
}

impl Default for RawJson {
    fn default() -> Self {
        Self(serde_json::value::RawValue::NULL.to_owned())
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

/// The last reported status of one connector (1.6) or EVSE connector (2.0.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorStatus {
    /// 2.0.1 EVSE id (absent for 1.6).
    pub evse_id: Option<i64>,
    /// 1.6 connectorId (0 = the charge point itself) or 2.0.1 connectorId within the EVSE.
    pub connector_id: i64,
    /// 1.6 ChargePointStatus or 2.0.1 ConnectorStatusEnumType.
    pub status: String,
    /// 1.6 error code.
    pub error_code: Option<String>,
    /// 1.6 free-text info.
    pub info: Option<String>,
    /// 1.6 vendor error code.
    pub vendor_error_code: Option<String>,
    /// The station's own timestamp of the status.
    pub timestamp: Option<String>,
    /// When ocpulse received it.
    pub received_at: Millis,
}

/// The latest meter reading of one connector (1.6) or EVSE (2.0.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeterReading {
    /// 2.0.1 EVSE id (0 = main meter).
    pub evse_id: Option<i64>,
    /// 1.6 connector id (0 = main meter).
    pub connector_id: Option<i64>,
    /// The transaction the reading belongs to, if any.
    pub transaction_id: Option<String>,
    /// The station's timestamp of the newest meterValue.
    pub timestamp: Option<String>,
    /// Its sampled values, as sent.
    pub sampled_value: Value,
    /// When ocpulse received it.
    pub received_at: Millis,
}

/// A status report of a long-running station activity (firmware update, log upload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityStatus {
    /// The reported status, e.g. `Idle`, `Downloading`.
    pub status: String,
    /// The request it belongs to, where the version has one.
    pub request_id: Option<i64>,
    /// The action that reported it.
    pub action: String,
    /// When ocpulse received it.
    pub received_at: Millis,
}

/// A transaction the station reported started and not yet ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    /// 1.6 transactionId (assigned by ocpulse) or 2.0.1 transactionId (the station's).
    pub transaction_id: String,
    /// 1.6 connector.
    pub connector_id: Option<i64>,
    /// 2.0.1 EVSE.
    pub evse_id: Option<i64>,
    /// Who started it (1.6 idTag, 2.0.1 idToken.idToken).
    pub id_tag: Option<String>,
    /// 1.6 meterStart (Wh).
    pub meter_start: Option<i64>,
    /// 2.0.1 chargingState.
    pub charging_state: Option<String>,
    /// The station's start timestamp.
    pub started_at: Option<String>,
    /// The last event's seqNo or time ocpulse saw for it.
    pub updated_at: Millis,
}

/// A schema violation accepted under the lenient policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedViolation {
    /// The action whose payload violated its schema.
    pub action: String,
    /// What was wrong.
    pub description: String,
    /// When.
    pub at: Millis,
}

/// How a station's certificate request ended, as far as the CSMS decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CertificateRequestStatus {
    /// The CSR verified and a certificate was issued; it goes out in CertificateSigned.
    Signed,
    /// SignCertificate was answered Rejected (no CA, invalid CSR, or the CA could not issue).
    Rejected,
}

/// The station's latest SignCertificate and what came of it, so an operator can see whether
/// a station holds a certificate from this CSMS without reading the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateRequest {
    /// When the SignCertificate arrived.
    pub requested_at: Millis,
    /// The 2.0.1 `certificateType` as requested (absent: the combined certificate; 1.6 has none).
    pub certificate_type: Option<String>,
    /// The CSR's subject (e.g. `CN=CP0001, O=Example CPO`), when the CSR could be read.
    pub csr_subject: Option<String>,
    /// Whether a certificate was issued.
    pub status: CertificateRequestStatus,
    /// Why it was rejected.
    pub reason: Option<String>,
    /// The issued certificate's serial, lowercase hex: ties the CertificateSigned answer to
    /// this request and finds the certificate for revocation.
    pub serial: Option<String>,
    /// The issued certificate's end of validity, RFC 3339, for planning renewal.
    pub not_after: Option<String>,
    /// How the station answered CertificateSigned: its status (`Accepted`, `Rejected`), or
    /// `CallError`, `InvalidResponse`, `Timeout`, `Disconnected`, or `NotSent` when the
    /// SignCertificate could not be stored (the station was told to retry); `None` while pending.
    pub certificate_signed_status: Option<String>,
    /// When CertificateSigned ended (answered, timed out or cut off).
    pub answered_at: Option<Millis>,
}

/// Everything ocpulse knows about one station: the fold of its journal entries
/// (`crate::projection`), snapshotted in the background. Every field defaults, so a
/// snapshot written before a field existed still loads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StationState {
    /// The station identity from its connection URL.
    pub id: String,
    /// Subprotocol of its latest connection (`ocpp1.6`, `ocpp2.0.1`).
    pub protocol: Option<String>,
    /// Its latest BootNotification.
    pub boot: Option<BootInfo>,
    /// The registration status ocpulse gave its latest BootNotification.
    pub registration_status: Option<String>,
    /// Status per connector, sorted by (EVSE, connector).
    pub connectors: Vec<ConnectorStatus>,
    /// Latest reading per connector/EVSE, sorted.
    pub meter_values: Vec<MeterReading>,
    /// Firmware update status (FirmwareStatusNotification / SignedFirmwareStatusNotification).
    pub firmware: Option<ActivityStatus>,
    /// Diagnostics upload (1.6 DiagnosticsStatusNotification) or log upload (LogStatusNotification).
    pub log: Option<ActivityStatus>,
    /// Open transactions.
    pub transactions: Vec<Transaction>,
    /// When the station last sent anything.
    pub last_seen: Option<Millis>,
    /// When it last sent a Heartbeat.
    pub last_heartbeat: Option<Millis>,
    /// The station's own validation policy, overriding the server default.
    pub validation_mode: Option<ValidationMode>,
    /// How many schema violations were accepted under the lenient policy.
    pub violations: u64,
    /// The latest of them.
    pub last_violation: Option<RecordedViolation>,
    /// What the station did with each requestedMessage so far.
    #[serde(default)]
    pub capabilities: std::collections::BTreeMap<String, crate::capability::Capability>,
    /// The latest certificate request (SignCertificate) and its outcome. Defaulted so
    /// states stored before certificates existed still load.
    #[serde(default)]
    pub certificate: Option<CertificateRequest>,
    /// When its current connection opened (`None` while disconnected): its uptime. Defaulted
    /// so states stored before it existed still load.
    #[serde(default)]
    pub connected_since: Option<Millis>,
    /// Whether the station marks triggered messages (`context`/`triggerReason` =
    /// `Trigger`), learned from its answers to triggers: once it is known to, its unmarked
    /// messages are never taken as a trigger's answer.
    #[serde(default, skip_serializing_if = "is_unknown")]
    pub trigger_marking: ocpp_rpc::trigger::Marking,
    /// The station's local authorization list version, as last learned from an accepted
    /// SendLocalList or a GetLocalListVersion answer (the `LocalListVersion` event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_list: Option<crate::authorization::local_list::ListKnown>,
    /// The cluster node that holds (or last held) its connection; `None` for a server alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

fn is_unknown(m: &ocpp_rpc::trigger::Marking) -> bool {
    *m == ocpp_rpc::trigger::Marking::Unknown
}

/// What a BootNotification says about the station; the payload is kept whole as sent.
fn boot_info(call: &StationCall, payload: &Value, now: Millis) -> Option<BootInfo> {
    let (vendor, model, serial_number, firmware_version, reason) = match call {
        StationCall::V16(Call16::BootNotification(boot)) => (
            &boot.charge_point_vendor,
            &boot.charge_point_model,
            boot.charge_point_serial_number
                .as_ref()
                .or(boot.charge_box_serial_number.as_ref()),
            &boot.firmware_version,
            None,
        ),
        StationCall::V2(Call2::BootNotification(boot)) => {
            let station = &boot.charging_station;
            (
                &station.vendor_name,
                &station.model,
                station.serial_number.as_ref(),
                &station.firmware_version,
                Some(boot.reason.as_str()),
            )
        }
        _ => return None,
    };
    Some(BootInfo {
        vendor: Some(vendor.clone()),
        model: Some(model.clone()),
        serial_number: serial_number.cloned(),
        firmware_version: firmware_version.clone(),
        reason: reason.map(str::to_owned),
        payload: RawJson::from_value(payload),
        received_at: now,
    })
}

impl StationState {
    /// A station seen for the first time.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }

    /// Applies an acknowledged station CALL (`action`, read once into `call`; `payload` as
    /// sent, for what is kept as sent) and the answer ocpulse gave it.
    pub fn apply_call(
        &mut self,
        action: &str,
        call: &StationCall,
        payload: &Value,
        response: &Value,
        now: Millis,
    ) {
        self.last_seen = Some(now);
        if let Some(boot) = boot_info(call, payload, now) {
            self.boot = Some(boot);
            self.registration_status = response
                .get("status")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        match call {
            StationCall::V16(Call16::Heartbeat(_)) | StationCall::V2(Call2::Heartbeat(_)) => {
                self.last_heartbeat = Some(now);
            }
            StationCall::V16(Call16::StartTransaction(start)) => {
                if let Some(id) = response.get("transactionId").and_then(Value::as_i64) {
                    self.open_transaction(Transaction {
                        transaction_id: id.to_string(),
                        connector_id: Some(start.connector_id.into()),
                        evse_id: None,
                        id_tag: Some(start.id_tag.clone()),
                        meter_start: Some(start.meter_start),
                        charging_state: None,
                        started_at: Some(start.timestamp.clone()),
                        updated_at: now,
                    });
                }
            }
            StationCall::V16(Call16::StopTransaction(stop)) => {
                let id = stop.transaction_id.to_string();
                self.transactions.retain(|t| t.transaction_id != id);
            }
            StationCall::V2(Call2::TransactionEvent(event)) => {
                self.apply_transaction_event(event, payload, now);
            }
            StationCall::V16(Call16::MeterValues(_)) | StationCall::V2(Call2::MeterValues(_)) => {
                if let Some(meter) = call.meter() {
                    self.apply_meter(
                        meter.evse_id,
                        meter.connector_id,
                        meter.transaction_id.map(Cow::into_owned),
                        meter.readings,
                        payload,
                        now,
                    );
                }
            }
            _ => {}
        }
        if let Some(report) = call.connector_status() {
            self.apply_status(&report, now);
        }
        if let Some(report) = call.activity() {
            let status = Some(ActivityStatus {
                status: report.status.to_owned(),
                request_id: report.request_id,
                action: action.to_owned(),
                received_at: now,
            });
            match report.activity {
                Activity::Firmware => self.firmware = status,
                Activity::Log => self.log = status,
            }
        }
    }

    /// Applies a CALL the CSMS acknowledged with `response`: what the session does as it
    /// answers and what replaying the journal does at start, so both reach one state.
    /// `violation` is the schema violation the lenient policy let through, if any.
    pub fn apply_acknowledged(
        &mut self,
        action: &str,
        call: &StationCall,
        payload: &Value,
        response: &Value,
        violation: Option<&str>,
        now: Millis,
    ) {
        // A marked message proves the station marks, whenever it comes: a station once
        // taken for one that does not (its marked answer came after a routine sample had
        // ended the trigger) is corrected by the late answer itself.
        if call.marker() == ocpp_rpc::trigger::Marker::Triggered
            && self.trigger_marking == ocpp_rpc::trigger::Marking::DoesNotMark
        {
            self.trigger_marking = ocpp_rpc::trigger::Marking::Marks;
        }
        self.apply_call(action, call, payload, response, now);
        if let Some(v) = violation {
            self.record_violation(action, v, now);
        }
    }

    /// Records a schema violation accepted under the lenient policy.
    pub fn record_violation(&mut self, action: &str, description: &str, now: Millis) {
        self.violations += 1;
        self.last_violation = Some(RecordedViolation {
            action: action.into(),
            description: description.into(),
            at: now,
        });
    }

    /// Records a SignCertificate's outcome, replacing the previous request's: only the
    /// latest request matters to an operator.
    pub fn record_certificate_request(&mut self, request: CertificateRequest) {
        self.certificate = Some(request);
    }

    /// Records the station's answer to the CertificateSigned that delivered certificate
    /// `serial`. Ignored (returns false) when a newer request has replaced that one, so a late
    /// outcome never lands on another certificate.
    pub fn record_certificate_signed(&mut self, serial: &str, status: &str, now: Millis) -> bool {
        match &mut self.certificate {
            Some(c) if c.serial.as_deref() == Some(serial) => {
                c.certificate_signed_status = Some(status.to_owned());
                c.answered_at = Some(now);
                true
            }
            _ => false,
        }
    }

    /// The 1.6 connector ids (0 included when reported) or 2.0.1 EVSE ids the station reported.
    pub fn known_targets(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .connectors
            .iter()
            .map(|c| c.evse_id.unwrap_or(c.connector_id))
            .collect();
        ids.dedup();
        ids
    }

    /// The 2.0.1 connector ids reported for one EVSE.
    pub fn connectors_of_evse(&self, evse_id: i64) -> Vec<i64> {
        self.connectors
            .iter()
            .filter(|c| c.evse_id == Some(evse_id))
            .map(|c| c.connector_id)
            .collect()
    }

    fn apply_status(&mut self, report: &ConnectorReport<'_>, now: Millis) {
        let entry = ConnectorStatus {
            evse_id: report.evse_id,
            connector_id: report.connector_id,
            status: report.status.to_owned(),
            error_code: report.error_code.map(str::to_owned),
            info: report.info.map(str::to_owned),
            vendor_error_code: report.vendor_error_code.map(str::to_owned),
            timestamp: report.timestamp.map(str::to_owned),
            received_at: now,
        };
        let key = |c: &ConnectorStatus| (c.evse_id, c.connector_id);
        match self.connectors.binary_search_by_key(&key(&entry), key) {
            Ok(i) => self.connectors[i] = entry,
            Err(i) => self.connectors.insert(i, entry),
        }
    }

    /// Keeps the newest reading (readings are sent oldest first); its sampled values are
    /// kept as sent (`payload.meterValue`), to be shown back unchanged.
    fn apply_meter(
        &mut self,
        evse_id: Option<i64>,
        connector_id: Option<i64>,
        transaction_id: Option<String>,
        readings: Readings<'_>,
        payload: &Value,
        now: Millis,
    ) {
        let Some(timestamp) = readings.latest_timestamp() else {
            return;
        };
        let sampled_value = payload
            .get("meterValue")
            .and_then(|m| m.get(readings.len() - 1))
            .and_then(|latest| latest.get("sampledValue"))
            .cloned()
            .unwrap_or(Value::Null);
        let reading = MeterReading {
            evse_id,
            connector_id,
            transaction_id,
            timestamp: Some(timestamp.to_owned()),
            sampled_value,
            received_at: now,
        };
        let key = |m: &MeterReading| (m.evse_id, m.connector_id);
        match self.meter_values.binary_search_by_key(&key(&reading), key) {
            Ok(i) => self.meter_values[i] = reading,
            Err(i) => self.meter_values.insert(i, reading),
        }
    }

    fn apply_transaction_event(
        &mut self,
        event: &v201::TransactionEventRequest,
        payload: &Value,
        now: Millis,
    ) {
        let id = &event.transaction_info.transaction_id;
        let evse_id = event.evse.as_ref().map(|e| i64::from(e.id));
        if let Some(readings) = &event.meter_value {
            let evse = evse_id.or_else(|| {
                self.transactions
                    .iter()
                    .find(|t| t.transaction_id == *id)
                    .and_then(|t| t.evse_id)
            });
            let readings = Readings::V2(readings);
            self.apply_meter(evse, None, Some(id.clone()), readings, payload, now);
        }
        if event.event_type == v201::TransactionEventEnumType::Ended {
            self.transactions.retain(|t| t.transaction_id != *id);
            return;
        }
        let charging_state = event
            .transaction_info
            .charging_state
            .map(|c| c.as_str().to_owned());
        let existing = self
            .transactions
            .iter_mut()
            .find(|t| t.transaction_id == *id);
        match existing {
            Some(t) => {
                t.evse_id = evse_id.or(t.evse_id);
                t.charging_state = charging_state.or(t.charging_state.take());
                t.updated_at = now;
            }
            None => self.open_transaction(Transaction {
                transaction_id: id.clone(),
                connector_id: event
                    .evse
                    .as_ref()
                    .and_then(|e| e.connector_id.map(i64::from)),
                evse_id,
                id_tag: event.id_token.as_ref().map(|t| t.id_token.clone()),
                meter_start: None,
                charging_state,
                started_at: Some(event.timestamp.clone()),
                updated_at: now,
            }),
        }
    }

    fn open_transaction(&mut self, tx: Transaction) {
        self.transactions
            .retain(|t| t.transaction_id != tx.transaction_id);
        self.transactions.push(tx);
    }
}

#[cfg(test)]
impl StationState {
    /// Applies a CALL of whichever version the payload's shape says (tests' shorthand).
    pub(crate) fn apply(&mut self, action: &str, payload: &Value, response: &Value, now: Millis) {
        let call = StationCall::read_journaled(action, payload);
        self.apply_call(action, &call, payload, response, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn boot_of_both_versions_fills_boot_info() {
        let mut s = StationState::new("CP1");
        s.apply(
            "BootNotification",
            &json!({"chargePointVendor": "V", "chargePointModel": "M", "firmwareVersion": "1.2"}),
            &json!({"status": "Accepted"}),
            5,
        );
        let boot = s.boot.clone().expect("boot");
        assert_eq!(
            (
                boot.vendor.as_deref(),
                boot.model.as_deref(),
                boot.firmware_version.as_deref()
            ),
            (Some("V"), Some("M"), Some("1.2"))
        );
        assert_eq!(s.registration_status.as_deref(), Some("Accepted"));
        s.apply("BootNotification", &json!({"reason": "Triggered", "chargingStation": {"vendorName": "W", "model": "N", "serialNumber": "S"}}), &json!({"status": "Accepted"}), 6);
        let boot = s.boot.expect("boot");
        assert_eq!(
            (
                boot.vendor.as_deref(),
                boot.serial_number.as_deref(),
                boot.reason.as_deref()
            ),
            (Some("W"), Some("S"), Some("Triggered"))
        );
        assert_eq!(s.last_seen, Some(6));
    }

    #[test]
    fn status_is_kept_per_connector_with_its_timestamp() {
        let mut s = StationState::new("CP1");
        for (c, st) in [
            (2, "Available"),
            (0, "Available"),
            (1, "Charging"),
            (2, "Faulted"),
        ] {
            s.apply("StatusNotification", &json!({"connectorId": c, "errorCode": "NoError", "status": st, "timestamp": "2025-01-01T00:00:00Z"}), &json!({}), 1);
        }
        let got: Vec<_> = s
            .connectors
            .iter()
            .map(|c| (c.connector_id, c.status.as_str()))
            .collect();
        assert_eq!(got, vec![(0, "Available"), (1, "Charging"), (2, "Faulted")]);
        assert_eq!(s.known_targets(), vec![0, 1, 2]);
        assert_eq!(
            s.connectors[0].timestamp.as_deref(),
            Some("2025-01-01T00:00:00Z")
        );
    }

    #[test]
    fn v201_status_is_kept_per_evse_connector() {
        let mut s = StationState::new("CS1");
        for (e, c) in [(1, 1), (1, 2), (2, 1)] {
            s.apply("StatusNotification", &json!({"evseId": e, "connectorId": c, "connectorStatus": "Available", "timestamp": "2025-01-01T00:00:00Z"}), &json!({}), 1);
        }
        assert_eq!(s.known_targets(), vec![1, 2]);
        assert_eq!(s.connectors_of_evse(1), vec![1, 2]);
    }

    #[test]
    fn meter_values_keep_the_newest_sample() {
        let mut s = StationState::new("CP1");
        s.apply(
            "MeterValues",
            &json!({"connectorId": 1, "meterValue": [
            {"timestamp": "2025-01-01T00:00:00Z", "sampledValue": [{"value": "1"}]},
            {"timestamp": "2025-01-01T00:01:00Z", "sampledValue": [{"value": "2"}]}]}),
            &json!({}),
            1,
        );
        assert_eq!(
            s.meter_values[0].timestamp.as_deref(),
            Some("2025-01-01T00:01:00Z")
        );
        assert_eq!(s.meter_values[0].sampled_value, json!([{"value": "2"}]));
    }

    #[test]
    fn transactions_open_and_close_in_both_versions() {
        let mut s = StationState::new("CP1");
        s.apply("StartTransaction", &json!({"connectorId": 1, "idTag": "T", "meterStart": 10, "timestamp": "2025-01-01T00:00:00Z"}), &json!({"transactionId": 42, "idTagInfo": {"status": "Accepted"}}), 1);
        assert_eq!(s.transactions[0].transaction_id, "42");
        s.apply(
            "StopTransaction",
            &json!({"transactionId": 42, "meterStop": 20, "timestamp": "2025-01-01T00:00:00Z"}),
            &json!({}),
            2,
        );
        assert!(s.transactions.is_empty());
        let tx = |kind: &str| json!({"eventType": kind, "timestamp": "2025-01-01T00:00:00Z", "triggerReason": "Authorized", "seqNo": 0, "transactionInfo": {"transactionId": "abc", "chargingState": "Charging"}, "evse": {"id": 1, "connectorId": 1}});
        s.apply("TransactionEvent", &tx("Started"), &json!({}), 3);
        assert_eq!(
            (
                s.transactions[0].evse_id,
                s.transactions[0].charging_state.as_deref()
            ),
            (Some(1), Some("Charging"))
        );
        s.apply("TransactionEvent", &tx("Ended"), &json!({}), 4);
        assert!(s.transactions.is_empty());
    }

    #[test]
    fn firmware_and_log_status_are_tracked() {
        let mut s = StationState::new("CP1");
        s.apply(
            "FirmwareStatusNotification",
            &json!({"status": "Idle"}),
            &json!({}),
            1,
        );
        s.apply(
            "LogStatusNotification",
            &json!({"status": "Uploading", "requestId": 7}),
            &json!({}),
            2,
        );
        assert_eq!(s.firmware.as_ref().map(|f| f.status.as_str()), Some("Idle"));
        assert_eq!(
            s.log.as_ref().map(|l| (l.status.as_str(), l.request_id)),
            Some(("Uploading", Some(7)))
        );
    }

    #[test]
    fn certificate_signed_outcome_lands_only_on_its_own_request() {
        let mut s = StationState::new("CP1");
        let request = |serial: &str| CertificateRequest {
            requested_at: 1,
            certificate_type: Some("ChargingStationCertificate".into()),
            csr_subject: Some("CN=CP1".into()),
            status: CertificateRequestStatus::Signed,
            reason: None,
            serial: Some(serial.into()),
            not_after: Some("2026-01-01T00:00:00Z".into()),
            certificate_signed_status: None,
            answered_at: None,
        };
        s.record_certificate_request(request("aa"));
        s.record_certificate_request(request("bb"));
        assert!(
            !s.record_certificate_signed("aa", "Accepted", 2),
            "stale serial"
        );
        assert_eq!(
            s.certificate
                .as_ref()
                .and_then(|c| c.certificate_signed_status.clone()),
            None
        );
        assert!(s.record_certificate_signed("bb", "Accepted", 3));
        let c = s.certificate.clone().expect("certificate");
        assert_eq!(
            (c.certificate_signed_status.as_deref(), c.answered_at),
            (Some("Accepted"), Some(3))
        );
        let stored = serde_json::to_value(&s).expect("serialize");
        assert_eq!(stored["certificate"]["status"], "Signed");
        assert_eq!(stored["certificate"]["certificateSignedStatus"], "Accepted");
    }

    #[test]
    fn the_boot_payload_is_kept_whole_and_stored_as_the_same_json() {
        let request = json!({"chargingStation": {"model": "M", "vendorName": "V", "modem": {"iccid": "8901"}}, "reason": "PowerUp"});
        let mut s = StationState::new("CP1");
        s.apply(
            "BootNotification",
            &request,
            &json!({"status": "Accepted"}),
            1,
        );
        let boot = s.boot.clone().expect("boot");
        assert_eq!(serde_json::to_value(&boot.payload).expect("value"), request);
        let stored = serde_json::to_string(&s).expect("serialize");
        assert_eq!(
            serde_json::from_str::<Value>(&stored).expect("json")["boot"]["payload"],
            request
        );
        let loaded: StationState = serde_json::from_str(&stored).expect("loads");
        assert_eq!(loaded, s);
        let via_value: StationState =
            serde_json::from_value(serde_json::to_value(&s).expect("value")).expect("loads");
        let payload = via_value
            .boot
            .map(|b| serde_json::to_value(b.payload).expect("value"));
        assert_eq!(payload, Some(request));
    }

    #[test]
    fn states_stored_before_certificates_still_load() {
        let mut old = serde_json::to_value(StationState::new("CP1")).expect("serialize");
        old.as_object_mut().expect("object").remove("certificate");
        let loaded: StationState = serde_json::from_value(old).expect("old state loads");
        assert_eq!(loaded.certificate, None);
    }

    #[test]
    fn odd_payloads_under_the_lenient_policy_do_not_break_state() {
        let mut s = StationState::new("CP1");
        s.apply(
            "StatusNotification",
            &json!({"connectorId": "one"}),
            &json!({}),
            1,
        );
        s.apply(
            "MeterValues",
            &json!({"connectorId": 1, "meterValue": "nope"}),
            &json!({}),
            1,
        );
        assert!(s.connectors.is_empty() && s.meter_values.is_empty());
        assert_eq!(s.last_seen, Some(1));
    }
}
