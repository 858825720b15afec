//! Trigger correlation: deciding which of a station's later CALLs are the message(s) a
//! TriggerMessage asked for.
//!
//! OCPP has no correlation field: the triggered message is a new CALL with the station's
//! own id (1.6 §5.17, 2.0.1 F06.FR.04). ocpulse links it by *(action, target, time)*: a
//! CALL of the expected action whose connector/EVSE matches the target, arriving after the
//! TriggerMessage was sent and before the caller's deadline. A message sent "because of
//! normal operations" in that window satisfies the request too (1.6 §5.17 allows it).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::version::ProtocolVersion;

/// The connector (1.6) or EVSE (2.0.1, optionally with its connector) a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TargetKey {
    /// 1.6 connectorId, or 2.0.1 evse id.
    pub id: i64,
    /// 2.0.1 connectorId within the EVSE, where the message carries one.
    pub connector: Option<i64>,
}

impl TargetKey {
    /// A 1.6 connector, or a 2.0.1 EVSE as a whole.
    pub fn of(id: i64) -> Self {
        Self {
            id,
            connector: None,
        }
    }

    /// A 2.0.1 connector of an EVSE.
    pub fn evse_connector(id: i64, connector: i64) -> Self {
        Self {
            id,
            connector: Some(connector),
        }
    }

    /// Whether a message about `self` satisfies a request for `wanted`.
    pub fn satisfies(self, wanted: TargetKey) -> bool {
        self.id == wanted.id && (wanted.connector.is_none() || self.connector == wanted.connector)
    }
}

/// Which connector/EVSE a station CALL is about, for the actions where the target matters.
pub fn target_of(version: ProtocolVersion, action: &str, payload: &Value) -> Option<TargetKey> {
    let int = |v: &Value, k: &str| v.get(k).and_then(Value::as_i64);
    match (version, action) {
        (ProtocolVersion::V16, "StatusNotification" | "MeterValues") => {
            int(payload, "connectorId").map(TargetKey::of)
        }
        (ProtocolVersion::V201, "StatusNotification") => Some(TargetKey {
            id: int(payload, "evseId")?,
            connector: int(payload, "connectorId"),
        }),
        (ProtocolVersion::V201, "MeterValues") => int(payload, "evseId").map(TargetKey::of),
        (ProtocolVersion::V201, "TransactionEvent") => payload
            .get("evse")
            .and_then(|e| int(e, "id"))
            .map(TargetKey::of),
        _ => None,
    }
}

/// How many messages a trigger waits for, and which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The target is irrelevant to the message (Heartbeat, BootNotification, status
    /// notifications of firmware/logs, certificates): the first message completes it.
    One,
    /// One connector/EVSE: the first message about it completes the trigger.
    Target(TargetKey),
    /// Every connector/EVSE: one message per expected target. With no known targets the
    /// trigger completes after the first message and a quiet period with no more.
    All(BTreeSet<TargetKey>),
}

/// What a trigger waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// The action of the CALL the station will send (e.g. `SignCertificate` for
    /// `SignChargingStationCertificate`).
    pub action: &'static str,
    /// Which and how many.
    pub scope: Scope,
}

/// Collects the messages that answer one trigger; the shell offers it every station CALL
/// it acknowledges and keeps the ones it accepts.
#[derive(Debug, Clone)]
pub struct Collector {
    expectation: Expectation,
    quiet: Duration,
    matched: usize,
    seen: BTreeSet<TargetKey>,
    last_match: Option<Instant>,
}

impl Collector {
    /// A collector for `expectation`; `quiet` is how long an open-ended `All` waits for
    /// another message before it counts as complete.
    pub fn new(expectation: Expectation, quiet: Duration) -> Self {
        Self {
            expectation,
            quiet,
            matched: 0,
            seen: BTreeSet::new(),
            last_match: None,
        }
    }

    /// The expectation being collected.
    pub fn expectation(&self) -> &Expectation {
        &self.expectation
    }

    /// Offers a station CALL; true if it belongs to this trigger. A complete collector
    /// accepts nothing more.
    pub fn offer(&mut self, action: &str, target: Option<TargetKey>, now: Instant) -> bool {
        if action != self.expectation.action || self.is_complete(now) {
            return false;
        }
        let accepted = match &self.expectation.scope {
            Scope::One => true,
            // A message without a target (e.g. a TransactionEvent that omits evse) cannot be
            // told apart, so it is taken as the answer.
            Scope::Target(wanted) => target.is_none_or(|t| t.satisfies(*wanted)),
            Scope::All(expected) => {
                if let Some(e) = target.and_then(|t| expected.iter().find(|e| t.satisfies(**e))) {
                    self.seen.insert(*e);
                }
                true
            }
        };
        if accepted {
            self.matched += 1;
            self.last_match = Some(now);
        }
        accepted
    }

