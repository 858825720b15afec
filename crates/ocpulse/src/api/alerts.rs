//! `/api/v1/alerts`: list and read alerts, acknowledge one.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use ocpulse_core::alert_rules::AlertStatus;
use serde::Deserialize;
use serde_json::{Value, json};

use super::alert_rules::{SeverityName, storage};
use super::openapi::ApiErrorBody;
use super::page::{Order, Page, PageParams, Paging};
use super::{ApiError, parse_body};
use crate::alerts::{self, AcknowledgeError};
use crate::app::App;

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "alert_not_found",
        format!("no alert with id {id:?}; GET /api/v1/alerts lists them"),
    )
}

/// An alert as the API shows it (`ocpulse_core::alert_rules::Alert`).
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Alert)]
#[allow(dead_code)] // documentation only
pub(crate) struct AlertView {
    /// The alert id.
    id: String,
    /// The rule that raised it.
    rule_id: String,
    /// The rule's name when raised.
    rule_name: String,
    /// The rule's severity when raised.
    severity: SeverityName,
    /// The station it is about.
    station_id: String,
    /// What on the station (`connector:1`, `evse:1/connector:2`, `firmware`, `heartbeat`,
    /// `trigger:StatusNotification`, `meter:connector:1`; a `securityEvent` alert's is the
    /// event type, e.g. `InvalidCsr`).
    target: String,
    /// Where it is in its life.
    status: AlertStatusName,
    /// When it was raised (RFC 3339).
    raised_at: String,
    /// When its condition last fired (RFC 3339).
    last_raised_at: String,
    /// How many times the condition fired while it was active.
    count: u64,
    /// What the latest firing saw.
    details: Value,
    /// When it was acknowledged (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    acknowledged_at: Option<String>,
    /// Who acknowledged it.
    #[serde(skip_serializing_if = "Option::is_none")]
    acknowledged_by: Option<String>,
    /// Their note.
    #[serde(skip_serializing_if = "Option::is_none")]
    acknowledge_note: Option<String>,
    /// When it was resolved (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    resolved_at: Option<String>,
    /// What cleared it.
    #[serde(skip_serializing_if = "Option::is_none")]
    resolution: Option<Value>,
}

/// Where an alert is in its life.
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // documentation only: `AlertStatus` parses these names
pub(crate) enum AlertStatusName {
    /// Raised, nobody has acknowledged it yet.
    Open,
    /// Someone is on it; the condition still holds.
    Acknowledged,
    /// The condition cleared (or its rule was deleted; a `securityEvent` alert is resolved
    /// when acknowledged).
    Resolved,
}

/// `GET /api/v1/alerts?status=&station=&rule=&limit=&after=`: newest first.
#[utoipa::path(
    get,
    path = "/api/v1/alerts",
    tag = "alerts",
    params(
        ("status" = Option<AlertStatusName>, Query, description = "Only alerts in this state"),
        ("station" = Option<String>, Query, description = "Only this station's alerts", example = "CP0001"),
        ("rule" = Option<String>, Query, description = "Only alerts of this rule id"),
        PageParams,
    ),
    responses(
        (status = 200, description = "A page of alerts, newest first; `next` is the last alert id", body = Page<AlertView>),
        (status = 400, description = "A bad `status` (`invalid_status`, with `validValues`), `limit` (`invalid_limit`), an unknown parameter (`invalid_query`) or an undecodable query", body = ApiErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Page<Value>>, ApiError> {
    let status = params
        .get("status")
        .map(|s| {
            AlertStatus::parse(s).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_status",
                    format!(
                        "status {s:?} is not an alert status; use open, acknowledged or resolved"
                    ),
                )
                .with("validValues", json!(["open", "acknowledged", "resolved"]))
            })
        })
        .transpose()?;
    let paging = Paging::parse(&params)?;
    let state = app.alerts.state.lock().await;
    // Alert ids are time-ordered (UUIDv7): newest first is descending by id.
    let matching = state
        .alerts
        .values()
        .rev()
        .filter(|a| status.is_none_or(|s| a.status == s))
        .filter(|a| params.get("station").is_none_or(|s| *s == a.station_id))
        .filter(|a| params.get("rule").is_none_or(|r| *r == a.rule_id));
    Ok(Json(paging.page(
        matching,
        Order::Descending,
        |a| a.id.as_str(),
        |a| json!(a),
    )))
}

/// `GET /api/v1/alerts/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/alerts/{id}",
    tag = "alerts",
    params(("id" = String, Path, description = "The alert id")),
    responses(
        (status = 200, description = "The alert", body = AlertView),
        (status = 400, description = "The path is not valid UTF-8 (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "No alert with this id (`alert_not_found`)", body = ApiErrorBody),
    )
)]
pub async fn one(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let state = app.alerts.state.lock().await;
    let alert = state.alerts.get(&id).ok_or_else(|| not_found(&id))?;
    Ok(Json(json!(alert)))
}

/// The optional acknowledge body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AcknowledgeBody, example = json!({"by": "alice", "note": "replacing the contactor"}))]
struct AckBody {
    /// Who takes it on (default: the bearer token's name, else `api`; blank counts as absent).
    by: Option<String>,
    /// A note for others.
    note: Option<String>,
}

/// `POST /api/v1/alerts/{id}/acknowledge` with an optional `{"by", "note"}`; a
/// `securityEvent` alert is resolved at the same time.
#[utoipa::path(
    post,
    path = "/api/v1/alerts/{id}/acknowledge",
    tag = "alerts",
    params(("id" = String, Path, description = "The alert id")),
    request_body(content = AckBody, content_type = "application/json", description = "Optional (`required: false`, see `api/openapi.rs`): an empty body acknowledges as `api`"),
    responses(
        (status = 200, description = "The acknowledged alert. A `securityEvent` alert is resolved by its acknowledgement (it never clears by itself): it comes back `resolved`, after `AlertAcknowledged` and `AlertResolved` events, and the next event of its type raises a new alert", body = AlertView),
        (status = 400, description = "Not a JSON object of this shape (`invalid_body`) or an undecodable path", body = ApiErrorBody),
        (status = 404, description = "No alert with this id (`alert_not_found`)", body = ApiErrorBody),
        (status = 409, description = "The alert is not open: already acknowledged or resolved (`alert_not_open`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 500, description = "Storage error (`storage_error`)", body = ApiErrorBody),
    )
)]
pub async fn acknowledge(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    caller: Option<axum::Extension<super::auth::Caller>>,
    raw: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: AckBody = if raw.iter().all(u8::is_ascii_whitespace) {
        AckBody::default()
    } else {
        parse_body(
            &raw,
            r#"{"by": "alice", "note": "replacing the contactor"} (both optional)"#,
        )?
    };
    let by = body
        .by
        .map(|b| b.trim().to_owned())
        .filter(|b| !b.is_empty())
        .or_else(|| {
            caller
                .as_deref()
                .and_then(|c| c.token_name())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "api".to_owned());
    match alerts::acknowledge(&app, &id, by, body.note).await {
        Ok(alert) => Ok(Json(json!(alert))),
        Err(AcknowledgeError::NotFound) => Err(not_found(&id)),
        Err(AcknowledgeError::Refused(why)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "alert_not_open",
            why.to_string(),
        )),
        Err(AcknowledgeError::Store(e)) => Err(storage(e)),
    }
}
