//! `/api/v1/stations/{id}/configuration`: read a station's configuration now (1.6
//! GetConfiguration; 2.x GetBaseReport, or GetVariables for named keys), and the stored
//! snapshots with their history. The shapes of configuration verification live here;
//! profiles, drift and apply jobs are in `config_profiles` and `config_drift`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use ocpulse_core::station_config::{ConfigEntry, ConfigSnapshot};
use serde::{Deserialize, Serialize};

use super::call_failure::{Unanswered, call_failure};
use super::openapi::ApiErrorBody;
use super::schedules::store_error;
use super::{ApiError, parse_body};
use crate::app::App;
use crate::station_config::read::{self, ReadError};
use crate::station_config::{self, drift};

const READ_EXAMPLE: &str =
    r#"{} (everything) or {"keys": ["HeartbeatInterval"], "timeoutMs": 10000}"#;

/// Longest a read may wait (a full 2.x report may come in many parts).
const MAX_TIMEOUT_MS: u64 = 300_000;

/// Default wait for a read.
const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// Most keys one read may name.
const MAX_KEYS: usize = 500;

/// A read request.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = ConfigReadBody, examples(json!({}), json!({"keys": ["HeartbeatInterval", "MeterValueSampleInterval"]}), json!({"keys": ["OCPPCommCtrlr.HeartbeatInterval"], "timeoutMs": 10000})))]
struct ReadBody {
    /// Only these keys (1.6 keys; 2.x `Component.Variable`, read with GetVariables); every
    /// setting when absent (1.6 GetConfiguration, 2.x GetBaseReport FullInventory).
    #[schema(max_items = 500)]
    keys: Option<Vec<String>>,
    /// How long the whole read may take, in ms (default 30000).
    #[schema(minimum = 1, maximum = 300_000)]
    timeout_ms: Option<u64>,
}

/// One setting as the station reported it.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ConfigEntry)]
#[allow(dead_code)] // the schema of `ocpulse_core::station_config::ConfigEntry`
pub(crate) struct ConfigEntryDoc {
    /// Its value; absent when the station did not disclose it.
    value: Option<String>,
    /// Present and true when the station reports the setting read-only.
    readonly: Option<bool>,
}

/// A station's configuration as read at one moment.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ConfigSnapshot)]
pub(crate) struct SnapshotView {
    /// The station.
    station_id: String,
    /// Its subprotocol when read.
    protocol: String,
    /// When it was read (RFC 3339).
    read_at: String,
    /// How: `GetConfiguration`, `GetBaseReport` or `GetVariables`.
    source: String,
    /// Whether the snapshot holds every setting (some full read so far); a read of named
    /// keys updates those keys in the latest snapshot.
    complete: bool,
    /// The settings by key (1.6 key; 2.x `Component.Variable`, with `[instance]` and
    /// `@evse:connector` when the station has them).
    #[schema(value_type = BTreeMap<String, ConfigEntryDoc>)]
    entries: BTreeMap<String, ConfigEntry>,
    /// Keys asked for that the station does not know.
    unknown: Vec<String>,
}

impl From<ConfigSnapshot> for SnapshotView {
    fn from(s: ConfigSnapshot) -> Self {
        SnapshotView {
            station_id: s.station_id,
            protocol: s.protocol,
            read_at: s.read_at,
            source: s.source,
            complete: s.complete,
            entries: s.entries,
            unknown: s.unknown,
        }
    }
}

/// The latest snapshot, its comparison with each profile that applies, and the history.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = StationConfiguration)]
pub(crate) struct StationConfigView {
    /// The latest snapshot (every read merged in).
    latest: SnapshotView,
    /// The station against each profile that applies to it.
    drift: Vec<super::config_drift::StationDriftView>,
}

/// The stored snapshots, newest first.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ConfigHistory)]
pub(crate) struct HistoryView {
    /// The station.
    station_id: String,
    /// Newest first (at most 20 are kept).
    snapshots: Vec<SnapshotView>,
}

/// The API error of a failed read.
pub(crate) fn read_error(station_id: &str, e: ReadError) -> ApiError {
    match e {
        ReadError::Refused(r) => r.into(),
        ReadError::InvalidKey(why) => ApiError::bad_request("invalid_key", why),
        ReadError::Call { action, outcome } => {
            call_failure(station_id, action, outcome, &Unanswered::ANY)
        }
        ReadError::StationRefused { action, response } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "station_refused",
            format!("station {station_id:?} refused {action}: {response}; read named keys instead ({{\"keys\": [...]}}, GetVariables)"),
        )
        .with("response", response),
        ReadError::ReportIncomplete { parts } => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "report_incomplete",
            format!("station {station_id:?} accepted GetBaseReport but sent only {parts} NotifyReport part(s) in time; raise timeoutMs"),
        ),
        ReadError::Store(e) => store_error(e),
    }
}

