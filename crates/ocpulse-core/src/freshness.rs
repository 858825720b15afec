//! Freshness targets ("connector status no older than 15 minutes", "meter values no older
//! than 5 minutes while charging"): which data a target watches, and whether a station's
//! data has gone stale, in which case ocpulse triggers a refresh by itself. Also the
//! liveness rule: a station whose socket is open but which has sent nothing for a while is
//! probed with a triggered Heartbeat before it is declared unresponsive. No I/O.

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::selector::Selector;
use crate::state::StationState;
use crate::trigger_plan::TriggerRequest;

/// The shortest max age a target may ask for.
pub const MIN_MAX_AGE_SECONDS: u64 = 1;
/// The longest (7 days).
pub const MAX_MAX_AGE_SECONDS: u64 = 7 * 24 * 3600;

/// What a target keeps fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FreshData {
    /// Every known connector's status (StatusNotification).
    ConnectorStatus,
    /// The latest meter reading (MeterValues).
    MeterValues,
    /// Any message at all (a Heartbeat is triggered when the station has been quiet).
    Heartbeat,
}

impl FreshData {
    /// The message that refreshes it.
    pub fn requested_message(self) -> &'static str {
        match self {
            FreshData::ConnectorStatus => "StatusNotification",
            FreshData::MeterValues => "MeterValues",
            FreshData::Heartbeat => "Heartbeat",
        }
    }
}

/// A freshness target as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FreshnessTarget {
    /// Time-ordered id.
    pub id: String,
    /// A label for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Which stations.
    pub selector: Selector,
    /// What must stay fresh.
    pub data: FreshData,
    /// How old it may get.
    pub max_age_seconds: u64,
    /// Only while a connector is Charging or a transaction is open.
    #[serde(default)]
    pub only_while_charging: bool,
    /// When it was created.
    pub created_at: Millis,
}

/// Why a target was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreshnessError {
    /// Stable code.
    pub code: &'static str,
    /// What was wrong and what would be right.
    pub message: String,
}

impl FreshnessTarget {
    /// Checks the bounds.
    pub fn check(&self) -> Result<(), FreshnessError> {
        self.selector.check().map_err(|e| FreshnessError {
            code: e.code,
            message: e.message,
        })?;
        if !(MIN_MAX_AGE_SECONDS..=MAX_MAX_AGE_SECONDS).contains(&self.max_age_seconds) {
            return Err(FreshnessError {
                code: "invalid_max_age",
                message: format!(
                    "maxAgeSeconds must be from {MIN_MAX_AGE_SECONDS} to {MAX_MAX_AGE_SECONDS}, got {}",
                    self.max_age_seconds
                ),
            });
        }
        Ok(())
    }

    fn max_age_ms(&self) -> i64 {
        i64::try_from(self.max_age_seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// The refresh to trigger when the station's data is older than allowed (or was never
    /// received), or `None` while it is fresh or the target does not apply now.
    pub fn stale(&self, state: &StationState, now: Millis) -> Option<TriggerRequest> {
        if self.only_while_charging && !charging(state) {
            return None;
        }
        let limit = now.saturating_sub(self.max_age_ms());
        let newest_needed = match self.data {
            // The oldest connector decides: every connector's status must be fresh.
            FreshData::ConnectorStatus => state.connectors.iter().map(|c| c.received_at).min(),
            FreshData::MeterValues => state.meter_values.iter().map(|m| m.received_at).max(),
            FreshData::Heartbeat => state.last_seen,
        };
        match newest_needed {
            Some(at) if at >= limit => None,
            _ => Some(TriggerRequest {
                requested_message: self.data.requested_message().into(),
                evse: None,
                connector_id: None,
                custom_trigger: None,
            }),
        }
    }
}

/// Whether the station is charging: a connector says so, or a transaction is open.
pub fn charging(state: &StationState) -> bool {
    !state.transactions.is_empty() || state.connectors.iter().any(|c| c.status == "Charging")
}

/// Whether a connected station has been quiet long enough to be probed.
pub fn needs_probe(
    last_seen: Option<Millis>,
    connected_at: Millis,
    quiet_ms: i64,
    now: Millis,
) -> bool {
    let last = last_seen.unwrap_or(connected_at).max(connected_at);
    now.saturating_sub(last) >= quiet_ms
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{ConnectorStatus, MeterReading};

    fn target(data: FreshData, charging_only: bool) -> FreshnessTarget {
        FreshnessTarget {
            id: "f".into(),
            name: None,
            selector: Selector {
                all: true,
                ..Selector::default()
            },
            data,
            max_age_seconds: 60,
            only_while_charging: charging_only,
            created_at: 0,
        }
    }

    fn connector(id: i64, status: &str, at: Millis) -> ConnectorStatus {
        ConnectorStatus {
            evse_id: None,
            connector_id: id,
            status: status.into(),
            error_code: None,
            info: None,
            vendor_error_code: None,
            timestamp: None,
            received_at: at,
        }
    }

    #[test]
    fn connector_status_is_stale_when_any_connector_is_old_or_none_is_known() {
        let t = target(FreshData::ConnectorStatus, false);
        let mut s = StationState::new("A");
        let now = 100_000;
        assert_eq!(
            t.stale(&s, now).map(|r| r.requested_message),
            Some("StatusNotification".into()),
            "nothing known yet is stale"
        );
        s.connectors = vec![
            connector(1, "Available", 90_000),
            connector(2, "Available", 30_000),
        ];
        assert!(
            t.stale(&s, now).is_some(),
            "connector 2 is 70 s old, over the 60 s allowed"
        );
        s.connectors[1].received_at = 41_000;
        assert!(t.stale(&s, now).is_none(), "59 s old is fresh");
    }

    #[test]
    fn meter_values_while_charging_ignore_idle_stations() {
        let t = target(FreshData::MeterValues, true);
        let mut s = StationState::new("A");
        s.connectors = vec![connector(1, "Available", 0)];
        assert!(
            t.stale(&s, 1_000_000).is_none(),
            "not charging: not watched"
        );
        s.connectors[0].status = "Charging".into();
        assert_eq!(
            t.stale(&s, 1_000_000).map(|r| r.requested_message),
            Some("MeterValues".into())
        );
        s.meter_values = vec![MeterReading {
            evse_id: None,
            connector_id: Some(1),
            transaction_id: None,
            timestamp: None,
            sampled_value: serde_json::Value::Null,
            received_at: 999_000,
        }];
        assert!(t.stale(&s, 1_000_000).is_none());
    }

    #[test]
    fn a_quiet_station_is_probed_counting_from_its_connection() {
        assert!(!needs_probe(None, 1_000, 5_000, 5_999));
        assert!(needs_probe(None, 1_000, 5_000, 6_000));
        assert!(!needs_probe(Some(4_000), 1_000, 5_000, 8_999));
        assert!(
            !needs_probe(Some(10), 1_000, 5_000, 5_999),
            "silence before this connection does not count"
        );
        let t = target(FreshData::Heartbeat, false);
        let mut s = StationState::new("A");
        s.last_seen = Some(10_000);
        assert!(t.stale(&s, 69_000).is_none());
        assert!(t.stale(&s, 71_000).is_some());
    }
}
