//! `/api/v1/freshness`: freshness targets that make ocpulse refresh stale station data by
//! itself.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ocpulse_core::freshness::{FreshData, FreshnessTarget};
use ocpulse_core::rfc3339;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::jobs::StationSelector;
use super::openapi::ApiErrorBody;
use super::page::{Order, Page, Paging};
use super::query::Params;
use super::schedules::{Deleted, store_error};
use super::{ApiError, parse_body};
use crate::app::App;
use crate::freshness::TargetStats;
use crate::{freshness, now_ms};

const FRESH_EXAMPLE: &str = r#"{"name": "status fresh", "selector": {"all": true}, "data": "connectorStatus", "maxAgeSeconds": 900} or {"selector": {"all": true}, "data": "meterValues", "maxAgeSeconds": 300, "onlyWhileCharging": true}"#;

/// A freshness target as created.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "status fresh", "selector": {"all": true}, "data": "connectorStatus", "maxAgeSeconds": 900}))]
struct FreshnessBody {
    /// A label for people.
    name: Option<String>,
    /// Which stations. Required.
    #[schema(value_type = StationSelector, required = true)]
    selector: Option<StationSelector>,
    /// What must stay fresh. Required.
    #[schema(value_type = FreshDataName, required = true)]
    data: Option<FreshDataName>,
    /// How old it may get, in seconds (1 to 7 days). Required.
    #[schema(value_type = u64, required = true, minimum = 1, maximum = 604_800)]
    max_age_seconds: Option<u64>,
    /// Only while a connector is Charging or a transaction is open (default false).
    only_while_charging: Option<bool>,
}

/// What a freshness target keeps fresh.
#[derive(Clone, Copy, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
enum FreshDataName {
    /// Every known connector's status (refreshed with StatusNotification).
    ConnectorStatus,
    /// The latest meter reading (MeterValues).
    MeterValues,
    /// Any message at all (a Heartbeat is triggered when the station has been quiet).
    Heartbeat,
}

impl From<FreshDataName> for FreshData {
    fn from(d: FreshDataName) -> Self {
        match d {
            FreshDataName::ConnectorStatus => FreshData::ConnectorStatus,
            FreshDataName::MeterValues => FreshData::MeterValues,
            FreshDataName::Heartbeat => FreshData::Heartbeat,
        }
    }
}

impl From<FreshData> for FreshDataName {
    fn from(d: FreshData) -> Self {
        match d {
            FreshData::ConnectorStatus => FreshDataName::ConnectorStatus,
            FreshData::MeterValues => FreshDataName::MeterValues,
            FreshData::Heartbeat => FreshDataName::Heartbeat,
        }
    }
}

/// A freshness target as the API shows it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FreshnessTarget)]
pub(crate) struct TargetView {
    /// The target id.
    target_id: String,
    /// Its label, or null.
    name: Option<String>,
    /// Which stations.
    selector: StationSelector,
    /// What must stay fresh.
    data: FreshDataName,
    /// How old it may get, in seconds.
    max_age_seconds: u64,
    /// Only while charging.
    only_while_charging: bool,
    /// When it was created (RFC 3339).
    created_at: String,
    /// Refresh triggers started (since this server started).
    refreshes: u64,
    /// Of those, how many brought the data.
    succeeded: u64,
    /// And how many did not.
    failed: u64,
    /// Each station's latest refresh, by station id.
    stations: BTreeMap<String, TargetStationView>,
}

impl TargetView {
    fn of(t: &FreshnessTarget, stats: &TargetStats) -> Self {
        TargetView {
            target_id: t.id.clone(),
            name: t.name.clone(),
            selector: StationSelector::from(&t.selector),
            data: t.data.into(),
            max_age_seconds: t.max_age_seconds,
            only_while_charging: t.only_while_charging,
            created_at: rfc3339(t.created_at),
            refreshes: stats.refreshes,
            succeeded: stats.succeeded,
            failed: stats.failed,
            stations: stats
                .stations
                .iter()
                .map(|(id, l)| {
                    let last = TargetStationView {
                        outcome: l.outcome.as_str(),
                        at: rfc3339(l.at),
                        trigger_id: l.trigger_id.clone(),
                    };
                    (id.clone(), last)
                })
                .collect(),
        }
    }
}

