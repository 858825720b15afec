//! Applying a profile to the stations it applies to, as a job: each station's profile keys
//! are read fresh, the drifting ones set (ChangeConfiguration / SetVariables), and the keys
//! read again to verify. Every key's answer is kept, `RebootRequired` included; the job is
//! a store document, readable while it runs and after.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use ocpulse_core::rfc3339;
use ocpulse_core::station_config::{self as rules, ConfigProfile, DriftItem, KeyResult};
use ocpulse_core::store::{Doc, StoreError};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, Semaphore};

use super::drift::describe;
use super::read::{self, live_session};
use crate::app::App;
use crate::call_run::{self, CallOptions};
use crate::now_ms;
use crate::registry::CallOutcome;

/// The store document kind of an apply job.
pub const APPLY_KIND: &str = "config_apply";

/// Keys per SetVariables when the station's `ItemsPerMessage[SetVariables]` is not known.
const DEFAULT_SET_PER_MESSAGE: usize = 10;

/// How one station ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StationOutcome {
    /// Not done yet.
    Pending,
    /// Nothing to change: every setting already at its desired value.
    Compliant,
    /// Every drifting setting set and verified.
    Applied,
    /// Set, but the station needs a reboot for some (`RebootRequired`); nothing is hidden:
    /// those keys' results say so.
    RebootRequired,
    /// The station refused some settings (`Rejected`, `NotSupported`, unknown keys).
    Partial,
    /// It could not be read or written (not connected, a CALLERROR, no answer).
    Failed,
    /// ocpulse stopped before its result was kept: it may have been set in part (a read
    /// of its configuration tells).
    Interrupted,
}

/// One station's part of a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StationApply {
    /// The station.
    pub station_id: String,
    /// How it ended.
    pub outcome: StationOutcome,
    /// What drifted before (as read fresh).
    #[serde(default)]
    pub drift: Vec<DriftItem>,
    /// Each key sent, with the station's answer.
    #[serde(default)]
    pub results: Vec<KeyResult>,
    /// What still drifts after (as read again).
    #[serde(default)]
    pub remaining: Vec<DriftItem>,
    /// Why it failed, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An apply job.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyJob {
    /// Its id.
    pub id: String,
    /// The profile applied (as it was when the job started).
    pub profile_id: String,
    /// `running`, `finished`, or `interrupted` (ocpulse stopped while it ran).
    pub status: String,
    /// When it started (RFC 3339).
    pub created_at: String,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Stations by outcome.
    pub counts: BTreeMap<String, usize>,
    /// Every station, in id order.
    pub stations: Vec<StationApply>,
}

impl ApplyJob {
    fn count(&mut self) {
        let mut counts = BTreeMap::new();
        for s in &self.stations {
            let name = serde_json::to_value(s.outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            *counts.entry(name).or_insert(0) += 1;
        }
        self.counts = counts;
    }
}

/// Running jobs, for reads while they run (finished ones are read from the store).
#[derive(Default)]
pub struct Applies {
    running: Mutex<HashMap<String, Arc<Mutex<ApplyJob>>>>,
}

impl std::fmt::Debug for Applies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applies")
            .field("running", &self.running.lock().len())
            .finish()
    }
}

/// A job as it stands: from memory while it runs, else from the store.
pub async fn get(app: &App, id: &str) -> Result<Option<ApplyJob>, StoreError> {
    let running = app
        .config_applies
        .running
        .lock()
        .get(id)
        .map(|j| j.lock().clone());
    if running.is_some() {
        return Ok(running);
    }
    Ok(app
        .store
        .doc(APPLY_KIND, id.to_owned())
        .await?
        .and_then(|body| serde_json::from_str(&body).ok()))
}

/// Every stored job, newest first.
pub async fn list(app: &App) -> Result<Vec<ApplyJob>, StoreError> {
    let mut jobs: Vec<ApplyJob> = app
        .store
        .docs(APPLY_KIND)
        .await?
        .into_iter()
        .filter_map(|(_, body)| serde_json::from_str(&body).ok())
        .collect();
    for job in app.config_applies.running.lock().values() {
        let job = job.lock().clone();
        jobs.retain(|j| j.id != job.id);
        jobs.push(job);
    }
    jobs.sort_by(|a, b| b.id.cmp(&a.id));
    Ok(jobs)
}

