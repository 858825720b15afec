//! The server session paired with the simulator's sans-IO `Station`, in memory, with fake
//! time: quinn-style. Every frame each side writes is read by the other; commits succeed at
//! once (or fail, when a test says so). No sockets, no sleeps.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use ocpp_rpc::trigger::{Marking, MatchReason};
use ocpp_rpc::{ProtocolVersion, SchemaRegistry};
use ocpulse_sim::clock::Now as SimNow;
use ocpulse_sim::config::StationConfig;
use ocpulse_sim::faults::TriggerFault;
use ocpulse_sim::station::{Output as SimOutput, Station};
use ocpulse_sim::triggers::CUSTOM_TRIGGERS;
use parking_lot::Mutex;
use serde_json::Value;

use super::*;
use crate::store::StoreError;
use crate::trigger_plan::{self, EvseTarget, TriggerRequest};
use crate::{JournalEntry, StationState};

const TRIGGER_TIMEOUT: Duration = Duration::from_secs(10);

/// A caller the tests can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ask(u32);
impl Caller for Ask {}

struct Ids(AtomicI64);
impl TransactionIds for Ids {
    fn next_transaction_id(&self) -> Option<i64> {
        Some(self.0.fetch_add(1, Ordering::Relaxed))
    }
}

/// What a caller heard.
#[derive(Debug)]
struct Ended {
    outcome: CallOutcome,
    collected: Option<Box<Collected>>,
}

struct Pair {
    server: ServerSession<Ask>,
    station: Station,
    state: SharedStation,
    now: SimNow,
    to_station: VecDeque<String>,
    to_server: VecDeque<String>,
    journal: Vec<JournalEntry>,
    ended: Vec<(Ask, Ended)>,
    pending_commits: VecDeque<u64>,
    /// Commits fail while set (the store is broken).
    fail_commits: bool,
    connected: bool,
}

fn schemas() -> Arc<SchemaRegistry> {
    static SCHEMAS: std::sync::OnceLock<Arc<SchemaRegistry>> = std::sync::OnceLock::new();
    Arc::clone(SCHEMAS.get_or_init(|| Arc::new(SchemaRegistry::load().expect("schemas"))))
}

impl Pair {
    fn new(cfg: StationConfig) -> Self {
        let env = Arc::new(SessionEnv {
            settings: SessionSettings {
                heartbeat_interval: 300,
                validation: ValidationMode::Strict,
                max_frame_bytes: 64 * 1024,
                call_timeout: Duration::from_secs(30),
                quiet_period: Duration::from_millis(750),
                csr_organization: None,
                authorization: crate::authorization::Policy::AcceptAll,
                node: None,
            },
            schemas: schemas(),
            issuer: None,
            transaction_ids: Arc::new(Ids(AtomicI64::new(1))),
            id_tokens: Arc::default(),
        });
        let state = Arc::new(Mutex::new(StationState::new(&cfg.id)));
        let protocol = cfg.protocol;
        let server = ServerSession::new(env, cfg.id.clone(), protocol, Arc::clone(&state), "srv");
        let station = Station::new(cfg, Some(schemas()));
        let mut pair = Self {
            server,
            station,
            state,
            now: SimNow::system(),
            to_station: VecDeque::new(),
            to_server: VecDeque::new(),
            journal: Vec::new(),
            ended: Vec::new(),
            pending_commits: VecDeque::new(),
            fail_commits: false,
            connected: true,
        };
        pair.server.on_connect(1, pair.server_now());
        let out = pair.station.on_connected(pair.now);
        pair.route_station(out);
        pair.settle();
        pair
    }

    fn server_now(&self) -> Now {
        Now {
            mono: self.now.mono,
            wall: self.now.wall_ms,
        }
    }

    fn route_station(&mut self, out: Vec<SimOutput>) {
        for text in out.into_iter().filter_map(SimOutput::frame) {
            self.to_server.push_back(text);
        }
    }

    fn route_server(&mut self, out: Vec<Output<Ask>>) {
        for o in out {
            match o {
                Output::Send(text) => self.to_station.push_back(text),
                Output::Write(batch) => self.journal.extend(batch.entries),
                Output::Commit { id, batch } => {
                    self.journal.extend(batch.entries);
                    self.pending_commits.push_back(id);
                }
                Output::Ended {
                    caller,
                    outcome,
                    collected,
                } => self.ended.push((caller, Ended { outcome, collected })),
            }
        }
    }

