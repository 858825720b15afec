//! The API's one error shape: `{"error": "<code>", "message": "<what was wrong and what
//! would be right>"}` plus optional context, with the HTTP status that fits.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// An API failure.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    extra: Map<String, Value>,
}

impl ApiError {
    /// An error with a status, a stable code and a helpful message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: Map::new(),
        }
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404: no station with this id has ever connected (the trigger refusal's code and
    /// message, so every endpoint says it alike).
    pub fn station_not_found(id: &str) -> Self {
        crate::trigger_service::Refusal::UnknownStation(id.to_owned()).into()
    }

    /// 500: what should not happen.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The stable code, for callers that turn an API refusal into a result of their own
    /// (a bulk job's per-station outcome).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Adds a field to the error body.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = self.extra;
        body.insert("error".into(), json!(self.code));
        body.insert("message".into(), json!(self.message));
        (self.status, Json(Value::Object(body))).into_response()
    }
}
