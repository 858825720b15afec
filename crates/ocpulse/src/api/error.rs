//! The API's one error shape: `{"error": "<code>", "message": "<what was wrong and what
//! would be right>"}` plus optional context, with the HTTP status that fits.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value};

/// An API failure: a status and the body the client gets.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ApiErrorBody,
}

/// The one error shape of the API (`api::ApiError`): every 4xx and 5xx body.
#[derive(Debug, utoipa::ToSchema)]
#[schema(example = json!({"error": "station_not_found", "message": "no station with id \"CP9\" has ever connected; GET /api/v1/stations lists the known ones"}))]
pub struct ApiErrorBody {
    /// A stable, machine-readable code, e.g. `station_not_found`, `invalid_body`.
    #[schema(value_type = String)]
    error: &'static str,
    /// What was wrong and what would be right, for a human.
    message: String,
    /// Context some errors add (`validValues`, `triggerId`, `outcome`, `sent`, ...).
    #[serde(flatten)]
    #[schema(value_type = std::collections::HashMap<String, Value>)]
    extra: Map<String, Value>,
}

/// Every key in one sorted order, `error` and `message` among the context fields (the
/// order the body had when it was one JSON map), so a client sees the same bytes.
impl Serialize for ApiErrorBody {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fixed = [("error", self.error), ("message", self.message.as_str())]
            .into_iter()
            .peekable();
        let mut map = serializer.serialize_map(Some(self.extra.len() + 2))?;
        for (key, value) in &self.extra {
            while let Some((k, v)) = fixed.next_if(|(k, _)| *k < key.as_str()) {
                map.serialize_entry(k, v)?;
            }
            // `error` and `message` are the error's own, never context.
            if key != "error" && key != "message" {
                map.serialize_entry(key, value)?;
            }
        }
        for (k, v) in fixed {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl ApiError {
    /// An error with a status, a stable code and a helpful message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ApiErrorBody {
                error: code,
                message: message.into(),
                extra: Map::new(),
            },
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
        self.body.error
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.body.message
    }

    /// Adds a context field to the error body: any serializable value (a value that does
    /// not serialize, which the API's own types never are, becomes null).
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.body.extra.insert(key.to_owned(), value);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_lists_every_key_in_sorted_order_as_one_json_map_did() {
        let err = ApiError::bad_request("invalid_thing", "no")
            .with("validValues", ["a", "b"])
            .with("accepted", "x")
            .with("outcome", "Rejected");
        let text = serde_json::to_string(&err.body).expect("serializes");
        assert_eq!(
            text,
            r#"{"accepted":"x","error":"invalid_thing","message":"no","outcome":"Rejected","validValues":["a","b"]}"#
        );
        let plain = ApiError::internal("x");
        assert_eq!(
            serde_json::to_string(&plain.body).expect("serializes"),
            r#"{"error":"internal","message":"x"}"#
        );
    }

    #[test]
    fn context_cannot_replace_the_code_or_the_message() {
        let err = ApiError::bad_request("code", "msg").with("error", "other");
        assert_eq!(
            serde_json::to_string(&err.body).expect("serializes"),
            r#"{"error":"code","message":"msg"}"#
        );
    }
}
