//! `/api/v1/firmware/rollouts`: a firmware update rolled out in stages (a canary share, a
//! wait, the rest; halted when too many fail), each station's progress as it reported it,
//! and cancelling one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ocpp_rpc::ProtocolVersion;
use ocpulse_core::firmware::progress::{Phase, StationUpdate};
use ocpulse_core::firmware::rollout::{Policy, Rollout, Stage};
use ocpulse_core::firmware::{FirmwareAsk, UpdateCall};
use ocpulse_core::rfc3339;
use ocpulse_core::selector::Selector;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::jobs::StationSelector;
use super::openapi::ApiErrorBody;
use super::page::{Order, Page, Paging};
use super::query::Params;
use super::schedules::store_error;
use super::send_trigger::requested_by;
use super::{ApiError, parse_body};
use crate::app::App;
use crate::{csms_call, firmware};

const EXAMPLE: &str = r#"{"location": "https://fw.example.com/acme-2.1.bin", "firmwareVersion": "2.1", "selector": {"vendor": "Acme"}, "canaryPercent": 10, "canaryWaitSecs": 600, "maxFailurePercent": 20}"#;

/// `POST /api/v1/firmware/rollouts` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = FirmwareRolloutBody, example = json!({"location": "https://fw.example.com/acme-2.1.bin", "firmwareVersion": "2.1", "selector": {"vendor": "Acme"}, "canaryPercent": 10, "canaryWaitSecs": 600, "maxFailurePercent": 20}))]
pub(crate) struct RolloutBody {
    /// Where stations download the image: an http, https, ftp or ftps URL. Required.
    #[schema(required = true, max_length = 512)]
    location: Option<String>,
    /// When stations download it (RFC 3339; default: when each is sent the update).
    retrieve_at: Option<String>,
    /// When they install it (RFC 3339; signed updates only).
    install_at: Option<String>,
    /// Download attempts a station may make.
    #[schema(minimum = 0)]
    retries: Option<i64>,
    /// Seconds between attempts.
    #[schema(minimum = 0)]
    retry_interval_secs: Option<i64>,
    /// PEM certificate the image is signed with: a signed update (1.6 stations get the
    /// security extension's SignedUpdateFirmware). With `signature`.
    #[schema(max_length = 5500)]
    signing_certificate: Option<String>,
    /// Base64 signature of the image. With `signingCertificate`.
    #[schema(max_length = 800)]
    signature: Option<String>,
    /// The version the image carries: a station that boots reporting it has installed the
    /// update even if its status reports were lost.
    firmware_version: Option<String>,
    /// Which stations. Required.
    #[schema(value_type = StationSelector, required = true)]
    selector: Option<StationSelector>,
    /// Percent of the stations updated first (default 10; 0: no canary stage).
    #[schema(minimum = 0, maximum = 100)]
    canary_percent: Option<u64>,
    /// Seconds to wait after the canary stations ended before the rest (default 300).
    #[schema(minimum = 0, maximum = 604_800)]
    canary_wait_secs: Option<u64>,
    /// Halt when more than this percent of the stations that ended failed (default 20).
    #[schema(minimum = 0, maximum = 100)]
    max_failure_percent: Option<u64>,
    /// Stations updating at once (default 50).
    #[schema(minimum = 1, maximum = 10_000)]
    concurrency: Option<u64>,
    /// A station not installed this long after it was sent has failed (default 3600).
    #[schema(minimum = 1, maximum = 604_800)]
    install_timeout_secs: Option<u64>,
    /// A station updating and not heard from this long is asked for its status with a
    /// FirmwareStatusNotification trigger (default 300).
    #[schema(minimum = 1, maximum = 604_800)]
    quiet_after_secs: Option<u64>,
}

/// One status a station reported.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = FirmwareReport)]
pub(crate) struct ReportView {
    /// `Downloading`, ..., `Installed`, a failure, or `Booted <version>`.
    status: String,
    /// When it arrived (RFC 3339).
    at: String,
}

