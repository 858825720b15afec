//! Alert rules: declarative conditions on what stations send and how they behave, decided
//! without I/O. A rule is plain data (checked when it is created); the [`AlertEngine`]
//! reads journal entries and periodic ticks and answers with raise / repeat / resolve
//! decisions, deduplicated by (rule, station, target) so an open alert is never raised
//! twice. Storing alerts, the event stream and webhooks are the binary's job.

mod alert;
mod engine;
mod eval;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use alert::{AckError, Alert, AlertStatus};
pub use engine::{AlertEngine, AlertKey, Decision, Finding, StationSnapshot};

use crate::Millis;
use crate::incoming::DEFAULT_MEASURAND;
use crate::trigger_record::Outcome;

/// The `EVENT` action journaled when an alert is raised.
pub const ALERT_RAISED: &str = "AlertRaised";
/// The `EVENT` action journaled when an operator acknowledges an alert.
pub const ALERT_ACKNOWLEDGED: &str = "AlertAcknowledged";
/// The `EVENT` action journaled when an alert's condition clears.
pub const ALERT_RESOLVED: &str = "AlertResolved";
/// Every alert event, in lifecycle order (webhook `events` filters name these).
pub const ALERT_EVENTS: [&str; 3] = [ALERT_RAISED, ALERT_ACKNOWLEDGED, ALERT_RESOLVED];

/// Firmware statuses that mean an update failed (1.6, the 1.6 security extension's
/// SignedFirmwareStatusNotification and 2.0.1 FirmwareStatusEnumType).
pub const FIRMWARE_FAILURES: [&str; 4] = [
    "DownloadFailed",
    "InstallationFailed",
    "InstallVerificationFailed",
    "InvalidSignature",
];

/// At most this many characters of a security event's `techInfo` (or a refusal's
/// `reason`) go into an alert: enough to read, and a station cannot bloat every alert,
/// event and webhook body with a long text.
pub const TECH_INFO_MAX_CHARS: usize = 256;

/// At most this many characters of a security event's `type` make its alert's target (the
/// schemas' limit in both versions; a lenient server may accept a longer one).
pub const SECURITY_TYPE_MAX_CHARS: usize = 50;

/// The station CALL a `securityEvent` rule reads (1.6 security extension and 2.0.1).
pub const SECURITY_EVENT_NOTIFICATION: &str = "SecurityEventNotification";

/// How urgent an alert is; it only labels alerts (for people and webhook receivers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Needs a look (the default).
    #[default]
    Warning,
    /// Needs action now.
    Critical,
}

