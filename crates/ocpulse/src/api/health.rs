//! Probes for an orchestrator or a load balancer: `GET /health/live` (the process answers
//! HTTP) and `GET /health/ready` (it can take stations now: see `crate::readiness`). Both
//! are public, like `/api/v1/health`, which stays as it was: probes carry no tokens, and
//! the answers name checks, not data.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::ApiError;
use super::openapi::ApiErrorBody;
use crate::app::App;

/// The answer of `GET /health/live`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Live {
    /// Always `live` while the process answers.
    #[schema(value_type = String, example = "live")]
    status: &'static str,
}

/// Liveness: the process is up and answers HTTP. Restart it when this fails.
#[utoipa::path(
    get,
    path = "/health/live",
    tag = "meta",
    responses(
        (status = 200, description = "The process answers", body = Live),
        (status = "4XX", description = "Any client error the framework makes (e.g. 405 for another method)", body = ApiErrorBody),
    )
)]
pub async fn live() -> Json<Live> {
    Json(Live { status: "live" })
}

/// The answer of `GET /health/ready` when every check passed.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// `ready`.
    #[schema(value_type = String, example = "ready")]
    status: &'static str,
    /// Each check (`store`, `disk`, `shutdown`) and `ok`.
    #[schema(value_type = BTreeMap<String, String>)]
    checks: BTreeMap<&'static str, &'static str>,
}

/// Readiness: the store commits a write, the data directory has more free space than
/// `--min-free-space`, and the server is not shutting down. 503 names the failed checks.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "meta",
    responses(
        (status = 200, description = "Ready for stations and API calls", body = Ready),
        (status = 503, description = "Not ready (`not_ready`): `failed` lists the failed checks, `checks` each check's result", body = ApiErrorBody),
        (status = "4XX", description = "Any client error the framework makes (e.g. 405 for another method)", body = ApiErrorBody),
    )
)]
pub async fn ready(State(app): State<Arc<App>>) -> Result<Json<Ready>, ApiError> {
    let report = app.readiness.check(&app).await;
    let failures = report.failures();
    if failures.is_empty() {
        return Ok(Json(Ready {
            status: "ready",
            checks: ["store", "disk", "shutdown"]
                .into_iter()
                .map(|c| (c, "ok"))
                .collect(),
        }));
    }
    let checks: BTreeMap<&str, &str> = ["store", "disk", "shutdown"]
        .into_iter()
        .map(|c| {
            let why = failures
                .iter()
                .find(|(name, _)| *name == c)
                .map_or("ok", |(_, why)| *why);
            (c, why)
        })
        .collect();
    let message = failures
        .iter()
        .map(|(name, why)| format!("{name}: {why}"))
        .collect::<Vec<_>>()
        .join("; ");
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_ready",
        format!("not ready: {message}"),
    )
    .with(
        "failed",
        failures.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
    )
    .with("checks", checks))
}
