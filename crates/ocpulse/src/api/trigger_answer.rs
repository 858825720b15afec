//! The trigger answers: the 200 body of a waited-for trigger (`TriggerResult`), the station
//! messages it carries (`TriggeredMessage`, also the `messages`/`unmatched` of an error),
//! and the 202 body of `"wait": false` (`TriggerAccepted`).
//!
//! They borrow from the record: building the answer as a `json!` tree cloned every payload
//! into a map and then serialized the map, 6% of the server's instructions per trigger
//! (callgrind). Fields are declared in alphabetical order, the order the `json!` maps had,
//! so the bytes a client receives did not change.

use ocpp_rpc::trigger::MatchReason;
use ocpulse_core::trigger_record::{CorrelatedMessage, Outcome, SentCall, TriggerRecord};
use serde::Serialize;
use serde_json::Value;

use super::trigger_records::SentCallView;

/// What the station was sent (`sent` of an answer, or of an error): action and payload.
#[derive(Serialize)]
pub(super) struct Sent<'a> {
    action: &'a str,
    payload: &'a Value,
}

impl<'a> From<&'a SentCall> for Sent<'a> {
    fn from(c: &'a SentCall) -> Self {
        Self {
            action: &c.action,
            payload: &c.payload,
        }
    }
}

/// A station message a trigger produced.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TriggeredMessage<'a> {
    /// Its OCPP action.
    #[schema(value_type = String)]
    action: &'a str,
    /// Why ocpulse took it as the answer: `marker` (it carries OCPP's trigger marker),
    /// `target` (about the connector/EVSE asked for), `transaction` (about a transaction
    /// the trigger waited for) or `first_after_accept`. Absent in `unmatched`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    matched_by: Option<MatchReason>,
    /// Its OCPP message id.
    #[schema(value_type = String)]
    message_id: &'a str,
    /// Its payload.
    #[schema(value_type = Value)]
    payload: &'a Value,
    /// When it was received (RFC 3339).
    #[schema(value_type = String)]
    received_at: &'a str,
}

impl<'a> From<&'a CorrelatedMessage> for TriggeredMessage<'a> {
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

// Only for a trigger that ended Completed, Partial, Rejected or NotImplemented; every other
// outcome is an error (`send_trigger::respond`).
/// The 200 answer of a trigger that was waited for.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TriggerResult<'a> {
    /// Every call, when the trigger needed more than one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Value>>)]
    calls: Option<Vec<SentCallView<'a>>>,
    /// For certificate triggers: the certificate issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    certificate: Option<&'a Value>,
    /// False when the deadline cut a fan-out short.
    complete: bool,
    /// More about the outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    detail: Option<&'a str>,
    /// How long the trigger took.
    elapsed_ms: Option<u64>,
    /// The messages the trigger produced.
    messages: Vec<TriggeredMessage<'a>>,
    /// A note on how the request was translated.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    note: Option<&'a str>,
    /// `Completed`, `Partial`, `Rejected` or `NotImplemented`.
    #[schema(value_type = super::trigger_records::TriggerOutcome)]
    outcome: &'static str,
    /// The station's subprotocol.
    #[schema(value_type = String)]
    protocol: &'a str,
    /// The last call sent (action and payload).
    #[schema(value_type = Value, required = true)]
    sent: Option<Sent<'a>>,
    /// The station.
    #[schema(value_type = String)]
    station_id: &'a str,
    /// The station's answer status (`Accepted`, `Rejected`, `NotImplemented`), or null.
    #[schema(value_type = Option<String>)]
    status: Option<&'a str>,
    /// 2.0.1 statusInfo of the answer, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    status_info: Option<&'a Value>,
    /// The record id (`GET /api/v1/triggers/{id}`).
    #[schema(value_type = String)]
    trigger_id: &'a str,
}

impl<'a> From<&'a TriggerRecord> for TriggerResult<'a> {
    fn from(r: &'a TriggerRecord) -> Self {
        let last = r.calls.last();
        Self {
            calls: (r.calls.len() > 1).then(|| r.calls.iter().map(SentCallView::from).collect()),
            certificate: r.certificate.as_ref(),
            complete: r.complete,
            detail: r.detail.as_deref(),
            elapsed_ms: r.elapsed_ms,
            messages: r.messages.iter().map(TriggeredMessage::from).collect(),
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

/// The 202 answer of `"wait": false`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TriggerAccepted<'a> {
    /// Always `Running`.
    #[schema(value_type = super::trigger_records::TriggerOutcome)]
    outcome: &'static str,
    /// Where to read the record.
    record: String,
    /// The station.
    #[schema(value_type = String)]
    station_id: &'a str,
    /// The record id.
    #[schema(value_type = String)]
    trigger_id: &'a str,
}

impl<'a> From<&'a TriggerRecord> for TriggerAccepted<'a> {
    fn from(r: &'a TriggerRecord) -> Self {
        Self {
            outcome: Outcome::Running.as_str(),
            record: format!("/api/v1/triggers/{}", r.id),
            station_id: &r.station_id,
            trigger_id: &r.id,
        }
    }
}