/// Reads the station's configuration now, stores the snapshot and answers with it.
#[utoipa::path(
    post,
    path = "/api/v1/stations/{id}/configuration/read",
    tag = "configuration",
    params(("id" = String, Path, description = "The station id", example = "CP0001")),
    request_body(content = ReadBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The stored snapshot (a read of named keys is merged into the latest)", body = SnapshotView),
        (status = 400, description = "A malformed body (`invalid_body`), too many keys (`too_many_keys`), a bad timeout (`invalid_timeout`) or a 2.x key that is not Component.Variable (`invalid_key`); nothing was sent", body = ApiErrorBody),
        (status = 404, description = "No station with this id ever connected (`station_not_found`)", body = ApiErrorBody),
        (status = 409, description = "The station is not connected (`station_not_connected`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 422, description = "The station refused to report (`station_refused`, with its `response`)", body = ApiErrorBody),
        (status = 502, description = "A CALLERROR (`station_call_error`), an invalid answer (`invalid_station_response`) or a disconnect (`station_disconnected`)", body = ApiErrorBody),
        (status = 503, description = "The snapshot could not be stored (`store_unavailable`)", body = ApiErrorBody),
        (status = 504, description = "No answer in time (`station_timeout`), or a report still missing parts (`report_incomplete`)", body = ApiErrorBody),
    )
)]
pub async fn read_now(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    raw: Bytes,
) -> Result<Json<SnapshotView>, ApiError> {
    let body: ReadBody = parse_body(&raw, READ_EXAMPLE)?;
    let timeout_ms = check_timeout(body.timeout_ms, DEFAULT_TIMEOUT_MS)?;
    if let Some(keys) = &body.keys {
        check_keys(keys)?;
    }
    let snapshot = read::read_and_store(
        &app,
        &id,
        body.keys.as_deref(),
        Duration::from_millis(timeout_ms),
    )
    .await
    .map_err(|e| read_error(&id, e))?;
    Ok(Json(snapshot.into()))
}

/// `timeoutMs` in range, or the default.
pub(crate) fn check_timeout(timeout_ms: Option<u64>, default: u64) -> Result<u64, ApiError> {
    let t = timeout_ms.unwrap_or(default);
    if (1..=MAX_TIMEOUT_MS).contains(&t) {
        Ok(t)
    } else {
        Err(ApiError::bad_request(
            "invalid_timeout",
            format!("timeoutMs must be from 1 to {MAX_TIMEOUT_MS}, got {t}"),
        ))
    }
}

fn check_keys(keys: &[String]) -> Result<(), ApiError> {
    if keys.len() > MAX_KEYS {
        return Err(ApiError::bad_request(
            "too_many_keys",
            format!(
                "at most {MAX_KEYS} keys per read, got {}; leave keys out to read everything",
                keys.len()
            ),
        ));
    }
    if keys.is_empty() || keys.iter().any(|k| k.trim().is_empty()) {
        return Err(ApiError::bad_request(
            "invalid_key",
            format!("keys must be a non-empty list of non-empty keys, e.g. {READ_EXAMPLE}"),
        ));
    }
    Ok(())
}

fn not_read(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "configuration_not_read",
        format!(
            "station {id:?} has no stored configuration yet; POST /api/v1/stations/{id}/configuration/read reads it"
        ),
    )
}

/// The latest snapshot and how it compares with each profile that applies.
#[utoipa::path(
    get,
    path = "/api/v1/stations/{id}/configuration",
    tag = "configuration",
    params(("id" = String, Path, description = "The station id", example = "CP0001")),
    responses(
        (status = 200, description = "The latest snapshot and its drift per profile", body = StationConfigView),
        (status = 400, description = "The path is not valid UTF-8 (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "Never read (`configuration_not_read`)", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable (`store_unavailable`)", body = ApiErrorBody),
    )
)]
pub async fn latest(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<StationConfigView>, ApiError> {
    let history = station_config::history(&app, &id)
        .await
        .map_err(store_error)?;
    let latest = history
        .snapshots
        .into_iter()
        .next()
        .ok_or_else(|| not_read(&id))?;
    let drift = drift::report(&app, None, Some(&id))
        .await
        .map_err(store_error)?;
    Ok(Json(StationConfigView {
        latest: latest.into(),
        drift: drift.into_iter().map(Into::into).collect(),
    }))
}

/// Every stored snapshot of the station, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/stations/{id}/configuration/history",
    tag = "configuration",
    params(("id" = String, Path, description = "The station id", example = "CP0001")),
    responses(
        (status = 200, description = "The snapshots, newest first", body = HistoryView),
        (status = 400, description = "The path is not valid UTF-8 (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "Never read (`configuration_not_read`)", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable (`store_unavailable`)", body = ApiErrorBody),
    )
)]
pub async fn history(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<HistoryView>, ApiError> {
    let history = station_config::history(&app, &id)
        .await
        .map_err(store_error)?;
    if history.snapshots.is_empty() {
        return Err(not_read(&id));
    }
    Ok(Json(HistoryView {
        station_id: id,
        snapshots: history.snapshots.into_iter().map(Into::into).collect(),
    }))
}