    /// Moves frames and commits until neither side has anything more to do right now.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            let now = self.server_now();
            let out = self.server.poll(now);
            self.route_server(out);
            let mut moved = false;
            if let Some(id) = self.pending_commits.pop_front() {
                let result = if self.fail_commits {
                    Err(StoreError::Database("the disk is full".into()))
                } else {
                    Ok(())
                };
                self.server.on_committed(id, result, now);
                moved = true;
            } else if let Some(text) = self.to_station.pop_front() {
                if self.connected {
                    let out = self.station.on_text(&text, self.now);
                    self.route_station(out);
                }
                moved = true;
            } else if let Some(text) = self.to_server.pop_front() {
                if self.connected {
                    self.server.on_text(&text, now);
                }
                moved = true;
            }
            let out = self.station.on_tick(self.now);
            moved |= !out.is_empty();
            self.route_station(out);
            if !moved {
                return;
            }
        }
        panic!("the pair never went quiet");
    }

    /// Lets `d` pass in steps, each side's timers firing as they come due.
    fn advance(&mut self, d: Duration) {
        let end = self.now.after(d);
        while self.now.mono < end.mono {
            let next = [self.station.next_wakeup(), self.server.next_deadline()]
                .into_iter()
                .flatten()
                .filter(|at| *at > self.now.mono)
                .min()
                .map_or(end.mono, |at| at.min(end.mono));
            self.now = self.now.after(next - self.now.mono);
            self.settle();
        }
    }

    /// Plans and sends a trigger as the API would, then runs until its caller hears back
    /// (or `TRIGGER_TIMEOUT` passes). Returns what the caller heard and how long it took.
    fn trigger(&mut self, request: TriggerRequest) -> (Ended, Duration) {
        let plan = {
            let s = self.state.lock();
            trigger_plan::plan(self.station.config().protocol, &request, &s).expect("a valid plan")
        };
        let ask = Ask(u32::try_from(self.ended.len()).unwrap_or(0) + 1000);
        let started = self.now;
        self.server.push_call(
            CsmsCall {
                action: plan.action.to_owned(),
                payload: plan.payload,
                timeout: TRIGGER_TIMEOUT,
                caller: ask,
                watch: Some(TriggerWatch {
                    trigger_id: format!("trigger-{}", ask.0),
                    expectation: plan.expectation,
                }),
                redact: false,
            },
            self.server_now(),
        );
        let step = Duration::from_millis(50);
        for _ in 0..(TRIGGER_TIMEOUT.as_millis() / 50 + 2) {
            self.settle();
            if let Some(i) = self.ended.iter().position(|(a, _)| *a == ask) {
                let (_, ended) = self.ended.remove(i);
                return (ended, self.now.mono - started.mono);
            }
            self.advance(step);
        }
        panic!("the trigger never ended");
    }

    fn marking(&self) -> Marking {
        self.state.lock().trigger_marking
    }
}

fn request(name: &str) -> TriggerRequest {
    TriggerRequest {
        requested_message: name.into(),
        ..TriggerRequest::default()
    }
}

fn on_connector(name: &str, connector: i64) -> TriggerRequest {
    TriggerRequest {
        connector_id: Some(connector),
        ..request(name)
    }
}

fn on_evse(name: &str, evse: i64, connector: Option<i64>) -> TriggerRequest {
    TriggerRequest {
        evse: Some(EvseTarget {
            id: evse,
            connector_id: connector,
        }),
        ..request(name)
    }
}

fn station(id: &str, protocol: ProtocolVersion, evses: u32) -> StationConfig {
    let mut cfg = StationConfig::new(id, protocol);
    cfg.evses = evses;
    cfg
}

/// A station whose transactions only start when a test starts them, and then send periodic
/// samples every `interval` (routine traffic around the triggers).
fn sampling(id: &str, protocol: ProtocolVersion, evses: u32, interval: Duration) -> StationConfig {
    let mut cfg = station(id, protocol, evses);
    cfg.auto_transactions = true;
    cfg.idle_time = Duration::from_secs(3600);
    cfg.session_time = Duration::from_secs(3600);
    cfg.meter_interval = interval;
    cfg
}