/// One station's update.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FirmwareStation)]
pub(crate) struct StationView {
    /// The station.
    station_id: String,
    /// Whether it is in the canary stage.
    canary: bool,
    /// `pending`, `sent`, `updating`, `installed`, `failed` or `skipped`.
    #[schema(example = "updating")]
    phase: &'static str,
    /// The CALL sent (`UpdateFirmware`, `SignedUpdateFirmware`).
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'static str>,
    /// The requestId sent (signed and 2.x updates).
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<i64>,
    /// When the CALL was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    sent_at: Option<String>,
    /// The station's answer (`Accepted`, `Rejected`, ...) or why there was none.
    #[serde(skip_serializing_if = "Option::is_none")]
    answer: Option<String>,
    /// The last status it reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    /// Every status it reported, oldest first.
    reports: Vec<ReportView>,
    /// FirmwareStatusNotification triggers sent because it went quiet.
    triggers: u32,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    ended_at: Option<String>,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// A firmware rollout.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FirmwareRollout)]
pub(crate) struct RolloutView {
    /// Its id.
    id: String,
    /// `canary`, `waiting` (canary ended, the wait runs), `rest`, `completed`, `halted`
    /// (too many failed) or `cancelled`.
    #[schema(example = "canary")]
    stage: &'static str,
    /// Whether every station has ended (a halted or cancelled rollout follows the stations
    /// already updating to their end).
    finished: bool,
    /// Where stations download the image.
    location: String,
    /// The version the image carries, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    firmware_version: Option<String>,
    /// Whether it is a signed update.
    signed: bool,
    /// How many stations are in the canary stage (the first ones).
    canary: usize,
    /// The staging: canaryPercent, canaryWaitMs, maxFailurePercent, concurrency,
    /// installTimeoutMs, quietAfterMs.
    #[schema(value_type = Object)]
    policy: serde_json::Value,
    /// Stations by phase.
    counts: BTreeMap<&'static str, usize>,
    /// When it started (RFC 3339).
    created_at: String,
    /// When the canary stations had all ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    canary_ended_at: Option<String>,
    /// When every station had ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<String>,
    /// Why it halted or was cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// Every station, canary first (left out of lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    stations: Option<Vec<StationView>>,
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Pending => "pending",
        Phase::Sent => "sent",
        Phase::Updating => "updating",
        Phase::Installed => "installed",
        Phase::Failed => "failed",
        Phase::Skipped => "skipped",
    }
}

fn stage_name(s: Stage) -> &'static str {
    match s {
        Stage::Canary => "canary",
        Stage::Waiting => "waiting",
        Stage::Rest => "rest",
        Stage::Completed => "completed",
        Stage::Halted => "halted",
        Stage::Cancelled => "cancelled",
    }
}

fn station_view(index: usize, canary: usize, s: &StationUpdate) -> StationView {
    StationView {
        station_id: s.station_id.clone(),
        canary: index < canary,
        phase: phase_name(s.phase),
        action: s.call.map(UpdateCall::action),
        request_id: s.request_id,
        sent_at: s.sent_at.map(rfc3339),
        answer: s.answer.clone(),
        status: s.status.clone(),
        reports: s
            .reports
            .iter()
            .map(|r| ReportView {
                status: r.status.clone(),
                at: rfc3339(r.at),
            })
            .collect(),
        triggers: s.triggers,
        ended_at: s.ended_at.map(rfc3339),
        error: s.error.clone(),
    }
}

fn view(r: &Rollout, with_stations: bool) -> RolloutView {
    let mut counts = BTreeMap::new();
    for s in &r.stations {
        *counts.entry(phase_name(s.phase)).or_insert(0) += 1;
    }
    RolloutView {
        id: r.id.clone(),
        stage: stage_name(r.stage),
        finished: r.finished(),
        location: r.firmware.location.clone(),
        firmware_version: r.firmware.firmware_version.clone(),
        signed: r.firmware.signed(),
        canary: r.canary,
        policy: serde_json::to_value(&r.policy).unwrap_or_default(),
        counts,
        created_at: rfc3339(r.created_at),
        canary_ended_at: r.canary_ended_at.map(rfc3339),
        finished_at: r.finished_at.map(rfc3339),
        reason: r.reason.clone(),
        stations: with_stations.then(|| {
            r.stations
                .iter()
                .enumerate()
                .map(|(i, s)| station_view(i, r.canary, s))
                .collect()
        }),
    }
}

