//! A recorded CSMS call: `csms_call` checked and sent, with a record of kind `call` in the
//! same model and table as triggers (`TriggerRecord`): who asked, what was sent (secrets
//! redacted), the station's whole answer, and how it ended. `/calls`, the typed station
//! operations and jobs send through here; any feature may (`call`, one line), and
//! `csms_call::send` stays for a call that needs no record.

use std::sync::Arc;
use std::time::Duration;

use ocpulse_core::rfc3339;
use ocpulse_core::session::secrets_redacted;
use ocpulse_core::store::WriteBatch;
use ocpulse_core::trigger_record::{Outcome, RecordKind, SentCall, TriggerRecord};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::app::App;
use crate::csms_call::{self, CallRefusal};
use crate::now_ms;
use crate::registry::{CallOutcome, SessionHandle};

/// Who asked, how long the station has, and what to keep: everything about a recorded
/// call that is not the CALL itself.
#[derive(Debug, Clone)]
pub struct CallOptions {
    /// Kept in the record (`X-Requested-By`, a token's name, `job:<id>`, ...).
    pub requested_by: String,
    /// How long the station has to answer.
    pub timeout: Duration,
    /// Store the record as it starts (a caller that does not wait: a restart then marks
    /// it `Interrupted` instead of losing it).
    pub store_start: bool,
    /// How the caller's request was translated into this CALL, if it was.
    pub note: Option<String>,
    /// What the caller asked, as written, when it is not the CALL itself (a typed
    /// operation's body); `None`: `{"action", "payload", "timeoutMs"}`.
    pub request: Option<Value>,
}

impl CallOptions {
    /// Waited for, untranslated.
    pub fn new(requested_by: impl Into<String>, timeout: Duration) -> Self {
        Self {
            requested_by: requested_by.into(),
            timeout,
            store_start: false,
            note: None,
            request: None,
        }
    }
}

/// A checked call ready to send.
pub struct CallRun {
    /// The record so far (outcome Running).
    pub record: TriggerRecord,
    session: SessionHandle,
    action: String,
    payload: Value,
    timeout: Duration,
    started: Instant,
    store_start: bool,
}

/// How a recorded call ended: the record (stored, and readable from memory until the
/// store surely has it) and the station's answer as the session told it.
#[derive(Debug)]
pub struct CallEnded {
    /// The final record.
    pub record: Arc<TriggerRecord>,
    /// The answer, unredacted (the caller sent it, the caller may see it).
    pub outcome: CallOutcome,
}

/// Checks the call (`csms_call::prepare`: station, action, payload schema) and builds its
/// record; nothing is sent or stored yet.
pub fn prepare(
    app: &App,
    station_id: &str,
    action: &str,
    payload: Value,
    options: CallOptions,
    started: Instant,
) -> Result<CallRun, CallRefusal> {
    let session = csms_call::prepare(app, station_id, action, &payload)?;
    let shown = secrets_redacted(action, &payload).unwrap_or_else(|| payload.clone());
    let timeout_ms = u64::try_from(options.timeout.as_millis()).unwrap_or(u64::MAX);
    let request = options
        .request
        .unwrap_or_else(|| json!({"action": action, "payload": shown, "timeoutMs": timeout_ms}));
    let record = TriggerRecord {
        // Time-ordered, so stored records append at the end of their index.
        id: uuid::Uuid::now_v7().simple().to_string(),
        kind: RecordKind::Call,
        station_id: station_id.to_owned(),
        protocol: session.protocol.subprotocol().to_owned(),
        requested_by: options.requested_by,
        request,
        created_at: rfc3339(now_ms()),
        calls: vec![SentCall {
            action: action.to_owned(),
            payload: shown,
            note: options.note,
            status: None,
            status_info: None,
            error: None,
            answer_ms: None,
            response: None,
        }],
        messages: Vec::new(),
        unmatched: Vec::new(),
        outcome: Outcome::Running,
        detail: None,
        complete: false,
        completed_at: None,
        elapsed_ms: None,
        certificate: None,
    };
    Ok(CallRun {
        record,
        session,
        action: action.to_owned(),
        payload,
        timeout: options.timeout,
        started,
        store_start: options.store_start,
    })
}

/// Sends the call, waits for its end, and stores its record.
pub async fn run(app: Arc<App>, run: CallRun) -> CallEnded {
    let CallRun {
        mut record,
        session,
        action,
        payload,
        timeout,
        started,
        store_start,
    } = run;
    let first = Arc::new(record.clone());
    app.running.lock().put(Arc::clone(&first));
    if store_start {
        app.store.enqueue(WriteBatch {
            triggers: vec![first],
            ..WriteBatch::default()
        });
    }
    let sent_at = Instant::now();
    let outcome = csms_call::send(&session, &action, payload, timeout).await;
    let now = now_ms();
    let mut end = Outcome::Completed;
    if let Some(call) = record.calls.first_mut() {
        call.answer_ms = Some(millis(sent_at.elapsed()));
        match &outcome {
            CallOutcome::Result(response) => {
                call.status = response
                    .get("status")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                call.status_info = response.get("statusInfo").cloned();
                call.response = Some(response.clone());
            }
            CallOutcome::Error {
                code,
                description,
                details,
            } => {
                call.error = Some(
                    json!({"errorCode": code, "errorDescription": description, "errorDetails": details}),
                );
                end = Outcome::CallError;
            }
            CallOutcome::InvalidResponse { payload, violation } => {
                call.error = Some(json!({"payload": payload, "violation": violation}));
                end = Outcome::InvalidResponse;
            }
            CallOutcome::Timeout => end = Outcome::StationTimeout,
            CallOutcome::Disconnected => end = Outcome::Disconnected,
        }
    }
    record.outcome = end;
    record.complete = end == Outcome::Completed;
    record.detail = detail(&record, end, timeout);
    record.completed_at = Some(rfc3339(now));
    record.elapsed_ms = Some(millis(started.elapsed()));
    let record = Arc::new(record);
    app.store.enqueue(WriteBatch {
        triggers: vec![Arc::clone(&record)],
        ..WriteBatch::default()
    });
    app.running.lock().put(Arc::clone(&record));
    CallEnded { record, outcome }
}

/// Checks, sends and records one call, waiting for its end: what a feature that sends a
/// CSMS call on someone's behalf needs in one line.
pub async fn call(
    app: &Arc<App>,
    station_id: &str,
    action: &str,
    payload: Value,
    options: CallOptions,
) -> Result<CallEnded, CallRefusal> {
    let prepared = prepare(app, station_id, action, payload, options, Instant::now())?;
    Ok(run(Arc::clone(app), prepared).await)
}

fn detail(record: &TriggerRecord, outcome: Outcome, timeout: Duration) -> Option<String> {
    let action = record
        .calls
        .first()
        .map_or("the call", |c| c.action.as_str());
    Some(match outcome {
        Outcome::CallError => format!("the station answered {action} with a CALLERROR"),
        Outcome::InvalidResponse => {
            format!("the station's answer to {action} violates the response schema")
        }
        Outcome::StationTimeout => format!(
            "the station did not answer {action} within {} ms; it may still act on it",
            timeout.as_millis()
        ),
        Outcome::Disconnected => format!(
            "the station disconnected before it answered {action}; it may or may not have acted on it"
        ),
        _ => return None,
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
