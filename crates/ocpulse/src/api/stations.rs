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
        "validation": {
            "mode": s.validation_mode.unwrap_or(app.config.validation).to_string(),
            "stationOverride": s.validation_mode.map(|m| m.to_string()),
            "violations": s.violations,
            "lastViolation": s.last_violation.as_ref().map(|v| json!({"action": v.action, "description": v.description, "at": rfc3339(v.at)})),
        },
    })
}

fn view(entry: &StationEntry, app: &App) -> Result<Value, ApiError> {
    let state = entry.state.lock().map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "station state lock poisoned",
        )
    })?;
    Ok(station_json(&state, entry.session.is_some(), app))
}

/// Lists every known station.
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

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidationBody {
    mode: Option<String>,
}

/// Sets or clears a station's own validation policy.
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
    {
        let mut state = entry.state.lock().map_err(|_| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "lock poisoned",
            )
        })?;
        state.validation_mode = mode;
    }
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
