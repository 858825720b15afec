//! `/api/v1/alert-rules`: create, list, read, replace and delete alert rules.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ocpulse_core::alert_rules::{AlertRule, RuleSpec};
use ocpulse_core::rfc3339;
use serde_json::{Value, json};

use super::openapi::ApiErrorBody;
use super::page::{Order, Page, PageParams, Paging};
use super::query::Params;
use super::{ApiError, parse_body};
use crate::alerts;
use crate::app::App;
use crate::now_ms;

const EXAMPLE: &str = r#"{"name": "Connector faulted", "condition": {"kind": "connectorFaulted"}, "severity": "critical"} (condition kinds: connectorFaulted, firmwareFailed, heartbeatMissing {minutes}, triggerOutcome {outcomes, requestedMessage?}, meterOutOfRange {measurand?, min?, max?}, securityEvent {types?, includeRefusedConnections?}; optional stations: ["CP1"])"#;

/// An alert rule as its author writes it (`ocpulse_core::alert_rules::RuleSpec`): the
/// create and replace body.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = AlertRuleBody, example = json!({"name": "Connector faulted", "condition": {"kind": "connectorFaulted"}, "severity": "critical"}))]
#[allow(dead_code)] // documentation only: the core `RuleSpec` parses this shape
struct RuleBody {
    /// A name people recognise (1 to 200 characters, not blank); copied into its alerts.
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// What raises and clears its alerts.
    condition: ConditionDoc,
    /// How urgent its alerts are (default `warning`).
    #[serde(default)]
    severity: SeverityName,
    /// Only these stations (non-blank ids); every station when absent or null.
    #[schema(min_items = 1)]
    stations: Option<Vec<String>>,
}

/// What a rule watches for, by `kind`.
#[derive(utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[schema(as = AlertCondition)]
#[allow(dead_code)] // documentation only: the core `Condition` parses this shape
enum ConditionDoc {
    /// A StatusNotification with status Faulted (or a 1.6 errorCode other than NoError);
    /// clears when that connector reports otherwise.
    ConnectorFaulted,
    /// A firmware status notification with a failure status; clears on Installed.
    FirmwareFailed,
    /// A connected station sent no Heartbeat for `minutes`; clears when one arrives.
    HeartbeatMissing {
        /// How long a connected station may go without a Heartbeat (fractions allowed).
        #[schema(exclusive_minimum = 0)]
        minutes: f64,
    },
    /// A trigger ended with one of `outcomes`; clears when a later trigger of the same
    /// requestedMessage on that station ends Completed.
    TriggerOutcome {
        /// Trigger outcomes that raise.
        #[schema(min_items = 1)]
        outcomes: Vec<AlertableOutcome>,
        /// Only triggers of this requestedMessage (not blank).
        #[serde(rename = "requestedMessage")]
        #[schema(min_length = 1)]
        requested_message: Option<String>,
    },
    /// A sampled value of `measurand` below `min` or above `max` (at least one of them;
    /// `min` not above `max`); clears when a value is in range again.
    MeterOutOfRange {
        /// The measurand to watch (default `Energy.Active.Import.Register`; not blank).
        #[serde(default)]
        #[schema(min_length = 1)]
        measurand: String,
        /// Values below this raise.
        min: Option<f64>,
        /// Values above this raise.
        max: Option<f64>,
    },
    /// A security event: a station's SecurityEventNotification (once the CSMS answered it
    /// with a CALLRESULT), a `SecurityEvent` the CSMS detected about a station (e.g.
    /// `InvalidCsr`) and, with `includeRefusedConnections`, a connection refused at the
    /// handshake (its `code`, e.g. `wrong_credentials`, is the type). One alert per station
    /// and type (the alert's `target`; `details` has `type`, `techInfo` cut to 256
    /// characters, `timestamp`, `source` and `action`). It never clears by itself: while
    /// open, further events of the type count (`count`); acknowledging it resolves it, and
    /// the next event raises a new alert.
    SecurityEvent {
        /// Only these event types (non-blank; refusal codes count as types); every type
        /// when absent.
        #[schema(min_items = 1)]
        types: Option<Vec<String>>,
        /// Connections refused at the handshake (`ConnectionRefused`) raise too (default
        /// false).
        #[serde(rename = "includeRefusedConnections", default)]
        include_refused_connections: bool,
    },
}

/// A trigger outcome a `triggerOutcome` rule may name: every ended outcome but Completed
/// (`ocpulse_core::alert_rules::alertable_outcomes`).
pub(crate) struct AlertableOutcome;

impl utoipa::PartialSchema for AlertableOutcome {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("A trigger outcome that can raise an alert"))
            .enum_values(Some(ocpulse_core::alert_rules::alertable_outcomes()))
            .into()
    }
}

impl utoipa::ToSchema for AlertableOutcome {}

/// How urgent an alert is.
#[derive(Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // documentation only: the core `Severity` parses these names
pub(crate) enum SeverityName {
    /// Worth knowing.
    Info,
    /// Needs a look (the default).
    #[default]
    Warning,
    /// Needs action now.
    Critical,
}

/// An alert rule as the API shows it (`view` builds it).
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AlertRule)]
#[allow(dead_code)] // documentation only
struct RuleView {
    /// The rule id.
    id: String,
    /// Its name.
    name: String,
    /// What raises and clears its alerts.
    condition: ConditionDoc,
    /// How urgent its alerts are.
    severity: SeverityName,
    /// Only these stations, or null for every station.
    stations: Option<Vec<String>>,
    /// When it was created (RFC 3339).
    created_at: String,
    /// When it was last replaced (RFC 3339).
    updated_at: String,
}

