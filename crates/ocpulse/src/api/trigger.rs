//! `POST /api/v1/stations/{id}/trigger`: send TriggerMessage in the station's version and
//! return the message(s) it produced.
//!
//! Correlation rule (also in ARCHITECTURE.md): from the moment the TriggerMessage is
//! written to the socket until the deadline, every station CALL of the expected action
//! that ocpulse acknowledges is offered to the waiting triggers' `Collector`s, oldest
//! first; the first that accepts it claims it. A targeted trigger takes the
//! first one about that connector/EVSE; an untargeted StatusNotification/MeterValues
//! takes one per connector/EVSE the station has reported (or, with nothing reported yet,
//! whatever arrives until 750 ms pass without another); any other trigger takes the
//! first message of its action.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use ocpp_rpc::PayloadKind;
use ocpp_rpc::trigger::{Collector, target_of};
use ocpulse_core::rfc3339;
use ocpulse_core::trigger_plan::{self, EvseTarget, QUIET_PERIOD, TriggerRequest};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{ApiError, parse_body};
use crate::app::App;
use crate::registry::{CallOutcome, CallRequest, StationMessage};

const MAX_TIMEOUT_MS: u64 = 300_000;
const EXAMPLE: &str = r#"{"requestedMessage": "StatusNotification", "connectorId": 1} or {"requestedMessage": "MeterValues", "evse": {"id": 1}, "wait": true, "timeoutMs": 10000}"#;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Body {
    requested_message: Option<String>,
    evse: Option<EvseBody>,
    connector_id: Option<i64>,
    wait: Option<bool>,
    timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EvseBody {
    id: i64,
    connector_id: Option<i64>,
}

fn message_json(m: &StationMessage) -> Value {
    json!({"action": m.action, "messageId": m.message_id, "payload": m.payload, "receivedAt": rfc3339(m.received_at)})
}

/// Triggers a message and, by default, waits for it.
pub async fn trigger(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let started = Instant::now();
    let body: Body = parse_body(&body, EXAMPLE)?;
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
    let timeout = Duration::from_millis(timeout_ms);
    let deadline = started + timeout;

    let entry = app
        .stations
        .get(&id)
        .ok_or_else(|| ApiError::station_not_found(&id))?;
    let Some(session) = entry.session.clone() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "station_not_connected",
            format!(
                "station {id:?} is known but not connected now; retry when it reconnects (see lastSeen on GET /api/v1/stations/{id})"
            ),
        ));
    };
    let request = TriggerRequest {
        requested_message,
        evse: body.evse.map(|e| EvseTarget {
            id: e.id,
            connector_id: e.connector_id,
        }),
        connector_id: body.connector_id,
    };
    let plan = {
        let state = entry.state.lock().map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "lock poisoned",
            )
        })?;
        trigger_plan::plan(session.protocol, &request, &state)
    }
    .map_err(|e| {
        let mut err = ApiError::bad_request(e.code, e.message)
            .with("protocol", json!(session.protocol.subprotocol()));
        if e.code == "unknown_requested_message" {
            err = err.with(
                "validValues",
                json!(trigger_plan::valid_messages(session.protocol)),
            );
        }
        err
    })?;
    app.schemas
        .validate(
            session.protocol,
            plan.action,
            PayloadKind::Request,
            &plan.payload,
        )
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("planned payload violates its schema: {e}"),
            )
        })?;

    let (reply_tx, reply_rx) = oneshot::channel();
    let (watch_tx, mut watch_rx) = mpsc::unbounded_channel();
    // The session claims messages with its copy of the collector; this one sees exactly the
    // claimed messages, so both agree on completion (and this one also runs the quiet timer).
    let mut collector = Collector::new(plan.expectation.clone(), QUIET_PERIOD);
    let call = Box::new(CallRequest {
        action: plan.action.to_owned(),
        payload: plan.payload.clone(),
        timeout,
        reply: reply_tx,
        watch: wait.then(|| (collector.clone(), watch_tx)),
    });
    if session.calls.send(call).is_err() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "station_disconnected",
            format!("station {id:?} disconnected before the trigger could be sent"),
        ));
    }
    let sent = json!({"action": plan.action, "payload": plan.payload});
    let base = |status: &Value| json!({"stationId": id, "protocol": session.protocol.subprotocol(), "sent": sent, "status": status});
    let outcome = match tokio::time::timeout_at(deadline, reply_rx).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_)) => CallOutcome::Disconnected,
        Err(_) => CallOutcome::Timeout,
    };
    let response = match outcome {
        CallOutcome::Result(payload) => payload,
        CallOutcome::Timeout => {
            return Err(ApiError::new(StatusCode::GATEWAY_TIMEOUT, "station_timeout", format!("station {id:?} did not answer {} within {timeout_ms} ms; raise timeoutMs or check the station", plan.action)).with("sent", sent));
        }
        CallOutcome::Disconnected => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "station_disconnected",
                format!(
                    "station {id:?} disconnected before answering {}",
                    plan.action
                ),
            )
            .with("sent", sent));
        }
        CallOutcome::Error {
            code,
            description,
            details,
        } => {
            return Err(ApiError::new(StatusCode::BAD_GATEWAY, "station_call_error", format!("station {id:?} answered {} with CALLERROR {code}: {description}", plan.action))
                .with("callError", json!({"errorCode": code, "errorDescription": description, "errorDetails": details}))
                .with("sent", sent));
        }
        CallOutcome::InvalidResponse { payload, violation } => {
            return Err(ApiError::new(StatusCode::BAD_GATEWAY, "invalid_station_response", format!("station {id:?} answered {} with a payload that violates the schema: {violation}", plan.action))
                .with("response", payload)
                .with("sent", sent));
        }
    };
    let status = response.get("status").cloned().unwrap_or(Value::Null);
    let mut body = base(&status);
    if let Some(info) = response.get("statusInfo") {
        body["statusInfo"] = info.clone();
    }
    if !wait || status != "Accepted" {
        body["messages"] = json!([]);
        body["elapsedMs"] = json!(started.elapsed().as_millis());
        return Ok(Json(body));
    }

    let mut messages = Vec::new();
    while !collector.is_complete(std::time::Instant::now()) {
        let wake = collector
            .wake_at()
            .map(Instant::from_std)
            .map_or(deadline, |w| w.min(deadline));
        tokio::select! {
            received = watch_rx.recv() => match received {
                Some(m) => {
                    let target = target_of(session.protocol, &m.action, &m.payload);
                    if collector.offer(&m.action, target, std::time::Instant::now()) {
                        messages.push(m);
                    }
                }
                None => break,
            },
            () = tokio::time::sleep_until(wake) => {
                if Instant::now() >= deadline {
                    break;
                }
            }
        }
    }
    let complete = collector.is_complete(std::time::Instant::now());
    if messages.is_empty() {
        return Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "message_timeout",
            format!(
                "station {id:?} accepted the trigger but sent no {} within {timeout_ms} ms",
                plan.expectation.action
            ),
        )
        .with("status", status)
        .with("sent", sent));
    }
    body["messages"] = Value::Array(messages.iter().map(message_json).collect());
    body["complete"] = json!(complete);
    body["elapsedMs"] = json!(started.elapsed().as_millis());
    Ok(Json(body))
}
