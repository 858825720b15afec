//! A bulk job: one trigger request (or one CSMS call) sent to every station a selector picks, with
//! admission control (a concurrency budget, a start rate, per-station retries with backoff)
//! and a per-station result. This module is the job's data and its rules, no I/O: what a
//! valid job looks like, which outcomes are worth a retry, how long to back off, how a
//! station's start is spread, and how results are counted. The runner in the binary
//! applies them with real time and sockets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::selector::Selector;
use crate::trigger_plan::{EvseTarget, TriggerRequest};
use crate::trigger_record::Outcome;

/// Default number of triggers of one job in flight at once.
pub const DEFAULT_CONCURRENCY: u32 = 100;
/// The largest concurrency a job may ask for.
pub const MAX_CONCURRENCY: u32 = 10_000;
/// Default number of retries per station for a retryable outcome.
pub const DEFAULT_RETRIES: u32 = 2;
/// The most retries a job may ask for.
pub const MAX_RETRIES: u32 = 10;
/// Default backoff before the first retry (doubled for each further one).
pub const DEFAULT_RETRY_BACKOFF_MS: u64 = 1_000;
/// No backoff grows past this.
pub const MAX_BACKOFF_MS: u64 = 300_000;
/// The slowest start rate a job may ask for (one station start per 1000 s). A rate closer
/// to zero would mean "never start the next station" (and its interval does not fit a
/// `Duration`: `5e-324` per second made the runner panic and leave the job running forever).
pub const MIN_RATE_PER_SECOND: f64 = 0.001;
/// The fastest start rate a job may ask for.
pub const MAX_RATE_PER_SECOND: f64 = 100_000.0;
/// The widest start spread a job may ask for (one hour).
pub const MAX_SPREAD_MS: u64 = 3_600_000;
/// Default time one station's trigger may take (the single-station API's default too).
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// The longest one station's trigger may take.
pub const MAX_TIMEOUT_MS: u64 = 300_000;

/// The trigger a job sends to each station: the single-station API's body without `wait`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobTrigger {
    /// The message wanted, in either version's name.
    pub requested_message: String,
    /// 1.6-style target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<i64>,
    /// 2.x-style target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evse: Option<JobEvse>,
    /// With `CustomTrigger` (OCPP 2.1 stations only): the vendor trigger's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_trigger: Option<String>,
    /// How long each station's trigger may take (default 10 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// The CSMS call a job sends to each station instead of a trigger: the `/calls` body
/// without `wait`. Each station's version checks the payload before anything is sent to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobCall {
    /// A CSMS-initiated action (`ChangeConfiguration`, `SetVariables`, `Reset`, ...).
    pub action: String,
    /// Its payload (default `{}`).
    #[serde(default = "empty_object")]
    pub payload: serde_json::Value,
    /// How long each station has to answer (default 10 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

impl JobCall {
    /// The per-station timeout in milliseconds.
    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS)
    }
}

/// A 2.0.1 EVSE target as written in a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobEvse {
    /// EVSE id.
    pub id: i64,
    /// Connector within it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<i64>,
}

impl JobTrigger {
    /// The request the trigger planner takes.
    pub fn request(&self) -> TriggerRequest {
        TriggerRequest {
            requested_message: self.requested_message.clone(),
            evse: self.evse.map(|e| EvseTarget {
                id: e.id,
                connector_id: e.connector_id,
            }),
            connector_id: self.connector_id,
            custom_trigger: self.custom_trigger.clone(),
        }
    }

    /// The per-station timeout in milliseconds.
    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS)
    }
}

/// How hard a job may push the fleet and the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobLimits {
    /// Triggers of this job in flight at once.
    pub concurrency: u32,
    /// Station starts per second (none: as fast as the concurrency allows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_second: Option<f64>,
    /// Retries per station after a retryable outcome.
    pub retries: u32,
    /// Backoff before the first retry, doubled for each further one (with jitter).
    pub retry_backoff_ms: u64,
    /// Each station's start is delayed by a stable offset in `[0, spreadMs)`, so a
    /// schedule firing across a fleet does not hit every station in the same instant.
    #[serde(default)]
    pub spread_ms: u64,
}

impl Default for JobLimits {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            rate_per_second: None,
            retries: DEFAULT_RETRIES,
            retry_backoff_ms: DEFAULT_RETRY_BACKOFF_MS,
            spread_ms: 0,
        }
    }
}

