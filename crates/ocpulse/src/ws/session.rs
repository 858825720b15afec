//! One station connection: the only code that reads and writes its socket.
//!
//! The two directions are independent. Station CALLs are validated, answered and
//! committed in order, each CALLRESULT written only after its CALL is durable; while a
//! commit runs the loop keeps reading, so an answer to a CSMS CALL (a TriggerMessage
//! response) never waits behind it. CSMS CALLs go through the sans-IO `Outbox`: one in
//! flight, the rest queued, each with a timeout.
//!
//! SignCertificate is the one station CALL with a CSMS CALL of its own as a consequence: its
//! CSR is checked and signed before it is answered, and once the Accepted CALLRESULT is out,
//! the certificate goes to the station in CertificateSigned through the same outbox.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::FuturesOrdered;
use futures_util::{SinkExt, StreamExt};
use ocpp_rpc::outbox::{Answer as OutboxAnswer, Outbox};
use ocpp_rpc::schema::SchemaError;
use ocpp_rpc::trigger::target_of;
use ocpp_rpc::{ErrorCode, Frame, PayloadKind, ProtocolVersion};
use ocpulse_core::answers::{self, Answer, AnswerContext, CsrVerdict};
use ocpulse_core::journal::{
    EVENT, MALFORMED, SECURITY_EVENT, STATION_CONNECTED, STATION_DISCONNECTED,
};
use ocpulse_core::state::{CertificateRequest, CertificateRequestStatus};
use ocpulse_core::store::{StoreError, WriteBatch};
use ocpulse_core::{Direction, JournalEntry, Millis, StationState, ValidationMode};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::now_ms;
use crate::registry::{CallOutcome, CallRequest, StationMessage, Watch};

/// Validity of the station certificates ocpulse issues. A year: long enough that renewal is
/// rare, short enough that a lost key does not stay trusted for long.
const CERTIFICATE_VALIDITY_DAYS: u32 = 365;

/// Who is waiting for a CSMS CALL's outcome.
enum Origin {
    /// An API caller (trigger).
    Api(oneshot::Sender<CallOutcome>),
    /// The session itself: the CertificateSigned delivering the certificate with this serial.
    Certificate { serial: String },
}

/// What the outbox carries for each CSMS CALL.
struct Token {
    origin: Origin,
    watch: Option<Watch>,
    trigger_id: Option<String>,
    redact: bool,
}

impl Token {
    /// Whether anyone still wants the CALL sent (an API caller may have given up).
    fn wanted(&self) -> bool {
        match &self.origin {
            Origin::Api(reply) => !reply.is_closed(),
            Origin::Certificate { .. } => true,
        }
    }
}

/// A CSMS CALL to queue once a station CALL's CALLRESULT has been sent.
struct FollowUp {
    action: &'static str,
    payload: Value,
    serial: String,
}

/// The outcome of checking a SignCertificate before answering it.
struct CsrCheck {
    verdict: CsrVerdict,
    record: CertificateRequest,
    follow_up: Option<FollowUp>,
}

/// A station CALL whose commit is running; becomes its CALLRESULT when done.
struct PendingAck {
    id: String,
    action: String,
    request: Value,
    response: Value,
    received_at: Millis,
    committed: Result<(), StoreError>,
    /// The trigger that claimed it (true) or saw it as a near miss (false), and whether
    /// that trigger's TriggerMessage was still unanswered when it arrived.
    claim: Option<(mpsc::UnboundedSender<StationMessage>, bool, bool)>,
    follow_up: Option<FollowUp>,
}

type AckFuture = Pin<Box<dyn Future<Output = PendingAck> + Send>>;

struct Session {
    app: Arc<App>,
    station_id: String,
    protocol: ProtocolVersion,
    state: Arc<Mutex<StationState>>,
    outbox: Outbox<Token>,
    /// Triggers waiting for station messages, oldest first.
    watchers: Vec<Watch>,
    in_progress: HashSet<String>,
    acks: FuturesOrdered<AckFuture>,
}

