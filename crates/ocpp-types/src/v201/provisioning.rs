//! BootNotification and Heartbeat.

use serde::{Deserialize, Serialize};

use super::common::{CustomData, StatusInfoType};
use crate::common::DateTime;

ocpp_enum! {
    /// Why the station (re)booted (`BootReasonEnumType`).
    pub enum BootReasonEnumType {
        /// Reboot of the application (not the whole station).
        ApplicationReset = "ApplicationReset",
        /// Reboot after a firmware update.
        FirmwareUpdate = "FirmwareUpdate",
        /// Reboot requested locally.
        LocalReset = "LocalReset",
        /// Power-up after loss of power.
        PowerUp = "PowerUp",
        /// Reboot requested by the CSMS (Reset).
        RemoteReset = "RemoteReset",
        /// Scheduled reboot.
        ScheduledReset = "ScheduledReset",
        /// Sent because of a TriggerMessage.
        Triggered = "Triggered",
        /// Reason unknown.
        Unknown = "Unknown",
        /// Reboot by a watchdog.
        Watchdog = "Watchdog",
    }
}

ocpp_enum! {
    /// Registration result in a BootNotification response (`RegistrationStatusEnumType`).
    pub enum RegistrationStatusEnumType {
        /// Station is accepted by the CSMS.
        Accepted = "Accepted",
        /// CSMS is not yet ready; the station may only send triggered messages.
        Pending = "Pending",
        /// Station is not accepted.
        Rejected = "Rejected",
    }
}

/// Wireless modem details (`ModemType`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModemType {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// ICCID of the SIM card (max 20 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iccid: Option<String>,
    /// IMSI of the SIM card (max 20 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imsi: Option<String>,
}

/// Identity of the charging station (`ChargingStationType`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargingStationType {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// Serial number (max 25 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// Model name (max 20 chars).
    pub model: String,
    /// Wireless modem details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modem: Option<ModemType>,
    /// Vendor name (max 50 chars).
    pub vendor_name: String,
    /// Firmware version (max 50 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<String>,
}

/// `BootNotificationRequest`: the station's identity and boot reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootNotificationRequest {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// Identity of the station.
    pub charging_station: ChargingStationType,
    /// Why the station booted.
    pub reason: BootReasonEnumType,
}

/// `BootNotificationResponse`: registration status, clock and heartbeat interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootNotificationResponse {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// CSMS's current time.
    pub current_time: DateTime,
    /// Heartbeat interval in seconds if Accepted, else retry wait.
    pub interval: i32,
    /// Whether the station is registered.
    pub status: RegistrationStatusEnumType,
    /// More information about the status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_info: Option<StatusInfoType>,
}

/// `HeartbeatRequest`: keep-alive / clock request (only `customData`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatRequest {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
}

/// `HeartbeatResponse`: the CSMS's current time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatResponse {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// CSMS's current time.
    pub current_time: DateTime,
}