/// What an interrupted station's `error` says.
pub const INTERRUPTED_ERROR: &str = "ocpulse stopped before this station's result was kept; it may have been set in part: read its configuration to see";

/// Marks every job stored as running interrupted, its unfinished stations too: run at
/// start, before any job can start, when no task of this process runs one; a job's task
/// does not outlive its process, so without this a job cut by a stop would say `running`
/// for ever. Returns how many were marked.
pub async fn mark_interrupted(app: &App) -> Result<usize, StoreError> {
    let mut docs = Vec::new();
    for (id, body) in app.store.docs(APPLY_KIND).await? {
        let Ok(mut job) = serde_json::from_str::<ApplyJob>(&body) else {
            continue;
        };
        if job.status != "running" {
            continue;
        }
        job.status = "interrupted".into();
        job.finished_at = Some(rfc3339(now_ms()));
        for s in &mut job.stations {
            if s.outcome == StationOutcome::Pending {
                s.outcome = StationOutcome::Interrupted;
                s.error = Some(INTERRUPTED_ERROR.into());
            }
        }
        job.count();
        docs.push(Doc::put(APPLY_KIND, id, &job)?);
    }
    let marked = docs.len();
    if marked > 0 {
        app.store.save_docs(docs).await?;
        tracing::warn!(
            jobs = marked,
            "configuration apply jobs were running when ocpulse stopped; marked interrupted"
        );
    }
    Ok(marked)
}

/// Starts applying `profile` to `stations` (ids it applies to) and returns the job and a
/// notification for its end.
pub async fn start(
    app: &Arc<App>,
    profile: ConfigProfile,
    stations: Vec<String>,
    timeout: Duration,
    concurrency: usize,
) -> Result<(ApplyJob, Arc<Notify>), StoreError> {
    let mut job = ApplyJob {
        id: uuid::Uuid::now_v7().simple().to_string(),
        profile_id: profile.id.clone(),
        status: "running".into(),
        created_at: rfc3339(now_ms()),
        finished_at: None,
        counts: BTreeMap::new(),
        stations: stations
            .iter()
            .map(|s| StationApply {
                station_id: s.clone(),
                outcome: StationOutcome::Pending,
                drift: Vec::new(),
                results: Vec::new(),
                remaining: Vec::new(),
                error: None,
            })
            .collect(),
    };
    job.count();
    app.store
        .save_docs(vec![Doc::put(APPLY_KIND, job.id.clone(), &job)?])
        .await?;
    let shared = Arc::new(Mutex::new(job.clone()));
    let done = Arc::new(Notify::new());
    app.config_applies
        .running
        .lock()
        .insert(job.id.clone(), Arc::clone(&shared));
    let app = Arc::clone(app);
    let (notify, id) = (Arc::clone(&done), job.id.clone());
    tokio::spawn(async move {
        run(&app, &profile, &shared, timeout, concurrency).await;
        let finished = {
            let mut j = shared.lock();
            j.status = "finished".into();
            j.finished_at = Some(rfc3339(now_ms()));
            j.count();
            j.clone()
        };
        match Doc::put(APPLY_KIND, id.clone(), &finished) {
            Ok(doc) => {
                if let Err(e) = app.store.save_docs(vec![doc]).await {
                    tracing::warn!(job = %id, error = %e, "could not store a finished configuration apply job");
                }
            }
            Err(e) => {
                tracing::warn!(job = %id, error = %e, "could not serialize a configuration apply job")
            }
        }
        app.config_applies.running.lock().remove(&id);
        notify.notify_waiters();
    });
    Ok((job, done))
}

