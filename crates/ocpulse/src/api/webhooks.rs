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
use super::openapi::ApiErrorBody;
use super::page::{Order, Page, PageParams, Paging};
use super::{ApiError, parse_body};
use crate::alerts::delivery::{self, Delivery};
use crate::alerts::new_id;
use crate::alerts::target;
use crate::alerts::webhooks::{self, Webhook, WebhookSpec};
use crate::app::App;
use crate::now_ms;

const EXAMPLE: &str = r#"{"url": "http://receiver.example:8080/hooks/ocpulse", "secret": "at least 16 characters", "events": ["AlertRaised", "AlertResolved"]} (events optional: every alert event)"#;

/// The create body (`alerts::webhooks::WebhookSpec`).
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = WebhookBody, example = json!({"url": "http://receiver.example:8080/hooks/ocpulse", "secret": "at least 16 characters", "events": ["AlertRaised", "AlertResolved"]}))]
#[allow(dead_code)] // documentation only: `WebhookSpec` parses this shape
struct WebhookBody {
    /// Where deliveries are POSTed: an `http` or `https` URL whose host is a public address
    /// (or resolves to one), or lies in a range the operator allows with `--webhook-allow`.
    /// Redirects are not followed.
    #[schema(example = "http://receiver.example:8080/hooks/ocpulse")]
    url: String,
    /// The HMAC-SHA256 key of the `X-Ocpulse-Signature` header (at least 16 characters);
    /// never shown again.
    #[schema(min_length = 16)]
    secret: String,
    /// Only these events; every alert event when absent or null.
    #[schema(min_items = 1)]
    events: Option<Vec<AlertEventName>>,
}

/// An alert event a webhook can receive.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, clippy::enum_variant_names)] // documentation only: `ALERT_EVENTS`
enum AlertEventName {
    /// An alert was raised.
    AlertRaised,
    /// Someone acknowledged it.
    AlertAcknowledged,
    /// Its condition cleared.
    AlertResolved,
}

/// A webhook as the API shows it (`Webhook::view`): the secret only as a hint.
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Webhook)]
#[allow(dead_code)] // documentation only
struct WebhookView {
    /// The webhook id.
    id: String,
    /// Where deliveries are POSTed.
    url: String,
    /// Only these events, or null for every alert event.
    events: Option<Vec<AlertEventName>>,
    /// `…` and the secret's last 4 characters.
    secret_hint: String,
    /// When it was registered (RFC 3339).
    created_at: String,
}

/// The answer of `DELETE /api/v1/webhooks/{id}`.
#[derive(utoipa::ToSchema)]
#[schema(as = WebhookDeleted)]
#[allow(dead_code)] // documentation only
struct WebhookDeleted {
    /// The webhook as it was.
    deleted: WebhookView,
}

/// One alert change on its way to one webhook (`alerts::delivery::Delivery`).
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = WebhookDelivery)]
#[allow(dead_code)] // documentation only
struct DeliveryView {
    /// The delivery id (`X-Ocpulse-Delivery`).
    id: String,
    /// The webhook.
    webhook_id: String,
    /// `AlertRaised`, `AlertAcknowledged` or `AlertResolved`.
    event: String,
    /// The alert.
    alert_id: String,
    /// The alert as it was when the event happened (what is sent).
    alert: Value,
    /// Where it is.
    status: DeliveryStatusName,
    /// When it was created (RFC 3339).
    created_at: String,
    /// Every attempt so far.
    attempts: Vec<AttemptView>,
    /// When it ended (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at: Option<String>,
    /// Why it ended without attempts left.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// Where a delivery is.
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // documentation only
enum DeliveryStatusName {
    /// Not delivered yet; attempts remain.
    Pending,
    /// A 2xx answer came back.
    Delivered,
    /// Every attempt failed (or the webhook was deleted).
    Failed,
}

/// One POST of a delivery.
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = DeliveryAttempt)]
#[allow(dead_code)] // documentation only
struct AttemptView {
    /// When it was sent (RFC 3339).
    at: String,
    /// The receiver's HTTP status, if it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    status_code: Option<u16>,
    /// Why it did not count as delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// How long it took.
    duration_ms: u64,
}

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
#[utoipa::path(
    post,
    path = "/api/v1/webhooks",
    tag = "webhooks",
    request_body(content = WebhookBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The webhook", body = WebhookView),
        (status = 400, description = "Not a JSON object of this shape (`invalid_body`), a bad url, secret or event list (`invalid_webhook`), a url whose host is (or resolves only to) a loopback, private, link-local, CGNAT, unspecified, multicast, broadcast or reserved address the operator did not allow with `--webhook-allow` (`webhook_target_refused`, with `addressKind` and `allowed`), or a host name that does not resolve (`webhook_target_unresolvable`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 500, description = "Storage error (`storage_error`)", body = ApiErrorBody),
    )
)]
pub async fn create(State(app): State<Arc<App>>, raw: Bytes) -> Result<Response, ApiError> {
    let spec: WebhookSpec = parse_body(&raw, EXAMPLE)?;
    spec.validate()
        .map_err(|m| ApiError::bad_request("invalid_webhook", m))?;
    // Checked last, after everything that needs no lookup; deliveries check again.
    let url = reqwest::Url::parse(&spec.url)
        .map_err(|e| ApiError::bad_request("invalid_webhook", format!("url: {e}")))?;
    if let Err(e) = target::check_target(&url, &app.alerts.policy).await {
        let mut err = ApiError::bad_request(e.code, e.message);
        if let Some(kind) = e.kind {
            err = err.with("addressKind", json!(kind));
        }
        return Err(err.with(
            "allowed",
            json!("public addresses, and the ranges the operator names with --webhook-allow"),
        ));
    }
    let hook = Webhook {
        id: new_id(),
        url: spec.url,
        secret: spec.secret,
        events: spec.events,
        created_at: rfc3339(now_ms()),
    };
    app.store
        .commit(WriteBatch {
            docs: vec![Doc::put(webhooks::DOC, &hook.id, &hook).map_err(storage)?],
            ..WriteBatch::default()
        })
        .await
        .map_err(storage)?;
    app.alerts.webhooks.write().push(hook.clone());
    Ok((StatusCode::CREATED, Json(hook.view())).into_response())
}

