//! `GET /api/v1/ca`: the CA certificate, so operators can install it on stations as the
//! trust anchor of the certificates ocpulse issues.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ApiError;
use super::openapi::ApiErrorBody;
use crate::app::App;

/// The CA certificate as PEM (`application/x-pem-file`), or 404 when signing is disabled.
#[utoipa::path(
    get,
    path = "/api/v1/ca",
    tag = "stations",
    responses(
        (status = 200, description = "The CA certificate (PEM)", body = String, content_type = "application/x-pem-file"),
        (status = 404, description = "The server runs without a CA (`no_ca`)", body = ApiErrorBody),
    )
)]
pub async fn certificate(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let ca = app.ca.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_ca",
            "this CSMS runs without a certificate authority (--no-ca), so it signs no station certificates; start it without --no-ca (development CA) or with --ca-cert/--ca-key",
        )
    })?;
    Ok((
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        ca.cert_pem(),
    )
        .into_response())
}
