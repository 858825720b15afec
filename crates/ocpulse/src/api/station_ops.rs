//! The typed station operations: `POST /api/v1/stations/{id}/reset`,
//! `/change-availability`, `/unlock-connector` and `/clear-cache`. One vocabulary for
//! every version, translated by `ocpulse_core::station_ops` (a 400 names the field and
//! what the station's version can say), then sent and recorded like any `/calls` call
//! (`call_run`: schema-checked, one in flight, a record of kind `call`), with the same
//! 404 / 409 / 502 / 504 answers. ChangeAvailability also returns the StatusNotification(s)
//! the station sent right after accepting, read from the committed journal (the session is
//! never held up for it).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ocpp_rpc::ProtocolVersion;
use ocpulse_core::station_ops::{self, OpError, StationOp};
use ocpulse_core::{Direction, JournalEntry};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::auth::Caller;
use super::calls::{answered, elapsed, protocol_of, status_of, timeout_ms};
use super::openapi::ApiErrorBody;
use super::send_trigger::requested_by;
use super::{ApiError, parse_body};
use crate::app::App;
use crate::call_run::{self, CallOptions};
use crate::trigger_service::Refusal;

/// Default time ChangeAvailability waits for the station's StatusNotification(s).
const DEFAULT_FOLLOW_MS: u64 = 2_000;
/// The longest it may wait.
const MAX_FOLLOW_MS: u64 = 30_000;
/// Once one StatusNotification arrived, how long without another ends the wait (a station
/// reports each connector that changed, one message each).
const FOLLOW_QUIET: Duration = Duration::from_millis(300);

/// `POST .../reset` body.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = ResetBody, examples(json!({"type": "Soft"}), json!({"type": "OnIdle", "evseId": 1})))]
struct ResetBody {
    /// `Hard`, `Soft` (1.6 words), `Immediate`, `OnIdle` (2.x words) or
    /// `ImmediateAndResume` (2.1): translated to the station's version (1.6: Immediate is
    /// said Soft; 2.x: Hard and Soft are said Immediate); a 400 names what the version
    /// cannot say (OnIdle in 1.6). Required.
    #[serde(rename = "type")]
    #[schema(required = true, example = "Soft")]
    kind: Option<String>,
    /// 2.x only: reset this EVSE instead of the whole station.
    #[serde(skip_serializing_if = "Option::is_none")]
    evse_id: Option<i64>,
    /// How long the station has to answer, in ms (default: the server's call timeout).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 300_000)]
    timeout_ms: Option<u64>,
}

/// `POST .../change-availability` body.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = ChangeAvailabilityBody, examples(json!({"operative": false, "connectorId": 1}), json!({"type": "Operative", "evseId": 2})))]
struct AvailabilityBody {
    /// Make it operative (true) or inoperative (false); or say it with `type`.
    #[serde(skip_serializing_if = "Option::is_none")]
    operative: Option<bool>,
    /// `Operative` or `Inoperative` (the OCPP words), instead of `operative`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    /// Without `evseId`: a 1.6 connector (0 or absent: the whole station; in 2.x, an EVSE
    /// of that number). With `evseId`: the connector within it.
    #[serde(skip_serializing_if = "Option::is_none")]
    connector_id: Option<i64>,
    /// A 2.x EVSE (in 1.6, the connector of that number).
    #[serde(skip_serializing_if = "Option::is_none")]
    evse_id: Option<i64>,
    /// How long the station has to answer, in ms (default: the server's call timeout).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 300_000)]
    timeout_ms: Option<u64>,
    /// After an `Accepted`, how long to wait for the station's StatusNotification(s), in
    /// ms (default 2000; 0: do not wait).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 30_000)]
    follow_ms: Option<u64>,
}

