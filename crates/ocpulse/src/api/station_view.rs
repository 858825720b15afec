//! A station as the API shows it: one struct per shape, serialized for the answer and
//! described in the OpenAPI document by the same definition.

use std::collections::BTreeMap;

use ocpulse_core::capability::Capability;
use ocpulse_core::state::{
    ActivityStatus, BootInfo, CertificateRequest, CertificateRequestStatus, ConnectorStatus,
    MeterReading, RawJson, RecordedViolation, Transaction,
};
use ocpulse_core::{StationState, rfc3339};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::registrations::RegistrationView;
use crate::app::App;

/// A station: what it reported, how it answers triggers, and how it is registered.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StationView {
    /// The identity the station connected with (`/ocpp/{id}`).
    #[schema(example = "CP0001")]
    id: String,
    /// Whether it has a live connection now.
    connected: bool,
    /// In a cluster: the node that holds (or last held) its connection. Absent for a
    /// server alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<String>,
    /// The negotiated subprotocol, e.g. `ocpp1.6` or `ocpp2.0.1`.
    protocol: Option<String>,
    /// Its last BootNotification, or null.
    boot: Option<BootView>,
    /// The CSMS's answer to that BootNotification.
    registration_status: Option<String>,
    /// The last StatusNotification per connector.
    connectors: Vec<ConnectorView>,
    /// The last meter values per connector/EVSE.
    meter_values: Vec<MeterReadingView>,
    /// Last firmware status, or null.
    firmware_status: Option<ActivityView>,
    /// Last log/diagnostics upload status, or null.
    log_status: Option<ActivityView>,
    /// Transactions in progress.
    transactions: Vec<TransactionView>,
    /// When any frame was last received (RFC 3339).
    last_seen: Option<String>,
    /// When the last Heartbeat was received (RFC 3339).
    last_heartbeat: Option<String>,
    /// What the station did with each requestedMessage so far, by name.
    capabilities: BTreeMap<String, CapabilityView>,
    /// The last SignCertificate request and its result, or null.
    certificate: Option<CertificateView>,
    /// Whether it answers; null when not connected.
    liveness: Option<LivenessView>,
    /// Its registration (how it must authenticate), or null when it is not registered.
    registration: Option<RegistrationView>,
    /// The schema validation policy that applies to it.
    validation: ValidationView,
    /// Its local authorization list version, once known (absent until a SendLocalList was
    /// accepted or GetLocalListVersion answered).
    #[serde(skip_serializing_if = "Option::is_none")]
    local_list: Option<LocalListView>,
}

/// A station's local authorization list, as the CSMS last learned it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LocalListView {
    /// The version (0: no list; -1: a 1.6 station without local list support).
    version: i64,
    /// `SendLocalList` (the station accepted this version) or `GetLocalListVersion` (the
    /// station reported it).
    source: String,
    /// For SendLocalList: `Full` or `Differential`.
    #[serde(skip_serializing_if = "Option::is_none")]
    update_type: Option<String>,
    /// When it was learned (RFC 3339).
    learned_at: String,
}

impl StationView {
    /// The view of `s`; `connected` says whether it has a live session now.
    pub(crate) fn of(s: &StationState, connected: bool, app: &App) -> Self {
        StationView {
            id: s.id.clone(),
            connected,
            node: s.node.clone(),
            protocol: s.protocol.clone(),
            boot: s.boot.as_ref().map(BootView::of),
            registration_status: s.registration_status.clone(),
            connectors: s.connectors.iter().map(ConnectorView::of).collect(),
            meter_values: s.meter_values.iter().map(MeterReadingView::of).collect(),
            firmware_status: s.firmware.as_ref().map(ActivityView::of),
            log_status: s.log.as_ref().map(ActivityView::of),
            transactions: s.transactions.iter().map(TransactionView::of).collect(),
            last_seen: s.last_seen.map(rfc3339),
            last_heartbeat: s.last_heartbeat.map(rfc3339),
            capabilities: s
                .capabilities
                .iter()
                .map(|(name, c)| (name.clone(), CapabilityView::of(c)))
                .collect(),
            certificate: s.certificate.as_ref().map(CertificateView::of),
            liveness: connected.then(|| LivenessView::of(&s.id, app)),
            registration: app
                .gate
                .registrations
                .get(&s.id)
                .map(|r| RegistrationView::of(&r, app)),
            validation: ValidationView {
                mode: s
                    .validation_mode
                    .unwrap_or(app.config.validation)
                    .to_string(),
                station_override: s.validation_mode.map(|m| m.to_string()),
                violations: s.violations,
                last_violation: s.last_violation.as_ref().map(ViolationView::of),
            },
            local_list: s.local_list.as_ref().map(|l| LocalListView {
                version: l.version,
                source: l.source.clone(),
                update_type: l.update_type.clone(),
                learned_at: rfc3339(l.at),
            }),
        }
    }
}

