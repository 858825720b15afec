//! The outbound half of a session: CALLs from the CSMS to one station, at most one in
//! flight (OCPP-J §4.1.1), the rest queued in order, each with a timeout.
//!
//! The station's own CALLs never pass through here, so the two directions never block
//! each other. A CALLRESULT or CALLERROR is matched only against the CALL in flight, by
//! id; a late answer to a timed-out CALL is reported as unmatched, never attributed to
//! the request that followed it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{frame::Frame, message_id::IdGenerator};

/// A CALL waiting for its turn.
#[derive(Debug)]
struct Queued<T> {
    action: String,
    payload: Value,
    timeout: Duration,
    token: T,
}

/// The CALL that has been sent and not yet answered.
#[derive(Debug)]
struct InFlight<T> {
    id: String,
    action: String,
    deadline: Instant,
    token: T,
}

/// A CALL ready to be written to the socket.
#[derive(Debug, Clone, PartialEq)]
pub struct Transmit {
    /// The id assigned to the CALL.
    pub id: String,
    /// Its action.
    pub action: String,
    /// The frame to send.
    pub frame: Frame,
}

/// What an answer from the station turned out to be.
#[derive(Debug)]
pub enum AnswerMatch<T> {
    /// It answers the CALL in flight.
    Matched {
        /// The action of the CALL it answers.
        action: String,
        /// The caller's token for that CALL.
        token: T,
    },
    /// No CALL with that id is in flight (late, duplicate or invented): drop it.
    Unmatched,
}

/// A CALL that was not answered in time.
#[derive(Debug)]
pub struct Expired<T> {
    /// Its id.
    pub id: String,
    /// Its action.
    pub action: String,
    /// The caller's token.
    pub token: T,
}

/// The per-connection outbound CALL queue. `T` is the caller's token, returned with the
/// answer or the timeout (the server puts the reply channel of an API request there).
#[derive(Debug)]
pub struct Outbox<T> {
    queue: VecDeque<Queued<T>>,
    in_flight: Option<InFlight<T>>,
    ids: IdGenerator,
}

impl<T> Outbox<T> {
    /// An empty outbox whose CALL ids start with `id_prefix`.
    pub fn new(id_prefix: &str) -> Self {
        Self {
            queue: VecDeque::new(),
            in_flight: None,
            ids: IdGenerator::new(id_prefix),
        }
    }

    /// Queues a CALL behind the ones already waiting.
    pub fn push(&mut self, action: impl Into<String>, payload: Value, timeout: Duration, token: T) {
        self.queue.push_back(Queued {
            action: action.into(),
            payload,
            timeout,
            token,
        });
    }

