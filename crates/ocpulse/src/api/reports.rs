//! `GET /api/v1/reports/fleet`, `GET /api/v1/reports/health` and
//! `GET /api/v1/stations/{id}/health`: the fleet at a glance and each station's health, read
//! from live station state (no journal scan).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use ocpulse_core::capability::Capability;
use ocpulse_core::fleet_report::FleetCounts;
use ocpulse_core::{StationState, rfc3339};
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiError;
use super::openapi::ApiErrorBody;
use super::page::{Order, Page, Paging};
use super::query::Params;
use super::station_view::ActivityView;
use crate::app::App;
use crate::now_ms;

type Counts = std::collections::BTreeMap<String, u64>;

/// The fleet overview. Stations without a value for a breakdown count under `unknown`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FleetReport)]
pub(crate) struct FleetView {
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

impl FleetView {
    fn of(counts: FleetCounts, at: String) -> Self {
        FleetView {
            at,
            stations: FleetStations {
                total: counts.stations,
                connected: counts.connected,
                disconnected: counts.disconnected(),
            },
            by_protocol: counts.by_protocol,
            by_vendor: counts.by_vendor,
            by_model: counts.by_model,
            by_firmware: counts.by_firmware,
            by_registration: counts.by_registration,
            connectors: FleetConnectors {
                total: counts.connectors,
                by_status: counts.connectors_by_status,
                by_error_code: counts.connectors_by_error_code,
            },
            charge_points_by_status: counts.charge_points_by_status,
            open_transactions: counts.open_transactions,
        }
    }
}

/// Station counts of the fleet overview.
#[derive(Serialize, ToSchema)]
pub(crate) struct FleetStations {
    /// Every known station.
    total: u64,
    /// With a live connection.
    connected: u64,
    /// Without one.
    disconnected: u64,
}

/// Connector counts of the fleet overview.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FleetConnectors {
    /// Connectors with a reported status.
    total: u64,
    /// By their latest status.
    by_status: Counts,
    /// By their 1.6 error code (`NoError` left out).
    by_error_code: Counts,
}

/// A station's health.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StationHealth {
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
    /// Last firmware status, or null.
    firmware_status: Option<ActivityView>,
    /// Last log/diagnostics upload status, or null.
    log_status: Option<ActivityView>,
}

impl StationHealth {
    fn of(s: &StationState, connected: bool, now: ocpulse_core::Millis) -> Self {
        let since = s.connected_since.filter(|_| connected);
        StationHealth {
            station_id: s.id.clone(),
            protocol: s.protocol.clone(),
            connected,
            connected_since: since.map(rfc3339),
            uptime_seconds: since.map(|t| (now - t).max(0) / 1000),
            last_seen: s.last_seen.map(rfc3339),
            last_heartbeat: s.last_heartbeat.map(rfc3339),
            registration_status: s.registration_status.clone(),
            triggers: HealthTriggers {
                counts: TriggerCounts::of(&Capability::sum(s.capabilities.values())),
                by_message: s
                    .capabilities
                    .iter()
                    .map(|(name, c)| {
                        let last = MessageTriggers {
                            counts: TriggerCounts::of(c),
                            last_outcome: c.last_outcome.map(|o| o.as_str()),
                            last_at: rfc3339(c.last_at),
                        };
                        (name.clone(), last)
                    })
                    .collect(),
            },
            violations: s.violations,
            firmware_status: s.firmware.as_ref().map(ActivityView::of),
            log_status: s.log.as_ref().map(ActivityView::of),
        }
    }
}

/// Trigger counts of a station: in total, and the same per requestedMessage.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HealthTriggers {
    /// The totals.
    #[serde(flatten)]
    counts: TriggerCounts,
    /// The same counts per requestedMessage, with `lastOutcome` and `lastAt`.
    by_message: std::collections::BTreeMap<String, MessageTriggers>,
}

/// Trigger counts of one requestedMessage.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessageTriggers {
    /// The counts.
    #[serde(flatten)]
    counts: TriggerCounts,
    /// The last trigger's outcome, or null.
    #[schema(value_type = Option<super::trigger_records::TriggerOutcome>)]
    last_outcome: Option<&'static str>,
    /// When the last trigger ended (RFC 3339).
    last_at: String,
}

/// How a station answered triggers.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TriggerCounts {
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
}

impl TriggerCounts {
    fn of(c: &Capability) -> Self {
        TriggerCounts {
            total: c.total(),
            accepted: c.accepted,
            rejected: c.rejected,
            not_implemented: c.not_implemented,
            errors: c.errors,
            timeouts: c.timeouts,
            delivered: c.delivered,
            success_rate: c.success_rate(),
            delivery_rate: c.delivery_rate(),
            mean_latency_ms: c.mean_latency_ms(),
        }
    }
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
    _undecodable_is_refused: Query<Params>,
) -> Result<Json<FleetView>, ApiError> {
    let mut counts = FleetCounts::default();
    for (_, entry) in app.stations.all() {
        counts.add(&entry.state.lock(), entry.connected());
    }
    Ok(Json(FleetView::of(counts, rfc3339(now_ms()))))
}

/// Every station's health, by station id, a page at a time (`next` is the last station id).
#[utoipa::path(
    get,
    path = "/api/v1/reports/health",
    tag = "reports",
    params(Paging),
    responses(
        (status = 200, description = "A page of stations' health, by station id", body = Page<StationHealth>),
        (status = 400, description = "A bad `limit` (`invalid_limit`), an unknown parameter (`invalid_query`) or an undecodable query", body = ApiErrorBody),
        (status = 500, description = "Internal error", body = ApiErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<Params>,
) -> Result<Json<Page<StationHealth>>, ApiError> {
    let paging = Paging::parse(&params)?;
    let now = now_ms();
    let page = paging.page(
        app.stations.all(),
        Order::Ascending,
        |(id, _)| id.as_str(),
        |(_, entry)| StationHealth::of(&entry.state.lock(), entry.connected(), now),
    );
    Ok(Json(page))
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
    _undecodable_is_refused: Query<Params>,
) -> Result<Json<StationHealth>, ApiError> {
    let entry = app
        .stations
        .get(&id)
        .ok_or_else(|| ApiError::station_not_found(&id))?;
    let state = entry.state.lock();
    Ok(Json(StationHealth::of(&state, entry.connected(), now_ms())))
}
