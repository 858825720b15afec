//! `/api/v1/config/drift` and `/api/v1/config/apply`: how the fleet compares with its
//! configuration profiles (from stored snapshots, or read fresh), and applying a profile
//! as a job with each station's and each key's result.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ocpulse_core::station_config::{DriftItem, KeyResult};
use serde::{Deserialize, Serialize};

use super::config_profiles::profile_not_found;
use super::openapi::ApiErrorBody;
use super::page::{Order, Page, Paging};
use super::query::Params;
use super::schedules::store_error;
use super::station_config::check_timeout;
use super::{ApiError, parse_body};
use crate::app::App;
use crate::station_config::apply::{self, ApplyJob, StationApply, StationOutcome};
use crate::station_config::drift::{self, StationDrift};

const CHECK_EXAMPLE: &str = r#"{"profile": "fleet-defaults"} or {} (every profile)"#;
const APPLY_EXAMPLE: &str = r#"{"profile": "fleet-defaults"} or {"profile": "fleet-defaults", "stationIds": ["CP0001"], "wait": false}"#;

/// Stations read or written at once by one check or apply, unless the caller says.
const DEFAULT_CONCURRENCY: usize = 16;
/// At most this many at once.
const MAX_CONCURRENCY: usize = 1_000;

/// One setting off its desired value.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = DriftItem)]
#[allow(dead_code)] // the schema of `ocpulse_core::station_config::DriftItem`
pub(crate) struct DriftItemDoc {
    /// The key.
    key: String,
    /// What the profile wants.
    desired: String,
    /// What the station reported (absent when missing or undisclosed).
    actual: Option<String>,
    /// `differs` (applying fixes it), `missing` (the station did not report the key) or
    /// `readOnly` (the station will refuse to change it).
    #[schema(value_type = String, example = "differs")]
    kind: String,
}

/// One station against one profile.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = StationDrift)]
pub(crate) struct StationDriftView {
    /// The station.
    station_id: String,
    /// The profile.
    profile_id: String,
    /// `compliant`, `drifting` or `unread` (never read: POST /api/v1/config/drift/check).
    #[schema(value_type = String, example = "drifting")]
    standing: drift::Standing,
    /// When the compared snapshot was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    read_at: Option<String>,
    /// The settings off their desired value.
    #[schema(value_type = Vec<DriftItemDoc>)]
    items: Vec<DriftItem>,
    /// Why a fresh read failed (check only); the stored snapshot was compared instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    read_error: Option<String>,
}

impl From<StationDrift> for StationDriftView {
    fn from(d: StationDrift) -> Self {
        StationDriftView {
            station_id: d.station_id,
            profile_id: d.profile_id,
            standing: d.standing,
            read_at: d.read_at,
            items: d.items,
            read_error: d.read_error,
        }
    }
}

/// Counts for one profile.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ProfileDriftSummary)]
pub(crate) struct ProfileSummary {
    /// The profile.
    profile_id: String,
    /// Stations it applies to.
    stations: usize,
    /// Of those, at their desired values.
    compliant: usize,
    /// Off them.
    drifting: usize,
    /// Never read.
    unread: usize,
}

/// The fleet against its profiles.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = DriftReport)]
pub(crate) struct DriftReport {
    /// Counts per profile.
    profiles: Vec<ProfileSummary>,
    /// Each (station, profile) pair, by profile then station.
    stations: Vec<StationDriftView>,
}

fn report_of(items: Vec<StationDrift>) -> DriftReport {
    let mut profiles: BTreeMap<String, ProfileSummary> = BTreeMap::new();
    for d in &items {
        let s = profiles
            .entry(d.profile_id.clone())
            .or_insert_with(|| ProfileSummary {
                profile_id: d.profile_id.clone(),
                stations: 0,
                compliant: 0,
                drifting: 0,
                unread: 0,
            });
        s.stations += 1;
        match d.standing {
            drift::Standing::Compliant => s.compliant += 1,
            drift::Standing::Drifting => s.drifting += 1,
            drift::Standing::Unread => s.unread += 1,
        }
    }
    DriftReport {
        profiles: profiles.into_values().collect(),
        stations: items.into_iter().map(Into::into).collect(),
    }
}

