//! `/api/v1/trigger-jobs`: one trigger request sent to many stations, with admission
//! control, progress, per-station results, cancel and resume after a restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ocpp_rpc::ProtocolVersion;
use ocpulse_core::fleet_job::{Job, JobLimits, JobSpec, JobStatus, JobTrigger, succeeded};
use ocpulse_core::selector::Selector;
use ocpulse_core::trigger_plan::{self, TriggerRequest};
use ocpulse_core::{StationState, rfc3339};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, parse_body, parse_limit};
use crate::app::App;
use crate::jobs::{self, CancelError, JobHandle};
use crate::now_ms;

const EXAMPLE: &str = r#"{"selector": {"all": true} or {"stationIds": ["CP1", "CP2"]} or {"protocol": "ocpp1.6", "connectorStatus": "Charging"}, "trigger": {"requestedMessage": "StatusNotification"}, "concurrency": 100, "ratePerSecond": 200, "retries": 2, "retryBackoffMs": 1000}"#;

/// The longest a caller may wait for a job in one request.
const MAX_WAIT_MS: u64 = 300_000;

/// `POST /api/v1/trigger-jobs` body: the spec, flat, plus whether to wait.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateBody {
    name: Option<String>,
    selector: Option<Selector>,
    trigger: Option<JobTrigger>,
    concurrency: Option<u32>,
    rate_per_second: Option<f64>,
    retries: Option<u32>,
    retry_backoff_ms: Option<u64>,
    spread_ms: Option<u64>,
    wait: Option<bool>,
    wait_timeout_ms: Option<u64>,
    include_messages: Option<bool>,
}

/// Turns a create body into a checked spec; shared with schedules, which carry the same one.
pub(crate) fn spec_from(
    name: Option<String>,
    selector: Option<Selector>,
    trigger: Option<JobTrigger>,
    limits: JobLimits,
    example: &str,
) -> Result<JobSpec, ApiError> {
    let selector = selector.ok_or_else(|| {
        ApiError::bad_request(
            "missing_selector",
            format!("selector is required: which stations to trigger, e.g. {example}"),
        )
    })?;
    let trigger = trigger.ok_or_else(|| {
        ApiError::bad_request(
            "missing_trigger",
            format!("trigger is required: what to ask each station, e.g. {example}"),
        )
    })?;
    if name.as_ref().is_some_and(|n| n.len() > 200) {
        return Err(ApiError::bad_request(
            "invalid_name",
            "name must be at most 200 characters",
        ));
    }
    let spec = JobSpec {
        name,
        selector,
        trigger,
        limits,
    };
    spec.check()
        .map_err(|e| ApiError::bad_request(e.code, e.message))?;
    refuse_for_every_version(&spec.trigger.request())?;
    Ok(spec)
}

/// A request that no station of either version could take (an unknown message name, a
/// target out of range) is refused now, rather than failing on every station later.
fn refuse_for_every_version(request: &TriggerRequest) -> Result<(), ApiError> {
    let blank = StationState::new("");
    let errors: Vec<_> = [ProtocolVersion::V16, ProtocolVersion::V201]
        .into_iter()
        .filter_map(|v| trigger_plan::plan_all(v, request, &blank).err())
        .collect();
    let stateless = [
        "unknown_requested_message",
        "invalid_target",
        "conflicting_target",
    ];
    match errors.as_slice() {
        [a, b] if a.code == b.code && stateless.contains(&a.code) => {
            let mut err = ApiError::bad_request(a.code, format!("trigger: {}", b.message));
            if a.code == "unknown_requested_message" {
                let mut valid = trigger_plan::valid_messages(ProtocolVersion::V201);
                for m in trigger_plan::valid_messages(ProtocolVersion::V16) {
                    if !valid.contains(&m) {
                        valid.push(m);
                    }
                }
                err = err.with("validValues", json!(valid));
            }
            Err(err)
        }
        _ => Ok(()),
    }
}