/// A station's latest refresh under a freshness target.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FreshnessStation)]
pub(crate) struct TargetStationView {
    /// The trigger's outcome.
    #[schema(value_type = super::trigger_records::TriggerOutcome)]
    outcome: &'static str,
    /// When it ended (RFC 3339).
    at: String,
    /// Its trigger record.
    trigger_id: String,
}

fn target_not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "freshness_target_not_found",
        format!("no freshness target with id {id:?}; GET /api/v1/freshness lists them"),
    )
}

/// Creates a freshness target (201).
#[utoipa::path(
    post,
    path = "/api/v1/freshness",
    tag = "freshness",
    request_body(content = FreshnessBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The target", body = TargetView),
        (status = 400, description = "Not a JSON object of this shape (`invalid_body`), a missing field (`missing_field`), a bad selector (`empty_selector`, `invalid_selector`, `too_many_station_ids`) or `maxAgeSeconds` out of range (`invalid_max_age`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 503, description = "The target could not be stored (`store_unavailable`)", body = ApiErrorBody),
    )
)]
pub async fn create(State(app): State<Arc<App>>, raw: Bytes) -> Result<Response, ApiError> {
    let body: FreshnessBody = parse_body(&raw, FRESH_EXAMPLE)?;
    let missing = |field: &str| {
        ApiError::bad_request(
            "missing_field",
            format!("{field} is required, e.g. {FRESH_EXAMPLE}"),
        )
    };
    let target = FreshnessTarget {
        id: uuid::Uuid::now_v7().simple().to_string(),
        name: body.name,
        selector: body.selector.ok_or_else(|| missing("selector"))?.into(),
        data: body
            .data
            .ok_or_else(|| missing("data (connectorStatus, meterValues or heartbeat)"))?
            .into(),
        max_age_seconds: body
            .max_age_seconds
            .ok_or_else(|| missing("maxAgeSeconds"))?,
        only_while_charging: body.only_while_charging.unwrap_or(false),
        created_at: now_ms(),
    };
    target
        .check()
        .map_err(|e| ApiError::bad_request(e.code, e.message))?;
    freshness::put(&app, target.clone())
        .await
        .map_err(store_error)?;
    Ok((
        StatusCode::CREATED,
        Json(TargetView::of(&target, &TargetStats::default())),
    )
        .into_response())
}

/// Every freshness target with its refresh counts.
#[utoipa::path(
    get,
    path = "/api/v1/freshness",
    tag = "freshness",
    params(Paging),
    responses(
        (status = 200, description = "A page of freshness targets, oldest first; `next` is the last target id", body = Page<TargetView>),
        (status = 400, description = "A bad `limit` (`invalid_limit`), an unknown parameter (`invalid_query`) or an undecodable query", body = ApiErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<Params>,
) -> Result<Json<Page<TargetView>>, ApiError> {
    let paging = Paging::parse(&params)?;
    Ok(Json(paging.page(
        app.freshness.list(),
        Order::Ascending,
        |(t, _)| t.id.as_str(),
        |(t, s)| TargetView::of(&t, &s),
    )))
}

/// One freshness target with each station's latest refresh.
#[utoipa::path(
    get,
    path = "/api/v1/freshness/{id}",
    tag = "freshness",
    params(("id" = String, Path, description = "The target id")),
    responses(
        (status = 200, description = "The target", body = TargetView),
        (status = 400, description = "The path is not valid UTF-8 (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "No target with this id (`freshness_target_not_found`)", body = ApiErrorBody),
    )
)]
pub async fn one(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<TargetView>, ApiError> {
    let (t, s) = app
        .freshness
        .get(&id)
        .ok_or_else(|| target_not_found(&id))?;
    Ok(Json(TargetView::of(&t, &s)))
}

/// Deletes a freshness target.
#[utoipa::path(
    delete,
    path = "/api/v1/freshness/{id}",
    tag = "freshness",
    params(("id" = String, Path, description = "The target id")),
    responses(
        (status = 200, description = "The target was deleted", body = Deleted),
        (status = 400, description = "The path is not valid UTF-8 (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "No target with this id (`freshness_target_not_found`)", body = ApiErrorBody),
        (status = 503, description = "The deletion could not be stored (`store_unavailable`)", body = ApiErrorBody),
    )
)]
pub async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    if freshness::delete(&app, &id).await.map_err(store_error)? {
        Ok(Json(Deleted { deleted: id }))
    } else {
        Err(target_not_found(&id))
    }
}
