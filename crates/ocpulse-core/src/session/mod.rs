//! The server side of one station connection, sans-IO: frames and time in; frames to send,
//! journal writes, commits to await and ended CSMS CALLs out.
//!
//! It owns everything a connection decides: validation and answers of station CALLs, the
//! station state update, the outbox of CSMS CALLs (one in flight), and trigger matching
//! (which station CALL answers which trigger, when a trigger is done, the certificate a
//! triggered SignCertificate leads to). The I/O driver (`ocpulse::ws::session`) only moves
//! bytes, timers and channels; tests drive it with plain values and fake time.
//!
//! Two promises hold: a station CALL is answered only after its commit (the driver awaits
//! `Output::Commit` and reports back with `on_committed`), and station CALLs are answered in
//! the order they arrived, while answers to CSMS CALLs are read in between.

mod certificates;
mod csms_calls;
mod frames;
mod local_list;
mod offers;
mod redact;
mod station_calls;
mod watches;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ocpp_rpc::outbox::Outbox;
use ocpp_rpc::{ProtocolVersion, SchemaRegistry};
use serde_json::Value;

pub use certificates::{CertificateIssuer, IssueRefusal, IssuedCertificate};
pub use redact::{is_secret_name, redacted, secrets_redacted};
pub use watches::{Collected, MatchedMessage, TriggerWatch};

use crate::journal::{EVENT, STATION_CONNECTED, STATION_DISCONNECTED};
use crate::store::{SharedStation, WriteBatch};
use crate::{Direction, JournalEntry, Millis, ValidationMode};
use watches::{Slot, Watch};

/// The current time in both forms a session needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// For deadlines.
    pub mono: Instant,
    /// Milliseconds since the Unix epoch, for the journal and the state.
    pub wall: Millis,
}

/// The server's settings a session applies.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// Heartbeat interval (seconds) given with an Accepted BootNotification.
    pub heartbeat_interval: i32,
    /// The default validation policy (a station's own policy overrides it).
    pub validation: ValidationMode,
    /// The largest frame read; larger ones are refused with a CALLERROR.
    pub max_frame_bytes: usize,
    /// How long the station has to answer the session's own CALLs (CertificateSigned).
    pub call_timeout: Duration,
    /// How long an open-ended trigger waits for one more message, and how long an unmarked
    /// answer waits for a marked one while a station's marking habit is unknown.
    pub quiet_period: Duration,
    /// The organization an issued certificate's subject must carry, when set.
    pub csr_organization: Option<String>,
    /// How presented id tokens are decided (`authorization::Policy`).
    pub authorization: crate::authorization::Policy,
    /// The cluster node this server is (`--node-id`), journaled with each connect and
    /// disconnect so every node's fold knows where a station is held; `None` alone.
    pub node: Option<String>,
}

/// Hands out 1.6 transaction ids; must never block (a session calls it while answering).
pub trait TransactionIds: Send + Sync {
    /// A fresh id, or `None` when none can be had (the StartTransaction is then refused).
    fn next_transaction_id(&self) -> Option<i64>;
}

/// What every session shares: settings, schemas and the services it calls synchronously.
pub struct SessionEnv {
    /// Settings.
    pub settings: SessionSettings,
    /// The compiled schemas of every version.
    pub schemas: Arc<SchemaRegistry>,
    /// The CA, when SignCertificate is served.
    pub issuer: Option<Arc<dyn CertificateIssuer>>,
    /// 1.6 transaction ids.
    pub transaction_ids: Arc<dyn TransactionIds>,
    /// The id-token registry Authorize, transactions and local lists are answered from.
    pub id_tokens: Arc<crate::authorization::IdTokenRegistry>,
}

impl std::fmt::Debug for SessionEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionEnv")
            .field("settings", &self.settings)
            .field("issuer", &self.issuer.is_some())
            .finish_non_exhaustive()
    }
}

/// Whoever waits for a CSMS CALL; the session asks before sending whether it still does.
pub trait Caller {
    /// False once the caller gave up: the CALL is then not sent.
    fn wanted(&self) -> bool {
        true
    }
}

impl Caller for () {}

/// How a CSMS CALL ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    /// The station answered with a CALLRESULT.
    Result(Value),
    /// The station answered with a CALLERROR.
    Error {
        /// Its error code as sent.
        code: String,
        /// Its description.
        description: String,
        /// Its details.
        details: Value,
    },
    /// The station answered with a CALLRESULT that violates the response schema.
    InvalidResponse {
        /// The payload received.
        payload: Value,
        /// What is wrong with it.
        violation: String,
    },
    /// No answer within the call timeout.
    Timeout,
    /// The connection ended before an answer.
    Disconnected,
}

