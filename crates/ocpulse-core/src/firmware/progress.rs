//! One station's update, folded from what happened to it: the CALL's answer, each status
//! it reported (by notification, or because a trigger asked), its boot after the install.
//! Reports of a 1.6 core update carry no requestId and belong to the station's update in
//! progress (a station installs one image at a time); reports with another requestId are
//! another update's and ignored.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::UpdateCall;
use crate::Millis;
use crate::journal::JournalEntry;

/// Status asks in a row that a station may leave without any report before it counts as
/// failed: it is connected (a trigger reached it) but says nothing about this update.
pub const MAX_UNANSWERED_ASKS: u32 = 5;

/// Statuses that end an update as failed (every version's).
pub const FAILURE_STATUSES: [&str; 4] = [
    "DownloadFailed",
    "InstallationFailed",
    "InstallVerificationFailed",
    "InvalidSignature",
];

/// Where one station's update stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// Not sent yet.
    Pending,
    /// Sent, waiting for the station's answer.
    Sent,
    /// Taken by the station, not installed yet.
    Updating,
    /// Installed: the station said so, or booted with the expected version.
    Installed,
    /// It failed: refused, a failure status, no answer, or no end within the limit.
    Failed,
    /// Never sent: the rollout halted or was cancelled first.
    Skipped,
}

impl Phase {
    /// Whether nothing more will change it.
    pub fn ended(self) -> bool {
        matches!(self, Self::Installed | Self::Failed | Self::Skipped)
    }
}

/// One status the station reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The status (`Downloading`, ..., `Installed`), or `Booted <version>`.
    pub status: String,
    /// When it arrived.
    pub at: Millis,
    /// The journal entry it came in.
    pub seq: i64,
}

