//! The station state machine: frames in, frames out, time as an argument.
//!
//! The station's own CALLs go through an `ocpp_rpc::Outbox` (one in flight, OCPP-J
//! §4.1.1); CSMS CALLs are answered at once. Messages produced while offline are kept and
//! sent after reconnecting at a set rate.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ocpp_rpc::message_id::IdGenerator;
use ocpp_rpc::outbox::{AnswerMatch, Outbox};
use ocpp_rpc::schema::SchemaError;
use ocpp_rpc::{ErrorCode, Family, Frame, PayloadKind, ProtocolVersion, SchemaRegistry};
use serde_json::{Value, json};

use crate::clock::Now;
use crate::config::StationConfig;
use crate::messages;
use crate::model::{ConnState, Evse, Meter, Transaction};

/// What the station wants done with its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this text frame.
    Send(String),
    /// Upload this file over HTTP (a log the CSMS asked for), then report how it went
    /// with [`Station::on_upload_done`]. The runner does it; the station does no I/O.
    Upload(Upload),
}

/// A file to upload to the location the CSMS gave (GetDiagnostics / GetLog).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Where: the `location` / `remoteLocation` URL.
    pub url: String,
    /// The file's name (the one announced in the answer).
    pub file_name: String,
    /// The file.
    pub body: Vec<u8>,
    /// Send it as `multipart/form-data` POST (as 1.6 stations commonly do), else a raw PUT.
    pub multipart: bool,
}

impl Output {
    /// The frame to send, if this output is one.
    pub fn frame(self) -> Option<String> {
        match self {
            Self::Send(text) => Some(text),
            Self::Upload(_) => None,
        }
    }
}

/// Where the station stands with the CSMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// No BootNotification answered yet.
    Unknown,
    /// Accepted: may send anything.
    Accepted,
    /// Pending: only triggered messages (1.6 §4.2, 2.0.1 B02.FR.09).
    Pending,
    /// Rejected: answers no CSMS CALL (1.6 §4.2).
    Rejected,
}

/// A station CALL waiting in the outbox or the offline buffer.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) action: &'static str,
    pub(crate) payload: Value,
    pub(crate) purpose: Purpose,
}

/// Why the station sent a CALL, so the answer can be acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Boot,
    Heartbeat,
    /// 1.6 StartTransaction for this EVSE index.
    StartTransaction(usize),
    Other,
}

/// Work scheduled for later.
#[derive(Debug, Clone)]
pub(crate) enum Deferred {
    /// Queue these CALLs (a delayed triggered message).
    Enqueue(Vec<Pending>),
    /// Send this frame, then queue these CALLs (a delayed trigger response).
    Respond(String, Vec<Pending>),
    /// A firmware update or log upload moves on: set the status, report it.
    Progress(ActivityKind, &'static str),
    /// A reset completes: register again.
    Reboot,
    /// A firmware install reboots the station into this version: register again with it.
    FirmwareReboot(String),
}

/// Which long-running activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ActivityKind {
    /// UpdateFirmware / SignedUpdateFirmware.
    Firmware,
    /// GetDiagnostics / GetLog.
    Log,
}

/// The state of a firmware update or log upload, as a triggered status reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Activity {
    /// The last status reported.
    pub(crate) status: &'static str,
    /// The CSMS's requestId of the running activity.
    pub(crate) request_id: Option<i64>,
    /// The action that reports progress (differs between 1.6 core and the security extension).
    pub(crate) action: &'static str,
    /// Whether it still runs.
    pub(crate) running: bool,
    /// Its status reports are lost (the `quiet` fault): none is sent unless triggered.
    pub(crate) quiet: bool,
}

impl Activity {
    fn idle() -> Self {
        Self {
            status: "Idle",
            request_id: None,
            action: "",
            running: false,
            quiet: false,
        }
    }

    /// The status a *triggered* notification reports: `Idle` (without requestId) when
    /// nothing runs (L01.FR.28, N01.FR.12), else the current status with its requestId.
    pub(crate) fn triggered(&self) -> (&'static str, Option<i64>) {
        if self.running {
            (self.status, self.request_id)
        } else {
            ("Idle", None)
        }
    }
}

