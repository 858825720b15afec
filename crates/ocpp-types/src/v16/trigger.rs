//! TriggerMessage (1.6 core) and ExtendedTriggerMessage (security extension).

use serde::{Deserialize, Serialize};

ocpp_enum! {
    /// Message a 1.6 TriggerMessage may request (1.6 `MessageTrigger`).
    pub enum MessageTrigger {
        /// Request a BootNotification.
        BootNotification = "BootNotification",
        /// Request a DiagnosticsStatusNotification.
        DiagnosticsStatusNotification = "DiagnosticsStatusNotification",
        /// Request a FirmwareStatusNotification.
        FirmwareStatusNotification = "FirmwareStatusNotification",
        /// Request a Heartbeat.
        Heartbeat = "Heartbeat",
        /// Request MeterValues.
        MeterValues = "MeterValues",
        /// Request a StatusNotification.
        StatusNotification = "StatusNotification",
    }
}

ocpp_enum! {
    /// Answer to a 1.6 TriggerMessage (1.6 `TriggerMessageStatus`).
    pub enum TriggerMessageStatus {
        /// Requested message will be sent.
        Accepted = "Accepted",
        /// Requested message will not be sent.
        Rejected = "Rejected",
        /// Requested message is unknown or not implemented.
        NotImplemented = "NotImplemented",
    }
}

ocpp_enum! {
    /// Message an ExtendedTriggerMessage may request (security extension `MessageTriggerEnumType`).
    pub enum MessageTriggerEnumType {
        /// Request a BootNotification.
        BootNotification = "BootNotification",
        /// Request a LogStatusNotification.
        LogStatusNotification = "LogStatusNotification",
        /// Request a SignedFirmwareStatusNotification (despite the name).
        FirmwareStatusNotification = "FirmwareStatusNotification",
        /// Request a Heartbeat.
        Heartbeat = "Heartbeat",
        /// Request MeterValues.
        MeterValues = "MeterValues",
        /// Request a SignCertificate (renew the Charge Point certificate).
        SignChargePointCertificate = "SignChargePointCertificate",
        /// Request a StatusNotification.
        StatusNotification = "StatusNotification",
    }
}

ocpp_enum! {
    /// Answer to an ExtendedTriggerMessage (security extension `TriggerMessageStatusEnumType`).
    pub enum TriggerMessageStatusEnumType {
        /// Requested message will be sent.
        Accepted = "Accepted",
        /// Requested message will not be sent.
        Rejected = "Rejected",
        /// Requested message is unknown or not implemented.
        NotImplemented = "NotImplemented",
    }
}

/// `TriggerMessage.req`: ask the Charge Point to send a message now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerMessageRequest {
    /// The message to send.
    pub requested_message: MessageTrigger,
    /// Connector the request applies to; absent = all relevant connectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<i32>,
}

/// `TriggerMessage.conf`: whether the requested message will be sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerMessageResponse {
    /// Accepted, Rejected or NotImplemented.
    pub status: TriggerMessageStatus,
}

/// `ExtendedTriggerMessage.req`: security-extension variant of TriggerMessage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtendedTriggerMessageRequest {
    /// The message to send.
    pub requested_message: MessageTriggerEnumType,
    /// Connector the request applies to; absent = all relevant connectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<i32>,
}

/// `ExtendedTriggerMessage.conf`: whether the requested message will be sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtendedTriggerMessageResponse {
    /// Accepted, Rejected or NotImplemented.
    pub status: TriggerMessageStatusEnumType,
}
