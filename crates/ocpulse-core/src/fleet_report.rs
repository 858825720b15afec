//! Fleet overview counts, computed from station states (and whether each is connected, which
//! only the live registry knows). Kept apart from the API so the counting rules are tested
//! with plain values.

use std::collections::BTreeMap;

use crate::StationState;

/// The key counted for a value a station never reported (no boot yet, no protocol).
pub const UNKNOWN: &str = "unknown";

/// How many stations and connectors are in each state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetCounts {
    /// Every known station.
    pub stations: u64,
    /// Stations with a live connection.
    pub connected: u64,
    /// Stations by subprotocol of their latest connection.
    pub by_protocol: BTreeMap<String, u64>,
    /// Stations by boot vendor.
    pub by_vendor: BTreeMap<String, u64>,
    /// Stations by boot model.
    pub by_model: BTreeMap<String, u64>,
    /// Stations by boot firmware version.
    pub by_firmware: BTreeMap<String, u64>,
    /// Stations by the registration status their latest boot got.
    pub by_registration: BTreeMap<String, u64>,
    /// Connectors (1.6 connectors other than 0, 2.0.1 EVSE connectors) with a reported status.
    pub connectors: u64,
    /// Those connectors by their latest status.
    pub connectors_by_status: BTreeMap<String, u64>,
    /// Those connectors by their 1.6 error code, `NoError` left out: what is wrong where.
    pub connectors_by_error_code: BTreeMap<String, u64>,
    /// 1.6 stations by their connector 0 status (the charge point as a whole), which is not
    /// a connector and would otherwise inflate the connector counts.
    pub charge_points_by_status: BTreeMap<String, u64>,
    /// Open transactions across the fleet.
    pub open_transactions: u64,
}

fn bump(map: &mut BTreeMap<String, u64>, key: Option<&str>) {
    *map.entry(key.unwrap_or(UNKNOWN).to_owned()).or_default() += 1;
}

impl FleetCounts {
    /// Counts one station.
    pub fn add(&mut self, s: &StationState, connected: bool) {
        self.stations += 1;
        self.connected += u64::from(connected);
        let boot = s.boot.as_ref();
        bump(&mut self.by_protocol, s.protocol.as_deref());
        bump(&mut self.by_vendor, boot.and_then(|b| b.vendor.as_deref()));
        bump(&mut self.by_model, boot.and_then(|b| b.model.as_deref()));
        bump(
            &mut self.by_firmware,
            boot.and_then(|b| b.firmware_version.as_deref()),
        );
        bump(&mut self.by_registration, s.registration_status.as_deref());
        for c in &s.connectors {
            if c.evse_id.is_none() && c.connector_id == 0 {
                bump(&mut self.charge_points_by_status, Some(&c.status));
                continue;
            }
            self.connectors += 1;
            bump(&mut self.connectors_by_status, Some(&c.status));
            if let Some(code) = c.error_code.as_deref().filter(|e| *e != "NoError") {
                bump(&mut self.connectors_by_error_code, Some(code));
            }
        }
        self.open_transactions += s.transactions.len() as u64;
    }

    /// Stations known but not connected.
    pub fn disconnected(&self) -> u64 {
        self.stations - self.connected
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_stations_connectors_and_transactions_of_both_versions() {
        let mut a = StationState::new("CP1");
        a.protocol = Some("ocpp1.6".into());
        a.apply(
            "BootNotification",
            &json!({"chargePointVendor": "Acme", "chargePointModel": "Fast-1", "firmwareVersion": "1.0"}),
            &json!({"status": "Accepted"}),
            1,
        );
        for (c, status, code) in [
            (0, "Available", "NoError"),
            (1, "Faulted", "GroundFailure"),
            (2, "Charging", "NoError"),
        ] {
            a.apply(
                "StatusNotification",
                &json!({"connectorId": c, "status": status, "errorCode": code}),
                &json!({}),
                2,
            );
        }
        a.apply(
            "StartTransaction",
            &json!({"connectorId": 2, "idTag": "T", "meterStart": 0, "timestamp": "t"}),
            &json!({"transactionId": 1}),
            3,
        );
        let mut b = StationState::new("CS1");
        b.protocol = Some("ocpp2.0.1".into());
        b.apply(
            "BootNotification",
            &json!({"reason": "PowerUp", "chargingStation": {"vendorName": "Acme", "model": "Fast-2"}}),
            &json!({"status": "Accepted"}),
            1,
        );
        b.apply(
            "StatusNotification",
            &json!({"evseId": 1, "connectorId": 1, "connectorStatus": "Available", "timestamp": "2025-01-01T00:00:00Z"}),
            &json!({}),
            2,
        );
        let never_booted = StationState::new("X");
        let mut counts = FleetCounts::default();
        counts.add(&a, true);
        counts.add(&b, false);
        counts.add(&never_booted, false);
        let map = |pairs: &[(&str, u64)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(
            (counts.stations, counts.connected, counts.disconnected()),
            (3, 1, 2)
        );
        assert_eq!(
            counts.by_protocol,
            map(&[("ocpp1.6", 1), ("ocpp2.0.1", 1), (UNKNOWN, 1)])
        );
        assert_eq!(counts.by_vendor, map(&[("Acme", 2), (UNKNOWN, 1)]));
        assert_eq!(
            counts.by_model,
            map(&[("Fast-1", 1), ("Fast-2", 1), (UNKNOWN, 1)])
        );
        assert_eq!(counts.by_firmware, map(&[("1.0", 1), (UNKNOWN, 2)]));
        assert_eq!(
            counts.by_registration,
            map(&[("Accepted", 2), (UNKNOWN, 1)])
        );
        assert_eq!(counts.connectors, 3, "1.6 connector 0 is not a connector");
        assert_eq!(
            counts.connectors_by_status,
            map(&[("Available", 1), ("Charging", 1), ("Faulted", 1)])
        );
        assert_eq!(
            counts.connectors_by_error_code,
            map(&[("GroundFailure", 1)])
        );
        assert_eq!(counts.charge_points_by_status, map(&[("Available", 1)]));
        assert_eq!(counts.open_transactions, 1);
    }
}