/// Runs a station connection until it closes or a newer connection replaces it.
pub async fn run(app: Arc<App>, station_id: String, protocol: ProtocolVersion, socket: WebSocket) {
    let (calls_tx, mut calls) = mpsc::unbounded_channel::<Box<CallRequest>>();
    let cancel = CancellationToken::new();
    let (state, generation) = app
        .stations
        .connect(&station_id, protocol, calls_tx, cancel.clone());
    tracing::info!(station = %station_id, %protocol, generation, "station connected");
    let prefix = uuid::Uuid::new_v4().simple().to_string();
    let mut session = Session {
        app: Arc::clone(&app),
        station_id: station_id.clone(),
        protocol,
        state,
        outbox: Outbox::new(&prefix[..12]),
        watchers: Vec::new(),
        in_progress: HashSet::new(),
        acks: FuturesOrdered::new(),
    };
    session.on_connect();
    session.journal(vec![session.event(
        STATION_CONNECTED,
        &serde_json::json!({"protocol": protocol.subprotocol(), "generation": generation}),
    )]);
    let (mut sink, mut stream) = socket.split();
    let ping_every = Some(app.config.ws_ping_interval).filter(|d| !d.is_zero());
    let mut last_heard = Instant::now();
    let mut next_ping = ping_every.map(|every| last_heard + every);
    let mut close_reason = None;
    'conn: loop {
        for frame in session.transmit_ready() {
            if sink.send(Message::Text(frame.into())).await.is_err() {
                break 'conn;
            }
        }
        let deadline = session.outbox.next_deadline();
        let outgoing: Vec<String> = tokio::select! {
            // A socket can stay open after the station is gone (a cut cable sends no FIN):
            // ping a quiet station, and give up when even pings go unanswered.
            () = sleep_until(next_ping), if next_ping.is_some() => {
                let every = ping_every.unwrap_or_default();
                if last_heard.elapsed() >= every * 3 {
                    tracing::warn!(station = %station_id, "no frame or pong for {:?}; closing a dead connection", every * 3);
                    close_reason = Some("no answer to pings");
                    break 'conn;
                }
                if last_heard.elapsed() >= every && sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break 'conn;
                }
                next_ping = Some(Instant::now() + every);
                Vec::new()
            }
            () = cancel.cancelled() => {
                close_reason = Some("replaced by a newer connection of the same station");
                break 'conn;
            }
            () = app.shutdown.cancelled() => {
                close_reason = Some("the CSMS is shutting down");
                break 'conn;
            }
            message = stream.next() => match message.inspect(|_| last_heard = Instant::now()) {
                Some(Ok(Message::Text(text))) => session.on_text(text.as_str()),
                Some(Ok(Message::Binary(_))) => session.on_binary(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                    session.touch();
                    Vec::new()
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break 'conn,
            },
            Some(call) = calls.recv() => {
                session.outbox.push(call.action, call.payload, call.timeout, Token { origin: Origin::Api(call.reply), watch: call.watch, trigger_id: call.trigger_id, redact: call.redact });
                Vec::new()
            }
            Some(ack) = session.acks.next(), if !session.acks.is_empty() => session.on_committed(ack),
            () = sleep_until(deadline), if deadline.is_some() => {
                session.expire();
                Vec::new()
            }
        };
        for text in outgoing {
            if sink.send(Message::Text(text.into())).await.is_err() {
                break 'conn;
            }
        }
    }
    if let Some(reason) = close_reason {
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: 1000,
                reason: reason.into(),
            })))
            .await;
    }
    for token in session.outbox.drain() {
        session.settle(token, CallOutcome::Disconnected);
    }
    session.journal(vec![session.event(
        STATION_DISCONNECTED,
        &serde_json::json!({"generation": generation, "reason": close_reason.unwrap_or("connection closed")}),
    )]);
    app.stations.disconnect(&station_id, generation);
    tracing::info!(station = %station_id, generation, "station disconnected");
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

