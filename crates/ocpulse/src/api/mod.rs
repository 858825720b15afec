//! The HTTP API under `/api/v1`: the only place with API request/response shapes.

mod alert_rules;
mod alerts;
pub mod auth;
mod ca;
mod call_failure;
mod call_records;
mod calls;
mod cluster;
mod config_drift;
mod config_profiles;
mod error;
mod events;
mod export;
mod firmware;
mod freshness_targets;
#[doc(hidden)]
pub mod fuzzing;
mod health;
mod id_tokens;
mod jobs;
mod local_list;
mod logs;
mod messages;
mod meter_values;
mod metrics;
pub mod openapi;
mod page;
mod query;
mod refusal;
mod registrations;
mod reports;
mod schedules;
mod send_trigger;
mod sessions;
mod station_config;
mod station_ops;
pub(crate) mod station_view;
mod stations;
mod storage_report;
mod tokens;
mod trigger_answer;
mod trigger_records;
pub mod uploads;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;

pub use error::ApiError;
use openapi::ApiErrorBody;

use crate::app::App;

/// Declares every API route once: `router()` is built from this list and `ROUTES` is the
/// same list, which `tests/openapi.rs` compares with the OpenAPI document, so a route
/// without documentation (or documentation without a route) fails a test. Several methods
/// on one path are separate lines. See `api/openapi.rs` for how to document a new route.
macro_rules! api_routes {
    ($($method:ident $path:literal => $handler:path;)*) => {
        /// Every API route as (lower-case HTTP method, path in OpenAPI/axum form).
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        fn routes() -> Router<Arc<App>> {
            Router::new()$(.route($path, axum::routing::$method($handler)))*
        }
    };
}

api_routes! {
    get "/api/v1/stations" => stations::list;
    post "/api/v1/stations" => registrations::register;
    get "/api/v1/stations/{id}" => stations::one;
    put "/api/v1/stations/{id}" => registrations::update;
    delete "/api/v1/stations/{id}" => registrations::unregister;
    post "/api/v1/stations/{id}/password" => registrations::set_password;
    put "/api/v1/stations/{id}/validation" => stations::set_validation;
    post "/api/v1/stations/{id}/trigger" => send_trigger::trigger;
    post "/api/v1/stations/{id}/calls" => calls::send;
    post "/api/v1/stations/{id}/reset" => station_ops::reset;
    post "/api/v1/stations/{id}/change-availability" => station_ops::change_availability;
    post "/api/v1/stations/{id}/unlock-connector" => station_ops::unlock_connector;
    post "/api/v1/stations/{id}/clear-cache" => station_ops::clear_cache;
    get "/api/v1/calls" => call_records::list;
    get "/api/v1/calls/{id}" => call_records::one;
    get "/api/v1/stations/{id}/messages" => messages::list;
    // Charging sessions.
    post "/api/v1/stations/{id}/sessions" => sessions::start;
    get "/api/v1/sessions" => sessions::list;
    get "/api/v1/sessions/{id}" => sessions::one;
    post "/api/v1/sessions/{id}/stop" => sessions::stop;
    // Log uploads (the station's upload endpoint, /uploads/{token}, is outside the API).
    post "/api/v1/stations/{id}/logs" => logs::create;
    get "/api/v1/logs" => logs::list;
    get "/api/v1/logs/{id}" => logs::one;
    get "/api/v1/logs/{id}/content" => logs::content;
    get "/api/v1/triggers" => trigger_records::list;
    get "/api/v1/triggers/{id}" => trigger_records::one;
    get "/api/v1/events" => events::stream;
    get "/api/v1/ca" => ca::certificate;
    get "/api/v1/health" => health;
    get "/health/live" => health::live;
    get "/health/ready" => health::ready;
    get "/metrics" => metrics::metrics;
    get "/api/v1/openapi.json" => openapi::document;
    // Fleet operations: bulk trigger jobs, schedules, freshness targets.
    post "/api/v1/trigger-jobs" => jobs::create;
    get "/api/v1/trigger-jobs" => jobs::list;
    get "/api/v1/trigger-jobs/{id}" => jobs::one;
    post "/api/v1/trigger-jobs/{id}/cancel" => jobs::cancel;
    post "/api/v1/schedules" => schedules::create;
    get "/api/v1/schedules" => schedules::list;
    get "/api/v1/schedules/{id}" => schedules::one;
    put "/api/v1/schedules/{id}" => schedules::replace;
    delete "/api/v1/schedules/{id}" => schedules::delete;
    post "/api/v1/freshness" => freshness_targets::create;
    get "/api/v1/freshness" => freshness_targets::list;
    get "/api/v1/freshness/{id}" => freshness_targets::one;
    delete "/api/v1/freshness/{id}" => freshness_targets::delete;
    // Reports and export.
    get "/api/v1/reports/fleet" => reports::fleet;
    get "/api/v1/reports/health" => reports::list;
    get "/api/v1/reports/storage" => storage_report::storage;
    get "/api/v1/cluster" => cluster::show;
    post "/api/v1/cluster/nodes/{id}/drain" => cluster::drain;
    get "/api/v1/stations/{id}/health" => reports::one;
    get "/api/v1/stations/{id}/meter-values" => meter_values::list;
    get "/api/v1/export/journal" => export::journal;
    get "/api/v1/export/meter-values" => export::meter_values;
    // Alerts and webhooks.
    post "/api/v1/alert-rules" => alert_rules::create;
    get "/api/v1/alert-rules" => alert_rules::list;
    get "/api/v1/alert-rules/{id}" => alert_rules::one;
    put "/api/v1/alert-rules/{id}" => alert_rules::replace;
    delete "/api/v1/alert-rules/{id}" => alert_rules::delete;
    get "/api/v1/alerts" => alerts::list;
    get "/api/v1/alerts/{id}" => alerts::one;
    post "/api/v1/alerts/{id}/acknowledge" => alerts::acknowledge;
    post "/api/v1/webhooks" => webhooks::create;
    get "/api/v1/webhooks" => webhooks::list;
    get "/api/v1/webhooks/{id}" => webhooks::one;
    delete "/api/v1/webhooks/{id}" => webhooks::delete;
    get "/api/v1/webhooks/{id}/deliveries" => webhooks::deliveries;
    // Configuration verification: snapshots, profiles, drift, apply jobs.
    post "/api/v1/stations/{id}/configuration/read" => station_config::read_now;
    get "/api/v1/stations/{id}/configuration" => station_config::latest;
    get "/api/v1/stations/{id}/configuration/history" => station_config::history;
    get "/api/v1/config/profiles" => config_profiles::list;
    get "/api/v1/config/profiles/{id}" => config_profiles::one;
    put "/api/v1/config/profiles/{id}" => config_profiles::put;
    delete "/api/v1/config/profiles/{id}" => config_profiles::delete;
    get "/api/v1/config/drift" => config_drift::report;
    post "/api/v1/config/drift/check" => config_drift::check;
    post "/api/v1/config/apply" => config_drift::apply;
    get "/api/v1/config/applies" => config_drift::applies;
    get "/api/v1/config/applies/{id}" => config_drift::one_apply;
    // Firmware rollouts.
    post "/api/v1/firmware/rollouts" => firmware::create;
    get "/api/v1/firmware/rollouts" => firmware::list;
    get "/api/v1/firmware/rollouts/{id}" => firmware::one;
    post "/api/v1/firmware/rollouts/{id}/cancel" => firmware::cancel;
    // Authorization: the id-token registry and local lists.
    get "/api/v1/id-tokens" => id_tokens::list;
    get "/api/v1/id-tokens/{idToken}" => id_tokens::one;
    put "/api/v1/id-tokens/{idToken}" => id_tokens::put;
    delete "/api/v1/id-tokens/{idToken}" => id_tokens::delete;
    post "/api/v1/stations/{id}/local-list" => local_list::push;
    // API tokens (admin).
    post "/api/v1/tokens" => tokens::create;
    get "/api/v1/tokens" => tokens::list;
    delete "/api/v1/tokens/{id}" => tokens::delete;
}

