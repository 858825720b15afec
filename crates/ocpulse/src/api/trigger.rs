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

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ocpulse_core::trigger_plan::{EvseTarget, TriggerRequest};
use ocpulse_core::trigger_record::{Outcome, TriggerRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{ApiError, parse_body};
use crate::app::App;
use crate::trigger_run;
use crate::trigger_service::{self, TriggerOptions, internal};

const MAX_TIMEOUT_MS: u64 = 300_000;
const MAX_REQUESTED_BY: usize = 128;
const EXAMPLE: &str = r#"{"requestedMessage": "StatusNotification", "connectorId": 1} or {"requestedMessage": "MeterValues", "evse": {"id": 1}, "wait": true, "timeoutMs": 10000}"#;

/// The request body; serialized back (only the fields given) as the record's `request`.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Body {
    #[serde(skip_serializing_if = "Option::is_none")]
    requested_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    evse: Option<EvseBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    connector_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wait: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_ms: Option<u64>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EvseBody {
    id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    connector_id: Option<i64>,
}

/// Who asked: the `X-Requested-By` header (an operator, a system), else `api`.
fn requested_by(headers: &HeaderMap) -> Result<String, ApiError> {
    match headers.get("x-requested-by") {
        None => Ok("api".into()),
        Some(v) => match v.to_str() {
            Ok(s) if !s.trim().is_empty() && s.len() <= MAX_REQUESTED_BY => Ok(s.trim().to_owned()),
            _ => Err(ApiError::bad_request(
                "invalid_requested_by",
                format!(
                    "X-Requested-By must be visible ASCII text of 1 to {MAX_REQUESTED_BY} characters naming who asks, e.g. \"billing-job\""
                ),
            )),
        },
    }
}

/// Triggers a message and, by default, waits for it.
pub async fn trigger(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let requested_by = requested_by(&headers)?;
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
        let trigger_id = run.record.id.clone();
        let pending = json!({
            "triggerId": trigger_id,
            "stationId": id,
            "outcome": Outcome::Running.as_str(),
            "record": format!("/api/v1/triggers/{trigger_id}"),
        });
        // The record is visible (as running) before the caller hears of it.
        if let Ok(mut running) = app.running.lock() {
            running.put(run.record.clone());
        }
        tokio::spawn(trigger_run::run(Arc::clone(&app), run));
        return Ok((StatusCode::ACCEPTED, Json(pending)).into_response());
    }
    let record = trigger_run::run(Arc::clone(&app), run).await;
    respond(&record, timeout_ms)
}

fn message_json(m: &ocpulse_core::trigger_record::CorrelatedMessage) -> Value {
    json!({"action": m.action, "messageId": m.message_id, "payload": m.payload, "receivedAt": m.received_at})
}

/// The answer of a waited-for trigger: 200 with the messages, or the error that says what
/// happened; every shape carries the record id.
fn respond(r: &TriggerRecord, timeout_ms: u64) -> Result<Response, ApiError> {
    let id = &r.station_id;
    let first = r.calls.first();
    let last = r.calls.last();
    let sent = last.map_or(
        Value::Null,
        |c| json!({"action": c.action, "payload": c.payload}),
    );
    let status = last
        .and_then(|c| c.status.clone())
        .map_or(Value::Null, Value::String);
    let with_record = |e: ApiError| {
        e.with("triggerId", json!(r.id))
            .with("outcome", json!(r.outcome.as_str()))
            .with("sent", sent.clone())
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
            .with(
                "messages",
                json!(r.messages.iter().map(message_json).collect::<Vec<_>>()),
            ));
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
            .with(
                "unmatched",
                json!(r.unmatched.iter().map(message_json).collect::<Vec<_>>()),
            ));
        }
        Outcome::Running | Outcome::Interrupted => {
            return Err(internal("the trigger ended without an outcome"));
        }
        Outcome::Completed | Outcome::Partial | Outcome::Rejected | Outcome::NotImplemented => {}
    }
    let mut body = json!({
        "triggerId": r.id,
        "stationId": r.station_id,
        "protocol": r.protocol,
        "sent": sent,
        "status": status,
        "outcome": r.outcome.as_str(),
        "messages": r.messages.iter().map(message_json).collect::<Vec<_>>(),
        "complete": r.complete,
        "elapsedMs": r.elapsed_ms,
    });
    if let Some(info) = last.and_then(|c| c.status_info.clone()) {
        body["statusInfo"] = info;
    }
    if r.calls.len() > 1 {
        body["calls"] = json!(r.calls);
    }
    if let Some(note) = first.and_then(|c| c.note.clone()) {
        body["note"] = json!(note);
    }
    if let Some(detail) = &r.detail {
        body["detail"] = json!(detail);
    }
    if let Some(certificate) = &r.certificate {
        body["certificate"] = certificate.clone();
    }
    Ok(Json(body).into_response())
}