impl Session {
    fn entry(
        &self,
        direction: Direction,
        frame: &Frame,
        action: Option<&str>,
        at: Millis,
    ) -> JournalEntry {
        let payload = match frame {
            Frame::Call { payload, .. } | Frame::CallResult { payload, .. } => payload.to_string(),
            Frame::CallError { code, description, details, .. } => {
                serde_json::json!({"errorCode": code, "errorDescription": description, "errorDetails": details}).to_string()
            }
        };
        JournalEntry {
            seq: 0,
            station_id: self.station_id.clone(),
            direction,
            frame_type: frame.type_name(),
            message_id: Some(frame.id().to_owned()),
            action: action.map(str::to_owned),
            payload,
            at,
            violation: None,
            trigger_id: None,
        }
    }

    /// An `EVENT` entry about this station (its frames' neighbour in the journal and the
    /// live event stream).
    fn event(&self, action: &str, payload: &Value) -> JournalEntry {
        JournalEntry {
            seq: 0,
            station_id: self.station_id.clone(),
            direction: Direction::In,
            frame_type: EVENT,
            message_id: None,
            action: Some(action.to_owned()),
            payload: payload.to_string(),
            at: now_ms(),
            violation: None,
            trigger_id: None,
        }
    }

    /// Journals without waiting: only a station CALL's commit gates its answer.
    fn journal(&self, entries: Vec<JournalEntry>) {
        self.app.store.record(entries);
    }

    fn validation_mode(&self) -> ValidationMode {
        self.state
            .lock()
            .ok()
            .and_then(|s| s.validation_mode)
            .unwrap_or(self.app.config.validation)
    }