/// A station's last BootNotification.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BootView {
    /// 1.6 `chargePointVendor` / 2.0.1 `chargingStation.vendorName`.
    vendor: Option<String>,
    /// 1.6 `chargePointModel` / 2.0.1 `chargingStation.model`.
    model: Option<String>,
    /// The serial number, when given.
    serial_number: Option<String>,
    /// The firmware version, when given.
    firmware_version: Option<String>,
    /// 2.0.1 only: why it booted.
    reason: Option<String>,
    /// The BootNotification payload as received.
    #[schema(value_type = Object)]
    payload: RawJson,
    /// When ocpulse received it (RFC 3339).
    received_at: String,
}

impl BootView {
    fn of(b: &BootInfo) -> Self {
        BootView {
            vendor: b.vendor.clone(),
            model: b.model.clone(),
            serial_number: b.serial_number.clone(),
            firmware_version: b.firmware_version.clone(),
            reason: b.reason.clone(),
            payload: b.payload.clone(),
            received_at: rfc3339(b.received_at),
        }
    }
}

/// A connector's last StatusNotification.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConnectorView {
    /// The connector (1.6: station-wide number; 2.0.1: within its EVSE).
    connector_id: i64,
    /// 2.0.1 only: the EVSE.
    #[serde(skip_serializing_if = "Option::is_none")]
    evse_id: Option<i64>,
    /// The status as the station reported it.
    status: String,
    /// The station's own timestamp.
    timestamp: Option<String>,
    /// When ocpulse received it (RFC 3339).
    received_at: String,
    /// 1.6 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<String>,
    /// 1.6 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    info: Option<String>,
    /// 1.6 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    vendor_error_code: Option<String>,
}

impl ConnectorView {
    fn of(c: &ConnectorStatus) -> Self {
        ConnectorView {
            connector_id: c.connector_id,
            evse_id: c.evse_id,
            status: c.status.clone(),
            timestamp: c.timestamp.clone(),
            received_at: rfc3339(c.received_at),
            error_code: c.error_code.clone(),
            info: c.info.clone(),
            vendor_error_code: c.vendor_error_code.clone(),
        }
    }
}

/// The last meter values of one connector or EVSE.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MeterReadingView {
    /// The station's timestamp of the reading.
    timestamp: Option<String>,
    /// The sampled values as the station sent them.
    #[schema(value_type = Vec<Object>)]
    sampled_value: Value,
    /// When ocpulse received it (RFC 3339).
    received_at: String,
    /// 2.0.1: the EVSE.
    #[serde(skip_serializing_if = "Option::is_none")]
    evse_id: Option<i64>,
    /// 1.6: the connector.
    #[serde(skip_serializing_if = "Option::is_none")]
    connector_id: Option<i64>,
    /// The transaction it belongs to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction_id: Option<String>,
}

impl MeterReadingView {
    fn of(m: &MeterReading) -> Self {
        MeterReadingView {
            timestamp: m.timestamp.clone(),
            sampled_value: m.sampled_value.clone(),
            received_at: rfc3339(m.received_at),
            evse_id: m.evse_id,
            connector_id: m.connector_id,
            transaction_id: m.transaction_id.clone(),
        }
    }
}

/// A firmware or log upload status.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ActivityView {
    /// The status as reported.
    status: String,
    /// The request it is about, when the station named one.
    request_id: Option<i64>,
    /// The action that reported it (e.g. `FirmwareStatusNotification`).
    reported_by: String,
    /// When ocpulse received it (RFC 3339).
    received_at: String,
}

impl ActivityView {
    /// The view of a firmware or log status.
    pub(crate) fn of(a: &ActivityStatus) -> Self {
        ActivityView {
            status: a.status.clone(),
            request_id: a.request_id,
            reported_by: a.action.clone(),
            received_at: rfc3339(a.received_at),
        }
    }
}

/// A transaction in progress.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TransactionView {
    /// The transaction id (1.6: the CSMS's number as text; 2.0.1: the station's id).
    transaction_id: String,
    /// 1.6: the connector.
    connector_id: Option<i64>,
    /// 2.0.1: the EVSE.
    evse_id: Option<i64>,
    /// The id tag or token that started it.
    id_tag: Option<String>,
    /// 1.6: the meter at the start, in Wh.
    meter_start: Option<i64>,
    /// 2.0.1: the charging state.
    charging_state: Option<String>,
    /// When it started, as the station said.
    started_at: Option<String>,
}

impl TransactionView {
    fn of(t: &Transaction) -> Self {
        TransactionView {
            transaction_id: t.transaction_id.clone(),
            connector_id: t.connector_id,
            evse_id: t.evse_id,
            id_tag: t.id_tag.clone(),
            meter_start: t.meter_start,
            charging_state: t.charging_state.clone(),
            started_at: t.started_at.clone(),
        }
    }
}

