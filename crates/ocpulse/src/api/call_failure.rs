//! A CALL sent for an API caller that got no CALLRESULT, said once for every endpoint that
//! sends one (`/calls`, station operations, local lists, log requests, charging sessions,
//! configuration reads): 502 for a CALLERROR, an answer that violates the schema or a
//! dropped connection, 504 for silence, each naming the station and the action.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::Value;

use super::ApiError;
use crate::registry::CallOutcome;

/// What a caller should know about a CALL the station did not answer: it may have acted
/// on it, and the endpoint knows best what that means (a list applied, a log uploaded).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unanswered<'a> {
    /// How long ocpulse waited, said in the 504 (`within N ms`) when the caller chose it.
    pub waited: Option<Duration>,
    /// After silence: what the station may still do, and how to find out.
    pub after_timeout: &'a str,
    /// After a dropped connection: what the station may have done (empty: nothing said).
    pub after_drop: &'a str,
}

impl Unanswered<'static> {
    /// The words for a CALL whose effect the caller cannot look up here.
    pub(crate) const ANY: Self = Unanswered {
        waited: None,
        after_timeout: "it may still act on it",
        after_drop: "it may or may not have acted on it",
    };
}

/// The station's CALLRESULT payload, or the error that says why there is none.
pub(crate) fn station_answer(
    station: &str,
    action: &str,
    outcome: CallOutcome,
    unanswered: &Unanswered<'_>,
) -> Result<Value, ApiError> {
    match outcome {
        CallOutcome::Result(response) => Ok(response),
        other => Err(call_failure(station, action, other, unanswered)),
    }
}

/// The error of a CALL that ended without a CALLRESULT, with `stationId` and `action`, the
/// CALLERROR (`callError`) or the answer that violates the schema (`response`). A
/// CALLRESULT is no failure: callers take it first ([`station_answer`]); given one anyway,
/// it is said as a dropped connection, the one ending that claims nothing.
pub(crate) fn call_failure(
    station: &str,
    action: &str,
    outcome: CallOutcome,
    unanswered: &Unanswered<'_>,
) -> ApiError {
    let err = |status, code, message: String| {
        ApiError::new(status, code, message)
            .with("stationId", station)
            .with("action", action)
    };
    match outcome {
        CallOutcome::Error {
            code,
            description,
            details,
        } => err(
            StatusCode::BAD_GATEWAY,
            "station_call_error",
            format!("station {station:?} answered {action} with CALLERROR {code}: {description}"),
        )
        .with(
            "callError",
            serde_json::json!({"errorCode": code, "errorDescription": description, "errorDetails": details}),
        ),
        CallOutcome::InvalidResponse { payload, violation } => err(
            StatusCode::BAD_GATEWAY,
            "invalid_station_response",
            format!(
                "station {station:?} answered {action} with a payload that violates the schema: {violation}"
            ),
        )
        .with("response", payload),
        CallOutcome::Timeout => {
            let within = unanswered
                .waited
                .map(|w| format!(" within {} ms", w.as_millis()))
                .unwrap_or_default();
            err(
                StatusCode::GATEWAY_TIMEOUT,
                "station_timeout",
                format!(
                    "station {station:?} did not answer {action}{within}; {}",
                    unanswered.after_timeout
                ),
            )
        }
        CallOutcome::Disconnected | CallOutcome::Result(_) => {
            let tail = if unanswered.after_drop.is_empty() {
                String::new()
            } else {
                format!("; {}", unanswered.after_drop)
            };
            err(
                StatusCode::BAD_GATEWAY,
                "station_disconnected",
                format!("station {station:?} disconnected before it answered {action}{tail}"),
            )
        }
    }
}
