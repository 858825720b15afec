//! `GET /api/v1/reports/fleet`, `GET /api/v1/reports/health` and
//! `GET /api/v1/stations/{id}/health`: the fleet at a glance and each station's health, read
//! from live station state (no journal scan).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use ocpulse_core::capability::Capability;
use ocpulse_core::fleet_report::FleetCounts;
use ocpulse_core::{StationState, rfc3339};
use serde_json::{Value, json};

use super::openapi::ApiErrorBody;
use super::query::{Params, only, text};
use super::stations::activity;
use super::{ApiError, parse_limit};
use crate::app::App;
use crate::now_ms;

type Counts = std::collections::BTreeMap<String, u64>;

/// The fleet overview (`fleet` builds it). Stations without a value for a breakdown count
/// under `unknown`.
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FleetReport)]
#[allow(dead_code)] // documentation only
struct FleetView {
    /// When it was computed (RFC 3339).
    at: String,
    /// Stations by connection.
    stations: FleetStations,
    /// Stations by subprotocol.
    by_protocol: Counts,
    /// Stations by boot vendor.
    by_vendor: Counts,
    /// Stations by boot model.
    by_model: Counts,
    /// Stations by boot firmware version.
    by_firmware: Counts,
    /// Stations by the registration status their latest boot got.
    by_registration: Counts,
    /// Connectors with a reported status.
    connectors: FleetConnectors,
    /// 1.6 stations by their connector 0 status.
    charge_points_by_status: Counts,
    /// Open transactions across the fleet.
    open_transactions: u64,
}

/// Station counts of the fleet overview.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only
struct FleetStations {
    /// Every known station.
    total: u64,
    /// With a live connection.
    connected: u64,
    /// Without one.
    disconnected: u64,
}

/// Connector counts of the fleet overview.
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // documentation only
struct FleetConnectors {
    /// Connectors with a reported status.
    total: u64,
    /// By their latest status.
    by_status: Counts,
    /// By their 1.6 error code (`NoError` left out).
    by_error_code: Counts,
}

/// A station's health (`health_json` builds it).
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // documentation only
struct StationHealth {
    /// The station.
    station_id: String,
    /// Its subprotocol, or null.
    protocol: Option<String>,
    /// Whether it has a live connection.
    connected: bool,
    /// Since when (RFC 3339), or null when not connected.
    connected_since: Option<String>,
    /// Seconds since it connected, or null.
    uptime_seconds: Option<i64>,
    /// When any frame was last received (RFC 3339), or null.
    last_seen: Option<String>,
    /// When the last Heartbeat was received (RFC 3339), or null.
    last_heartbeat: Option<String>,
    /// The answer its latest BootNotification got, or null.
    registration_status: Option<String>,
    /// What it did with triggers, in total and by requestedMessage.
    triggers: HealthTriggers,
    /// Schema violations accepted in lenient mode.
    violations: u64,
    /// Last firmware status (status, requestId, reportedBy, receivedAt), or null.
    firmware_status: Option<Value>,
    /// Last log/diagnostics upload status, or null.
    log_status: Option<Value>,
}

/// Trigger counts of a station.
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // documentation only
struct HealthTriggers {
    /// Answered triggers.
    total: u64,
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
    /// delivered / total, or null before any.
    success_rate: Option<f64>,
    /// delivered / accepted, or null before any.
    delivery_rate: Option<f64>,
    /// Mean time to the message, or null.
    mean_latency_ms: Option<f64>,
    /// The same counts per requestedMessage, with `lastOutcome` and `lastAt`.
    by_message: std::collections::BTreeMap<String, Value>,
}

/// Fleet counts: stations by connection, protocol, vendor, model, firmware and registration;
/// connectors by status and error code; open transactions.
#[utoipa::path(
    get,
    path = "/api/v1/reports/fleet",
    tag = "reports",
    responses(
        (status = 200, description = "The fleet at a glance", body = FleetView),
        (status = 400, description = "Any query parameter (`invalid_query`: this endpoint takes none) or an undecodable query", body = ApiErrorBody),
        (status = 500, description = "Internal error", body = ApiErrorBody),
    )
)]
pub async fn fleet(
    State(app): State<Arc<App>>,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    only(&params, &[])?;
    let mut counts = FleetCounts::default();
    for (_, entry) in app.stations.all() {
        counts.add(&entry.state.lock(), entry.session.is_some());
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
#[utoipa::path(
    get,
    path = "/api/v1/reports/health",
    tag = "reports",
    params(
        ("limit" = Option<u32>, Query, description = "Page size (default 100)", minimum = 1, maximum = 1000),
        ("after" = Option<String>, Query, description = "The last station id of the previous page (empty: from the start)", example = "CP0001"),
    ),
    responses(
        (status = 200, description = "Stations' health, by station id", body = Vec<StationHealth>),
        (status = 400, description = "A bad `limit` (`invalid_limit`), an unknown parameter (`invalid_query`) or an undecodable query", body = ApiErrorBody),
        (status = 500, description = "Internal error", body = ApiErrorBody),
    )
)]
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
        out.push(health_json(
            &entry.state.lock(),
            entry.session.is_some(),
            now,
        ));
    }
    Ok(Json(Value::Array(out)))
}

/// One station's health.
#[utoipa::path(
    get,
    path = "/api/v1/stations/{id}/health",
    tag = "reports",
    params(("id" = String, Path, description = "The station id", example = "CP0001")),
    responses(
        (status = 200, description = "The station's health", body = StationHealth),
        (status = 400, description = "Any query parameter (`invalid_query`: this endpoint takes none) or an undecodable path/query", body = ApiErrorBody),
        (status = 404, description = "No station with this id ever connected (`station_not_found`)", body = ApiErrorBody),
        (status = 500, description = "Internal error", body = ApiErrorBody),
    )
)]
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
    let state = entry.state.lock();
    Ok(Json(health_json(&state, entry.session.is_some(), now_ms())))
}
