//! `/api/v1/schedules`: recurring trigger plans with jitter and a per-station record of
//! results; `/api/v1/freshness`: freshness targets that make ocpulse refresh stale data.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ocpulse_core::fleet_job::{JobLimits, JobTrigger};
use ocpulse_core::freshness::{FreshData, FreshnessTarget};
use ocpulse_core::rfc3339;
use ocpulse_core::schedule::{self, Schedule};
use ocpulse_core::selector::Selector;
use serde::Deserialize;
use serde_json::{Value, json};

use super::jobs::spec_from;
use super::{ApiError, parse_body};
use crate::app::App;
use crate::freshness::TargetStats;
use crate::{freshness, now_ms, schedules};

const EXAMPLE: &str = r#"{"name": "hourly heartbeat", "selector": {"all": true}, "trigger": {"requestedMessage": "Heartbeat"}, "everySeconds": 3600, "jitterSeconds": 60}"#;

/// A schedule as created or replaced.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ScheduleBody {
    name: Option<String>,
    selector: Option<Selector>,
    trigger: Option<JobTrigger>,
    every_seconds: Option<u64>,
    jitter_seconds: Option<u64>,
    enabled: Option<bool>,
    concurrency: Option<u32>,
    rate_per_second: Option<f64>,
    retries: Option<u32>,
    retry_backoff_ms: Option<u64>,
}

fn store_error(e: ocpulse_core::store::StoreError) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", e.0)
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
    let defaults = JobLimits::default();
    let limits = JobLimits {
        concurrency: body.concurrency.unwrap_or(defaults.concurrency),
        rate_per_second: body.rate_per_second,
        retries: body.retries.unwrap_or(defaults.retries),
        retry_backoff_ms: body.retry_backoff_ms.unwrap_or(defaults.retry_backoff_ms),
        spread_ms: body.jitter_seconds.unwrap_or(0).saturating_mul(1000),
    };
    schedule::check(every, &limits).map_err(|e| ApiError::bad_request(e.code, e.message))?;
    let job = spec_from(body.name, body.selector, body.trigger, limits, EXAMPLE)?;
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

fn schedule_view(s: &Schedule, with_stations: bool) -> Value {
    let mut v = json!({
        "scheduleId": s.id,
        "name": s.job.name,
        "enabled": s.enabled,
        "selector": s.job.selector,
        "trigger": s.job.trigger,
        "everySeconds": s.every_seconds,
        "jitterSeconds": s.job.limits.spread_ms / 1000,
        "limits": s.job.limits,
        "createdAt": rfc3339(s.created_at),
        "nextRunAt": rfc3339(s.next_run_at),
        "runs": s.runs,
        "skipped": s.skipped,
        "lastRun": s.last_run.as_ref().map(|r| json!({
            "jobId": r.job_id,
            "startedAt": rfc3339(r.started_at),
            "finishedAt": r.finished_at.map(rfc3339),
            "counts": r.counts,
        })),
    });
    if with_stations {
        v["stations"] = s
            .stations
            .iter()
            .map(|(id, l)| {
                (
                    id.clone(),
                    json!({
                        "outcome": l.outcome, "at": rfc3339(l.at), "jobId": l.job_id,
                        "triggerId": l.trigger_id, "failuresInARow": l.failures_in_a_row,
                    }),
                )
            })
            .collect::<serde_json::Map<String, Value>>()
            .into();
    }
    v
}

/// Creates a schedule (201); it first fires one interval from now.
pub async fn create(State(app): State<Arc<App>>, raw: Bytes) -> Result<Response, ApiError> {
    let s = schedule_from(&raw, None)?;
    schedules::put(&app, s.clone()).await.map_err(store_error)?;
    Ok((StatusCode::CREATED, Json(schedule_view(&s, true))).into_response())
}

