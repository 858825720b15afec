//! Starting a trigger, whoever asks: the HTTP trigger API, a bulk job, a schedule, a
//! freshness refresh or a liveness probe. Every refusal (unknown station, not connected,
//! a request the station's version cannot express) is decided here, once, with the code and
//! message the API shows, so a job's per-station result says exactly what the single-station
//! API would have said.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use ocpp_rpc::{PayloadKind, ProtocolVersion};
use ocpulse_core::rfc3339;
use ocpulse_core::trigger_plan::{self, TriggerRequest};
use ocpulse_core::trigger_record::{Outcome, TriggerRecord};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::api::ApiError;
use crate::app::App;
use crate::now_ms;
use crate::trigger_run::TriggerRun;

/// Who asked and how long the trigger may take: everything about a trigger that is not the
/// OCPP request itself.
#[derive(Debug, Clone)]
pub struct TriggerOptions {
    /// Kept in the record (`X-Requested-By`, or `job:<id>`, `schedule:<id>`, ...).
    pub requested_by: String,
    /// The request as the caller gave it, kept in the record.
    pub request_json: Value,
    /// How long the whole trigger may take.
    pub timeout: Duration,
    /// Store the record as it starts (for callers that do not wait for the end).
    pub store_start: bool,
}

/// Plans a trigger for `station_id` and returns it ready to run, or the API error that says
/// why it cannot run (404 unknown station, 400 for a request the station's version cannot
/// express — for a disconnected station, the version it last spoke —, 409 not connected).
pub fn prepare(
    app: &Arc<App>,
    station_id: &str,
    request: TriggerRequest,
    options: TriggerOptions,
    started: Instant,
) -> Result<TriggerRun, ApiError> {
    let entry = app
        .stations
        .get(station_id)
        .ok_or_else(|| ApiError::station_not_found(station_id))?;
    let plan = |protocol: ProtocolVersion| {
        let state = entry
            .state
            .lock()
            .map_err(|_| internal("station state lock poisoned"))?;
        trigger_plan::plan_all(protocol, &request, &state)
            .map_err(|e| plan_error(protocol, e.code, e.message))
    };
    let Some(session) = entry.session.clone() else {
        // A request that could never run is told so now, not after the station is back:
        // it is checked against the version the station last spoke.
        let last = entry.state.lock().ok().and_then(|s| {
            s.protocol
                .as_deref()
                .and_then(ProtocolVersion::from_subprotocol)
        });
        if let Some(protocol) = last {
            plan(protocol)?;
        }
        return Err(not_connected(station_id));
    };
    let plans = plan(session.protocol)?;
    for plan in &plans {
        app.schemas
            .validate(
                session.protocol,
                plan.action,
                PayloadKind::Request,
                &plan.payload,
            )
            .map_err(|e| internal(format!("planned payload violates its schema: {e}")))?;
    }
    let record = TriggerRecord {
        // Time-ordered, so stored records append at the end of their index.
        id: uuid::Uuid::now_v7().simple().to_string(),
        station_id: station_id.to_owned(),
        protocol: session.protocol.subprotocol().to_owned(),
        requested_by: options.requested_by,
        request: options.request_json,
        created_at: rfc3339(now_ms()),
        calls: Vec::new(),
        messages: Vec::new(),
        unmatched: Vec::new(),
        outcome: Outcome::Running,
        detail: None,
        complete: false,
        completed_at: None,
        elapsed_ms: None,
        certificate: None,
    };
    Ok(TriggerRun {
        record,
        plans,
        session,
        state: Arc::clone(&entry.state),
        timeout: options.timeout,
        started,
        store_start: options.store_start,
    })
}

/// 400 for a request `protocol` cannot express, with the values it can when that helps.
fn plan_error(protocol: ProtocolVersion, code: &'static str, message: String) -> ApiError {
    let mut err =
        ApiError::bad_request(code, message).with("protocol", json!(protocol.subprotocol()));
    if code == "unknown_requested_message" || code == "no_equivalent" {
        err = err.with("validValues", json!(trigger_plan::valid_messages(protocol)));
    }
    err
}

/// 409: the station is known but has no live connection.
pub fn not_connected(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "station_not_connected",
        format!(
            "station {id:?} is known but not connected now; retry when it reconnects (see lastSeen on GET /api/v1/stations/{id})"
        ),
    )
}

/// 500 for what should not happen.
pub fn internal(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
}
