//! `POST /api/v1/stations/{id}/calls`: send any CSMS-initiated CALL of the station's
//! version and return the station's answer (the escape hatch for what ocpulse does not
//! model: configuration, reset, reservations, charging profiles, DataTransfer, ...). The
//! payload is checked against the official request schema before anything is sent; the
//! CALL goes through the session's outbox (`csms_call`), one in flight per station. Every
//! call has a record (`call_run`, read back by `GET /api/v1/calls/{id}`); `"wait": false`
//! answers 202 with it at once and the call runs in the background.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use super::auth::Caller;
use super::call_failure::{Unanswered, station_answer};
use super::openapi::{ApiErrorBody, every_version_enum};
use super::send_trigger::requested_by;
use super::trigger_records::TriggerRecordView;
use super::{ApiError, parse_body};
use crate::app::App;
use crate::call_run::{self, CallEnded, CallOptions};
use crate::csms_call::{self, CallRefusal};

const MAX_TIMEOUT_MS: u64 = 300_000;
const EXAMPLE: &str =
    r#"{"action": "GetConfiguration", "payload": {"key": ["HeartbeatInterval"]}}"#;

/// The schema of `action`: every CSMS-initiated action of every version, from the official
/// schemas (`csms_call::csms_actions`), so the document lists exactly what the server may
/// accept; a station takes only its own version's (else a 400 listing them).
pub(crate) struct CallAction;

impl utoipa::PartialSchema for CallAction {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        every_version_enum(
            csms_call::csms_actions,
            "A CSMS-initiated action: the names of every version's (from the official\nschemas). A station takes only its own version's; TriggerMessage goes through `/trigger`.",
        )
    }
}

impl utoipa::ToSchema for CallAction {}

/// The request body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = CallBody, examples(
    json!({"action": "GetConfiguration", "payload": {"key": ["HeartbeatInterval"]}}),
    json!({"action": "Reset", "payload": {"type": "Immediate"}, "timeoutMs": 5000}),
    json!({"action": "ClearCache"})
))]
struct Body {
    /// A CSMS-initiated action of the station's version (`GetConfiguration`,
    /// `ChangeAvailability`, `GetVariables`, `Reset`, `DataTransfer`, ...). Required.
    /// TriggerMessage goes through `/trigger`; a 400 lists the version's actions.
    #[schema(value_type = CallAction, required = true)]
    action: Option<String>,
    /// The CALL payload, checked against the version's official request schema before it
    /// is sent (default `{}`).
    #[schema(value_type = Option<Object>)]
    payload: Option<Value>,
    /// How long the station has to answer, in ms (default: the server's call timeout).
    #[schema(minimum = 1, maximum = 300_000)]
    timeout_ms: Option<u64>,
    /// Wait for the answer (default `true`); `false` answers 202 with the call's record at
    /// once, to be read back with `GET /api/v1/calls/{callId}`.
    wait: Option<bool>,
}

/// The 200 answer: the station's CALLRESULT.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CallResult)]
pub(crate) struct CallAnswer {
    /// The action sent.
    action: String,
    /// The call's record id (`GET /api/v1/calls/{callId}`).
    call_id: String,
    /// How long from the request to the station's answer, in ms.
    elapsed_ms: u64,
    /// The station's negotiated version (`ocpp1.6`, `ocpp2.0.1`, `ocpp2.1`).
    protocol: &'static str,
    /// The payload sent.
    #[schema(value_type = Object)]
    request: Value,
    /// The CALLRESULT payload, as the station sent it (valid against the response schema).
    #[schema(value_type = Object)]
    response: Value,
    /// The station.
    station_id: String,
    /// The answer's `status`, when it has one (`Accepted`, `Rejected`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
}

impl From<CallRefusal> for ApiError {
    fn from(refusal: CallRefusal) -> Self {
        let code = refusal.code();
        let message = refusal.to_string();
        match refusal {
            CallRefusal::Station(r) => r.into(),
            CallRefusal::TriggerAction { .. } => ApiError::bad_request(code, message)
                .with("endpoint", "/api/v1/stations/{id}/trigger"),
            CallRefusal::NotCsmsAction {
                protocol, valid, ..
            } => ApiError::bad_request(code, message)
                .with("protocol", protocol.subprotocol())
                .with("validValues", valid),
            CallRefusal::InvalidPayload {
                protocol,
                path,
                violation,
                ..
            } => ApiError::bad_request(code, message)
                .with("protocol", protocol.subprotocol())
                .with("path", path)
                .with("violation", violation),
        }
    }
}