impl CallOutcome {
    /// The answer's `status` (`Accepted`...) or what happened instead, as recorded.
    pub fn status_name(&self) -> String {
        match self {
            Self::Result(payload) => payload
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("Unknown")
                .to_owned(),
            Self::Error { .. } => "CallError".into(),
            Self::InvalidResponse { .. } => "InvalidResponse".into(),
            Self::Timeout => "Timeout".into(),
            Self::Disconnected => "Disconnected".into(),
        }
    }

    /// A CALLRESULT with `status: "Accepted"`.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Self::Result(p) if p.get("status").and_then(Value::as_str) == Some("Accepted"))
    }
}

/// A CSMS CALL to send through the session.
#[derive(Debug)]
pub struct CsmsCall<T> {
    /// The action.
    pub action: String,
    /// The payload, already validated against the request schema.
    pub payload: Value,
    /// How long the station has (for a trigger, until the trigger's deadline).
    pub timeout: Duration,
    /// Who waits for the outcome.
    pub caller: T,
    /// For a (Extended)TriggerMessage: the messages to collect once it is sent.
    pub watch: Option<TriggerWatch>,
    /// The payload carries a secret: the journal keeps the CALL with it replaced.
    pub redact: bool,
}

/// What the session wants done.
#[derive(Debug)]
pub enum Output<T> {
    /// Send this text frame.
    Send(String),
    /// Store this without waiting (journal entries, state no answer depends on).
    Write(WriteBatch),
    /// Commit this durably, then call `on_committed(id, result)`: a station CALL's answer
    /// waits for it.
    Commit {
        /// Its number, for `on_committed`.
        id: u64,
        /// What to commit.
        batch: WriteBatch,
    },
    /// A CSMS CALL ended: tell its caller.
    Ended {
        /// Who waits.
        caller: T,
        /// How the CALL ended.
        outcome: CallOutcome,
        /// For a watched trigger: what it collected (boxed: most outputs are small).
        collected: Option<Box<Collected>>,
    },
}

/// Who waits for an outbox CALL.
#[derive(Debug)]
enum Origin<T> {
    Caller(T),
    /// The session's own CertificateSigned delivering the certificate with this serial.
    Certificate {
        serial: String,
    },
}

/// What the outbox carries for each CSMS CALL.
#[derive(Debug)]
struct Queued<T> {
    origin: Origin<T>,
    watch: Option<TriggerWatch>,
    deadline: Instant,
    redact: bool,
}

impl<T: Caller> Queued<T> {
    fn wanted(&self) -> bool {
        match &self.origin {
            Origin::Caller(c) => c.wanted(),
            Origin::Certificate { .. } => true,
        }
    }
}

/// A station CALL whose commit is running; becomes its CALLRESULT when done.
#[derive(Debug)]
struct PendingAck {
    commit: u64,
    id: String,
    action: String,
    /// Applied to the live state once the commit is durable, never before.
    apply: DeferredApply,
    response: Value,
    /// The watch (by trigger id) that took it, and where.
    claim: Option<(String, Slot)>,
    follow_up: Option<certificates::FollowUp>,
}

/// What an acknowledged station CALL changes in the station state, held until its commit
/// is durable so the live state is always the fold of the committed journal.
#[derive(Debug)]
struct DeferredApply {
    call: crate::incoming::StationCall,
    payload: Value,
    violation: Option<String>,
    /// The CSMS's decision on a SignCertificate's CSR (journaled with the CALL).
    certificate_request: Option<crate::state::CertificateRequest>,
    at: Millis,
}

/// The server side of one station connection.
#[derive(Debug)]
pub struct ServerSession<T> {
    env: Arc<SessionEnv>,
    station_id: String,
    protocol: ProtocolVersion,
    state: SharedStation,
    outbox: Outbox<Queued<T>>,
    /// Triggers waiting for station messages, oldest first.
    watches: Vec<Watch<T>>,
    /// Station CALLs being committed, in arrival order.
    acks: VecDeque<PendingAck>,
    next_commit: u64,
    out: Vec<Output<T>>,
    /// The SendLocalList in flight (its CALL id and payload), so an Accepted answer tells
    /// the list version the station now has.
    local_list_sent: Option<(String, Value)>,
}

impl<T: Caller> ServerSession<T> {
    /// A session for a connection that completed its handshake. `id_prefix` makes the
    /// session's CALL ids unique across connections.
    pub fn new(
        env: Arc<SessionEnv>,
        station_id: String,
        protocol: ProtocolVersion,
        state: SharedStation,
        id_prefix: &str,
    ) -> Self {
        Self {
            env,
            station_id,
            protocol,
            state,
            outbox: Outbox::new(id_prefix),
            watches: Vec::new(),
            acks: VecDeque::new(),
            next_commit: 0,
            out: Vec::new(),
            local_list_sent: None,
        }
    }