fn bounded(
    name: &str,
    value: Option<u64>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ApiError> {
    let v = value.unwrap_or(default);
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(ApiError::bad_request(
            "invalid_policy",
            format!("{name} must be from {min} to {max}, got {v}"),
        ))
    }
}

fn policy_of(body: &RolloutBody) -> Result<Policy, ApiError> {
    const WEEK: u64 = 604_800;
    let install = bounded(
        "installTimeoutSecs",
        body.install_timeout_secs,
        3_600,
        1,
        WEEK,
    )?;
    let ms = |secs: u64| i64::try_from(secs * 1000).unwrap_or(i64::MAX);
    Ok(Policy {
        canary_percent: u8::try_from(bounded("canaryPercent", body.canary_percent, 10, 0, 100)?)
            .unwrap_or(100),
        canary_wait_ms: ms(bounded(
            "canaryWaitSecs",
            body.canary_wait_secs,
            300,
            0,
            WEEK,
        )?),
        max_failure_percent: u8::try_from(bounded(
            "maxFailurePercent",
            body.max_failure_percent,
            20,
            0,
            100,
        )?)
        .unwrap_or(100),
        concurrency: usize::try_from(bounded("concurrency", body.concurrency, 50, 1, 10_000)?)
            .unwrap_or(1),
        install_timeout_ms: ms(install),
        quiet_after_ms: ms(bounded(
            "quietAfterSecs",
            body.quiet_after_secs,
            300,
            1,
            install,
        )?),
    })
}

/// Starts a staged firmware rollout.
#[utoipa::path(
    post,
    path = "/api/v1/firmware/rollouts",
    tag = "firmware",
    request_body(content = RolloutBody, description = "The image, the stations and the staging"),
    responses(
        (status = 201, description = "Started; poll GET /api/v1/firmware/rollouts/{id}", body = RolloutView),
        (status = 400, description = "A malformed body (`invalid_body`), a missing field (`missing_field`), a bad location or signature (`invalid_firmware`), staging (`invalid_policy`), selector (`empty_selector`, `invalid_selector`, ...), no station picked (`no_stations`), unknown station ids (`station_not_found`), or a payload a station's version refuses (`invalid_payload`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable (`store_unavailable`)", body = ApiErrorBody),
    )
)]
pub async fn create(
    State(app): State<Arc<App>>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let requested_by = requested_by(&headers, caller.as_deref())?;
    let body: RolloutBody = parse_body(&raw, EXAMPLE)?;
    let missing = |field: &str| {
        ApiError::bad_request(
            "missing_field",
            format!("{field} is required, e.g. {EXAMPLE}"),
        )
    };
    let policy = policy_of(&body)?;
    let selector: Selector = body.selector.ok_or_else(|| missing("selector"))?.into();
    selector
        .check()
        .map_err(|e| ApiError::bad_request(e.code, e.message))?;
    let ask = FirmwareAsk {
        location: body.location.ok_or_else(|| missing("location"))?,
        retrieve_at: body.retrieve_at,
        install_at: body.install_at,
        retries: body.retries,
        retry_interval_secs: body.retry_interval_secs,
        signing_certificate: body.signing_certificate,
        signature: body.signature,
        firmware_version: body.firmware_version,
    };
    ask.check()
        .map_err(|why| ApiError::bad_request("invalid_firmware", why))?;
    let (stations, protocols) = pick(&app, &selector)?;
    // Every version among them must accept the payload before anything is sent.
    let now = rfc3339(crate::now_ms());
    for protocol in protocols {
        let call = UpdateCall::for_station(protocol.family(), ask.signed());
        csms_call::check(
            &app.schemas,
            protocol,
            call.action(),
            &call.payload(&ask, 1, &now),
        )?;
    }
    let (rollout, _) = firmware::start(&app, ask, policy, stations, &requested_by)
        .await
        .map_err(store_error)?;
    Ok((StatusCode::CREATED, Json(view(&rollout, true))).into_response())
}