/// What a rule watches for. JSON: `{"kind": "connectorFaulted"}`,
/// `{"kind": "heartbeatMissing", "minutes": 10}`, ...
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Condition {
    /// A StatusNotification with status Faulted (1.6 `status`, 2.0.1 `connectorStatus`) or
    /// a 1.6 `errorCode` other than NoError; clears when that connector reports otherwise.
    ConnectorFaulted {},
    /// A (Signed)FirmwareStatusNotification with a failure status ([`FIRMWARE_FAILURES`]);
    /// clears on Installed.
    FirmwareFailed {},
    /// A connected station sent no Heartbeat for `minutes` (fractions allowed); clears
    /// when one arrives.
    HeartbeatMissing {
        /// How long a connected station may go without a Heartbeat.
        minutes: f64,
    },
    /// A trigger ended with one of `outcomes`; clears when a later trigger of the same
    /// requestedMessage on that station ends Completed.
    TriggerOutcome {
        /// Trigger outcomes that raise (e.g. `Rejected`, `NotImplemented`, `StationTimeout`).
        outcomes: Vec<String>,
        /// Only triggers of this requestedMessage (as the caller wrote it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requested_message: Option<String>,
    },
    /// A sampled value of `measurand` (MeterValues, 2.0.1 TransactionEvent) below `min` or
    /// above `max`; clears when a value of that measurand on that target is in range.
    MeterOutOfRange {
        /// The measurand to watch.
        #[serde(default = "default_measurand")]
        measurand: String,
        /// Values below this raise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        /// Values above this raise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    /// A security event: a station's SecurityEventNotification (once acknowledged by a
    /// CALLRESULT), a `SecurityEvent` the CSMS journaled about a station (at once) and, with
    /// `include_refused_connections`, a `ConnectionRefused` (its `code` is the type). One
    /// alert per event type; it never clears by itself: acknowledging it resolves it, so the
    /// next event of that type raises a new alert (before that, events count as repeats).
    SecurityEvent {
        /// Only these event types (as the station or the CSMS names them); all when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        types: Option<Vec<String>>,
        /// Connections refused at the handshake raise too (default false).
        #[serde(default)]
        include_refused_connections: bool,
    },
    /// A station's configuration was found off a desired configuration profile (a
    /// `ConfigurationChecked` event with drift), one alert per profile; clears when a later
    /// check of that profile finds it compliant.
    ConfigDrift {
        /// Only these profiles (ids); every profile when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        profiles: Option<Vec<String>>,
    },
}

fn default_measurand() -> String {
    DEFAULT_MEASURAND.to_owned()
}

impl Condition {
    /// Whether the condition reads station CALLs of this action.
    pub fn reads(&self, action: &str) -> bool {
        match self {
            Condition::ConnectorFaulted {} => action == "StatusNotification",
            Condition::FirmwareFailed {} => matches!(
                action,
                "FirmwareStatusNotification" | "SignedFirmwareStatusNotification"
            ),
            Condition::HeartbeatMissing { .. } => action == "Heartbeat",
            Condition::TriggerOutcome { .. } => false,
            Condition::MeterOutOfRange { .. } => {
                matches!(action, "MeterValues" | "TransactionEvent")
            }
            Condition::SecurityEvent { .. } => action == SECURITY_EVENT_NOTIFICATION,
            Condition::ConfigDrift { .. } => false,
        }
    }

    /// Whether its alerts end when an operator acknowledges them: a condition that never
    /// clears by itself (`securityEvent`) would otherwise keep its key taken for good, and a
    /// later event would only be counted, never raised or delivered.
    pub fn ends_on_acknowledge(&self) -> bool {
        matches!(self, Condition::SecurityEvent { .. })
    }
}

/// A rule as its author writes it (the API's create and replace body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleSpec {
    /// A name people recognise; copied into every alert it raises.
    pub name: String,
    /// What raises and clears its alerts.
    pub condition: Condition,
    /// How urgent its alerts are.
    #[serde(default)]
    pub severity: Severity,
    /// Only these stations (ids); every station when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stations: Option<Vec<String>>,
}

/// Trigger outcomes a `triggerOutcome` rule may name: every ended outcome but Completed,
/// which is what clears its alerts.
pub fn alertable_outcomes() -> Vec<&'static str> {
    Outcome::ALL
        .iter()
        .filter(|o| !matches!(o, Outcome::Running | Outcome::Completed))
        .map(|o| o.as_str())
        .collect()
}

