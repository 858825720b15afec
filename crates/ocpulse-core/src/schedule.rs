//! Recurring trigger plans ("every 15 minutes MeterValues for all charging stations",
//! "hourly Heartbeat check"): what a schedule is, when it fires next, and the per-station
//! record of its results. Each firing runs as a bulk trigger job, so a schedule inherits
//! the job's admission control; its `jitterSeconds` becomes the job's start spread, so a
//! fleet is never hit in one instant. No I/O: time is an argument.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::fleet_job::{JobLimits, JobOutcome, JobSpec};

/// The shortest interval a schedule may have.
pub const MIN_EVERY_SECONDS: u64 = 1;
/// The longest interval a schedule may have (30 days).
pub const MAX_EVERY_SECONDS: u64 = 30 * 24 * 3600;

/// A schedule as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    /// Time-ordered id.
    pub id: String,
    /// The job each firing runs (its `limits.spread_ms` is the jitter).
    pub job: JobSpec,
    /// Seconds between firings.
    pub every_seconds: u64,
    /// Paused schedules keep their record but do not fire.
    pub enabled: bool,
    /// When it was created; firings are `created_at + k · every`, so they do not drift.
    pub created_at: Millis,
    /// When it fires next.
    pub next_run_at: Millis,
    /// How many times it fired.
    #[serde(default)]
    pub runs: u64,
    /// Firings skipped because the previous run was still going.
    #[serde(default)]
    pub skipped: u64,
    /// The latest firing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<RunSummary>,
    /// The latest result per station, across firings.
    #[serde(default)]
    pub stations: BTreeMap<String, StationLast>,
}

/// One firing, as the schedule remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// The job it ran.
    pub job_id: String,
    /// When it started.
    pub started_at: Millis,
    /// When its job ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Millis>,
    /// Stations per outcome, once it ended.
    #[serde(default)]
    pub counts: BTreeMap<String, usize>,
}

/// A station's latest result under a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StationLast {
    /// The outcome.
    pub outcome: JobOutcome,
    /// When it ended.
    pub at: Millis,
    /// The job of that firing.
    pub job_id: String,
    /// The trigger record, when a trigger was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_id: Option<String>,
    /// Consecutive firings that did not succeed for this station (0 after a success).
    #[serde(default)]
    pub failures_in_a_row: u32,
}

/// Why a schedule was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    /// Stable code.
    pub code: &'static str,
    /// What was wrong and what would be right.
    pub message: String,
}

/// Checks interval and jitter (the job spec is checked by the job's own rules).
pub fn check(every_seconds: u64, limits: &JobLimits) -> Result<(), ScheduleError> {
    if !(MIN_EVERY_SECONDS..=MAX_EVERY_SECONDS).contains(&every_seconds) {
        return Err(ScheduleError {
            code: "invalid_interval",
            message: format!(
                "everySeconds must be from {MIN_EVERY_SECONDS} to {MAX_EVERY_SECONDS}, got {every_seconds}"
            ),
        });
    }
    if limits.spread_ms > every_seconds.saturating_mul(1000) {
        return Err(ScheduleError {
            code: "invalid_jitter",
            message: format!(
                "jitterSeconds ({} s) must not exceed everySeconds ({every_seconds} s), or firings would overlap",
                limits.spread_ms / 1000
            ),
        });
    }
    Ok(())
}

/// The first firing time after `now` on the grid `anchor + k · every` (k ≥ 1). Firings
/// missed while ocpulse was down are not replayed one by one: the schedule fires once
/// when it is due and then continues on its grid.
pub fn next_after(anchor: Millis, every_ms: i64, now: Millis) -> Millis {
    let every = every_ms.max(1);
    if now < anchor {
        return anchor + every;
    }
    let k = (now - anchor) / every + 1;
    anchor + k * every
}

impl Schedule {
    /// Whether it should fire at `now`.
    pub fn due(&self, now: Millis) -> bool {
        self.enabled && now >= self.next_run_at
    }

    /// Records a firing started at `now` and moves `next_run_at` along the grid.
    pub fn fired(&mut self, job_id: String, now: Millis) {
        self.runs += 1;
        self.last_run = Some(RunSummary {
            job_id,
            started_at: now,
            finished_at: None,
            counts: BTreeMap::new(),
        });
        self.advance(now);
    }

    /// Records a firing skipped at `now` (the previous run still going).
    pub fn skip(&mut self, now: Millis) {
        self.skipped += 1;
        self.advance(now);
    }

