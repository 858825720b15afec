//! Journal retention in the background: every `--prune-every`, each rule of the policy
//! (`--retain-journal`, `--retain-meter-values`, `--retain-action`) deletes what is due in
//! small seq windows, one short commit each, through the store's ordinary writer, so
//! stations are never held up by a long delete. What it did is kept for the storage report.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ocpulse_core::Millis;
use ocpulse_core::retention::{ActionSet, windows};
use ocpulse_core::store::{StoreError, WriteBatch};
use parking_lot::Mutex;

use crate::app::App;
use crate::now_ms;

/// Seqs per prune step: small enough that one step's transaction is a few milliseconds.
const STEP: i64 = 2_000;

/// A pause between two steps, so a large backlog leaves the writer to the stations.
const BETWEEN_STEPS: Duration = Duration::from_millis(5);

/// What pruning did last, for the storage report.
#[derive(Debug, Clone, Default)]
pub struct PruneStatus {
    /// When the last pass ended (Unix ms).
    pub last_pass_at: Option<Millis>,
    /// When the next pass starts (Unix ms); `None` when nothing is ever pruned.
    pub next_pass_at: Option<Millis>,
    /// How many passes ran since start.
    pub passes: u64,
    /// Why the last pass failed, if it did (it is retried at the next).
    pub last_error: Option<String>,
}

/// Shared between the pruning task and the API.
#[derive(Debug, Default)]
pub struct Pruning {
    status: Mutex<PruneStatus>,
}

impl Pruning {
    /// What pruning did last.
    pub fn status(&self) -> PruneStatus {
        self.status.lock().clone()
    }
}

/// Starts the pruning task when the policy deletes anything; it ends at shutdown.
pub fn start(app: &Arc<App>) {
    if !app.config.retention.prunes() {
        return;
    }
    let app = Arc::clone(app);
    tokio::spawn(async move {
        // Each rule resumes where its last pass stopped: below that seq, everything it
        // covers is already gone.
        let mut done: HashMap<ActionSet, i64> = HashMap::new();
        let every = app.config.prune_every;
        loop {
            let result = pass(&app, &mut done).await;
            let next = now_ms().saturating_add(i64::try_from(every.as_millis()).unwrap_or(0));
            {
                let mut status = app.pruning.status.lock();
                status.last_pass_at = Some(now_ms());
                status.next_pass_at = Some(next);
                status.passes += 1;
                status.last_error = result.as_ref().err().map(ToString::to_string);
            }
            if let Err(e) = result {
                tracing::warn!(error = %e, "journal pruning failed; retrying at the next pass");
            }
            tokio::select! {
                () = app.shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    });
}

/// One pass: every rule, from where it stopped to its cutoff.
async fn pass(app: &App, done: &mut HashMap<ActionSet, i64>) -> Result<(), StoreError> {
    for rule in app.config.retention.rules(now_ms()) {
        // Never past the stored snapshots: an entry they do not reflect yet is still the
        // only record of what it changed.
        let until = app
            .store
            .journal_seq_before(rule.before)
            .await?
            .min(app.snapshots.through());
        if matches!(rule.actions, ActionSet::AllBut(_)) {
            // Whole stored days first (PostgreSQL): a table dropped instead of its rows.
            let dropped = app
                .store
                .drop_partitions(rule.before, until, app.config.retention.kept_longer())
                .await?;
            if dropped > 0 {
                tracing::info!(
                    entries = dropped,
                    "retention dropped whole journal partitions"
                );
            }
        }
        let from = done.get(&rule.actions).copied().unwrap_or(0);
        for step in windows(&rule.actions, from, until, STEP) {
            if app.shutdown.is_cancelled() {
                return Ok(());
            }
            let reached = step.until_seq;
            app.store
                .commit(WriteBatch {
                    prune: vec![step],
                    ..WriteBatch::default()
                })
                .await?;
            done.insert(rule.actions.clone(), reached);
            tokio::time::sleep(BETWEEN_STEPS).await;
        }
    }
    Ok(())
}