/// The answer of `PUT /api/v1/alert-rules/{id}`.
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AlertRuleReplaced)]
#[allow(dead_code)] // documentation only
struct RuleReplaced {
    #[serde(flatten)]
    rule: RuleView,
    /// Active alerts resolved because the condition's kind changed.
    resolved_alerts: u64,
}

/// The answer of `DELETE /api/v1/alert-rules/{id}`.
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AlertRuleDeleted)]
#[allow(dead_code)] // documentation only
struct RuleDeleted {
    /// The rule as it was.
    deleted: RuleView,
    /// Its active alerts, now resolved.
    resolved_alerts: u64,
}

pub(super) fn storage(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "storage_error",
        e.to_string(),
    )
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "alert_rule_not_found",
        format!("no alert rule with id {id:?}; GET /api/v1/alert-rules lists them"),
    )
}

fn view(rule: &AlertRule) -> Value {
    json!({
        "id": rule.id,
        "name": rule.name,
        "condition": rule.condition,
        "severity": rule.severity,
        "stations": rule.stations,
        "createdAt": rfc3339(rule.created_at),
        "updatedAt": rfc3339(rule.updated_at),
    })
}

fn spec(raw: &[u8]) -> Result<RuleSpec, ApiError> {
    let spec: RuleSpec = parse_body(raw, EXAMPLE)?;
    spec.validate()
        .map_err(|m| ApiError::bad_request("invalid_rule", m))?;
    Ok(spec)
}

/// `POST /api/v1/alert-rules`: 201 with the rule.
#[utoipa::path(
    post,
    path = "/api/v1/alert-rules",
    tag = "alerts",
    request_body(content = RuleBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The rule", body = RuleView),
        (status = 400, description = "Not a JSON object of this shape (`invalid_body`) or a value out of range (`invalid_rule`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 500, description = "Storage error (`storage_error`)", body = ApiErrorBody),
    )
)]
pub async fn create(State(app): State<Arc<App>>, raw: Bytes) -> Result<Response, ApiError> {
    let rule = AlertRule::new(alerts::new_id(), spec(&raw)?, now_ms());
    alerts::put_rule(&app, rule.clone())
        .await
        .map_err(storage)?;
    Ok((StatusCode::CREATED, Json(view(&rule))).into_response())
}

/// `GET /api/v1/alert-rules`: every rule, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/alert-rules",
    tag = "alerts",
    params(PageParams),
    responses(
        (status = 200, description = "A page of rules, oldest first; `next` is the last rule id", body = Page<RuleView>),
        (status = 400, description = "A bad `limit` (`invalid_limit`), an unknown parameter (`invalid_query`) or an undecodable query", body = ApiErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<Params>,
) -> Result<Json<Page<Value>>, ApiError> {
    let paging = Paging::parse(&params)?;
    let state = app.alerts.state.lock().await;
    let mut rules: Vec<&AlertRule> = state.engine.rules().iter().collect();
    rules.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(paging.page(
        rules,
        Order::Ascending,
        |r| r.id.as_str(),
        view,
    )))
}

/// `GET /api/v1/alert-rules/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/alert-rules/{id}",
    tag = "alerts",
    params(("id" = String, Path, description = "The rule id")),
    responses(
        (status = 200, description = "The rule", body = RuleView),
        (status = 400, description = "The path is not valid UTF-8 (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "No rule with this id (`alert_rule_not_found`)", body = ApiErrorBody),
    )
)]
pub async fn one(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let state = app.alerts.state.lock().await;
    let rule = state.engine.rule(&id).ok_or_else(|| not_found(&id))?;
    Ok(Json(view(rule)))
}

/// `PUT /api/v1/alert-rules/{id}`: replaces the rule's spec; its active alerts stay active
/// unless the condition's kind changed (then they are resolved, and counted in
/// `resolvedAlerts`).
#[utoipa::path(
    put,
    path = "/api/v1/alert-rules/{id}",
    tag = "alerts",
    params(("id" = String, Path, description = "The rule id")),
    request_body(content = RuleBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The rule as replaced, with `resolvedAlerts`", body = RuleReplaced),
        (status = 400, description = "A body refused as on create (`invalid_body`, `invalid_rule`) or an undecodable path", body = ApiErrorBody),
        (status = 404, description = "No rule with this id (`alert_rule_not_found`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 500, description = "Storage error (`storage_error`)", body = ApiErrorBody),
    )
)]
pub async fn replace(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    raw: Bytes,
) -> Result<Json<Value>, ApiError> {
    let spec = spec(&raw)?;
    let existing = app.alerts.state.lock().await.engine.rule(&id).cloned();
    let rule = existing
        .ok_or_else(|| not_found(&id))?
        .replaced(spec, now_ms());
    let resolved = alerts::put_rule(&app, rule.clone())
        .await
        .map_err(storage)?;
    let mut body = view(&rule);
    body["resolvedAlerts"] = json!(resolved);
    Ok(Json(body))
}

/// `DELETE /api/v1/alert-rules/{id}`: its active alerts are resolved.
#[utoipa::path(
    delete,
    path = "/api/v1/alert-rules/{id}",
    tag = "alerts",
    params(("id" = String, Path, description = "The rule id")),
    responses(
        (status = 200, description = "The deleted rule and how many alerts it resolved", body = RuleDeleted),
        (status = 400, description = "The path is not valid UTF-8 (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "No rule with this id (`alert_rule_not_found`)", body = ApiErrorBody),
        (status = 500, description = "Storage error (`storage_error`)", body = ApiErrorBody),
    )
)]
pub async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (rule, resolved) = alerts::delete_rule(&app, &id)
        .await
        .map_err(storage)?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(
        json!({"deleted": view(&rule), "resolvedAlerts": resolved}),
    ))
}