/// The stations a selector picks (refusing unknown listed ids and an empty pick) and the
/// versions they last spoke.
fn pick(
    app: &App,
    selector: &Selector,
) -> Result<(Vec<String>, BTreeSet<ProtocolVersion>), ApiError> {
    let entries = app.stations.all();
    let known: Vec<(
        parking_lot::MutexGuard<'_, ocpulse_core::StationState>,
        bool,
    )> = entries
        .iter()
        .map(|(_, e)| (e.state.lock(), e.connected()))
        .collect();
    let ids = selector.pick(known.iter().map(|(s, c)| (&**s, *c)));
    let unknown: Vec<&String> = ids
        .iter()
        .filter(|id| !entries.iter().any(|(k, _)| k == *id))
        .collect();
    if !unknown.is_empty() {
        return Err(ApiError::bad_request(
            "station_not_found",
            format!(
                "no station with id {unknown:?} has ever connected; GET /api/v1/stations lists the known ones"
            ),
        ));
    }
    if ids.is_empty() {
        return Err(ApiError::bad_request(
            "no_stations",
            "the selector picks no station; GET /api/v1/stations?... shows what it could pick",
        ));
    }
    let protocols = known
        .iter()
        .filter(|(s, _)| ids.contains(&s.id))
        .filter_map(|(s, _)| {
            s.protocol
                .as_deref()
                .and_then(ProtocolVersion::from_subprotocol)
        })
        .collect();
    Ok((ids, protocols))
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "rollout_not_found",
        format!("no firmware rollout with id {id:?}; GET /api/v1/firmware/rollouts lists them"),
    )
}

/// Every rollout, newest first, without the per-station detail.
#[utoipa::path(
    get,
    path = "/api/v1/firmware/rollouts",
    tag = "firmware",
    params(Paging),
    responses(
        (status = 200, description = "A page of rollouts, newest first, without `stations`; `next` is the last id", body = Page<RolloutView>),
        (status = 400, description = "A bad `limit` (`invalid_limit`) or an unknown parameter (`invalid_query`)", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable (`store_unavailable`)", body = ApiErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<Params>,
) -> Result<Json<Page<RolloutView>>, ApiError> {
    let paging = Paging::parse(&params)?;
    let all = firmware::list(&app).await.map_err(store_error)?;
    Ok(Json(paging.page(
        all,
        Order::Descending,
        |r| r.id.as_str(),
        |r| view(&r, false),
    )))
}

/// One rollout with every station's progress.
#[utoipa::path(
    get,
    path = "/api/v1/firmware/rollouts/{id}",
    tag = "firmware",
    params(("id" = String, Path, description = "The rollout id")),
    responses(
        (status = 200, description = "The rollout", body = RolloutView),
        (status = 400, description = "The path is not valid UTF-8 (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "No such rollout (`rollout_not_found`)", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable (`store_unavailable`)", body = ApiErrorBody),
    )
)]
pub async fn one(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<RolloutView>, ApiError> {
    let r = firmware::get(&app, &id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(view(&r, true)))
}

/// Cancels a rollout: stations not sent yet are skipped; those updating are followed to
/// their end.
#[utoipa::path(
    post,
    path = "/api/v1/firmware/rollouts/{id}/cancel",
    tag = "firmware",
    params(("id" = String, Path, description = "The rollout id")),
    responses(
        (status = 200, description = "The cancelled rollout", body = RolloutView),
        (status = 400, description = "The path is not valid UTF-8 (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "No such rollout (`rollout_not_found`)", body = ApiErrorBody),
        (status = 409, description = "It no longer sends anything: completed, halted or cancelled (`rollout_stopped`)", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable (`store_unavailable`)", body = ApiErrorBody),
    )
)]
pub async fn cancel(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
) -> Result<Json<RolloutView>, ApiError> {
    let by = requested_by(&headers, caller.as_deref())?;
    let current = firmware::get(&app, &id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| not_found(&id))?;
    if current.stage.stopped() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "rollout_stopped",
            format!(
                "firmware rollout {id:?} is already {}; only a rollout still sending can be cancelled",
                stage_name(current.stage)
            ),
        ));
    }
    let r =
        firmware::cancel(&app, &id, format!("cancelled by {by}")).ok_or_else(|| not_found(&id))?;
    Ok(Json(view(&r, true)))
}
