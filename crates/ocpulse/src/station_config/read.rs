//! Reading a station's configuration through its session: 1.6 GetConfiguration; 2.x
//! GetVariables for named keys, or GetBaseReport for everything, whose NotifyReport parts
//! are collected from the committed journal by `requestId` (the session answers them;
//! nothing here holds a station message).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use ocpp_rpc::Family;
use ocpulse_core::journal::JournalScan;
use ocpulse_core::rfc3339;
use ocpulse_core::station_config::{self as rules, ConfigEntry, ConfigSnapshot, ReportAssembly};
use ocpulse_core::store::StoreError;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::app::App;
use crate::call_run::{self, CallOptions};
use crate::csms_call::CallRefusal;
use crate::now_ms;
use crate::registry::{CallOutcome, SessionHandle};
use crate::trigger_service::Refusal;

/// Keys per GetVariables: the smallest `ItemsPerMessageGetVariables` stations commonly
/// have, so a read is never refused for its size.
const KEYS_PER_GET_VARIABLES: usize = 20;

/// Who asked, in the call records of configuration reads and applies.
pub const REQUESTED_BY: &str = "configuration";

/// How often the journal is looked at for NotifyReport parts (besides every commit).
const REPORT_POLL: Duration = Duration::from_millis(200);

/// Why a read did not produce a snapshot; the API turns each into its error.
#[derive(Debug)]
pub enum ReadError {
    /// Refused before anything was sent (unknown or disconnected station, a bad key).
    Refused(CallRefusal),
    /// A key that is not `Component.Variable` on a 2.x station.
    InvalidKey(String),
    /// The CALL did not end with a usable CALLRESULT.
    Call {
        /// The action sent.
        action: &'static str,
        /// How it ended.
        outcome: CallOutcome,
    },
    /// The station answered, but will not report (GetBaseReport `Rejected`,
    /// `NotSupported`).
    StationRefused {
        /// The action sent.
        action: &'static str,
        /// Its answer.
        response: Value,
    },
    /// Not every NotifyReport part arrived in time.
    ReportIncomplete {
        /// Parts received.
        parts: usize,
    },
    /// The snapshot could not be stored.
    Store(StoreError),
}

impl From<StoreError> for ReadError {
    fn from(e: StoreError) -> Self {
        ReadError::Store(e)
    }
}

/// Reads `keys` (every setting when `None`) from the station, stores the snapshot and the
/// comparisons with its profiles, and returns the stored (merged) snapshot.
pub async fn read_and_store(
    app: &Arc<App>,
    station_id: &str,
    keys: Option<&[String]>,
    timeout: Duration,
) -> Result<ConfigSnapshot, ReadError> {
    let snapshot = read(app, station_id, keys, timeout).await?;
    Ok(super::store_snapshot(app, snapshot).await?)
}

/// Reads without storing: the snapshot of what the station answered.
pub async fn read(
    app: &Arc<App>,
    station_id: &str,
    keys: Option<&[String]>,
    timeout: Duration,
) -> Result<ConfigSnapshot, ReadError> {
    let deadline = Instant::now() + timeout;
    let session = live_session(app, station_id).map_err(ReadError::Refused)?;
    let protocol = session.protocol;
    let (entries, unknown, source) = match (protocol.family(), keys) {
        (Family::V16, _) => {
            let payload = match keys {
                Some(k) if !k.is_empty() => json!({"key": k}),
                _ => json!({}),
            };
            let response = call(app, station_id, "GetConfiguration", payload, deadline).await?;
            let (entries, unknown) = rules::from_get_configuration(&response);
            (entries, unknown, "GetConfiguration")
        }
        (Family::V2, Some(k)) if !k.is_empty() => {
            let mut entries = std::collections::BTreeMap::new();
            let mut unknown = Vec::new();
            // Every key is checked before the first part goes out.
            let payloads = rules::get_variables_requests(k, KEYS_PER_GET_VARIABLES)
                .map_err(ReadError::InvalidKey)?;
            for payload in payloads {
                let response = call(app, station_id, "GetVariables", payload, deadline).await?;
                let (e, u) = rules::from_get_variables(&response);
                entries.extend(e);
                unknown.extend(u);
            }
            (entries, unknown, "GetVariables")
        }
        (Family::V2, _) => {
            let entries = base_report(app, station_id, deadline).await?;
            (entries, Vec::new(), "GetBaseReport")
        }
    };
    Ok(ConfigSnapshot {
        station_id: station_id.to_owned(),
        protocol: protocol.subprotocol().to_owned(),
        read_at: rfc3339(now_ms()),
        source: source.to_owned(),
        complete: keys.is_none_or(<[String]>::is_empty),
        entries,
        unknown,
    })
}

