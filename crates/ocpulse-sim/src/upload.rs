//! The runner's HTTP edge for log uploads: performs an [`Upload`] the station asked for
//! (a multipart/form-data POST, or a raw PUT) and says whether the server took it.

use std::sync::Arc;
use std::time::Duration;

use crate::station::Upload;

/// How long one upload may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// An HTTP client for uploads; `tls` (the runner's, trusting the CSMS's CA) for https.
pub fn client(tls: Option<&Arc<rustls::ClientConfig>>) -> Result<reqwest::Client, String> {
    // reqwest is built without a default crypto provider: the one the WebSocket uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::limited(3));
    if let Some(tls) = tls {
        builder = builder.tls_backend_preconfigured((**tls).clone());
    }
    builder.build().map_err(|e| e.to_string())
}

/// The multipart body and its boundary for `upload` (one `file` part).
pub fn multipart(upload: &Upload) -> (String, Vec<u8>) {
    let boundary = format!(
        "ocpulse-sim-{:016x}",
        upload.body.len() as u64 ^ 0x5eed_cafe
    );
    let name: String = upload
        .file_name
        .chars()
        .filter(|c| *c != '"' && *c != '\r' && *c != '\n')
        .collect();
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: text/plain\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&upload.body);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (boundary, body)
}

/// Uploads the file; `true` when the server answered 2xx.
pub async fn perform(client: &reqwest::Client, upload: Upload) -> bool {
    let request = if upload.multipart {
        let (boundary, body) = multipart(&upload);
        client
            .post(&upload.url)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
    } else {
        client
            .put(&upload.url)
            .header("content-type", "text/plain")
            .body(upload.body)
    };
    match request.send().await {
        Ok(r) if r.status().is_success() => true,
        Ok(r) => {
            tracing::debug!(url = %upload.url, status = %r.status(), "log upload refused");
            false
        }
        Err(e) => {
            tracing::debug!(url = %upload.url, error = %e, "log upload failed");
            false
        }
    }
}