/// Who asked: `X-Requested-By`, else `api`.
fn requested_by(headers: &HeaderMap) -> Result<String, ApiError> {
    match headers.get("x-requested-by") {
        None => Ok("api".into()),
        Some(v) => match v.to_str() {
            Ok(s) if !s.trim().is_empty() && s.len() <= 128 => Ok(s.trim().to_owned()),
            _ => Err(ApiError::bad_request(
                "invalid_requested_by",
                "X-Requested-By must be visible ASCII text of 1 to 128 characters naming who asks",
            )),
        },
    }
}

/// Creates and starts a job; with `"wait": true`, answers when it ends (or the wait ends).
pub async fn create(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let by = requested_by(&headers)?;
    let body: CreateBody = parse_body(&raw, EXAMPLE)?;
    let defaults = JobLimits::default();
    let limits = JobLimits {
        concurrency: body.concurrency.unwrap_or(defaults.concurrency),
        rate_per_second: body.rate_per_second,
        retries: body.retries.unwrap_or(defaults.retries),
        retry_backoff_ms: body.retry_backoff_ms.unwrap_or(defaults.retry_backoff_ms),
        spread_ms: body.spread_ms.unwrap_or(0),
    };
    let body_include_messages = body.include_messages.unwrap_or(false);
    let spec = spec_from(body.name, body.selector, body.trigger, limits, EXAMPLE)?;
    let wait_ms = body.wait_timeout_ms.unwrap_or(60_000);
    if !(1..=MAX_WAIT_MS).contains(&wait_ms) {
        return Err(ApiError::bad_request(
            "invalid_wait_timeout",
            format!("waitTimeoutMs must be from 1 to {MAX_WAIT_MS}, got {wait_ms}"),
        ));
    }
    let handle = jobs::create(&app, spec, by)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", e.0))?;
    let status = if body.wait.unwrap_or(false) {
        let finished = handle.finished.notified();
        if !handle.is_finished() {
            let _ = tokio::time::timeout(Duration::from_millis(wait_ms), finished).await;
        }
        if handle.is_finished() {
            StatusCode::OK
        } else {
            StatusCode::ACCEPTED
        }
    } else {
        StatusCode::ACCEPTED
    };
    let job = handle
        .snapshot()
        .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "job lock"))?;
    let location = format!("/api/v1/trigger-jobs/{}", job.id);
    let mut body = view(&job, Results::All);
    if body_include_messages {
        add_messages(&app, &mut body).await;
    }
    Ok((status, [(header::LOCATION, location)], Json(body)).into_response())
}

/// Which per-station results a view carries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Results {
    None,
    Failed,
    All,
}

/// The job as the API shows it: request, progress counts, and per-station results.
fn view(job: &Job, results: Results) -> Value {
    let counts = job.counts();
    let ok: usize = counts
        .iter()
        .filter(|(k, _)| succeeded(k))
        .map(|(_, n)| n)
        .sum();
    let open: usize = job.results.iter().filter(|r| r.is_open()).count();
    let end = job.finished_at.unwrap_or_else(now_ms);
    let mut v = json!({
        "jobId": job.id,
        "name": job.spec.name,
        "status": job.status,
        "requestedBy": job.requested_by,
        "selector": job.spec.selector,
        "trigger": job.spec.trigger,
        "limits": job.spec.limits,
        "createdAt": rfc3339(job.created_at),
        "finishedAt": job.finished_at.map(rfc3339),
        "elapsedMs": end.saturating_sub(job.created_at),
        "resumed": job.resumed,
        "total": job.results.len(),
        "succeeded": ok,
        "failed": job.results.len() - ok - open,
        "open": open,
        "counts": counts,
    });
    if results != Results::None {
        v["results"] = job
            .results
            .iter()
            .filter(|r| results == Results::All || (!r.is_open() && !succeeded(&r.outcome)))
            .map(|r| {
                let mut o = json!({
                    "stationId": r.station_id,
                    "outcome": r.outcome,
                    "attempts": r.attempts,
                });
                if let Some(t) = &r.trigger_id {
                    o["triggerId"] = json!(t);
                }
                if let Some(d) = &r.detail {
                    o["detail"] = json!(d);
                }
                if let Some(e) = r.elapsed_ms {
                    o["elapsedMs"] = json!(e);
                }
                if let Some(f) = r.finished_at {
                    o["finishedAt"] = json!(rfc3339(f));
                }
                o
            })
            .collect();
    }
    v
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "job_not_found",
        format!("no trigger job with id {id:?}; GET /api/v1/trigger-jobs lists them"),
    )
}

