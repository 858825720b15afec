//! `POST /api/v1/stations/{id}/trigger`: send TriggerMessage in the station's version and
//! return the message(s) it produced, or with `"wait": false` a 202 and the record id.
//!
//! Correlation rule (also in ARCHITECTURE.md): from the moment the TriggerMessage is
//! written to the socket until the deadline, every station CALL of the expected action
//! that ocpulse acknowledges is offered to the waiting triggers' `Collector`s, oldest
//! first; the first that accepts it claims it. A targeted trigger takes the
//! first one about that connector/EVSE; an untargeted StatusNotification/MeterValues
//! takes one per connector/EVSE the station has reported (or, with nothing reported yet,
//! whatever arrives until 750 ms pass without another); any other trigger takes the
//! first message of its action. A message of the expected action about another target is
//! a near miss, recorded as `unmatched`.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ocpulse_core::trigger_plan::{self, EvseTarget, TriggerRequest};
use ocpulse_core::trigger_record::{CorrelatedMessage, Outcome, TriggerRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use super::auth::Caller;
use super::openapi::{ApiErrorBody, every_version_enum};
use super::trigger_answer::{Sent, TriggerAccepted, TriggerResult, TriggeredMessage};
use super::{ApiError, parse_body};
use crate::app::App;
use crate::trigger_run;
use crate::trigger_service::{self, TriggerOptions};

const MAX_TIMEOUT_MS: u64 = 300_000;
const MAX_REQUESTED_BY: usize = 128;
const EXAMPLE: &str = r#"{"requestedMessage": "StatusNotification", "connectorId": 1} or {"requestedMessage": "MeterValues", "evse": {"id": 1}, "wait": true, "timeoutMs": 10000}"#;

/// The schema of `requestedMessage`: every name the API takes, the names of every version's
/// vocabulary (the 1.6 TriggerMessage and ExtendedTriggerMessage values, the 2.0.1 and 2.1
/// MessageTriggerEnumType values), generated from `trigger_plan::valid_messages` of every
/// version so the document lists exactly what the server accepts. A station gets the name
/// translated to its own version, or a 400 (`no_equivalent`) when its version has none.
pub(crate) struct RequestedMessage;

impl utoipa::PartialSchema for RequestedMessage {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        every_version_enum(
            trigger_plan::valid_messages,
            "Every `requestedMessage` the API takes: the names of every version's vocabulary (the\n1.6 TriggerMessage and ExtendedTriggerMessage values, the 2.0.1 and 2.1\nMessageTriggerEnumType values). A station gets the name translated to its own version,\nor a 400 (`no_equivalent`) when its version has none.",
        )
    }
}

impl utoipa::ToSchema for RequestedMessage {}

/// The request body; serialized back (only the fields given) as the record's `request`.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = TriggerBody, examples(
    json!({"requestedMessage": "StatusNotification", "connectorId": 1}),
    json!({"requestedMessage": "MeterValues", "evse": {"id": 1}, "timeoutMs": 5000}),
    json!({"requestedMessage": "Heartbeat", "wait": false}),
    json!({"requestedMessage": "CustomTrigger", "customTrigger": "com.vendor.diagnostics"})
))]
struct Body {
    /// The message wanted, by its name in either version (`BootNotification`,
    /// `Heartbeat`, `StatusNotification`, `MeterValues`, `FirmwareStatusNotification`,
    /// `LogStatusNotification`, `DiagnosticsStatusNotification`, `SignChargingStationCertificate`,
    /// ...); translated to the station's version. Required.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = RequestedMessage, required = true)]
    requested_message: Option<String>,
    /// 2.x-style target: an EVSE (and a connector in it).
    #[serde(skip_serializing_if = "Option::is_none")]
    evse: Option<EvseBody>,
    /// 1.6-style target: a connector (0 = the station itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    connector_id: Option<i64>,
    /// With `requestedMessage: "CustomTrigger"` (OCPP 2.1 stations only), and only then:
    /// the vendor trigger's name, as the station lists it in CustomizationCtrl.CustomTriggers.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 50)]
    custom_trigger: Option<String>,
    /// Wait for the message (default) or answer 202 at once with the record id.
    #[serde(skip_serializing_if = "Option::is_none")]
    wait: Option<bool>,
    /// How long the whole trigger may take, in ms (default: the server's, 10 s).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 300_000)]
    timeout_ms: Option<u64>,
}

