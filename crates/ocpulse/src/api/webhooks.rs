//! `/api/v1/webhooks`: register, list, read and delete webhooks; read their delivery log.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ocpulse_core::alert_rules::ALERT_EVENTS;
use ocpulse_core::store::WriteBatch;
use ocpulse_core::{Doc, rfc3339};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::alert_rules::storage;
use super::openapi::ApiErrorBody;
use super::page::{Order, Page, Paging};
use super::{ApiError, parse_body};
use crate::alerts::delivery::{self, Attempt, Delivery, DeliveryStatus};
use crate::alerts::new_id;
use crate::alerts::target;
use crate::alerts::webhooks::{self, Webhook, WebhookSpec};
use crate::app::App;
use crate::now_ms;

const EXAMPLE: &str = r#"{"url": "http://receiver.example:8080/hooks/ocpulse", "secret": "at least 16 characters", "events": ["AlertRaised", "AlertResolved"]} (events optional: every alert event)"#;

// Read into `alerts::webhooks::WebhookSpec`, then checked by `WebhookSpec::validate`.
/// The create body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = WebhookBody, example = json!({"url": "http://receiver.example:8080/hooks/ocpulse", "secret": "at least 16 characters", "events": ["AlertRaised", "AlertResolved"]}))]
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
    #[serde(default)]
    #[schema(min_items = 1, value_type = Option<Vec<AlertEventName>>)]
    events: Option<Vec<String>>,
}

impl From<WebhookBody> for WebhookSpec {
    fn from(b: WebhookBody) -> Self {
        WebhookSpec {
            url: b.url,
            secret: b.secret,
            events: b.events,
        }
    }
}

/// The schema of an alert event name: the names of `ALERT_EVENTS`, so the document lists
/// exactly what a webhook's `events` accepts.
pub(crate) struct AlertEventName;

impl utoipa::PartialSchema for AlertEventName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("An alert event a webhook can receive."))
            .enum_values(Some(ALERT_EVENTS))
            .into()
    }
}

impl utoipa::ToSchema for AlertEventName {}

// Fields are in alphabetical order, the order the webhook had when the API showed it as one
// JSON map, so the bytes a client receives did not change.
/// A webhook as the API shows it: the secret only as a hint.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Webhook)]
struct WebhookView<'a> {
    /// When it was registered (RFC 3339).
    #[schema(value_type = String)]
    created_at: &'a str,
    /// Only these events, or null for every alert event.
    #[schema(value_type = Option<Vec<AlertEventName>>)]
    events: Option<&'a [String]>,
    /// The webhook id.
    #[schema(value_type = String)]
    id: &'a str,
    /// `…` and the secret's last 4 characters.
    secret_hint: String,
    /// Where deliveries are POSTed.
    #[schema(value_type = String)]
    url: &'a str,
}

impl<'a> From<&'a Webhook> for WebhookView<'a> {
    fn from(h: &'a Webhook) -> Self {
        Self {
            created_at: &h.created_at,
            events: h.events.as_deref(),
            id: &h.id,
            secret_hint: h.secret_hint(),
            url: &h.url,
        }
    }
}

/// The answer of `DELETE /api/v1/webhooks/{id}`.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = WebhookDeleted)]
struct WebhookDeleted<'a> {
    /// The webhook as it was.
    deleted: WebhookView<'a>,
}

/// One alert change on its way to one webhook (`alerts::delivery::Delivery`).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = WebhookDelivery)]
struct DeliveryView<'a> {
    /// The delivery id (`X-Ocpulse-Delivery`).
    #[schema(value_type = String)]
    id: &'a str,
    /// The webhook.
    #[schema(value_type = String)]
    webhook_id: &'a str,
    /// `AlertRaised`, `AlertAcknowledged` or `AlertResolved`.
    #[schema(value_type = String)]
    event: &'a str,
    /// The alert.
    #[schema(value_type = String)]
    alert_id: &'a str,
    /// The alert as it was when the event happened (what is sent).
    #[schema(value_type = Value)]
    alert: &'a Value,
    /// Where it is.
    status: DeliveryStatusName,
    /// When it was created (RFC 3339).
    #[schema(value_type = String)]
    created_at: &'a str,
    /// Every attempt so far.
    attempts: Vec<AttemptView<'a>>,
    /// When it ended (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    completed_at: Option<&'a str>,
    /// Why it ended without attempts left.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    note: Option<&'a str>,
}