fn check_params(params: &HashMap<String, String>, allowed: &[&str]) -> Result<(), ApiError> {
    if let Some(k) = params.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad_request(
            "unknown_parameter",
            format!(
                "unknown query parameter {k:?}; this endpoint takes {}",
                allowed.join(", ")
            ),
        ));
    }
    Ok(())
}

fn parse_results(value: Option<&String>) -> Result<Results, ApiError> {
    match value.map(String::as_str) {
        None | Some("all") => Ok(Results::All),
        Some("failed") => Ok(Results::Failed),
        Some("none") => Ok(Results::None),
        Some(other) => Err(ApiError::bad_request(
            "invalid_results",
            format!("results must be all, failed or none, got {other:?}"),
        )),
    }
}

/// Adds each result's correlated messages (from its trigger record): what the fleet sent.
async fn add_messages(app: &App, body: &mut Value) {
    let Some(results) = body.get_mut("results").and_then(Value::as_array_mut) else {
        return;
    };
    for r in results {
        let Some(id) = r["triggerId"].as_str().map(str::to_owned) else {
            continue;
        };
        let held = app.running.lock().ok().and_then(|x| x.get(&id).cloned());
        let record = match held {
            Some(rec) => Some(rec),
            None => app.store.trigger(id).await.ok().flatten(),
        };
        if let Some(rec) = record {
            r["messages"] = rec
                .messages
                .iter()
                .map(|m| json!({"action": m.action, "messageId": m.message_id, "payload": m.payload, "receivedAt": m.received_at}))
                .collect();
        }
    }
}

/// One job with its progress and per-station results (`?results=all|failed|none`,
/// `?include=messages` adds each station's messages).
pub async fn one(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    check_params(&params, &["results", "include"])?;
    let results = parse_results(params.get("results"))?;
    let include_messages = match params.get("include").map(String::as_str) {
        None => false,
        Some("messages") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_include",
                format!("include must be \"messages\", got {other:?}"),
            ));
        }
    };
    let job = app
        .jobs
        .get(&id)
        .and_then(|h| h.snapshot())
        .ok_or_else(|| not_found(&id))?;
    let mut body = view(&job, results);
    if include_messages {
        add_messages(&app, &mut body).await;
    }
    Ok(Json(body))
}

/// Jobs, newest first, without per-station results (`?status=&limit=`).
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    check_params(&params, &["status", "limit"])?;
    let limit = parse_limit(params.get("limit"))?;
    let status = match params.get("status").map(String::as_str) {
        None => None,
        Some("running") => Some(JobStatus::Running),
        Some("completed") => Some(JobStatus::Completed),
        Some("cancelled") => Some(JobStatus::Cancelled),
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_status",
                format!("status must be running, completed or cancelled, got {other:?}"),
            ));
        }
    };
    let jobs: Vec<Value> = app
        .jobs
        .list()
        .iter()
        .filter_map(|h| h.snapshot())
        .filter(|j| status.is_none_or(|s| j.status == s))
        .take(limit)
        .map(|j| view(&j, Results::None))
        .collect();
    Ok(Json(Value::Array(jobs)))
}

/// Cancels a running job; 409 if it already ended.
pub async fn cancel(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let handle: Arc<JobHandle> = match app.jobs.cancel(&id) {
        Ok(h) => h,
        Err(CancelError::NotFound) => return Err(not_found(&id)),
        Err(CancelError::Finished(status)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "job_finished",
                format!(
                    "trigger job {id:?} already ended ({status:?}); only a running job can be cancelled"
                ),
            ));
        }
    };
    // The runner marks the stations it had not started; give it a moment so the answer
    // shows the cancelled job rather than the instant before.
    let finished = handle.finished.notified();
    if !handle.is_finished() {
        let _ = tokio::time::timeout(Duration::from_secs(2), finished).await;
    }
    let job = handle
        .snapshot()
        .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "job lock"))?;
    Ok(Json(view(&job, Results::None)))
}