fn with_fault(cfg: &mut StationConfig, message: &str, fault: TriggerFault) {
    cfg.faults.triggers.insert(message.into(), fault);
}

fn status(ended: &Ended) -> String {
    ended.outcome.status_name()
}

fn collected(ended: &Ended) -> &Collected {
    ended
        .collected
        .as_ref()
        .expect("a watched trigger ends with what it collected")
}

fn reasons(ended: &Ended) -> Vec<MatchReason> {
    collected(ended)
        .messages
        .iter()
        .filter_map(|m| m.reason)
        .collect()
}

#[test]
fn the_pair_boots_and_the_station_is_accepted() {
    let pair = Pair::new(station("CP1", ProtocolVersion::V16, 2));
    let s = pair.state.lock();
    assert_eq!(s.registration_status.as_deref(), Some("Accepted"));
    assert_eq!(
        s.connectors.len(),
        3,
        "connector 0 and two connectors: {:?}",
        s.connectors
    );
}

#[test]
fn every_trigger_value_of_every_version_ends_without_waiting_for_its_deadline() {
    for protocol in ProtocolVersion::ALL {
        for mark in [true, false] {
            for name in trigger_plan::valid_messages(protocol) {
                let mut cfg = station("CP-all", protocol, 2);
                cfg.mark_triggered = mark;
                let mut pair = Pair::new(cfg);
                let request = match name {
                    "StatusNotification" if protocol.is_v2() => on_evse(name, 1, Some(1)),
                    // A 2.1 custom trigger the simulator supports: it sends its message, which
                    // the CSMS cannot tell from routine traffic and so does not claim.
                    trigger_plan::CUSTOM_TRIGGER => TriggerRequest {
                        custom_trigger: Some(CUSTOM_TRIGGERS[0].0.into()),
                        ..request(name)
                    },
                    _ => request(name),
                };
                let (ended, took) = pair.trigger(request);
                let what = format!("{protocol} {name} (marking {mark})");
                assert!(
                    took < TRIGGER_TIMEOUT,
                    "{what} waited its whole timeout: {ended:?}"
                );
                if ended.outcome.is_accepted() {
                    let got = collected(&ended);
                    assert!(got.complete, "{what} accepted but incomplete: {ended:?}");
                    assert!(
                        !got.messages.is_empty()
                            || name == "TransactionEvent"
                            || name == trigger_plan::CUSTOM_TRIGGER,
                        "{what} accepted without a message: {ended:?}"
                    );
                    if name == trigger_plan::CUSTOM_TRIGGER {
                        assert!(got.messages.is_empty(), "{what} claimed {ended:?}");
                    }
                    assert!(got.unmatched.is_empty(), "{what}: {:?}", got.unmatched);
                } else {
                    assert!(
                        matches!(ended.outcome, CallOutcome::Result(_)),
                        "{what} ended with {:?}",
                        ended.outcome
                    );
                }
            }
        }
    }
}

#[test]
fn a_targeted_status_trigger_returns_that_connector_16() {
    let mut pair = Pair::new(station("CP1", ProtocolVersion::V16, 2));
    let (ended, _) = pair.trigger(on_connector("StatusNotification", 2));
    assert_eq!(status(&ended), "Accepted");
    let got = collected(&ended);
    assert_eq!(got.messages.len(), 1);
    assert_eq!(got.messages[0].payload["connectorId"], 2);
    assert_eq!(reasons(&ended), [MatchReason::Target]);
    let journaled = pair
        .journal
        .iter()
        .find(|e| e.message_id.as_deref() == Some(got.messages[0].message_id.as_str()))
        .expect("the claimed CALL is journaled");
    assert_eq!(journaled.trigger_id.as_deref(), Some("trigger-1000"));
}

#[test]
fn an_untargeted_status_trigger_takes_one_message_per_connector_16_5_17() {
    let mut pair = Pair::new(station("CP1", ProtocolVersion::V16, 3));
    let (ended, _) = pair.trigger(request("StatusNotification"));
    let got = collected(&ended);
    assert!(got.complete);
    let mut connectors: Vec<i64> = got
        .messages
        .iter()
        .filter_map(|m| m.payload["connectorId"].as_i64())
        .collect();
    connectors.sort_unstable();
    assert_eq!(connectors, [0, 1, 2, 3]);
}

