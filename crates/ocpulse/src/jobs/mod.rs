//! Bulk trigger jobs: the live side of `ocpulse_core::fleet_job`. `Jobs` holds every job
//! (running ones with their cancel token), creates them from a spec and the registry,
//! persists them as store documents, and resumes running ones after a restart; `runner`
//! drives one job's stations under its admission control.

mod runner;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ocpulse_core::StationState;
use ocpulse_core::fleet_job::{Job, JobSpec, JobStatus, StationResult};
use ocpulse_core::store::{Doc, StoreError, WriteBatch};
use parking_lot::Mutex;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::now_ms;

/// The store document kind of a job.
pub const DOC_KIND: &str = "job";

/// Job triggers in flight across every job at once: whatever jobs ask for, the server
/// never runs more job triggers than this together (an operator's API calls are not
/// counted, so they are never starved by a campaign).
pub const SERVER_BUDGET: usize = 20_000;

/// Finished jobs kept (in memory and in the store); older ones are forgotten first.
pub const KEEP_FINISHED: usize = 1_000;

/// Per-station results that finished jobs keep in memory together. Past it, the oldest
/// finished jobs keep only their counts by outcome, and their results are read back from
/// the store when someone asks for them: a thousand kept jobs of ten thousand stations
/// each would otherwise hold ten million results for the life of the process.
pub const FINISHED_RESULTS_IN_MEMORY: usize = 50_000;

/// One job and what its runner needs to share with the API.
#[derive(Debug)]
pub struct JobHandle {
    /// The job as it stands.
    pub job: Mutex<Job>,
    /// Cancelled by `POST .../cancel` (and at shutdown, without marking the job).
    pub cancel: CancellationToken,
    /// Set when a result changed since the job was last written.
    dirty: AtomicBool,
    /// Woken when the job ends, for callers that wait.
    pub finished: Notify,
    /// Set once the finished job, results included, is stored: only then may its
    /// results leave memory.
    stored: AtomicBool,
    /// Set when the results left memory (`job.results` is then empty): the counts by
    /// outcome they had.
    released: Mutex<Option<BTreeMap<String, usize>>>,
}

impl JobHandle {
    fn new(job: Job) -> Self {
        Self {
            job: Mutex::new(job),
            cancel: CancellationToken::new(),
            dirty: AtomicBool::new(false),
            finished: Notify::new(),
            stored: AtomicBool::new(false),
            released: Mutex::new(None),
        }
    }

    /// A copy of the job now; a finished job's results may be absent (released, see
    /// [`JobHandle::full`]), so use [`JobHandle::counts`] for its totals.
    pub fn snapshot(&self) -> Option<Job> {
        Some(self.job.lock().clone())
    }

    /// How many stations have each outcome, whether or not the results are in memory.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        if let Some(counts) = self.released.lock().clone() {
            return counts;
        }
        self.job.lock().counts()
    }

    /// The job with every station's result, read back from the store if they were
    /// released from memory.
    pub async fn full(&self, app: &App) -> Option<Job> {
        let job = self.snapshot()?;
        let released = self.released.lock().is_some();
        if !released {
            return Some(job);
        }
        match app.store.doc(DOC_KIND, job.id.clone()).await {
            Ok(Some(body)) => match serde_json::from_str::<Job>(&body) {
                Ok(stored) => Some(stored),
                Err(e) => {
                    tracing::warn!(job = %job.id, error = %e, "stored job unreadable");
                    Some(job)
                }
            },
            Ok(None) => Some(job),
            Err(e) => {
                tracing::warn!(job = %job.id, error = %e, "could not read a stored job");
                Some(job)
            }
        }
    }

    /// Marks the finished job as durably stored (results included).
    pub(crate) fn mark_stored(&self) {
        self.stored.store(true, Ordering::Release);
    }

    /// Results held in memory.
    fn results_in_memory(&self) -> usize {
        self.job.lock().results.len()
    }

    /// Drops the results of a finished, stored job from memory, keeping its counts.
    fn release(&self) {
        if !self.stored.load(Ordering::Acquire) || self.dirty.load(Ordering::Acquire) {
            return;
        }
        let (mut job, mut released) = (self.job.lock(), self.released.lock());
        if job.status == JobStatus::Running || released.is_some() {
            return;
        }
        *released = Some(job.counts());
        job.results = Vec::new();
    }

    /// Changes the job and marks it for the next write.
    fn update(&self, change: impl FnOnce(&mut Job)) {
        change(&mut self.job.lock());
        self.dirty.store(true, Ordering::Release);
    }

    /// The document to write if something changed since the last one.
    fn take_dirty_doc(&self) -> Option<Doc> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return None;
        }
        let job = self.job.lock();
        match Doc::put(DOC_KIND, job.id.clone(), &*job) {
            Ok(doc) => Some(doc),
            Err(e) => {
                tracing::error!(job = %job.id, error = %e, "job progress not written");
                None
            }
        }
    }

    /// Whether the job has ended.
    pub fn is_finished(&self) -> bool {
        self.job.lock().status != JobStatus::Running
    }
}

/// Every job ocpulse knows.
#[derive(Debug)]
pub struct Jobs {
    map: Mutex<BTreeMap<String, Arc<JobHandle>>>,
    budget: Arc<Semaphore>,
}

impl Default for Jobs {
    fn default() -> Self {
        Self {
            map: Mutex::default(),
            budget: Arc::new(Semaphore::new(SERVER_BUDGET)),
        }
    }
}

/// Why a job could not be cancelled.
#[derive(Debug, PartialEq, Eq)]
pub enum CancelError {
    /// No such job.
    NotFound,
    /// It had already ended.
    Finished(JobStatus),
}