async fn known_profile(app: &App, id: Option<&str>) -> Result<(), ApiError> {
    if let Some(id) = id
        && crate::station_config::profile(app, id)
            .await
            .map_err(store_error)?
            .is_none()
    {
        return Err(profile_not_found(id));
    }
    Ok(())
}

/// The fleet against its profiles, from the stored snapshots.
#[utoipa::path(
    get,
    path = "/api/v1/config/drift",
    tag = "configuration",
    params(
        ("profile" = Option<String>, Query, description = "Only this profile"),
        ("station" = Option<String>, Query, description = "Only this station"),
    ),
    responses(
        (status = 200, description = "Counts per profile and each station's standing", body = DriftReport),
        (status = 400, description = "An unknown parameter (`invalid_query`)", body = ApiErrorBody),
        (status = 404, description = "No such profile (`profile_not_found`)", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable (`store_unavailable`)", body = ApiErrorBody),
    )
)]
pub async fn report(
    State(app): State<Arc<App>>,
    Query(params): Query<Params>,
) -> Result<Json<DriftReport>, ApiError> {
    let profile = params.get("profile").map(String::as_str);
    let station = params.get("station").map(String::as_str);
    known_profile(&app, profile).await?;
    let items = drift::report(&app, profile, station)
        .await
        .map_err(store_error)?;
    Ok(Json(report_of(items)))
}

/// A drift check: which profiles and stations to read.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = DriftCheckBody, examples(json!({}), json!({"profile": "fleet-defaults", "timeoutMs": 10000})))]
struct CheckBody {
    /// Only this profile (every profile when absent).
    profile: Option<String>,
    /// Only this station.
    station_id: Option<String>,
    /// How long each station's read may take, in ms (default 30000).
    #[schema(minimum = 1, maximum = 300_000)]
    timeout_ms: Option<u64>,
    /// Stations read at once (default 16, at most 1000).
    #[schema(minimum = 1, maximum = 1000)]
    concurrency: Option<usize>,
}

fn check_concurrency(c: Option<usize>) -> Result<usize, ApiError> {
    let c = c.unwrap_or(DEFAULT_CONCURRENCY);
    if (1..=MAX_CONCURRENCY).contains(&c) {
        Ok(c)
    } else {
        Err(ApiError::bad_request(
            "invalid_concurrency",
            format!("concurrency must be from 1 to {MAX_CONCURRENCY}, got {c}"),
        ))
    }
}

/// Reads each profile's keys from every connected station it applies to, stores the
/// snapshots, and answers with the fleet's drift.
#[utoipa::path(
    post,
    path = "/api/v1/config/drift/check",
    tag = "configuration",
    request_body(content = CheckBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The fleet's drift after the reads; a failed read is said on its station (`readError`)", body = DriftReport),
        (status = 400, description = "A malformed body (`invalid_body`), a bad timeout (`invalid_timeout`) or concurrency (`invalid_concurrency`)", body = ApiErrorBody),
        (status = 404, description = "No such profile (`profile_not_found`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable (`store_unavailable`)", body = ApiErrorBody),
    )
)]
pub async fn check(State(app): State<Arc<App>>, raw: Bytes) -> Result<Json<DriftReport>, ApiError> {
    let body: CheckBody = parse_body(&raw, CHECK_EXAMPLE)?;
    let timeout = check_timeout(body.timeout_ms, 30_000)?;
    let concurrency = check_concurrency(body.concurrency)?;
    known_profile(&app, body.profile.as_deref()).await?;
    let items = drift::check(
        &app,
        body.profile.as_deref(),
        body.station_id.as_deref(),
        Duration::from_millis(timeout),
        concurrency,
    )
    .await
    .map_err(store_error)?;
    Ok(Json(report_of(items)))
}

