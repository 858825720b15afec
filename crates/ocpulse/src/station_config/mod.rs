//! Configuration verification, live: reading a station's configuration through its
//! session (`read`), keeping each station's snapshots with history and the desired
//! profiles as store documents (here), comparing them (`drift`) and applying a profile to
//! a fleet as a job (`apply`). The rules (keys, report assembly, diffs, the CALLs that set
//! values) are `ocpulse_core::station_config`'s.

pub mod apply;
pub mod drift;
pub mod read;

use ocpulse_core::journal::{CONFIGURATION_CHECKED, EVENT};
use ocpulse_core::station_config::{ConfigProfile, ConfigSnapshot, DriftItem};
use ocpulse_core::store::{Doc, StoreError};
use ocpulse_core::{Direction, JournalEntry};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::App;
use crate::now_ms;

/// The store document kind of a desired configuration profile.
pub const PROFILE_KIND: &str = "config_profile";

/// The store document kind of a station's configuration snapshots (one document per
/// station, newest first).
pub const SNAPSHOTS_KIND: &str = "config_snapshots";

/// Snapshots kept per station: enough to see what changed over the last reads.
pub const HISTORY_KEPT: usize = 20;

/// A station's snapshots, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    /// Newest first, at most [`HISTORY_KEPT`].
    pub snapshots: Vec<ConfigSnapshot>,
}

/// The station's snapshots (empty if it was never read).
pub async fn history(app: &App, station_id: &str) -> Result<History, StoreError> {
    Ok(match app.store.doc(SNAPSHOTS_KIND, station_id.to_owned()).await? {
        Some(body) => serde_json::from_str(&body).unwrap_or_else(|e| {
            tracing::warn!(station = %station_id, error = %e, "stored configuration snapshots unreadable; starting anew");
            History::default()
        }),
        None => History::default(),
    })
}

/// Stores a newly read snapshot (merged into the latest, see
/// [`ConfigSnapshot::merged_with`]), then compares it with every profile that applies to
/// the station and journals each comparison (`ConfigurationChecked`, which the
/// `configDrift` alert reads). Returns the stored snapshot.
pub async fn store_snapshot(app: &App, read: ConfigSnapshot) -> Result<ConfigSnapshot, StoreError> {
    let station_id = read.station_id.clone();
    let mut history = history(app, &station_id).await?;
    let merged = match history.snapshots.first() {
        Some(latest) => latest.merged_with(read),
        None => read,
    };
    history.snapshots.insert(0, merged.clone());
    history.snapshots.truncate(HISTORY_KEPT);
    app.store
        .save_docs(vec![Doc::put(
            SNAPSHOTS_KIND,
            station_id.clone(),
            &history,
        )?])
        .await?;
    let checks: Vec<JournalEntry> = applicable_profiles(app, &station_id)
        .await?
        .iter()
        .map(|p| {
            let items = ocpulse_core::station_config::diff(&p.settings, &merged.entries);
            checked_event(&station_id, &p.id, &items)
        })
        .collect();
    if !checks.is_empty() {
        app.store.record(checks);
    }
    Ok(merged)
}

fn checked_event(station_id: &str, profile_id: &str, items: &[DriftItem]) -> JournalEntry {
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    JournalEntry {
        seq: 0,
        station_id: station_id.to_owned(),
        direction: Direction::Out,
        frame_type: EVENT,
        message_id: None,
        action: Some(CONFIGURATION_CHECKED.to_owned()),
        payload: json!({"profileId": profile_id, "drifting": !items.is_empty(), "keys": keys})
            .to_string(),
        at: now_ms(),
        violation: None,
        trigger_id: None,
    }
}

/// Every stored profile, by id.
pub async fn profiles(app: &App) -> Result<Vec<ConfigProfile>, StoreError> {
    let mut out: Vec<ConfigProfile> = app
        .store
        .docs(PROFILE_KIND)
        .await?
        .into_iter()
        .filter_map(|(id, body)| match serde_json::from_str(&body) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(profile = %id, error = %e, "stored configuration profile unreadable; skipped");
                None
            }
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// The profiles that apply to this station now (its version, its selector).
pub async fn applicable_profiles(
    app: &App,
    station_id: &str,
) -> Result<Vec<ConfigProfile>, StoreError> {
    let Some(entry) = app.stations.get(station_id) else {
        return Ok(Vec::new());
    };
    let connected = entry.session.is_some();
    let state = entry.state.lock().clone();
    Ok(profiles(app)
        .await?
        .into_iter()
        .filter(|p| p.applies_to(&state, connected))
        .collect())
}

/// Creates or replaces a profile; `true` when it was new.
pub async fn put_profile(app: &App, profile: &ConfigProfile) -> Result<bool, StoreError> {
    let existed = app
        .store
        .doc(PROFILE_KIND, profile.id.clone())
        .await?
        .is_some();
    app.store
        .save_docs(vec![Doc::put(PROFILE_KIND, profile.id.clone(), profile)?])
        .await?;
    Ok(!existed)
}

/// Deletes a profile; `false` if there was none.
pub async fn delete_profile(app: &App, id: &str) -> Result<bool, StoreError> {
    let existed = app.store.doc(PROFILE_KIND, id.to_owned()).await?.is_some();
    if existed {
        app.store
            .save_docs(vec![Doc::delete(PROFILE_KIND, id.to_owned())])
            .await?;
    }
    Ok(existed)
}

/// One profile.
pub async fn profile(app: &App, id: &str) -> Result<Option<ConfigProfile>, StoreError> {
    Ok(app
        .store
        .doc(PROFILE_KIND, id.to_owned())
        .await?
        .and_then(|body| serde_json::from_str(&body).ok()))
}
