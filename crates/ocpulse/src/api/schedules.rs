//! `/api/v1/schedules`: recurring trigger plans with jitter and a per-station record of
//! results.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ocpulse_core::rfc3339;
use ocpulse_core::schedule::{self, Schedule};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::jobs::{JobLimitsView, JobTriggerBody, StationSelector, limits_from, spec_from};
use super::openapi::ApiErrorBody;
use super::page::{Order, Page, Paging};
use super::query::Params;
use super::{ApiError, parse_body};
use crate::app::App;
use crate::{now_ms, schedules};

const EXAMPLE: &str = r#"{"name": "hourly heartbeat", "selector": {"all": true}, "trigger": {"requestedMessage": "Heartbeat"}, "everySeconds": 3600, "jitterSeconds": 60}"#;

/// A schedule as created or replaced.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "hourly heartbeat", "selector": {"all": true}, "trigger": {"requestedMessage": "Heartbeat"}, "everySeconds": 3600, "jitterSeconds": 60}))]
struct ScheduleBody {
    /// A label for people (at most 200 bytes).
    #[schema(max_length = 200)]
    name: Option<String>,
    /// Which stations (chosen anew at each firing). Required.
    #[schema(value_type = StationSelector, required = true)]
    selector: Option<StationSelector>,
    /// What to ask each station. Required.
    #[schema(value_type = JobTriggerBody, required = true)]
    trigger: Option<JobTriggerBody>,
    /// Seconds between firings (1 to 30 days). Required.
    #[schema(value_type = u64, required = true, minimum = 1, maximum = 2_592_000)]
    every_seconds: Option<u64>,
    /// Each firing's station starts are spread over this many seconds (default 0; at most
    /// `everySeconds`).
    #[schema(minimum = 0, maximum = 3600)]
    jitter_seconds: Option<u64>,
    /// Paused schedules keep their record but do not fire (default true).
    enabled: Option<bool>,
    /// Triggers of a firing in flight at once (default 100).
    #[schema(minimum = 1, maximum = 10_000)]
    concurrency: Option<u32>,
    /// Station starts per second, 0.001 to 100000 (default: as fast as the concurrency allows).
    #[schema(minimum = 0.001, maximum = 100_000)]
    rate_per_second: Option<f64>,
    /// Retries per station after a retryable outcome (default 2).
    #[schema(minimum = 0, maximum = 10)]
    retries: Option<u32>,
    /// Backoff before the first retry, in ms (default 1000).
    #[schema(minimum = 1, maximum = 300_000)]
    retry_backoff_ms: Option<u64>,
}

/// A schedule as the API shows it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Schedule)]
pub(crate) struct ScheduleView {
    /// The schedule id.
    schedule_id: String,
    /// Its label, or null.
    name: Option<String>,
    /// Whether it fires.
    enabled: bool,
    /// Which stations.
    selector: StationSelector,
    /// What each is asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    trigger: Option<JobTriggerBody>,
    /// Seconds between firings.
    every_seconds: u64,
    /// Start spread of each firing, in seconds.
    jitter_seconds: u64,
    /// Admission control of each firing's job.
    limits: JobLimitsView,
    /// When it was created (RFC 3339); firings are on a grid from it.
    created_at: String,
    /// When it fires next (RFC 3339).
    next_run_at: String,
    /// How many times it fired.
    runs: u64,
    /// Firings skipped because the previous run was still going.
    skipped: u64,
    /// The latest firing, or null.
    last_run: Option<ScheduleRunView>,
    /// Each station's latest result, by station id (absent in the list).
    #[serde(skip_serializing_if = "Option::is_none")]
    stations: Option<BTreeMap<String, ScheduleStationView>>,
}

