//! Which stations a fleet operation (a bulk trigger job, a schedule) is about.
//!
//! Operators pick stations the way they think of them: a list of ids, "all", or a filter on
//! what the stations told us (protocol, vendor, model, firmware, whether they are connected,
//! what a connector is doing). The selector is plain data, checked when it is given (an empty
//! or contradictory selector is refused, never read as "everything") and matched against
//! station state with no I/O.

use ocpp_rpc::ProtocolVersion;
use serde::{Deserialize, Serialize};

use crate::state::StationState;

/// A set of stations, by ids or by filter.
///
/// With `stationIds`, exactly those stations (the filters still apply, so "these ids, if
/// connected" can be said). Without, every known station that passes every filter; `all:
/// true` is required when no filter is given, so an empty selector is a mistake, not a fleet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selector {
    /// These stations only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station_ids: Option<Vec<String>>,
    /// Every known station (subject to the filters).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    /// `ocpp1.6` or `ocpp2.0.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// BootNotification vendor (exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// BootNotification model (exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// BootNotification firmware version (exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<String>,
    /// `connected` or `disconnected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<Connection>,
    /// At least one connector reports this status (`Charging`, `Faulted`, `Available`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_status: Option<String>,
}

/// Whether a station has a live connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Connection {
    /// It has a live WebSocket now.
    Connected,
    /// It has none.
    Disconnected,
}

/// Why a selector was refused: the API's 400 code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorError {
    /// Stable code.
    pub code: &'static str,
    /// What was wrong and what would be right.
    pub message: String,
}

/// Station ids a selector may list at once (a larger fleet is selected by filter or `all`).
/// A job holds a result per listed id while it runs, so the list bounds its memory.
pub const MAX_STATION_IDS: usize = 10_000;

impl Selector {
    /// Checks that the selector says what it means: not empty, no empty id list, known
    /// protocol names.
    pub fn check(&self) -> Result<(), SelectorError> {
        let fail = |code, message: String| Err(SelectorError { code, message });
        let has_filter = self.protocol.is_some()
            || self.vendor.is_some()
            || self.model.is_some()
            || self.firmware_version.is_some()
            || self.connection.is_some()
            || self.connector_status.is_some();
        match &self.station_ids {
            Some(ids) if ids.is_empty() => {
                return fail(
                    "invalid_selector",
                    "stationIds is empty; list at least one station id, or use \"all\": true"
                        .into(),
                );
            }
            Some(ids) if ids.len() > MAX_STATION_IDS => {
                return fail(
                    "too_many_station_ids",
                    format!(
                        "stationIds lists {} ids, at most {MAX_STATION_IDS} are allowed; split the list, or select by filter or \"all\": true instead",
                        ids.len()
                    ),
                );
            }
            Some(ids) if ids.iter().any(|i| i.trim().is_empty()) => {
                return fail("invalid_selector", "stationIds contains an empty id".into());
            }
            Some(_) if self.all => {
                return fail(
                    "invalid_selector",
                    "give either stationIds or \"all\": true, not both".into(),
                );
            }
            Some(_) => {}
            None if !self.all && !has_filter => {
                return fail(
                    "empty_selector",
                    "the selector names no stations; give stationIds, \"all\": true, or a filter (protocol, vendor, model, firmwareVersion, connection, connectorStatus)".into(),
                );
            }
            None => {}
        }
        if let Some(p) = &self.protocol
            && ProtocolVersion::parse_name(p).is_none()
        {
            let names: Vec<String> = ProtocolVersion::ALL
                .iter()
                .rev()
                .map(|v| format!("{:?}", v.subprotocol()))
                .collect();
            return fail(
                "invalid_selector",
                format!(
                    "protocol must be one of {} (or 1.6, 2.0.1, 2.1), got {p:?}",
                    names.join(", ")
                ),
            );
        }
        if let Some(status) = &self.connector_status {
            let known = connector_statuses();
            if !known.contains(&status.as_str()) {
                return fail(
                    "invalid_selector",
                    format!(
                        "connectorStatus must be a connector status of OCPP 1.6 or 2.x ({}), got {status:?}",
                        known.join(", ")
                    ),
                );
            }
        }
        Ok(())
    }

    /// Whether the station passes every filter (ids are applied by [`Selector::pick`]).
    pub fn matches(&self, state: &StationState, connected: bool) -> bool {
        let boot = state.boot.as_ref();
        let eq = |want: &Option<String>, have: Option<&String>| {
            want.as_ref().is_none_or(|w| have == Some(w))
        };
        self.protocol.as_deref().is_none_or(|want| {
            let have = state.protocol.as_deref();
            match ProtocolVersion::parse_name(want) {
                Some(version) => have == Some(version.subprotocol()),
                None => have == Some(want),
            }
        }) && eq(&self.vendor, boot.and_then(|b| b.vendor.as_ref()))
            && eq(&self.model, boot.and_then(|b| b.model.as_ref()))
            && eq(
                &self.firmware_version,
                boot.and_then(|b| b.firmware_version.as_ref()),
            )
            && self.connection.is_none_or(|c| match c {
                Connection::Connected => connected,
                Connection::Disconnected => !connected,
            })
            && self
                .connector_status
                .as_ref()
                .is_none_or(|s| state.connectors.iter().any(|c| &c.status == s))
    }

    /// Whether this one station is selected: listed (when ids are given) and passing every
    /// filter. For per-station checks that must not allocate.
    pub fn selects(&self, state: &StationState, connected: bool) -> bool {
        self.station_ids
            .as_ref()
            .is_none_or(|ids| ids.contains(&state.id))
            && self.matches(state, connected)
    }

