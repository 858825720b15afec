//! Charging sessions: `GET /api/v1/sessions?station=&active=&from=&to=` and
//! `/sessions/{id}` (folded from the journal by `charging_sessions`),
//! `POST /api/v1/stations/{id}/sessions` (start, answered once the station started it) and
//! `POST /api/v1/sessions/{id}/stop` (answered with the ended session), through
//! `charging_control`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ocpulse_core::charging_session::{ChargingSession, MeterPoint, SessionFilter, opening_seq};
use ocpulse_core::rfc3339;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::call_failure::{Unanswered, call_failure};
use super::openapi::ApiErrorBody;
use super::page::{Order, Page, Paging};
use super::query::{Params, range, storage, text};
use super::{ApiError, parse_body};
use crate::app::App;
use crate::charging_control::{self, Ended, StartRequest, StopRefusal};

const MAX_TIMEOUT_MS: u64 = 300_000;
const DEFAULT_TIMEOUT_MS: u64 = 60_000;
const START_EXAMPLE: &str = r#"{"evseId": 1, "idToken": "04A2B3C4", "timeoutMs": 30000}"#;
const STOP_EXAMPLE: &str = r#"{"timeoutMs": 30000}"#;

/// A charging session.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ChargingSession)]
pub(crate) struct SessionView<'a> {
    /// The session's id (16 hex digits: the journal `seq` of the message that opened it).
    #[schema(value_type = String, example = "00000000000004d2")]
    id: &'a str,
    /// The station.
    #[schema(value_type = String)]
    station_id: &'a str,
    /// 1.6 `transactionId` (assigned by ocpulse) or 2.0.1 `transactionId` (the station's).
    #[schema(value_type = String)]
    transaction_id: &'a str,
    /// `1.6` or `2.x`: which messages describe it.
    #[schema(value_type = String)]
    family: &'a str,
    /// 2.0.1 EVSE.
    evse_id: Option<i64>,
    /// 1.6 connector, or the 2.0.1 EVSE's connector.
    connector_id: Option<i64>,
    /// The id token that started it (1.6 `idTag`, 2.0.1 `idToken.idToken`).
    #[schema(value_type = Option<String>)]
    id_token: Option<&'a str>,
    /// What ocpulse answered about that token at the start (1.6 `idTagInfo.status`).
    #[schema(value_type = Option<String>)]
    authorization: Option<&'a str>,
    /// 2.0.1 `remoteStartId`, when a RequestStartTransaction started it.
    remote_start_id: Option<i64>,
    /// Whether it is still going.
    active: bool,
    /// The station's start time, as sent.
    #[schema(value_type = String)]
    started_at: &'a str,
    /// When ocpulse received the start (RFC 3339).
    received_at: String,
    /// The station's stop time, as sent.
    #[schema(value_type = Option<String>)]
    stopped_at: Option<&'a str>,
    /// Why it stopped (1.6 `reason`, 2.0.1 `stoppedReason`; `Local` when the station says
    /// none).
    #[schema(value_type = Option<String>)]
    stop_reason: Option<&'a str>,
    /// 2.0.1 `chargingState` as last reported.
    #[schema(value_type = Option<String>)]
    charging_state: Option<&'a str>,
    /// The energy register at the start, Wh.
    meter_start_wh: Option<f64>,
    /// The energy register as last read, Wh.
    meter_now_wh: Option<f64>,
    /// Energy delivered so far (final once ended), Wh.
    energy_wh: Option<f64>,
    /// The latest active power, W (0 once ended).
    power_w: Option<f64>,
    /// The newest meter readings, oldest first (at most 120).
    timeline: Vec<MeterPointView<'a>>,
    /// When it last changed (RFC 3339).
    updated_at: String,
}

/// One meter reading of a session.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SessionMeterPoint)]
pub(crate) struct MeterPointView<'a> {
    /// The station's timestamp of the reading.
    #[schema(value_type = String)]
    timestamp: &'a str,
    /// The journal entry that carried it.
    seq: i64,
    /// The energy register, Wh.
    energy_wh: Option<f64>,
    /// Active power, W.
    power_w: Option<f64>,
}

