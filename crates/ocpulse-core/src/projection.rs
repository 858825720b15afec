//! Station state as a projection of the journal.
//!
//! The journal is the one source of truth: a station's state is what folding its journal
//! entries gives. The live sessions keep state current as they answer; the store keeps
//! only snapshots of it, written in the background, each tagged with the last `seq` it
//! reflects. At start (and when a snapshot is refreshed) the entries after that `seq` are
//! folded here with the same `StationState` methods the sessions call, so state after a
//! `kill -9` is exactly the state the durable journal implies: an acknowledged CALL is in
//! the journal, so its effect is never lost.
//!
//! Everything that changes state must therefore be journaled: a station CALL and the
//! CALLRESULT it was acknowledged with (always one batch, adjacent), connections, and the
//! few facts decided outside a frame, as `EVENT`s named below.

use std::collections::HashMap;

use ocpp_rpc::ProtocolVersion;
use ocpp_rpc::trigger::Marking;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::authorization::local_list::{LOCAL_LIST_VERSION, ListKnown};
use crate::incoming::StationCall;
use crate::journal::{Direction, EVENT, JournalEntry, STATION_CONNECTED, STATION_DISCONNECTED};
use crate::state::{CertificateRequest, StationState};
use crate::trigger_record::Outcome;
use crate::validation::ValidationMode;

/// `EVENT`: the CSMS decided a SignCertificate (payload: the `CertificateRequest`).
pub const CERTIFICATE_REQUESTED: &str = "CertificateRequested";
/// `EVENT`: the station answered the CertificateSigned of certificate `serial`.
pub const CERTIFICATE_SIGNED_ANSWERED: &str = "CertificateSignedAnswered";
/// `EVENT`: an operator set the station's validation policy.
pub const VALIDATION_MODE_CHANGED: &str = "ValidationModeChanged";
/// `EVENT`: a trigger taught whether the station marks triggered messages.
pub const TRIGGER_MARKING_LEARNED: &str = "TriggerMarkingLearned";
/// `EVENT`: a trigger ended; its one journal entry (the record is stored beside it).
pub const TRIGGER_COMPLETED: &str = "TriggerCompleted";

/// `StationConnected`'s payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Connected {
    /// The subprotocol of the connection.
    pub protocol: String,
    /// Which connection of the process it was (tells reconnections apart).
    pub generation: u64,
    /// The cluster node that holds it (absent for a server alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// `StationDisconnected`'s payload, as far as the fold reads it.
#[derive(Debug, Clone, Default, Deserialize)]
struct Disconnected {
    /// The node whose connection ended (absent for a server alone).
    #[serde(default)]
    node: Option<String>,
}

/// `CertificateSignedAnswered`'s payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertificateSignedAnswered {
    /// The delivered certificate's serial.
    pub serial: String,
    /// The station's status, or how the call ended.
    pub status: String,
}

/// `ValidationModeChanged`'s payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidationModeChanged {
    /// The station's own policy; `None` follows the server's.
    pub mode: Option<ValidationMode>,
}

/// `TriggerMarkingLearned`'s payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MarkingLearned {
    /// What the trigger showed.
    pub marking: Marking,
}

/// `TriggerCompleted`'s payload: what an event stream client reads, and what the
/// station's capability counters are folded from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerCompleted {
    /// Whether every planned call ran to its end before the deadline.
    pub complete: bool,
    /// How long the trigger took.
    pub elapsed_ms: Option<u64>,
    /// How many messages it collected.
    pub messages: usize,
    /// Its outcome (`Outcome::as_str`).
    pub outcome: String,
    /// The `requestedMessage` the caller asked for.
    pub requested_message: Option<Value>,
    /// The `requestedMessage` sent to the station, the capability it counts under.
    #[serde(default)]
    pub capability: String,
    /// The action the station accepted (TriggerMessage or ExtendedTriggerMessage).
    #[serde(default)]
    pub accepted_by: Option<String>,
    /// Delay to the first message, when one arrived.
    #[serde(default)]
    pub first_message_ms: Option<u64>,
}

