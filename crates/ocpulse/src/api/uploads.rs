//! `PUT|POST /uploads/{token}`: where a station uploads the log it was asked for. Like
//! `/ocpp/{id}` it is the stations' endpoint, outside the API's bearer tokens: the
//! one-time token in the path is the credential. The body is the file (raw) or a
//! `multipart/form-data` form whose file part is; at most `--max-upload-size` bytes
//! (413 otherwise, nothing kept).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::ApiError;
use crate::app::App;
use crate::logs::upload::{self, UploadError};

/// The answer to a stored upload.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Received {
    /// The log request it belongs to.
    log_id: String,
    /// Bytes stored.
    size: u64,
    /// SHA-256 of what was stored, lower-case hex.
    sha256: String,
}

fn too_large(max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "upload_too_large",
        format!("the upload is larger than this server takes ({max} bytes, --max-upload-size); nothing was kept"),
    )
    .with("maxBytes", max)
}

/// Receives a station's upload.
pub async fn receive(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let max = app.config.max_upload_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let limit = usize::try_from(max).unwrap_or(usize::MAX);
    let body = axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|_| too_large(max))?;
    let stored = upload::receive(&app, &token, content_type.as_deref(), &body)
        .await
        .map_err(|e| match e {
            UploadError::Unknown => ApiError::new(
                StatusCode::NOT_FOUND,
                "upload_not_found",
                "no log request has this upload URL; it is handed out by POST /api/v1/stations/{id}/logs",
            ),
            UploadError::Gone(why) => ApiError::new(StatusCode::GONE, "upload_gone", why),
            UploadError::BadBody(why) => ApiError::bad_request("invalid_upload", why),
            UploadError::Storage(why) => ApiError::internal(why),
        })?;
    let file = stored.file.as_ref();
    tracing::info!(station = %stored.station_id, log = %stored.id, size = file.map(|f| f.size), "log upload stored");
    Ok((
        StatusCode::CREATED,
        Json(Received {
            size: file.map_or(0, |f| f.size),
            sha256: file.map(|f| f.sha256.clone()).unwrap_or_default(),
            log_id: stored.id,
        }),
    )
        .into_response())
}
