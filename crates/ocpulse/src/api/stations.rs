//! `GET /api/v1/stations`, `GET /api/v1/stations/{id}`, `PUT /api/v1/stations/{id}/validation`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use ocpulse_core::state::{
    ActivityStatus, CertificateRequest, ConnectorStatus, MeterReading, Transaction,
};
use ocpulse_core::store::WriteBatch;
use ocpulse_core::{StationState, ValidationMode, rfc3339};
use serde_json::{Value, json};

use super::openapi::ApiErrorBody;
use super::{ApiError, parse_body};
use crate::app::App;
use crate::registry::StationEntry;

fn time(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |ms| json!(rfc3339(ms)))
}

fn connector(c: &ConnectorStatus) -> Value {
    let mut v = json!({"connectorId": c.connector_id, "status": c.status, "timestamp": c.timestamp, "receivedAt": rfc3339(c.received_at)});
    if let Some(e) = c.evse_id {
        v["evseId"] = json!(e);
    }
    for (k, f) in [
        ("errorCode", &c.error_code),
        ("info", &c.info),
        ("vendorErrorCode", &c.vendor_error_code),
    ] {
        if let Some(x) = f {
            v[k] = json!(x);
        }
    }
    v
}

fn meter(m: &MeterReading) -> Value {
    let mut v = json!({"timestamp": m.timestamp, "sampledValue": m.sampled_value, "receivedAt": rfc3339(m.received_at)});
    if let Some(e) = m.evse_id {
        v["evseId"] = json!(e);
    }
    if let Some(c) = m.connector_id {
        v["connectorId"] = json!(c);
    }
    if let Some(t) = &m.transaction_id {
        v["transactionId"] = json!(t);
    }
    v
}

pub(crate) fn activity(a: &Option<ActivityStatus>) -> Value {
    a.as_ref().map_or(Value::Null, |a| json!({"status": a.status, "requestId": a.request_id, "reportedBy": a.action, "receivedAt": rfc3339(a.received_at)}))
}

fn transaction(t: &Transaction) -> Value {
    json!({
        "transactionId": t.transaction_id, "connectorId": t.connector_id, "evseId": t.evse_id, "idTag": t.id_tag,
        "meterStart": t.meter_start, "chargingState": t.charging_state, "startedAt": t.started_at,
    })
}

fn certificate(c: &CertificateRequest) -> Value {
    json!({
        "requestedAt": rfc3339(c.requested_at), "certificateType": c.certificate_type, "csrSubject": c.csr_subject,
        "status": c.status, "reason": c.reason, "serial": c.serial, "notAfter": c.not_after,
        "certificateSignedStatus": c.certificate_signed_status, "answeredAt": time(c.answered_at),
    })
}

/// Whether the station answers: `responsive`, `probing` (quiet, a Heartbeat probe is out)
/// or `unresponsive` (its socket is open but the probe failed); `null` when not connected.
fn liveness(s: &StationState, connected: bool, app: &App) -> Value {
    if !connected {
        return Value::Null;
    }
    match app.freshness.liveness(&s.id) {
        None => json!({"status": "responsive"}),
        Some(l) => json!({
            "status": l.status, "since": rfc3339(l.since),
            "probeOutcome": l.probe_outcome, "probeTriggerId": l.trigger_id,
        }),
    }
}