impl RuleSpec {
    /// Checks what serde cannot: a message saying what is wrong and what would be right.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() || self.name.chars().count() > 200 {
            return Err("name must be 1 to 200 characters, e.g. \"Connector faulted\"".into());
        }
        if let Some(stations) = &self.stations
            && (stations.is_empty() || stations.iter().any(|s| s.trim().is_empty()))
        {
            return Err(
                "stations must be a non-empty list of station ids (leave it out for every station)"
                    .into(),
            );
        }
        match &self.condition {
            Condition::ConnectorFaulted {} | Condition::FirmwareFailed {} => Ok(()),
            Condition::ConfigDrift { profiles } => {
                if profiles
                    .as_ref()
                    .is_some_and(|p| p.is_empty() || p.iter().any(|p| p.trim().is_empty()))
                {
                    return Err("condition.profiles must be a non-empty list of configuration profile ids (leave it out for every profile)".into());
                }
                Ok(())
            }
            Condition::SecurityEvent { types, .. } => {
                if types
                    .as_ref()
                    .is_some_and(|t| t.is_empty() || t.iter().any(|t| t.trim().is_empty()))
                {
                    return Err("condition.types must be a non-empty list of security event types, e.g. [\"InvalidCsr\", \"wrong_credentials\"] (leave it out for every type)".into());
                }
                Ok(())
            }
            Condition::HeartbeatMissing { minutes } => {
                if minutes.is_finite() && *minutes > 0.0 {
                    Ok(())
                } else {
                    Err(format!(
                        "condition.minutes must be a number greater than 0 (fractions allowed, e.g. 0.5), got {minutes}"
                    ))
                }
            }
            Condition::TriggerOutcome {
                outcomes,
                requested_message,
            } => {
                let valid = alertable_outcomes();
                if outcomes.is_empty() {
                    return Err(format!(
                        "condition.outcomes must name at least one trigger outcome of {}",
                        valid.join(", ")
                    ));
                }
                if let Some(bad) = outcomes.iter().find(|o| !valid.contains(&o.as_str())) {
                    return Err(format!(
                        "condition.outcomes: {bad:?} is not an outcome that can raise an alert; use {}",
                        valid.join(", ")
                    ));
                }
                if requested_message
                    .as_ref()
                    .is_some_and(|m| m.trim().is_empty())
                {
                    return Err("condition.requestedMessage must not be empty (leave it out for every requestedMessage)".into());
                }
                Ok(())
            }
            Condition::MeterOutOfRange {
                measurand,
                min,
                max,
            } => {
                if measurand.trim().is_empty() {
                    return Err(format!(
                        "condition.measurand must not be empty (default {DEFAULT_MEASURAND})"
                    ));
                }
                if min.is_none() && max.is_none() {
                    return Err(
                        "condition needs min, max or both (the range a value must stay in)".into(),
                    );
                }
                if min.is_some_and(|v| !v.is_finite()) || max.is_some_and(|v| !v.is_finite()) {
                    return Err("condition.min and condition.max must be finite numbers".into());
                }
                if let (Some(lo), Some(hi)) = (min, max)
                    && lo > hi
                {
                    return Err(format!(
                        "condition.min ({lo}) must not be greater than condition.max ({hi})"
                    ));
                }
                Ok(())
            }
        }
    }
}

/// A stored rule: its spec plus identity and times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertRule {
    /// Its id (time-ordered, assigned on creation).
    pub id: String,
    /// A name people recognise.
    pub name: String,
    /// What raises and clears its alerts.
    pub condition: Condition,
    /// How urgent its alerts are.
    pub severity: Severity,
    /// Only these stations; every station when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stations: Option<Vec<String>>,
    /// When it was created.
    pub created_at: Millis,
    /// When it was last replaced.
    pub updated_at: Millis,
}

impl AlertRule {
    /// A new rule from a validated spec.
    pub fn new(id: impl Into<String>, spec: RuleSpec, now: Millis) -> Self {
        Self {
            id: id.into(),
            name: spec.name,
            condition: spec.condition,
            severity: spec.severity,
            stations: spec.stations,
            created_at: now,
            updated_at: now,
        }
    }

    /// The same rule with a new spec (its id and creation time kept).
    pub fn replaced(&self, spec: RuleSpec, now: Millis) -> Self {
        Self {
            created_at: self.created_at,
            ..Self::new(self.id.clone(), spec, now)
        }
    }

    /// Whether the rule watches this station.
    pub fn applies_to(&self, station: &str) -> bool {
        self.stations
            .as_ref()
            .is_none_or(|list| list.iter().any(|s| s == station))
    }
}