impl<'a> From<&'a Delivery> for DeliveryView<'a> {
    fn from(d: &'a Delivery) -> Self {
        Self {
            id: &d.id,
            webhook_id: &d.webhook_id,
            event: &d.event,
            alert_id: &d.alert_id,
            alert: &d.alert,
            status: d.status.into(),
            created_at: &d.created_at,
            attempts: d.attempts.iter().map(AttemptView::from).collect(),
            completed_at: d.completed_at.as_deref(),
            note: d.note.as_deref(),
        }
    }
}

/// Where a delivery is.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
enum DeliveryStatusName {
    /// Not delivered yet; attempts remain.
    Pending,
    /// A 2xx answer came back.
    Delivered,
    /// Every attempt failed (or the webhook was deleted).
    Failed,
}

impl From<DeliveryStatus> for DeliveryStatusName {
    fn from(s: DeliveryStatus) -> Self {
        match s {
            DeliveryStatus::Pending => Self::Pending,
            DeliveryStatus::Delivered => Self::Delivered,
            DeliveryStatus::Failed => Self::Failed,
        }
    }
}

/// One POST of a delivery.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = DeliveryAttempt)]
struct AttemptView<'a> {
    /// When it was sent (RFC 3339).
    #[schema(value_type = String)]
    at: &'a str,
    /// The receiver's HTTP status, if it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    status_code: Option<u16>,
    /// Why it did not count as delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    error: Option<&'a str>,
    /// How long it took.
    duration_ms: u64,
}

impl<'a> From<&'a Attempt> for AttemptView<'a> {
    fn from(a: &'a Attempt) -> Self {
        Self {
            at: &a.at,
            status_code: a.status_code,
            error: a.error.as_deref(),
            duration_ms: a.duration_ms,
        }
    }
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
    let spec = WebhookSpec::from(parse_body::<WebhookBody>(&raw, EXAMPLE)?);
    spec.validate()
        .map_err(|m| ApiError::bad_request("invalid_webhook", m))?;
    // Checked last, after everything that needs no lookup; deliveries check again.
    let url = reqwest::Url::parse(&spec.url)
        .map_err(|e| ApiError::bad_request("invalid_webhook", format!("url: {e}")))?;
    if let Err(e) = target::check_target(&url, &app.alerts.policy).await {
        let mut err = ApiError::bad_request(e.code, e.message);
        if let Some(kind) = e.kind {
            err = err.with("addressKind", kind);
        }
        return Err(err.with(
            "allowed",
            "public addresses, and the ranges the operator names with --webhook-allow",
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
    Ok((StatusCode::CREATED, Json(WebhookView::from(&hook))).into_response())
}

/// `GET /api/v1/webhooks`.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    tag = "webhooks",
    params(Paging),
    responses(
        (status = 200, description = "A page of webhooks, oldest first; `next` is the last webhook id", body = Page<WebhookView>),
        (status = 400, description = "A bad `limit` (`invalid_limit`), an unknown parameter (`invalid_query`) or an undecodable query", body = ApiErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let paging = Paging::parse(&params)?;
    let mut hooks = app.alerts.webhook_list();
    hooks.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(paging.page(
        &hooks,
        Order::Ascending,
        |h| h.id.as_str(),
        WebhookView::from,
    ))
    .into_response())
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
) -> Result<Response, ApiError> {
    Ok(Json(WebhookView::from(&find(&app, &id)?)).into_response())
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
) -> Result<Response, ApiError> {
    let hook = find(&app, &id)?;
    app.store
        .commit(WriteBatch {
            docs: vec![Doc::delete(webhooks::DOC, &id)],
            ..WriteBatch::default()
        })
        .await
        .map_err(storage)?;
    app.alerts.webhooks.write().retain(|h| h.id != id);
    Ok(Json(WebhookDeleted {
        deleted: WebhookView::from(&hook),
    })
    .into_response())
}

/// `GET /api/v1/webhooks/{id}/deliveries?limit=&after=`: the delivery log, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id"),
        Paging,
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
) -> Result<Response, ApiError> {
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
    let Page { items, next } = paging.page(mine, Order::Descending, |d| d.id.as_str(), |d| d);
    Ok(Json(Page {
        items: items.iter().map(DeliveryView::from).collect(),
        next,
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::assert_sorted_keys;

    #[test]
    fn a_webhook_shows_a_hint_of_its_secret_in_the_key_order_of_a_json_map() {
        let hook = Webhook {
            id: "w".into(),
            url: "http://h/x".into(),
            secret: "0123456789abcdef".into(),
            events: Some(vec!["AlertResolved".into()]),
            created_at: "t".into(),
        };
        let view = WebhookView::from(&hook);
        assert_sorted_keys(&view);
        let shown = serde_json::to_value(&view).expect("view");
        assert_eq!(shown["secretHint"], "…cdef");
        assert!(shown.get("secret").is_none());
    }
}