/// A station as the API shows it (`station_json` builds it).
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // documentation only
pub(crate) struct StationView {
    /// The identity the station connected with (`/ocpp/{id}`).
    #[schema(example = "CP0001")]
    id: String,
    /// Whether it has a live connection now.
    connected: bool,
    /// The negotiated subprotocol, e.g. `ocpp1.6` or `ocpp2.0.1`.
    protocol: Option<String>,
    /// Its last BootNotification (vendor, model, serialNumber, firmwareVersion, reason, payload, receivedAt).
    boot: Option<Value>,
    /// The CSMS's answer to that BootNotification.
    registration_status: Option<String>,
    /// The last StatusNotification per connector.
    connectors: Vec<ConnectorView>,
    /// The last meter values per connector/EVSE (timestamp, sampledValue, receivedAt, ...).
    meter_values: Vec<Value>,
    /// Last firmware status (status, requestId, reportedBy, receivedAt), or null.
    firmware_status: Option<Value>,
    /// Last log/diagnostics upload status, or null.
    log_status: Option<Value>,
    /// Transactions in progress.
    transactions: Vec<Value>,
    /// When any frame was last received (RFC 3339).
    last_seen: Option<String>,
    /// When the last Heartbeat was received (RFC 3339).
    last_heartbeat: Option<String>,
    /// What the station did with each requestedMessage so far, by name (accepted, rejected,
    /// notImplemented, errors, timeouts, delivered, deliveryRate, meanLatencyMs, ...).
    capabilities: std::collections::BTreeMap<String, Value>,
    /// The last SignCertificate request and its result, or null.
    certificate: Option<Value>,
    /// The schema validation policy that applies to it.
    validation: ValidationView,
    /// Whether it answers: `{"status": "responsive"}`, `probing` or `unresponsive` (with
    /// since, probeOutcome, probeTriggerId); null when not connected.
    liveness: Option<Value>,
    /// Its registration (how it must authenticate), or null when it is not registered.
    registration: Option<super::registrations::RegistrationView>,
}

/// A connector's last StatusNotification.
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // documentation only
pub(crate) struct ConnectorView {
    /// The connector (1.6: station-wide number; 2.0.1: within its EVSE).
    connector_id: i64,
    /// 2.0.1 only: the EVSE.
    evse_id: Option<i64>,
    /// The status as the station reported it.
    status: String,
    /// The station's own timestamp.
    timestamp: Option<String>,
    /// When ocpulse received it (RFC 3339).
    received_at: String,
    /// 1.6 only.
    error_code: Option<String>,
    /// 1.6 only.
    info: Option<String>,
    /// 1.6 only.
    vendor_error_code: Option<String>,
}

/// The validation policy of a station.
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // documentation only
pub(crate) struct ValidationView {
    /// The policy in force: `strict` or `lenient`.
    mode: String,
    /// The station's own policy, or null when the server default applies.
    station_override: Option<String>,
    /// Schema violations accepted in lenient mode.
    violations: u64,
    /// The last of them (action, description, at), or null.
    last_violation: Option<Value>,
}

/// The API view of a station.
pub(crate) fn station_json(s: &StationState, connected: bool, app: &App) -> Value {
    let boot = s.boot.as_ref().map_or(Value::Null, |b| {
        json!({
            "vendor": b.vendor, "model": b.model, "serialNumber": b.serial_number, "firmwareVersion": b.firmware_version,
            "reason": b.reason, "payload": b.payload, "receivedAt": rfc3339(b.received_at),
        })
    });
    json!({
        "id": s.id,
        "connected": connected,
        "protocol": s.protocol,
        "boot": boot,
        "registrationStatus": s.registration_status,
        "connectors": s.connectors.iter().map(connector).collect::<Vec<_>>(),
        "meterValues": s.meter_values.iter().map(meter).collect::<Vec<_>>(),
        "firmwareStatus": activity(&s.firmware),
        "logStatus": activity(&s.log),
        "transactions": s.transactions.iter().map(transaction).collect::<Vec<_>>(),
        "lastSeen": time(s.last_seen),
        "lastHeartbeat": time(s.last_heartbeat),
        "capabilities": s.capabilities.iter().map(|(name, c)| (name.clone(), json!({
            "accepted": c.accepted, "rejected": c.rejected, "notImplemented": c.not_implemented,
            "errors": c.errors, "timeouts": c.timeouts, "delivered": c.delivered,
            "deliveryRate": c.delivery_rate(), "meanLatencyMs": c.mean_latency_ms(),
            "worksWith": c.works_with, "knownUnsupported": c.known_unsupported(),
            "lastOutcome": c.last_outcome.map(|o| o.as_str()), "lastAt": rfc3339(c.last_at),
        }))).collect::<serde_json::Map<String, Value>>(),
        "certificate": s.certificate.as_ref().map_or(Value::Null, certificate),
        "liveness": liveness(s, connected, app),
        "registration": app.gate.registrations.get(&s.id).map(|r| super::registrations::RegistrationView::of(&r, app)),
        "validation": {
            "mode": s.validation_mode.unwrap_or(app.config.validation).to_string(),
            "stationOverride": s.validation_mode.map(|m| m.to_string()),
            "violations": s.violations,
            "lastViolation": s.last_violation.as_ref().map(|v| json!({"action": v.action, "description": v.description, "at": rfc3339(v.at)})),
        },
    })
}