/// An EVSE target.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = TriggerEvse)]
struct EvseBody {
    /// The EVSE id.
    id: i64,
    /// A connector of that EVSE.
    #[serde(skip_serializing_if = "Option::is_none")]
    connector_id: Option<i64>,
}

/// Who asked: the name of the bearer token used (it cannot be claimed otherwise), else the
/// `X-Requested-By` header (an operator, a system), else `api`.
pub(crate) fn requested_by(
    headers: &HeaderMap,
    caller: Option<&Caller>,
) -> Result<String, ApiError> {
    // The header is checked even when a token's name wins: a malformed header is a bad
    // request whoever sends it.
    let header = match headers.get("x-requested-by") {
        None => "api".to_owned(),
        Some(v) => match v.to_str() {
            Ok(s) if !s.trim().is_empty() && s.len() <= MAX_REQUESTED_BY => s.trim().to_owned(),
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_requested_by",
                    format!(
                        "X-Requested-By must be visible ASCII text of 1 to {MAX_REQUESTED_BY} characters naming who asks, e.g. \"billing-job\""
                    ),
                ));
            }
        },
    };
    Ok(caller
        .and_then(Caller::token_name)
        .map_or(header, str::to_owned))
}

/// Triggers a message and, by default, waits for it.
#[utoipa::path(
    post,
    path = "/api/v1/stations/{id}/trigger",
    tag = "triggers",
    params(
        ("id" = String, Path, description = "The station id", example = "CP0001"),
        ("X-Requested-By" = Option<String>, Header, description = "Who asks (1 to 128 visible ASCII characters), kept in the record; default `api`. Ignored when a bearer token is used: its name is recorded", max_length = 128, pattern = r"^[\t\x20-\x7E]*[\x21-\x7E][\t\x20-\x7E]*$", example = "billing-job"),
    ),
    request_body(content = Body, content_type = "application/json"),
    responses(
        (status = 200, description = "The message(s) the station sent, or its Rejected/NotImplemented answer", body = TriggerResult),
        (status = 202, description = "`wait: false`: the trigger runs; read its record later", body = TriggerAccepted),
        (status = 400, description = "A malformed body (`invalid_body`, `missing_requested_message`, `invalid_timeout`), a request the station's version cannot express (`unknown_requested_message`, `no_equivalent`, `invalid_target`, ...), a bad `X-Requested-By` or an undecodable path", body = ApiErrorBody),
        (status = 404, description = "No station with this id ever connected (`station_not_found`)", body = ApiErrorBody),
        (status = 409, description = "The station is not connected (`station_not_connected`), or disconnected during the trigger (`station_disconnected`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 500, description = "Internal error", body = ApiErrorBody),
        (status = 502, description = "The station answered with a CALLERROR (`station_call_error`), an invalid payload (`invalid_station_response`), or messages about another target (`wrong_target`)", body = ApiErrorBody),
        (status = 504, description = "The station did not answer (`station_timeout`) or sent nothing after accepting (`message_timeout`)", body = ApiErrorBody),
    )
)]
pub async fn trigger(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let requested_by = requested_by(&headers, caller.as_deref())?;
    let body: Body = parse_body(&raw, EXAMPLE)?;
    let request_json = serde_json::to_value(&body).unwrap_or(Value::Null);
    let Some(requested_message) = body.requested_message else {
        return Err(ApiError::bad_request(
            "missing_requested_message",
            format!("requestedMessage is required, e.g. {EXAMPLE}"),
        ));
    };
    let timeout_ms = body
        .timeout_ms
        .unwrap_or(u64::try_from(app.config.default_trigger_timeout.as_millis()).unwrap_or(10_000));
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(ApiError::bad_request(
            "invalid_timeout",
            format!("timeoutMs must be from 1 to {MAX_TIMEOUT_MS}, got {timeout_ms}"),
        ));
    }
    let wait = body.wait.unwrap_or(true);

    let request = TriggerRequest {
        requested_message,
        evse: body.evse.map(|e| EvseTarget {
            id: e.id,
            connector_id: e.connector_id,
        }),
        connector_id: body.connector_id,
        custom_trigger: body.custom_trigger,
    };
    let run = trigger_service::prepare(
        &app,
        &id,
        request,
        TriggerOptions {
            requested_by,
            request_json,
            timeout: Duration::from_millis(timeout_ms),
            store_start: !wait,
        },
        started,
    )?;
    if !wait {
        let accepted = Json(TriggerAccepted::from(&run.record)).into_response();
        // The record is visible (as running) before the caller hears of it.
        app.running.lock().put(Arc::new(run.record.clone()));
        tokio::spawn(trigger_run::run(Arc::clone(&app), run));
        return Ok((StatusCode::ACCEPTED, accepted).into_response());
    }
    let record = trigger_run::run(Arc::clone(&app), run).await;
    respond(&record, timeout_ms)
}

