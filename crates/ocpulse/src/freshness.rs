//! Freshness targets and the liveness probe, live. Once a second every connected station
//! is checked: data a target watches that has gone stale is refreshed with a trigger
//! (never two refreshes of one station for one target at once, and a failed refresh is
//! not repeated before the target's max age has passed again); a station quiet for
//! `--probe-after` is probed with a triggered Heartbeat, and declared unresponsive (a
//! `StationUnresponsive` journal event) only when the probe fails.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ocpulse_core::freshness::{FreshnessTarget, needs_probe};
use ocpulse_core::journal::EVENT;
use ocpulse_core::store::{Doc, StoreError, WriteBatch};
use ocpulse_core::trigger_plan::TriggerRequest;
use ocpulse_core::trigger_record::Outcome;
use ocpulse_core::{Direction, JournalEntry, Millis};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::app::App;
use crate::now_ms;

use crate::trigger_service::{self, TriggerOptions};

/// The store document kind of a freshness target.
pub const DOC_KIND: &str = "freshness";

/// How often stations are checked.
const TICK: Duration = Duration::from_secs(1);

/// Refreshes and probes in flight at once, across every target.
const BUDGET: usize = 256;

/// What one target has done.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetStats {
    /// Refresh triggers started.
    pub refreshes: u64,
    /// Of those, how many brought the data.
    pub succeeded: u64,
    /// And how many did not.
    pub failed: u64,
    /// Each station's latest refresh: outcome, when, trigger record.
    pub stations: BTreeMap<String, LastRefresh>,
}

/// A station's latest refresh under a target.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastRefresh {
    /// The trigger's outcome.
    pub outcome: Outcome,
    /// When it ended.
    pub at: Millis,
    /// Its record.
    pub trigger_id: String,
}

#[derive(Debug)]
struct Live {
    target: FreshnessTarget,
    stats: TargetStats,
    /// Stations not to refresh again before this instant (after a failed refresh).
    cooling: HashMap<String, Instant>,
}

/// Where a station stands for the liveness probe.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Liveness {
    /// `probing` or `unresponsive` (a station with no entry is responsive).
    pub status: &'static str,
    /// Since when.
    pub since: Millis,
    /// The failed probe's outcome, when unresponsive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_outcome: Option<String>,
    /// The failed probe's record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_id: Option<String>,
}

/// Freshness targets and liveness state.
#[derive(Debug)]
pub struct Freshness {
    targets: Mutex<BTreeMap<String, Live>>,
    inflight: Mutex<HashSet<(String, String)>>,
    liveness: Mutex<HashMap<String, Liveness>>,
    /// When each station's current connection was first seen (by session generation), and
    /// when it was last probed: silence is counted from the later of the two.
    sessions: Mutex<HashMap<String, (u64, Millis)>>,
    budget: Arc<Semaphore>,
}

impl Default for Freshness {
    fn default() -> Self {
        Self {
            targets: Mutex::default(),
            inflight: Mutex::default(),
            liveness: Mutex::default(),
            sessions: Mutex::default(),
            budget: Arc::new(Semaphore::new(BUDGET)),
        }
    }
}

/// The key of the liveness probe in the in-flight set (targets use their ids).
const PROBE: &str = "probe";

impl Freshness {
    /// Every target with what it has done.
    pub fn list(&self) -> Vec<(FreshnessTarget, TargetStats)> {
        self.targets
            .lock()
            .values()
            .map(|l| (l.target.clone(), l.stats.clone()))
            .collect()
    }

    /// One target with what it has done.
    pub fn get(&self, id: &str) -> Option<(FreshnessTarget, TargetStats)> {
        let map = self.targets.lock();
        map.get(id).map(|l| (l.target.clone(), l.stats.clone()))
    }

    /// A station's liveness, `None` when responsive.
    pub fn liveness(&self, station: &str) -> Option<Liveness> {
        self.liveness.lock().get(station).cloned()
    }

    fn insert(&self, target: FreshnessTarget) {
        self.targets.lock().insert(
            target.id.clone(),
            Live {
                target,
                stats: TargetStats::default(),
                cooling: HashMap::new(),
            },
        );
    }

    /// Marks a (target, station) refresh as running; false if one already is.
    fn claim(&self, key: &str, station: &str) -> bool {
        self.inflight
            .lock()
            .insert((key.to_owned(), station.to_owned()))
    }

    fn release(&self, key: &str, station: &str) {
        self.inflight
            .lock()
            .remove(&(key.to_owned(), station.to_owned()));
    }
}

/// Stores a new target durably and starts watching it.
pub async fn put(app: &App, target: FreshnessTarget) -> Result<(), StoreError> {
    app.store
        .save_docs(vec![Doc::put(DOC_KIND, target.id.clone(), &target)?])
        .await?;
    app.freshness.insert(target);
    Ok(())
}