    /// The ids this selector picks from `known` (each station's state and whether it is
    /// connected), in a stable order: the listed order for `stationIds` (duplicates
    /// dropped; unknown ids kept, so the caller can report them), otherwise by id.
    pub fn pick<'a>(
        &self,
        known: impl IntoIterator<Item = (&'a StationState, bool)>,
    ) -> Vec<String> {
        match &self.station_ids {
            Some(ids) => {
                let known: std::collections::HashMap<&str, (&StationState, bool)> = known
                    .into_iter()
                    .map(|(s, c)| (s.id.as_str(), (s, c)))
                    .collect();
                let mut seen = std::collections::HashSet::new();
                ids.iter()
                    .filter(|id| seen.insert(id.as_str()))
                    .filter(|id| {
                        known
                            .get(id.as_str())
                            .is_none_or(|(s, c)| self.matches(s, *c))
                    })
                    .cloned()
                    .collect()
            }
            None => {
                let mut ids: Vec<String> = known
                    .into_iter()
                    .filter(|(s, c)| self.matches(s, *c))
                    .map(|(s, _)| s.id.clone())
                    .collect();
                ids.sort();
                ids
            }
        }
    }
}

/// Every connector status a station can report, in either version's vocabulary (1.6
/// `ChargePointStatus`, 2.x `ConnectorStatusEnumType`), sorted: a `connectorStatus` filter
/// outside it could never match, so it is refused instead of selecting nothing.
pub fn connector_statuses() -> Vec<&'static str> {
    use ocpp_types::v16::ChargePointStatus;
    use ocpp_types::v201::ConnectorStatusEnumType;
    let mut all: Vec<&'static str> = ChargePointStatus::ALL
        .iter()
        .map(|s| s.as_str())
        .chain(ConnectorStatusEnumType::ALL.iter().map(|s| s.as_str()))
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{BootInfo, ConnectorStatus};

    fn station(id: &str, protocol: &str, model: &str, status: &str) -> StationState {
        StationState {
            id: id.into(),
            protocol: Some(protocol.into()),
            boot: Some(BootInfo {
                vendor: Some("Acme".into()),
                model: Some(model.into()),
                serial_number: None,
                firmware_version: Some("1.0".into()),
                reason: None,
                payload: crate::state::RawJson::default(),
                received_at: 0,
            }),
            connectors: vec![ConnectorStatus {
                evse_id: None,
                connector_id: 1,
                status: status.into(),
                error_code: None,
                info: None,
                vendor_error_code: None,
                timestamp: None,
                received_at: 0,
            }],
            ..StationState::default()
        }
    }

    fn parse(json: &str) -> Selector {
        serde_json::from_str(json).expect("selector")
    }

    #[test]
    fn an_empty_selector_is_refused_not_read_as_everything() {
        assert_eq!(
            parse("{}").check().map_err(|e| e.code),
            Err("empty_selector")
        );
        assert_eq!(
            parse(r#"{"stationIds": []}"#).check().map_err(|e| e.code),
            Err("invalid_selector")
        );
        assert_eq!(
            parse(r#"{"stationIds": ["A"], "all": true}"#)
                .check()
                .map_err(|e| e.code),
            Err("invalid_selector")
        );
        assert_eq!(
            parse(r#"{"protocol": "ocpp2.0"}"#)
                .check()
                .map_err(|e| e.code),
            Err("invalid_selector"),
            "a subprotocol ocpulse does not speak"
        );
        assert!(parse(r#"{"protocol": "ocpp2.1"}"#).check().is_ok());
        assert!(parse(r#"{"all": true}"#).check().is_ok());
        assert!(parse(r#"{"model": "X"}"#).check().is_ok());
        let ids = |n: usize| Selector {
            station_ids: Some((0..n).map(|i| format!("CP{i}")).collect()),
            ..Selector::default()
        };
        assert!(ids(MAX_STATION_IDS).check().is_ok());
        let too_many = ids(MAX_STATION_IDS + 1)
            .check()
            .expect_err("over the bound");
        assert_eq!(too_many.code, "too_many_station_ids");
        assert!(
            too_many.message.contains("at most 10000"),
            "{}",
            too_many.message
        );
        assert!(serde_json::from_str::<Selector>(r#"{"modle": "X"}"#).is_err());
    }

    #[test]
    fn filters_combine_and_ids_keep_their_order_without_duplicates() {
        let a = station("A", "ocpp1.6", "X", "Charging");
        let b = station("B", "ocpp2.0.1", "X", "Available");
        let c = station("C", "ocpp1.6", "Y", "Charging");
        let fleet = || vec![(&c, true), (&a, true), (&b, false)];
        assert_eq!(parse(r#"{"all": true}"#).pick(fleet()), ["A", "B", "C"]);
        assert_eq!(
            parse(r#"{"protocol": "ocpp1.6", "connectorStatus": "Charging"}"#).pick(fleet()),
            ["A", "C"]
        );
        assert_eq!(
            parse(r#"{"model": "X", "connection": "connected"}"#).pick(fleet()),
            ["A"]
        );
        assert_eq!(
            parse(r#"{"connection": "disconnected"}"#).pick(fleet()),
            ["B"]
        );
        assert_eq!(
            parse(r#"{"stationIds": ["C", "ZZ", "A", "C"]}"#).pick(fleet()),
            ["C", "ZZ", "A"],
            "listed order, unknown ids kept for reporting, duplicates dropped"
        );
        assert_eq!(
            parse(r#"{"stationIds": ["C", "B"], "connection": "connected"}"#).pick(fleet()),
            ["C"]
        );
        let by_ids = parse(r#"{"stationIds": ["C", "B"], "connection": "connected"}"#);
        assert!(
            by_ids.selects(&c, true) && !by_ids.selects(&b, false) && !by_ids.selects(&a, true)
        );
    }
}
