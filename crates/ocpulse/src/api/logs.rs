//! Log uploads: `POST /api/v1/stations/{id}/logs` asks a station for its log
//! (GetDiagnostics / GetLog) with a one-time upload URL on this server; `GET
//! /api/v1/logs`, `/api/v1/logs/{id}` and `/api/v1/logs/{id}/content` read the requests,
//! their progress and the uploaded file. The upload itself (`/uploads/{token}`) is the
//! station's endpoint, in `uploads.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ocpulse_core::log_request::{
    LOG_TYPES, LogAsk, LogRequest, Progress, Status, StoredFile, View,
};
use ocpulse_core::rfc3339;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::auth::Caller;
use super::call_failure::{Unanswered, station_answer};
use super::openapi::ApiErrorBody;
use super::page::{Order, Page, Paging};
use super::query::storage;
use super::{ApiError, parse_body};
use crate::app::App;
use crate::logs::{self, StartError};

const EXAMPLE: &str = r#"{"logType": "DiagnosticsLog", "wait": true}"#;
const MAX_TIMEOUT_MS: u64 = 600_000;
/// The wait for the upload when the caller waits and names no timeoutMs.
const DEFAULT_WAIT_MS: u64 = 120_000;
/// How often a waiting request looks for the upload or a failure.
const POLL: Duration = Duration::from_millis(200);

/// The request body: a JSON object, every field optional (`{}` asks for the diagnostics
/// log); an empty body is refused like everywhere in the API.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = LogRequestBody, examples(
    json!({}),
    json!({"logType": "SecurityLog", "from": "2026-12-01T00:00:00Z", "wait": true, "timeoutMs": 60000})
))]
struct Body {
    /// `DiagnosticsLog` (default) or `SecurityLog`: sent as GetLog's `logType`. A 1.6
    /// station is sent GetDiagnostics without it, and the security extension's GetLog
    /// with it.
    #[schema(value_type = Option<String>, example = "DiagnosticsLog")]
    log_type: Option<String>,
    /// The oldest log entry wanted (RFC 3339): 1.6 `startTime`, GetLog `oldestTimestamp`.
    from: Option<String>,
    /// The latest log entry wanted (RFC 3339): 1.6 `stopTime`, GetLog `latestTimestamp`.
    to: Option<String>,
    /// How long the station has to answer the CALL, and with `wait` how long to wait for
    /// the upload in all, in ms (default: the server's call timeout; 120000 with `wait`).
    #[schema(minimum = 1, maximum = 600_000)]
    timeout_ms: Option<u64>,
    /// Wait until the file arrives or the upload fails (bounded by timeoutMs).
    wait: Option<bool>,
}

/// One progress notification.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = LogProgress)]
struct ProgressView {
    /// The station's status (`Uploading`, `Uploaded`, `UploadFailed`, `UploadFailure`, ...).
    status: String,
    /// When it arrived (RFC 3339).
    at: String,
}

/// The uploaded file.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = LogFile)]
struct FileView {
    /// Size in bytes.
    size: u64,
    /// SHA-256, lower-case hex.
    sha256: String,
    /// The content type it was uploaded with.
    content_type: String,
    /// The name the station gave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    file_name: Option<String>,
    /// When it arrived (RFC 3339).
    received_at: String,
    /// Where to download it.
    content_url: String,
}

