//! `POST /api/v1/stations/{id}/calls`: send any CSMS-initiated CALL of the station's
//! version and return the station's answer (the escape hatch for what ocpulse does not
//! model: configuration, reset, reservations, charging profiles, DataTransfer, ...). The
//! payload is checked against the official request schema before anything is sent; the
//! CALL goes through the session's outbox (`csms_call`), one in flight per station.
//! Only waiting calls exist for now: `"wait": false` is refused.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use super::openapi::ApiErrorBody;
use super::{ApiError, parse_body};
use crate::app::App;
use crate::csms_call::{self, CallRefusal};
use crate::registry::CallOutcome;

const MAX_TIMEOUT_MS: u64 = 300_000;
const EXAMPLE: &str =
    r#"{"action": "GetConfiguration", "payload": {"key": ["HeartbeatInterval"]}}"#;

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
    #[schema(required = true)]
    action: Option<String>,
    /// The CALL payload, checked against the version's official request schema before it
    /// is sent (default `{}`).
    #[schema(value_type = Option<Object>)]
    payload: Option<Value>,
    /// How long the station has to answer, in ms (default: the server's call timeout).
    #[schema(minimum = 1, maximum = 300_000)]
    timeout_ms: Option<u64>,
    /// Wait for the answer: only `true` (the default) is supported for now.
    wait: Option<bool>,
}

/// The 200 answer: the station's CALLRESULT.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CallResult)]
pub(crate) struct CallAnswer {
    /// The action sent.
    action: String,
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
        match refusal {
            CallRefusal::Station(r) => r.into(),
            CallRefusal::TriggerAction { action } => ApiError::bad_request(
                "use_trigger_endpoint",
                format!(
                    "{action} is sent by POST /api/v1/stations/{{id}}/trigger, which also collects the message it triggers; send {{\"requestedMessage\": ...}} there"
                ),
            )
            .with("endpoint", "/api/v1/stations/{id}/trigger"),
            CallRefusal::NotCsmsAction {
                protocol,
                action,
                valid,
            } => ApiError::bad_request(
                "unknown_action",
                format!(
                    "{action:?} is not a call the CSMS sends in {}; validValues lists those it does",
                    protocol.subprotocol()
                ),
            )
            .with("protocol", protocol.subprotocol())
            .with("validValues", valid),
            CallRefusal::InvalidPayload {
                protocol,
                action,
                path,
                problem,
                violation,
            } => ApiError::bad_request(
                "invalid_payload",
                format!(
                    "the {action} payload violates the {} schema at {problem}; nothing was sent",
                    protocol.subprotocol()
                ),
            )
            .with("protocol", protocol.subprotocol())
            .with("path", path)
            .with("violation", violation),
        }
    }
}

/// Sends a CSMS call and waits for the station's answer.
#[utoipa::path(
    post,
    path = "/api/v1/stations/{id}/calls",
    tag = "calls",
    params(("id" = String, Path, description = "The station id", example = "CP0001")),
    request_body(content = Body, content_type = "application/json"),
    responses(
        (status = 200, description = "The station's CALLRESULT", body = CallAnswer),
        (status = 400, description = "A malformed body (`invalid_body`, `missing_action`, `invalid_timeout`, `wait_not_supported`), an action the version does not let the CSMS send (`unknown_action`, with `validValues`), TriggerMessage (`use_trigger_endpoint`), or a payload that violates the schema (`invalid_payload`, with `path` and `violation`); nothing was sent", body = ApiErrorBody),
        (status = 404, description = "No station with this id ever connected (`station_not_found`)", body = ApiErrorBody),
        (status = 409, description = "The station is not connected (`station_not_connected`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 500, description = "Internal error", body = ApiErrorBody),
        (status = 502, description = "The station answered with a CALLERROR (`station_call_error`, with `callError`), with a payload that violates the response schema (`invalid_station_response`), or disconnected before answering (`station_disconnected`)", body = ApiErrorBody),
        (status = 504, description = "The station did not answer within timeoutMs (`station_timeout`)", body = ApiErrorBody),
    )
)]
pub async fn send(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    raw: Bytes,
) -> Result<Json<CallAnswer>, ApiError> {
    let started = Instant::now();
    let body: Body = parse_body(&raw, EXAMPLE)?;
    let Some(action) = body.action else {
        return Err(ApiError::bad_request(
            "missing_action",
            format!("action is required, e.g. {EXAMPLE}"),
        ));
    };
    let default_ms = u64::try_from(app.config.call_timeout.as_millis()).unwrap_or(30_000);
    let timeout_ms = body.timeout_ms.unwrap_or(default_ms);
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(ApiError::bad_request(
            "invalid_timeout",
            format!("timeoutMs must be from 1 to {MAX_TIMEOUT_MS}, got {timeout_ms}"),
        ));
    }
    if body.wait == Some(false) {
        return Err(ApiError::bad_request(
            "wait_not_supported",
            "calls are only sent waiting for the answer for now; leave out \"wait\" or send \"wait\": true",
        ));
    }
    let payload = body
        .payload
        .unwrap_or_else(|| Value::Object(Default::default()));
    let session = csms_call::prepare(&app, &id, &action, &payload)?;
    let protocol = session.protocol.subprotocol();
    let outcome = csms_call::send(
        &session,
        &action,
        payload.clone(),
        Duration::from_millis(timeout_ms),
    )
    .await;
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let fail = |status, code, message: String| {
        ApiError::new(status, code, message)
            .with("stationId", &id)
            .with("action", &action)
            .with("elapsedMs", elapsed_ms)
    };
    match outcome {
        CallOutcome::Result(response) => Ok(Json(CallAnswer {
            status: response
                .get("status")
                .and_then(Value::as_str)
                .map(str::to_owned),
            action,
            elapsed_ms,
            protocol,
            request: payload,
            response,
            station_id: id,
        })),
        CallOutcome::Error {
            code,
            description,
            details,
        } => Err(fail(
            StatusCode::BAD_GATEWAY,
            "station_call_error",
            format!("station {id:?} answered {action} with CALLERROR {code}: {description}"),
        )
        .with(
            "callError",
            serde_json::json!({"errorCode": code, "errorDescription": description, "errorDetails": details}),
        )),
        CallOutcome::InvalidResponse { payload, violation } => Err(fail(
            StatusCode::BAD_GATEWAY,
            "invalid_station_response",
            format!(
                "station {id:?} answered {action} with a payload that violates the schema: {violation}"
            ),
        )
        .with("response", payload)),
        CallOutcome::Timeout => Err(fail(
            StatusCode::GATEWAY_TIMEOUT,
            "station_timeout",
            format!(
                "station {id:?} did not answer {action} within {timeout_ms} ms; it may still act on it; raise timeoutMs or check the station"
            ),
        )),
        CallOutcome::Disconnected => Err(fail(
            StatusCode::BAD_GATEWAY,
            "station_disconnected",
            format!(
                "station {id:?} disconnected before it answered {action}; it may or may not have acted on it"
            ),
        )),
    }
}
