//! `POST /api/v1/stations/{id}/local-list`: pushes the id-token registry to a station as
//! SendLocalList (Full: the registry or the tokens named; Differential: the tokens named,
//! a token no longer registered being removed), in the station's version's shapes, and
//! returns the station's answer. The CALL goes the way every CSMS CALL goes
//! (`csms_call::prepare` checks it against the schema, `csms_call::send` puts it through
//! the session's outbox); the session tracks the list version the station accepted.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use ocpp_rpc::ProtocolVersion;
use ocpulse_core::authorization::local_list::{self, UpdateType};
use ocpulse_core::authorization::{self, IdTokenEntry};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use super::call_failure::{Unanswered, station_answer};
use super::openapi::ApiErrorBody;
use super::{ApiError, parse_body};
use crate::app::App;
use crate::csms_call;

const MAX_TIMEOUT_MS: u64 = 300_000;
const EXAMPLE: &str = r#"{"updateType": "Full"} or {"updateType": "Differential", "idTokens": ["04A2B3C4", "BLOCKED1"]}"#;

/// The request body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = LocalListBody, examples(
    json!({"updateType": "Full"}),
    json!({"updateType": "Differential", "idTokens": ["04A2B3C4", "BLOCKED1"]})
))]
struct Body {
    /// `Full` replaces the station's list (with the whole registry, or only `idTokens`);
    /// `Differential` changes it (needs `idTokens`: each registered one is added or
    /// replaced, each one not registered is removed). Required.
    #[schema(value_type = UpdateTypeName, required = true)]
    update_type: Option<String>,
    /// The tokens to send (1 to 1000). Default for Full: every registered token.
    #[schema(min_items = 1, max_items = 1000)]
    id_tokens: Option<Vec<String>>,
    /// The list version to set (at least 1). Default: one above the version the station is
    /// known to have.
    #[schema(minimum = 1)]
    list_version: Option<i64>,
    /// How long the station has to answer, in ms (default: the server's call timeout).
    #[schema(minimum = 1, maximum = 300_000)]
    timeout_ms: Option<u64>,
}

/// SendLocalList's update types.
pub(crate) struct UpdateTypeName;

impl utoipa::PartialSchema for UpdateTypeName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(UpdateType::NAMES))
            .into()
    }
}

impl utoipa::ToSchema for UpdateTypeName {}

/// A token left out of the list.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = LocalListSkipped)]
struct SkippedView {
    /// The token.
    id_token: String,
    /// Why it was left out (not registered in a Full list, too long for a 1.6 idTag).
    reason: String,
}

/// The 200 answer: the station's answer to SendLocalList.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = LocalListResult)]
pub(crate) struct Answer {
    /// The station.
    station_id: String,
    /// Its version (`ocpp1.6`, `ocpp2.0.1`, `ocpp2.1`).
    protocol: &'static str,
    /// The station's status: `Accepted` (the station now has `listVersion`), `Failed`,
    /// `VersionMismatch` (send a Full list), or, 1.6 only, `NotSupported`.
    status: String,
    /// `Full` or `Differential`.
    update_type: &'static str,
    /// The version sent (1.6 `listVersion`, 2.0.1 `versionNumber`).
    list_version: i64,
    /// Tokens sent with their info (added or replaced).
    entries: usize,
    /// Tokens sent without info (removed; Differential only).
    removals: usize,
    /// Tokens left out, and why.
    skipped: Vec<SkippedView>,
    /// The station's CALLRESULT payload, as sent.
    #[schema(value_type = Object)]
    response: Value,
    /// From the request to the station's answer, in ms.
    elapsed_ms: u64,
}

/// What the body asks, checked before anything is built or sent.
struct Request {
    update: UpdateType,
    tokens: Option<Vec<String>>,
    list_version: Option<i64>,
    timeout: Duration,
}

fn read(raw: &[u8], default_timeout: Duration) -> Result<Request, ApiError> {
    let body: Body = parse_body(raw, EXAMPLE)?;
    let update = match body.update_type.as_deref() {
        None => {
            return Err(ApiError::bad_request(
                "missing_update_type",
                format!("updateType is required, e.g. {EXAMPLE}"),
            )
            .with("field", "updateType")
            .with("validValues", UpdateType::NAMES));
        }
        Some(name) => UpdateType::parse(name).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_update_type",
                format!("updateType {name:?} is not one of {:?}", UpdateType::NAMES),
            )
            .with("field", "updateType")
            .with("validValues", UpdateType::NAMES)
        })?,
    };
    if let Some(tokens) = &body.id_tokens {
        if tokens.is_empty() || tokens.len() > 1000 {
            return Err(ApiError::bad_request(
                "invalid_id_tokens",
                format!(
                    "idTokens must list 1 to 1000 tokens, got {}; leave it out of a Full update to send the whole registry",
                    tokens.len()
                ),
            )
            .with("field", "idTokens"));
        }
        for t in tokens {
            authorization::check_token(t).map_err(|why| {
                ApiError::bad_request("invalid_id_tokens", format!("idTokens: {t:?} {why}"))
                    .with("field", "idTokens")
            })?;
        }
    } else if update == UpdateType::Differential {
        return Err(ApiError::bad_request(
            "invalid_id_tokens",
            "a Differential update needs idTokens: the tokens to add, replace or (when no longer registered) remove",
        )
        .with("field", "idTokens"));
    }
    if let Some(v) = body.list_version
        && v < 1
    {
        return Err(ApiError::bad_request(
            "invalid_list_version",
            format!("listVersion must be at least 1 (0 means no list), got {v}"),
        )
        .with("field", "listVersion"));
    }
    let timeout_ms = body
        .timeout_ms
        .unwrap_or_else(|| u64::try_from(default_timeout.as_millis()).unwrap_or(30_000));
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(ApiError::bad_request(
            "invalid_timeout",
            format!("timeoutMs must be from 1 to {MAX_TIMEOUT_MS}, got {timeout_ms}"),
        )
        .with("field", "timeoutMs"));
    }
    Ok(Request {
        update,
        tokens: body.id_tokens,
        list_version: body.list_version,
        timeout: Duration::from_millis(timeout_ms),
    })
}