impl<'a> From<&'a MeterPoint> for MeterPointView<'a> {
    fn from(p: &'a MeterPoint) -> Self {
        Self {
            timestamp: &p.timestamp,
            seq: p.seq,
            energy_wh: p.energy_wh,
            power_w: p.power_w,
        }
    }
}

impl<'a> From<&'a ChargingSession> for SessionView<'a> {
    fn from(s: &'a ChargingSession) -> Self {
        Self {
            id: &s.id,
            station_id: &s.station_id,
            transaction_id: &s.transaction_id,
            family: &s.family,
            evse_id: s.evse_id,
            connector_id: s.connector_id,
            id_token: s.id_token.as_deref(),
            authorization: s.authorization.as_deref(),
            remote_start_id: s.remote_start_id,
            active: s.active,
            started_at: &s.started_at,
            received_at: rfc3339(s.received_at),
            stopped_at: s.stopped_at.as_deref(),
            stop_reason: s.stop_reason.as_deref(),
            charging_state: s.charging_state.as_deref(),
            meter_start_wh: s.meter_start_wh,
            meter_now_wh: s.meter_now_wh,
            energy_wh: s.energy_wh,
            power_w: s.power_w,
            timeline: s.timeline.iter().map(MeterPointView::from).collect(),
            updated_at: rfc3339(s.updated_at),
        }
    }
}

fn session_response(status: StatusCode, session: &ChargingSession) -> Response {
    (status, Json(SessionView::from(session))).into_response()
}

/// Lists sessions, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/sessions",
    tag = "sessions",
    params(
        ("station" = Option<String>, Query, description = "Only this station's sessions"),
        ("active" = Option<bool>, Query, description = "Only open (`true`) or ended (`false`) sessions"),
        ("from" = Option<String>, Query, format = DateTime, description = "Only sessions that started (as received) at or after this RFC 3339 time"),
        ("to" = Option<String>, Query, format = DateTime, description = "Only sessions that started (as received) before this RFC 3339 time"),
        Paging,
    ),
    responses(
        (status = 200, description = "A page of sessions, newest first; `next` is the last one's id", body = Page<SessionView>),
        (status = 400, description = "A bad `active` (`invalid_active`), `from`/`to` (`invalid_time`, `invalid_range`), `limit` (`invalid_limit`), `after` (`invalid_after`) or an unknown parameter (`invalid_query`)", body = ApiErrorBody),
        (status = 500, description = "Storage error", body = ApiErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let paging = Paging::parse(&params)?;
    let (from, to) = range(&params)?;
    let active = match text(&params, "active") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(v) => {
            return Err(ApiError::bad_request(
                "invalid_active",
                format!("active must be true or false, got {v:?}"),
            ));
        }
    };
    if let Some(a) = &paging.after
        && opening_seq(a).is_none()
    {
        return Err(ApiError::bad_request(
            "invalid_after",
            format!(
                "after must be the \"next\" of a previous page (a session id, 16 hex digits), got {a:?}"
            ),
        ));
    }
    let filter = SessionFilter {
        station_id: text(&params, "station").map(str::to_owned),
        active,
        from,
        to,
    };
    let sessions = crate::charging_sessions::all(&app).await.map_err(storage)?;
    let page = paging.page(
        sessions.iter().filter(|s| filter.matches(s)),
        Order::Descending,
        |s| &s.id,
        SessionView::from,
    );
    Ok(Json(page).into_response())
}

/// One session.
#[utoipa::path(
    get,
    path = "/api/v1/sessions/{id}",
    tag = "sessions",
    params(("id" = String, Path, description = "The session's id", example = "00000000000004d2")),
    responses(
        (status = 200, description = "The session", body = SessionView),
        (status = 404, description = "No such session (`session_not_found`)", body = ApiErrorBody),
        (status = 500, description = "Storage error", body = ApiErrorBody),
    )
)]
pub async fn one(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let session = find(&app, &id).await?;
    Ok(session_response(StatusCode::OK, &session))
}

async fn find(app: &App, id: &str) -> Result<ChargingSession, ApiError> {
    crate::charging_sessions::get(app, id)
        .await
        .map_err(storage)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "session_not_found",
                format!("no charging session with id {id:?}; GET /api/v1/sessions lists them"),
            )
        })
}

