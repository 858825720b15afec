//! Recurring trigger plans, live: holds the schedules, fires each due one as a bulk trigger
//! job, folds each finished job's per-station results into its schedule's record, and
//! stores schedules as documents so they survive restarts (a firing missed while ocpulse
//! was down happens once at the next start, then the schedule is back on its grid).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ocpulse_core::schedule::Schedule;
use ocpulse_core::store::{Doc, StoreError, WriteBatch};
use parking_lot::Mutex;

use crate::app::App;
use crate::jobs::{self, JobHandle};
use crate::now_ms;

/// The store document kind of a schedule.
pub const DOC_KIND: &str = "schedule";

/// How often due schedules are looked for: the firing precision.
const TICK: Duration = Duration::from_millis(200);

/// Every schedule, by id.
#[derive(Debug, Default)]
pub struct Schedules {
    map: Mutex<BTreeMap<String, Schedule>>,
}

impl Schedules {
    /// One schedule as it stands.
    pub fn get(&self, id: &str) -> Option<Schedule> {
        self.map.lock().get(id).cloned()
    }

    /// Every schedule, oldest first.
    pub fn list(&self) -> Vec<Schedule> {
        self.map.lock().values().cloned().collect()
    }

    /// Changes one schedule and returns its document to store.
    fn update(&self, id: &str, change: impl FnOnce(&mut Schedule)) -> Option<Doc> {
        let mut map = self.map.lock();
        let s = map.get_mut(id)?;
        change(s);
        match Doc::put(DOC_KIND, id.to_owned(), &*s) {
            Ok(doc) => Some(doc),
            Err(e) => {
                tracing::error!(schedule = %id, error = %e, "schedule change not written");
                None
            }
        }
    }
}

/// Stores a new or replaced schedule (durably, before the caller is told of it).
pub async fn put(app: &App, schedule: Schedule) -> Result<(), StoreError> {
    let doc = Doc::put(DOC_KIND, schedule.id.clone(), &schedule)?;
    app.store.save_docs(vec![doc]).await?;
    app.schedules
        .map
        .lock()
        .insert(schedule.id.clone(), schedule);
    Ok(())
}

/// Deletes a schedule; `false` if there was none. A firing already running goes on.
pub async fn delete(app: &App, id: &str) -> Result<bool, StoreError> {
    let existed = app.schedules.map.lock().remove(id).is_some();
    if existed {
        app.store
            .save_docs(vec![Doc::delete(DOC_KIND, id.to_owned())])
            .await?;
    }
    Ok(existed)
}

/// Loads the stored schedules and starts firing them after `delay` (stations reconnect
/// first after a restart). Watches firings that were running at the stop, whose jobs resume.
pub async fn start(app: &Arc<App>, delay: Duration) -> Result<usize, StoreError> {
    let docs = app.store.docs(DOC_KIND).await?;
    let mut loaded = 0;
    for (id, body) in docs {
        match serde_json::from_str::<Schedule>(&body) {
            Ok(s) => {
                if let Some(run) = s.last_run.as_ref().filter(|r| r.finished_at.is_none())
                    && let Some(handle) = app.jobs.get(&run.job_id)
                {
                    tokio::spawn(watch(Arc::clone(app), id.clone(), handle));
                }
                app.schedules.map.lock().insert(id, s);
                loaded += 1;
            }
            Err(e) => {
                tracing::warn!(schedule = %id, error = %e, "stored schedule unreadable; skipped")
            }
        }
    }
    tokio::spawn(run(Arc::clone(app), delay));
    Ok(loaded)
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
        let now = now_ms();
        let due: Vec<Schedule> = app
            .schedules
            .list()
            .into_iter()
            .filter(|s| s.due(now))
            .collect();
        for s in due {
            fire(&app, s, now).await;
        }
    }
}

/// Fires one due schedule: a new job, unless the previous firing is still running.
async fn fire(app: &Arc<App>, s: Schedule, now: ocpulse_core::Millis) {
    let busy = s
        .last_run
        .as_ref()
        .and_then(|r| app.jobs.get(&r.job_id))
        .is_some_and(|h| !h.is_finished());
    let doc = if busy {
        tracing::warn!(schedule = %s.id, "previous firing still running; this one is skipped");
        app.schedules.update(&s.id, |x| x.skip(now))
    } else {
        match jobs::create(app, s.job.clone(), format!("schedule:{}", s.id)).await {
            Ok(handle) => {
                let job_id = handle.snapshot().map(|j| j.id).unwrap_or_default();
                tokio::spawn(watch(Arc::clone(app), s.id.clone(), handle));
                app.schedules.update(&s.id, |x| x.fired(job_id, now))
            }
            Err(e) => {
                tracing::error!(schedule = %s.id, error = %e, "could not start a scheduled job");
                app.schedules.update(&s.id, |x| x.skip(now))
            }
        }
    };
    if let Some(doc) = doc {
        app.store.enqueue(WriteBatch {
            docs: vec![doc],
            ..WriteBatch::default()
        });
    }
}

/// Waits for a firing's job to end and records its results on the schedule.
async fn watch(app: Arc<App>, schedule_id: String, handle: Arc<JobHandle>) {
    loop {
        let finished = handle.finished.notified();
        if handle.is_finished() {
            break;
        }
        tokio::select! {
            () = finished => {}
            () = app.shutdown.cancelled() => return,
        }
    }
    let Some(job) = handle.full(&app).await else {
        return;
    };
    let doc = app.schedules.update(&schedule_id, |s| {
        s.absorb(
            &job.id,
            job.finished_at.unwrap_or_else(now_ms),
            job.counts(),
            &job.results,
        );
    });
    if let Some(doc) = doc {
        app.store.enqueue(WriteBatch {
            docs: vec![doc],
            ..WriteBatch::default()
        });
    }
}
