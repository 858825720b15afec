//! `/api/v1/alert-rules`: create, list, read, replace and delete alert rules.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ocpulse_core::alert_rules::{AlertRule, Condition, RuleSpec, Severity};
use ocpulse_core::rfc3339;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::openapi::ApiErrorBody;
use super::page::{Order, Page, Paging};
use super::query::Params;
use super::{ApiError, parse_body};
use crate::alerts;
use crate::app::App;
use crate::now_ms;

const EXAMPLE: &str = r#"{"name": "Connector faulted", "condition": {"kind": "connectorFaulted"}, "severity": "critical"} (condition kinds: connectorFaulted, firmwareFailed, heartbeatMissing {minutes}, triggerOutcome {outcomes, requestedMessage?}, meterOutOfRange {measurand?, min?, max?}, securityEvent {types?, includeRefusedConnections?}; optional stations: ["CP1"])"#;

// Read into the core `RuleSpec`, then checked by `RuleSpec::validate`.
/// An alert rule as its author writes it: the create and replace body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = AlertRuleBody, example = json!({"name": "Connector faulted", "condition": {"kind": "connectorFaulted"}, "severity": "critical"}))]
struct RuleBody {
    /// A name people recognise (1 to 200 characters, not blank); copied into its alerts.
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// What raises and clears its alerts.
    condition: ConditionBody,
    /// How urgent its alerts are (default `warning`).
    #[serde(default)]
    severity: SeverityName,
    /// Only these stations (non-blank ids); every station when absent or null.
    #[serde(default)]
    #[schema(min_items = 1)]
    stations: Option<Vec<String>>,
}

impl From<RuleBody> for RuleSpec {
    fn from(b: RuleBody) -> Self {
        RuleSpec {
            name: b.name,
            condition: b.condition.into(),
            severity: b.severity.into(),
            stations: b.stations,
        }
    }
}

// The serde attributes are the core `Condition`'s, so a body is read (and refused, with the
// same words) as the core reads it; `ConnectorFaulted {}` rather than a unit variant, so an
// unknown field next to `kind` is refused.
/// What a rule watches for, by `kind`.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
#[schema(as = AlertCondition)]
enum ConditionBody {
    /// A StatusNotification with status Faulted (or a 1.6 errorCode other than NoError);
    /// clears when that connector reports otherwise.
    ConnectorFaulted {},
    /// A firmware status notification with a failure status; clears on Installed.
    FirmwareFailed {},
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
        #[schema(min_items = 1, value_type = Vec<AlertableOutcome>)]
        outcomes: Vec<String>,
        /// Only triggers of this requestedMessage (not blank).
        #[serde(rename = "requestedMessage")] // utoipa does not read `rename_all_fields`
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(min_length = 1)]
        requested_message: Option<String>,
    },
    /// A sampled value of `measurand` below `min` or above `max` (at least one of them;
    /// `min` not above `max`); clears when a value is in range again.
    MeterOutOfRange {
        /// The measurand to watch (default `Energy.Active.Import.Register`; not blank).
        #[serde(default = "default_measurand")]
        #[schema(min_length = 1)]
        measurand: String,
        /// Values below this raise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        /// Values above this raise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
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
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(min_items = 1)]
        types: Option<Vec<String>>,
        /// Connections refused at the handshake (`ConnectionRefused`) raise too (default
        /// false).
        #[serde(rename = "includeRefusedConnections", default)]
        include_refused_connections: bool,
    },
    /// A station's configuration off a desired configuration profile (each read or apply
    /// compares it; see /api/v1/config/drift), one alert per station and profile (target
    /// `config:{profileId}`, `details.keys` the drifting keys); clears when a later
    /// comparison finds it compliant.
    ConfigDrift {
        /// Only these profiles (non-blank ids); every profile when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(min_items = 1)]
        profiles: Option<Vec<String>>,
    },
}

fn default_measurand() -> String {
    ocpulse_core::incoming::DEFAULT_MEASURAND.to_owned()
}

