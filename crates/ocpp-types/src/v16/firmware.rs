//! DiagnosticsStatusNotification and FirmwareStatusNotification (1.6 core).

use serde::{Deserialize, Serialize};

ocpp_enum! {
    /// Progress of a diagnostics upload (1.6 `DiagnosticsStatus`).
    pub enum DiagnosticsStatus {
        /// Not uploading; only sent when triggered by a TriggerMessage.
        Idle = "Idle",
        /// Diagnostics information has been uploaded.
        Uploaded = "Uploaded",
        /// Uploading diagnostics failed.
        UploadFailed = "UploadFailed",
        /// File is being uploaded.
        Uploading = "Uploading",
    }
}

ocpp_enum! {
    /// Progress of a firmware update (1.6 `FirmwareStatus`).
    pub enum FirmwareStatus {
        /// New firmware has been downloaded.
        Downloaded = "Downloaded",
        /// Firmware download failed.
        DownloadFailed = "DownloadFailed",
        /// Firmware is being downloaded.
        Downloading = "Downloading",
        /// No update in progress; only sent when triggered by a TriggerMessage.
        Idle = "Idle",
        /// Installation of the new firmware failed.
        InstallationFailed = "InstallationFailed",
        /// Firmware is being installed.
        Installing = "Installing",
        /// New firmware has been installed.
        Installed = "Installed",
    }
}

/// `DiagnosticsStatusNotification.req`: progress of a GetDiagnostics upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticsStatusNotificationRequest {
    /// Current upload status.
    pub status: DiagnosticsStatus,
}

/// `DiagnosticsStatusNotification.conf`: empty acknowledgement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiagnosticsStatusNotificationResponse {}

/// `FirmwareStatusNotification.req`: progress of an UpdateFirmware.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirmwareStatusNotificationRequest {
    /// Current firmware update status.
    pub status: FirmwareStatus,
}

/// `FirmwareStatusNotification.conf`: empty acknowledgement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FirmwareStatusNotificationResponse {}