/// Counters a load run aggregates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// CALLs the station sent.
    pub calls_sent: u64,
    /// CALLRESULTs it received for them.
    pub results: u64,
    /// CALLERRORs and timeouts of its CALLs.
    pub errors: u64,
    /// CSMS CALLs it received.
    pub csms_calls: u64,
    /// TriggerMessage / ExtendedTriggerMessage it answered Accepted.
    pub triggers_accepted: u64,
    /// Transactions it ended because the CSMS refused their id token.
    pub deauthorized: u64,
}

/// One simulated charging station.
pub struct Station {
    pub(crate) cfg: StationConfig,
    pub(crate) evses: Vec<Evse>,
    pub(crate) registration: Registration,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) next_boot: Option<Instant>,
    pub(crate) next_heartbeat: Option<Instant>,
    outbox: Outbox<Pending>,
    connected: bool,
    offline: VecDeque<Pending>,
    next_flush: Option<Instant>,
    pub(crate) deferred: Vec<(Instant, Deferred)>,
    pub(crate) raw_ids: IdGenerator,
    pub(crate) firmware: Activity,
    pub(crate) log: Activity,
    /// The upload the running log activity makes when it reaches `Uploading`.
    pub(crate) log_upload: Option<Upload>,
    pub(crate) config_keys: crate::operations::ConfigKeys,
    pub(crate) boot_reason: &'static str,
    last_tick: Option<Instant>,
    schemas: Option<Arc<SchemaRegistry>>,
    rng: u64,
    /// What happened so far.
    pub counters: Counters,
    /// The local authorization list (SendLocalList, GetLocalListVersion).
    pub local_list: crate::local_list::LocalList,
}

impl std::fmt::Debug for Station {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Station")
            .field("id", &self.cfg.id)
            .field("registration", &self.registration)
            .finish()
    }
}