fn view(entry: &StationEntry, app: &App) -> Result<Value, ApiError> {
    let state = entry.state.lock();
    Ok(station_json(&state, entry.session.is_some(), app))
}

/// Lists every known station.
#[utoipa::path(
    get,
    path = "/api/v1/stations",
    tag = "stations",
    responses(
        (status = 200, description = "Every station that ever connected or is registered", body = Vec<StationView>),
        (status = "4XX", description = "Any client error the framework makes (e.g. 405 for another method)", body = ApiErrorBody),
        (status = 500, description = "Internal error", body = ApiErrorBody),
    )
)]
pub async fn list(State(app): State<Arc<App>>) -> Result<Json<Value>, ApiError> {
    let all = app
        .stations
        .all()
        .iter()
        .map(|(_, e)| view(e, &app))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(Value::Array(all)))
}

/// One station.
#[utoipa::path(
    get,
    path = "/api/v1/stations/{id}",
    tag = "stations",
    params(("id" = String, Path, description = "The station id", example = "CP0001")),
    responses(
        (status = 200, description = "The station", body = StationView),
        (status = 400, description = "The path is not valid UTF-8 (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "No station with this id ever connected (`station_not_found`)", body = ApiErrorBody),
        (status = 500, description = "Internal error", body = ApiErrorBody),
    )
)]
pub async fn one(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let entry = app
        .stations
        .get(&id)
        .ok_or_else(|| ApiError::station_not_found(&id))?;
    Ok(Json(view(&entry, &app)?))
}

/// The body of `PUT /api/v1/stations/{id}/validation`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ValidationBody {
    /// `strict` or `lenient`; null (or absent) to use the server default (`--validation`).
    #[schema(value_type = Option<ValidationModeName>)]
    mode: Option<String>,
}

/// A validation policy.
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // documentation only: `ValidationMode` (core) parses these names
enum ValidationModeName {
    /// Schema failures are answered with CALLERROR.
    Strict,
    /// Schema failures are accepted, journaled and counted.
    Lenient,
}

/// Sets or clears a station's own validation policy.
#[utoipa::path(
    put,
    path = "/api/v1/stations/{id}/validation",
    tag = "stations",
    params(("id" = String, Path, description = "The station id", example = "CP0001")),
    request_body(content = ValidationBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The station with its new policy", body = StationView),
        (status = 400, description = "Not a JSON object of this shape (`invalid_body`), an unknown mode (`invalid_validation_mode`) or an undecodable path (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "No station with this id ever connected (`station_not_found`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 500, description = "Internal or storage error", body = ApiErrorBody),
    )
)]
pub async fn set_validation(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let entry = app
        .stations
        .get(&id)
        .ok_or_else(|| ApiError::station_not_found(&id))?;
    let body: ValidationBody = parse_body(
        &body,
        r#"{"mode": "lenient"} (or "strict", or null to use the server default)"#,
    )?;
    let mode = body
        .mode
        .map(|m| m.parse::<ValidationMode>())
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_validation_mode", e))?;
    entry.state.lock().validation_mode = mode;
    app.store
        .commit(WriteBatch {
            entries: Vec::new(),
            station: Some(Arc::clone(&entry.state)),
            ..WriteBatch::default()
        })
        .await
        .map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "storage_error",
                e.to_string(),
            )
        })?;
    Ok(Json(view(&entry, &app)?))
}
