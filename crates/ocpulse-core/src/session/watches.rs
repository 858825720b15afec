//! A trigger's interest in the station's messages, from its TriggerMessage going out until
//! it ends: which messages it claimed (and why), which were near misses, and when it is
//! done. The session offers each station CALL to the oldest watch first, so two concurrent
//! triggers never return the same message.

use std::time::Instant;

use ocpp_rpc::trigger::{Collector, Expectation, MatchReason, Verdict};
use serde_json::Value;

use super::CallOutcome;
use crate::Millis;
use crate::state::CertificateRequest;

/// What a caller asks the session to watch for after its TriggerMessage is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerWatch {
    /// The trigger, journaled with the messages it claims.
    pub trigger_id: String,
    /// What it waits for.
    pub expectation: Expectation,
}

/// A station message a trigger took (or saw as a near miss).
#[derive(Debug, Clone, PartialEq)]
pub struct MatchedMessage {
    /// The station's message id.
    pub message_id: String,
    /// Its action.
    pub action: String,
    /// Its payload.
    pub payload: Value,
    /// When it arrived (wall clock).
    pub received_at: Millis,
    /// When it arrived (monotonic), to tell how long after the trigger started.
    pub received: Instant,
    /// It arrived before the station answered the TriggerMessage (allowed).
    pub before_answer: bool,
    /// Why it was taken; `None` for a near miss.
    pub reason: Option<MatchReason>,
}

/// What a trigger's watch collected by the time it ended.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Collected {
    /// The messages that answer the trigger, in arrival order.
    pub messages: Vec<MatchedMessage>,
    /// Messages of the expected action about another target, and unmarked answers a
    /// marked one superseded.
    pub unmatched: Vec<MatchedMessage>,
    /// Every expected message arrived.
    pub complete: bool,
    /// For a certificate trigger: the station's certificate request once CertificateSigned
    /// ended.
    pub certificate: Option<CertificateRequest>,
    /// The connection ended before the trigger did.
    pub disconnected: bool,
    /// When the station answered the TriggerMessage.
    pub answered: Option<Instant>,
}

/// One claimed or seen message and where it stands.
#[derive(Debug)]
struct Held {
    message: MatchedMessage,
    committed: bool,
    dropped: bool,
}

/// A trigger being watched.
#[derive(Debug)]
pub(crate) struct Watch<T> {
    pub trigger_id: String,
    /// The outbox id of its TriggerMessage.
    pub call_id: String,
    pub collector: Collector,
    pub deadline: Instant,
    /// The caller, once the station accepted (until then the outbox holds it).
    pub token: Option<T>,
    /// The station's answer to the TriggerMessage, and when it came.
    pub outcome: Option<CallOutcome>,
    pub answered: Option<Instant>,
    /// Claimed messages, in the collector's claim order.
    claimed: Vec<Held>,
    near_misses: Vec<Held>,
    /// A claimed SignCertificate's CertificateSigned (by serial) that has not ended yet.
    pub awaiting_certificate: Option<String>,
}

impl<T> Watch<T> {
    pub(crate) fn new(
        trigger_id: String,
        call_id: String,
        collector: Collector,
        deadline: Instant,
    ) -> Self {
        Self {
            trigger_id,
            call_id,
            collector,
            deadline,
            token: None,
            outcome: None,
            answered: None,
            claimed: Vec::new(),
            near_misses: Vec::new(),
            awaiting_certificate: None,
        }
    }

    /// Records what the collector decided about `message`; returns the index to confirm
    /// once the message is committed, or `None` when the watch ignores it.
    pub(crate) fn take(&mut self, verdict: Verdict, mut message: MatchedMessage) -> Option<Slot> {
        message.before_answer = self.outcome.is_none();
        match verdict {
            Verdict::Claim { reason, replaces } => {
                if let Some(i) = replaces
                    && let Some(old) = self.claimed.get_mut(i)
                {
                    old.dropped = true;
                    let mut superseded = old.message.clone();
                    superseded.reason = None;
                    self.near_misses.push(Held {
                        message: superseded,
                        committed: old.committed,
                        dropped: false,
                    });
                }
                message.reason = Some(reason);
                self.claimed.push(Held {
                    message,
                    committed: false,
                    dropped: false,
                });
                Some(Slot::Claimed(self.claimed.len() - 1))
            }
            Verdict::NearMiss => {
                self.near_misses.push(Held {
                    message,
                    committed: false,
                    dropped: false,
                });
                Some(Slot::NearMiss(self.near_misses.len() - 1))
            }
            Verdict::Ignore => None,
        }
    }

    /// The message in `slot` was committed (`ok`) or could not be stored (the station was
    /// told to retry, so it is not part of the answer).
    pub(crate) fn committed(&mut self, slot: Slot, ok: bool) {
        let held = match slot {
            Slot::Claimed(i) => self.claimed.get_mut(i),
            Slot::NearMiss(i) => self.near_misses.get_mut(i),
        };
        if let Some(h) = held {
            h.committed = true;
            h.dropped |= !ok;
        }
    }

    /// Whether the watch can end now: answered other than Accepted, or everything expected
    /// committed (and any certificate delivered), or past its deadline.
    pub(crate) fn done(&self, now: Instant) -> bool {
        let Some(outcome) = &self.outcome else {
            return false;
        };
        if !outcome.is_accepted() || now >= self.deadline {
            return true;
        }
        let settled = self.claimed.iter().all(|h| h.committed)
            && self.near_misses.iter().all(|h| h.committed)
            && self.awaiting_certificate.is_none();
        settled && (self.collector.expects_nothing() || self.collector.is_complete(now))
    }

    /// When `done` may change with nothing arriving.
    pub(crate) fn wake_at(&self) -> Option<Instant> {
        self.outcome.as_ref()?;
        Some(
            self.collector
                .wake_at()
                .map_or(self.deadline, |w| w.min(self.deadline)),
        )
    }

    /// What was collected, for the caller.
    pub(crate) fn collected(
        &self,
        now: Instant,
        certificate: Option<CertificateRequest>,
    ) -> Collected {
        let keep = |h: &&Held| h.committed && !h.dropped;
        Collected {
            messages: self
                .claimed
                .iter()
                .filter(keep)
                .map(|h| h.message.clone())
                .collect(),
            unmatched: self
                .near_misses
                .iter()
                .filter(keep)
                .map(|h| h.message.clone())
                .collect(),
            complete: self.collector.expects_nothing() || self.collector.is_complete(now),
            certificate,
            disconnected: false,
            answered: self.answered,
        }
    }
}

/// Where a message sits in a watch until its commit confirms it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Claimed(usize),
    NearMiss(usize),
}