/// One station's update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StationUpdate {
    /// The station.
    pub station_id: String,
    /// Where it stands.
    pub phase: Phase,
    /// The CALL it was sent (chosen by its version when sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<UpdateCall>,
    /// The requestId sent (signed and 2.x updates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<i64>,
    /// When the CALL was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<Millis>,
    /// The station's answer (`Accepted`, `Rejected`, ...) or why there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// The last status it reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Every status reported, oldest first.
    #[serde(default)]
    pub reports: Vec<Report>,
    /// When the station was last heard about this update (sent, answered, reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heard_at: Option<Millis>,
    /// FirmwareStatusNotification triggers sent because it went quiet.
    #[serde(default)]
    pub triggers: u32,
    /// When the last of them was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_trigger_at: Option<Millis>,
    /// Asks sent since the last report about this update.
    #[serde(default)]
    pub unanswered_asks: u32,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Millis>,
    /// Why it failed or was skipped, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl StationUpdate {
    /// A station not sent to yet.
    pub fn pending(station_id: impl Into<String>) -> Self {
        Self {
            station_id: station_id.into(),
            phase: Phase::Pending,
            call: None,
            request_id: None,
            sent_at: None,
            answer: None,
            status: None,
            reports: Vec::new(),
            last_heard_at: None,
            triggers: 0,
            last_trigger_at: None,
            unanswered_asks: 0,
            ended_at: None,
            error: None,
        }
    }

    /// The CALL went out.
    pub fn sent(&mut self, call: UpdateCall, request_id: Option<i64>, at: Millis) {
        self.phase = Phase::Sent;
        self.call = Some(call);
        self.request_id = request_id;
        self.sent_at = Some(at);
        self.last_heard_at = Some(at);
    }

    /// The station answered the CALL (its CALLRESULT).
    pub fn answered(&mut self, response: &Value, at: Millis) {
        let Some(call) = self.call else { return };
        self.last_heard_at = Some(at);
        match call.answer(response) {
            Ok(status) => {
                self.answer = Some(status);
                // A report that arrived before the answer was read may have ended it.
                if self.phase == Phase::Sent {
                    self.phase = Phase::Updating;
                }
            }
            Err(refusal) => {
                self.answer = Some(refusal.clone());
                self.fail(format!("the station answered {refusal}"), at);
            }
        }
    }

    /// The CALL got no usable answer (a CALLERROR, none in time, a disconnect), or could
    /// not be sent at all.
    pub fn call_failed(&mut self, why: String, at: Millis) {
        self.answer = Some(why.clone());
        self.fail(why, at);
    }

    /// The CSMS restarted between sending and reading the answer: the station may have
    /// taken it, so it is followed like an accepted one (its reports, or a trigger when it
    /// stays quiet, tell).
    pub fn answer_lost(&mut self, at: Millis) {
        if self.phase == Phase::Sent {
            self.phase = Phase::Updating;
            self.answer = Some("unknown: the CSMS restarted before the answer".into());
            self.last_heard_at = Some(at);
        }
    }

    /// Folds a journal entry about this station: a status report or a boot. `expected` is
    /// the firmware version the image carries, when the caller said.
    pub fn observe(&mut self, entry: &JournalEntry, expected: Option<&str>) {
        if self.phase != Phase::Updating && self.phase != Phase::Sent {
            return;
        }
        if entry.station_id != self.station_id
            || self.sent_at.is_none_or(|sent| entry.at < sent)
            || entry.frame_type != "CALL"
        {
            return;
        }
        let Ok(payload) = serde_json::from_str::<Value>(&entry.payload) else {
            return;
        };
        match entry.action.as_deref() {
            Some("FirmwareStatusNotification" | "SignedFirmwareStatusNotification") => {
                let reported = payload.get("requestId").and_then(Value::as_i64);
                if reported.is_some() && self.request_id.is_some() && reported != self.request_id {
                    return;
                }
                if let Some(status) = payload.get("status").and_then(Value::as_str) {
                    self.status_reported(status, entry.at, entry.seq);
                }
            }
            Some("BootNotification") => {
                let version = payload
                    .get("firmwareVersion")
                    .or_else(|| payload.pointer("/chargingStation/firmwareVersion"))
                    .and_then(Value::as_str);
                self.reports.push(Report {
                    status: format!("Booted {}", version.unwrap_or("(no version)")),
                    at: entry.at,
                    seq: entry.seq,
                });
                self.last_heard_at = Some(entry.at);
                if expected.is_some() && version == expected {
                    self.end(Phase::Installed, None, entry.at);
                }
            }
            _ => {}
        }
    }

    fn status_reported(&mut self, status: &str, at: Millis, seq: i64) {
        self.reports.push(Report {
            status: status.to_owned(),
            at,
            seq,
        });
        self.last_heard_at = Some(at);
        self.unanswered_asks = 0;
        let progressed = self
            .reports
            .iter()
            .any(|r| !matches!(r.status.as_str(), "Idle" | "DownloadScheduled"));
        match status {
            "Installed" => self.end(Phase::Installed, None, at),
            s if FAILURE_STATUSES.contains(&s) => {
                self.fail(format!("the station reported {s}"), at);
            }
            // Idle after the update had started: it stopped without saying Installed.
            "Idle" if progressed && self.phase == Phase::Updating => self.fail(
                "the station went Idle without reporting Installed (give firmwareVersion to accept a boot with the new version as proof)".into(),
                at,
            ),
            _ => {}
        }
        self.status = Some(status.to_owned());
    }

    /// Whether it has been quiet long enough to ask it for its status: updating, nothing
    /// heard and nothing asked for `quiet_ms`.
    pub fn quiet(&self, now: Millis, quiet_ms: Millis) -> bool {
        self.phase == Phase::Updating
            && self.last_heard_at.is_some_and(|t| now - t >= quiet_ms)
            && self.last_trigger_at.is_none_or(|t| now - t >= quiet_ms)
    }

    /// A status trigger is sent; after [`MAX_UNANSWERED_ASKS`] in a row without a report
    /// the update has failed instead (nothing is sent): a station that answers asks about
    /// its firmware with nothing about this update is not updating it.
    pub fn triggered(&mut self, at: Millis) -> bool {
        if self.unanswered_asks >= MAX_UNANSWERED_ASKS {
            self.fail(
                format!("asked {MAX_UNANSWERED_ASKS} times for its status, it reported nothing about this update"),
                at,
            );
            return false;
        }
        self.triggers += 1;
        self.unanswered_asks += 1;
        self.last_trigger_at = Some(at);
        true
    }

    /// Ends it as failed if it was sent `limit_ms` ago and has not ended.
    pub fn expire(&mut self, now: Millis, limit_ms: Millis) {
        if matches!(self.phase, Phase::Sent | Phase::Updating)
            && self.sent_at.is_some_and(|t| now - t >= limit_ms)
        {
            self.fail(
                format!(
                    "not installed within {} s of sending (installTimeoutSecs); last status {}",
                    limit_ms / 1000,
                    self.status.as_deref().unwrap_or("none")
                ),
                now,
            );
        }
    }

    /// Never sent: the rollout stopped first.
    pub fn skip(&mut self, why: &str, at: Millis) {
        if self.phase == Phase::Pending {
            self.end(Phase::Skipped, Some(why.to_owned()), at);
        }
    }

    fn fail(&mut self, why: String, at: Millis) {
        self.end(Phase::Failed, Some(why), at);
    }

    fn end(&mut self, phase: Phase, error: Option<String>, at: Millis) {
        if !self.phase.ended() {
            self.phase = phase;
            self.error = error;
            self.ended_at = Some(at);
        }
    }
}
