//! The HTTP API under `/api/v1`: the only place with API request/response shapes.

mod error;
mod messages;
mod stations;
mod trigger;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
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
        .route(
            "/api/v1/health",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
}

/// Answers any unknown path with the JSON error shape.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no such endpoint {}; the API lives under /api/v1 (stations, stations/{{id}}, stations/{{id}}/trigger, stations/{{id}}/messages) and stations connect to /ocpp/{{stationId}}",
            uri.path()
        ),
    )
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