impl ScheduleView {
    /// The view of `s`, with each station's latest result or without (lists).
    fn of(s: &Schedule, with_stations: bool) -> Self {
        ScheduleView {
            schedule_id: s.id.clone(),
            name: s.job.name.clone(),
            enabled: s.enabled,
            selector: StationSelector::from(&s.job.selector),
            trigger: s.job.trigger.as_ref().map(JobTriggerBody::from),
            every_seconds: s.every_seconds,
            jitter_seconds: s.job.limits.spread_ms / 1000,
            limits: JobLimitsView::from(&s.job.limits),
            created_at: rfc3339(s.created_at),
            next_run_at: rfc3339(s.next_run_at),
            runs: s.runs,
            skipped: s.skipped,
            last_run: s.last_run.as_ref().map(|r| ScheduleRunView {
                job_id: r.job_id.clone(),
                started_at: rfc3339(r.started_at),
                finished_at: r.finished_at.map(rfc3339),
                counts: r.counts.clone(),
            }),
            stations: with_stations.then(|| {
                s.stations
                    .iter()
                    .map(|(id, l)| {
                        let last = ScheduleStationView {
                            outcome: l.outcome.as_str(),
                            at: rfc3339(l.at),
                            job_id: l.job_id.clone(),
                            trigger_id: l.trigger_id.clone(),
                            failures_in_a_row: l.failures_in_a_row,
                        };
                        (id.clone(), last)
                    })
                    .collect()
            }),
        }
    }
}

/// A schedule's latest firing.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ScheduleRun)]
pub(crate) struct ScheduleRunView {
    /// The job it ran (`GET /api/v1/trigger-jobs/{id}`).
    job_id: String,
    /// When it started (RFC 3339).
    started_at: String,
    /// When its job ended (RFC 3339), or null.
    finished_at: Option<String>,
    /// Stations per outcome, once it ended.
    counts: BTreeMap<String, usize>,
}

/// A station's latest result under a schedule.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ScheduleStation)]
pub(crate) struct ScheduleStationView {
    /// The outcome (a trigger outcome or a job outcome such as `Offline`).
    #[schema(value_type = String)]
    outcome: &'static str,
    /// When it ended (RFC 3339).
    at: String,
    /// The job of that firing.
    job_id: String,
    /// The trigger record, or null when no trigger was sent.
    trigger_id: Option<String>,
    /// Consecutive firings that did not succeed for this station.
    failures_in_a_row: u32,
}

/// The answer of a DELETE: the id of what was deleted.
#[derive(Serialize, ToSchema)]
pub(super) struct Deleted {
    /// The id.
    pub(super) deleted: String,
}

pub(super) fn store_error(e: ocpulse_core::store::StoreError) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        e.detail(),
    )
}

fn schedule_not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "schedule_not_found",
        format!("no schedule with id {id:?}; GET /api/v1/schedules lists them"),
    )
}

/// Builds a checked schedule from a body; `existing` keeps id, grid and record on replace.
fn schedule_from(raw: &[u8], existing: Option<Schedule>) -> Result<Schedule, ApiError> {
    let body: ScheduleBody = parse_body(raw, EXAMPLE)?;
    let every = body.every_seconds.ok_or_else(|| {
        ApiError::bad_request(
            "missing_interval",
            format!("everySeconds is required, e.g. {EXAMPLE}"),
        )
    })?;
    let limits = limits_from(
        body.concurrency,
        body.rate_per_second,
        body.retries,
        body.retry_backoff_ms,
        body.jitter_seconds.unwrap_or(0).saturating_mul(1000),
    );
    schedule::check(every, &limits).map_err(|e| ApiError::bad_request(e.code, e.message))?;
    let job = spec_from(
        body.name,
        body.selector,
        body.trigger,
        None,
        limits,
        EXAMPLE,
    )?;
    let now = now_ms();
    let every_ms = i64::try_from(every.saturating_mul(1000)).unwrap_or(i64::MAX);
    Ok(match existing {
        Some(mut s) => {
            s.job = job;
            s.enabled = body.enabled.unwrap_or(true);
            if s.every_seconds != every {
                s.every_seconds = every;
                s.created_at = now;
                s.next_run_at = schedule::next_after(now, every_ms, now);
            }
            s
        }
        None => Schedule {
            id: uuid::Uuid::now_v7().simple().to_string(),
            job,
            every_seconds: every,
            enabled: body.enabled.unwrap_or(true),
            created_at: now,
            next_run_at: schedule::next_after(now, every_ms, now),
            runs: 0,
            skipped: 0,
            last_run: None,
            stations: Default::default(),
        },
    })
}

