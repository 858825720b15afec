//! `GET /metrics`: the Prometheus exposition of `crate::metrics`. It needs the `read` scope
//! like every other GET that shows the fleet: no token on a loopback development server, a
//! bearer token (`ocpulse token create --scope read`) wherever tokens are required, which is
//! always the case beyond loopback.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use super::openapi::ApiErrorBody;
use crate::app::App;

/// The server's metrics, in the OpenMetrics text format Prometheus scrapes.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    responses(
        (status = 200, description = "Every series (see docs/operations.md): triggers, CSMS CALLs, jobs, connected stations, frames, validation violations, store commits, the journal's size, event-stream clients, webhook deliveries and the process", body = String, content_type = "application/openmetrics-text"),
        (status = 500, description = "The exposition could not be written", body = ApiErrorBody),
    )
)]
pub async fn metrics(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let text = app
        .metrics
        .render(app.store.as_ref())
        .await
        .map_err(|_| ApiError::internal("the metrics could not be encoded"))?;
    Ok(([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response())
}
