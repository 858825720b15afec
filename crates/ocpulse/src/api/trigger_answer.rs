//! The 200 body of a waited-for trigger, serialized straight from the record.
//!
//! Building it as a `json!` tree cloned every payload into a map and then serialized the
//! map: 6% of the server's instructions per trigger (callgrind). These borrow instead. Fields
//! are declared in alphabetical order, the order the `json!` maps had, so the bytes a client
//! receives did not change.

use ocpp_rpc::trigger::MatchReason;
use ocpulse_core::trigger_record::{CorrelatedMessage, SentCall, TriggerRecord};
use serde::Serialize;
use serde_json::Value;

/// What the station was sent.
#[derive(Serialize)]
pub(super) struct Sent<'a> {
    action: &'a str,
    payload: &'a Value,
}

/// One message the trigger returned (also the shape of `unmatched` in a 502).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Message<'a> {
    action: &'a str,
    /// Why it was taken (absent for a message that was not: `unmatched`).
    #[serde(skip_serializing_if = "Option::is_none")]
    matched_by: Option<MatchReason>,
    message_id: &'a str,
    payload: &'a Value,
    received_at: &'a str,
}

impl<'a> From<&'a CorrelatedMessage> for Message<'a> {
    fn from(m: &'a CorrelatedMessage) -> Self {
        Self {
            action: &m.action,
            matched_by: m.matched_by,
            message_id: &m.message_id,
            payload: &m.payload,
            received_at: &m.received_at,
        }
    }
}

impl<'a> From<&'a SentCall> for Sent<'a> {
    fn from(c: &'a SentCall) -> Self {
        Self {
            action: &c.action,
            payload: &c.payload,
        }
    }
}

/// The answer of a trigger that ended Completed, Partial, Rejected or NotImplemented.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Answer<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    calls: Option<&'a [SentCall]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate: Option<&'a Value>,
    complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    elapsed_ms: Option<u64>,
    messages: Vec<Message<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
    outcome: &'static str,
    protocol: &'a str,
    sent: Option<Sent<'a>>,
    station_id: &'a str,
    status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_info: Option<&'a Value>,
    trigger_id: &'a str,
}

impl<'a> From<&'a TriggerRecord> for Answer<'a> {
    fn from(r: &'a TriggerRecord) -> Self {
        let last = r.calls.last();
        Self {
            calls: (r.calls.len() > 1).then_some(r.calls.as_slice()),
            certificate: r.certificate.as_ref(),
            complete: r.complete,
            detail: r.detail.as_deref(),
            elapsed_ms: r.elapsed_ms,
            messages: r.messages.iter().map(Message::from).collect(),
            note: r.calls.first().and_then(|c| c.note.as_deref()),
            outcome: r.outcome.as_str(),
            protocol: &r.protocol,
            sent: last.map(Sent::from),
            station_id: &r.station_id,
            status: last.and_then(|c| c.status.as_deref()),
            status_info: last.and_then(|c| c.status_info.as_ref()),
            trigger_id: &r.id,
        }
    }
}
