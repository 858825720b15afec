//! LogStatusNotification.

use serde::{Deserialize, Serialize};

use super::common::CustomData;

ocpp_enum! {
    /// Progress of a GetLog upload (`UploadLogStatusEnumType`).
    pub enum UploadLogStatusEnumType {
        /// The upload request was malformed.
        BadMessage = "BadMessage",
        /// Not uploading; only sent when triggered.
        Idle = "Idle",
        /// The server does not support the requested operation.
        NotSupportedOperation = "NotSupportedOperation",
        /// Insufficient permissions on the upload server.
        PermissionDenied = "PermissionDenied",
        /// The file has been uploaded.
        Uploaded = "Uploaded",
        /// The upload failed.
        UploadFailure = "UploadFailure",
        /// The file is being uploaded.
        Uploading = "Uploading",
        /// An ongoing upload was cancelled in favour of a new GetLog.
        AcceptedCanceled = "AcceptedCanceled",
    }
}

/// `LogStatusNotificationRequest`: progress of a GetLog upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStatusNotificationRequest {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// Current upload status.
    pub status: UploadLogStatusEnumType,
    /// The GetLog requestId; absent only for a triggered `Idle`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<i32>,
}

/// `LogStatusNotificationResponse`: empty acknowledgement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStatusNotificationResponse {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
}
