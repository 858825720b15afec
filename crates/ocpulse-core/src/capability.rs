//! What a station is known to do with each requestedMessage, learned from its answers to
//! triggers, so callers can see before they ask what a station does not support, and
//! ocpulse can choose the call that works (TriggerMessage or ExtendedTriggerMessage).

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::trigger_record::Outcome;

/// The record of one requestedMessage on one station.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Capability {
    /// Answered Accepted.
    pub accepted: u64,
    /// Answered Rejected.
    pub rejected: u64,
    /// Answered NotImplemented.
    pub not_implemented: u64,
    /// Answered with a CALLERROR or an invalid payload.
    pub errors: u64,
    /// Did not answer in time, or disconnected first.
    pub timeouts: u64,
    /// Accepted and the message arrived.
    pub delivered: u64,
    /// Sum of milliseconds from trigger to the first message, over `delivered`.
    pub latency_ms_total: u64,
    /// The call that last got Accepted (`TriggerMessage`, `ExtendedTriggerMessage`).
    pub works_with: Option<String>,
    /// The last trigger's outcome.
    pub last_outcome: Option<Outcome>,
    /// When the last trigger ended.
    pub last_at: Millis,
}

impl Capability {
    /// Counts one ended trigger: the station's status to each call sent, the action that
    /// was accepted, and the delay to the first message when one arrived.
    pub fn record(
        &mut self,
        outcome: Outcome,
        accepted_by: Option<&str>,
        first_message_ms: Option<u64>,
        now: Millis,
    ) {
        match outcome {
            Outcome::Rejected => self.rejected += 1,
            Outcome::NotImplemented => self.not_implemented += 1,
            Outcome::CallError | Outcome::InvalidResponse => self.errors += 1,
            Outcome::StationTimeout | Outcome::Disconnected => self.timeouts += 1,
            Outcome::Running | Outcome::Interrupted => {}
            Outcome::Completed
            | Outcome::Partial
            | Outcome::MessageTimeout
            | Outcome::WrongTarget => self.accepted += 1,
        }
        if let Some(action) = accepted_by {
            self.works_with = Some(action.to_owned());
        }
        if let Some(ms) = first_message_ms {
            self.delivered += 1;
            self.latency_ms_total += ms;
        }
        self.last_outcome = Some(outcome);
        self.last_at = now;
    }

    /// The share of accepted triggers whose message arrived.
    pub fn delivery_rate(&self) -> Option<f64> {
        (self.accepted > 0).then(|| self.delivered as f64 / self.accepted as f64)
    }

    /// Mean milliseconds from trigger to message.
    pub fn mean_latency_ms(&self) -> Option<f64> {
        (self.delivered > 0).then(|| self.latency_ms_total as f64 / self.delivered as f64)
    }

    /// Every trigger that ended with an answer or without one (a running or interrupted
    /// trigger is not counted).
    pub fn total(&self) -> u64 {
        self.accepted + self.rejected + self.not_implemented + self.errors + self.timeouts
    }

    /// The share of all ended triggers whose message arrived: what a caller can expect
    /// from asking, whatever went wrong (rejections and timeouts included).
    pub fn success_rate(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| self.delivered as f64 / total as f64)
    }

    /// The counts of several requestedMessages added up (a station's overall trigger
    /// health); the last-outcome fields are left empty, as they belong to one message.
    pub fn sum<'a>(all: impl IntoIterator<Item = &'a Capability>) -> Capability {
        all.into_iter().fold(Capability::default(), |mut t, c| {
            t.accepted += c.accepted;
            t.rejected += c.rejected;
            t.not_implemented += c.not_implemented;
            t.errors += c.errors;
            t.timeouts += c.timeouts;
            t.delivered += c.delivered;
            t.latency_ms_total += c.latency_ms_total;
            t.last_at = t.last_at.max(c.last_at);
            t
        })
    }

    /// Whether the station last said it does not implement this message.
    pub fn known_unsupported(&self) -> bool {
        self.last_outcome == Some(Outcome::NotImplemented)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_answers_delivery_and_latency() {
        let mut c = Capability::default();
        c.record(Outcome::Completed, Some("TriggerMessage"), Some(40), 1);
        c.record(Outcome::MessageTimeout, Some("TriggerMessage"), None, 2);
        c.record(Outcome::NotImplemented, None, None, 3);
        assert_eq!((c.accepted, c.delivered, c.not_implemented), (2, 1, 1));
        assert_eq!(c.delivery_rate(), Some(0.5));
        assert_eq!(c.mean_latency_ms(), Some(40.0));
        assert!(c.known_unsupported());
        c.record(
            Outcome::Completed,
            Some("ExtendedTriggerMessage"),
            Some(20),
            4,
        );
        assert!(!c.known_unsupported());
        assert_eq!(c.works_with.as_deref(), Some("ExtendedTriggerMessage"));
    }

    #[test]
    fn totals_add_up_across_requested_messages() {
        let mut a = Capability::default();
        a.record(Outcome::Completed, Some("TriggerMessage"), Some(30), 1);
        a.record(Outcome::StationTimeout, None, None, 2);
        let mut b = Capability::default();
        b.record(Outcome::Completed, Some("TriggerMessage"), Some(10), 3);
        b.record(Outcome::Rejected, None, None, 5);
        assert_eq!(a.total(), 2);
        assert_eq!(a.success_rate(), Some(0.5));
        let t = Capability::sum([&a, &b]);
        assert_eq!((t.total(), t.delivered, t.last_at), (4, 2, 5));
        assert_eq!(t.success_rate(), Some(0.5));
        assert_eq!(t.mean_latency_ms(), Some(20.0));
        assert_eq!(Capability::sum([]).success_rate(), None);
    }
}
