//! `GET /api/v1/reports/fleet`, `GET /api/v1/reports/health` and
//! `GET /api/v1/stations/{id}/health`: the fleet at a glance and each station's health, read
//! from live station state (no journal scan).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use ocpulse_core::capability::Capability;
use ocpulse_core::fleet_report::FleetCounts;
use ocpulse_core::{StationState, rfc3339};
use serde_json::{Value, json};

use super::query::{Params, only, text};
use super::stations::activity;
use super::{ApiError, parse_limit};
use crate::app::App;
use crate::now_ms;
use crate::registry::StationEntry;

fn locked(entry: &StationEntry) -> Result<std::sync::MutexGuard<'_, StationState>, ApiError> {
    entry.state.lock().map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "station state lock poisoned",
        )
    })
}

/// Fleet counts: stations by connection, protocol, vendor, model, firmware and registration;
/// connectors by status and error code; open transactions.
pub async fn fleet(
    State(app): State<Arc<App>>,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    only(&params, &[])?;
    let mut counts = FleetCounts::default();
    for (_, entry) in app.stations.all() {
        counts.add(&*locked(&entry)?, entry.session.is_some());
    }
    Ok(Json(json!({
        "at": rfc3339(now_ms()),
        "stations": {
            "total": counts.stations,
            "connected": counts.connected,
            "disconnected": counts.disconnected(),
        },
        "byProtocol": counts.by_protocol,
        "byVendor": counts.by_vendor,
        "byModel": counts.by_model,
        "byFirmware": counts.by_firmware,
        "byRegistration": counts.by_registration,
        "connectors": {
            "total": counts.connectors,
            "byStatus": counts.connectors_by_status,
            "byErrorCode": counts.connectors_by_error_code,
        },
        "chargePointsByStatus": counts.charge_points_by_status,
        "openTransactions": counts.open_transactions,
    })))
}

fn trigger_counts(c: &Capability) -> Value {
    json!({
        "total": c.total(), "accepted": c.accepted, "rejected": c.rejected,
        "notImplemented": c.not_implemented, "errors": c.errors, "timeouts": c.timeouts,
        "delivered": c.delivered, "successRate": c.success_rate(),
        "deliveryRate": c.delivery_rate(), "meanLatencyMs": c.mean_latency_ms(),
    })
}

/// One station's health.
fn health_json(s: &StationState, connected: bool, now: ocpulse_core::Millis) -> Value {
    let since = s.connected_since.filter(|_| connected);
    let time = |ms: Option<i64>| ms.map_or(Value::Null, |ms| json!(rfc3339(ms)));
    let by_message: serde_json::Map<String, Value> = s
        .capabilities
        .iter()
        .map(|(name, c)| {
            let mut v = trigger_counts(c);
            v["lastOutcome"] = json!(c.last_outcome.map(|o| o.as_str()));
            v["lastAt"] = json!(rfc3339(c.last_at));
            (name.clone(), v)
        })
        .collect();
    let mut triggers = trigger_counts(&Capability::sum(s.capabilities.values()));
    triggers["byMessage"] = Value::Object(by_message);
    json!({
        "stationId": s.id,
        "protocol": s.protocol,
        "connected": connected,
        "connectedSince": time(since),
        "uptimeSeconds": since.map(|t| (now - t).max(0) / 1000),
        "lastSeen": time(s.last_seen),
        "lastHeartbeat": time(s.last_heartbeat),
        "registrationStatus": s.registration_status,
        "triggers": triggers,
        "violations": s.violations,
        "firmwareStatus": activity(&s.firmware),
        "logStatus": activity(&s.log),
    })
}

/// Every station's health, by station id: `limit` (1–1000, 100) and `after` (the last id of
/// the previous page).
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    only(&params, &["limit", "after"])?;
    let limit = parse_limit(params.get("limit"))?;
    let after = text(&params, "after");
    let now = now_ms();
    let mut out = Vec::new();
    for (id, entry) in app.stations.all() {
        if after.is_some_and(|a| id.as_str() <= a) {
            continue;
        }
        if out.len() == limit {
            break;
        }
        out.push(health_json(&*locked(&entry)?, entry.session.is_some(), now));
    }
    Ok(Json(Value::Array(out)))
}

/// One station's health.
pub async fn one(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    let entry = app
        .stations
        .get(&id)
        .ok_or_else(|| ApiError::station_not_found(&id))?;
    only(&params, &[])?;
    let state = locked(&entry)?;
    Ok(Json(health_json(&state, entry.session.is_some(), now_ms())))
}