/// What a station did with one requestedMessage so far.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CapabilityView {
    /// Answered Accepted.
    accepted: u64,
    /// Answered Rejected.
    rejected: u64,
    /// Answered NotImplemented.
    not_implemented: u64,
    /// Answered with a CALLERROR.
    errors: u64,
    /// Not answered in time.
    timeouts: u64,
    /// Accepted and the message arrived.
    delivered: u64,
    /// delivered / accepted, or null before any.
    delivery_rate: Option<f64>,
    /// Mean time to the message, or null.
    mean_latency_ms: Option<f64>,
    /// The TriggerMessage flavour that worked (`TriggerMessage`, `ExtendedTriggerMessage`).
    works_with: Option<String>,
    /// The last answer was NotImplemented.
    known_unsupported: bool,
    /// The last trigger's outcome, or null.
    #[schema(value_type = Option<super::trigger_records::TriggerOutcome>)]
    last_outcome: Option<&'static str>,
    /// When the last trigger ended (RFC 3339).
    last_at: String,
}

impl CapabilityView {
    fn of(c: &Capability) -> Self {
        CapabilityView {
            accepted: c.accepted,
            rejected: c.rejected,
            not_implemented: c.not_implemented,
            errors: c.errors,
            timeouts: c.timeouts,
            delivered: c.delivered,
            delivery_rate: c.delivery_rate(),
            mean_latency_ms: c.mean_latency_ms(),
            works_with: c.works_with.clone(),
            known_unsupported: c.known_unsupported(),
            last_outcome: c.last_outcome.map(|o| o.as_str()),
            last_at: rfc3339(c.last_at),
        }
    }
}

/// The last SignCertificate request and what came of it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CertificateView {
    /// When the SignCertificate arrived (RFC 3339).
    requested_at: String,
    /// The 2.0.1 `certificateType` as requested.
    certificate_type: Option<String>,
    /// The CSR's subject.
    csr_subject: Option<String>,
    /// `Signed` or `Rejected`.
    #[schema(value_type = String)]
    status: CertificateRequestStatus,
    /// Why it was rejected.
    reason: Option<String>,
    /// The issued certificate's serial number.
    serial: Option<String>,
    /// The issued certificate's end of validity.
    not_after: Option<String>,
    /// The station's answer to CertificateSigned.
    certificate_signed_status: Option<String>,
    /// When it answered (RFC 3339).
    answered_at: Option<String>,
}

impl CertificateView {
    /// The API's form of a certificate request, shared by the station view and the trigger
    /// answer so both show the same times in the same (RFC 3339) form.
    pub(crate) fn of(c: &CertificateRequest) -> Self {
        CertificateView {
            requested_at: rfc3339(c.requested_at),
            certificate_type: c.certificate_type.clone(),
            csr_subject: c.csr_subject.clone(),
            status: c.status,
            reason: c.reason.clone(),
            serial: c.serial.clone(),
            not_after: c.not_after.clone(),
            certificate_signed_status: c.certificate_signed_status.clone(),
            answered_at: c.answered_at.map(rfc3339),
        }
    }
}

/// Whether a connected station answers: `responsive`, `probing` (quiet, a Heartbeat probe
/// is out) or `unresponsive` (its socket is open but the probe failed).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LivenessView {
    /// `responsive`, `probing` or `unresponsive`.
    status: &'static str,
    /// Since when (RFC 3339); absent while responsive.
    #[serde(skip_serializing_if = "Option::is_none")]
    since: Option<String>,
    /// The failed probe's outcome (null while probing); absent while responsive.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    probe_outcome: Option<Option<String>>,
    /// The failed probe's trigger record (null while probing); absent while responsive.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    probe_trigger_id: Option<Option<String>>,
}

impl LivenessView {
    fn of(station: &str, app: &App) -> Self {
        match app.freshness.liveness(station) {
            None => LivenessView {
                status: "responsive",
                since: None,
                probe_outcome: None,
                probe_trigger_id: None,
            },
            Some(l) => LivenessView {
                status: l.status,
                since: Some(rfc3339(l.since)),
                probe_outcome: Some(l.probe_outcome),
                probe_trigger_id: Some(l.trigger_id),
            },
        }
    }
}

/// The validation policy of a station.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ValidationView {
    /// The policy in force: `strict` or `lenient`.
    mode: String,
    /// The station's own policy, or null when the server default applies.
    station_override: Option<String>,
    /// Schema violations accepted in lenient mode.
    violations: u64,
    /// The last of them, or null.
    last_violation: Option<ViolationView>,
}

/// A schema violation accepted in lenient mode.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ViolationView {
    /// The action of the message.
    action: String,
    /// What was wrong.
    description: String,
    /// When (RFC 3339).
    at: String,
}

impl ViolationView {
    fn of(v: &RecordedViolation) -> Self {
        ViolationView {
            action: v.action.clone(),
            description: v.description.clone(),
            at: rfc3339(v.at),
        }
    }
}