async fn run(
    app: &Arc<App>,
    profile: &ConfigProfile,
    job: &Arc<Mutex<ApplyJob>>,
    timeout: Duration,
    concurrency: usize,
) {
    let ids: Vec<String> = job
        .lock()
        .stations
        .iter()
        .map(|s| s.station_id.clone())
        .collect();
    let limit = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, station_id) in ids.into_iter().enumerate() {
        let (app, limit, job, profile) = (
            Arc::clone(app),
            Arc::clone(&limit),
            Arc::clone(job),
            profile.clone(),
        );
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let result = apply_one(&app, &profile, &station_id, timeout).await;
            let mut j = job.lock();
            if let Some(slot) = j.stations.get_mut(index) {
                *slot = result;
            }
            j.count();
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Reads, sets and verifies one station.
pub async fn apply_one(
    app: &Arc<App>,
    profile: &ConfigProfile,
    station_id: &str,
    timeout: Duration,
) -> StationApply {
    let mut out = StationApply {
        station_id: station_id.to_owned(),
        outcome: StationOutcome::Failed,
        drift: Vec::new(),
        results: Vec::new(),
        remaining: Vec::new(),
        error: None,
    };
    let keys: Vec<String> = profile.settings.keys().cloned().collect();
    let before = match read::read_and_store(app, station_id, Some(&keys), timeout).await {
        Ok(s) => s,
        Err(e) => {
            out.error = Some(describe(&e));
            return out;
        }
    };
    out.drift = rules::diff(&profile.settings, &before.entries);
    if out.drift.is_empty() {
        out.outcome = StationOutcome::Compliant;
        return out;
    }
    let session = match live_session(app, station_id) {
        Ok(s) => s,
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    let per_message = before
        .entries
        .get("DeviceDataCtrlr.ItemsPerMessage[SetVariables]")
        .and_then(|e| e.value.as_deref())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(DEFAULT_SET_PER_MESSAGE);
    let settings: Vec<(String, String)> = out
        .drift
        .iter()
        .map(|d| (d.key.clone(), d.desired.clone()))
        .collect();
    let calls = match rules::apply_calls(session.protocol.family(), &settings, per_message) {
        Ok(c) => c,
        Err(why) => {
            out.error = Some(why);
            return out;
        }
    };
    let value_of = |key: &str| profile.settings.get(key).cloned().unwrap_or_default();
    for call in &calls {
        let options = CallOptions::new(read::REQUESTED_BY, timeout);
        let answer =
            match call_run::call(app, station_id, call.action, call.payload.clone(), options).await
            {
                Err(e) => Err(format!("not sent: {}", e.code())),
                Ok(ended) => match ended.outcome {
                    CallOutcome::Result(response) => Ok(response),
                    CallOutcome::Error { code, .. } => Err(format!("CallError {code}")),
                    CallOutcome::InvalidResponse { .. } => Err("InvalidResponse".into()),
                    CallOutcome::Timeout => Err("Timeout".into()),
                    CallOutcome::Disconnected => Err("Disconnected".into()),
                },
            };
        match answer {
            Ok(response) => {
                out.results
                    .extend(rules::read_apply_answer(call, &response).into_iter().map(
                        |(key, status)| KeyResult {
                            value: value_of(&key),
                            key,
                            status,
                        },
                    ))
            }
            Err(status) => out.results.extend(call.keys.iter().map(|key| KeyResult {
                key: key.clone(),
                value: value_of(key),
                status: status.clone(),
            })),
        }
    }
    match read::read_and_store(app, station_id, Some(&keys), timeout).await {
        Ok(after) => out.remaining = rules::diff(&profile.settings, &after.entries),
        Err(e) => out.error = Some(format!("set, but not verified: {}", describe(&e))),
    }
    let status = |s: &str| out.results.iter().any(|r| r.status == s);
    let all_answered = out
        .results
        .iter()
        .all(|r| matches!(r.status.as_str(), "Accepted" | "RebootRequired"));
    out.outcome = if status("RebootRequired") && all_answered {
        StationOutcome::RebootRequired
    } else if all_answered && out.remaining.is_empty() && out.error.is_none() {
        StationOutcome::Applied
    } else if out.results.iter().any(|r| {
        matches!(
            r.status.as_str(),
            "Accepted"
                | "RebootRequired"
                | "Rejected"
                | "NotSupported"
                | "UnknownComponent"
                | "UnknownVariable"
        )
    }) {
        StationOutcome::Partial
    } else {
        StationOutcome::Failed
    };
    out
}