fn seed(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Station {
    /// A station as described by `cfg`. With `schemas`, CSMS CALLs are validated like a
    /// real station would (share one registry across a fleet).
    pub fn new(cfg: StationConfig, schemas: Option<Arc<SchemaRegistry>>) -> Self {
        let rng = seed(&cfg.id);
        let (count, connectors) = match cfg.protocol.family() {
            Family::V16 => (cfg.evses * cfg.connectors, 1),
            Family::V2 => (cfg.evses, cfg.connectors),
        };
        let initial = if cfg.faults.faulted {
            ConnState::Faulted
        } else {
            ConnState::Available
        };
        let evses = (1..=count)
            .map(|id| Evse {
                id,
                connectors: vec![initial; connectors as usize],
                meter: Meter::new(rng.wrapping_add(u64::from(id)), cfg.dc),
                tx: None,
                next_start: None,
            })
            .collect();
        let prefix = format!("{:x}", rng & 0xffff_ffff);
        Self {
            cfg,
            evses,
            registration: Registration::Unknown,
            heartbeat_interval: Duration::from_secs(300),
            next_boot: None,
            next_heartbeat: None,
            outbox: Outbox::new(&prefix),
            connected: false,
            offline: VecDeque::new(),
            next_flush: None,
            deferred: Vec::new(),
            raw_ids: IdGenerator::new(&format!("r{prefix}")),
            firmware: Activity::idle(),
            log: Activity::idle(),
            log_upload: None,
            config_keys: crate::operations::ConfigKeys::default(),
            boot_reason: "PowerUp",
            last_tick: None,
            schemas,
            rng,
            counters: Counters::default(),
            local_list: crate::local_list::LocalList::default(),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &StationConfig {
        &self.cfg
    }

    /// Its registration status.
    pub fn registration(&self) -> Registration {
        self.registration
    }

    /// Its EVSEs (1.6: one per connector).
    pub fn evses(&self) -> &[Evse] {
        &self.evses
    }

    /// How many messages wait for a connection.
    pub fn offline_len(&self) -> usize {
        self.offline.len()
    }

    pub(crate) fn version(&self) -> ProtocolVersion {
        self.cfg.protocol
    }

    fn jitter(&mut self, max: Duration) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX).max(1);
        Duration::from_millis(self.rng % ms)
    }

    /// The WebSocket is open: boot, or (already registered) flush what was kept offline.
    pub fn on_connected(&mut self, now: Now) -> Vec<Output> {
        self.connected = true;
        self.last_tick.get_or_insert(now.mono);
        if self.registration == Registration::Accepted {
            // 1.6J §5.4 / 2.x §5.4: no BootNotification on reconnect unless something changed.
            self.next_flush = Some(now.mono);
        } else {
            self.next_boot = Some(now.mono);
        }
        self.on_tick(now)
    }

    /// The WebSocket closed: keep unsent messages for later.
    pub fn on_disconnected(&mut self, _now: Now) {
        self.connected = false;
        self.next_heartbeat = None;
        self.next_flush = None;
        let mut kept: Vec<Pending> = self
            .outbox
            .drain()
            .into_iter()
            .filter(|p| !matches!(p.purpose, Purpose::Boot | Purpose::Heartbeat))
            .collect();
        kept.extend(self.offline.drain(..));
        self.offline = kept.into();
        if self.registration != Registration::Accepted {
            self.registration = Registration::Unknown;
        }
    }

    /// Queues a station CALL: sent when connected and allowed, kept while offline.
    pub(crate) fn send(&mut self, action: &'static str, payload: Value, purpose: Purpose) {
        let pending = Pending {
            action,
            payload,
            purpose,
        };
        if self.connected
            && (self.registration == Registration::Accepted || purpose == Purpose::Boot)
        {
            self.outbox.push(
                action,
                pending.payload.clone(),
                self.cfg.call_timeout,
                pending,
            );
        } else if self.registration == Registration::Accepted && purpose != Purpose::Heartbeat {
            if self.offline.len() >= self.cfg.offline_buffer {
                self.offline.pop_front();
            }
            self.offline.push_back(pending);
        }
    }

    /// Queues a message a trigger asked for: allowed even while Pending (1.6 §4.2).
    pub(crate) fn send_triggered(&mut self, pending: Pending) {
        if self.connected {
            self.outbox.push(
                pending.action,
                pending.payload.clone(),
                self.cfg.call_timeout,
                pending,
            );
        }
    }

    /// A frame built outside the outbox (fault injection only: the CSMS's answer to it
    /// will not match anything in flight and is ignored).
    pub(crate) fn raw_call(&mut self, action: &str, payload: &Value) -> String {
        self.counters.calls_sent += 1;
        Frame::Call {
            id: self.raw_ids.next_id(),
            action: action.to_owned(),
            payload: payload.clone(),
        }
        .to_text()
    }

    /// Reports a connector state change (1.6: `evse_index` is the connector).
    pub(crate) fn set_state(
        &mut self,
        evse_index: usize,
        connector: usize,
        state: ConnState,
        now: Now,
    ) {
        let Some(evse) = self.evses.get_mut(evse_index) else {
            return;
        };
        let Some(slot) = evse.connectors.get_mut(connector) else {
            return;
        };
        let before = *slot;
        *slot = state;
        // Report only what changes on the wire (2.0.1 maps Preparing and Charging both to Occupied).
        let wire = |s: ConnState| match self.cfg.protocol.family() {
            Family::V16 => s.v16(),
            Family::V2 => s.v201(),
        };
        if wire(before) == wire(state) {
            return;
        }
        let id = evse.id;
        let connector_id = u32::try_from(connector + 1).unwrap_or(1);
        let payload = match self.version().family() {
            Family::V16 => messages::status_v16(id, state, now),
            Family::V2 => messages::status_v201(id, connector_id, state, now),
        };
        self.send("StatusNotification", payload, Purpose::Other);
    }

    /// Every connector's status (and 1.6 connector 0), as sent after an accepted boot.
    fn send_all_statuses(&mut self, now: Now) {
        if self.version().family() == Family::V16 {
            let cp = if self.cfg.faults.faulted {
                ConnState::Faulted
            } else {
                ConnState::Available
            };
            self.send(
                "StatusNotification",
                messages::status_v16(0, cp, now),
                Purpose::Other,
            );
        }
        for i in 0..self.evses.len() {
            for c in 0..self.evses[i].connectors.len() {
                let (id, state) = (self.evses[i].id, self.evses[i].connectors[c]);
                let payload = match self.version().family() {
                    Family::V16 => messages::status_v16(id, state, now),
                    Family::V2 => {
                        messages::status_v201(id, u32::try_from(c + 1).unwrap_or(1), state, now)
                    }
                };
                self.send("StatusNotification", payload, Purpose::Other);
            }
        }
    }

    /// A text frame from the CSMS.
    pub fn on_text(&mut self, text: &str, now: Now) -> Vec<Output> {
        let mut out = Vec::new();
        match Frame::parse(text) {
            Err(e) => out.push(Output::Send(e.to_call_error(self.version()).to_text())),
            Ok(Frame::Call {
                id,
                action,
                payload,
            }) => out.extend(self.on_csms_call(&id, &action, &payload, now)),
            Ok(Frame::CallResult { id, payload }) => self.on_answer(&id, Ok(payload), now),
            Ok(Frame::CallError { id, code, .. }) => self.on_answer(&id, Err(code), now),
        }
        out.extend(self.on_tick(now));
        out
    }

    fn on_answer(&mut self, id: &str, result: Result<Value, String>, now: Now) {
        let AnswerMatch::Matched { token, .. } = self.outbox.on_answer(id) else {
            return;
        };
        match &result {
            Ok(_) => self.counters.results += 1,
            Err(_) => self.counters.errors += 1,
        }
        let answered = result.as_ref().ok().cloned();
        match (token.purpose, result) {
            (Purpose::Boot, Ok(payload)) => self.on_boot_answer(&payload, now),
            (Purpose::Boot, Err(_)) => self.next_boot = Some(now.mono + Duration::from_secs(10)),
            (Purpose::StartTransaction(i), Ok(payload)) => {
                if let (Some(evse), Some(tx_id)) = (
                    self.evses.get_mut(i),
                    payload.get("transactionId").and_then(Value::as_i64),
                ) && let Some(tx) = evse.tx.as_mut()
                {
                    tx.id = Some(tx_id.to_string());
                }
            }
            _ => {}
        }
        if let Some(answer) = answered {
            self.on_transaction_authorization(
                token.action,
                &token.payload,
                token.purpose,
                &answer,
                now,
            );
        }
    }

    fn on_boot_answer(&mut self, payload: &Value, now: Now) {
        let interval = payload.get("interval").and_then(Value::as_u64).unwrap_or(0);
        let retry = Duration::from_secs(if interval == 0 { 30 } else { interval });
        match payload.get("status").and_then(Value::as_str) {
            Some("Accepted") => {
                let first = self.registration != Registration::Accepted;
                self.registration = Registration::Accepted;
                self.heartbeat_interval = if interval == 0 {
                    Duration::from_secs(300)
                } else {
                    retry
                };
                self.next_heartbeat = Some(now.mono + self.heartbeat_interval);
                self.next_boot = None;
                self.boot_reason = "PowerUp";
                if first {
                    self.send_all_statuses(now);
                    self.next_flush = Some(now.mono);
                    for i in 0..self.evses.len() {
                        let wait = self.jitter(self.cfg.idle_time);
                        self.evses[i].next_start = Some(now.mono + wait);
                    }
                }
            }
            Some("Pending") => {
                self.registration = Registration::Pending;
                self.next_boot = Some(now.mono + retry);
            }
            _ => {
                self.registration = Registration::Rejected;
                self.next_boot = Some(now.mono + retry);
            }
        }
    }

    fn on_csms_call(&mut self, id: &str, action: &str, payload: &Value, now: Now) -> Vec<Output> {
        self.counters.csms_calls += 1;
        // Alive socket, dead firmware; and 1.6 §4.2: a Rejected station answers nothing.
        if self.cfg.faults.ignore_csms_calls || self.registration == Registration::Rejected {
            return Vec::new();
        }
        let version = self.version();
        let error = |code: ErrorCode, text: &str| {
            vec![Output::Send(
                Frame::call_error(id, code, version, text).to_text(),
            )]
        };
        if let Some(schemas) = &self.schemas {
            match schemas.validate(version, action, PayloadKind::Request, payload) {
                Ok(()) => {}
                Err(SchemaError::UnknownAction { .. }) => {
                    return error(ErrorCode::NotImplemented, "unknown action");
                }
                Err(SchemaError::Invalid(v)) => return error(v.code, &v.description),
            }
        }
        let result = |payload: Value| {
            vec![Output::Send(
                Frame::CallResult {
                    id: id.to_owned(),
                    payload,
                }
                .to_text(),
            )]
        };
        if crate::faults::REFUSABLE_OPERATIONS.contains(&action)
            && self.cfg.faults.for_operation(action) == Some(crate::faults::OperationFault::Reject)
        {
            let status = if action == "UnlockConnector" {
                "UnlockFailed"
            } else {
                "Rejected"
            };
            return result(serde_json::json!({"status": status}));
        }
        match action {
            "TriggerMessage" | "ExtendedTriggerMessage" => {
                self.on_trigger(id, action, payload, now)
            }
            "SendLocalList" | "GetLocalListVersion" => {
                match self.local_list.on_call(version.family(), action, payload) {
                    Some(answer) => result(answer),
                    None => error(ErrorCode::InternalError, "local list"),
                }
            }
            _ => match self.on_operation(action, payload, now) {
                Some(answer) => result(answer),
                None => error(
                    ErrorCode::NotSupported,
                    &format!("the simulator does not implement {action}"),
                ),
            },
        }
    }

    /// Brings every meter's register up to `now` at the power it has had since the last
    /// tick, so a change of power (a transaction starting or ending between ticks) counts
    /// from when it happens.
    fn settle_meters(&mut self, now: Now) {
        let dt = self
            .last_tick
            .map_or(Duration::ZERO, |t| now.mono.saturating_duration_since(t));
        self.last_tick = Some(now.mono);
        let dc = self.cfg.dc;
        for evse in &mut self.evses {
            evse.meter.advance(dt, dc);
        }
    }

    /// Advances timers: boot retries, heartbeats, transactions, delayed sends, the offline
    /// flush and CALL timeouts. Returns the frames to send.
    pub fn on_tick(&mut self, now: Now) -> Vec<Output> {
        let mut out = Vec::new();
        self.settle_meters(now);
        let due: Vec<Deferred> = {
            let (due, later): (Vec<_>, Vec<_>) =
                self.deferred.drain(..).partition(|(at, _)| *at <= now.mono);
            self.deferred = later;
            due.into_iter().map(|(_, d)| d).collect()
        };
        for d in due {
            match d {
                Deferred::Enqueue(messages) => {
                    messages.into_iter().for_each(|m| self.send_triggered(m))
                }
                Deferred::Respond(frame, messages) => {
                    out.push(Output::Send(frame));
                    messages.into_iter().for_each(|m| self.send_triggered(m));
                }
                Deferred::Progress(kind, status) => {
                    self.progress(kind, status);
                    if kind == ActivityKind::Log
                        && status == "Uploading"
                        && let Some(upload) = self.log_upload.take()
                    {
                        out.push(Output::Upload(upload));
                    }
                }
                Deferred::Reboot => {
                    self.registration = Registration::Unknown;
                    self.boot_reason = "RemoteReset";
                    self.next_boot = Some(now.mono);
                }
                Deferred::FirmwareReboot(version) => {
                    self.cfg.firmware_version = version;
                    self.registration = Registration::Unknown;
                    self.boot_reason = "FirmwareUpdate";
                    self.next_boot = Some(now.mono);
                }
            }
        }
        if self.connected && self.next_boot.is_some_and(|at| at <= now.mono) {
            self.next_boot = None;
            let payload = messages::boot(&self.cfg, self.boot_reason);
            self.send("BootNotification", payload, Purpose::Boot);
        }
        if self.connected
            && self.registration == Registration::Accepted
            && self.next_heartbeat.is_some_and(|at| at <= now.mono)
        {
            self.next_heartbeat = Some(now.mono + self.heartbeat_interval);
            self.send("Heartbeat", json!({}), Purpose::Heartbeat);
        }
        if self.registration == Registration::Accepted {
            self.run_transactions(now);
        }
        self.flush_offline(now);
        while let Some(expired) = self.outbox.poll_timeout(now.mono) {
            self.counters.errors += 1;
            if expired.token.purpose == Purpose::Boot {
                self.next_boot = Some(now.mono + Duration::from_secs(10));
            }
        }
        if self.connected {
            while let Some(t) = self.outbox.poll_transmit(now.mono, |_| true) {
                self.counters.calls_sent += 1;
                out.push(Output::Send(t.frame.to_text()));
            }
        }
        out
    }

    /// The runner finished an [`Output::Upload`]: report `Uploaded`, or the version's
    /// failure status, and return what to send.
    pub fn on_upload_done(&mut self, ok: bool, now: Now) -> Vec<Output> {
        let status = match (ok, self.log.action) {
            (true, _) => "Uploaded",
            (false, "DiagnosticsStatusNotification") => "UploadFailed",
            (false, _) => "UploadFailure",
        };
        self.progress(ActivityKind::Log, status);
        self.on_tick(now)
    }

    fn flush_offline(&mut self, now: Now) {
        if !self.connected || self.registration != Registration::Accepted {
            return;
        }
        let step = Duration::from_secs_f64(1.0 / self.cfg.flush_rate.max(0.001));
        while let Some(at) = self.next_flush {
            if at > now.mono {
                break;
            }
            let Some(p) = self.offline.pop_front() else {
                self.next_flush = Some(now.mono);
                break;
            };
            self.outbox
                .push(p.action, p.payload.clone(), self.cfg.call_timeout, p);
            self.next_flush = Some(at + step);
        }
    }

    /// When `on_tick` next has work (the runner sleeps until then or the next frame).
    pub fn next_wakeup(&self) -> Option<Instant> {
        let mut times: Vec<Instant> = self.deferred.iter().map(|(at, _)| *at).collect();
        times.extend(self.outbox.next_deadline());
        if self.connected {
            times.extend(self.next_boot);
            times.extend(self.next_heartbeat);
            if !self.offline.is_empty() {
                times.extend(self.next_flush);
            }
        }
        if self.registration == Registration::Accepted {
            let auto = self.cfg.auto_transactions;
            for e in &self.evses {
                if auto {
                    times.extend(e.next_start);
                }
                if let Some(tx) = &e.tx {
                    times.push(if auto {
                        tx.next_sample.min(tx.ends_at)
                    } else {
                        tx.next_sample
                    });
                }
            }
        }
        times.into_iter().min()
    }

    /// Starts a transaction on an EVSE (index), as if a driver plugged in and badged.
    pub fn start_transaction(&mut self, evse_index: usize, id_tag: &str, now: Now) {
        self.start_remote_transaction(evse_index, id_tag, None, now);
    }

    /// Starts a transaction as [`Station::start_transaction`] does; a 2.x one asked for by
    /// RequestStartTransaction reports its `remoteStartId` (triggerReason `RemoteStart`).
    pub(crate) fn start_remote_transaction(
        &mut self,
        evse_index: usize,
        id_tag: &str,
        remote_start_id: Option<i64>,
        now: Now,
    ) {
        let session = self.cfg.session_time;
        let interval = self.cfg.meter_interval;
        let version = self.version();
        let Some(evse) = self.evses.get_mut(evse_index) else {
            return;
        };
        if evse.tx.is_some() || evse.state() == ConnState::Faulted {
            return;
        }
        self.settle_meters(now);
        let Some(evse) = self.evses.get_mut(evse_index) else {
            return;
        };
        let tx = Transaction {
            id: version
                .is_v2()
                .then(|| format!("{}-{}-{}", self.cfg.id, evse.id, now.wall_ms)),
            id_tag: id_tag.to_owned(),
            meter_start_wh: evse.meter.energy_wh,
            started_at: now.rfc3339(),
            seq_no: 0,
            connector: 1,
            ends_at: now.mono + session,
            next_sample: now.mono + interval,
            remote_start_id,
        };
        evse.tx = Some(tx.clone());
        evse.next_start = None;
        self.set_state(evse_index, 0, ConnState::Preparing, now);
        match version.family() {
            Family::V16 => {
                let id = self.evses[evse_index].id;
                self.send(
                    "StartTransaction",
                    messages::start_transaction(id, &tx),
                    Purpose::StartTransaction(evse_index),
                );
            }
            Family::V2 => {
                let payload = messages::transaction_event(
                    "Started",
                    if remote_start_id.is_some() {
                        "RemoteStart"
                    } else {
                        "Authorized"
                    },
                    &tx,
                    &self.evses[evse_index],
                    self.cfg.dc,
                    Some("Transaction.Begin"),
                    "EVConnected",
                    now,
                );
                self.bump_seq(evse_index);
                self.send("TransactionEvent", payload, Purpose::Other);
            }
        }
        self.evses[evse_index].meter.set_charging(true);
        self.set_state(evse_index, 0, ConnState::Charging, now);
    }

    /// Ends the transaction of an EVSE (index), as if the driver unplugged.
    pub fn stop_transaction(&mut self, evse_index: usize, now: Now) {
        self.end_transaction(evse_index, "EVDisconnected", now);
    }

    /// Ends the transaction of an EVSE (index) for `reason` (a 1.6 `Reason` that 2.x
    /// `ReasonEnumType` also has: `EVDisconnected`, `Remote`, `Local`, `DeAuthorized`).
    pub(crate) fn end_transaction(&mut self, evse_index: usize, reason: &str, now: Now) {
        let idle = self.jitter(self.cfg.idle_time) + self.cfg.idle_time / 2;
        if self.evses.get(evse_index).is_none_or(|e| e.tx.is_none()) {
            return;
        }
        self.settle_meters(now);
        let Some(evse) = self.evses.get_mut(evse_index) else {
            return;
        };
        let Some(tx) = evse.tx.take() else { return };
        evse.meter.set_charging(false);
        evse.next_start = Some(now.mono + idle);
        match self.version().family() {
            Family::V16 => {
                let mut payload =
                    messages::stop_transaction(&tx, &self.evses[evse_index].meter, now);
                payload["reason"] = json!(reason);
                self.set_state(evse_index, 0, ConnState::Finishing, now);
                self.send("StopTransaction", payload, Purpose::Other);
            }
            Family::V2 => {
                let mut payload = messages::transaction_event(
                    "Ended",
                    match reason {
                        "Remote" => "RemoteStop",
                        "DeAuthorized" => "Deauthorized",
                        _ => "EVDeparted",
                    },
                    &tx,
                    &self.evses[evse_index],
                    self.cfg.dc,
                    Some("Transaction.End"),
                    "Idle",
                    now,
                );
                payload["transactionInfo"]["stoppedReason"] = json!(reason);
                self.send("TransactionEvent", payload, Purpose::Other);
            }
        }
        self.set_state(evse_index, 0, ConnState::Available, now);
    }

    pub(crate) fn bump_seq(&mut self, evse_index: usize) {
        if let Some(tx) = self.evses.get_mut(evse_index).and_then(|e| e.tx.as_mut()) {
            tx.seq_no += 1;
        }
    }

    /// Automatic transactions start and end (when configured); every transaction under
    /// way, however it started, reports its meter periodically.
    fn run_transactions(&mut self, now: Now) {
        let auto = self.cfg.auto_transactions;
        for i in 0..self.evses.len() {
            let (start_due, sample_due, end_due) = {
                let e = &self.evses[i];
                (
                    auto && e.tx.is_none() && e.next_start.is_some_and(|at| at <= now.mono),
                    e.tx.as_ref().is_some_and(|t| t.next_sample <= now.mono),
                    auto && e.tx.as_ref().is_some_and(|t| t.ends_at <= now.mono),
                )
            };
            if start_due {
                let tag = format!("TAG{:04}", (self.rng % 10_000));
                self.start_transaction(i, &tag, now);
            } else if end_due {
                self.stop_transaction(i, now);
            } else if sample_due {
                let interval = self.cfg.meter_interval;
                if let Some(tx) = self.evses[i].tx.as_mut() {
                    tx.next_sample = now.mono + interval;
                }
                let e = &self.evses[i];
                let payload = match self.version().family() {
                    Family::V16 => messages::meter_values(
                        ProtocolVersion::V16,
                        e.id,
                        &e.meter,
                        self.cfg.dc,
                        "Sample.Periodic",
                        e.tx.as_ref(),
                        now,
                    ),
                    Family::V2 => match &e.tx {
                        Some(tx) => messages::transaction_event(
                            "Updated",
                            "MeterValuePeriodic",
                            tx,
                            e,
                            self.cfg.dc,
                            Some("Sample.Periodic"),
                            "Charging",
                            now,
                        ),
                        None => continue,
                    },
                };
                if self.version().is_v2() {
                    self.bump_seq(i);
                    self.send("TransactionEvent", payload, Purpose::Other);
                } else {
                    self.send("MeterValues", payload, Purpose::Other);
                }
            }
        }
    }

    /// Puts every connector in Faulted (as the `--faulted` fault does from the start).
    pub fn fault_all(&mut self, now: Now) {
        for i in 0..self.evses.len() {
            for c in 0..self.evses[i].connectors.len() {
                self.set_state(i, c, ConnState::Faulted, now);
            }
        }
    }
}