/// The start request's body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = StartSessionBody, examples(
    json!({"evseId": 1, "idToken": "04A2B3C4"}),
    json!({"idToken": "04A2B3C4", "idTokenType": "ISO14443", "timeoutMs": 30000})
))]
struct StartBody {
    /// The EVSE (2.0.1) or connector (1.6) to charge on; the station picks one when absent.
    #[schema(minimum = 1)]
    evse_id: Option<i64>,
    /// The same as `evseId`, by its 1.6 name (give one of the two).
    #[schema(minimum = 1)]
    connector_id: Option<i64>,
    /// The id token to charge with (1.6 `idTag`, at most 20 characters; 2.0.1
    /// `idToken.idToken`, at most 36). Required.
    #[schema(required = true)]
    id_token: Option<String>,
    /// 2.0.1 `idToken.type` (`Central` unless given: `ISO14443`, `eMAID`, ...); ignored on 1.6.
    id_token_type: Option<String>,
    /// How long to wait for the station to start the session, in ms (default 60000). The
    /// station's answer to the request itself must come within the server's call timeout.
    #[schema(minimum = 1, maximum = 300_000)]
    timeout_ms: Option<u64>,
}

/// The stop request's body (optional).
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = StopSessionBody)]
struct StopBody {
    /// How long to wait for the station to end the session, in ms (default 60000).
    #[schema(minimum = 1, maximum = 300_000)]
    timeout_ms: Option<u64>,
}

fn timeout(ms: Option<u64>) -> Result<Duration, ApiError> {
    let ms = ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if !(1..=MAX_TIMEOUT_MS).contains(&ms) {
        return Err(ApiError::bad_request(
            "invalid_timeout",
            format!("timeoutMs must be from 1 to {MAX_TIMEOUT_MS}, got {ms}"),
        ));
    }
    Ok(Duration::from_millis(ms))
}

/// Starts a charging session and answers once the station has started it.
#[utoipa::path(
    post,
    path = "/api/v1/stations/{id}/sessions",
    tag = "sessions",
    params(("id" = String, Path, description = "The station id", example = "CP0001")),
    request_body(content = StartBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The station started the session (its StartTransaction / TransactionEvent arrived): the session", body = SessionView),
        (status = 400, description = "A malformed body (`invalid_body`, `missing_id_token`, `invalid_evse`, `invalid_timeout`) or a payload the version's schema refuses (`invalid_payload`, with `path`: e.g. an idToken too long); nothing was sent", body = ApiErrorBody),
        (status = 404, description = "No station with this id ever connected (`station_not_found`)", body = ApiErrorBody),
        (status = 409, description = "The station is not connected (`station_not_connected`), or it refused to start (`start_rejected`, with `response`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 500, description = "Internal error", body = ApiErrorBody),
        (status = 502, description = "The station answered with a CALLERROR (`station_call_error`), an invalid answer (`invalid_station_response`) or disconnected (`station_disconnected`)", body = ApiErrorBody),
        (status = 504, description = "The station did not answer (`station_timeout`), or accepted but started no session within timeoutMs (`no_session_started`: typically no car plugged in)", body = ApiErrorBody),
    )
)]
pub async fn start(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let body: StartBody = parse_body(&raw, START_EXAMPLE)?;
    let target = match (body.evse_id, body.connector_id) {
        (Some(e), Some(c)) if e != c => {
            return Err(ApiError::bad_request(
                "invalid_evse",
                format!(
                    "evseId ({e}) and connectorId ({c}) name the same thing (the 2.0.1 EVSE or 1.6 connector); give one"
                ),
            ));
        }
        (e, c) => e.or(c),
    };
    if let Some(t) = target
        && t < 1
    {
        return Err(ApiError::bad_request(
            "invalid_evse",
            format!("evseId must be 1 or more (0 is the whole station), got {t}"),
        ));
    }
    let Some(id_token) = body.id_token.filter(|t| !t.is_empty()) else {
        return Err(ApiError::bad_request(
            "missing_id_token",
            format!("idToken is required: the token to charge with, e.g. {START_EXAMPLE}"),
        ));
    };
    let timeout = timeout(body.timeout_ms)?;
    let ended = charging_control::start(
        &app,
        StartRequest {
            station_id: id.clone(),
            target,
            id_token,
            id_token_type: body.id_token_type,
            timeout,
        },
    )
    .await?;
    match ended {
        Ended::Done(session) => Ok(session_response(StatusCode::CREATED, &session)),
        Ended::Refused { action, response } => Err(ApiError::new(
            StatusCode::CONFLICT,
            "start_rejected",
            format!("station {id:?} answered {action} with {}; no session was started", status_of(&response)),
        )
        .with("response", response)),
        Ended::NotSeen { action, response } => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "no_session_started",
            format!(
                "station {id:?} accepted {action} but started no session within {} ms (no car plugged in?); it may still start one: GET /api/v1/sessions?station={id}&active=true",
                timeout.as_millis()
            ),
        )
        .with("response", response)),
        Ended::Call { action, outcome } => {
            Err(call_failure(&id, action, outcome, &Unanswered::ANY))
        }
    }
}

