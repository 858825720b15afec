//! What a simulated station is.

use std::time::Duration;

use ocpp_rpc::ProtocolVersion;

use crate::faults::Faults;

/// The fixed description of one simulated station.
#[derive(Debug, Clone)]
pub struct StationConfig {
    /// Its identity (the last URL segment).
    pub id: String,
    /// The OCPP version it speaks.
    pub protocol: ProtocolVersion,
    /// EVSEs (2.0.1); for 1.6 the station has `evses × connectors` connectors.
    pub evses: u32,
    /// Connectors per EVSE.
    pub connectors: u32,
    /// DC chargers also report State of Charge.
    pub dc: bool,
    /// Vendor name in BootNotification.
    pub vendor: String,
    /// Model in BootNotification.
    pub model: String,
    /// Firmware version in BootNotification.
    pub firmware_version: String,
    /// Whether transactions start and stop by themselves.
    pub auto_transactions: bool,
    /// Idle time between transactions of one EVSE.
    pub idle_time: Duration,
    /// How long a transaction charges.
    pub session_time: Duration,
    /// How often a charging EVSE sends MeterValues (1.6) / TransactionEvent Updated (2.0.1).
    pub meter_interval: Duration,
    /// How long the station waits for the CSMS to answer one of its CALLs.
    pub call_timeout: Duration,
    /// How many messages it keeps while offline (oldest dropped beyond).
    pub offline_buffer: usize,
    /// How fast it sends buffered messages after reconnecting (messages per second).
    pub flush_rate: f64,
    /// Misbehaviour to inject.
    pub faults: Faults,
    /// Mark triggered messages as the spec says (`sampledValue.context` and 2.0.1
    /// `triggerReason` = `Trigger`); off, they look like routine traffic, as some firmware
    /// sends them, so the CSMS's matching without markers can be tested.
    pub mark_triggered: bool,
}

impl StationConfig {
    /// A well-behaved station with one EVSE of one connector and no automatic transactions.
    pub fn new(id: impl Into<String>, protocol: ProtocolVersion) -> Self {
        Self {
            id: id.into(),
            protocol,
            evses: 1,
            connectors: 1,
            dc: false,
            vendor: "ocpulse".into(),
            model: "sim-1".into(),
            firmware_version: concat!("ocpulse-sim-", env!("CARGO_PKG_VERSION")).into(),
            auto_transactions: false,
            idle_time: Duration::from_secs(60),
            session_time: Duration::from_secs(120),
            meter_interval: Duration::from_secs(30),
            call_timeout: Duration::from_secs(30),
            offline_buffer: 1000,
            flush_rate: 50.0,
            faults: Faults::default(),
            mark_triggered: true,
        }
    }
}
