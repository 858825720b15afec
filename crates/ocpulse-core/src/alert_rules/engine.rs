//! The rule engine: journal entries and ticks in, decisions out.
//!
//! It reads the journal as it grows (frames and `EVENT` entries), so it sees exactly what
//! the event stream shows. A station CALL counts once the CSMS acknowledged it (its
//! CALLRESULT follows; a CALLERROR means it was refused and changes nothing), the same rule
//! station state follows. It keeps the set of active alerts so each (rule, station,
//! target) is raised once while open: an entry that fires again is a `Repeat`, a tick that
//! still sees the condition says nothing. Security events never clear: their alerts end
//! when acknowledged ([`AlertEngine::resolution_on_acknowledge`]).

use std::collections::{HashMap, HashSet, VecDeque};

use serde_json::{Value, json};

use super::eval::{self, Verdict};
use super::{AlertRule, Condition};
use crate::incoming::StationCall;
use crate::journal::{
    CONFIGURATION_CHECKED, CONNECTION_REFUSED, Direction, EVENT, JournalEntry, SECURITY_EVENT,
    STATION_CONNECTED, STATION_DISCONNECTED,
};
use crate::{Millis, rfc3339};

/// At most this many station CALLs wait for their answer; a CALL never answered (the
/// connection dropped) is forgotten once this many newer ones arrived.
const AWAITING_MAX: usize = 10_000;

/// What deduplicates alerts: one active alert per rule, station and target.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlertKey {
    /// The rule.
    pub rule_id: String,
    /// The station.
    pub station_id: String,
    /// What on the station (`connector:1`, `firmware`, ...).
    pub target: String,
}

/// A condition seen (or seen clear) on one target.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Which alert it concerns.
    pub key: AlertKey,
    /// What was seen.
    pub details: Value,
}

/// What the caller should do with its alerts.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Raise a new alert (none was active for the key).
    Raise(Finding),
    /// The condition fired again while its alert is active: count it.
    Repeat(Finding),
    /// The condition cleared: resolve the active alert.
    Resolve(Finding),
}

/// What a tick needs to know about a station.
#[derive(Debug, Clone, PartialEq)]
pub struct StationSnapshot {
    /// The station id.
    pub id: String,
    /// Whether it has a live connection now.
    pub connected: bool,
    /// When it last sent a Heartbeat.
    pub last_heartbeat: Option<Millis>,
    /// When it last sent anything.
    pub last_seen: Option<Millis>,
}

/// The rule engine's state (see the module doc).
#[derive(Debug, Default)]
pub struct AlertEngine {
    rules: Vec<AlertRule>,
    active: HashSet<AlertKey>,
    connected_at: HashMap<String, Millis>,
    awaiting: HashMap<(String, String), (String, StationCall, Millis)>,
    awaiting_order: VecDeque<(String, String)>,
}