/// The station's live session: an unknown or disconnected station is refused as a
/// trigger would be.
pub fn live_session(app: &App, station_id: &str) -> Result<SessionHandle, CallRefusal> {
    let entry = app
        .stations
        .get(station_id)
        .ok_or_else(|| CallRefusal::Station(Refusal::UnknownStation(station_id.to_owned())))?;
    entry
        .session
        .ok_or_else(|| CallRefusal::Station(Refusal::NotConnected(station_id.to_owned())))
}

/// Sends one CALL (schema-checked, and recorded as a call record like every CSMS call sent
/// on someone's behalf) and returns its CALLRESULT payload.
async fn call(
    app: &Arc<App>,
    station_id: &str,
    action: &'static str,
    payload: Value,
    deadline: Instant,
) -> Result<Value, ReadError> {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let options = CallOptions::new(REQUESTED_BY, left);
    let ended = call_run::call(app, station_id, action, payload, options)
        .await
        .map_err(ReadError::Refused)?;
    match ended.outcome {
        CallOutcome::Result(response) => Ok(response),
        outcome => Err(ReadError::Call { action, outcome }),
    }
}

/// A request id no other report of this server uses (2.x `requestId` is an integer).
fn next_request_id() -> i64 {
    static NEXT: AtomicI64 = AtomicI64::new(0);
    let base = (now_ms() / 1000) % 1_000_000_000;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    (base + n) % i64::from(i32::MAX)
}

/// GetBaseReport FullInventory, then its NotifyReport parts from the journal.
async fn base_report(
    app: &Arc<App>,
    station_id: &str,
    deadline: Instant,
) -> Result<std::collections::BTreeMap<String, ConfigEntry>, ReadError> {
    let request_id = next_request_id();
    let mut cursor = app.store.journal_head().await?;
    let mut live = app.store.subscribe();
    let payload = json!({"requestId": request_id, "reportBase": "FullInventory"});
    let response = call(app, station_id, "GetBaseReport", payload, deadline).await?;
    match response.get("status").and_then(Value::as_str) {
        Some("Accepted") => {}
        Some("EmptyResultSet") => return Ok(Default::default()),
        _ => {
            return Err(ReadError::StationRefused {
                action: "GetBaseReport",
                response,
            });
        }
    }
    let mut report = ReportAssembly::new(request_id);
    loop {
        let page = app
            .store
            .journal_scan(JournalScan {
                station_id: Some(station_id.to_owned()),
                actions: vec!["NotifyReport".into()],
                station_calls_only: true,
                after_seq: cursor,
                limit: 500,
                ..JournalScan::default()
            })
            .await?;
        for entry in &page {
            cursor = cursor.max(entry.seq);
            if let Ok(payload) = serde_json::from_str::<Value>(&entry.payload) {
                report.offer(&payload);
            }
        }
        if report.is_complete() {
            return Ok(report.entries());
        }
        if page.len() == 500 {
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadError::ReportIncomplete {
                parts: report.parts(),
            });
        }
        // Woken by any commit (or a lagging receiver), at the latest after the poll.
        let _ = tokio::time::timeout(left.min(REPORT_POLL), live.recv()).await;
    }
}