/// What a caller asks for when creating a job (or a schedule fires).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    /// A label for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Which stations.
    pub selector: Selector,
    /// What to ask each of them: a trigger (every job stored before calls had one)...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<JobTrigger>,
    /// ... or a CSMS call; exactly one of the two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<JobCall>,
    /// Admission control.
    pub limits: JobLimits,
}

/// A refused job: the API's 400 code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// Stable code.
    pub code: &'static str,
    /// What was wrong and what would be right.
    pub message: String,
}

fn refuse(code: &'static str, message: String) -> Result<(), SpecError> {
    Err(SpecError { code, message })
}

impl JobSpec {
    /// Checks every bound, so a job that starts can run to its end.
    pub fn check(&self) -> Result<(), SpecError> {
        self.selector.check().map_err(|e| SpecError {
            code: e.code,
            message: e.message,
        })?;
        let (what, t) = match (&self.trigger, &self.call) {
            (Some(trigger), None) => {
                if trigger.requested_message.trim().is_empty() {
                    return refuse(
                        "missing_requested_message",
                        "trigger.requestedMessage is required, e.g. \"StatusNotification\"".into(),
                    );
                }
                ("trigger", trigger.timeout_ms())
            }
            (None, Some(call)) => {
                if call.action.trim().is_empty() {
                    return refuse(
                        "missing_action",
                        "call.action is required, e.g. \"ChangeConfiguration\"".into(),
                    );
                }
                if !call.payload.is_object() {
                    return refuse(
                        "invalid_payload",
                        "call.payload must be a JSON object (the CALL's payload)".into(),
                    );
                }
                ("call", call.timeout_ms())
            }
            (Some(_), Some(_)) => {
                return refuse(
                    "conflicting_work",
                    "send either trigger (ask each station for a message) or call (send each station a CSMS call), not both".into(),
                );
            }
            (None, None) => {
                return refuse(
                    "missing_trigger",
                    "trigger or call is required: what to ask each station, e.g. \"trigger\": {\"requestedMessage\": \"StatusNotification\"} or \"call\": {\"action\": \"ClearCache\"}".into(),
                );
            }
        };
        if !(1..=MAX_TIMEOUT_MS).contains(&t) {
            return refuse(
                "invalid_timeout",
                format!("{what}.timeoutMs must be from 1 to {MAX_TIMEOUT_MS}, got {t}"),
            );
        }
        let l = &self.limits;
        if !(1..=MAX_CONCURRENCY).contains(&l.concurrency) {
            return refuse(
                "invalid_concurrency",
                format!(
                    "concurrency must be from 1 to {MAX_CONCURRENCY}, got {}",
                    l.concurrency
                ),
            );
        }
        if let Some(r) = l.rate_per_second
            && !(r.is_finite() && (MIN_RATE_PER_SECOND..=MAX_RATE_PER_SECOND).contains(&r))
        {
            return refuse(
                "invalid_rate",
                format!(
                    "ratePerSecond must be from {MIN_RATE_PER_SECOND} to {MAX_RATE_PER_SECOND} (station starts per second), got {r}"
                ),
            );
        }
        if l.retries > MAX_RETRIES {
            return refuse(
                "invalid_retries",
                format!("retries must be from 0 to {MAX_RETRIES}, got {}", l.retries),
            );
        }
        if !(1..=MAX_BACKOFF_MS).contains(&l.retry_backoff_ms) {
            return refuse(
                "invalid_retry_backoff",
                format!(
                    "retryBackoffMs must be from 1 to {MAX_BACKOFF_MS}, got {}",
                    l.retry_backoff_ms
                ),
            );
        }
        if l.spread_ms > MAX_SPREAD_MS {
            return refuse(
                "invalid_spread",
                format!(
                    "spreadMs must be from 0 to {MAX_SPREAD_MS}, got {}",
                    l.spread_ms
                ),
            );
        }
        Ok(())
    }
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JobStatus {
    /// Stations are still being triggered (also after a restart: the job resumes).
    Running,
    /// Every station has a final result.
    Completed,
    /// Cancelled: stations not started by then are `Cancelled`.
    Cancelled,
}

/// Where one station's turn in a job stands, or how it ended: a job-level result, or the
/// outcome of its trigger. Stored and shown as the plain names the API has always used
/// (`"Pending"`, `"Offline"`, `"Completed"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
pub enum JobOutcome {
    /// Waiting for its turn (or for a retry).
    Pending,
    /// Its trigger is running.
    Running,
    /// Known but not connected when its turn came: reported, not waited for.
    Offline,
    /// Not known to ocpulse (listed by id at creation, or gone by its turn).
    UnknownStation,
    /// The request cannot be expressed for this station (e.g. a 2.0.1-only message on 1.6).
    NotApplicable,
    /// The job was cancelled before the station's turn.
    Cancelled,
    /// Its trigger ended with this outcome (never `Running`: that is `JobOutcome::Running`).
    Trigger(Outcome),
}

impl JobOutcome {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Offline => "Offline",
            Self::UnknownStation => "UnknownStation",
            Self::NotApplicable => "NotApplicable",
            Self::Cancelled => "Cancelled",
            Self::Trigger(o) => o.as_str(),
        }
    }

    /// Reads a name as shown.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Running,
            Self::Offline,
            Self::UnknownStation,
            Self::NotApplicable,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|o| o.as_str() == name)
        .or_else(|| Outcome::parse(name).map(Self::from))
    }

    /// Whether the station still needs work (a resumed job runs these again).
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Running)
    }

    /// Whether another try may go better: silence, a transient error or a dropped
    /// connection. A station's own answer (Rejected, NotImplemented), a delivered message,
    /// and an offline station are final.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            Self::Trigger(
                Outcome::StationTimeout
                    | Outcome::MessageTimeout
                    | Outcome::CallError
                    | Outcome::Disconnected
                    | Outcome::Interrupted
            )
        )
    }

    /// Whether the job got what it asked for from this station.
    pub fn succeeded(self) -> bool {
        matches!(self, Self::Trigger(Outcome::Completed | Outcome::Partial))
    }
}

