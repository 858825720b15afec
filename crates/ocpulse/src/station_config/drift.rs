//! The fleet's drift: each station a profile applies to, against its latest snapshot
//! (`report`), and a fresh read of the profiles' keys first (`check`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use ocpulse_core::station_config::{ConfigProfile, DriftItem, diff};
use ocpulse_core::store::StoreError;
use serde::Serialize;
use tokio::sync::Semaphore;

use super::read::{self, ReadError};
use crate::app::App;

/// Where one station stands against one profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Standing {
    /// Every setting at its desired value.
    Compliant,
    /// Some settings off (see the items).
    Drifting,
    /// Never read: nothing to compare yet (`POST /api/v1/config/drift/check` reads).
    Unread,
}

/// One station against one profile.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StationDrift {
    /// The station.
    pub station_id: String,
    /// The profile.
    pub profile_id: String,
    /// Where it stands.
    pub standing: Standing,
    /// When the snapshot compared was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_at: Option<String>,
    /// The settings off their desired value.
    pub items: Vec<DriftItem>,
    /// Why a fresh read failed (`check` only): the latest stored snapshot was compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_error: Option<String>,
}

/// Every (station, profile) pair the filters pick, from stored snapshots, by profile then
/// station.
pub async fn report(
    app: &App,
    profile: Option<&str>,
    station: Option<&str>,
) -> Result<Vec<StationDrift>, StoreError> {
    let mut out = Vec::new();
    for (p, stations) in pairs(app, profile, station).await? {
        for station_id in stations {
            let latest = super::history(app, &station_id)
                .await?
                .snapshots
                .into_iter()
                .next();
            out.push(match latest {
                Some(s) => {
                    let items = diff(&p.settings, &s.entries);
                    StationDrift {
                        standing: if items.is_empty() {
                            Standing::Compliant
                        } else {
                            Standing::Drifting
                        },
                        station_id,
                        profile_id: p.id.clone(),
                        read_at: Some(s.read_at),
                        items,
                        read_error: None,
                    }
                }
                None => StationDrift {
                    station_id,
                    profile_id: p.id.clone(),
                    standing: Standing::Unread,
                    read_at: None,
                    items: Vec::new(),
                    read_error: None,
                },
            });
        }
    }
    Ok(out)
}

/// The profiles the filter picks, each with the ids of the stations it applies to.
pub async fn pairs(
    app: &App,
    profile: Option<&str>,
    station: Option<&str>,
) -> Result<Vec<(ConfigProfile, Vec<String>)>, StoreError> {
    let profiles: Vec<ConfigProfile> = super::profiles(app)
        .await?
        .into_iter()
        .filter(|p| profile.is_none_or(|id| p.id == id))
        .collect();
    let mut stations = app.stations.all();
    stations.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(profiles
        .into_iter()
        .map(|p| {
            let ids = stations
                .iter()
                .filter(|(id, _)| station.is_none_or(|s| s == id))
                .filter(|(_, e)| p.applies_to(&e.state.lock(), e.connected()))
                .map(|(id, _)| id.clone())
                .collect();
            (p, ids)
        })
        .collect())
}

/// Reads the keys of every picked profile from each connected station it applies to (at
/// most `concurrency` at once), stores the snapshots, then reports as [`report`] does, with
/// each failed read said on its station.
pub async fn check(
    app: &Arc<App>,
    profile: Option<&str>,
    station: Option<&str>,
    timeout: Duration,
    concurrency: usize,
) -> Result<Vec<StationDrift>, StoreError> {
    let mut keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (p, stations) in pairs(app, profile, station).await? {
        for s in stations {
            keys.entry(s)
                .or_default()
                .extend(p.settings.keys().cloned());
        }
    }
    let limit = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut reads = tokio::task::JoinSet::new();
    for (station_id, wanted) in keys {
        let (app, limit) = (Arc::clone(app), Arc::clone(&limit));
        reads.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let wanted: Vec<String> = wanted.into_iter().collect();
            let result = read::read_and_store(&app, &station_id, Some(&wanted), timeout).await;
            (station_id, result.err().map(|e| describe(&e)))
        });
    }
    let mut errors = BTreeMap::new();
    while let Some(done) = reads.join_next().await {
        if let Ok((station_id, Some(error))) = done {
            errors.insert(station_id, error);
        }
    }
    let mut out = report(app, profile, station).await?;
    for d in &mut out {
        d.read_error = errors.get(&d.station_id).cloned();
    }
    Ok(out)
}

/// A read failure in a sentence.
pub fn describe(e: &ReadError) -> String {
    use crate::registry::CallOutcome;
    match e {
        ReadError::Refused(r) => format!("not read: {r}"),
        ReadError::InvalidKey(why) => why.clone(),
        ReadError::Call { action, outcome } => match outcome {
            CallOutcome::Error {
                code, description, ..
            } => {
                format!("{action} answered with CALLERROR {code}: {description}")
            }
            CallOutcome::InvalidResponse { violation, .. } => {
                format!("{action} answered with a payload that violates the schema: {violation}")
            }
            CallOutcome::Timeout => format!("{action} not answered in time"),
            CallOutcome::Disconnected => format!("disconnected before answering {action}"),
            CallOutcome::Result(_) => format!("{action} answered"),
        },
        ReadError::StationRefused { action, response } => format!("{action} refused: {response}"),
        ReadError::ReportIncomplete { parts } => {
            format!("the report was not complete in time ({parts} parts arrived)")
        }
        ReadError::Store(e) => format!("could not be stored: {e}"),
    }
}
