//! Log uploads: asking a station for its log (GetDiagnostics / GetLog) with a one-time
//! upload URL on this server, receiving the file it uploads there, and reading requests
//! back with their progress folded from the journal (`ocpulse_core::log_request`).
//!
//! The CALL goes through the session's outbox by `csms_call::send`, the path every CSMS
//! CALL takes. The upload URL's token is random (128 bits), kept only as a SHA-256, and
//! spent by the first upload; files live in `<data-dir>/uploads/` under a name the server
//! makes, whatever the store (SQLite or PostgreSQL).

pub mod multipart;
pub mod upload;

use std::path::PathBuf;
use std::time::Duration;

use ocpulse_core::JournalEntry;
use ocpulse_core::journal::JournalScan;
use ocpulse_core::log_request::{self, CallEnded, DOC_KIND, LogAsk, LogCall, LogRequest, View};
use ocpulse_core::store::{Doc, StoreError};
use ring::rand::SecureRandom as _;

use crate::app::App;
use crate::csms_call::{self, CallRefusal};
use crate::now_ms;
use crate::registry::CallOutcome;

/// How long an upload URL takes a file: long enough for a station's retries
/// (`retries` × `retryInterval`), short enough that a leaked URL goes stale.
pub const UPLOAD_TTL: Duration = Duration::from_secs(24 * 3600);

/// The path (under the public URL) stations upload to; the token follows.
pub const UPLOAD_PATH: &str = "/uploads/";

/// Where uploaded files are kept.
pub fn upload_dir(app: &App) -> PathBuf {
    app.config.data_dir.join("uploads")
}

/// The base of upload URLs (`--public-url`, else the listen address; an unspecified
/// listen address takes the `Host` the operator reached the API at).
pub fn public_base(app: &App, host: Option<&str>) -> String {
    if let Some(url) = &app.config.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let scheme = if app.config.security.tls.is_some() {
        "https"
    } else {
        "http"
    };
    match host {
        Some(h) if app.config.listen.ip().is_unspecified() => format!("{scheme}://{h}"),
        _ => format!("{scheme}://{}", app.config.listen),
    }
}

/// A fresh upload token (128 random bits, hex) and its SHA-256 as stored.
pub fn new_token() -> Result<(String, String), StoreError> {
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| StoreError::Setup("no randomness for an upload token".into()))?;
    let token = hex(&bytes);
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a log request was not made.
#[derive(Debug)]
pub enum StartError {
    /// Refused before anything was sent (unknown, not connected, a payload the schema refuses).
    Refused(CallRefusal),
    /// The request could not be stored.
    Store(StoreError),
}

/// What the station did with the CALL.
#[derive(Debug)]
pub struct Started {
    /// The request as stored after the answer.
    pub request: LogRequest,
    /// How the CALL ended.
    pub outcome: CallOutcome,
}

/// Asks `station_id` for its log: stores the request, sends the CALL through the session
/// and waits up to `timeout` for its answer, then stores the answer.
pub async fn start(
    app: &App,
    station_id: &str,
    ask: LogAsk,
    host: Option<&str>,
    requested_by: Option<String>,
    timeout: Duration,
) -> Result<Started, StartError> {
    let v16 = app
        .stations
        .get(station_id)
        .and_then(|e| e.session.map(|s| s.protocol))
        .is_some_and(|p| p.family() == ocpp_rpc::Family::V16);
    let call = LogCall::for_station(v16, ask.log_type.as_deref());
    let (token, hash) = new_token().map_err(StartError::Store)?;
    let base = format!("{}{UPLOAD_PATH}", public_base(app, host));
    // The requestId counts the station's requests (1, 2, ...): unique per station for as
    // long as the requests are stored, and the same in every run of the manual's examples.
    let numbering = app.log_uploads.lock().await;
    let request_id = all(app)
        .await
        .map_err(StartError::Store)?
        .iter()
        .filter(|r| r.station_id == station_id)
        .map(|r| r.request_id)
        .max()
        .unwrap_or(0)
        + 1;
    let payload = log_request::payload(call, &ask, &format!("{base}{token}"), request_id);
    let session = csms_call::prepare(app, station_id, call.action(), &payload)
        .map_err(StartError::Refused)?;
    let now = now_ms();
    let mut request = LogRequest {
        id: uuid::Uuid::now_v7().simple().to_string(),
        station_id: station_id.to_owned(),
        protocol: session.protocol.subprotocol().to_owned(),
        call,
        log_type: (call == LogCall::GetLog).then(|| {
            ask.log_type
                .clone()
                .unwrap_or_else(|| "DiagnosticsLog".into())
        }),
        request_id,
        token_hash: hash,
        location_base: base,
        created_at: now,
        expires_at: now + i64::try_from(UPLOAD_TTL.as_millis()).unwrap_or(i64::MAX),
        requested_by,
        answer: None,
        file: None,
    };
    save(app, &request).await.map_err(StartError::Store)?;
    drop(numbering);
    let outcome = csms_call::send(&session, call.action(), payload, timeout).await;
    let at = now_ms();
    request.answer = Some(match &outcome {
        CallOutcome::Result(response) => CallEnded::answered(call, response, at),
        other => failed(other, at),
    });
    save(app, &request).await.map_err(StartError::Store)?;
    Ok(Started { request, outcome })
}