impl From<Outcome> for JobOutcome {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Running => Self::Running,
            ended => Self::Trigger(ended),
        }
    }
}

impl From<JobOutcome> for &'static str {
    fn from(outcome: JobOutcome) -> Self {
        outcome.as_str()
    }
}

impl TryFrom<String> for JobOutcome {
    type Error = String;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        Self::parse(&name).ok_or_else(|| format!("unknown job outcome {name:?}"))
    }
}

impl std::fmt::Display for JobOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One station's part of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StationResult {
    /// The station.
    pub station_id: String,
    /// Where it stands or how it ended.
    pub outcome: JobOutcome,
    /// Triggers sent so far (retries included).
    pub attempts: u32,
    /// The latest trigger's record id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_id: Option<String>,
    /// For a call job: the latest call's record id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// For a call job: the `status` of the station's answer (`Accepted`, `Rejected`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// For a call job: the station's CALLERROR (`errorCode`, `errorDescription`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_error: Option<serde_json::Value>,
    /// Why it ended so, when it is not a success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How long the latest trigger took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
    /// Why each message of the latest trigger was taken as its answer, in order: a job's
    /// results say what a trigger record says, without reading every record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matched_by: Vec<ocpp_rpc::trigger::MatchReason>,
    /// When it reached its final result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Millis>,
}

impl StationResult {
    /// A station waiting for its turn.
    pub fn pending(station_id: impl Into<String>) -> Self {
        Self {
            station_id: station_id.into(),
            outcome: JobOutcome::Pending,
            attempts: 0,
            trigger_id: None,
            call_id: None,
            status: None,
            call_error: None,
            detail: None,
            elapsed_ms: None,
            matched_by: Vec::new(),
            finished_at: None,
        }
    }

    /// A listed id ocpulse does not know: final at once, no trigger, no detail (the
    /// outcome says it all), so a list of unknown ids costs a job little memory.
    pub fn unknown(station_id: impl Into<String>, at: Millis) -> Self {
        Self {
            station_id: station_id.into(),
            outcome: JobOutcome::UnknownStation,
            attempts: 0,
            trigger_id: None,
            call_id: None,
            status: None,
            call_error: None,
            detail: None,
            elapsed_ms: None,
            matched_by: Vec::new(),
            finished_at: Some(at),
        }
    }

    /// Whether it still needs work (a resumed job runs these again).
    pub fn is_open(&self) -> bool {
        self.outcome.is_open()
    }
}