/// `POST .../unlock-connector` body.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = UnlockConnectorBody, examples(json!({"connectorId": 1}), json!({"evseId": 1, "connectorId": 2})))]
struct UnlockBody {
    /// Alone: a 1.6 connector (in 2.x, connector 1 of the EVSE of that number). With
    /// `evseId`: the connector within it.
    #[serde(skip_serializing_if = "Option::is_none")]
    connector_id: Option<i64>,
    /// A 2.x EVSE (then `connectorId` is needed).
    #[serde(skip_serializing_if = "Option::is_none")]
    evse_id: Option<i64>,
    /// How long the station has to answer, in ms (default: the server's call timeout).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 300_000)]
    timeout_ms: Option<u64>,
}

/// `POST .../clear-cache` body (optional).
#[derive(Deserialize, Serialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = ClearCacheBody, example = json!({}))]
struct ClearCacheBody {
    /// How long the station has to answer, in ms (default: the server's call timeout).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 300_000)]
    timeout_ms: Option<u64>,
}

/// A StatusNotification the station sent after accepting a ChangeAvailability.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct FollowedStatus {
    /// Milliseconds after the station's answer (negative: before it).
    after_ms: i64,
    /// Its payload, as the station sent it.
    #[schema(value_type = Object)]
    payload: Value,
    /// When it was received (RFC 3339).
    received_at: String,
    /// Its journal sequence number (`GET /api/v1/stations/{id}/messages`).
    seq: i64,
}

/// The 200 answer: the station's CALLRESULT, with what was sent and its record id.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = StationOpResult)]
struct OpAnswer {
    /// The OCPP action sent.
    action: &'static str,
    /// The call's record id (`GET /api/v1/calls/{callId}`).
    call_id: String,
    /// How long from the request to the answer (and, for ChangeAvailability, the
    /// StatusNotifications), in ms.
    elapsed_ms: u64,
    /// How the request was translated for the station's version, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    /// The station's negotiated version.
    protocol: &'static str,
    /// The payload sent, in the station's version.
    #[schema(value_type = Object)]
    request: Value,
    /// The CALLRESULT payload, as the station sent it.
    #[schema(value_type = Object)]
    response: Value,
    /// The station.
    station_id: String,
    /// The answer's `status` (`Accepted`, `Rejected`, `Scheduled`, `Unlocked`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    /// ChangeAvailability only: the StatusNotification(s) the station sent after it
    /// accepted, within `followMs` (empty: none came; absent: not waited for).
    #[serde(skip_serializing_if = "Option::is_none")]
    status_notifications: Option<Vec<FollowedStatus>>,
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        let error = ApiError::bad_request(e.code, e.message).with("field", e.field);
        if e.valid.is_empty() {
            error
        } else {
            error.with("validValues", e.valid)
        }
    }
}

/// The station's version (for a disconnected station, the one it last spoke, so a request
/// it could never take is told so now); unknown stations are a 404.
fn protocol(app: &App, id: &str) -> Result<Option<ProtocolVersion>, ApiError> {
    let entry = app
        .stations
        .get(id)
        .ok_or_else(|| Refusal::UnknownStation(id.to_owned()))?;
    Ok(entry.session.map(|s| s.protocol).or_else(|| {
        entry
            .state
            .lock()
            .protocol
            .as_deref()
            .and_then(ProtocolVersion::from_subprotocol)
    }))
}

/// Parses an optional body: an empty one is `{}`.
fn body<T: serde::de::DeserializeOwned + Default>(
    raw: &Bytes,
    example: &str,
) -> Result<T, ApiError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse_body(raw, example)
}

/// Everything one operation request needs besides its translation.
struct OpRequest {
    id: String,
    requested_by: String,
    request: Value,
    timeout_ms: Option<u64>,
    follow_ms: Option<u64>,
    started: Instant,
}