impl TriggerCompleted {
    /// Counts the trigger in the station's capabilities, as of `at`.
    pub fn apply(&self, state: &mut StationState, at: crate::Millis) {
        let outcome = Outcome::parse(&self.outcome).unwrap_or(Outcome::Interrupted);
        state
            .capabilities
            .entry(self.capability.clone())
            .or_default()
            .record(
                outcome,
                self.accepted_by.as_deref(),
                self.first_message_ms,
                at,
            );
    }
}

/// A station's state and the last journal `seq` folded into it.
#[derive(Debug, Clone, PartialEq)]
pub struct Folded {
    /// Every entry of this station up to and including `seq` is reflected.
    pub seq: i64,
    /// The state.
    pub state: StationState,
}

impl Folded {
    /// A station nothing is known of yet: every entry of it is still to fold.
    pub fn fresh(id: impl Into<String>) -> Self {
        Self {
            seq: 0,
            state: StationState::new(id),
        }
    }
}

/// A station CALL waiting for the answer it was acknowledged with.
#[derive(Debug)]
struct PendingCall {
    message_id: String,
    action: String,
    payload: String,
    violation: Option<String>,
    at: crate::Millis,
}

/// Folds journal entries into station states, in `seq` order.
#[derive(Debug, Default)]
pub struct Projection {
    stations: HashMap<String, Folded>,
    pending: HashMap<String, PendingCall>,
}

impl Projection {
    /// Starts from stored snapshots.
    pub fn new(snapshots: impl IntoIterator<Item = Folded>) -> Self {
        Self {
            stations: snapshots
                .into_iter()
                .map(|f| (f.state.id.clone(), f))
                .collect(),
            pending: HashMap::new(),
        }
    }

    /// Whether the station's snapshot (or a first sight of it) is held already, so a
    /// caller folding a page knows which snapshots to load first.
    pub fn holds(&self, station_id: &str) -> bool {
        self.stations.contains_key(station_id)
    }

    /// Adds a station's snapshot (loaded on demand); one already held wins.
    pub fn insert(&mut self, folded: Folded) {
        self.stations
            .entry(folded.state.id.clone())
            .or_insert(folded);
    }

    /// Folds one entry. Entries must come in `seq` order; an entry a station's snapshot
    /// already reflects (`seq` not above its own) is skipped, so replaying from an older
    /// point than some snapshots is harmless.
    pub fn apply(&mut self, entry: &JournalEntry) {
        let folded = self
            .stations
            .entry(entry.station_id.clone())
            .or_insert_with(|| Folded::fresh(entry.station_id.clone()));
        if entry.seq <= folded.seq {
            return;
        }
        folded.seq = entry.seq;
        fold(&mut self.pending, &mut folded.state, entry);
    }

    /// Every state held, with its `seq`.
    pub fn iter(&self) -> impl Iterator<Item = &Folded> {
        self.stations.values()
    }

    /// The states, none connected: what the registry starts from (no session survives a
    /// restart).
    pub fn into_states(self) -> Vec<StationState> {
        let mut states: Vec<StationState> = self
            .stations
            .into_values()
            .map(|mut f| {
                f.state.connected_since = None;
                f.state
            })
            .collect();
        states.sort_by(|a, b| a.id.cmp(&b.id));
        states
    }

    /// Takes the states folded so far, leaving an empty projection.
    pub fn take(&mut self) -> Vec<Folded> {
        self.pending.clear();
        self.stations.drain().map(|(_, f)| f).collect()
    }
}
/// Folds one entry into one station's state; `pending` holds each station's CALL waiting for
/// the answer it was acknowledged with.
fn fold(
    pending: &mut HashMap<String, PendingCall>,
    state: &mut StationState,
    entry: &JournalEntry,
) {
    match (entry.direction, entry.frame_type) {
        (Direction::In, "CALL") => {
            state.last_seen = Some(entry.at);
            if let (Some(id), Some(action)) = (&entry.message_id, &entry.action) {
                pending.insert(
                    entry.station_id.clone(),
                    PendingCall {
                        message_id: id.clone(),
                        action: action.clone(),
                        payload: entry.payload.clone(),
                        violation: entry.violation.clone(),
                        at: entry.at,
                    },
                );
            }
        }
        (Direction::Out, "CALLRESULT") => {
            let Some(call) = pending.remove(&entry.station_id) else {
                return;
            };
            if entry.message_id.as_deref() == Some(call.message_id.as_str()) {
                apply_acknowledged(state, &call, &entry.payload);
            }
        }
        (Direction::Out, "CALLERROR") => {
            pending.remove(&entry.station_id);
        }
        (Direction::In, _) if entry.frame_type != EVENT => {
            state.last_seen = Some(entry.at);
        }
        (_, EVENT) => apply_event(state, entry),
        _ => {}
    }
}