/// A job as stored: its request, its state and every station's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Time-ordered id.
    pub id: String,
    /// What was asked.
    pub spec: JobSpec,
    /// Who asked (`X-Requested-By`, or `schedule:<id>`).
    pub requested_by: String,
    /// Where it stands.
    pub status: JobStatus,
    /// When it was created.
    pub created_at: Millis,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Millis>,
    /// How many times it was resumed after a restart.
    #[serde(default)]
    pub resumed: u32,
    /// One per selected station, in selection order.
    pub results: Vec<StationResult>,
}

impl Job {
    /// How many stations have each outcome (`Pending` and `Running` included).
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for r in &self.results {
            *counts.entry(r.outcome.as_str().to_owned()).or_insert(0) += 1;
        }
        counts
    }

    /// Whether every station has a final result.
    pub fn all_done(&self) -> bool {
        self.results.iter().all(|r| !r.is_open())
    }
}

/// Backoff before retry number `retry` (1 for the first): `base · 2^(retry-1)`, capped, then
/// scaled by a jitter factor in `[0.75, 1.25)` from `unit` (a number in `[0, 1)`), so
/// stations that failed together do not retry together.
pub fn backoff_ms(base_ms: u64, retry: u32, unit: f64) -> u64 {
    let exp = retry.saturating_sub(1).min(20);
    let raw = base_ms.saturating_mul(1u64 << exp).min(MAX_BACKOFF_MS);
    let factor = 0.75 + 0.5 * unit.clamp(0.0, 0.999_999);
    // The product is at most 1.25 × MAX_BACKOFF_MS, far inside u64.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let jittered = (raw as f64 * factor) as u64;
    jittered.max(1)
}

