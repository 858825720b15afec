//! Charging sessions kept current from the journal: a task folds every committed entry
//! into `ocpulse_core::charging_session::SessionFold` and stores each changed session as a
//! `charging_session` document, with the fold itself (open sessions, the `seq` it reached)
//! as one `charging_session_fold` document in the same commit. After a restart the task
//! continues from that `seq`, so sessions are rebuilt from the journal like station state.
//!
//! It follows the journal like the alert engine: the store's broadcast of committed
//! entries, and on `Lagged` (or at start) a catch-up read of the session actions from the
//! last `seq` it folded. Each change is published (`updates`) once it is stored, so a start
//! or stop request waiting on it answers with what `GET /sessions/{id}` then reads.
//!
//! Sessions are documents, read whole to be listed: fine for tens of thousands of
//! sessions; a table of their own is the step after that.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ocpulse_core::JournalEntry;
use ocpulse_core::charging_session::{ChargingSession, SESSION_ACTIONS, SessionFold};
use ocpulse_core::journal::JournalScan;
use ocpulse_core::store::{Doc, StoreError};
use parking_lot::Mutex;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::app::App;

/// The document kind of one session (id: the session's id).
pub const KIND: &str = "charging_session";
/// The document kind of the fold (one document, id [`FOLD_ID`]).
pub const FOLD_KIND: &str = "charging_session_fold";
const FOLD_ID: &str = "fold";
/// Entries read per catch-up page.
const PAGE: usize = 500;

/// The sessions' live side, shared with the API.
pub struct ChargingSessions {
    /// Every session change, once stored.
    pub updates: broadcast::Sender<Arc<ChargingSession>>,
    /// The open sessions as of the last stored change (what a waiter that lagged checks).
    open: Mutex<Vec<ChargingSession>>,
}

impl Default for ChargingSessions {
    fn default() -> Self {
        Self {
            updates: broadcast::channel(1024).0,
            open: Mutex::default(),
        }
    }
}

impl ChargingSessions {
    /// The open sessions as last stored.
    pub fn open(&self) -> Vec<ChargingSession> {
        self.open.lock().clone()
    }
}

/// Reads one stored session.
pub async fn get(app: &App, id: &str) -> Result<Option<ChargingSession>, StoreError> {
    let Some(body) = app.store.doc(KIND, id.to_owned()).await? else {
        return Ok(None);
    };
    serde_json::from_str(&body)
        .map(Some)
        .map_err(|e| StoreError::Serialization(format!("charging session {id}: {e}")))
}

/// Every stored session, newest first (documents list by id, and ids sort like the
/// sessions' starts); a damaged document is skipped with a warning.
pub async fn all(app: &App) -> Result<Vec<ChargingSession>, StoreError> {
    let mut sessions: Vec<ChargingSession> = app
        .store
        .docs(KIND)
        .await?
        .into_iter()
        .filter_map(|(id, body)| match serde_json::from_str(&body) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(id, error = %e, "a stored charging session does not read; skipped");
                None
            }
        })
        .collect();
    sessions.reverse();
    Ok(sessions)
}

/// Loads the stored fold and starts the task that keeps sessions current.
pub async fn start(app: &Arc<App>) -> anyhow::Result<()> {
    let fold = match app.store.doc(FOLD_KIND, FOLD_ID.to_owned()).await? {
        Some(body) => serde_json::from_str(&body).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the stored charging-session fold does not read; rebuilding sessions from the journal");
            SessionFold::default()
        }),
        None => SessionFold::default(),
    };
    *app.charging.open.lock() = fold.open.clone();
    let app = Arc::clone(app);
    tokio::spawn(run(app, fold));
    Ok(())
}

async fn run(app: Arc<App>, mut fold: SessionFold) {
    let mut live = app.store.subscribe();
    let mut catching_up = true;
    loop {
        if catching_up {
            let page = tokio::select! {
                () = app.shutdown.cancelled() => return,
                page = app.store.journal_scan(JournalScan {
                    actions: SESSION_ACTIONS.iter().map(|a| (*a).to_owned()).collect(),
                    after_seq: fold.seq,
                    limit: PAGE,
                    ..JournalScan::default()
                }) => page,
            };
            match page {
                Ok(page) => {
                    catching_up = page.len() == PAGE;
                    if !fold_and_store(&app, &mut fold, &page).await {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        catching_up = true;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "charging sessions: journal read failed; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            continue;
        }
        let received = tokio::select! {
            () = app.shutdown.cancelled() => return,
            received = live.recv() => received,
        };
        match received {
            Ok(entry) => {
                // Not stored: the fold is as before; fold it again from the journal.
                if !fold_and_store(&app, &mut fold, std::slice::from_ref(&*entry)).await {
                    catching_up = true;
                }
            }
            Err(RecvError::Lagged(missed)) => {
                tracing::info!(
                    missed,
                    "charging sessions: fell behind the journal feed; catching up"
                );
                catching_up = true;
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Folds entries and, when a session or a pending start changed, stores the changed
/// sessions and the fold in one commit, then publishes the changes. `false` when storing
/// failed (the caller folds the entries again from the journal).
async fn fold_and_store(app: &App, fold: &mut SessionFold, entries: &[JournalEntry]) -> bool {
    let before = fold.clone();
    let mut changed: BTreeMap<String, ChargingSession> = BTreeMap::new();
    let mut dirty = false;
    for entry in entries {
        let pending = fold.pending.len();
        if let Some(session) = fold.apply(entry) {
            changed.insert(session.id.clone(), session);
            dirty = true;
        }
        dirty |=
            fold.pending.len() != pending || entry.action.as_deref() == Some("StartTransaction");
    }
    if !dirty {
        return true;
    }
    let docs: Result<Vec<Doc>, StoreError> = changed
        .values()
        .map(|s| Doc::put(KIND, s.id.clone(), s))
        .chain(std::iter::once(Doc::put(FOLD_KIND, FOLD_ID, &*fold)))
        .collect();
    let stored = match docs {
        Ok(docs) => app.store.save_docs(docs).await,
        Err(e) => Err(e),
    };
    if let Err(e) = stored {
        tracing::error!(error = %e, "charging sessions: could not store a change; retrying from the journal");
        *fold = before;
        return false;
    }
    *app.charging.open.lock() = fold.open.clone();
    for session in changed.into_values() {
        // Nobody listening is fine.
        let _ = app.charging.updates.send(Arc::new(session));
    }
    true
}