/// `GET /api/v1/webhooks`.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    tag = "webhooks",
    params(PageParams),
    responses(
        (status = 200, description = "A page of webhooks, oldest first; `next` is the last webhook id", body = Page<WebhookView>),
        (status = 400, description = "A bad `limit` (`invalid_limit`), an unknown parameter (`invalid_query`) or an undecodable query", body = ApiErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Page<Value>>, ApiError> {
    let paging = Paging::parse(&params)?;
    let mut hooks = app.alerts.webhook_list();
    hooks.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(paging.page(
        hooks,
        Order::Ascending,
        |h| h.id.as_str(),
        |h| h.view(),
    )))
}

/// `GET /api/v1/webhooks/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The webhook id")),
    responses(
        (status = 200, description = "The webhook", body = WebhookView),
        (status = 400, description = "The path is not valid UTF-8 (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "No webhook with this id (`webhook_not_found`)", body = ApiErrorBody),
    )
)]
pub async fn one(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(find(&app, &id)?.view()))
}

/// `DELETE /api/v1/webhooks/{id}`: deliveries still pending for it end as failed.
#[utoipa::path(
    delete,
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "The webhook id")),
    responses(
        (status = 200, description = "The deleted webhook", body = WebhookDeleted),
        (status = 400, description = "The path is not valid UTF-8 (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "No webhook with this id (`webhook_not_found`)", body = ApiErrorBody),
        (status = 500, description = "Storage error (`storage_error`)", body = ApiErrorBody),
    )
)]
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
    app.alerts.webhooks.write().retain(|h| h.id != id);
    Ok(Json(json!({"deleted": hook.view()})))
}

/// `GET /api/v1/webhooks/{id}/deliveries?limit=&after=`: the delivery log, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id"),
        PageParams,
    ),
    responses(
        (status = 200, description = "A page of the delivery log, newest first; `next` is the last delivery id", body = Page<DeliveryView>),
        (status = 400, description = "A bad `limit` (`invalid_limit`), an unknown parameter (`invalid_query`) or an undecodable path/query", body = ApiErrorBody),
        (status = 404, description = "No webhook with this id (`webhook_not_found`)", body = ApiErrorBody),
        (status = 500, description = "Storage error (`storage_error`)", body = ApiErrorBody),
    )
)]
pub async fn deliveries(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Page<Delivery>>, ApiError> {
    let paging = Paging::parse(&params)?;
    find(&app, &id)?;
    let docs = app.store.docs(delivery::DOC).await.map_err(storage)?;
    // Delivery ids are time-ordered (UUIDv7): newest first is descending by id.
    let mut mine: Vec<Delivery> = docs
        .iter()
        .filter_map(|(_, body)| serde_json::from_str::<Delivery>(body).ok())
        .filter(|d| d.webhook_id == id)
        .collect();
    mine.sort_by(|a, b| b.id.cmp(&a.id));
    Ok(Json(paging.page(
        mine,
        Order::Descending,
        |d| d.id.as_str(),
        |d| d,
    )))
}