impl AlertEngine {
    /// An engine with these rules and the keys of the alerts still active (from storage).
    pub fn new(rules: Vec<AlertRule>, active: impl IntoIterator<Item = AlertKey>) -> Self {
        Self {
            rules,
            active: active.into_iter().collect(),
            ..Self::default()
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> &[AlertRule] {
        &self.rules
    }

    /// One rule.
    pub fn rule(&self, id: &str) -> Option<&AlertRule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// Adds a rule or replaces the one with its id.
    pub fn put_rule(&mut self, rule: AlertRule) {
        match self.rules.iter_mut().find(|r| r.id == rule.id) {
            Some(slot) => *slot = rule,
            None => self.rules.push(rule),
        }
    }

    /// Removes a rule; the caller resolves its active alerts (see [`Self::forget`]).
    pub fn remove_rule(&mut self, id: &str) -> Option<AlertRule> {
        let at = self.rules.iter().position(|r| r.id == id)?;
        Some(self.rules.remove(at))
    }

    /// The caller resolved an alert itself (its rule was deleted, or it ended when
    /// acknowledged).
    pub fn forget(&mut self, key: &AlertKey) {
        self.active.remove(key);
    }

    /// An operator is acknowledging the active alert of `key`: if its rule's condition never
    /// clears by itself ([`Condition::ends_on_acknowledge`], `securityEvent`), the alert ends
    /// here and this is its resolution; the caller stores it, then calls [`Self::forget`], so
    /// the next event of that key raises a new alert. `None`: it stays active.
    pub fn resolution_on_acknowledge(&self, key: &AlertKey) -> Option<Value> {
        let rule = self.rule(&key.rule_id)?;
        (rule.condition.ends_on_acknowledge() && self.active.contains(key)).then(|| {
            json!({"reason": "acknowledged; security events do not clear by themselves, so acknowledging ends the alert"})
        })
    }

    /// Decisions from one committed journal entry.
    pub fn on_entry(&mut self, entry: &JournalEntry) -> Vec<Decision> {
        let station = entry.station_id.as_str();
        match (entry.frame_type, entry.direction, entry.action.as_deref()) {
            (EVENT, _, Some(STATION_CONNECTED)) => {
                self.connected_at.insert(station.to_owned(), entry.at);
                Vec::new()
            }
            (EVENT, _, Some(STATION_DISCONNECTED)) => {
                self.connected_at.remove(station);
                Vec::new()
            }
            (EVENT, _, Some("TriggerCompleted")) => {
                let Ok(payload) = serde_json::from_str::<Value>(&entry.payload) else {
                    return Vec::new();
                };
                let verdicts: Vec<(String, Verdict)> = self
                    .rules
                    .iter()
                    .filter(|r| r.applies_to(station))
                    .filter_map(|r| {
                        eval::on_trigger_completed(
                            &r.condition,
                            entry.trigger_id.as_deref(),
                            &payload,
                        )
                        .map(|v| (r.id.clone(), v))
                    })
                    .collect();
                self.decide(station, verdicts)
            }
            (EVENT, _, Some(CONFIGURATION_CHECKED)) => {
                let Ok(payload) = serde_json::from_str::<Value>(&entry.payload) else {
                    return Vec::new();
                };
                let verdicts: Vec<(String, Verdict)> = self
                    .rules
                    .iter()
                    .filter(|r| r.applies_to(station))
                    .filter_map(|r| {
                        eval::on_configuration_checked(&r.condition, &payload)
                            .map(|v| (r.id.clone(), v))
                    })
                    .collect();
                self.decide(station, verdicts)
            }
            (EVENT, _, Some(action @ (SECURITY_EVENT | CONNECTION_REFUSED))) => {
                // Parsed only when some rule watches security events.
                if !self
                    .rules
                    .iter()
                    .any(|r| matches!(r.condition, Condition::SecurityEvent { .. }))
                {
                    return Vec::new();
                }
                let Ok(payload) = serde_json::from_str::<Value>(&entry.payload) else {
                    return Vec::new();
                };
                let verdicts: Vec<(String, Verdict)> = self
                    .rules
                    .iter()
                    .filter(|r| r.applies_to(station))
                    .filter_map(|r| {
                        eval::on_security_event(&r.condition, action, &payload, entry.at)
                            .map(|v| (r.id.clone(), v))
                    })
                    .collect();
                self.decide(station, verdicts)
            }
            ("CALL", Direction::In, Some(action)) => {
                // Only CALLs some rule reads are kept (and parsed) until answered.
                if !self.rules.iter().any(|r| r.condition.reads(action)) {
                    return Vec::new();
                }
                if let (Some(id), Ok(payload)) = (
                    entry.message_id.clone(),
                    serde_json::from_str::<Value>(&entry.payload),
                ) {
                    let key = (station.to_owned(), id);
                    if self.awaiting_order.len() >= AWAITING_MAX
                        && let Some(old) = self.awaiting_order.pop_front()
                    {
                        self.awaiting.remove(&old);
                    }
                    self.awaiting_order.push_back(key.clone());
                    let call = StationCall::read_journaled(action, &payload);
                    self.awaiting
                        .insert(key, (action.to_owned(), call, entry.at));
                }
                Vec::new()
            }
            ("CALLRESULT" | "CALLERROR", Direction::Out, _) => {
                let Some(id) = entry.message_id.clone() else {
                    return Vec::new();
                };
                let key = (station.to_owned(), id);
                let Some((action, call, received_at)) = self.awaiting.remove(&key) else {
                    return Vec::new();
                };
                if let Some(at) = self.awaiting_order.iter().rposition(|k| *k == key) {
                    self.awaiting_order.remove(at);
                }
                if entry.frame_type != "CALLRESULT" {
                    return Vec::new();
                }
                let verdicts = self
                    .rules
                    .iter()
                    .filter(|r| r.applies_to(station))
                    .flat_map(|r| {
                        eval::on_call(&r.condition, &action, &call, received_at)
                            .into_iter()
                            .map(|v| (r.id.clone(), v))
                    })
                    .collect();
                self.decide(station, verdicts)
            }
            _ => Vec::new(),
        }
    }

    /// Decisions of the time-based rules (`heartbeatMissing`) at `now`.
    pub fn on_tick(&mut self, stations: &[StationSnapshot], now: Millis) -> Vec<Decision> {
        let mut out = Vec::new();
        for rule in &self.rules {
            let Condition::HeartbeatMissing { minutes } = rule.condition else {
                continue;
            };
            let limit_ms = minutes * 60_000.0;
            for s in stations
                .iter()
                .filter(|s| s.connected && rule.applies_to(&s.id))
            {
                // A heartbeat from before this connection says nothing about it.
                let connected = self.connected_at.get(&s.id).copied();
                let Some(since) = s.last_heartbeat.max(connected).or(s.last_seen) else {
                    continue;
                };
                let silent_ms = now.saturating_sub(since);
                // Precision loss only matters beyond 2^53 ms (285,000 years).
                #[allow(clippy::cast_precision_loss)]
                let silent = silent_ms as f64;
                if silent < limit_ms {
                    continue;
                }
                let key = AlertKey {
                    rule_id: rule.id.clone(),
                    station_id: s.id.clone(),
                    target: "heartbeat".into(),
                };
                if self.active.insert(key.clone()) {
                    out.push(Decision::Raise(Finding {
                        key,
                        details: json!({
                            "lastHeartbeat": s.last_heartbeat.map(rfc3339),
                            "silentSince": rfc3339(since),
                            "silentForSeconds": silent_ms / 1000,
                            "minutes": minutes,
                        }),
                    }));
                }
            }
        }
        out
    }

    fn decide(&mut self, station: &str, verdicts: Vec<(String, Verdict)>) -> Vec<Decision> {
        verdicts
            .into_iter()
            .filter_map(|(rule_id, v)| {
                let key = AlertKey {
                    rule_id,
                    station_id: station.to_owned(),
                    target: v.target,
                };
                let active = self.active.contains(&key);
                match (v.firing, active) {
                    (true, false) => {
                        self.active.insert(key.clone());
                        Some(Decision::Raise(Finding {
                            key,
                            details: v.details,
                        }))
                    }
                    (true, true) => Some(Decision::Repeat(Finding {
                        key,
                        details: v.details,
                    })),
                    (false, true) => {
                        self.active.remove(&key);
                        Some(Decision::Resolve(Finding {
                            key,
                            details: v.details,
                        }))
                    }
                    (false, false) => None,
                }
            })
            .collect()
    }
}