/// Sends a CSMS call and waits for the station's answer (or, with `wait: false`, answers
/// with its record at once).
#[utoipa::path(
    post,
    path = "/api/v1/stations/{id}/calls",
    tag = "calls",
    params(
        ("id" = String, Path, description = "The station id", example = "CP0001"),
        ("X-Requested-By" = Option<String>, Header, description = "Who asks (1 to 128 visible ASCII characters), kept in the record; default `api`. Ignored when a bearer token is used: its name is recorded", max_length = 128, pattern = r"^[\t\x20-\x7E]*[\x21-\x7E][\t\x20-\x7E]*$", example = "ops-console"),
    ),
    request_body(content = Body, content_type = "application/json"),
    responses(
        (status = 200, description = "The station's CALLRESULT", body = CallAnswer),
        (status = 202, description = "`wait: false`: the call runs; its record (outcome `Running`) is read back with GET /api/v1/calls/{id}", body = TriggerRecordView),
        (status = 400, description = "A malformed body (`invalid_body`, `missing_action`, `invalid_timeout`), a bad `X-Requested-By`, an action the version does not let the CSMS send (`unknown_action`, with `validValues`), TriggerMessage (`use_trigger_endpoint`), or a payload that violates the schema (`invalid_payload`, with `path` and `violation`); nothing was sent", body = ApiErrorBody),
        (status = 404, description = "No station with this id ever connected (`station_not_found`)", body = ApiErrorBody),
        (status = 409, description = "The station is not connected (`station_not_connected`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 500, description = "Internal error", body = ApiErrorBody),
        (status = 502, description = "The station answered with a CALLERROR (`station_call_error`, with `callError`), with a payload that violates the response schema (`invalid_station_response`), or disconnected before answering (`station_disconnected`); with `callId`", body = ApiErrorBody),
        (status = 504, description = "The station did not answer within timeoutMs (`station_timeout`, with `callId`)", body = ApiErrorBody),
    )
)]
pub async fn send(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let requested_by = requested_by(&headers, caller.as_deref())?;
    let body: Body = parse_body(&raw, EXAMPLE)?;
    let Some(action) = body.action else {
        return Err(ApiError::bad_request(
            "missing_action",
            format!("action is required, e.g. {EXAMPLE}"),
        ));
    };
    let timeout_ms = timeout_ms(&app, body.timeout_ms)?;
    let wait = body.wait.unwrap_or(true);
    let payload = body
        .payload
        .unwrap_or_else(|| Value::Object(Default::default()));
    let options = CallOptions {
        store_start: !wait,
        ..CallOptions::new(requested_by, Duration::from_millis(timeout_ms))
    };
    let run = call_run::prepare(&app, &id, &action, payload.clone(), options, started)?;
    if !wait {
        let accepted = Json(TriggerRecordView::from(&run.record)).into_response();
        // The record is visible (as running) before the caller hears of it.
        app.running.lock().put(Arc::new(run.record.clone()));
        tokio::spawn(call_run::run(Arc::clone(&app), run));
        return Ok((StatusCode::ACCEPTED, accepted).into_response());
    }
    let ended = call_run::run(Arc::clone(&app), run).await;
    let response = answered(&ended, timeout_ms)?;
    Ok(Json(CallAnswer {
        status: status_of(&response),
        action,
        call_id: ended.record.id.clone(),
        elapsed_ms: elapsed(started),
        protocol: protocol_of(&ended),
        request: payload,
        response,
        station_id: id,
    })
    .into_response())
}

/// The call's timeout: the body's `timeoutMs`, else the server's call timeout, within
/// bounds.
pub(crate) fn timeout_ms(app: &App, asked: Option<u64>) -> Result<u64, ApiError> {
    let default_ms = u64::try_from(app.config.call_timeout.as_millis()).unwrap_or(30_000);
    let timeout_ms = asked.unwrap_or(default_ms);
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(ApiError::bad_request(
            "invalid_timeout",
            format!("timeoutMs must be from 1 to {MAX_TIMEOUT_MS}, got {timeout_ms}"),
        ));
    }
    Ok(timeout_ms)
}

/// Milliseconds since `started`.
pub(crate) fn elapsed(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The `status` of a CALLRESULT, when it has one.
pub(crate) fn status_of(response: &Value) -> Option<String> {
    response
        .get("status")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The station's negotiated version as the record says it.
pub(crate) fn protocol_of(ended: &CallEnded) -> &'static str {
    ocpp_rpc::ProtocolVersion::from_subprotocol(&ended.record.protocol)
        .map_or("", ocpp_rpc::ProtocolVersion::subprotocol)
}

/// The station's CALLRESULT payload, or the error that says what happened instead (502 a
/// CALLERROR, an invalid answer or a drop; 504 silence), each with the record id.
pub(crate) fn answered(ended: &CallEnded, timeout_ms: u64) -> Result<Value, ApiError> {
    let record = &ended.record;
    let action = record.calls.first().map_or("", |c| c.action.as_str());
    let unanswered = Unanswered {
        waited: Some(Duration::from_millis(timeout_ms)),
        after_timeout: "it may still act on it; raise timeoutMs or check the station",
        ..Unanswered::ANY
    };
    station_answer(
        &record.station_id,
        action,
        ended.outcome.clone(),
        &unanswered,
    )
    .map_err(|e| {
        e.with("callId", &record.id)
            .with("elapsedMs", record.elapsed_ms)
    })
}