    /// The connection opened (`generation` tells it from earlier and later ones).
    pub fn on_connect(&mut self, generation: u64, now: Now) {
        {
            let mut s = self.lock_state();
            s.protocol = Some(self.protocol.subprotocol().to_owned());
            s.last_seen = Some(now.wall);
            s.connected_since = s.last_seen;
            s.node.clone_from(&self.env.settings.node);
        }
        let connected = crate::projection::Connected {
            protocol: self.protocol.subprotocol().to_owned(),
            generation,
            node: self.env.settings.node.clone(),
        };
        let event = self.event(
            STATION_CONNECTED,
            &serde_json::to_value(&connected).unwrap_or_default(),
            now,
        );
        self.write(vec![event]);
    }

    /// A ping or pong arrived: the station is alive.
    pub fn on_pong(&mut self, now: Now) {
        self.lock_state().last_seen = Some(now.wall);
    }

    /// The connection ended: every waiting caller hears it, and the journal says why.
    pub fn on_close(&mut self, generation: u64, reason: &str, now: Now) -> Vec<Output<T>> {
        for queued in self.outbox.drain() {
            self.settle(queued, CallOutcome::Disconnected, now);
        }
        for watch in std::mem::take(&mut self.watches) {
            self.end_watch(watch, true, now);
        }
        let event = self.event(
            STATION_DISCONNECTED,
            &match &self.env.settings.node {
                Some(node) => {
                    serde_json::json!({"generation": generation, "reason": reason, "node": node})
                }
                None => serde_json::json!({"generation": generation, "reason": reason}),
            },
            now,
        );
        self.write(vec![event]);
        std::mem::take(&mut self.out)
    }

    /// Runs what is due (timeouts, ended triggers, the next CALL to send) and returns
    /// everything to do.
    pub fn poll(&mut self, now: Now) -> Vec<Output<T>> {
        self.expire(now);
        self.end_due_watches(now);
        self.transmit(now);
        std::mem::take(&mut self.out)
    }

    /// Nothing a stop should wait for: no CSMS CALL queued or awaiting its answer, no
    /// trigger waiting for the station's message, no station CALL being committed. A
    /// stopping server closes an idle session at once and lets a busy one finish first.
    pub fn is_idle(&self) -> bool {
        self.outbox.is_empty() && self.watches.is_empty() && self.acks.is_empty()
    }

    /// When `poll` next has something to do with nothing arriving.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.watches
            .iter()
            .filter_map(Watch::wake_at)
            .chain(self.outbox.next_deadline())
            .min()
    }

    /// Locks the station state (a `parking_lot` lock: it cannot be poisoned, so no caller
    /// has a poisoned case to ignore).
    fn lock_state(&self) -> parking_lot::MutexGuard<'_, crate::StationState> {
        self.state.lock()
    }

    fn write(&mut self, entries: Vec<JournalEntry>) {
        self.out.push(Output::Write(WriteBatch {
            entries,
            ..WriteBatch::default()
        }));
    }

    /// An `EVENT` journal entry about this station.
    fn event(&self, action: &str, payload: &Value, now: Now) -> JournalEntry {
        JournalEntry {
            seq: 0,
            station_id: self.station_id.clone(),
            direction: Direction::In,
            frame_type: EVENT,
            message_id: None,
            action: Some(action.to_owned()),
            payload: payload.to_string(),
            at: now.wall,
            violation: None,
            trigger_id: None,
        }
    }

    /// The journal entry of a frame.
    fn entry(
        &self,
        direction: Direction,
        frame: &ocpp_rpc::Frame,
        action: Option<&str>,
        now: Now,
    ) -> JournalEntry {
        use ocpp_rpc::Frame;
        let payload = match frame {
            Frame::Call { payload, .. } | Frame::CallResult { payload, .. } => payload.to_string(),
            Frame::CallError {
                code,
                description,
                details,
                ..
            } => serde_json::json!({"errorCode": code, "errorDescription": description, "errorDetails": details})
                .to_string(),
        };
        JournalEntry {
            seq: 0,
            station_id: self.station_id.clone(),
            direction,
            frame_type: frame.type_name(),
            message_id: Some(frame.id().to_owned()),
            action: action.map(str::to_owned),
            payload,
            at: now.wall,
            violation: None,
            trigger_id: None,
        }
    }

    fn validation_mode(&self) -> ValidationMode {
        self.lock_state()
            .validation_mode
            .unwrap_or(self.env.settings.validation)
    }
}

#[cfg(test)]
mod tests;
