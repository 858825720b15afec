//! BootNotification and Heartbeat.

use serde::{Deserialize, Serialize};

use crate::common::DateTime;

ocpp_enum! {
    /// Registration result in a BootNotification response (1.6 `RegistrationStatus`).
    pub enum RegistrationStatus {
        /// Charge Point is accepted by the Central System.
        Accepted = "Accepted",
        /// Central System is not yet ready to accept the Charge Point; retry later.
        Pending = "Pending",
        /// Charge Point is not accepted, e.g. its id is unknown.
        Rejected = "Rejected",
    }
}

/// `BootNotification.req`: the Charge Point's identity after (re)boot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootNotificationRequest {
    /// Vendor name (max 20 chars).
    pub charge_point_vendor: String,
    /// Model name (max 20 chars).
    pub charge_point_model: String,
    /// Charge Point serial number (max 25 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_point_serial_number: Option<String>,
    /// Charge box serial number (max 25 chars; deprecated in favour of the above).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_box_serial_number: Option<String>,
    /// Firmware version (max 50 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<String>,
    /// ICCID of the modem's SIM card (max 20 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iccid: Option<String>,
    /// IMSI of the modem's SIM card (max 20 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imsi: Option<String>,
    /// Type of the main electrical meter (max 25 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter_type: Option<String>,
    /// Serial number of the main electrical meter (max 25 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter_serial_number: Option<String>,
}

/// `BootNotification.conf`: registration status, clock and heartbeat interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootNotificationResponse {
    /// Whether the Charge Point is registered.
    pub status: RegistrationStatus,
    /// Central System's current time.
    pub current_time: DateTime,
    /// Heartbeat interval in seconds if Accepted, else minimum retry wait (0 = station decides).
    pub interval: i32,
}

/// `Heartbeat.req`: empty keep-alive / clock request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatRequest {}

/// `Heartbeat.conf`: the Central System's current time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatResponse {
    /// Central System's current time.
    pub current_time: DateTime,
}
