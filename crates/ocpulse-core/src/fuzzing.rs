//! Entry point for the inbound-pipeline fuzz target in `fuzz/` (cargo-fuzz, nightly) and for
//! the corpus replay test that runs it on stable (`tests/fuzz_corpus.rs`). Not an API: hidden
//! from the docs, kept here so both callers check the same properties.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ocpp_rpc::{ProtocolVersion, SchemaRegistry};

use crate::authorization::Policy;
use crate::projection::Projection;
use crate::session::{
    Caller, CsmsCall, Now, Output, ServerSession, SessionEnv, SessionSettings, TransactionIds,
    TriggerWatch,
};
use crate::trigger_plan::{self, EvseTarget, TriggerRequest};
use crate::{JournalEntry, StationState, ValidationMode};

/// The station id every fuzzed session serves.
const STATION: &str = "FUZZ1";

/// The schemas, compiled once per process (compiling them is most of a session's cost).
fn schemas() -> Arc<SchemaRegistry> {
    static SCHEMAS: OnceLock<Arc<SchemaRegistry>> = OnceLock::new();
    Arc::clone(SCHEMAS.get_or_init(|| {
        Arc::new(SchemaRegistry::load().unwrap_or_else(|e| panic!("the schemas load: {e}")))
    }))
}

/// 1.6 transaction ids counting up, as the server's allocator does.
struct Ids(AtomicI64);

impl TransactionIds for Ids {
    fn next_transaction_id(&self) -> Option<i64> {
        Some(self.0.fetch_add(1, Ordering::Relaxed))
    }
}

/// A caller that always waits.
#[derive(Debug)]
struct Waiting;

impl Caller for Waiting {}

/// Drives one server session with a script, the way the WebSocket driver does, and checks
/// that it neither panics nor breaks "the journal is the source of truth": folding what it
/// journaled gives the state it kept live.
///
/// The first byte picks the version, validation policy and authorization policy; the rest
/// is read as lines (UTF-8, lossily):
/// - `+MILLIS`: time passes (deadlines fire);
/// - `?NAME [TARGET [CONNECTOR]]`: the API triggers `NAME` (planned as the API plans it; on
///   a 1.6 station TARGET is the connector, on 2.x the EVSE);
/// - `!`: the commit in flight fails (the store is broken for that one);
/// - anything else: a text frame from the station.
///
/// The session's own CALL ids are `f-1`, `f-2`, ..., so a script can answer them.
pub fn pipeline(data: &[u8]) {
    let Some((&mode, script)) = data.split_first() else {
        return;
    };
    let protocol = ProtocolVersion::ALL[usize::from(mode % 3)];
    let validation = ValidationMode::ALL[usize::from((mode / 3) % 2)];
    let authorization = if (mode / 6) % 2 == 0 {
        Policy::AcceptAll
    } else {
        Policy::Registry
    };
    let env = Arc::new(SessionEnv {
        settings: SessionSettings {
            heartbeat_interval: 300,
            validation,
            max_frame_bytes: 16 * 1024,
            call_timeout: Duration::from_secs(30),
            quiet_period: Duration::from_millis(750),
            csr_organization: None,
            authorization,
            node: None,
        },
        schemas: schemas(),
        issuer: None,
        transaction_ids: Arc::new(Ids(AtomicI64::new(1))),
        id_tokens: Arc::default(),
    });
    let state = Arc::new(parking_lot::Mutex::new(StationState::new(STATION)));
    let mut session: ServerSession<Waiting> =
        ServerSession::new(env, STATION.into(), protocol, Arc::clone(&state), "f");
    let start = Instant::now();
    let mut now = Now {
        mono: start,
        wall: 1_800_000_000_000,
    };
    let mut journal = Vec::new();
    let mut fail_next = false;
    session.on_connect(1, now);
    let text = String::from_utf8_lossy(script);
    for line in text.split('\n') {
        if let Some(ms) = line.strip_prefix('+') {
            let ms = ms.trim().parse::<u64>().unwrap_or(0).min(120_000);
            now.mono += Duration::from_millis(ms);
            now.wall += i64::try_from(ms).unwrap_or(0);
        } else if let Some(request) = line.strip_prefix('?') {
            trigger(&mut session, &state, protocol, request, now);
        } else if line == "!" {
            fail_next = true;
        } else {
            session.on_text(line, now);
        }
        settle(&mut session, &mut journal, &mut fail_next, now);
    }
    let mut live = state.lock().clone();
    live.connected_since = None;
    let mut projection = Projection::default();
    for (seq, entry) in (1..).zip(&journal) {
        let entry = JournalEntry {
            seq,
            ..entry.clone()
        };
        projection.apply(&entry);
    }
    let replayed = projection.into_states();
    assert_eq!(replayed.len(), 1, "one station journaled");
    // A station CALL is applied to the live state only once its commit is durable, so
    // even after a failed commit the journal rebuilds exactly the live state.
    assert_eq!(
        replayed[0], live,
        "the journal does not rebuild the live state"
    );
    session.on_close(1, "fuzz input ended", now);
}

/// Plans a trigger as the API does and hands it to the session; a request the planner
/// refuses (a 400 at the API) is dropped.
fn trigger(
    session: &mut ServerSession<Waiting>,
    state: &crate::store::SharedStation,
    protocol: ProtocolVersion,
    request: &str,
    now: Now,
) {
    let mut words = request.split_whitespace();
    let Some(name) = words.next() else { return };
    let target = words.next().and_then(|w| w.parse::<i64>().ok());
    let connector = words.next().and_then(|w| w.parse::<i64>().ok());
    let request = TriggerRequest {
        requested_message: name.to_owned(),
        evse: target.filter(|_| protocol.is_v2()).map(|id| EvseTarget {
            id,
            connector_id: connector,
        }),
        connector_id: target.filter(|_| !protocol.is_v2()),
        custom_trigger: None,
    };
    let plan = {
        let station = state.lock();
        trigger_plan::plan(protocol, &request, &station)
    };
    let Ok(plan) = plan else { return };
    session.push_call(
        CsmsCall {
            action: plan.action.to_owned(),
            payload: plan.payload,
            timeout: Duration::from_secs(10),
            caller: Waiting,
            watch: Some(TriggerWatch {
                trigger_id: "fuzz-trigger".into(),
                expectation: plan.expectation,
            }),
            redact: false,
        },
        now,
    );
}

/// Polls the session and completes its commits (failing one when asked) until it is quiet,
/// keeping what it journaled and what was committed.
fn settle(
    session: &mut ServerSession<Waiting>,
    journal: &mut Vec<JournalEntry>,
    fail_next: &mut bool,
    now: Now,
) {
    for _ in 0..64 {
        let mut commits = Vec::new();
        for output in session.poll(now) {
            match output {
                Output::Write(batch) => journal.extend(batch.entries),
                Output::Commit { id, batch } => commits.push((id, batch.entries)),
                Output::Send(_) | Output::Ended { .. } => {}
            }
        }
        if commits.is_empty() {
            return;
        }
        for (id, entries) in commits {
            // A failed commit stored nothing.
            let result = if std::mem::take(fail_next) {
                Err(crate::store::StoreError::Database(
                    "fuzz: the disk is full".into(),
                ))
            } else {
                journal.extend(entries);
                Ok(())
            };
            session.on_committed(id, result, now);
        }
    }
}
