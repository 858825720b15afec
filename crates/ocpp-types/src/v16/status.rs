//! StatusNotification.

use serde::{Deserialize, Serialize};

use crate::common::DateTime;

ocpp_enum! {
    /// Error reported by a Charge Point (1.6 `ChargePointErrorCode`).
    pub enum ChargePointErrorCode {
        /// Failure to lock or unlock the connector.
        ConnectorLockFailure = "ConnectorLockFailure",
        /// Communication failure with the vehicle.
        EvCommunicationError = "EVCommunicationError",
        /// Ground fault circuit interrupter has been activated.
        GroundFailure = "GroundFailure",
        /// Temperature inside the Charge Point is too high.
        HighTemperature = "HighTemperature",
        /// Error in internal hard- or software component.
        InternalError = "InternalError",
        /// The authorization list conflicts with the Central System's answer.
        LocalListConflict = "LocalListConflict",
        /// No error to report.
        NoError = "NoError",
        /// Other type of error; see `vendorErrorCode`.
        OtherError = "OtherError",
        /// Over current protection device has tripped.
        OverCurrentFailure = "OverCurrentFailure",
        /// Failure to read the electrical/energy meter.
        PowerMeterFailure = "PowerMeterFailure",
        /// Failure to control the power switch.
        PowerSwitchFailure = "PowerSwitchFailure",
        /// Failure with the idTag reader.
        ReaderFailure = "ReaderFailure",
        /// Unable to perform a reset.
        ResetFailure = "ResetFailure",
        /// Voltage has dropped below an acceptable level.
        UnderVoltage = "UnderVoltage",
        /// Voltage has risen above an acceptable level.
        OverVoltage = "OverVoltage",
        /// Wireless communication device reports a weak signal.
        WeakSignal = "WeakSignal",
    }
}

ocpp_enum! {
    /// Status of a connector or of the Charge Point (1.6 `ChargePointStatus`).
    pub enum ChargePointStatus {
        /// Available for a new user.
        Available = "Available",
        /// A user presented a tag, inserted a cable or a vehicle occupies the bay.
        Preparing = "Preparing",
        /// The contactor is closed and energy may flow.
        Charging = "Charging",
        /// The EV is connected but the EVSE is not offering energy.
        SuspendedEvse = "SuspendedEVSE",
        /// The EVSE offers energy but the EV is not taking it.
        SuspendedEv = "SuspendedEV",
        /// The transaction has stopped but the connector is not yet available.
        Finishing = "Finishing",
        /// Reserved by a ReserveNow.
        Reserved = "Reserved",
        /// Not available for new sessions (e.g. ChangeAvailability Inoperative).
        Unavailable = "Unavailable",
        /// An error prevents operation.
        Faulted = "Faulted",
    }
}

/// `StatusNotification.req`: status or error of a connector (0 = the whole Charge Point).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusNotificationRequest {
    /// Connector id; 0 means the Charge Point main controller.
    pub connector_id: i32,
    /// Error code reported (`NoError` if none).
    pub error_code: ChargePointErrorCode,
    /// Free-format additional information (max 50 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    /// Current status.
    pub status: ChargePointStatus,
    /// Time the status was reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<DateTime>,
    /// Vendor identifier for `vendorErrorCode` (max 255 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_id: Option<String>,
    /// Vendor-specific error code (max 50 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_error_code: Option<String>,
}

/// `StatusNotification.conf`: empty acknowledgement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusNotificationResponse {}