/// SAP's simulator case: a 2.0.1 TransactionEvent trigger without EVSE, two transactions
/// running, the station answering within a millisecond with one marked `Updated` per
/// transaction (F06.FR.07), in between periodic updates, an `Ended` and a new `Started`.
#[test]
fn an_untargeted_transaction_event_trigger_ends_when_every_known_transaction_answered() {
    for protocol in [ProtocolVersion::V201, ProtocolVersion::V21] {
        untargeted_transaction_event_ends_when_every_known_transaction_answered(protocol);
    }
}

fn untargeted_transaction_event_ends_when_every_known_transaction_answered(
    protocol: ProtocolVersion,
) {
    let mut pair = Pair::new(sampling("CP2x", protocol, 3, Duration::from_millis(100)));
    let now = pair.now;
    pair.station.start_transaction(0, "TAG-A", now);
    pair.station.start_transaction(1, "TAG-B", now);
    pair.settle();
    pair.advance(Duration::from_millis(250));
    assert_eq!(pair.state.lock().transactions.len(), 2);
    let (ended, took) = pair.trigger(request("TransactionEvent"));
    assert_eq!(status(&ended), "Accepted");
    assert!(took < Duration::from_millis(100), "took {took:?}");
    let got = collected(&ended);
    assert!(got.complete);
    assert_eq!(got.messages.len(), 2, "{:?}", got.messages);
    for m in &got.messages {
        assert_eq!(m.payload["triggerReason"], "Trigger");
        assert_eq!(m.payload["eventType"], "Updated");
        assert_eq!(m.reason, Some(MatchReason::Marker));
    }
    assert_eq!(pair.marking(), Marking::Marks);
}

#[test]
fn an_untargeted_transaction_event_trigger_without_transactions_is_done_at_once() {
    let mut pair = Pair::new(station("CP201", ProtocolVersion::V201, 2));
    let (ended, took) = pair.trigger(request("TransactionEvent"));
    // The simulator has none either and says Rejected (F06.FR.12 does not apply; nothing to send).
    assert_eq!(status(&ended), "Rejected");
    assert!(took < Duration::from_millis(100), "took {took:?}");
    assert!(collected(&ended).messages.is_empty());
}

#[test]
fn routine_traffic_during_a_silent_trigger_is_not_a_wrong_target() {
    let mut cfg = sampling("CP1", ProtocolVersion::V16, 2, Duration::from_millis(500));
    with_fault(&mut cfg, "MeterValues", TriggerFault::AcceptNeverSend);
    let mut pair = Pair::new(cfg);
    let now = pair.now;
    pair.station.start_transaction(1, "TAG", now);
    pair.settle();
    // Periodic samples of connector 2 keep arriving while connector 1's never does.
    let (ended, took) = pair.trigger(on_connector("MeterValues", 1));
    assert_eq!(status(&ended), "Accepted");
    assert!(took >= TRIGGER_TIMEOUT);
    let got = collected(&ended);
    assert!(got.messages.is_empty(), "{:?}", got.messages);
    assert!(
        got.unmatched.is_empty(),
        "periodic samples are not near misses: {:?}",
        got.unmatched
    );
    let periodic = pair
        .journal
        .iter()
        .filter(|e| e.action.as_deref() == Some("MeterValues") && e.frame_type == "CALL")
        .count();
    assert!(
        periodic >= 10,
        "the test needs routine samples during the wait: {periodic}"
    );
}

#[test]
fn a_marked_message_for_another_connector_is_a_wrong_target() {
    let mut cfg = station("CP1", ProtocolVersion::V16, 2);
    with_fault(&mut cfg, "MeterValues", TriggerFault::WrongTarget);
    let mut pair = Pair::new(cfg);
    let (ended, _) = pair.trigger(on_connector("MeterValues", 1));
    let got = collected(&ended);
    assert!(got.messages.is_empty());
    assert_eq!(got.unmatched.len(), 1, "{ended:?}");
    assert_eq!(got.unmatched[0].payload["connectorId"], 2);
}

/// A marking 1.6 station charging on connector 1, sampling every 200 ms, whose triggered
/// MeterValues come 1 s after it accepts: routine samples arrive first.
fn charging_with_late_marked_answers() -> Pair {
    let mut cfg = sampling("CP1", ProtocolVersion::V16, 1, Duration::from_millis(200));
    let delay = TriggerFault::Delay(Duration::from_millis(1000));
    with_fault(&mut cfg, "MeterValues", delay);
    let mut pair = Pair::new(cfg);
    let now = pair.now;
    pair.station.start_transaction(0, "TAG", now);
    pair.settle();
    pair
}

