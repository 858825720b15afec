//! A staged rollout: a canary share of the stations first, a wait once they have all
//! ended, then the rest, `concurrency` at a time; it halts when the share of failed
//! stations passes the limit, and the stations not sent yet are skipped. [`Rollout::step`]
//! says what to do now (send to whom, ask whom for a status); the shell does it and feeds
//! back what happened.

use serde::{Deserialize, Serialize};

use super::FirmwareAsk;
use super::progress::{Phase, StationUpdate};
use crate::Millis;
use crate::journal::JournalEntry;

/// How a rollout is staged and when it stops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Percent of the stations updated first (rounded up; 0 for no canary stage).
    pub canary_percent: u8,
    /// How long to wait after the canary stations have all ended before the rest.
    pub canary_wait_ms: Millis,
    /// The rollout halts when more than this percent of the stations that ended failed.
    pub max_failure_percent: u8,
    /// Stations updating at once.
    pub concurrency: usize,
    /// A station not installed this long after it was sent has failed.
    pub install_timeout_ms: Millis,
    /// A station updating and heard from this long ago is asked for its status.
    pub quiet_after_ms: Millis,
}

/// Where a rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    /// Updating the canary stations.
    Canary,
    /// The canary stations ended; waiting before the rest.
    Waiting,
    /// Updating the rest.
    Rest,
    /// Every station ended.
    Completed,
    /// Too many failed: nothing more is sent; stations already updating are followed to
    /// their end.
    Halted,
    /// Cancelled by an operator: likewise.
    Cancelled,
}

impl Stage {
    /// Whether no more stations will be sent to.
    pub fn stopped(self) -> bool {
        matches!(self, Self::Completed | Self::Halted | Self::Cancelled)
    }
}

/// What the shell should do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send the update to the station at this index.
    Send(usize),
    /// Ask the station at this index for its firmware status (it went quiet).
    AskStatus(usize),
}

/// A rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    /// Its id.
    pub id: String,
    /// What is installed.
    pub firmware: FirmwareAsk,
    /// How it is staged.
    pub policy: Policy,
    /// Where it stands.
    pub stage: Stage,
    /// The first this many stations are the canary.
    pub canary: usize,
    /// When it started.
    pub created_at: Millis,
    /// When the canary stations had all ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_ended_at: Option<Millis>,
    /// When every station had ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Millis>,
    /// Why it halted or was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The journal position its stations' reports have been read up to.
    pub seq: i64,
    /// Every station, canary first.
    pub stations: Vec<StationUpdate>,
}

impl Rollout {
    /// A new rollout over `stations` (canary first, in the order given), reading reports
    /// committed after `seq`.
    pub fn new(
        id: String,
        firmware: FirmwareAsk,
        policy: Policy,
        stations: Vec<String>,
        seq: i64,
        now: Millis,
    ) -> Self {
        let n = stations.len();
        let canary = (n * usize::from(policy.canary_percent.min(100))).div_ceil(100);
        Self {
            id,
            firmware,
            stage: if canary == 0 {
                Stage::Rest
            } else {
                Stage::Canary
            },
            policy,
            canary,
            created_at: now,
            canary_ended_at: None,
            finished_at: None,
            reason: None,
            seq,
            stations: stations.into_iter().map(StationUpdate::pending).collect(),
        }
    }

    /// Folds a journal entry (`seq` order) into its station's update.
    pub fn observe(&mut self, entry: &JournalEntry) {
        self.seq = self.seq.max(entry.seq);
        let expected = self.firmware.firmware_version.clone();
        for s in &mut self.stations {
            if s.station_id == entry.station_id {
                s.observe(entry, expected.as_deref());
            }
        }
    }

    /// Stops sending: the stations not sent yet are skipped; those updating are followed.
    pub fn cancel(&mut self, why: String, now: Millis) {
        if !self.stage.stopped() {
            self.stop(Stage::Cancelled, why, now);
        }
    }

    /// What to do now: expire stations past their limit, advance the stage, and name the
    /// stations to send to and to ask. Call it after every change and on a timer.
    pub fn step(&mut self, now: Millis) -> Vec<Action> {
        let policy = self.policy.clone();
        for s in &mut self.stations {
            s.expire(now, policy.install_timeout_ms);
        }
        self.advance(now);
        let mut actions = Vec::new();
        if matches!(self.stage, Stage::Canary | Stage::Rest) {
            let limit = if self.stage == Stage::Canary {
                self.canary
            } else {
                self.stations.len()
            };
            let busy = self
                .stations
                .iter()
                .filter(|s| matches!(s.phase, Phase::Sent | Phase::Updating))
                .count();
            let free = policy.concurrency.max(1).saturating_sub(busy);
            actions.extend(
                self.stations[..limit]
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.phase == Phase::Pending)
                    .take(free)
                    .map(|(i, _)| Action::Send(i)),
            );
        }
        actions.extend(
            self.stations
                .iter()
                .enumerate()
                .filter(|(_, s)| s.quiet(now, policy.quiet_after_ms))
                .map(|(i, _)| Action::AskStatus(i)),
        );
        actions
    }

    fn advance(&mut self, now: Millis) {
        if self.stage == Stage::Canary
            && self.stations[..self.canary].iter().all(|s| s.phase.ended())
        {
            self.canary_ended_at = Some(now);
            self.stage = Stage::Waiting;
        }
        // The failure share is judged once the canary stations have all ended (a single
        // early failure among them is no rate yet), and from then on as stations end.
        if !self.stage.stopped() && self.stage != Stage::Canary {
            let (failed, ended) = self.failures();
            if failed * 100 > ended * usize::from(self.policy.max_failure_percent) {
                self.stop(
                    Stage::Halted,
                    format!(
                        "{failed} of {ended} stations that ended failed, above maxFailurePercent {}",
                        self.policy.max_failure_percent
                    ),
                    now,
                );
            }
        }
        if self.stage == Stage::Waiting
            && self
                .canary_ended_at
                .is_some_and(|t| now - t >= self.policy.canary_wait_ms)
        {
            self.stage = Stage::Rest;
        }
        if self.stations.iter().all(|s| s.phase.ended()) {
            if self.stage == Stage::Rest || self.stage == Stage::Waiting {
                self.stage = Stage::Completed;
            }
            if self.finished_at.is_none() {
                self.finished_at = Some(now);
            }
        }
    }

    fn stop(&mut self, stage: Stage, why: String, now: Millis) {
        self.stage = stage;
        for s in &mut self.stations {
            s.skip(&why, now);
        }
        self.reason = Some(why);
    }

    /// Failed stations and stations that ended either way (skipped ones not counted).
    pub fn failures(&self) -> (usize, usize) {
        let failed = self
            .stations
            .iter()
            .filter(|s| s.phase == Phase::Failed)
            .count();
        let installed = self
            .stations
            .iter()
            .filter(|s| s.phase == Phase::Installed)
            .count();
        (failed, failed + installed)
    }

    /// Whether it is done: every station ended.
    pub fn finished(&self) -> bool {
        self.finished_at.is_some()
    }
}