fn failed(outcome: &CallOutcome, at: i64) -> CallEnded {
    let (status, detail) = match outcome {
        CallOutcome::Result(_) => ("Accepted", None),
        CallOutcome::Error {
            code, description, ..
        } => ("station_call_error", Some(format!("{code}: {description}"))),
        CallOutcome::InvalidResponse { violation, .. } => {
            ("invalid_station_response", Some(violation.clone()))
        }
        CallOutcome::Timeout => ("station_timeout", None),
        CallOutcome::Disconnected => ("station_disconnected", None),
    };
    CallEnded {
        status: status.into(),
        file_name: None,
        detail,
        at,
    }
}

/// Stores a request (durable when it returns).
pub async fn save(app: &App, request: &LogRequest) -> Result<(), StoreError> {
    app.store
        .save_docs(vec![Doc::put(DOC_KIND, &request.id, request)?])
        .await
}

/// Every stored request, oldest first (ids are time-ordered).
pub async fn all(app: &App) -> Result<Vec<LogRequest>, StoreError> {
    Ok(app
        .store
        .docs(DOC_KIND)
        .await?
        .into_iter()
        .filter_map(|(id, body)| match serde_json::from_str(&body) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(id, error = %e, "a stored log request does not read; skipped");
                None
            }
        })
        .collect())
}

/// One stored request.
pub async fn one(app: &App, id: &str) -> Result<Option<LogRequest>, StoreError> {
    Ok(app
        .store
        .doc(DOC_KIND, id.to_owned())
        .await?
        .and_then(|body| serde_json::from_str(&body).ok()))
}

/// The request's status and progress: its station's status notifications since it was
/// made, folded (`LogRequest::view`). `siblings`: the station's other requests, to bound a
/// 1.6 request's notifications by the next one's start.
pub async fn view(
    app: &App,
    request: &LogRequest,
    siblings: &[LogRequest],
) -> Result<View, StoreError> {
    let next_created = siblings
        .iter()
        .filter(|r| r.station_id == request.station_id && r.created_at > request.created_at)
        .map(|r| r.created_at)
        .min();
    let entries = notifications(app, request).await?;
    Ok(request.view(&entries, next_created, now_ms()))
}

/// The station's status notifications from the request on (bounded: a request's progress
/// is a handful of messages).
async fn notifications(app: &App, request: &LogRequest) -> Result<Vec<JournalEntry>, StoreError> {
    const MAX: usize = 1000;
    app.store
        .journal_scan(JournalScan {
            station_id: Some(request.station_id.clone()),
            actions: log_request::STATUS_ACTIONS
                .iter()
                .map(|a| (*a).to_owned())
                .collect(),
            station_calls_only: true,
            from_at: Some(request.created_at),
            limit: MAX,
            ..JournalScan::default()
        })
        .await
}

/// The journal entry of an arrived upload: the fact behind `file`.
pub fn uploaded_event(request: &LogRequest, at: i64) -> JournalEntry {
    let file = request.file.as_ref();
    let payload = serde_json::json!({
        "logId": request.id,
        "requestId": request.request_id,
        "size": file.map(|f| f.size),
        "sha256": file.map(|f| f.sha256.clone()),
    });
    JournalEntry {
        seq: 0,
        station_id: request.station_id.clone(),
        direction: ocpulse_core::Direction::In,
        frame_type: ocpulse_core::journal::EVENT,
        message_id: Some(request.id.clone()),
        action: Some(log_request::LOG_UPLOADED.to_owned()),
        payload: payload.to_string(),
        at,
        violation: None,
        trigger_id: None,
    }
}

/// The file of a received request.
pub fn file_path(app: &App, request: &LogRequest) -> PathBuf {
    upload_dir(app).join(log_request::stored_name(&request.id))
}