impl From<ConditionBody> for Condition {
    fn from(c: ConditionBody) -> Self {
        match c {
            ConditionBody::ConnectorFaulted {} => Condition::ConnectorFaulted {},
            ConditionBody::FirmwareFailed {} => Condition::FirmwareFailed {},
            ConditionBody::HeartbeatMissing { minutes } => Condition::HeartbeatMissing { minutes },
            ConditionBody::TriggerOutcome {
                outcomes,
                requested_message,
            } => Condition::TriggerOutcome {
                outcomes,
                requested_message,
            },
            ConditionBody::MeterOutOfRange {
                measurand,
                min,
                max,
            } => Condition::MeterOutOfRange {
                measurand,
                min,
                max,
            },
            ConditionBody::SecurityEvent {
                types,
                include_refused_connections,
            } => Condition::SecurityEvent {
                types,
                include_refused_connections,
            },
            ConditionBody::ConfigDrift { profiles } => Condition::ConfigDrift { profiles },
        }
    }
}

impl From<&Condition> for ConditionBody {
    fn from(c: &Condition) -> Self {
        match c.clone() {
            Condition::ConnectorFaulted {} => ConditionBody::ConnectorFaulted {},
            Condition::FirmwareFailed {} => ConditionBody::FirmwareFailed {},
            Condition::HeartbeatMissing { minutes } => ConditionBody::HeartbeatMissing { minutes },
            Condition::TriggerOutcome {
                outcomes,
                requested_message,
            } => ConditionBody::TriggerOutcome {
                outcomes,
                requested_message,
            },
            Condition::MeterOutOfRange {
                measurand,
                min,
                max,
            } => ConditionBody::MeterOutOfRange {
                measurand,
                min,
                max,
            },
            Condition::SecurityEvent {
                types,
                include_refused_connections,
            } => ConditionBody::SecurityEvent {
                types,
                include_refused_connections,
            },
            Condition::ConfigDrift { profiles } => ConditionBody::ConfigDrift { profiles },
        }
    }
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) enum SeverityName {
    /// Worth knowing.
    Info,
    /// Needs a look (the default).
    #[default]
    Warning,
    /// Needs action now.
    Critical,
}

impl From<Severity> for SeverityName {
    fn from(s: Severity) -> Self {
        match s {
            Severity::Info => Self::Info,
            Severity::Warning => Self::Warning,
            Severity::Critical => Self::Critical,
        }
    }
}

impl From<SeverityName> for Severity {
    fn from(s: SeverityName) -> Self {
        match s {
            SeverityName::Info => Self::Info,
            SeverityName::Warning => Self::Warning,
            SeverityName::Critical => Self::Critical,
        }
    }
}

// Fields are in alphabetical order, the order the rule had when the API showed it as one JSON
// map, so the bytes a client receives did not change.
/// An alert rule as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AlertRule)]
struct RuleView<'a> {
    /// What raises and clears its alerts.
    // A JSON value of `ConditionBody`, for its keys in the sorted order they always had.
    #[schema(value_type = ConditionBody)]
    condition: Value,
    /// When it was created (RFC 3339).
    created_at: String,
    /// The rule id.
    #[schema(value_type = String)]
    id: &'a str,
    /// Its name.
    #[schema(value_type = String)]
    name: &'a str,
    /// How urgent its alerts are.
    severity: SeverityName,
    /// Only these stations, or null for every station.
    #[schema(value_type = Option<Vec<String>>)]
    stations: Option<&'a [String]>,
    /// When it was last replaced (RFC 3339).
    updated_at: String,
}

impl<'a> From<&'a AlertRule> for RuleView<'a> {
    fn from(rule: &'a AlertRule) -> Self {
        Self {
            condition: serde_json::to_value(ConditionBody::from(&rule.condition))
                .unwrap_or(Value::Null),
            created_at: rfc3339(rule.created_at),
            id: &rule.id,
            name: &rule.name,
            severity: rule.severity.into(),
            stations: rule.stations.as_deref(),
            updated_at: rfc3339(rule.updated_at),
        }
    }
}

/// The answer of `PUT /api/v1/alert-rules/{id}`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AlertRuleReplaced)]
struct RuleReplaced<'a> {
    #[serde(flatten)]
    rule: RuleView<'a>,
    /// Active alerts resolved because the condition's kind changed.
    #[schema(value_type = u64)]
    resolved_alerts: usize,
}

/// The answer of `DELETE /api/v1/alert-rules/{id}`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AlertRuleDeleted)]
struct RuleDeleted<'a> {
    /// The rule as it was.
    deleted: RuleView<'a>,
    /// Its active alerts, now resolved.
    #[schema(value_type = u64)]
    resolved_alerts: usize,
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

fn spec(raw: &[u8]) -> Result<RuleSpec, ApiError> {
    let spec = RuleSpec::from(parse_body::<RuleBody>(raw, EXAMPLE)?);
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
    Ok((StatusCode::CREATED, Json(RuleView::from(&rule))).into_response())
}

