//! One alert and its lifecycle: raised (open), acknowledged by a person, resolved when
//! its condition clears. Pure transitions; the caller stores the result.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AlertKey, AlertRule, Finding, Severity};
use crate::{Millis, rfc3339};

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AlertStatus {
    /// Raised, nobody has acknowledged it yet.
    Open,
    /// Someone is on it; the condition still holds.
    Acknowledged,
    /// The condition cleared (or its rule was deleted; a `securityEvent` alert when it
    /// was acknowledged).
    Resolved,
}

impl AlertStatus {
    /// The stored and filtered name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }

    /// Reads the name back.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Open, Self::Acknowledged, Self::Resolved]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// Why an acknowledgement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// Acknowledging a cleared alert means nothing.
    #[error("the alert was resolved at {0}; only open alerts can be acknowledged")]
    Resolved(String),
    /// Someone already did.
    #[error("the alert was already acknowledged by {by} at {at}")]
    Already {
        /// Who acknowledged it.
        by: String,
        /// When.
        at: String,
    },
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// Its id (time-ordered).
    pub id: String,
    /// The rule that raised it.
    pub rule_id: String,
    /// The rule's name when raised.
    pub rule_name: String,
    /// The rule's severity when raised.
    pub severity: Severity,
    /// The station it is about.
    pub station_id: String,
    /// What on the station (`connector:1`, `evse:1/connector:2`, `firmware`, `heartbeat`,
    /// `trigger:StatusNotification`, `meter:connector:1`, a security event type).
    pub target: String,
    /// Where it is in its life.
    pub status: AlertStatus,
    /// When it was raised (RFC 3339).
    pub raised_at: String,
    /// When its condition last fired (RFC 3339).
    pub last_raised_at: String,
    /// How many times the condition fired while it was open (1 when raised).
    pub count: u64,
    /// What the latest firing saw.
    pub details: Value,
    /// When it was acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<String>,
    /// Who acknowledged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    /// Their note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledge_note: Option<String>,
    /// When it was resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    /// What cleared it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Value>,
}

impl Alert {
    /// A new open alert for a finding of `rule`.
    pub fn raise(id: impl Into<String>, rule: &AlertRule, finding: &Finding, now: Millis) -> Self {
        Self {
            id: id.into(),
            rule_id: rule.id.clone(),
            rule_name: rule.name.clone(),
            severity: rule.severity,
            station_id: finding.key.station_id.clone(),
            target: finding.key.target.clone(),
            status: AlertStatus::Open,
            raised_at: rfc3339(now),
            last_raised_at: rfc3339(now),
            count: 1,
            details: finding.details.clone(),
            acknowledged_at: None,
            acknowledged_by: None,
            acknowledge_note: None,
            resolved_at: None,
            resolution: None,
        }
    }

    /// Its deduplication key.
    pub fn key(&self) -> AlertKey {
        AlertKey {
            rule_id: self.rule_id.clone(),
            station_id: self.station_id.clone(),
            target: self.target.clone(),
        }
    }

    /// Open or acknowledged: the condition has not cleared.
    pub fn is_active(&self) -> bool {
        self.status != AlertStatus::Resolved
    }

    /// The condition fired again while the alert is active.
    pub fn repeat(&mut self, details: Value, now: Millis) {
        self.count += 1;
        self.details = details;
        self.last_raised_at = rfc3339(now);
    }

    /// Someone takes it on.
    pub fn acknowledge(
        &mut self,
        by: String,
        note: Option<String>,
        now: Millis,
    ) -> Result<(), AckError> {
        match self.status {
            AlertStatus::Resolved => Err(AckError::Resolved(
                self.resolved_at.clone().unwrap_or_default(),
            )),
            AlertStatus::Acknowledged => Err(AckError::Already {
                by: self.acknowledged_by.clone().unwrap_or_default(),
                at: self.acknowledged_at.clone().unwrap_or_default(),
            }),
            AlertStatus::Open => {
                self.status = AlertStatus::Acknowledged;
                self.acknowledged_at = Some(rfc3339(now));
                self.acknowledged_by = Some(by);
                self.acknowledge_note = note;
                Ok(())
            }
        }
    }

    /// The condition cleared.
    pub fn resolve(&mut self, resolution: Value, now: Millis) {
        self.status = AlertStatus::Resolved;
        self.resolved_at = Some(rfc3339(now));
        self.resolution = Some(resolution);
    }
}