/// The API routes, each behind the token, scope and cross-site checks of `auth::guard`,
/// then the one rule for query parameters (`query::refuse_unknown`).
pub fn router(app: &Arc<App>) -> Router<Arc<App>> {
    routes()
        .route_layer(axum::middleware::from_fn(query::refuse_unknown))
        // A station held by another cluster node: its node answers (after the guard).
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(app),
            crate::cluster::forward::route,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(app),
            auth::guard,
        ))
        .layer(axum::middleware::map_response(json_errors))
}

/// The answer of `GET /api/v1/health`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok` while the server answers.
    #[schema(value_type = String, example = "ok")]
    status: &'static str,
}

/// Liveness: the server answers HTTP.
#[utoipa::path(
    get,
    path = "/api/v1/health",
    tag = "meta",
    responses(
        (status = 200, description = "The server is up", body = Health),
        (status = "4XX", description = "Any client error the framework makes (e.g. 405 for another method)", body = ApiErrorBody),
    )
)]
pub async fn health() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// Answers any unknown path with the JSON error shape.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no such endpoint {}; the API lives under /api/v1 (stations, stations/{{id}}, stations/{{id}}/trigger, stations/{{id}}/calls, stations/{{id}}/reset, stations/{{id}}/change-availability, stations/{{id}}/unlock-connector, stations/{{id}}/clear-cache, stations/{{id}}/local-list, id-tokens, id-tokens/{{idToken}}, stations/{{id}}/messages, stations/{{id}}/health, stations/{{id}}/meter-values, stations/{{id}}/sessions, sessions, sessions/{{id}}, sessions/{{id}}/stop, stations/{{id}}/logs, logs, logs/{{id}}, logs/{{id}}/content, firmware/rollouts, firmware/rollouts/{{id}}, firmware/rollouts/{{id}}/cancel, triggers, triggers/{{id}}, calls, calls/{{id}}, trigger-jobs, trigger-jobs/{{id}}, trigger-jobs/{{id}}/cancel, schedules, schedules/{{id}}, freshness, freshness/{{id}}, alert-rules, alert-rules/{{id}}, alerts, alerts/{{id}}, alerts/{{id}}/acknowledge, webhooks, webhooks/{{id}}, webhooks/{{id}}/deliveries, tokens, tokens/{{id}}, events, ca, reports/fleet, reports/health, reports/storage, cluster, cluster/nodes/{{id}}/drain, export/journal, export/meter-values, health, openapi.json), probes at /health/live and /health/ready, metrics at /metrics, stations connect to /ocpp/{{stationId}} and upload logs to the one-time /uploads/{{token}} they are given",
            uri.path()
        ),
    )
}

/// Test helper: `value` serializes with its keys in sorted order at every level, the order
/// a `json!` map has, so a view that replaced one sends the same bytes.
#[cfg(test)]
pub(crate) fn assert_sorted_keys(value: &impl serde::Serialize) {
    let direct = serde_json::to_string(value).expect("serializes");
    let sorted = serde_json::to_value(value).expect("serializes").to_string();
    assert_eq!(direct, sorted);
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
    // serde reads a struct from a JSON array too (its fields by position); the API's
    // bodies are objects.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!("the request body must be a JSON object like {expected}"),
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
