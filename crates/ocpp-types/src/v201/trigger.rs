//! TriggerMessage.

use serde::{Deserialize, Serialize};

use super::common::{CustomData, EVSEType, StatusInfoType};

ocpp_enum! {
    /// Message a TriggerMessage may request (`MessageTriggerEnumType`, 11 values).
    pub enum MessageTriggerEnumType {
        /// Request a BootNotification (reason `Triggered`).
        BootNotification = "BootNotification",
        /// Request a LogStatusNotification.
        LogStatusNotification = "LogStatusNotification",
        /// Request a FirmwareStatusNotification.
        FirmwareStatusNotification = "FirmwareStatusNotification",
        /// Request a Heartbeat.
        Heartbeat = "Heartbeat",
        /// Request MeterValues.
        MeterValues = "MeterValues",
        /// Request a SignCertificate for the station certificate.
        SignChargingStationCertificate = "SignChargingStationCertificate",
        /// Request a SignCertificate for the ISO 15118 (V2G) certificate.
        SignV2GCertificate = "SignV2GCertificate",
        /// Request a StatusNotification (evse with connectorId required).
        StatusNotification = "StatusNotification",
        /// Request a TransactionEvent (eventType `Updated`, triggerReason `Trigger`).
        TransactionEvent = "TransactionEvent",
        /// Request a SignCertificate without certificateType (combined certificate).
        SignCombinedCertificate = "SignCombinedCertificate",
        /// Request a PublishFirmwareStatusNotification (Local Controller).
        PublishFirmwareStatusNotification = "PublishFirmwareStatusNotification",
    }
}

ocpp_enum! {
    /// Answer to a TriggerMessage (`TriggerMessageStatusEnumType`).
    pub enum TriggerMessageStatusEnumType {
        /// Requested message will be sent.
        Accepted = "Accepted",
        /// Requested message will not be sent.
        Rejected = "Rejected",
        /// Requested message is unknown or not implemented.
        NotImplemented = "NotImplemented",
    }
}

/// `TriggerMessageRequest`: ask the station to send a message now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerMessageRequest {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// EVSE (and connector) the request applies to; absent = all relevant EVSEs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evse: Option<EVSEType>,
    /// The message to send.
    pub requested_message: MessageTriggerEnumType,
}

/// `TriggerMessageResponse`: whether the requested message will be sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerMessageResponse {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// Accepted, Rejected or NotImplemented.
    pub status: TriggerMessageStatusEnumType,
    /// More information about the status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_info: Option<StatusInfoType>,
}
