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

use super::alert_rules::storage;
use super::{ApiError, parse_body, parse_limit};
use crate::alerts::{self, AcknowledgeError};
use crate::app::App;

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "alert_not_found",
        format!("no alert with id {id:?}; GET /api/v1/alerts lists them"),
    )
}

/// `GET /api/v1/alerts?status=&station=&rule=&limit=`: newest first.
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    if let Some(unknown) = params
        .keys()
        .find(|k| !matches!(k.as_str(), "status" | "station" | "rule" | "limit"))
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("unknown query parameter {unknown:?}; use status, station, rule and limit"),
        ));
    }
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
    let limit = parse_limit(params.get("limit"))?;
    let state = app.alerts.state.lock().await;
    let alerts: Vec<Value> = state
        .alerts
        .values()
        .rev()
        .filter(|a| status.is_none_or(|s| a.status == s))
        .filter(|a| params.get("station").is_none_or(|s| *s == a.station_id))
        .filter(|a| params.get("rule").is_none_or(|r| *r == a.rule_id))
        .take(limit)
        .map(|a| json!(a))
        .collect();
    Ok(Json(json!({"alerts": alerts})))
}

/// `GET /api/v1/alerts/{id}`.
pub async fn one(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let state = app.alerts.state.lock().await;
    let alert = state.alerts.get(&id).ok_or_else(|| not_found(&id))?;
    Ok(Json(json!(alert)))
}

/// The optional acknowledge body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    by: Option<String>,
    note: Option<String>,
}

/// `POST /api/v1/alerts/{id}/acknowledge` with an optional `{"by", "note"}`.
pub async fn acknowledge(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
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
