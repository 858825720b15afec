//! `/api/v1/alerts`: list and read alerts, acknowledge one.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ocpulse_core::alert_rules::{Alert, AlertStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::alert_rules::{SeverityName, storage};
use super::openapi::ApiErrorBody;
use super::page::{Order, Page, Paging};
use super::{ApiError, parse_body, query};
use crate::alerts::{self, AcknowledgeError};
use crate::app::App;

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "alert_not_found",
        format!("no alert with id {id:?}; GET /api/v1/alerts lists them"),
    )
}

// Borrowed from the alert. Fields are in alphabetical order, the order the alert had when the
// API showed it as one JSON map, so the bytes a client receives did not change.
/// An alert as the API shows it (`ocpulse_core::alert_rules::Alert`).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Alert)]
pub(crate) struct AlertView<'a> {
    /// Their note.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    acknowledge_note: Option<&'a str>,
    /// When it was acknowledged (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    acknowledged_at: Option<&'a str>,
    /// Who acknowledged it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    acknowledged_by: Option<&'a str>,
    /// How many times the condition fired while it was active.
    count: u64,
    /// What the latest firing saw.
    #[schema(value_type = Value)]
    details: &'a Value,
    /// The alert id.
    #[schema(value_type = String)]
    id: &'a str,
    /// When its condition last fired (RFC 3339).
    #[schema(value_type = String)]
    last_raised_at: &'a str,
    /// When it was raised (RFC 3339).
    #[schema(value_type = String)]
    raised_at: &'a str,
    /// What cleared it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    resolution: Option<&'a Value>,
    /// When it was resolved (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    resolved_at: Option<&'a str>,
    /// The rule that raised it.
    #[schema(value_type = String)]
    rule_id: &'a str,
    /// The rule's name when raised.
    #[schema(value_type = String)]
    rule_name: &'a str,
    /// The rule's severity when raised.
    severity: SeverityName,
    /// The station it is about.
    #[schema(value_type = String)]
    station_id: &'a str,
    /// Where it is in its life.
    status: AlertStatusName,
    /// What on the station (`connector:1`, `evse:1/connector:2`, `firmware`, `heartbeat`,
    /// `trigger:StatusNotification`, `meter:connector:1`; a `securityEvent` alert's is the
    /// event type, e.g. `InvalidCsr`).
    #[schema(value_type = String)]
    target: &'a str,
}

impl<'a> From<&'a Alert> for AlertView<'a> {
    fn from(a: &'a Alert) -> Self {
        Self {
            acknowledge_note: a.acknowledge_note.as_deref(),
            acknowledged_at: a.acknowledged_at.as_deref(),
            acknowledged_by: a.acknowledged_by.as_deref(),
            count: a.count,
            details: &a.details,
            id: &a.id,
            last_raised_at: &a.last_raised_at,
            raised_at: &a.raised_at,
            resolution: a.resolution.as_ref(),
            resolved_at: a.resolved_at.as_deref(),
            rule_id: &a.rule_id,
            rule_name: &a.rule_name,
            severity: a.severity.into(),
            station_id: &a.station_id,
            status: a.status.into(),
            target: &a.target,
        }
    }
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) enum AlertStatusName {
    /// Raised, nobody has acknowledged it yet.
    Open,
    /// Someone is on it; the condition still holds.
    Acknowledged,
    /// The condition cleared (or its rule was deleted; a `securityEvent` alert is resolved
    /// when acknowledged).
    Resolved,
}

impl From<AlertStatus> for AlertStatusName {
    fn from(s: AlertStatus) -> Self {
        match s {
            AlertStatus::Open => Self::Open,
            AlertStatus::Acknowledged => Self::Acknowledged,
            AlertStatus::Resolved => Self::Resolved,
        }
    }
}

impl From<AlertStatusName> for AlertStatus {
    fn from(s: AlertStatusName) -> Self {
        match s {
            AlertStatusName::Open => Self::Open,
            AlertStatusName::Acknowledged => Self::Acknowledged,
            AlertStatusName::Resolved => Self::Resolved,
        }
    }
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
        Paging,
    ),
    responses(
        (status = 200, description = "A page of alerts, newest first; `next` is the last alert id", body = Page<AlertView>),
        (status = 400, description = "A bad `status` (`invalid_status`, with `validValues`), `limit` (`invalid_limit`), an unknown parameter (`invalid_query`) or an undecodable query", body = ApiErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let status = params
        .get("status")
        .map(|s| {
            query::name::<AlertStatusName>(s)
                .map(AlertStatus::from)
                .ok_or_else(|| {
                    ApiError::bad_request(
                    "invalid_status",
                    format!(
                        "status {s:?} is not an alert status; use open, acknowledged or resolved"
                    ),
                )
                .with("validValues", ["open", "acknowledged", "resolved"])
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
        AlertView::from,
    ))
    .into_response())
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
) -> Result<Response, ApiError> {
    let state = app.alerts.state.lock().await;
    let alert = state.alerts.get(&id).ok_or_else(|| not_found(&id))?;
    Ok(Json(AlertView::from(alert)).into_response())
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
) -> Result<Response, ApiError> {
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
        Ok(alert) => Ok(Json(AlertView::from(&alert)).into_response()),
        Err(AcknowledgeError::NotFound) => Err(not_found(&id)),
        Err(AcknowledgeError::Refused(why)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "alert_not_open",
            why.to_string(),
        )),
        Err(AcknowledgeError::Store(e)) => Err(storage(e)),
    }
}

#[cfg(test)]
mod tests {
    use ocpulse_core::alert_rules::Severity;
    use serde_json::json;

    use super::*;
    use crate::api::assert_sorted_keys;

    #[test]
    fn an_alert_keeps_the_key_order_of_a_json_map_and_shows_what_is_stored() {
        let alert = Alert {
            id: "a".into(),
            rule_id: "r".into(),
            rule_name: "n".into(),
            severity: Severity::Critical,
            station_id: "CP1".into(),
            target: "connector:1".into(),
            status: AlertStatus::Resolved,
            raised_at: "t0".into(),
            last_raised_at: "t1".into(),
            count: 2,
            details: json!({"status": "Faulted", "connectorId": 1}),
            acknowledged_at: Some("t2".into()),
            acknowledged_by: Some("alice".into()),
            acknowledge_note: Some("note".into()),
            resolved_at: Some("t3".into()),
            resolution: Some(json!({"reason": "cleared"})),
        };
        let view = AlertView::from(&alert);
        assert_sorted_keys(&view);
        assert_eq!(
            serde_json::to_value(&view).ok(),
            serde_json::to_value(&alert).ok()
        );
    }
}