/// Folds the entries of stations held by other cluster nodes into this node's copy of
/// their state, as they arrive (in `seq` order), so every node shows every station.
#[derive(Debug, Default)]
pub struct Follower {
    pending: HashMap<String, PendingCall>,
}

impl Follower {
    /// Folds `entry` into `state` (the state of the entry's station).
    pub fn apply(&mut self, state: &mut StationState, entry: &JournalEntry) {
        fold(&mut self.pending, state, entry);
    }

    /// Forgets a station's pending CALL (its entries are this node's own again).
    pub fn forget(&mut self, station_id: &str) {
        self.pending.remove(station_id);
    }
}

/// Applies a CALL and the answer it was acknowledged with, as the session did.
fn apply_acknowledged(state: &mut StationState, call: &PendingCall, response: &str) {
    let (Ok(payload), Ok(response)) = (
        serde_json::from_str::<Value>(&call.payload),
        serde_json::from_str::<Value>(response),
    ) else {
        return;
    };
    let read = match state
        .protocol
        .as_deref()
        .and_then(ProtocolVersion::from_subprotocol)
    {
        Some(version) => StationCall::parse(version, &call.action, &payload),
        None => StationCall::read_journaled(&call.action, &payload),
    };
    state.apply_acknowledged(
        &call.action,
        &read,
        &payload,
        &response,
        call.violation.as_deref(),
        call.at,
    );
}

fn apply_event(state: &mut StationState, entry: &JournalEntry) {
    let Some(action) = entry.action.as_deref() else {
        return;
    };
    let at = entry.at;
    match action {
        STATION_CONNECTED => {
            if let Ok(c) = serde_json::from_str::<Connected>(&entry.payload) {
                state.protocol = Some(c.protocol);
                state.node = c.node;
            }
            state.last_seen = Some(at);
            state.connected_since = Some(at);
        }
        // In a cluster a station that moved may be connected to its new node before the
        // old one journals the end of its connection: only the holder's end disconnects it.
        STATION_DISCONNECTED => {
            let ended = serde_json::from_str::<Disconnected>(&entry.payload).unwrap_or_default();
            if ended.node.is_none() || ended.node == state.node {
                state.connected_since = None;
            }
        }
        CERTIFICATE_REQUESTED => {
            if let Ok(request) = serde_json::from_str::<CertificateRequest>(&entry.payload) {
                state.record_certificate_request(request);
            }
        }
        CERTIFICATE_SIGNED_ANSWERED => {
            if let Ok(a) = serde_json::from_str::<CertificateSignedAnswered>(&entry.payload) {
                state.record_certificate_signed(&a.serial, &a.status, at);
            }
        }
        VALIDATION_MODE_CHANGED => {
            if let Ok(v) = serde_json::from_str::<ValidationModeChanged>(&entry.payload) {
                state.validation_mode = v.mode;
            }
        }
        TRIGGER_MARKING_LEARNED => {
            if let Ok(m) = serde_json::from_str::<MarkingLearned>(&entry.payload) {
                state.trigger_marking = m.marking;
            }
        }
        TRIGGER_COMPLETED => {
            if let Ok(t) = serde_json::from_str::<TriggerCompleted>(&entry.payload) {
                t.apply(state, at);
            }
        }
        LOCAL_LIST_VERSION => {
            if let Ok(known) = serde_json::from_str::<ListKnown>(&entry.payload) {
                state.local_list = Some(known);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