impl Jobs {
    /// One job.
    pub fn get(&self, id: &str) -> Option<Arc<JobHandle>> {
        self.map.lock().get(id).cloned()
    }

    /// Every job, newest first.
    pub fn list(&self) -> Vec<Arc<JobHandle>> {
        self.map.lock().values().rev().cloned().collect()
    }

    /// Cancels a running job: stations not started yet end `Cancelled`; triggers already
    /// sent run to their end (a TriggerMessage cannot be taken back).
    pub fn cancel(&self, id: &str) -> Result<Arc<JobHandle>, CancelError> {
        let handle = self.get(id).ok_or(CancelError::NotFound)?;
        let status = handle.job.lock().status;
        if status != JobStatus::Running {
            return Err(CancelError::Finished(status));
        }
        handle.cancel.cancel();
        Ok(handle)
    }

    /// Keeps the finished jobs' results in memory within `FINISHED_RESULTS_IN_MEMORY`,
    /// newest first; older finished jobs keep their counts (their results stay stored).
    pub fn trim(&self) {
        let mut held = 0usize;
        for handle in self.list() {
            if !handle.is_finished() {
                continue;
            }
            let n = handle.results_in_memory();
            if n == 0 {
                continue;
            }
            if held + n > FINISHED_RESULTS_IN_MEMORY {
                handle.release();
            } else {
                held += n;
            }
        }
    }

    fn insert(&self, handle: Arc<JobHandle>) -> Vec<Doc> {
        let mut map = self.map.lock();
        let id = handle.job.lock().id.clone();
        map.insert(id, handle);
        // Forget the oldest finished jobs past the bound.
        let finished: Vec<String> = map
            .iter()
            .filter(|(_, h)| h.is_finished())
            .map(|(id, _)| id.clone())
            .collect();
        let excess = finished.len().saturating_sub(KEEP_FINISHED);
        finished
            .into_iter()
            .take(excess)
            .map(|id| {
                map.remove(&id);
                Doc::delete(DOC_KIND, id)
            })
            .collect()
    }
}

/// Selects the stations, stores the job, and starts it. The job is durable before this
/// returns, so a caller told of it can always find it, even across a restart.
pub async fn create(
    app: &Arc<App>,
    spec: JobSpec,
    requested_by: String,
) -> Result<Arc<JobHandle>, StoreError> {
    // Each state is read under its own lock, not copied: cloning 10,000 station states
    // just to pick "all" cost more than the rest of the job's start. Sessions only hold their
    // own station's lock, briefly, so holding these for the pick cannot deadlock.
    let created_at = now_ms();
    let results = {
        let entries = app.stations.all();
        let known: Vec<(parking_lot::MutexGuard<'_, StationState>, bool)> = entries
            .iter()
            .map(|(_, e)| (e.state.lock(), e.connected()))
            .collect();
        let ids = spec.selector.pick(known.iter().map(|(s, c)| (&**s, *c)));
        // Ids nobody knows are final now: no trigger to run, no detail to keep.
        let known: HashSet<&str> = entries.iter().map(|(id, _)| id.as_str()).collect();
        ids.into_iter()
            .map(|id| {
                if known.contains(id.as_str()) {
                    StationResult::pending(id)
                } else {
                    StationResult::unknown(id, created_at)
                }
            })
            .collect()
    };
    let job = Job {
        id: uuid::Uuid::now_v7().simple().to_string(),
        spec,
        requested_by,
        status: JobStatus::Running,
        created_at,
        finished_at: None,
        resumed: 0,
        results,
    };
    let mut docs = vec![Doc::put(DOC_KIND, job.id.clone(), &job)?];
    let handle = Arc::new(JobHandle::new(job));
    docs.extend(app.jobs.insert(Arc::clone(&handle)));
    app.store
        .commit(WriteBatch {
            docs,
            ..WriteBatch::default()
        })
        .await?;
    tokio::spawn(runner::run(Arc::clone(app), Arc::clone(&handle), None));
    Ok(handle)
}

/// Loads every stored job and resumes the running ones after `delay` (time for stations
/// to reconnect after a restart, so they are not reported offline just for being early).
pub async fn resume(app: &Arc<App>, delay: Duration) -> Result<usize, StoreError> {
    let docs = app.store.docs(DOC_KIND).await?;
    let mut resumed = 0;
    for (id, body) in docs {
        let mut job: Job = match serde_json::from_str(&body) {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(job = %id, error = %e, "stored job unreadable; skipped");
                continue;
            }
        };
        let running = job.status == JobStatus::Running;
        if running {
            job.resumed += 1;
        }
        let handle = Arc::new(JobHandle::new(job));
        if !running {
            handle.mark_stored();
        }
        app.jobs.insert(Arc::clone(&handle));
        if running {
            resumed += 1;
            tokio::spawn(runner::run(Arc::clone(app), handle, Some(delay)));
        }
    }
    app.jobs.trim();
    if resumed > 0 {
        tracing::info!(
            jobs = resumed,
            delay_ms = delay.as_millis(),
            "resuming trigger jobs"
        );
    }
    Ok(resumed)
}

/// Writes every job whose progress is not stored yet: at shutdown, so a resumed job does
/// not trigger again the stations that finished in its last moments.
pub async fn flush_all(app: &App) {
    let docs: Vec<Doc> = app
        .jobs
        .list()
        .iter()
        .filter_map(|h| h.take_dirty_doc())
        .collect();
    if docs.is_empty() {
        return;
    }
    if let Err(e) = app
        .store
        .commit(WriteBatch {
            docs,
            ..WriteBatch::default()
        })
        .await
    {
        tracing::error!(error = %e, "could not store trigger jobs at shutdown");
    }
}