async fn run_op(app: Arc<App>, op: StationOp, req: OpRequest) -> Result<Response, ApiError> {
    let OpRequest {
        id,
        requested_by,
        request,
        timeout_ms: asked,
        follow_ms,
        started,
    } = req;
    let timeout_ms = timeout_ms(&app, asked)?;
    let follow = follow_ms.unwrap_or(DEFAULT_FOLLOW_MS);
    if follow > MAX_FOLLOW_MS {
        return Err(ApiError::bad_request(
            "invalid_follow",
            format!("followMs must be from 0 to {MAX_FOLLOW_MS}, got {follow}"),
        )
        .with("field", "followMs"));
    }
    let Some(version) = protocol(&app, &id)? else {
        return Err(Refusal::NotConnected(id).into());
    };
    let planned = station_ops::plan(version, &op)?;
    let options = CallOptions {
        note: planned.note.clone(),
        request: Some(request),
        ..CallOptions::new(requested_by, Duration::from_millis(timeout_ms))
    };
    // Subscribed before the CALL is sent: a StatusNotification committed right after the
    // answer (or even before it) is not missed.
    let tail = follow_ms.is_some().then(|| app.store.subscribe());
    let run = call_run::prepare(
        &app,
        &id,
        planned.action,
        planned.payload.clone(),
        options,
        started,
    )?;
    let ended = call_run::run(Arc::clone(&app), run).await;
    let response = answered(&ended, timeout_ms)?;
    let status = status_of(&response);
    let answered_at = crate::now_ms();
    let status_notifications = match tail {
        Some(tail) if status.as_deref() == Some("Accepted") && follow > 0 => {
            Some(follow_status(tail, &id, answered_at, Duration::from_millis(follow)).await)
        }
        Some(_) => Some(Vec::new()),
        None => None,
    };
    Ok(Json(OpAnswer {
        action: planned.action,
        call_id: ended.record.id.clone(),
        elapsed_ms: elapsed(started),
        note: planned.note,
        protocol: protocol_of(&ended),
        request: planned.payload,
        response,
        station_id: id,
        status,
        status_notifications,
    })
    .into_response())
}

/// The station's StatusNotifications committed since `tail` subscribed, until `window`
/// after the answer or a short quiet after the last one. Only observes the journal.
async fn follow_status(
    mut tail: broadcast::Receiver<Arc<JournalEntry>>,
    station: &str,
    answered_at: i64,
    window: Duration,
) -> Vec<FollowedStatus> {
    let deadline = Instant::now() + window;
    let mut found = Vec::new();
    loop {
        let until = if found.is_empty() {
            deadline
        } else {
            deadline.min(Instant::now() + FOLLOW_QUIET)
        };
        let entry = match tokio::time::timeout_at(until, tail.recv()).await {
            Err(_) | Ok(Err(broadcast::error::RecvError::Closed)) => break,
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
            Ok(Ok(entry)) => entry,
        };
        if entry.station_id == station
            && entry.direction == Direction::In
            && entry.frame_type == "CALL"
            && entry.action.as_deref() == Some("StatusNotification")
        {
            found.push(FollowedStatus {
                after_ms: entry.at - answered_at,
                payload: serde_json::from_str(&entry.payload).unwrap_or(Value::Null),
                received_at: ocpulse_core::rfc3339(entry.at),
                seq: entry.seq,
            });
        }
    }
    found
}

fn request_of(body: &impl Serialize) -> Value {
    serde_json::to_value(body).unwrap_or(Value::Null)
}