    fn touch(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.last_seen = Some(now_ms());
        }
    }

    fn on_connect(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.protocol = Some(self.protocol.subprotocol().to_owned());
            s.last_seen = Some(now_ms());
            s.connected_since = s.last_seen;
        }
        // Not awaited, and not a commit of its own: the station's BootNotification follows
        // within milliseconds and writes this same state in its own commit (the deferral
        // joins them), so a connect storm writes each station's row once, not twice.
        self.app.store.enqueue(WriteBatch {
            entries: Vec::new(),
            station: Some(Arc::clone(&self.state)),
            ..WriteBatch::default()
        });
    }

    /// Writes the next queued CSMS CALL if none is in flight.
    fn transmit_ready(&mut self) -> Vec<String> {
        let Some(t) = self.outbox.poll_transmit(Instant::now(), Token::wanted) else {
            return Vec::new();
        };
        let token = self.outbox.in_flight_token();
        let trigger_id = token.and_then(|tok| tok.trigger_id.clone());
        let redact = token.is_some_and(|tok| tok.redact);
        if let Some(watch) = token.and_then(|tok| tok.watch.clone()) {
            self.watchers.push(watch);
        }
        let mut entry = self.entry(Direction::Out, &t.frame, Some(&t.action), now_ms());
        entry.trigger_id = trigger_id;
        if redact && let Frame::Call { payload, .. } = &t.frame {
            entry.payload = crate::auth::redacted(payload).to_string();
        }
        self.journal(vec![entry]);
        vec![t.frame.to_text()]
    }

    fn expire(&mut self) {
        while let Some(expired) = self.outbox.poll_timeout(Instant::now()) {
            tracing::warn!(station = %self.station_id, action = %expired.action, id = %expired.id, "CALL timed out");
            self.settle(expired.token, CallOutcome::Timeout);
        }
    }

    fn on_binary(&mut self) -> Vec<String> {
        let error = ocpp_rpc::FrameError {
            id: None,
            code: ErrorCode::FormatViolation,
            message: "OCPP-J messages are WebSocket text frames; a binary frame was received"
                .into(),
            message_type: None,
        };
        self.on_malformed("<binary frame>", &error, now_ms())
    }

    /// Journals unreadable input and answers it with the CALLERROR its error names.
    fn on_malformed(
        &mut self,
        text: &str,
        error: &ocpp_rpc::FrameError,
        now: Millis,
    ) -> Vec<String> {
        self.touch();
        let reply = error.to_call_error(self.protocol);
        tracing::warn!(station = %self.station_id, error = %error.message, "malformed frame");
        let received = JournalEntry {
            seq: 0,
            station_id: self.station_id.clone(),
            direction: Direction::In,
            frame_type: MALFORMED,
            message_id: error.id.clone(),
            action: None,
            payload: journaled_text(text),
            at: now,
            violation: Some(error.message.clone()),
            trigger_id: None,
        };
        self.journal(vec![
            received,
            self.entry(Direction::Out, &reply, None, now),
        ]);
        vec![reply.to_text()]
    }

    fn on_text(&mut self, text: &str) -> Vec<String> {
        let now = now_ms();
        self.touch();
        let limit = self.app.config.limits.max_frame_bytes;
        if text.len() > limit {
            return self.on_oversized(text, limit, now);
        }
        match Frame::parse(text) {
            Err(error) => self.on_malformed(text, &error, now),
            Ok(Frame::Call {
                id,
                action,
                payload,
            }) => self.on_call(id, action, payload, now),
            Ok(frame @ (Frame::CallResult { .. } | Frame::CallError { .. })) => {
                self.on_answer(frame, now);
                Vec::new()
            }
        }
    }

    /// Refuses a message over `--max-frame-bytes` with a CALLERROR (its id read from the
    /// frame's start, when it has one) and journals only its size and SHA-256, so an
    /// oversized frame costs the journal a few bytes, not its length.
    fn on_oversized(&mut self, text: &str, limit: usize, now: Millis) -> Vec<String> {
        let error = ocpp_rpc::FrameError {
            id: leading_message_id(text),
            code: ErrorCode::FormatViolation,
            message: format!(
                "the message has {} bytes; this CSMS accepts at most {limit}",
                text.len()
            ),
            message_type: None,
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
        let sha256: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let summary = serde_json::json!({"size": text.len(), "sha256": sha256}).to_string();
        self.on_malformed(&summary, &error, now)
    }

    fn reject(
        &self,
        call: &Frame,
        action: &str,
        code: ErrorCode,
        description: &str,
        now: Millis,
    ) -> Vec<String> {
        let reply = Frame::call_error(call.id(), code, self.protocol, description);
        self.journal(vec![
            self.entry(Direction::In, call, Some(action), now),
            self.entry(Direction::Out, &reply, Some(action), now),
        ]);
        vec![reply.to_text()]
    }

    fn on_call(&mut self, id: String, action: String, payload: Value, now: Millis) -> Vec<String> {
        let call = Frame::Call {
            id: id.clone(),
            action: action.clone(),
            payload,
        };
        if self.in_progress.contains(&id) {
            return self.reject(
                &call,
                &action,
                ErrorCode::RpcFrameworkError,
                "a CALL with this message id is being handled already",
                now,
            );
        }
        let Frame::Call { payload, .. } = &call else {
            return Vec::new();
        };
        let mut violation = None;
        match self
            .app
            .schemas
            .validate(self.protocol, &action, PayloadKind::Request, payload)
        {
            Ok(()) => {}
            Err(SchemaError::UnknownAction { .. }) => {
                let msg = format!("action {action:?} is not defined in {}", self.protocol);
                return self.reject(&call, &action, ErrorCode::NotImplemented, &msg, now);
            }
            Err(SchemaError::Invalid(v)) => match self.validation_mode() {
                ValidationMode::Strict => {
                    return self.reject(&call, &action, v.code, &v.description, now);
                }
                ValidationMode::Lenient => {
                    tracing::info!(station = %self.station_id, %action, violation = %v.description, "accepted a non-conforming payload (lenient)");
                    violation = Some(v.description);
                }
            },
        }
        let transaction_id = if answers::needs_transaction_id(self.protocol, &action) {
            self.app.allocate_transaction_id()
        } else {
            None
        };
        let ctx = AnswerContext {
            now: ocpulse_core::rfc3339(now),
            heartbeat_interval: self.app.config.heartbeat_interval,
            transaction_id,
        };
        let csr_check = (action == "SignCertificate").then(|| self.check_csr(payload, now));
        let answer = match &csr_check {
            Some(check) => answers::sign_certificate(self.protocol, &check.verdict),
            None => answers::answer(self.protocol, &action, &ctx),
        };
        let response = match answer {
            Answer::Result(r) => r,
            Answer::Error { code, description } => {
                return self.reject(&call, &action, code, &description, now);
            }
        };
        if let Err(e) =
            self.app
                .schemas
                .validate(self.protocol, &action, PayloadKind::Response, &response)
        {
            tracing::error!(station = %self.station_id, %action, error = %e, "our own answer violates its schema");
            return self.reject(
                &call,
                &action,
                ErrorCode::InternalError,
                "the CSMS could not build a valid answer",
                now,
            );
        }
        if let Ok(mut s) = self.state.lock() {
            s.apply(&action, payload, &response, now);
            if let Some(v) = &violation {
                s.record_violation(&action, v, now);
            }
        }
        let follow_up = csr_check.and_then(|check| {
            if let Ok(mut s) = self.state.lock() {
                s.record_certificate_request(check.record);
            }
            check.follow_up
        });
        let mut entry = self.entry(Direction::In, &call, Some(&action), now);
        entry.violation = violation;
        // The oldest waiting trigger that accepts the message claims it now, so its journal
        // entry carries the trigger's id; it is handed over once committed.
        let instant = Instant::now();
        self.watchers
            .retain(|w| !w.tx.is_closed() && !w.collector.is_complete(instant));
        let target = target_of(self.protocol, &action, payload);
        let unanswered = self
            .outbox
            .in_flight_token()
            .and_then(|t| t.trigger_id.clone());
        let claim = if let Some(w) = self
            .watchers
            .iter_mut()
            .find_map(|w| w.collector.offer(&action, target, instant).then_some(w))
        {
            entry.trigger_id.clone_from(&w.trigger_id);
            let early = w.trigger_id.is_some() && w.trigger_id == unanswered;
            Some((w.tx.clone(), true, early))
        } else {
            self.watchers
                .iter()
                .find(|w| w.collector.expectation().action == action)
                .map(|w| (w.tx.clone(), false, false))
        };
        // The CALL and its CALLRESULT are committed together, before the CALLRESULT is sent:
        // whoever sees the answer also finds both in the journal.
        let result = Frame::CallResult {
            id: id.clone(),
            payload: response.clone(),
        };
        let mut answered = self.entry(Direction::Out, &result, Some(&action), now);
        answered.trigger_id.clone_from(&entry.trigger_id);
        let commit = self.app.store.commit(WriteBatch {
            entries: vec![entry, answered],
            station: Some(Arc::clone(&self.state)),
            ..WriteBatch::default()
        });
        self.in_progress.insert(id.clone());
        let request = payload.clone();
        self.acks.push_back(Box::pin(async move {
            let committed = commit.await;
            PendingAck {
                id,
                action,
                request,
                response,
                received_at: now,
                committed,
                claim,
                follow_up,
            }
        }));
        Vec::new()
    }

    /// The CALL is durable: acknowledge it, then hand it to any trigger waiting for it.
    fn on_committed(&mut self, ack: PendingAck) -> Vec<String> {
        self.in_progress.remove(&ack.id);
        let reply = match &ack.committed {
            // Journaled together with the CALL (see `on_call`).
            Ok(()) => Frame::CallResult {
                id: ack.id.clone(),
                payload: ack.response,
            },
            Err(e) => {
                tracing::error!(station = %self.station_id, error = %e, "could not commit a station CALL; answering InternalError so it retries");
                let reply = Frame::call_error(
                    &ack.id,
                    ErrorCode::InternalError,
                    self.protocol,
                    "the CSMS could not store the message; please retry",
                );
                self.journal(vec![self.entry(
                    Direction::Out,
                    &reply,
                    Some(&ack.action),
                    now_ms(),
                )]);
                // The station will retry SignCertificate; this certificate is never delivered.
                if let Some(follow) = &ack.follow_up
                    && let Ok(mut s) = self.state.lock()
                {
                    s.record_certificate_signed(&follow.serial, "NotSent", now_ms());
                }
                reply
            }
        };
        if ack.committed.is_ok() {
            // Queued now, written after this CALLRESULT (the loop sends `outgoing` first), so
            // the station always sees Accepted before the certificate.
            if let Some(follow) = ack.follow_up {
                tracing::info!(station = %self.station_id, serial = %follow.serial, "sending the issued certificate in {}", follow.action);
                self.outbox.push(
                    follow.action,
                    follow.payload,
                    self.app.config.call_timeout,
                    Token {
                        origin: Origin::Certificate {
                            serial: follow.serial,
                        },
                        watch: None,
                        trigger_id: None,
                        redact: false,
                    },
                );
            }
            if let Some((tx, claimed, before_answer)) = ack.claim {
                let _ = tx.send(StationMessage {
                    message_id: ack.id.clone(),
                    action: ack.action.clone(),
                    payload: ack.request,
                    received_at: ack.received_at,
                    claimed,
                    before_answer,
                });
            }
        }
        vec![reply.to_text()]
    }

    /// Hands a CSMS CALL's outcome to whoever waits for it.
    fn settle(&self, token: Token, outcome: CallOutcome) {
        match token.origin {
            Origin::Api(reply) => {
                let _ = reply.send(outcome);
            }
            Origin::Certificate { serial } => {
                let status = match &outcome {
                    CallOutcome::Result(payload) => payload
                        .get("status")
                        .and_then(Value::as_str)
                        .unwrap_or("Unknown")
                        .to_owned(),
                    CallOutcome::Error { .. } => "CallError".into(),
                    CallOutcome::InvalidResponse { .. } => "InvalidResponse".into(),
                    CallOutcome::Timeout => "Timeout".into(),
                    CallOutcome::Disconnected => "Disconnected".into(),
                };
                tracing::info!(station = %self.station_id, %serial, %status, "CertificateSigned ended");
                let recorded = self
                    .state
                    .lock()
                    .is_ok_and(|mut s| s.record_certificate_signed(&serial, &status, now_ms()));
                if recorded {
                    // Not awaited: nothing is acknowledged on the strength of this write.
                    drop(self.app.store.commit(WriteBatch {
                        station: Some(Arc::clone(&self.state)),
                        ..WriteBatch::default()
                    }));
                }
            }
        }
    }

    /// Checks a SignCertificate's CSR and, when it verifies, issues the certificate at once:
    /// the station is told Accepted only if a certificate really exists, and CertificateSigned
    /// can follow without anything left to fail.
    fn check_csr(&self, payload: &Value, now: Millis) -> CsrCheck {
        let csr = payload.get("csr").and_then(Value::as_str);
        let certificate_type = payload
            .get("certificateType")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut record = CertificateRequest {
            requested_at: now,
            certificate_type: certificate_type.clone(),
            csr_subject: csr.and_then(|c| ocpulse_ca::csr_subject(c).ok()),
            status: CertificateRequestStatus::Rejected,
            reason: None,
            serial: None,
            not_after: None,
            certificate_signed_status: None,
            answered_at: None,
        };
        let (verdict, follow_up) = match (self.app.ca.as_deref(), csr) {
            (None, _) => (CsrVerdict::NoCa, None),
            (Some(_), None) => (
                CsrVerdict::InvalidCsr("the request has no csr string".into()),
                None,
            ),
            (Some(ca), Some(csr)) => match ca.sign_csr_for(
                csr,
                CERTIFICATE_VALIDITY_DAYS,
                Some(&ocpulse_ca::SubjectRule {
                    common_name: self.station_id.clone(),
                    organization: self.app.config.csr_organization.clone(),
                }),
            ) {
                Err(e @ ocpulse_ca::CaError::SubjectMismatch { .. }) => {
                    // A station asking for another's name is an attack or a grave
                    // misconfiguration: refused, and raised as a security event.
                    tracing::warn!(station = %self.station_id, error = %e, "SignCertificate for another identity refused");
                    self.journal(vec![self.event(
                        SECURITY_EVENT,
                        &serde_json::json!({"type": "InvalidCsr", "techInfo": e.to_string()}),
                    )]);
                    (CsrVerdict::InvalidCsr(e.to_string()), None)
                }
                Err(e) => {
                    let verdict = match e {
                        ocpulse_ca::CaError::CaExpired(_)
                        | ocpulse_ca::CaError::Random
                        | ocpulse_ca::CaError::Generate(_)
                        | ocpulse_ca::CaError::InvalidValidity { .. } => {
                            tracing::error!(station = %self.station_id, error = %e, "the CA could not issue a certificate");
                            CsrVerdict::CaFailure(e.to_string())
                        }
                        _ => CsrVerdict::InvalidCsr(e.to_string()),
                    };
                    (verdict, None)
                }
                Ok(signed) => {
                    let mut request = serde_json::json!({"certificateChain": signed.chain_pem});
                    if self.protocol == ProtocolVersion::V201
                        && let Some(t) = &certificate_type
                    {
                        // Echoed as requested; absent stays absent (the combined certificate).
                        request["certificateType"] = Value::from(t.as_str());
                    }
                    match self.app.schemas.validate(
                        self.protocol,
                        "CertificateSigned",
                        PayloadKind::Request,
                        &request,
                    ) {
                        Err(e) => (
                            CsrVerdict::CaFailure(format!(
                                "the issued chain cannot be sent in CertificateSigned: {e}"
                            )),
                            None,
                        ),
                        Ok(()) => {
                            record.status = CertificateRequestStatus::Signed;
                            record.serial = Some(signed.serial_hex.clone());
                            record.not_after = Some(signed.not_after);
                            let follow_up = FollowUp {
                                action: "CertificateSigned",
                                payload: request,
                                serial: signed.serial_hex,
                            };
                            (CsrVerdict::Accepted, Some(follow_up))
                        }
                    }
                }
            },
        };
        record.reason = verdict.reason();
        if let Some(reason) = &record.reason {
            tracing::info!(station = %self.station_id, subject = ?record.csr_subject, %reason, "SignCertificate rejected");
        }
        CsrCheck {
            verdict,
            record,
            follow_up,
        }
    }

    fn on_answer(&mut self, frame: Frame, now: Millis) {
        let action = self.outbox.action_of(frame.id()).map(str::to_owned);
        let mut entry = self.entry(Direction::In, &frame, action.as_deref(), now);
        let outcome_token = match self.outbox.on_answer(frame.id()) {
            OutboxAnswer::Matched { action, token } => {
                entry.trigger_id.clone_from(&token.trigger_id);
                Some((action, token))
            }
            OutboxAnswer::Unmatched => {
                tracing::warn!(station = %self.station_id, id = %frame.id(), "answer to no CALL in flight (late or unknown); ignored");
                entry.violation = Some(
                    "no CALL with this message id is in flight (late or unknown answer); ignored"
                        .into(),
                );
                None
            }
        };
        let (mut answered, mut settled) = (None, None);
        if let Some((action, token)) = outcome_token {
            let outcome = match frame {
                Frame::CallResult { payload, .. } => match self.app.schemas.validate(
                    self.protocol,
                    &action,
                    PayloadKind::Response,
                    &payload,
                ) {
                    Err(SchemaError::Invalid(v)) => {
                        entry.violation = Some(v.description.clone());
                        match self.validation_mode() {
                            ValidationMode::Strict => CallOutcome::InvalidResponse {
                                payload,
                                violation: v.description,
                            },
                            ValidationMode::Lenient => CallOutcome::Result(payload),
                        }
                    }
                    _ => CallOutcome::Result(payload),
                },
                Frame::CallError {
                    code,
                    description,
                    details,
                    ..
                } => CallOutcome::Error {
                    code,
                    description,
                    details,
                },
                Frame::Call { .. } => CallOutcome::Disconnected,
            };
            if let (CallOutcome::Result(payload), Some(trigger_id)) = (&outcome, &token.trigger_id)
                && matches!(action.as_str(), "TriggerMessage" | "ExtendedTriggerMessage")
            {
                answered = Some(trigger_answered(
                    &self.station_id,
                    trigger_id,
                    &action,
                    payload,
                    now,
                ));
            }
            settled = Some((token, outcome));
        }
        // Journaled before the waiter hears the outcome, so nothing it journals in response
        // (a trigger's TriggerCompleted) can come before the answer in the journal.
        let mut entries = vec![entry];
        entries.extend(answered);
        self.journal(entries);
        if let Some((token, outcome)) = settled {
            self.settle(token, outcome);
        }
    }
}

