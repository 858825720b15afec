//! The record of one trigger: what the caller asked, what was sent, how the station
//! answered, which of its messages answered the trigger, and how it ended. Records are
//! stored, so a caller that did not wait (`"wait": false`) or lost its connection can
//! still learn the result, and operators can audit who asked what. Any other CSMS call
//! sent on an operator's behalf (`POST /api/v1/stations/{id}/calls`, the typed station
//! operations, a job's call) is a record of the same model and table, of kind `call`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a trigger ended; each one tells the caller what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Still running.
    Running,
    /// Accepted, and every expected message arrived.
    Completed,
    /// Accepted, and some but not all expected messages arrived before the deadline.
    Partial,
    /// The station answered Rejected.
    Rejected,
    /// The station answered NotImplemented (also after the ExtendedTriggerMessage retry).
    NotImplemented,
    /// The station answered with a CALLERROR.
    CallError,
    /// The station's answer violates the response schema (strict validation).
    InvalidResponse,
    /// No answer to the TriggerMessage in time (a late answer is journaled and ignored).
    StationTimeout,
    /// Accepted, but no matching message arrived in time.
    MessageTimeout,
    /// Accepted, but the messages that arrived were about another connector/EVSE.
    WrongTarget,
    /// The station disconnected before the trigger ended.
    Disconnected,
    /// ocpulse stopped while the trigger ran.
    Interrupted,
}

impl Outcome {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Running => "Running",
            Outcome::Completed => "Completed",
            Outcome::Partial => "Partial",
            Outcome::Rejected => "Rejected",
            Outcome::NotImplemented => "NotImplemented",
            Outcome::CallError => "CallError",
            Outcome::InvalidResponse => "InvalidResponse",
            Outcome::StationTimeout => "StationTimeout",
            Outcome::MessageTimeout => "MessageTimeout",
            Outcome::WrongTarget => "WrongTarget",
            Outcome::Disconnected => "Disconnected",
            Outcome::Interrupted => "Interrupted",
        }
    }

    /// Every outcome, for query validation and documentation.
    pub const ALL: [Outcome; 12] = [
        Outcome::Running,
        Outcome::Completed,
        Outcome::Partial,
        Outcome::Rejected,
        Outcome::NotImplemented,
        Outcome::CallError,
        Outcome::InvalidResponse,
        Outcome::StationTimeout,
        Outcome::MessageTimeout,
        Outcome::WrongTarget,
        Outcome::Disconnected,
        Outcome::Interrupted,
    ];

    /// Reads a name as shown.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == name)
    }
}

/// What a record is of: a trigger (TriggerMessage and the messages it brought), or one
/// other CSMS call and its answer. Records stored before calls had records read as triggers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    /// A trigger (`/trigger`, jobs, schedules, freshness).
    #[default]
    Trigger,
    /// Any other CSMS call (`/calls`, the typed station operations, a job's call).
    Call,
}

impl RecordKind {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trigger => "trigger",
            Self::Call => "call",
        }
    }

    /// Whether this is the default kind (left out when serialized, so trigger records keep
    /// their bytes).
    pub fn is_trigger(&self) -> bool {
        *self == Self::Trigger
    }
}

/// One OCPP call a trigger (or a call record) sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentCall {
    /// `TriggerMessage` or `ExtendedTriggerMessage`.
    pub action: String,
    /// The payload as sent.
    pub payload: Value,
    /// Why this call differs from what the caller wrote (translation, fan-out, retry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The station's status (Accepted, Rejected, NotImplemented), once answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The station's statusInfo (2.0.1), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_info: Option<Value>,
    /// The CALLERROR or invalid payload, if the answer was not a usable CALLRESULT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Milliseconds from the call's submission to its answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer_ms: Option<u64>,
    /// For a call record: the station's whole CALLRESULT payload (a trigger keeps only its
    /// status).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub response: Option<Value>,
}

/// A station message correlated with the trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CorrelatedMessage {
    /// Its action.
    pub action: String,
    /// The station's message id.
    pub message_id: String,
    /// Its payload.
    pub payload: Value,
    /// When it arrived (RFC 3339).
    pub received_at: String,
    /// Milliseconds after the trigger started.
    pub after_ms: u64,
    /// True when it arrived before the station's answer to the TriggerMessage (allowed,
    /// and correlated all the same).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub before_answer: bool,
    /// Why it was taken as the answer: `marker` (it carries OCPP's trigger marker),
    /// `target` (it is about the connector/EVSE asked for), `transaction` (about a
    /// transaction the trigger waited for) or `first_after_accept`; absent for a near miss.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub matched_by: Option<ocpp_rpc::trigger::MatchReason>,
}

/// A stored trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerRecord {
    /// Its id (also the `triggerId` of a trigger's journal entries).
    pub id: String,
    /// A trigger or a call (absent in storage: a trigger).
    #[serde(skip_serializing_if = "RecordKind::is_trigger", default)]
    pub kind: RecordKind,
    /// The station.
    pub station_id: String,
    /// The station's subprotocol when triggered.
    pub protocol: String,
    /// Who asked (the `X-Requested-By` header, else `api`).
    pub requested_by: String,
    /// What the caller asked for, as written.
    pub request: Value,
    /// When it started (RFC 3339).
    pub created_at: String,
    /// Every OCPP call sent for it, in order.
    pub calls: Vec<SentCall>,
    /// The station messages that answered it.
    pub messages: Vec<CorrelatedMessage>,
    /// Messages of the expected action that were about another target (not claimed).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub unmatched: Vec<CorrelatedMessage>,
    /// How it ended.
    pub outcome: Outcome,
    /// A sentence saying why, for the outcomes that need one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Whether every expected message arrived.
    pub complete: bool,
    /// When it ended (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// Milliseconds from start to end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
    /// For a certificate trigger: the station's certificate request as it ended (the CSR's
    /// subject, whether it was signed, the serial, and the station's answer to
    /// CertificateSigned).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub certificate: Option<Value>,
}

/// What to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TriggerQuery {
    /// Only records of this kind.
    pub kind: Option<RecordKind>,
    /// Only this station.
    pub station_id: Option<String>,
    /// Only this outcome.
    pub outcome: Option<Outcome>,
    /// Only records created before this record's position (paging), newest first.
    pub before_seq: Option<i64>,
    /// At most this many.
    pub limit: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_by_name() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
            assert_eq!(
                serde_json::to_value(o).expect("serialize"),
                Value::String(o.as_str().into())
            );
        }
        assert_eq!(Outcome::parse("completed"), None);
    }

    #[test]
    fn records_stored_before_kinds_read_as_triggers_and_triggers_keep_their_bytes() {
        let old = r#"{"id":"t","stationId":"CP","protocol":"ocpp1.6","requestedBy":"api","request":{},"createdAt":"x","calls":[{"action":"TriggerMessage","payload":{}}],"messages":[],"outcome":"Completed","complete":true}"#;
        let record: TriggerRecord = serde_json::from_str(old).expect("old record");
        assert_eq!(record.kind, RecordKind::Trigger);
        assert_eq!(record.calls[0].response, None);
        let again = serde_json::to_string(&record).expect("serialize");
        assert_eq!(again, old);
        let call = TriggerRecord {
            kind: RecordKind::Call,
            ..record
        };
        let json = serde_json::to_value(&call).expect("serialize");
        assert_eq!(json["kind"], "call");
    }
}