/// Resets a station (or, in 2.x, one EVSE).
#[utoipa::path(
    post,
    path = "/api/v1/stations/{id}/reset",
    tag = "station-ops",
    params(
        ("id" = String, Path, description = "The station id", example = "CP0001"),
        ("X-Requested-By" = Option<String>, Header, description = "Who asks, kept in the record; default `api` (a bearer token's name wins)", max_length = 128, pattern = r"^[\t\x20-\x7E]*[\x21-\x7E][\t\x20-\x7E]*$"),
    ),
    request_body(content = ResetBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The station's answer (`status` Accepted, Rejected or, 2.x, Scheduled)", body = OpAnswer),
        (status = 400, description = "A malformed body (`invalid_body`, `missing_field`, `invalid_timeout`), a value the station's version cannot say (`invalid_value`, `no_equivalent`; with `field` and `validValues`); nothing was sent", body = ApiErrorBody),
        (status = 404, description = "No station with this id ever connected (`station_not_found`)", body = ApiErrorBody),
        (status = 409, description = "The station is not connected (`station_not_connected`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 500, description = "Internal error", body = ApiErrorBody),
        (status = 502, description = "A CALLERROR (`station_call_error`), an invalid answer (`invalid_station_response`) or a drop (`station_disconnected`); with `callId`", body = ApiErrorBody),
        (status = 504, description = "The station did not answer within timeoutMs (`station_timeout`, with `callId`)", body = ApiErrorBody),
    )
)]
pub async fn reset(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let requested_by = requested_by(&headers, caller.as_deref())?;
    let body: ResetBody = parse_body(&raw, r#"{"type": "Soft"}"#)?;
    let Some(kind) = body.kind.clone() else {
        return Err(ApiError::bad_request(
            "missing_field",
            "type is required: Hard, Soft, Immediate or OnIdle (ImmediateAndResume on 2.1), e.g. {\"type\": \"Soft\"}",
        )
        .with("field", "type")
        .with("validValues", station_ops::RESET_TYPES));
    };
    let op = StationOp::Reset {
        kind,
        evse_id: body.evse_id,
    };
    let req = OpRequest {
        request: request_of(&body),
        id,
        requested_by,
        timeout_ms: body.timeout_ms,
        follow_ms: None,
        started,
    };
    run_op(app, op, req).await
}

/// Makes a station, an EVSE or a connector operative or inoperative, and returns the
/// StatusNotification(s) that followed.
#[utoipa::path(
    post,
    path = "/api/v1/stations/{id}/change-availability",
    tag = "station-ops",
    params(
        ("id" = String, Path, description = "The station id", example = "CP0001"),
        ("X-Requested-By" = Option<String>, Header, description = "Who asks, kept in the record; default `api` (a bearer token's name wins)", max_length = 128, pattern = r"^[\t\x20-\x7E]*[\x21-\x7E][\t\x20-\x7E]*$"),
    ),
    request_body(content = AvailabilityBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The station's answer (`status` Accepted, Rejected or Scheduled) and, after Accepted, the StatusNotification(s) it sent within followMs", body = OpAnswer),
        (status = 400, description = "A malformed body (`invalid_body`, `missing_field`, `conflicting_fields`, `invalid_timeout`, `invalid_follow`), a value the station's version cannot say (`invalid_value`, `no_equivalent`; with `field`); nothing was sent", body = ApiErrorBody),
        (status = 404, description = "No station with this id ever connected (`station_not_found`)", body = ApiErrorBody),
        (status = 409, description = "The station is not connected (`station_not_connected`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 500, description = "Internal error", body = ApiErrorBody),
        (status = 502, description = "A CALLERROR (`station_call_error`), an invalid answer (`invalid_station_response`) or a drop (`station_disconnected`); with `callId`", body = ApiErrorBody),
        (status = 504, description = "The station did not answer within timeoutMs (`station_timeout`, with `callId`)", body = ApiErrorBody),
    )
)]
pub async fn change_availability(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let requested_by = requested_by(&headers, caller.as_deref())?;
    let body: AvailabilityBody = parse_body(&raw, r#"{"operative": false, "connectorId": 1}"#)?;
    let operative = station_ops::availability(body.operative, body.kind.as_deref())?;
    let op = StationOp::ChangeAvailability {
        operative,
        connector_id: body.connector_id,
        evse_id: body.evse_id,
    };
    let req = OpRequest {
        request: request_of(&body),
        id,
        requested_by,
        timeout_ms: body.timeout_ms,
        follow_ms: Some(body.follow_ms.unwrap_or(DEFAULT_FOLLOW_MS)),
        started,
    };
    run_op(app, op, req).await
}

/// Releases a connector's cable lock.
#[utoipa::path(
    post,
    path = "/api/v1/stations/{id}/unlock-connector",
    tag = "station-ops",
    params(
        ("id" = String, Path, description = "The station id", example = "CP0001"),
        ("X-Requested-By" = Option<String>, Header, description = "Who asks, kept in the record; default `api` (a bearer token's name wins)", max_length = 128, pattern = r"^[\t\x20-\x7E]*[\x21-\x7E][\t\x20-\x7E]*$"),
    ),
    request_body(content = UnlockBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The station's answer (`status` Unlocked, UnlockFailed, NotSupported (1.6), OngoingAuthorizedTransaction or UnknownConnector (2.x))", body = OpAnswer),
        (status = 400, description = "A malformed body (`invalid_body`, `missing_field`, `invalid_timeout`), a target the station's version cannot say (`invalid_value`, `no_equivalent`; with `field`); nothing was sent", body = ApiErrorBody),
        (status = 404, description = "No station with this id ever connected (`station_not_found`)", body = ApiErrorBody),
        (status = 409, description = "The station is not connected (`station_not_connected`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 500, description = "Internal error", body = ApiErrorBody),
        (status = 502, description = "A CALLERROR (`station_call_error`), an invalid answer (`invalid_station_response`) or a drop (`station_disconnected`); with `callId`", body = ApiErrorBody),
        (status = 504, description = "The station did not answer within timeoutMs (`station_timeout`, with `callId`)", body = ApiErrorBody),
    )
)]
pub async fn unlock_connector(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let requested_by = requested_by(&headers, caller.as_deref())?;
    let body: UnlockBody = parse_body(&raw, r#"{"connectorId": 1}"#)?;
    let op = StationOp::UnlockConnector {
        connector_id: body.connector_id,
        evse_id: body.evse_id,
    };
    let req = OpRequest {
        request: request_of(&body),
        id,
        requested_by,
        timeout_ms: body.timeout_ms,
        follow_ms: None,
        started,
    };
    run_op(app, op, req).await
}

/// Clears a station's authorization cache.
#[utoipa::path(
    post,
    path = "/api/v1/stations/{id}/clear-cache",
    tag = "station-ops",
    params(
        ("id" = String, Path, description = "The station id", example = "CP0001"),
        ("X-Requested-By" = Option<String>, Header, description = "Who asks, kept in the record; default `api` (a bearer token's name wins)", max_length = 128, pattern = r"^[\t\x20-\x7E]*[\x21-\x7E][\t\x20-\x7E]*$"),
    ),
    request_body(content = ClearCacheBody, content_type = "application/json", description = "Optional"),
    responses(
        (status = 200, description = "The station's answer (`status` Accepted or Rejected)", body = OpAnswer),
        (status = 400, description = "A malformed body (`invalid_body`, `invalid_timeout`); nothing was sent", body = ApiErrorBody),
        (status = 404, description = "No station with this id ever connected (`station_not_found`)", body = ApiErrorBody),
        (status = 409, description = "The station is not connected (`station_not_connected`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 500, description = "Internal error", body = ApiErrorBody),
        (status = 502, description = "A CALLERROR (`station_call_error`), an invalid answer (`invalid_station_response`) or a drop (`station_disconnected`); with `callId`", body = ApiErrorBody),
        (status = 504, description = "The station did not answer within timeoutMs (`station_timeout`, with `callId`)", body = ApiErrorBody),
    )
)]
pub async fn clear_cache(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let requested_by = requested_by(&headers, caller.as_deref())?;
    let body: ClearCacheBody = body(&raw, "{}")?;
    let req = OpRequest {
        request: request_of(&body),
        id,
        requested_by,
        timeout_ms: body.timeout_ms,
        follow_ms: None,
        started,
    };
    run_op(app, StationOp::ClearCache, req).await
}