    fn advance(&mut self, now: Millis) {
        let every = i64::try_from(self.every_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
        self.next_run_at = next_after(self.created_at, every, now);
    }

    /// Takes a finished firing's per-station results into the schedule's record.
    pub fn absorb<'a>(
        &mut self,
        job_id: &str,
        finished_at: Millis,
        counts: BTreeMap<String, usize>,
        results: impl IntoIterator<Item = &'a crate::fleet_job::StationResult>,
    ) {
        if let Some(run) = self.last_run.as_mut().filter(|r| r.job_id == job_id) {
            run.finished_at = Some(finished_at);
            run.counts = counts;
        }
        for r in results {
            let failures = if r.outcome.succeeded() {
                0
            } else {
                self.stations
                    .get(&r.station_id)
                    .map_or(0, |s| s.failures_in_a_row)
                    + 1
            };
            self.stations.insert(
                r.station_id.clone(),
                StationLast {
                    outcome: r.outcome,
                    at: r.finished_at.unwrap_or(finished_at),
                    job_id: job_id.to_owned(),
                    trigger_id: r.trigger_id.clone(),
                    failures_in_a_row: failures,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet_job::StationResult;

    fn schedule() -> Schedule {
        let job: JobSpec = serde_json::from_str(
            r#"{"selector": {"all": true}, "trigger": {"requestedMessage": "Heartbeat"}, "limits": {"concurrency": 10, "retries": 0, "retryBackoffMs": 100}}"#,
        )
        .expect("spec");
        Schedule {
            id: "s".into(),
            job,
            every_seconds: 60,
            enabled: true,
            created_at: 1_000_000,
            next_run_at: 1_060_000,
            runs: 0,
            skipped: 0,
            last_run: None,
            stations: BTreeMap::new(),
        }
    }

    #[test]
    fn firings_stay_on_their_grid_and_downtime_is_not_replayed() {
        assert_eq!(next_after(1000, 100, 1000), 1100);
        assert_eq!(next_after(1000, 100, 1099), 1100);
        assert_eq!(next_after(1000, 100, 1100), 1200);
        assert_eq!(next_after(1000, 100, 500), 1100);
        let mut s = schedule();
        assert!(!s.due(1_059_999));
        assert!(s.due(1_060_000));
        // Fired late (ocpulse was down for ten intervals): once, then back on the grid.
        s.fired("j1".into(), 1_660_123);
        assert_eq!(s.next_run_at, 1_720_000);
        s.skip(1_720_001);
        assert_eq!((s.next_run_at, s.skipped, s.runs), (1_780_000, 1, 1));
        s.enabled = false;
        assert!(!s.due(2_000_000), "a paused schedule does not fire");
    }

    #[test]
    fn interval_and_jitter_are_bounded() {
        let mut limits = JobLimits::default();
        assert!(check(60, &limits).is_ok());
        assert_eq!(
            check(0, &limits).map_err(|e| e.code),
            Err("invalid_interval")
        );
        limits.spread_ms = 61_000;
        assert_eq!(
            check(60, &limits).map_err(|e| e.code),
            Err("invalid_jitter")
        );
    }

    #[test]
    fn each_station_keeps_its_latest_result_and_failure_streak() {
        let mut s = schedule();
        let result = |id: &str, outcome: &str| StationResult {
            outcome: JobOutcome::parse(outcome).expect("an outcome"),
            finished_at: Some(5),
            ..StationResult::pending(id)
        };
        s.fired("j1".into(), 1_060_000);
        s.absorb(
            "j1",
            7,
            BTreeMap::from([("Completed".into(), 1), ("Offline".into(), 1)]),
            &[result("A", "Completed"), result("B", "Offline")],
        );
        s.fired("j2".into(), 1_120_000);
        s.absorb(
            "j2",
            9,
            BTreeMap::new(),
            &[result("A", "Completed"), result("B", "StationTimeout")],
        );
        assert_eq!(s.stations["A"].failures_in_a_row, 0);
        assert_eq!(s.stations["B"].failures_in_a_row, 2);
        assert_eq!(s.stations["B"].outcome.as_str(), "StationTimeout");
        assert_eq!(s.stations["B"].job_id, "j2");
        let run = s.last_run.as_ref().expect("last run");
        assert_eq!((run.job_id.as_str(), run.finished_at), ("j2", Some(9)));
    }
}
