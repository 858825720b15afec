//! `/api/v1/alert-rules`: create, list, read, replace and delete alert rules.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ocpulse_core::alert_rules::{AlertRule, RuleSpec};
use ocpulse_core::rfc3339;
use serde_json::{Value, json};

use super::{ApiError, parse_body};
use crate::alerts;
use crate::app::App;
use crate::now_ms;

const EXAMPLE: &str = r#"{"name": "Connector faulted", "condition": {"kind": "connectorFaulted"}, "severity": "critical"} (condition kinds: connectorFaulted, firmwareFailed, heartbeatMissing {minutes}, triggerOutcome {outcomes, requestedMessage?}, meterOutOfRange {measurand?, min?, max?}; optional stations: ["CP1"])"#;

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
pub async fn create(State(app): State<Arc<App>>, raw: Bytes) -> Result<Response, ApiError> {
    let rule = AlertRule::new(alerts::new_id(), spec(&raw)?, now_ms());
    alerts::put_rule(&app, rule.clone())
        .await
        .map_err(storage)?;
    Ok((StatusCode::CREATED, Json(view(&rule))).into_response())
}

/// `GET /api/v1/alert-rules`: every rule, oldest first.
pub async fn list(State(app): State<Arc<App>>) -> Json<Value> {
    let state = app.alerts.state.lock().await;
    let mut rules: Vec<&AlertRule> = state.engine.rules().iter().collect();
    rules.sort_by(|a, b| a.id.cmp(&b.id));
    Json(json!({"rules": rules.into_iter().map(view).collect::<Vec<_>>()}))
}

/// `GET /api/v1/alert-rules/{id}`.
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
