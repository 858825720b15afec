//! The physical side of a simulated station: EVSEs, connectors, meters and transactions.

use std::time::{Duration, Instant};

/// A connector state, mapped to each version's status vocabulary on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// Free.
    Available,
    /// Cable plugged, not yet charging.
    Preparing,
    /// Energy flows.
    Charging,
    /// Session over, cable still plugged.
    Finishing,
    /// Broken.
    Faulted,
    /// Out of service.
    Unavailable,
}

impl ConnState {
    /// The 1.6 `ChargePointStatus`.
    pub fn v16(self) -> &'static str {
        match self {
            ConnState::Available => "Available",
            ConnState::Preparing => "Preparing",
            ConnState::Charging => "Charging",
            ConnState::Finishing => "Finishing",
            ConnState::Faulted => "Faulted",
            ConnState::Unavailable => "Unavailable",
        }
    }

    /// The 2.0.1 `ConnectorStatusEnumType`.
    pub fn v201(self) -> &'static str {
        match self {
            ConnState::Available => "Available",
            ConnState::Preparing | ConnState::Charging | ConnState::Finishing => "Occupied",
            ConnState::Faulted => "Faulted",
            ConnState::Unavailable => "Unavailable",
        }
    }
}

/// An electricity meter: an energy register that rises while charging, and the
/// instantaneous values that go with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Meter {
    /// Energy register, Wh.
    pub energy_wh: f64,
    /// Active power, W.
    pub power_w: f64,
    /// Current per phase, A.
    pub current_a: f64,
    /// Voltage, V.
    pub voltage_v: f64,
    /// State of charge of the EV, percent (reported by DC chargers).
    pub soc: f64,
    /// Maximum power while charging, W.
    pub max_power_w: f64,
}

impl Meter {
    /// A meter with a non-zero starting register (real meters are never new).
    pub fn new(seed: u64, dc: bool) -> Self {
        Self {
            energy_wh: 1_000.0 + (seed % 50_000) as f64,
            power_w: 0.0,
            current_a: 0.0,
            voltage_v: if dc { 400.0 } else { 230.0 },
            soc: 20.0,
            max_power_w: if dc { 50_000.0 } else { 11_000.0 },
        }
    }

    /// Advances the register by `dt` at the current power.
    pub fn advance(&mut self, dt: Duration, dc: bool) {
        let hours = dt.as_secs_f64() / 3600.0;
        self.energy_wh += self.power_w * hours;
        if dc && self.power_w > 0.0 {
            // A 60 kWh battery.
            self.soc = (self.soc + self.power_w * hours / 600.0).min(100.0);
        }
    }

    /// Starts or stops energy flow.
    pub fn set_charging(&mut self, charging: bool) {
        self.power_w = if charging { self.max_power_w } else { 0.0 };
        let phases = if self.voltage_v > 300.0 { 1.0 } else { 3.0 };
        self.current_a = self.power_w / (self.voltage_v * phases);
    }
}

/// A running (or starting) transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    /// 2.0.1: the station's own id; 1.6: the CSMS's, once StartTransaction is answered.
    pub id: Option<String>,
    /// The idTag / idToken that started it.
    pub id_tag: String,
    /// Energy register at start, Wh.
    pub meter_start_wh: f64,
    /// When it started (wall clock).
    pub started_at: String,
    /// 2.0.1 TransactionEvent sequence number, next to use.
    pub seq_no: u32,
    /// The connector in use.
    pub connector: u32,
    /// When it ends by itself.
    pub ends_at: Instant,
    /// When the next periodic meter report is due.
    pub next_sample: Instant,
    /// 2.x `remoteStartId` of the RequestStartTransaction that started it.
    pub remote_start_id: Option<i64>,
}

/// One EVSE. A 1.6 station is modelled as one-connector EVSEs, one per 1.6 connector.
#[derive(Debug, Clone, PartialEq)]
pub struct Evse {
    /// EVSE id (2.0.1) or connectorId (1.6), from 1.
    pub id: u32,
    /// Connector states, connector ids from 1.
    pub connectors: Vec<ConnState>,
    /// Its meter.
    pub meter: Meter,
    /// Its transaction, if any.
    pub tx: Option<Transaction>,
    /// When the next automatic transaction starts (if idle).
    pub next_start: Option<Instant>,
}

impl Evse {
    /// The state shown for the EVSE as a whole: that of its busiest connector.
    pub fn state(&self) -> ConnState {
        self.connectors
            .iter()
            .copied()
            .find(|s| *s != ConnState::Available)
            .unwrap_or(ConnState::Available)
    }
}