    /// Whether every expected message has arrived.
    pub fn is_complete(&self, now: Instant) -> bool {
        match &self.expectation.scope {
            Scope::One | Scope::Target(_) => self.matched > 0,
            Scope::All(expected) if expected.is_empty() => {
                self.last_match.is_some_and(|at| now >= at + self.quiet)
            }
            Scope::All(expected) => expected.iter().all(|e| self.seen.contains(e)),
        }
    }

    /// When an open-ended collector becomes complete if nothing else arrives.
    pub fn wake_at(&self) -> Option<Instant> {
        match &self.expectation.scope {
            Scope::All(expected) if expected.is_empty() => {
                self.last_match.map(|at| at + self.quiet)
            }
            _ => None,
        }
    }

    /// How many messages were accepted.
    pub fn matched(&self) -> usize {
        self.matched
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProtocolVersion::*;
    use serde_json::json;

    const Q: Duration = Duration::from_millis(500);

    #[test]
    fn targets_are_read_from_the_fields_each_version_uses() {
        assert_eq!(
            target_of(V16, "StatusNotification", &json!({"connectorId": 2})),
            Some(TargetKey::of(2))
        );
        assert_eq!(
            target_of(
                V201,
                "StatusNotification",
                &json!({"evseId": 1, "connectorId": 2})
            ),
            Some(TargetKey::evse_connector(1, 2))
        );
        assert_eq!(
            target_of(V201, "MeterValues", &json!({"evseId": 3})),
            Some(TargetKey::of(3))
        );
        assert_eq!(
            target_of(V201, "TransactionEvent", &json!({"evse": {"id": 4}})),
            Some(TargetKey::of(4))
        );
        assert_eq!(target_of(V16, "Heartbeat", &json!({})), None);
    }

    #[test]
    fn targeted_trigger_takes_only_the_matching_connector() {
        let now = Instant::now();
        let mut c = Collector::new(
            Expectation {
                action: "StatusNotification",
                scope: Scope::Target(TargetKey::of(1)),
            },
            Q,
        );
        assert!(
            !c.offer("StatusNotification", Some(TargetKey::of(2)), now),
            "wrong connector"
        );
        assert!(
            !c.offer("MeterValues", Some(TargetKey::of(1)), now),
            "wrong action"
        );
        assert!(!c.is_complete(now));
        assert!(c.offer("StatusNotification", Some(TargetKey::of(1)), now));
        assert!(c.is_complete(now));
        assert!(
            !c.offer("StatusNotification", Some(TargetKey::of(1)), now),
            "complete takes nothing more"
        );
    }

    #[test]
    fn v201_status_trigger_requires_the_same_evse_and_connector_f06_fr_13() {
        let now = Instant::now();
        let wanted = TargetKey::evse_connector(1, 2);
        let mut c = Collector::new(
            Expectation {
                action: "StatusNotification",
                scope: Scope::Target(wanted),
            },
            Q,
        );
        assert!(!c.offer(
            "StatusNotification",
            Some(TargetKey::evse_connector(1, 1)),
            now
        ));
        assert!(c.offer(
            "StatusNotification",
            Some(TargetKey::evse_connector(1, 2)),
            now
        ));
    }

    #[test]
    fn untargeted_trigger_waits_for_every_known_connector_16_5_17() {
        let now = Instant::now();
        let expected: BTreeSet<_> = [0, 1, 2].into_iter().map(TargetKey::of).collect();
        let mut c = Collector::new(
            Expectation {
                action: "StatusNotification",
                scope: Scope::All(expected),
            },
            Q,
        );
        for id in [0, 1] {
            assert!(c.offer("StatusNotification", Some(TargetKey::of(id)), now));
            assert!(!c.is_complete(now));
        }
        assert!(c.offer("StatusNotification", Some(TargetKey::of(2)), now));
        assert!(c.is_complete(now));
        assert_eq!(c.matched(), 3);
    }

    #[test]
    fn untargeted_trigger_with_unknown_layout_completes_after_a_quiet_period() {
        let now = Instant::now();
        let mut c = Collector::new(
            Expectation {
                action: "MeterValues",
                scope: Scope::All(BTreeSet::new()),
            },
            Q,
        );
        assert!(!c.is_complete(now + Q * 10), "nothing arrived yet");
        assert!(c.offer("MeterValues", Some(TargetKey::of(1)), now));
        assert_eq!(c.wake_at(), Some(now + Q));
        assert!(!c.is_complete(now + Q / 2));
        assert!(c.offer("MeterValues", Some(TargetKey::of(2)), now + Q / 2));
        assert!(!c.is_complete(now + Q));
        assert!(c.is_complete(now + Q / 2 + Q));
    }

    #[test]
    fn target_is_irrelevant_for_messages_without_one_16_5_17() {
        let now = Instant::now();
        let mut c = Collector::new(
            Expectation {
                action: "Heartbeat",
                scope: Scope::One,
            },
            Q,
        );
        assert!(c.offer("Heartbeat", None, now));
        assert!(c.is_complete(now));
    }
}