    /// The next CALL to write, if none is in flight. Queued CALLs whose token `is_live`
    /// rejects (their caller gave up) are dropped without being sent.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        is_live: impl Fn(&T) -> bool,
    ) -> Option<Transmit> {
        if self.in_flight.is_some() {
            return None;
        }
        while let Some(next) = self.queue.pop_front() {
            if !is_live(&next.token) {
                continue;
            }
            let id = self.ids.next_id();
            let frame = Frame::Call {
                id: id.clone(),
                action: next.action.clone(),
                payload: next.payload,
            };
            self.in_flight = Some(InFlight {
                id: id.clone(),
                action: next.action.clone(),
                deadline: now + next.timeout,
                token: next.token,
            });
            return Some(Transmit {
                id,
                action: next.action,
                frame,
            });
        }
        None
    }

    /// Matches a received CALLRESULT/CALLERROR id against the CALL in flight.
    pub fn on_answer(&mut self, id: &str) -> AnswerMatch<T> {
        match self.in_flight.take() {
            Some(f) if f.id == id => AnswerMatch::Matched {
                action: f.action,
                token: f.token,
            },
            other => {
                self.in_flight = other;
                AnswerMatch::Unmatched
            }
        }
    }

    /// The token of the CALL in flight, so the shell can act when it goes out.
    pub fn in_flight_token(&self) -> Option<&T> {
        self.in_flight.as_ref().map(|f| &f.token)
    }

    /// The action of the CALL in flight with this id, to name an answer in the journal.
    pub fn action_of(&self, id: &str) -> Option<&str> {
        self.in_flight
            .as_ref()
            .filter(|f| f.id == id)
            .map(|f| f.action.as_str())
    }

    /// Expires the CALL in flight if its deadline has passed, freeing the slot.
    pub fn poll_timeout(&mut self, now: Instant) -> Option<Expired<T>> {
        if self.in_flight.as_ref().is_some_and(|f| f.deadline <= now) {
            return self.in_flight.take().map(|f| Expired {
                id: f.id,
                action: f.action,
                token: f.token,
            });
        }
        None
    }

    /// When `poll_timeout` next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.in_flight.as_ref().map(|f| f.deadline)
    }

    /// How many CALLs are queued or in flight.
    pub fn len(&self) -> usize {
        self.queue.len() + usize::from(self.in_flight.is_some())
    }

    /// True when nothing is queued or in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empties the outbox when the connection ends, returning every token so each caller
    /// can be told.
    pub fn drain(&mut self) -> Vec<T> {
        self.in_flight
            .take()
            .map(|f| f.token)
            .into_iter()
            .chain(self.queue.drain(..).map(|q| q.token))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T: Duration = Duration::from_secs(30);

    #[test]
    fn only_one_call_is_in_flight_and_the_rest_go_in_order() {
        let now = Instant::now();
        let mut outbox = Outbox::new("p");
        outbox.push(
            "TriggerMessage",
            json!({"requestedMessage": "Heartbeat"}),
            T,
            1,
        );
        outbox.push(
            "TriggerMessage",
            json!({"requestedMessage": "BootNotification"}),
            T,
            2,
        );
        let first = outbox.poll_transmit(now, |_| true).expect("first goes out");
        assert!(
            outbox.poll_transmit(now, |_| true).is_none(),
            "second waits for the first"
        );
        assert!(matches!(
            outbox.on_answer(&first.id),
            AnswerMatch::Matched { token: 1, .. }
        ));
        let second = outbox
            .poll_transmit(now, |_| true)
            .expect("then the second");
        assert_ne!(first.id, second.id);
        assert!(matches!(
            outbox.on_answer(&second.id),
            AnswerMatch::Matched { token: 2, .. }
        ));
        assert!(outbox.is_empty());
    }

    #[test]
    fn a_late_answer_is_never_attributed_to_the_next_call() {
        let now = Instant::now();
        let mut outbox = Outbox::new("p");
        outbox.push("TriggerMessage", json!({}), T, "a");
        outbox.push("TriggerMessage", json!({}), T, "b");
        let first = outbox.poll_transmit(now, |_| true).expect("sent");
        let expired = outbox.poll_timeout(now + T).expect("timed out");
        assert_eq!(
            (expired.id.as_str(), expired.token),
            (first.id.as_str(), "a")
        );
        let second = outbox
            .poll_transmit(now + T, |_| true)
            .expect("next goes out after the timeout");
        assert!(
            matches!(outbox.on_answer(&first.id), AnswerMatch::Unmatched),
            "late answer to the first"
        );
        assert!(matches!(
            outbox.on_answer(&second.id),
            AnswerMatch::Matched { token: "b", .. }
        ));
    }

    #[test]
    fn nothing_expires_before_its_deadline() {
        let now = Instant::now();
        let mut outbox = Outbox::new("p");
        outbox.push("Reset", json!({}), T, ());
        outbox.poll_transmit(now, |_| true).expect("sent");
        assert_eq!(outbox.next_deadline(), Some(now + T));
        assert!(
            outbox
                .poll_timeout(now + T - Duration::from_millis(1))
                .is_none()
        );
        assert!(outbox.poll_timeout(now + T).is_some());
    }

    #[test]
    fn abandoned_calls_are_skipped_without_being_sent() {
        let now = Instant::now();
        let mut outbox = Outbox::new("p");
        outbox.push("A", json!({}), T, false);
        outbox.push("B", json!({}), T, true);
        let sent = outbox.poll_transmit(now, |live| *live).expect("B");
        assert_eq!(sent.action, "B");
    }

    #[test]
    fn drain_returns_every_pending_token() {
        let now = Instant::now();
        let mut outbox = Outbox::new("p");
        for i in 0..3 {
            outbox.push("A", json!({}), T, i);
        }
        outbox.poll_transmit(now, |_| true);
        assert_eq!(outbox.drain(), vec![0, 1, 2]);
    }
}
