//! TriggerMessage of 2.1: two more values, and `customTrigger` for vendor triggers.

use serde::{Deserialize, Serialize};

use crate::v201::{CustomData, EVSEType};

ocpp_enum! {
    /// Message a 2.1 TriggerMessage may request (`MessageTriggerEnumType`, 13 values):
    /// 2.0.1's eleven, `SignV2G20Certificate` and `CustomTrigger`.
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
        /// Request a SignCertificate for the ISO 15118-2 (V2G) certificate.
        SignV2GCertificate = "SignV2GCertificate",
        /// Request a SignCertificate for the ISO 15118-20 certificate (new in 2.1).
        SignV2G20Certificate = "SignV2G20Certificate",
        /// Request a StatusNotification (evse with connectorId required).
        StatusNotification = "StatusNotification",
        /// Request a TransactionEvent (eventType `Updated`, triggerReason `Trigger`).
        TransactionEvent = "TransactionEvent",
        /// Request a SignCertificate without certificateType (combined certificate).
        SignCombinedCertificate = "SignCombinedCertificate",
        /// Request a PublishFirmwareStatusNotification (Local Controller).
        PublishFirmwareStatusNotification = "PublishFirmwareStatusNotification",
        /// Request the vendor-defined message named in `customTrigger` (new in 2.1,
        /// F06.FR.20: the values a station supports are in CustomizationCtrl.CustomTriggers).
        CustomTrigger = "CustomTrigger",
    }
}

/// `TriggerMessageRequest` of 2.1: ask the station to send a message now.
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
    /// With `CustomTrigger`: which vendor trigger (at most 50 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_trigger: Option<String>,
}
