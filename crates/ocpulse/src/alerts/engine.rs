//! The alert engine task: the journal tail plus a 1 s tick, into the rule engine.
//!
//! It follows the journal the way the event stream does: the store's broadcast of
//! committed entries, and on `Lagged` a replay with `journal_after` from the last `seq`
//! it handled, so no entry is skipped and none is handled twice.

use std::sync::Arc;
use std::time::Duration;

use ocpulse_core::JournalEntry;
use ocpulse_core::alert_rules::StationSnapshot;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

use crate::app::App;
use crate::now_ms;

/// Entries read per journal page while catching up.
const PAGE: usize = 500;

/// How often time-based rules (heartbeatMissing) are evaluated.
const TICK: Duration = Duration::from_secs(1);

/// Runs until shutdown. Subscribes to the journal only while at least one rule exists:
/// the store builds the live feed only when someone listens, so a server without rules
/// pays nothing for alerting on its hot path.
pub async fn run(app: Arc<App>) {
    loop {
        while !has_rules(&app).await {
            tokio::select! {
                () = app.shutdown.cancelled() => return,
                () = app.alerts.rules_changed.notified() => {}
            }
        }
        // Subscribe before reading the head: nothing committed from here on is missed.
        let live = app.store.subscribe();
        let head = match app.store.journal_head().await {
            Ok(head) => head,
            Err(e) => {
                tracing::warn!(error = %e, "alerts: cannot read the journal head; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if !follow(&app, live, head).await {
            return;
        }
    }
}

async fn has_rules(app: &App) -> bool {
    !app.alerts.state.lock().await.engine.rules().is_empty()
}

/// Follows the journal from `cursor`; `false` at shutdown, `true` when no rule is left.
async fn follow(app: &Arc<App>, mut live: Receiver<Arc<JournalEntry>>, mut cursor: i64) -> bool {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut replaying = false;
    loop {
        if replaying {
            let page = tokio::select! {
                () = app.shutdown.cancelled() => return false,
                page = app.store.journal_after(cursor, PAGE) => page,
            };
            match page {
                Ok(page) => {
                    replaying = page.len() == PAGE;
                    for entry in &page {
                        handle(app, entry, &mut cursor).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "alerts: journal replay failed; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            continue;
        }
        tokio::select! {
            () = app.shutdown.cancelled() => return false,
            () = app.alerts.rules_changed.notified() => {
                if !has_rules(app).await {
                    return true;
                }
            }
            _ = tick.tick() => on_tick(app).await,
            received = live.recv() => match received {
                Ok(entry) => handle(app, &entry, &mut cursor).await,
                Err(RecvError::Lagged(missed)) => {
                    tracing::info!(missed, "alerts: fell behind the journal feed; replaying");
                    replaying = true;
                }
                Err(RecvError::Closed) => return false,
            },
        }
    }
}

async fn handle(app: &Arc<App>, entry: &JournalEntry, cursor: &mut i64) {
    if entry.seq <= *cursor {
        return;
    }
    *cursor = entry.seq;
    let mut state = app.alerts.state.lock().await;
    let decisions = state.engine.on_entry(entry);
    if let Err(e) = super::apply(app, &mut state, decisions).await {
        tracing::error!(error = %e, seq = entry.seq, "alerts: could not store an alert change");
    }
}

async fn on_tick(app: &Arc<App>) {
    let timed = app
        .alerts
        .state
        .lock()
        .await
        .engine
        .rules()
        .iter()
        .any(|r| {
            matches!(
                r.condition,
                ocpulse_core::alert_rules::Condition::HeartbeatMissing { .. }
            )
        });
    if !timed {
        return;
    }
    let stations: Vec<StationSnapshot> = app
        .stations
        .all()
        .into_iter()
        .map(|(id, entry)| {
            let state = entry.state.lock();
            StationSnapshot {
                id,
                connected: entry.connected(),
                last_heartbeat: state.last_heartbeat,
                last_seen: state.last_seen,
            }
        })
        .collect();
    let mut state = app.alerts.state.lock().await;
    let decisions = state.engine.on_tick(&stations, now_ms());
    if let Err(e) = super::apply(app, &mut state, decisions).await {
        tracing::error!(error = %e, "alerts: could not store an alert change");
    }
}
