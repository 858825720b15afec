//! `/api/v1/webhooks`: register, list, read and delete webhooks; read their delivery log.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ocpulse_core::store::WriteBatch;
use ocpulse_core::{Doc, rfc3339};
use serde_json::{Value, json};

use super::alert_rules::storage;
use super::{ApiError, parse_body, parse_limit};
use crate::alerts::delivery::{self, Delivery};
use crate::alerts::new_id;
use crate::alerts::webhooks::{self, Webhook, WebhookSpec};
use crate::app::App;
use crate::now_ms;

const EXAMPLE: &str = r#"{"url": "http://receiver.example:8080/hooks/ocpulse", "secret": "at least 16 characters", "events": ["AlertRaised", "AlertResolved"]} (events optional: every alert event)"#;

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "webhook_not_found",
        format!("no webhook with id {id:?}; GET /api/v1/webhooks lists them"),
    )
}

fn find(app: &App, id: &str) -> Result<Webhook, ApiError> {
    app.alerts
        .webhook_list()
        .into_iter()
        .find(|h| h.id == id)
        .ok_or_else(|| not_found(id))
}

/// `POST /api/v1/webhooks`: 201 with the webhook (the secret only as a hint).
pub async fn create(State(app): State<Arc<App>>, raw: Bytes) -> Result<Response, ApiError> {
    let spec: WebhookSpec = parse_body(&raw, EXAMPLE)?;
    spec.validate()
        .map_err(|m| ApiError::bad_request("invalid_webhook", m))?;
    let hook = Webhook {
        id: new_id(),
        url: spec.url,
        secret: spec.secret,
        events: spec.events,
        created_at: rfc3339(now_ms()),
    };
    app.store
        .commit(WriteBatch {
            docs: vec![Doc::put(webhooks::DOC, &hook.id, &hook)],
            ..WriteBatch::default()
        })
        .await
        .map_err(storage)?;
    if let Ok(mut list) = app.alerts.webhooks.write() {
        list.push(hook.clone());
    }
    Ok((StatusCode::CREATED, Json(hook.view())).into_response())
}

/// `GET /api/v1/webhooks`.
pub async fn list(State(app): State<Arc<App>>) -> Json<Value> {
    let hooks: Vec<Value> = app
        .alerts
        .webhook_list()
        .iter()
        .map(Webhook::view)
        .collect();
    Json(json!({"webhooks": hooks}))
}

/// `GET /api/v1/webhooks/{id}`.
pub async fn one(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(find(&app, &id)?.view()))
}

/// `DELETE /api/v1/webhooks/{id}`: deliveries still pending for it end as failed.
pub async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let hook = find(&app, &id)?;
    app.store
        .commit(WriteBatch {
            docs: vec![Doc::delete(webhooks::DOC, &id)],
            ..WriteBatch::default()
        })
        .await
        .map_err(storage)?;
    if let Ok(mut list) = app.alerts.webhooks.write() {
        list.retain(|h| h.id != id);
    }
    Ok(Json(json!({"deleted": hook.view()})))
}

/// `GET /api/v1/webhooks/{id}/deliveries?limit=`: the delivery log, newest first.
pub async fn deliveries(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    if let Some(unknown) = params.keys().find(|k| k.as_str() != "limit") {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("unknown query parameter {unknown:?}; use limit"),
        ));
    }
    let limit = parse_limit(params.get("limit"))?;
    find(&app, &id)?;
    let docs = app.store.docs(delivery::DOC).await.map_err(storage)?;
    let list: Vec<Value> = docs
        .iter()
        .rev()
        .filter_map(|(_, body)| serde_json::from_str::<Delivery>(body).ok())
        .filter(|d| d.webhook_id == id)
        .take(limit)
        .map(|d| json!(d))
        .collect();
    Ok(Json(json!({"deliveries": list})))
}