/// An apply request.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = ConfigApplyBody, examples(json!({"profile": "fleet-defaults"}), json!({"profile": "fleet-defaults", "stationIds": ["CP0001"], "wait": false})))]
struct ApplyBody {
    /// The profile to apply. Required.
    #[schema(required = true)]
    profile: Option<String>,
    /// Only these of the stations it applies to (all of them when absent).
    #[schema(min_items = 1, max_items = 10_000)]
    station_ids: Option<Vec<String>>,
    /// How long each CALL may take, in ms (default 30000).
    #[schema(minimum = 1, maximum = 300_000)]
    timeout_ms: Option<u64>,
    /// Stations worked on at once (default 16, at most 1000).
    #[schema(minimum = 1, maximum = 1000)]
    concurrency: Option<usize>,
    /// Wait for the job to finish (default true); false answers 202 at once.
    wait: Option<bool>,
}

/// One key sent and the station's answer.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = KeyResult)]
#[allow(dead_code)] // the schema of `ocpulse_core::station_config::KeyResult`
pub(crate) struct KeyResultDoc {
    /// The key.
    key: String,
    /// The value sent.
    value: String,
    /// `Accepted`, `RebootRequired`, `Rejected`, `NotSupported`, `UnknownComponent`,
    /// `UnknownVariable`, or what ended the CALL (`Timeout`, `CallError ...`, `Disconnected`).
    status: String,
}

/// One station's part of an apply job.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ConfigApplyStation)]
pub(crate) struct StationApplyView {
    /// The station.
    station_id: String,
    /// `pending`, `compliant` (nothing to change), `applied`, `rebootRequired` (set; the
    /// station must reboot for some keys), `partial` (some refused), `failed`, or
    /// `interrupted` (ocpulse stopped before its result was kept).
    #[schema(value_type = String, example = "applied")]
    outcome: StationOutcome,
    /// What drifted before, as read fresh.
    #[schema(value_type = Vec<DriftItemDoc>)]
    drift: Vec<DriftItem>,
    /// Each key sent, with the station's answer.
    #[schema(value_type = Vec<KeyResultDoc>)]
    results: Vec<KeyResult>,
    /// What still drifts, as read again after.
    #[schema(value_type = Vec<DriftItemDoc>)]
    remaining: Vec<DriftItem>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl From<StationApply> for StationApplyView {
    fn from(s: StationApply) -> Self {
        StationApplyView {
            station_id: s.station_id,
            outcome: s.outcome,
            drift: s.drift,
            results: s.results,
            remaining: s.remaining,
            error: s.error,
        }
    }
}

/// An apply job.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ConfigApplyJob)]
pub(crate) struct ApplyJobView {
    /// The job id (`GET /api/v1/config/applies/{id}`).
    job_id: String,
    /// The profile applied.
    profile_id: String,
    /// `running`, `finished`, or `interrupted` (ocpulse stopped while it ran; its
    /// stations not done by then say `interrupted`).
    status: String,
    /// When it started.
    created_at: String,
    /// When it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<String>,
    /// Stations by outcome.
    counts: BTreeMap<String, usize>,
    /// Every station.
    stations: Vec<StationApplyView>,
}

impl From<ApplyJob> for ApplyJobView {
    fn from(j: ApplyJob) -> Self {
        ApplyJobView {
            job_id: j.id,
            profile_id: j.profile_id,
            status: j.status,
            created_at: j.created_at,
            finished_at: j.finished_at,
            counts: j.counts,
            stations: j.stations.into_iter().map(Into::into).collect(),
        }
    }
}

/// Applies a profile to the stations it applies to: reads each one's keys, sets the
/// drifting ones, reads them again; answers with the finished job (or 202 at once).
#[utoipa::path(
    post,
    path = "/api/v1/config/apply",
    tag = "configuration",
    request_body(content = ApplyBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The finished job", body = ApplyJobView),
        (status = 202, description = "Started (`wait: false`); poll GET /api/v1/config/applies/{id}", body = ApplyJobView),
        (status = 400, description = "A malformed body (`invalid_body`), no profile (`missing_field`), stations the profile does not apply to (`not_applicable`), a bad timeout (`invalid_timeout`) or concurrency (`invalid_concurrency`)", body = ApiErrorBody),
        (status = 404, description = "No such profile (`profile_not_found`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable (`store_unavailable`)", body = ApiErrorBody),
    )
)]
pub async fn apply(State(app): State<Arc<App>>, raw: Bytes) -> Result<Response, ApiError> {
    let body: ApplyBody = parse_body(&raw, APPLY_EXAMPLE)?;
    let id = body.profile.ok_or_else(|| {
        ApiError::bad_request(
            "missing_field",
            format!("profile is required, e.g. {APPLY_EXAMPLE}"),
        )
    })?;
    let timeout = check_timeout(body.timeout_ms, 30_000)?;
    let concurrency = check_concurrency(body.concurrency)?;
    let profile = crate::station_config::profile(&app, &id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| profile_not_found(&id))?;
    let applicable = drift::pairs(&app, Some(&id), None)
        .await
        .map_err(store_error)?
        .into_iter()
        .flat_map(|(_, stations)| stations)
        .collect::<Vec<_>>();
    let stations = match body.station_ids {
        None => applicable,
        Some(ids) => {
            let outside: Vec<&String> = ids.iter().filter(|s| !applicable.contains(s)).collect();
            if ids.is_empty() || !outside.is_empty() {
                return Err(ApiError::bad_request(
                    "not_applicable",
                    format!(
                        "profile {id:?} does not apply to {outside:?} (its version and selector pick {} station(s)); GET /api/v1/config/drift?profile={id} lists them",
                        applicable.len()
                    ),
                ));
            }
            ids
        }
    };
    let (job, done) = apply::start(
        &app,
        profile,
        stations,
        Duration::from_millis(timeout),
        concurrency,
    )
    .await
    .map_err(store_error)?;
    if body.wait == Some(false) {
        return Ok((StatusCode::ACCEPTED, Json(ApplyJobView::from(job))).into_response());
    }
    let finished = done.notified();
    tokio::pin!(finished);
    // Registered before looking, so an end between the look and the wait is not missed.
    finished.as_mut().enable();
    loop {
        let current = apply::get(&app, &job.id).await.map_err(store_error)?;
        match current {
            Some(j) if j.status != "running" => {
                return Ok((StatusCode::OK, Json(ApplyJobView::from(j))).into_response());
            }
            _ => {
                let _ = tokio::time::timeout(Duration::from_millis(500), finished.as_mut()).await;
                finished.set(done.notified());
                finished.as_mut().enable();
            }
        }
    }
}