/// `GET /api/v1/alert-rules`: every rule, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/alert-rules",
    tag = "alerts",
    params(Paging),
    responses(
        (status = 200, description = "A page of rules, oldest first; `next` is the last rule id", body = Page<RuleView>),
        (status = 400, description = "A bad `limit` (`invalid_limit`), an unknown parameter (`invalid_query`) or an undecodable query", body = ApiErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let paging = Paging::parse(&params)?;
    let state = app.alerts.state.lock().await;
    let mut rules: Vec<&AlertRule> = state.engine.rules().iter().collect();
    rules.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(
        Json(paging.page(rules, Order::Ascending, |r| r.id.as_str(), RuleView::from))
            .into_response(),
    )
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
) -> Result<Response, ApiError> {
    let state = app.alerts.state.lock().await;
    let rule = state.engine.rule(&id).ok_or_else(|| not_found(&id))?;
    Ok(Json(RuleView::from(rule)).into_response())
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
) -> Result<Response, ApiError> {
    let spec = spec(&raw)?;
    let existing = app.alerts.state.lock().await.engine.rule(&id).cloned();
    let rule = existing
        .ok_or_else(|| not_found(&id))?
        .replaced(spec, now_ms());
    let resolved = alerts::put_rule(&app, rule.clone())
        .await
        .map_err(storage)?;
    Ok(Json(RuleReplaced {
        rule: RuleView::from(&rule),
        resolved_alerts: resolved,
    })
    .into_response())
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
) -> Result<Response, ApiError> {
    let (rule, resolved) = alerts::delete_rule(&app, &id)
        .await
        .map_err(storage)?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(RuleDeleted {
        deleted: RuleView::from(&rule),
        resolved_alerts: resolved,
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::assert_sorted_keys;

    /// Every condition kind with every field given, as a body.
    const CONDITIONS: [&str; 6] = [
        r#"{"kind": "connectorFaulted"}"#,
        r#"{"kind": "firmwareFailed"}"#,
        r#"{"kind": "heartbeatMissing", "minutes": 1.5}"#,
        r#"{"kind": "triggerOutcome", "outcomes": ["Rejected"], "requestedMessage": "Heartbeat"}"#,
        r#"{"kind": "meterOutOfRange", "measurand": "Voltage", "min": 1, "max": 2}"#,
        r#"{"kind": "securityEvent", "types": ["InvalidCsr"], "includeRefusedConnections": true}"#,
    ];

    #[test]
    fn a_body_reads_as_the_core_reads_it_and_a_rule_shows_its_condition_as_stored() {
        for condition in CONDITIONS {
            let body = format!(r#"{{"name": "n", "condition": {condition}, "stations": ["CP1"]}}"#);
            let ours = RuleSpec::from(serde_json::from_str::<RuleBody>(&body).expect("api body"));
            let core: RuleSpec = serde_json::from_str(&body).expect("core body");
            assert_eq!(ours, core, "{condition}");
            let rule = AlertRule::new("r", core, 0);
            let view = RuleView::from(&rule);
            assert_sorted_keys(&view);
            assert_eq!(
                serde_json::to_value(&view)
                    .ok()
                    .map(|v| v["condition"].clone()),
                serde_json::to_value(&rule.condition).ok(),
                "{condition}"
            );
        }
    }

    #[test]
    fn bad_bodies_are_refused_in_the_core_words() {
        for body in [
            r#"{"name": "n", "condition": {"kind": "connectorFaulted", "minutes": 3}}"#,
            r#"{"name": "n", "condition": {"kind": "nope"}}"#,
            r#"{"name": "n", "condition": {"kind": "heartbeatMissing"}}"#,
            r#"{"name": "n", "condition": {"kind": "meterOutOfRange", "minimum": 1}}"#,
            r#"{"name": "n", "condition": {"kind": "connectorFaulted"}, "severity": "huge"}"#,
            r#"{"name": "n", "condition": {"kind": "connectorFaulted"}, "foo": 1}"#,
        ] {
            let ours = serde_json::from_str::<RuleBody>(body)
                .err()
                .map(|e| e.to_string());
            let core = serde_json::from_str::<RuleSpec>(body)
                .err()
                .map(|e| e.to_string());
            assert!(ours.is_some(), "{body}");
            assert_eq!(ours, core, "{body}");
        }
    }
}