/// Deletes a target; `false` if there was none.
pub async fn delete(app: &App, id: &str) -> Result<bool, StoreError> {
    let existed = app.freshness.targets.lock().remove(id).is_some();
    if existed {
        app.store
            .save_docs(vec![Doc::delete(DOC_KIND, id.to_owned())])
            .await?;
    }
    Ok(existed)
}

/// Loads the stored targets and starts checking after `delay`.
pub async fn start(app: &Arc<App>, delay: Duration) -> Result<usize, StoreError> {
    let docs = app.store.docs(DOC_KIND).await?;
    let n = docs.len();
    for (id, body) in docs {
        match serde_json::from_str::<FreshnessTarget>(&body) {
            Ok(t) => app.freshness.insert(t),
            Err(e) => {
                tracing::warn!(target_id = %id, error = %e, "stored freshness target unreadable; skipped")
            }
        }
    }
    tokio::spawn(run(Arc::clone(app), delay));
    Ok(n)
}

async fn run(app: Arc<App>, delay: Duration) {
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = app.shutdown.cancelled() => return,
    }
    loop {
        tokio::select! {
            () = tokio::time::sleep(TICK) => {}
            () = app.shutdown.cancelled() => return,
        }
        check(&app);
    }
}

/// One pass over every connected station. Station states are read in place under their
/// own lock (never cloned: this runs every second over the whole fleet), and no freshness
/// lock is held while a station's is taken that the API takes the other way round.
fn check(app: &Arc<App>) {
    let targets_empty = app.freshness.targets.lock().is_empty();
    let probe_ms = i64::try_from(app.config.probe_after.as_millis()).unwrap_or(i64::MAX);
    if targets_empty && probe_ms == 0 {
        return;
    }
    let now = now_ms();
    let instant = Instant::now();
    let entries = app.stations.all();
    // Liveness as it is now (the API locks it while holding a station's state).
    let unresponsive: HashMap<String, Millis> = app
        .freshness
        .liveness
        .lock()
        .iter()
        .map(|(id, x)| (id.clone(), x.since))
        .collect();
    let mut work: Vec<(String, String, TriggerRequest)> = Vec::new();
    let mut probes: Vec<(String, Millis)> = Vec::new();
    let mut recovered: Vec<(String, Option<Millis>)> = Vec::new();
    {
        let mut targets = app.freshness.targets.lock();
        let mut sessions = app.freshness.sessions.lock();
        for live in targets.values_mut() {
            live.cooling.retain(|_, until| *until > instant);
        }
        // Forget connections that ended; remember when new ones were first seen.
        let generations: HashMap<&str, u64> = entries
            .iter()
            .filter_map(|(id, e)| Some((id.as_str(), e.session.as_ref()?.generation)))
            .collect();
        sessions.retain(|id, (g, _)| generations.get(id.as_str()) == Some(g));
        for (id, e) in &entries {
            let Some(session) = &e.session else {
                continue;
            };
            let since = sessions
                .entry(id.clone())
                .or_insert((session.generation, now))
                .1;
            let state = e.state.lock();
            for live in targets.values() {
                if live.cooling.contains_key(id) || !live.target.selector.selects(&state, true) {
                    continue;
                }
                if let Some(request) = live.target.stale(&state, now) {
                    work.push((live.target.id.clone(), id.clone(), request));
                }
            }
            if probe_ms > 0 {
                match unresponsive.get(id) {
                    Some(at) if state.last_seen.is_some_and(|seen| seen > *at) => {
                        recovered.push((id.clone(), state.last_seen));
                    }
                    Some(_) => {}
                    None if needs_probe(state.last_seen, since, probe_ms, now) => {
                        probes.push((id.clone(), state.last_seen.unwrap_or(since).max(since)));
                    }
                    None => {}
                }
            }
        }
    }
    for (target_id, station, request) in work {
        if app.freshness.claim(&target_id, &station) {
            tokio::spawn(refresh(Arc::clone(app), target_id, station, request));
        }
    }
    for (station, quiet_since) in probes {
        if app.freshness.claim(PROBE, &station) {
            tokio::spawn(probe(Arc::clone(app), station, quiet_since));
        }
    }
    for (station, last_seen) in recovered {
        mark_recovered(app, &station, last_seen);
    }
}