/// The messages as an error shows them (`messages`, `unmatched`).
fn messages(list: &[CorrelatedMessage]) -> Vec<TriggeredMessage<'_>> {
    list.iter().map(TriggeredMessage::from).collect()
}

/// The answer of a waited-for trigger: 200 with the messages, or the error that says what
/// happened; every shape carries the record id.
fn respond(r: &TriggerRecord, timeout_ms: u64) -> Result<Response, ApiError> {
    let id = &r.station_id;
    let last = r.calls.last();
    let sent = last.map(Sent::from);
    let status = last.and_then(|c| c.status.as_deref());
    let with_record = |e: ApiError| {
        e.with("triggerId", &r.id)
            .with("outcome", r.outcome.as_str())
            .with("sent", &sent)
    };
    let action = last.map_or("TriggerMessage", |c| c.action.as_str());
    match r.outcome {
        Outcome::StationTimeout => {
            return Err(with_record(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "station_timeout",
                format!(
                    "station {id:?} did not answer {action} within {timeout_ms} ms; raise timeoutMs or check the station"
                ),
            )));
        }
        Outcome::Disconnected => {
            return Err(with_record(ApiError::new(
                StatusCode::CONFLICT,
                "station_disconnected",
                format!("station {id:?} disconnected before the trigger ended"),
            ))
            .with("messages", messages(&r.messages)));
        }
        Outcome::CallError => {
            let error = last.and_then(|c| c.error.clone()).unwrap_or(Value::Null);
            return Err(with_record(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "station_call_error",
                format!(
                    "station {id:?} answered {action} with CALLERROR {}: {}",
                    error["errorCode"].as_str().unwrap_or("?"),
                    error["errorDescription"].as_str().unwrap_or("")
                ),
            ))
            .with("callError", error));
        }
        Outcome::InvalidResponse => {
            let error = last.and_then(|c| c.error.clone()).unwrap_or(Value::Null);
            return Err(with_record(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "invalid_station_response",
                format!(
                    "station {id:?} answered {action} with a payload that violates the schema: {}",
                    error["violation"].as_str().unwrap_or("")
                ),
            ))
            .with("response", error["payload"].clone()));
        }
        Outcome::MessageTimeout => {
            return Err(with_record(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "message_timeout",
                format!(
                    "station {id:?} accepted the trigger but sent no {} within {timeout_ms} ms",
                    r.request["requestedMessage"].as_str().unwrap_or("message")
                ),
            ))
            .with("status", status));
        }
        Outcome::WrongTarget => {
            return Err(with_record(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "wrong_target",
                r.detail.clone().unwrap_or_default(),
            ))
            .with("status", status)
            .with("unmatched", messages(&r.unmatched)));
        }
        Outcome::Running | Outcome::Interrupted => {
            return Err(ApiError::internal("the trigger ended without an outcome"));
        }
        Outcome::Completed | Outcome::Partial | Outcome::Rejected | Outcome::NotImplemented => {}
    }
    Ok(Json(TriggerResult::from(r)).into_response())
}
