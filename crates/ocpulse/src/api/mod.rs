//! The HTTP API under `/api/v1`: the only place with API request/response shapes.

mod alert_rules;
mod alerts;
mod ca;
mod error;
mod events;
mod messages;
mod stations;
mod trigger;
mod triggers;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};

pub use error::ApiError;

use crate::app::App;

/// The API routes.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/stations", get(stations::list))
        .route("/api/v1/stations/{id}", get(stations::one))
        .route(
            "/api/v1/stations/{id}/validation",
            put(stations::set_validation),
        )
        .route("/api/v1/stations/{id}/trigger", post(trigger::trigger))
        .route("/api/v1/stations/{id}/messages", get(messages::list))
        .route("/api/v1/triggers", get(triggers::list))
        .route("/api/v1/triggers/{id}", get(triggers::one))
        .route("/api/v1/events", get(events::stream))
        .route("/api/v1/ca", get(ca::certificate))
        // Alerts and webhooks.
        .route(
            "/api/v1/alert-rules",
            post(alert_rules::create).get(alert_rules::list),
        )
        .route(
            "/api/v1/alert-rules/{id}",
            get(alert_rules::one)
                .put(alert_rules::replace)
                .delete(alert_rules::delete),
        )
        .route("/api/v1/alerts", get(alerts::list))
        .route("/api/v1/alerts/{id}", get(alerts::one))
        .route("/api/v1/alerts/{id}/acknowledge", post(alerts::acknowledge))
        .route(
            "/api/v1/webhooks",
            post(webhooks::create).get(webhooks::list),
        )
        .route(
            "/api/v1/webhooks/{id}",
            get(webhooks::one).delete(webhooks::delete),
        )
        .route(
            "/api/v1/webhooks/{id}/deliveries",
            get(webhooks::deliveries),
        )
        .route(
            "/api/v1/health",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .layer(axum::middleware::map_response(json_errors))
}

/// Answers any unknown path with the JSON error shape.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no such endpoint {}; the API lives under /api/v1 (stations, stations/{{id}}, stations/{{id}}/trigger, stations/{{id}}/messages, triggers, triggers/{{id}}, events, ca, alert-rules, alert-rules/{{id}}, alerts, alerts/{{id}}, alerts/{{id}}/acknowledge, webhooks, webhooks/{{id}}, webhooks/{{id}}/deliveries) and stations connect to /ocpp/{{stationId}}",
            uri.path()
        ),
    )
}

/// Page size of list endpoints when the caller names none.
const DEFAULT_LIMIT: usize = 100;
/// The largest page a caller may ask for, so one request cannot read a whole table.
const MAX_LIMIT: usize = 1000;

/// Reads the `limit` query parameter of a list endpoint, with the same rule and error everywhere.
pub(crate) fn parse_limit(limit: Option<&String>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(
                "invalid_limit",
                format!("limit must be a whole number from 1 to {MAX_LIMIT}, got {l:?}"),
            )),
        },
    }
}

/// Reads a JSON body into `T`, turning every failure into a 400 that says what was wrong.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    expected: &str,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!("the request body is empty; send a JSON object like {expected}"),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "is not valid JSON"
            }
            _ => "does not have the expected fields",
        };
        ApiError::bad_request(
            "invalid_body",
            format!("the request body {what}: {e}; send a JSON object like {expected}"),
        )
    })
}

/// Gives framework-made errors (wrong method, oversized body, undecodable path) the API's
/// JSON error shape, so every 4xx a client sees says what was wrong in the same form.
async fn json_errors(response: axum::response::Response) -> axum::response::Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "internal",
        _ => "invalid_request",
    };
    let hint = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            "; triggers are POST, everything else GET (validation policy: PUT; alert rules and webhooks: POST to create, PUT/DELETE by id; acknowledging an alert: POST)"
        }
        StatusCode::PAYLOAD_TOO_LARGE => "; request bodies are small JSON objects",
        _ => "",
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    ApiError::new(status, code, format!("{message}{hint}")).into_response()
}