#[test]
fn a_station_that_marks_never_has_a_periodic_sample_taken_for_the_answer() {
    let mut pair = charging_with_late_marked_answers();
    pair.state.lock().trigger_marking = Marking::Marks;
    let (ended, _) = pair.trigger(on_connector("MeterValues", 1));
    let got = collected(&ended);
    assert_eq!(got.messages.len(), 1, "{:?}", got.messages);
    assert_eq!(
        got.messages[0].payload["meterValue"][0]["sampledValue"][0]["context"],
        "Trigger"
    );
    assert_eq!(reasons(&ended), [MatchReason::Marker]);
}

#[test]
fn a_station_taken_for_one_that_does_not_mark_is_corrected_by_its_late_marked_answer() {
    let mut pair = charging_with_late_marked_answers();
    pair.state.lock().trigger_marking = Marking::DoesNotMark;
    // Believed not to mark, the trigger takes the next routine sample...
    let (ended, _) = pair.trigger(on_connector("MeterValues", 1));
    assert_eq!(reasons(&ended), [MatchReason::Target]);
    assert_eq!(pair.marking(), Marking::DoesNotMark);
    // ...and the marked answer arriving later sets the record straight.
    pair.advance(Duration::from_secs(2));
    assert_eq!(pair.marking(), Marking::Marks);
    let (again, _) = pair.trigger(on_connector("MeterValues", 1));
    assert_eq!(reasons(&again), [MatchReason::Marker]);
}

#[test]
fn a_station_that_does_not_mark_is_matched_by_target_and_learned() {
    let mut cfg = station("CP1", ProtocolVersion::V16, 2);
    cfg.mark_triggered = false;
    let mut pair = Pair::new(cfg);
    let (ended, took) = pair.trigger(on_connector("MeterValues", 2));
    let got = collected(&ended);
    assert_eq!(got.messages.len(), 1);
    assert_eq!(reasons(&ended), [MatchReason::Target]);
    assert!(
        took < Duration::from_secs(2),
        "one quiet period at most: {took:?}"
    );
    assert_eq!(pair.marking(), Marking::DoesNotMark);
    let (again, took) = pair.trigger(on_connector("MeterValues", 2));
    assert_eq!(collected(&again).messages.len(), 1);
    assert!(
        took < Duration::from_millis(100),
        "no quiet period once known: {took:?}"
    );
}

#[test]
fn a_heartbeat_trigger_is_answered_by_the_first_heartbeat() {
    let mut pair = Pair::new(station("CP1", ProtocolVersion::V201, 1));
    let (ended, _) = pair.trigger(request("Heartbeat"));
    assert_eq!(reasons(&ended), [MatchReason::FirstAfterAccept]);
}

#[test]
fn faults_end_the_trigger_with_what_happened() {
    type Check = fn(&Ended) -> bool;
    let cases: [(TriggerFault, Check); 4] = [
        (TriggerFault::Reject, |e| status(e) == "Rejected"),
        (TriggerFault::NotImplemented, |e| {
            status(e) == "NotImplemented"
        }),
        (
            TriggerFault::CallError("GenericError".into()),
            |e| matches!(&e.outcome, CallOutcome::Error { code, .. } if code == "GenericError"),
        ),
        (TriggerFault::NoAnswer, |e| {
            e.outcome == CallOutcome::Timeout
        }),
    ];
    for (fault, check) in cases {
        let mut cfg = station("CP1", ProtocolVersion::V16, 1);
        cfg.faults
            .triggers
            .insert("Heartbeat".into(), fault.clone());
        let mut pair = Pair::new(cfg);
        let (ended, _) = pair.trigger(request("Heartbeat"));
        assert!(check(&ended), "{fault:?}: {ended:?}");
    }
}

#[test]
fn a_message_sent_before_the_answer_still_counts_and_says_so() {
    let mut cfg = station("CP1", ProtocolVersion::V16, 1);
    with_fault(&mut cfg, "Heartbeat", TriggerFault::BeforeResponse);
    let mut pair = Pair::new(cfg);
    let (ended, _) = pair.trigger(request("Heartbeat"));
    let got = collected(&ended);
    assert_eq!(got.messages.len(), 1);
    assert!(got.messages[0].before_answer);
}