/// A log request as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = LogRequest)]
pub(crate) struct LogView {
    /// The request id.
    id: String,
    /// The station asked.
    station_id: String,
    /// Its version when asked.
    protocol: String,
    /// The CALL sent: `GetDiagnostics` (1.6) or `GetLog`.
    action: &'static str,
    /// GetLog's log type.
    #[serde(skip_serializing_if = "Option::is_none")]
    log_type: Option<String>,
    /// GetLog's requestId (LogStatusNotification names it).
    request_id: i64,
    /// `requested` (no answer yet), `accepted`, `uploading`, `received` (the file is
    /// here), `uploadedElsewhere` (the station says Uploaded but no file came), `failed`,
    /// `rejected` or `error` (the CALL failed).
    #[schema(value_type = String, example = "received")]
    status: &'static str,
    /// The station's answer: GetLog's status (`Accepted`, `Rejected`, `AcceptedCanceled`;
    /// GetDiagnostics counts as `Accepted`) or the call's failure code.
    #[serde(skip_serializing_if = "Option::is_none")]
    answer: Option<String>,
    /// What went wrong with the call, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    answer_detail: Option<String>,
    /// The file name the station announced in its answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    file_name: Option<String>,
    /// The uploaded file, once it arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<FileView>,
    /// The station's status notifications about it, oldest first.
    progress: Vec<ProgressView>,
    /// When it was made (RFC 3339).
    created_at: String,
    /// The upload URL takes a file until then (RFC 3339).
    expires_at: String,
    /// Who asked (the API token's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    requested_by: Option<String>,
}

impl LogView {
    fn of(r: LogRequest, view: View) -> Self {
        let progress = view
            .progress
            .into_iter()
            .map(|Progress { status, at, .. }| ProgressView {
                status,
                at: rfc3339(at),
            })
            .collect();
        let file = r.file.map(|f: StoredFile| FileView {
            size: f.size,
            sha256: f.sha256,
            content_type: f.content_type,
            file_name: f.file_name,
            received_at: rfc3339(f.at),
            content_url: format!("/api/v1/logs/{}/content", r.id),
        });
        Self {
            action: r.call.action(),
            status: view.status.as_str(),
            answer: r.answer.as_ref().map(|a| a.status.clone()),
            answer_detail: r.answer.as_ref().and_then(|a| a.detail.clone()),
            file_name: r.answer.and_then(|a| a.file_name),
            file,
            progress,
            created_at: rfc3339(r.created_at),
            expires_at: rfc3339(r.expires_at),
            id: r.id,
            station_id: r.station_id,
            protocol: r.protocol,
            log_type: r.log_type,
            request_id: r.request_id,
            requested_by: r.requested_by,
        }
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "log_not_found",
        format!("no log request with id {id:?}; GET /api/v1/logs lists them"),
    )
}

fn check_time(name: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(t) if ocpulse_core::parse_rfc3339(&t).is_none() => Err(ApiError::bad_request(
            "invalid_time",
            format!(
                "{name} must be an RFC 3339 time such as \"2026-12-01T00:00:00Z\", got {t:?}; nothing was sent"
            ),
        )),
        other => Ok(other),
    }
}

/// Reads and checks the body: every refusal here happens before anything is sent.
fn ask(body: Body) -> Result<(LogAsk, Option<u64>, bool), ApiError> {
    if let Some(t) = &body.log_type
        && !LOG_TYPES.contains(&t.as_str())
    {
        return Err(ApiError::bad_request(
            "invalid_log_type",
            format!("logType {t:?} is not a log type; use DiagnosticsLog or SecurityLog"),
        )
        .with("validValues", LOG_TYPES));
    }
    let from = check_time("from", body.from)?;
    let to = check_time("to", body.to)?;
    if let (Some(f), Some(t)) = (&from, &to)
        && ocpulse_core::parse_rfc3339(f) > ocpulse_core::parse_rfc3339(t)
    {
        return Err(ApiError::bad_request(
            "invalid_time",
            format!("from ({f}) is after to ({t}); nothing was sent"),
        ));
    }
    if let Some(ms) = body.timeout_ms
        && !(1..=MAX_TIMEOUT_MS).contains(&ms)
    {
        return Err(ApiError::bad_request(
            "invalid_timeout",
            format!("timeoutMs must be from 1 to {MAX_TIMEOUT_MS}, got {ms}"),
        ));
    }
    Ok((
        LogAsk {
            log_type: body.log_type,
            from,
            to,
        },
        body.timeout_ms,
        body.wait.unwrap_or(false),
    ))
}