/// A station's stable start offset within `[0, spread_ms)`: the same station of the same
/// job (or schedule) always gets the same offset, and a fleet is spread evenly.
pub fn spread_offset_ms(key: &str, station_id: &str, spread_ms: u64) -> u64 {
    if spread_ms == 0 {
        return 0;
    }
    // FNV-1a: tiny, stable across builds and platforms (unlike the std hasher).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes().chain([0]).chain(station_id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h % spread_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> JobSpec {
        serde_json::from_str(json).expect("spec")
    }

    const OK: &str = r#"{"selector": {"all": true}, "trigger": {"requestedMessage": "Heartbeat"}, "limits": {"concurrency": 10, "retries": 1, "retryBackoffMs": 100}}"#;

    #[test]
    fn a_job_outside_its_bounds_is_refused_with_the_bound() {
        assert!(spec(OK).check().is_ok());
        let mut s = spec(OK);
        s.limits.concurrency = 0;
        assert_eq!(s.check().map_err(|e| e.code), Err("invalid_concurrency"));
        let mut s = spec(OK);
        s.limits.rate_per_second = Some(f64::NAN);
        assert_eq!(s.check().map_err(|e| e.code), Err("invalid_rate"));
        // A rate so close to zero that its interval is no `Duration` (regression: the
        // runner panicked on 5e-324 and the job never ended).
        for tiny in [5e-324, 1e-12, 0.000_999] {
            let mut s = spec(OK);
            s.limits.rate_per_second = Some(tiny);
            assert_eq!(s.check().map_err(|e| e.code), Err("invalid_rate"), "{tiny}");
        }
        let mut s = spec(OK);
        s.limits.rate_per_second = Some(MIN_RATE_PER_SECOND);
        assert!(s.check().is_ok());
        let mut s = spec(OK);
        s.limits.retries = 11;
        assert_eq!(s.check().map_err(|e| e.code), Err("invalid_retries"));
        let mut s = spec(OK);
        if let Some(t) = s.trigger.as_mut() {
            t.timeout_ms = Some(0);
        }
        assert_eq!(s.check().map_err(|e| e.code), Err("invalid_timeout"));
        let mut s = spec(OK);
        s.selector = Selector::default();
        assert_eq!(s.check().map_err(|e| e.code), Err("empty_selector"));
        let mut s = spec(OK);
        if let Some(t) = s.trigger.as_mut() {
            t.requested_message = " ".into();
        }
        assert_eq!(
            s.check().map_err(|e| e.code),
            Err("missing_requested_message")
        );
    }

    #[test]
    fn a_job_sends_a_trigger_or_a_call_and_old_jobs_keep_reading() {
        let call = r#"{"selector": {"all": true}, "call": {"action": "ClearCache"}, "limits": {"concurrency": 10, "retries": 1, "retryBackoffMs": 100}}"#;
        let s = spec(call);
        assert!(s.check().is_ok());
        assert_eq!(
            s.call.as_ref().map(|c| c.payload.clone()),
            Some(serde_json::json!({}))
        );
        let mut both = spec(OK);
        both.call = s.call.clone();
        assert_eq!(both.check().map_err(|e| e.code), Err("conflicting_work"));
        let mut neither = spec(OK);
        neither.trigger = None;
        assert_eq!(neither.check().map_err(|e| e.code), Err("missing_trigger"));
        let mut slow = s.clone();
        if let Some(c) = slow.call.as_mut() {
            c.timeout_ms = Some(MAX_TIMEOUT_MS + 1);
        }
        assert_eq!(slow.check().map_err(|e| e.code), Err("invalid_timeout"));
        // A stored trigger job serializes as it always did (no `call`).
        let json = serde_json::to_value(spec(OK)).expect("serialize");
        assert!(json.get("call").is_none() && json.get("trigger").is_some());
    }

    fn outcome(name: &str) -> JobOutcome {
        JobOutcome::parse(name).unwrap_or_else(|| panic!("{name} is an outcome"))
    }

    #[test]
    fn only_silence_errors_and_drops_are_retried() {
        for o in [
            "StationTimeout",
            "MessageTimeout",
            "CallError",
            "Disconnected",
            "Interrupted",
        ] {
            assert!(outcome(o).retryable(), "{o}");
        }
        for o in [
            "Completed",
            "Partial",
            "Rejected",
            "NotImplemented",
            "WrongTarget",
            "InvalidResponse",
            "Offline",
            "UnknownStation",
            "NotApplicable",
            "Cancelled",
            "Pending",
            "Running",
        ] {
            assert!(!outcome(o).retryable(), "{o}");
        }
    }

    #[test]
    fn job_outcomes_are_stored_and_shown_by_their_plain_names() {
        for name in [
            "Pending",
            "Running",
            "Offline",
            "UnknownStation",
            "NotApplicable",
            "Cancelled",
            "Completed",
            "Partial",
            "Rejected",
            "StationTimeout",
            "Interrupted",
        ] {
            let o = outcome(name);
            assert_eq!(o.as_str(), name);
            let json = serde_json::to_string(&o).expect("serializes");
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<JobOutcome>(&json).ok(), Some(o));
        }
        assert_eq!(JobOutcome::from(Outcome::Running), JobOutcome::Running);
        assert!(serde_json::from_str::<JobOutcome>("\"Sideways\"").is_err());
    }

    #[test]
    fn backoff_doubles_is_capped_and_jittered_within_a_quarter() {
        assert_eq!(backoff_ms(1000, 1, 0.5), 1000);
        assert_eq!(backoff_ms(1000, 2, 0.5), 2000);
        assert_eq!(backoff_ms(1000, 3, 0.5), 4000);
        assert_eq!(backoff_ms(1000, 1, 0.0), 750);
        assert!(backoff_ms(1000, 1, 1.0) < 1250);
        assert_eq!(backoff_ms(1000, 40, 0.5), MAX_BACKOFF_MS);
    }

    #[test]
    fn spread_offsets_are_stable_bounded_and_spread() {
        assert_eq!(spread_offset_ms("job", "CP1", 0), 0);
        let a = spread_offset_ms("job", "CP1", 10_000);
        assert_eq!(a, spread_offset_ms("job", "CP1", 10_000));
        let offsets: Vec<u64> = (0..1000)
            .map(|i| spread_offset_ms("sched-1", &format!("CP{i}"), 10_000))
            .collect();
        assert!(offsets.iter().all(|o| *o < 10_000));
        let early = offsets.iter().filter(|o| **o < 5_000).count();
        assert!(
            (400..600).contains(&early),
            "{early} of 1000 in the first half"
        );
    }

    #[test]
    fn counts_and_completion_follow_the_results() {
        let mut job = Job {
            id: "j".into(),
            spec: spec(OK),
            requested_by: "t".into(),
            status: JobStatus::Running,
            created_at: 0,
            finished_at: None,
            resumed: 0,
            results: vec![StationResult::pending("A"), StationResult::pending("B")],
        };
        assert!(!job.all_done());
        job.results[0].outcome = JobOutcome::Trigger(Outcome::Completed);
        job.results[1].outcome = JobOutcome::Offline;
        assert!(job.all_done());
        assert_eq!(
            job.counts(),
            BTreeMap::from([("Completed".into(), 1), ("Offline".into(), 1)])
        );
    }
}