#[test]
fn a_disconnect_ends_a_waiting_trigger_as_disconnected() {
    let mut cfg = station("CP1", ProtocolVersion::V16, 1);
    with_fault(&mut cfg, "Heartbeat", TriggerFault::AcceptNeverSend);
    let mut pair = Pair::new(cfg);
    let plan = {
        let s = pair.state.lock();
        trigger_plan::plan(ProtocolVersion::V16, &request("Heartbeat"), &s).expect("plan")
    };
    pair.server.push_call(
        CsmsCall {
            action: plan.action.into(),
            payload: plan.payload,
            timeout: TRIGGER_TIMEOUT,
            caller: Ask(1),
            watch: Some(TriggerWatch {
                trigger_id: "t".into(),
                expectation: plan.expectation,
            }),
            redact: false,
        },
        pair.server_now(),
    );
    pair.settle();
    let out = pair
        .server
        .on_close(1, "connection closed", pair.server_now());
    pair.route_server(out);
    let (_, ended) = pair.ended.pop().expect("the caller heard");
    assert!(ended.outcome.is_accepted());
    assert!(collected(&ended).disconnected);
    assert!(
        pair.journal
            .iter()
            .any(|e| e.action.as_deref() == Some(crate::journal::STATION_DISCONNECTED))
    );
}

#[test]
fn a_failed_commit_answers_internal_error_and_the_message_is_not_the_answer() {
    let mut pair = Pair::new(station("CP1", ProtocolVersion::V16, 1));
    pair.fail_commits = true;
    let (ended, _) = pair.trigger(request("Heartbeat"));
    assert!(collected(&ended).messages.is_empty(), "{ended:?}");
    assert!(
        pair.journal
            .iter()
            .any(|e| e.payload.contains("InternalError"))
    );
}

#[test]
fn malformed_and_oversized_frames_get_a_call_error_and_the_session_lives_on() {
    let mut pair = Pair::new(station("CP1", ProtocolVersion::V16, 1));
    let now = pair.server_now();
    pair.server.on_text("[2, \"x\"", now);
    pair.server.on_text(
        &format!(
            "[2,\"big\",\"DataTransfer\",{{\"vendorId\":\"{}\"}}]",
            "x".repeat(70_000)
        ),
        now,
    );
    let out = pair.server.poll(now);
    let sent: Vec<Value> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send(t) => serde_json::from_str(t).ok(),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0][0], 4);
    assert_eq!(sent[1][1], "big");
    let (ended, _) = pair.trigger(request("Heartbeat"));
    assert_eq!(collected(&ended).messages.len(), 1);
}

/// Folds the pair's journal as start-up would (seqs assigned in order).
fn replayed(pair: &Pair) -> StationState {
    let mut projection = crate::projection::Projection::default();
    for (i, entry) in pair.journal.iter().enumerate() {
        let mut entry = entry.clone();
        entry.seq = i64::try_from(i).unwrap_or(i64::MAX) + 1;
        projection.apply(&entry);
    }
    let mut states = projection.into_states();
    assert_eq!(states.len(), 1, "one station journaled");
    states.remove(0)
}

/// The journal is the source of truth: folding what a session journaled gives the state
/// the session kept live (apart from being connected, which no restart keeps).
#[test]
fn replaying_the_journal_rebuilds_the_live_state_of_every_version() {
    for protocol in ProtocolVersion::ALL {
        for mark in [true, false] {
            let mut cfg = sampling("CP-replay", protocol, 2, Duration::from_secs(5));
            cfg.mark_triggered = mark;
            let mut pair = Pair::new(cfg);
            let now = pair.now;
            pair.station.start_transaction(0, "TAG-A", now);
            pair.advance(Duration::from_secs(12));
            for name in trigger_plan::valid_messages(protocol) {
                if name == trigger_plan::CUSTOM_TRIGGER {
                    continue;
                }
                let request = match name {
                    "StatusNotification" if protocol.is_v2() => on_evse(name, 1, Some(1)),
                    _ => request(name),
                };
                pair.trigger(request);
            }
            pair.advance(Duration::from_secs(6));
            let mut live = pair.state.lock().clone();
            live.connected_since = None;
            assert_eq!(
                replayed(&pair),
                live,
                "{protocol} (marking {mark}): the journal does not rebuild the live state"
            );
        }
    }
}

