//! DataTransfer: vendor-specific messages in either direction.

use serde::{Deserialize, Serialize};

ocpp_enum! {
    /// Outcome of a DataTransfer (1.6 `DataTransferStatus`).
    pub enum DataTransferStatus {
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

/// `DataTransfer.req`: vendor-specific payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataTransferRequest {
    /// Vendor identifier (max 255 chars), typically a reversed DNS name.
    pub vendor_id: String,
    /// Vendor-defined message identifier (max 50 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Free-format data; a string in 1.6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// `DataTransfer.conf`: result of a vendor-specific request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataTransferResponse {
    /// Whether the request was processed.
    pub status: DataTransferStatus,
    /// Free-format response data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}
