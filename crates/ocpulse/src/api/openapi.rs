//! The OpenAPI document of the whole HTTP API, generated from the handlers' own
//! `#[utoipa::path(...)]` annotations and served at `GET /api/v1/openapi.json`.
//!
//! **Adding an endpoint** (every route must be documented; `tests/openapi.rs` fails on drift):
//!
//! 1. Register the route in the `api_routes!` list in `api/mod.rs` (it builds the router
//!    *and* the `ROUTES` list the test compares with this document).
//! 2. Annotate the handler with `#[utoipa::path(get|post|put|delete, path = "/api/v1/...",
//!    tag = "...", params(...), request_body = ..., responses(...))]`: the path exactly as
//!    routed, every path/query/header parameter, and every status the handler can return.
//!    Every 4xx/5xx response has `body = ApiErrorBody` (import it from `super::openapi`);
//!    success bodies use schema structs defined in the `api` module (never a domain type).
//! 3. Add the handler to `paths(...)` below, and run
//!    `cargo test -p ocpulse --test openapi` and `bash interop/openapi_fuzz.sh`.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

/// The document: one `paths(...)` list naming every handler of the API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "ocpulse",
        description = "OCPP central system: trigger a station's message with one HTTP call and get that message back. Every error (4xx and 5xx) is a JSON object with `error` (a stable code) and `message` (what was wrong), sometimes with more fields."
    ),
    servers((url = "/", description = "this server")),
    paths(
        super::stations::list,
        super::stations::one,
        super::stations::set_validation,
        super::trigger::trigger,
        super::messages::list,
        super::triggers::list,
        super::triggers::one,
        super::events::stream,
        super::ca::certificate,
        super::health,
        document,
    ),
    components(schemas(
        ApiErrorBody,
        super::triggers::TriggerOutcome,
        super::messages::JournalBefore
    )),
    tags(
        (name = "stations", description = "What is known about each station"),
        (name = "triggers", description = "Ask a station for a message and get it back"),
        (name = "events", description = "Live events: a tail of the journal"),
        (name = "meta", description = "The server itself"),
    )
)]
pub struct ApiDoc;

/// The one error shape of the API (`api::ApiError`): every 4xx and 5xx body.
#[derive(ToSchema)]
#[schema(example = json!({"error": "station_not_found", "message": "no station with id \"CP9\" has ever connected; GET /api/v1/stations lists the known ones"}))]
#[allow(dead_code)] // documentation only: `ApiError` builds this shape
pub struct ApiErrorBody {
    /// A stable, machine-readable code, e.g. `station_not_found`, `invalid_body`.
    error: String,
    /// What was wrong and what would be right, for a human.
    message: String,
    /// Context some errors add (`validValues`, `triggerId`, `outcome`, `sent`, ...).
    #[serde(flatten)]
    extra: std::collections::HashMap<String, Value>,
}

/// The document as served (built once). Serializing it cannot fail: it is plain strings,
/// maps and numbers; `tests/openapi.rs` fetches it.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .expect("the OpenAPI document serializes to JSON")
});

/// The OpenAPI document of this API.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this API", body = serde_json::Value, content_type = "application/json"),
        (status = "4XX", description = "Any client error the framework makes (e.g. 405 for another method)", body = ApiErrorBody),
    )
)]
pub async fn document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}