/// Sends the registry to a station as SendLocalList and returns its answer.
#[utoipa::path(
    post,
    path = "/api/v1/stations/{id}/local-list",
    tag = "authorization",
    params(("id" = String, Path, description = "The station id", example = "CP0001")),
    request_body(content = Body, content_type = "application/json"),
    responses(
        (status = 200, description = "The station's answer (its status may be a refusal: Failed, VersionMismatch, NotSupported)", body = Answer),
        (status = 400, description = "A malformed body (`invalid_body`), a missing or unknown updateType (`missing_update_type`, `invalid_update_type`, with `validValues`), bad idTokens (`invalid_id_tokens`), listVersion (`invalid_list_version`) or timeoutMs (`invalid_timeout`); nothing was sent", body = ApiErrorBody),
        (status = 404, description = "No station with this id ever connected (`station_not_found`)", body = ApiErrorBody),
        (status = 409, description = "The station is not connected (`station_not_connected`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 500, description = "Internal error", body = ApiErrorBody),
        (status = 502, description = "The station answered with a CALLERROR (`station_call_error`, with `callError`), with a payload that violates the response schema (`invalid_station_response`), or disconnected before answering (`station_disconnected`)", body = ApiErrorBody),
        (status = 504, description = "The station did not answer within timeoutMs (`station_timeout`)", body = ApiErrorBody),
    )
)]
pub async fn push(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    raw: Bytes,
) -> Result<Json<Answer>, ApiError> {
    let started = Instant::now();
    let request = read(&raw, app.config.call_timeout)?;
    let entry = app.stations.get(&id);
    let protocol = entry.as_ref().and_then(|e| {
        e.session.as_ref().map(|s| s.protocol).or_else(|| {
            e.state
                .lock()
                .protocol
                .as_deref()
                .and_then(ProtocolVersion::from_subprotocol)
        })
    });
    let known = entry
        .as_ref()
        .and_then(|e| e.state.lock().local_list.as_ref().map(|l| l.version));
    // Unknown station, or never connected: refused the way every call is.
    let Some(protocol) = protocol else {
        return Err(csms_call::prepare(&app, &id, "SendLocalList", &Value::Null)
            .err()
            .map_or_else(
                || ApiError::internal("the station's version is unknown"),
                ApiError::from,
            ));
    };
    let items: Vec<(String, Option<IdTokenEntry>)> = match &request.tokens {
        Some(tokens) => tokens
            .iter()
            .map(|t| (t.clone(), app.id_tokens.find(t)))
            .collect(),
        None => app
            .id_tokens
            .all()
            .into_iter()
            .map(|e| (e.id_token.clone(), Some(e)))
            .collect(),
    };
    let version = request
        .list_version
        .unwrap_or_else(|| local_list::next_version(known));
    let list = local_list::build(protocol, request.update, version, &items, crate::now_ms());
    let session = csms_call::prepare(&app, &id, "SendLocalList", &list.payload)?;
    let outcome = csms_call::send(
        &session,
        "SendLocalList",
        list.payload.clone(),
        request.timeout,
    )
    .await;
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let unanswered = Unanswered {
        waited: Some(request.timeout),
        after_timeout: "it may still apply the list; GetLocalListVersion (POST .../calls) tells which version it has",
        after_drop: "it may or may not have applied the list",
    };
    let response = station_answer(&id, "SendLocalList", outcome, &unanswered)
        .map_err(|e| e.with("elapsedMs", elapsed_ms))?;
    Ok(Json(Answer {
        station_id: id,
        protocol: session.protocol.subprotocol(),
        status: response
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("Unknown")
            .to_owned(),
        update_type: request.update.as_str(),
        list_version: list.version,
        entries: list.entries,
        removals: list.removals,
        skipped: list
            .skipped
            .into_iter()
            .map(|s| SkippedView {
                id_token: s.id_token,
                reason: s.reason,
            })
            .collect(),
        response,
        elapsed_ms,
    }))
}