fn apply_not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "apply_job_not_found",
        format!("no configuration apply job with id {id:?}; GET /api/v1/config/applies lists them"),
    )
}

/// Every apply job, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/config/applies",
    tag = "configuration",
    params(Paging),
    responses(
        (status = 200, description = "A page of jobs, newest first; `next` is the last job id", body = Page<ApplyJobView>),
        (status = 400, description = "A bad `limit` (`invalid_limit`) or an unknown parameter (`invalid_query`)", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable (`store_unavailable`)", body = ApiErrorBody),
    )
)]
pub async fn applies(
    State(app): State<Arc<App>>,
    Query(params): Query<Params>,
) -> Result<Json<Page<ApplyJobView>>, ApiError> {
    let paging = Paging::parse(&params)?;
    let jobs = apply::list(&app).await.map_err(store_error)?;
    Ok(Json(paging.page(
        jobs,
        Order::Descending,
        |j| j.id.as_str(),
        ApplyJobView::from,
    )))
}

/// One apply job, while it runs or after.
#[utoipa::path(
    get,
    path = "/api/v1/config/applies/{id}",
    tag = "configuration",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The job", body = ApplyJobView),
        (status = 400, description = "The path is not valid UTF-8 (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "No such job (`apply_job_not_found`)", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable (`store_unavailable`)", body = ApiErrorBody),
    )
)]
pub async fn one_apply(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<ApplyJobView>, ApiError> {
    let job = apply::get(&app, &id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| apply_not_found(&id))?;
    Ok(Json(job.into()))
}