/// Creates a schedule (201); it first fires one interval from now.
#[utoipa::path(
    post,
    path = "/api/v1/schedules",
    tag = "schedules",
    request_body(content = ScheduleBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The schedule", body = ScheduleView),
        (status = 400, description = "Not a JSON object of this shape (`invalid_body`), a missing `everySeconds` (`missing_interval`), an interval or jitter out of range (`invalid_interval`, `invalid_jitter`, `invalid_spread`), or a bad job spec (as for trigger jobs: `missing_selector`, `empty_selector`, `invalid_selector`, `too_many_station_ids`, `missing_trigger`, `invalid_concurrency`, `unknown_requested_message`, ...)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 503, description = "The schedule could not be stored (`store_unavailable`)", body = ApiErrorBody),
    )
)]
pub async fn create(State(app): State<Arc<App>>, raw: Bytes) -> Result<Response, ApiError> {
    let s = schedule_from(&raw, None)?;
    schedules::put(&app, s.clone()).await.map_err(store_error)?;
    Ok((StatusCode::CREATED, Json(ScheduleView::of(&s, true))).into_response())
}

/// Replaces a schedule's plan, keeping its record (and its grid unless the interval changed).
#[utoipa::path(
    put,
    path = "/api/v1/schedules/{id}",
    tag = "schedules",
    params(("id" = String, Path, description = "The schedule id")),
    request_body(content = ScheduleBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The schedule as replaced", body = ScheduleView),
        (status = 400, description = "A body refused as on create, or an undecodable path", body = ApiErrorBody),
        (status = 404, description = "No schedule with this id (`schedule_not_found`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 503, description = "The schedule could not be stored (`store_unavailable`)", body = ApiErrorBody),
    )
)]
pub async fn replace(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    raw: Bytes,
) -> Result<Json<ScheduleView>, ApiError> {
    let existing = app
        .schedules
        .get(&id)
        .ok_or_else(|| schedule_not_found(&id))?;
    let s = schedule_from(&raw, Some(existing))?;
    schedules::put(&app, s.clone()).await.map_err(store_error)?;
    Ok(Json(ScheduleView::of(&s, true)))
}

/// Every schedule, without per-station records.
#[utoipa::path(
    get,
    path = "/api/v1/schedules",
    tag = "schedules",
    params(Paging),
    responses(
        (status = 200, description = "A page of schedules, oldest first, without `stations`; `next` is the last schedule id", body = Page<ScheduleView>),
        (status = 400, description = "A bad `limit` (`invalid_limit`), an unknown parameter (`invalid_query`) or an undecodable query", body = ApiErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<Params>,
) -> Result<Json<Page<ScheduleView>>, ApiError> {
    let paging = Paging::parse(&params)?;
    Ok(Json(paging.page(
        app.schedules.list(),
        Order::Ascending,
        |s| s.id.as_str(),
        |s| ScheduleView::of(&s, false),
    )))
}

/// One schedule with each station's latest result.
#[utoipa::path(
    get,
    path = "/api/v1/schedules/{id}",
    tag = "schedules",
    params(("id" = String, Path, description = "The schedule id")),
    responses(
        (status = 200, description = "The schedule with `stations`", body = ScheduleView),
        (status = 400, description = "The path is not valid UTF-8 (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "No schedule with this id (`schedule_not_found`)", body = ApiErrorBody),
    )
)]
pub async fn one(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<ScheduleView>, ApiError> {
    let s = app
        .schedules
        .get(&id)
        .ok_or_else(|| schedule_not_found(&id))?;
    Ok(Json(ScheduleView::of(&s, true)))
}

/// Deletes a schedule (a firing already running finishes).
#[utoipa::path(
    delete,
    path = "/api/v1/schedules/{id}",
    tag = "schedules",
    params(("id" = String, Path, description = "The schedule id")),
    responses(
        (status = 200, description = "The schedule was deleted", body = Deleted),
        (status = 400, description = "The path is not valid UTF-8 (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "No schedule with this id (`schedule_not_found`)", body = ApiErrorBody),
        (status = 503, description = "The deletion could not be stored (`store_unavailable`)", body = ApiErrorBody),
    )
)]
pub async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    if schedules::delete(&app, &id).await.map_err(store_error)? {
        Ok(Json(Deleted { deleted: id }))
    } else {
        Err(schedule_not_found(&id))
    }
}
