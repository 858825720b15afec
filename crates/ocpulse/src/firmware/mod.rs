//! Firmware rollouts, live: each rollout is a store document (`firmware_rollout`) and, while
//! it runs, a task (`runner`) that sends UpdateFirmware / SignedUpdateFirmware in the stages
//! `ocpulse_core::firmware::rollout` decides, follows each station's reports from the
//! committed journal, and asks a quiet station for its status with a trigger. A restart
//! resumes every unfinished rollout from its document and the journal after it.

mod runner;

use std::collections::HashMap;
use std::sync::Arc;

use ocpulse_core::firmware::FirmwareAsk;
use ocpulse_core::firmware::rollout::{Policy, Rollout};
use ocpulse_core::store::{Doc, StoreError};
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::app::App;
use crate::now_ms;

/// The store document kind of a rollout.
pub const KIND: &str = "firmware_rollout";

/// A running rollout, shared by its task and the API.
pub struct Running {
    rollout: Mutex<Rollout>,
    /// Wakes the task at once (a cancel).
    wake: Notify,
    /// Told when the rollout has finished and is stored.
    pub(crate) done: Notify,
}

/// The rollouts still running.
#[derive(Default)]
pub struct Rollouts {
    running: Mutex<HashMap<String, Arc<Running>>>,
}

impl std::fmt::Debug for Rollouts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rollouts")
            .field("running", &self.running.lock().len())
            .finish()
    }
}

/// A rollout as it stands: from memory while it runs, else from the store.
pub async fn get(app: &App, id: &str) -> Result<Option<Rollout>, StoreError> {
    let running = app
        .firmware
        .running
        .lock()
        .get(id)
        .map(|r| r.rollout.lock().clone());
    if running.is_some() {
        return Ok(running);
    }
    match app.store.doc(KIND, id.to_owned()).await? {
        Some(body) => serde_json::from_str(&body)
            .map(Some)
            .map_err(|e| StoreError::Serialization(format!("firmware rollout {id}: {e}"))),
        None => Ok(None),
    }
}

/// Every rollout, newest first (ids are time-ordered).
pub async fn list(app: &App) -> Result<Vec<Rollout>, StoreError> {
    let mut all: Vec<Rollout> = stored(app).await?;
    for r in app.firmware.running.lock().values() {
        let r = r.rollout.lock().clone();
        all.retain(|s| s.id != r.id);
        all.push(r);
    }
    all.sort_by(|a, b| b.id.cmp(&a.id));
    Ok(all)
}

async fn stored(app: &App) -> Result<Vec<Rollout>, StoreError> {
    Ok(app
        .store
        .docs(KIND)
        .await?
        .into_iter()
        .filter_map(|(id, body)| match serde_json::from_str(&body) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(id, error = %e, "a stored firmware rollout does not read; skipped");
                None
            }
        })
        .collect())
}

/// Starts a rollout of `firmware` over `stations` (canary first, in this order): stored
/// before this returns, so a caller told of it can always find it, even across a restart.
pub async fn start(
    app: &Arc<App>,
    firmware: FirmwareAsk,
    policy: Policy,
    stations: Vec<String>,
    requested_by: &str,
) -> Result<(Rollout, Arc<Running>), StoreError> {
    // Reports are read from the journal after this point; the first CALL goes out later.
    let seq = app.store.journal_head().await?;
    let id = uuid::Uuid::now_v7().simple().to_string();
    let rollout = Rollout::new(id.clone(), firmware, policy, stations, seq, now_ms());
    app.store
        .save_docs(vec![Doc::put(KIND, id.clone(), &rollout)?])
        .await?;
    tracing::info!(rollout = %id, stations = rollout.stations.len(), canary = rollout.canary, requested_by, "firmware rollout started");
    let running = spawn(app, rollout.clone());
    Ok((rollout, running))
}

/// Stops sending a rollout's update (stations updating are followed to their end);
/// `None` if no such rollout runs.
pub fn cancel(app: &App, id: &str, why: String) -> Option<Rollout> {
    let running = app.firmware.running.lock().get(id).cloned()?;
    let rollout = {
        let mut r = running.rollout.lock();
        r.cancel(why, now_ms());
        r.clone()
    };
    running.wake.notify_one();
    Some(rollout)
}

/// Resumes every unfinished rollout (at start): a station whose CALL was out when the
/// server stopped is followed as if accepted.
pub async fn resume(app: &Arc<App>) -> Result<(), StoreError> {
    for mut rollout in stored(app).await? {
        if rollout.finished() {
            continue;
        }
        let now = now_ms();
        for s in &mut rollout.stations {
            s.answer_lost(now);
        }
        tracing::info!(rollout = %rollout.id, "resuming a firmware rollout");
        spawn(app, rollout);
    }
    Ok(())
}

fn spawn(app: &Arc<App>, rollout: Rollout) -> Arc<Running> {
    let id = rollout.id.clone();
    let running = Arc::new(Running {
        rollout: Mutex::new(rollout),
        wake: Notify::new(),
        done: Notify::new(),
    });
    app.firmware
        .running
        .lock()
        .insert(id.clone(), Arc::clone(&running));
    let (app, task) = (Arc::clone(app), Arc::clone(&running));
    tokio::spawn(async move {
        runner::run(&app, &task).await;
        app.firmware.running.lock().remove(&id);
        task.done.notify_waiters();
    });
    running
}
