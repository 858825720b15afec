//! Receiving a station's upload at its one-time URL: find the request by the token's
//! hash, take the file out of the body (raw or multipart), write it under the data
//! directory with a name the server makes, and commit the request's file and the
//! `LogUploaded` event together. One upload is handled at a time, so a token is spent once.

use std::io::Write as _;

use ocpulse_core::log_request::{LogRequest, StoredFile};
use ocpulse_core::store::{Doc, StoreError, WriteBatch};

use super::multipart;
use crate::app::App;
use crate::now_ms;

/// Why an upload was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum UploadError {
    /// No request has this token.
    Unknown,
    /// The token was used, or the request refused, or its time ran out.
    Gone(&'static str),
    /// The body is not a file: empty, or multipart that does not parse.
    BadBody(String),
    /// The file could not be written or recorded.
    Storage(String),
}

impl From<StoreError> for UploadError {
    fn from(e: StoreError) -> Self {
        Self::Storage(e.to_string())
    }
}

/// Stores the body uploaded with `token` and returns the request with its file.
pub async fn receive(
    app: &App,
    token: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<LogRequest, UploadError> {
    let (bytes, file_name, part_type) = match content_type.and_then(multipart::boundary) {
        Some(boundary) => {
            let part = multipart::file_part(body, &boundary).map_err(UploadError::BadBody)?;
            (part.body, part.file_name, part.content_type)
        }
        None => (body, None, content_type.map(str::to_owned)),
    };
    if bytes.is_empty() {
        return Err(UploadError::BadBody(
            "the upload is empty; send the log file as the body (raw, or the file part of multipart/form-data)".into(),
        ));
    }
    let hash = super::token_hash(token);
    let _one_at_a_time = app.log_uploads.lock().await;
    let mut request = super::all(app)
        .await?
        .into_iter()
        .find(|r| r.token_hash == hash)
        .ok_or(UploadError::Unknown)?;
    let now = now_ms();
    if request.file.is_some() {
        return Err(UploadError::Gone(
            "this upload URL was used already; each takes one file",
        ));
    }
    if !request.takes_upload(now) {
        return Err(UploadError::Gone(
            "this upload URL expired, or the station refused the request",
        ));
    }
    let dir = super::upload_dir(app);
    let path = super::file_path(app, &request);
    let sha256 = super::hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    let owned = bytes.to_vec();
    let write_path = path.clone();
    tokio::task::spawn_blocking(move || write_file(&dir, &write_path, &owned))
        .await
        .map_err(|e| UploadError::Storage(e.to_string()))?
        .map_err(|e| UploadError::Storage(format!("cannot write {}: {e}", path.display())))?;
    request.file = Some(StoredFile {
        size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
        sha256,
        content_type: media_type(part_type.as_deref()),
        file_name: file_name.or_else(|| request.answer.as_ref().and_then(|a| a.file_name.clone())),
        at: now,
    });
    let batch = WriteBatch {
        entries: vec![super::uploaded_event(&request, now)],
        docs: vec![Doc::put(
            ocpulse_core::log_request::DOC_KIND,
            &request.id,
            &request,
        )?],
        ..WriteBatch::default()
    };
    if let Err(e) = app.store.commit(batch).await {
        let _ = std::fs::remove_file(&path);
        return Err(e.into());
    }
    Ok(request)
}

/// The media type to serve a file with: what it was sent with, if that is a media type
/// (`type/subtype`, parameters dropped, lower case), else `application/octet-stream`.
fn media_type(sent: Option<&str>) -> String {
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    sent.and_then(|s| s.split(';').next())
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| s.split_once('/').is_some_and(|(a, b)| token(a) && token(b)))
        .unwrap_or_else(|| "application/octet-stream".into())
}

/// Writes `bytes` to `path` durably: a temporary file beside it, synced, then renamed.
fn write_file(dir: &std::path::Path, path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let part = path.with_extension("part");
    let mut f = std::fs::File::create(&part)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&part, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_file_is_served_with_a_media_type_or_as_octets() {
        assert_eq!(
            super::media_type(Some("Text/Plain; charset=utf-8")),
            "text/plain"
        );
        assert_eq!(
            super::media_type(Some("application/gzip")),
            "application/gzip"
        );
        for bad in [
            None,
            Some(""),
            Some("text"),
            Some("a/b/c"),
            Some("te xt/plain"),
        ] {
            assert_eq!(
                super::media_type(bad),
                "application/octet-stream",
                "{bad:?}"
            );
        }
    }
}