/// Stops a session and answers with it once the station has ended it.
#[utoipa::path(
    post,
    path = "/api/v1/sessions/{id}/stop",
    tag = "sessions",
    params(("id" = String, Path, description = "The session's id", example = "00000000000004d2")),
    request_body(content = StopBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The station ended the session: the session with its final energy", body = SessionView),
        (status = 400, description = "A malformed body (`invalid_body`, `invalid_timeout`)", body = ApiErrorBody),
        (status = 404, description = "No such session (`session_not_found`)", body = ApiErrorBody),
        (status = 409, description = "The session has ended already (`session_ended`), its station is not connected (`station_not_connected`), it refused (`stop_rejected`, with `response`), or speaks a version that cannot name the transaction (`session_unstoppable`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 500, description = "Storage error", body = ApiErrorBody),
        (status = 502, description = "The station answered with a CALLERROR (`station_call_error`), an invalid answer (`invalid_station_response`) or disconnected (`station_disconnected`)", body = ApiErrorBody),
        (status = 504, description = "The station did not answer (`station_timeout`), or accepted but did not end the session within timeoutMs (`session_not_stopped`)", body = ApiErrorBody),
    )
)]
pub async fn stop(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let body: StopBody = if raw.iter().all(u8::is_ascii_whitespace) {
        StopBody::default()
    } else {
        parse_body(&raw, STOP_EXAMPLE)?
    };
    let timeout = timeout(body.timeout_ms)?;
    let session = find(&app, &id).await?;
    let station = session.station_id.clone();
    let ended = match charging_control::stop(&app, session, timeout).await {
        Ok(ended) => ended,
        Err(StopRefusal::Call(refusal)) => return Err(refusal.into()),
        Err(StopRefusal::AlreadyEnded(s)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "session_ended",
                format!(
                    "session {id} ended already ({}); nothing was sent",
                    s.stop_reason.as_deref().unwrap_or("Local")
                ),
            )
            .with("energyWh", s.energy_wh));
        }
        Err(StopRefusal::Unstoppable(s)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "session_unstoppable",
                format!(
                    "station {:?} now speaks a version that cannot name transaction {:?}; nothing was sent",
                    s.station_id, s.transaction_id
                ),
            ));
        }
    };
    match ended {
        Ended::Done(session) => Ok(session_response(StatusCode::OK, &session)),
        Ended::Refused { action, response } => Err(ApiError::new(
            StatusCode::CONFLICT,
            "stop_rejected",
            format!(
                "station {station:?} answered {action} with {}; the session goes on",
                status_of(&response)
            ),
        )
        .with("response", response)),
        Ended::NotSeen { action, response } => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "session_not_stopped",
            format!(
                "station {station:?} accepted {action} but did not end session {id} within {} ms; it may still end it: GET /api/v1/sessions/{id}",
                timeout.as_millis()
            ),
        )
        .with("response", response)),
        Ended::Call { action, outcome } => {
            Err(call_failure(&station, action, outcome, &Unanswered::ANY))
        }
    }
}

fn status_of(response: &Value) -> String {
    response
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("no status")
        .to_owned()
}