/// Replaces a schedule's plan, keeping its record (and its grid unless the interval changed).
pub async fn replace(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    raw: Bytes,
) -> Result<Json<Value>, ApiError> {
    let existing = app
        .schedules
        .get(&id)
        .ok_or_else(|| schedule_not_found(&id))?;
    let s = schedule_from(&raw, Some(existing))?;
    schedules::put(&app, s.clone()).await.map_err(store_error)?;
    Ok(Json(schedule_view(&s, true)))
}

/// Every schedule, without per-station records.
pub async fn list(State(app): State<Arc<App>>) -> Json<Value> {
    Json(Value::Array(
        app.schedules
            .list()
            .iter()
            .map(|s| schedule_view(s, false))
            .collect(),
    ))
}

/// One schedule with each station's latest result.
pub async fn one(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = app
        .schedules
        .get(&id)
        .ok_or_else(|| schedule_not_found(&id))?;
    Ok(Json(schedule_view(&s, true)))
}

/// Deletes a schedule (a firing already running finishes).
pub async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if schedules::delete(&app, &id).await.map_err(store_error)? {
        Ok(Json(json!({"deleted": id})))
    } else {
        Err(schedule_not_found(&id))
    }
}

const FRESH_EXAMPLE: &str = r#"{"name": "status fresh", "selector": {"all": true}, "data": "connectorStatus", "maxAgeSeconds": 900} or {"selector": {"all": true}, "data": "meterValues", "maxAgeSeconds": 300, "onlyWhileCharging": true}"#;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FreshnessBody {
    name: Option<String>,
    selector: Option<Selector>,
    data: Option<FreshData>,
    max_age_seconds: Option<u64>,
    only_while_charging: Option<bool>,
}

fn target_not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "freshness_target_not_found",
        format!("no freshness target with id {id:?}; GET /api/v1/freshness lists them"),
    )
}

fn target_view(t: &FreshnessTarget, stats: &TargetStats) -> Value {
    json!({
        "targetId": t.id,
        "name": t.name,
        "selector": t.selector,
        "data": t.data,
        "maxAgeSeconds": t.max_age_seconds,
        "onlyWhileCharging": t.only_while_charging,
        "createdAt": rfc3339(t.created_at),
        "refreshes": stats.refreshes,
        "succeeded": stats.succeeded,
        "failed": stats.failed,
        "stations": stats.stations.iter().map(|(id, l)| (id.clone(), json!({
            "outcome": l.outcome, "at": rfc3339(l.at), "triggerId": l.trigger_id,
        }))).collect::<serde_json::Map<String, Value>>(),
    })
}

/// Creates a freshness target (201).
pub async fn create_target(State(app): State<Arc<App>>, raw: Bytes) -> Result<Response, ApiError> {
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
        selector: body.selector.ok_or_else(|| missing("selector"))?,
        data: body
            .data
            .ok_or_else(|| missing("data (connectorStatus, meterValues or heartbeat)"))?,
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
        Json(target_view(&target, &TargetStats::default())),
    )
        .into_response())
}

/// Every freshness target with its refresh counts.
pub async fn list_targets(
    State(app): State<Arc<App>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    if let Some(k) = params.keys().next() {
        return Err(ApiError::bad_request(
            "unknown_parameter",
            format!("unknown query parameter {k:?}; this endpoint takes none"),
        ));
    }
    Ok(Json(Value::Array(
        app.freshness
            .list()
            .iter()
            .map(|(t, s)| target_view(t, s))
            .collect(),
    )))
}

/// One freshness target with each station's latest refresh.
pub async fn one_target(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (t, s) = app
        .freshness
        .get(&id)
        .ok_or_else(|| target_not_found(&id))?;
    Ok(Json(target_view(&t, &s)))
}

/// Deletes a freshness target.
pub async fn delete_target(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if freshness::delete(&app, &id).await.map_err(store_error)? {
        Ok(Json(json!({"deleted": id})))
    } else {
        Err(target_not_found(&id))
    }
}