/// Asks a station for its log.
#[utoipa::path(
    post,
    path = "/api/v1/stations/{id}/logs",
    tag = "logs",
    params(("id" = String, Path, description = "The station id", example = "CP0001")),
    request_body(content = Body, content_type = "application/json"),
    responses(
        (status = 200, description = "`wait: true` and the request ended: the file arrived (`received`), or the station refused or failed", body = LogView),
        (status = 202, description = "The station answered the CALL (`accepted` or `rejected`); with `wait: true`, timeoutMs passed before the upload ended", body = LogView),
        (status = 400, description = "A malformed body (`invalid_body`), a bad `logType` (`invalid_log_type`, with `validValues`), `from`/`to` (`invalid_time`) or `timeoutMs` (`invalid_timeout`); nothing was sent", body = ApiErrorBody),
        (status = 404, description = "No station with this id ever connected (`station_not_found`)", body = ApiErrorBody),
        (status = 409, description = "The station is not connected (`station_not_connected`)", body = ApiErrorBody),
        (status = 500, description = "Internal error", body = ApiErrorBody),
        (status = 502, description = "The station answered with a CALLERROR (`station_call_error`), an invalid payload (`invalid_station_response`), or disconnected (`station_disconnected`); `logId` names the stored request", body = ApiErrorBody),
        (status = 504, description = "The station did not answer within timeoutMs (`station_timeout`); `logId` names the stored request", body = ApiErrorBody),
    )
)]
pub async fn create(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let body: Body = parse_body(&raw, EXAMPLE)?;
    let (ask, timeout_ms, wait) = ask(body)?;
    let default_ms = if wait {
        DEFAULT_WAIT_MS
    } else {
        u64::try_from(app.config.call_timeout.as_millis()).unwrap_or(30_000)
    };
    let total = Duration::from_millis(timeout_ms.unwrap_or(default_ms));
    let call_timeout = timeout_ms.map_or(app.config.call_timeout, Duration::from_millis);
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let requested_by = Some(super::send_trigger::requested_by(
        &headers,
        caller.as_deref(),
    )?);
    let started_request = logs::start(&app, &id, ask, host, requested_by, call_timeout)
        .await
        .map_err(|e| match e {
            StartError::Refused(r) => ApiError::from(r),
            StartError::Store(e) => storage(e),
        })?;
    let mut request = started_request.request;
    let after_timeout = format!(
        "it may still upload, GET /api/v1/logs/{} shows it",
        request.id
    );
    let unanswered = Unanswered {
        waited: Some(call_timeout),
        after_timeout: &after_timeout,
        after_drop: "",
    };
    station_answer(
        &id,
        request.call.action(),
        started_request.outcome.clone(),
        &unanswered,
    )
    .map_err(|e| e.with("logId", &request.id))?;
    let mut view = logs::view(&app, &request, &[]).await.map_err(storage)?;
    if wait {
        let deadline = started + total;
        while !view.status.is_final() && Instant::now() < deadline {
            tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
            if let Some(now) = logs::one(&app, &request.id).await.map_err(storage)? {
                request = now;
            }
            view = logs::view(&app, &request, &[]).await.map_err(storage)?;
        }
    }
    let code = if wait && view.status.is_final() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((code, Json(LogView::of(request, view))).into_response())
}

