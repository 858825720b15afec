//! DataTransfer: vendor-specific messages in either direction.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{CustomData, StatusInfoType, present};

ocpp_enum! {
    /// Outcome of a DataTransfer (`DataTransferStatusEnumType`).
    pub enum DataTransferStatusEnumType {
        /// Message was accepted and the contained request processed.
        Accepted = "Accepted",
        /// Message was accepted but the contained request was rejected.
        Rejected = "Rejected",
        /// The vendorId is known but the messageId is not.
        UnknownMessageId = "UnknownMessageId",
        /// The vendorId is not known by the receiver.
        UnknownVendorId = "UnknownVendorId",
    }
}

/// `DataTransferRequest`: vendor-specific payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataTransferRequest {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// Vendor-defined message identifier (max 50 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Any JSON value (the 2.0.1 schema leaves it untyped); `Some(Null)` for an explicit `null`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub data: Option<Value>,
    /// Vendor identifier (max 255 chars).
    pub vendor_id: String,
}

/// `DataTransferResponse`: result of a vendor-specific request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataTransferResponse {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// Whether the request was processed.
    pub status: DataTransferStatusEnumType,
    /// More information about the status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_info: Option<StatusInfoType>,
    /// Any JSON value; `Some(Null)` for an explicit `null`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub data: Option<Value>,
}