#[test]
fn replay_keeps_lenient_violations_and_validation_of_a_later_policy() {
    let mut pair = Pair::new(station("CP-lenient", ProtocolVersion::V16, 1));
    pair.state.lock().validation_mode = Some(ValidationMode::Lenient);
    pair.journal.push(JournalEntry {
        seq: 0,
        station_id: "CP-lenient".into(),
        direction: crate::Direction::In,
        frame_type: crate::journal::EVENT,
        message_id: None,
        action: Some(crate::projection::VALIDATION_MODE_CHANGED.into()),
        payload: r#"{"mode":"lenient"}"#.into(),
        at: pair.now.wall_ms,
        violation: None,
        trigger_id: None,
    });
    pair.server.on_text(
        r#"[2,"bad-1","Heartbeat",{"unexpected":true}]"#,
        pair.server_now(),
    );
    pair.settle();
    let live = pair.state.lock().clone();
    assert_eq!(
        live.violations, 1,
        "the lenient policy let one violation through"
    );
    let mut expected = live;
    expected.connected_since = None;
    assert_eq!(replayed(&pair), expected);
}

#[test]
fn an_accepted_local_list_sets_the_version_in_the_state_and_the_journal_rebuilds_it() {
    use crate::authorization::local_list::{self, UpdateType};
    for version in [ProtocolVersion::V16, ProtocolVersion::V201] {
        let mut pair = Pair::new(station("CP1", version, 1));
        let call = |pair: &mut Pair, action: &str, payload: Value, ask: u32| {
            pair.server.push_call(
                CsmsCall {
                    action: action.into(),
                    payload,
                    timeout: Duration::from_secs(5),
                    caller: Ask(ask),
                    watch: None,
                    redact: false,
                },
                pair.server_now(),
            );
            pair.settle();
            pair.ended.pop().expect("answered").1.outcome
        };
        let list = local_list::build(version, UpdateType::Full, 3, &[], 0);
        assert!(call(&mut pair, "SendLocalList", list.payload, 1).is_accepted());
        let known = pair.state.lock().local_list.clone().expect("known");
        assert_eq!((known.version, known.source.as_str()), (3, "SendLocalList"));
        // A Differential update at the same version is refused: the version stays.
        let old = local_list::build(version, UpdateType::Differential, 3, &[], 0);
        let refused = call(&mut pair, "SendLocalList", old.payload, 2);
        assert_eq!(refused.status_name(), "VersionMismatch");
        assert_eq!(
            pair.state.lock().local_list.as_ref().map(|l| l.version),
            Some(3)
        );
        call(&mut pair, "GetLocalListVersion", serde_json::json!({}), 3);
        let known = pair.state.lock().local_list.clone().expect("known");
        assert_eq!(
            (known.version, known.source.as_str()),
            (3, "GetLocalListVersion")
        );
        // Folding the journal gives the same state.
        let mut projection = crate::projection::Projection::default();
        for (seq, entry) in pair.journal.iter().enumerate() {
            let mut entry = entry.clone();
            entry.seq = i64::try_from(seq).unwrap_or(0) + 1;
            projection.apply(&entry);
        }
        let folded = projection.into_states().pop().expect("one station");
        assert_eq!(folded.local_list, pair.state.lock().local_list, "{version}");
    }
}

#[test]
fn a_station_call_changes_the_state_only_once_its_commit_is_durable() {
    let mut pair = Pair::new(station("CP1", ProtocolVersion::V16, 1));
    let faulted = |id: &str| {
        format!(
            r#"[2,"{id}","StatusNotification",{{"connectorId":1,"errorCode":"GroundFailure","status":"Faulted"}}]"#
        )
    };
    let is_faulted =
        |pair: &Pair| format!("{:?}", pair.state.lock().connectors).contains("Faulted");
    assert!(!is_faulted(&pair));
    pair.fail_commits = true;
    pair.server.on_text(&faulted("lost"), pair.server_now());
    pair.settle();
    assert!(
        !is_faulted(&pair),
        "a message the journal lost must not be in the live state"
    );
    pair.fail_commits = false;
    pair.server.on_text(&faulted("kept"), pair.server_now());
    pair.settle();
    assert!(is_faulted(&pair), "the committed message is applied");
}