/// `GET /api/v1/logs?station=&status=&limit=&after=`: newest first.
#[utoipa::path(
    get,
    path = "/api/v1/logs",
    tag = "logs",
    params(
        ("station" = Option<String>, Query, description = "Only this station's requests", example = "CP0001"),
        ("status" = Option<String>, Query, description = "Only requests in this status (`received`, `failed`, ...)"),
        Paging,
    ),
    responses(
        (status = 200, description = "A page of log requests, newest first; `next` is the last id", body = Page<LogView>),
        (status = 400, description = "A bad `status` (`invalid_status`, with `validValues`), `limit` (`invalid_limit`) or an unknown parameter (`invalid_query`)", body = ApiErrorBody),
        (status = 500, description = "Internal error", body = ApiErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let status = params.get("status").filter(|s| !s.is_empty());
    if let Some(s) = status
        && !Status::ALL.contains(&s.as_str())
    {
        return Err(ApiError::bad_request(
            "invalid_status",
            format!("status {s:?} is not a log request status"),
        )
        .with("validValues", Status::ALL));
    }
    let paging = Paging::parse(&params)?;
    let all = logs::all(&app).await.map_err(storage)?;
    let station = params.get("station").filter(|s| !s.is_empty());
    let mut items = Vec::new();
    for r in all
        .iter()
        .rev()
        .filter(|r| station.is_none_or(|s| *s == r.station_id))
        .filter(|r| paging.after.as_ref().is_none_or(|a| r.id < *a))
    {
        let view = logs::view(&app, r, &all).await.map_err(storage)?;
        if status.is_some_and(|s| s != view.status.as_str()) {
            continue;
        }
        items.push(LogView::of(r.clone(), view));
        if items.len() > paging.limit {
            break;
        }
    }
    Ok(Json(paging.page(items, Order::Descending, |v| v.id.as_str(), |v| v)).into_response())
}

/// One log request with its progress.
#[utoipa::path(
    get,
    path = "/api/v1/logs/{id}",
    tag = "logs",
    params(("id" = String, Path, description = "The log request id")),
    responses(
        (status = 200, description = "The request", body = LogView),
        (status = 404, description = "No log request with this id (`log_not_found`)", body = ApiErrorBody),
        (status = 500, description = "Internal error", body = ApiErrorBody),
    )
)]
pub async fn one(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<LogView>, ApiError> {
    let all = logs::all(&app).await.map_err(storage)?;
    let r = all
        .iter()
        .find(|r| r.id == id)
        .ok_or_else(|| not_found(&id))?;
    let view = logs::view(&app, r, &all).await.map_err(storage)?;
    Ok(Json(LogView::of(r.clone(), view)))
}

/// The uploaded file, as it arrived.
#[utoipa::path(
    get,
    path = "/api/v1/logs/{id}/content",
    tag = "logs",
    params(("id" = String, Path, description = "The log request id")),
    responses(
        (status = 200, description = "The file, with the media type it was uploaded with (`application/octet-stream` when it came with none, or with one that is not a media type)", content_type = "*/*", body = Vec<u8>),
        (status = 404, description = "No log request with this id (`log_not_found`)", body = ApiErrorBody),
        (status = 409, description = "No file arrived for it (yet) (`log_not_received`, with `status`)", body = ApiErrorBody),
        (status = 500, description = "Internal error, or the file is missing from the data directory", body = ApiErrorBody),
    )
)]
pub async fn content(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let r = logs::one(&app, &id)
        .await
        .map_err(storage)?
        .ok_or_else(|| not_found(&id))?;
    let Some(file) = &r.file else {
        let status = logs::view(&app, &r, &[]).await.map_err(storage)?.status;
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "log_not_received",
            format!(
                "no file arrived for log request {id:?} (status {}); GET /api/v1/logs/{id} shows its progress",
                status.as_str()
            ),
        )
        .with("status", status.as_str()));
    };
    let path = logs::file_path(&app, &r);
    let read = path.clone();
    let bytes = tokio::task::spawn_blocking(move || std::fs::read(read))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| {
            ApiError::internal(format!(
                "the file of log request {id:?} cannot be read from {}: {e}",
                path.display()
            ))
        })?;
    let name: String = file
        .file_name
        .as_deref()
        .unwrap_or(&ocpulse_core::log_request::stored_name(&r.id))
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
        .collect();
    let content_type = header::HeaderValue::from_str(&file.content_type)
        .unwrap_or(header::HeaderValue::from_static("application/octet-stream"));
    let disposition = header::HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or(header::HeaderValue::from_static("attachment"));
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}