/// The longest unreadable text journaled whole; longer text keeps its start, its size and
/// its SHA-256 (enough to recognise it), not its bulk.
const MALFORMED_KEPT: usize = 4096;

fn journaled_text(text: &str) -> String {
    if text.len() <= MALFORMED_KEPT {
        return text.to_owned();
    }
    let mut end = 1024;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let sha256: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}… [{} bytes in all, sha256 {sha256}]",
        &text[..end],
        text.len()
    )
}

/// The message id at the start of a frame too large to parse (`[2, "id", ...`), so its
/// CALLERROR can name it; `None` when the start does not look like a CALL.
fn leading_message_id(text: &str) -> Option<String> {
    let head = text.get(..text.len().min(128))?;
    let rest = head.trim_start().strip_prefix('[')?.trim_start();
    let rest = rest.strip_prefix('2')?.trim_start().strip_prefix(',')?;
    let rest = rest.trim_start().strip_prefix('"')?;
    let id = &rest[..rest.find('"')?];
    (!id.is_empty() && id.len() <= 36 && !id.contains('\\')).then(|| id.to_owned())
}

/// The `TriggerAnswered` event of a trigger's (Extended)TriggerMessage answer, journaled
/// with the CALLRESULT it describes and by the session that read it, so that it always comes
/// before whatever the station sends next, the triggered message included (the trigger's
/// own task would see the answer only later, racing the station's next frame).
fn trigger_answered(
    station_id: &str,
    trigger_id: &str,
    action: &str,
    payload: &Value,
    at: Millis,
) -> JournalEntry {
    let status = payload
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    JournalEntry::trigger_event(
        station_id,
        trigger_id,
        "TriggerAnswered",
        serde_json::json!({"action": action, "status": status}).to_string(),
        at,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_of_an_oversized_call_is_read_from_its_start() {
        let big = format!(
            "[2, \"abc-1\", \"DataTransfer\", {{\"data\": \"{}\"}}]",
            "x".repeat(1000)
        );
        assert_eq!(leading_message_id(&big).as_deref(), Some("abc-1"));
        assert_eq!(leading_message_id("[3,\"abc\",{}]"), None);
        assert_eq!(leading_message_id("garbage"), None);
    }

    #[test]
    fn long_unreadable_text_is_journaled_as_its_start_size_and_hash() {
        assert_eq!(journaled_text("short"), "short");
        let long = "é".repeat(5000);
        let kept = journaled_text(&long);
        assert!(kept.len() < 1200, "{}", kept.len());
        assert!(kept.contains("10000 bytes in all, sha256 "));
    }
}