/// Starts a trigger on behalf of ocpulse itself and waits for its record.
async fn own_trigger(
    app: &Arc<App>,
    station: &str,
    request: TriggerRequest,
    requested_by: String,
) -> Option<Arc<ocpulse_core::trigger_record::TriggerRecord>> {
    let _permit = Arc::clone(&app.freshness.budget)
        .acquire_owned()
        .await
        .ok()?;
    crate::cluster::locate(app, station).await;
    let options = TriggerOptions {
        requested_by,
        request_json: json!({"requestedMessage": request.requested_message}),
        // A station has as long as for any CSMS call (`--call-timeout`).
        timeout: app.config.call_timeout,
        store_start: false,
    };
    // In a cluster, a station held by another node is triggered there.
    let run =
        trigger_service::prepare_anywhere(app, station, request, options, Instant::now()).ok()?;
    trigger_service::run_prepared(app, run).await.ok()
}

async fn refresh(app: Arc<App>, target_id: String, station: String, request: TriggerRequest) {
    let record = own_trigger(&app, &station, request, format!("freshness:{target_id}")).await;
    if let Some(live) = app.freshness.targets.lock().get_mut(&target_id) {
        live.stats.refreshes += 1;
        let ok = record
            .as_ref()
            .is_some_and(|r| matches!(r.outcome, Outcome::Completed | Outcome::Partial));
        if ok {
            live.stats.succeeded += 1;
        } else {
            live.stats.failed += 1;
            // Do not hammer a station that cannot refresh: wait a max age before again.
            let wait = Duration::from_secs(live.target.max_age_seconds);
            live.cooling.insert(station.clone(), Instant::now() + wait);
        }
        if let Some(r) = &record {
            live.stats.stations.insert(
                station.clone(),
                LastRefresh {
                    outcome: r.outcome,
                    at: now_ms(),
                    trigger_id: r.id.clone(),
                },
            );
        }
    }
    app.freshness.release(&target_id, &station);
}

fn event(station: &str, name: &str, payload: serde_json::Value) -> JournalEntry {
    JournalEntry {
        seq: 0,
        station_id: station.to_owned(),
        direction: Direction::Out,
        frame_type: EVENT,
        message_id: None,
        action: Some(name.to_owned()),
        payload: payload.to_string(),
        at: now_ms(),
        violation: None,
        trigger_id: None,
    }
}

/// Probes a quiet station with a triggered Heartbeat.
async fn probe(app: Arc<App>, station: String, quiet_since: Millis) {
    let started = now_ms();
    app.freshness.liveness.lock().insert(
        station.clone(),
        Liveness {
            status: "probing",
            since: started,
            probe_outcome: None,
            trigger_id: None,
        },
    );
    let request = TriggerRequest {
        requested_message: "Heartbeat".into(),
        ..TriggerRequest::default()
    };
    let record = own_trigger(&app, &station, request, "probe".into()).await;
    let outcome = record
        .as_ref()
        .map_or("NotStarted", |r| r.outcome.as_str())
        .to_owned();
    // The next probe counts silence from this one.
    if let Some(entry) = app.freshness.sessions.lock().get_mut(&station) {
        entry.1 = now_ms();
    }
    if outcome == Outcome::Completed.as_str() {
        app.freshness.liveness.lock().remove(&station);
    } else if outcome != Outcome::Disconnected.as_str() && outcome != "NotStarted" {
        let trigger_id = record.map(|r| r.id.clone());
        tracing::warn!(station = %station, outcome = %outcome, "station unresponsive: its socket is open but it did not answer a Heartbeat probe");
        // The verdict is in the journal (and on the event stream) before the API shows it.
        let entry = event(
            &station,
            "StationUnresponsive",
            json!({"probeOutcome": outcome, "triggerId": trigger_id, "quietSince": ocpulse_core::rfc3339(quiet_since), "probedAt": ocpulse_core::rfc3339(started)}),
        );
        if let Err(e) = app
            .store
            .commit(WriteBatch {
                entries: vec![entry],
                ..WriteBatch::default()
            })
            .await
        {
            tracing::error!(station = %station, error = %e, "could not journal StationUnresponsive");
        }
        let liveness = Liveness {
            status: "unresponsive",
            since: now_ms(),
            probe_outcome: Some(outcome.clone()),
            trigger_id,
        };
        app.freshness
            .liveness
            .lock()
            .insert(station.clone(), liveness);
    } else {
        app.freshness.liveness.lock().remove(&station);
    }
    app.freshness.release(PROBE, &station);
}

/// An unresponsive station that has sent something since is responsive again.
fn mark_recovered(app: &App, id: &str, last_seen: Option<Millis>) {
    let removed = {
        let mut l = app.freshness.liveness.lock();
        l.get(id).is_some_and(|x| x.status == "unresponsive") && l.remove(id).is_some()
    };
    if removed {
        app.store.record(vec![event(
            id,
            "StationResponsive",
            json!({"lastSeen": last_seen.map(ocpulse_core::rfc3339)}),
        )]);
    }
}
