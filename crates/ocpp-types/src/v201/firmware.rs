//! FirmwareStatusNotification and PublishFirmwareStatusNotification.

use serde::{Deserialize, Serialize};

use super::common::CustomData;

ocpp_enum! {
    /// Progress of a firmware update (`FirmwareStatusEnumType`).
    pub enum FirmwareStatusEnumType {
        /// New firmware has been downloaded.
        Downloaded = "Downloaded",
        /// Firmware download failed.
        DownloadFailed = "DownloadFailed",
        /// Firmware is being downloaded.
        Downloading = "Downloading",
        /// Download is scheduled for later.
        DownloadScheduled = "DownloadScheduled",
        /// Download has been paused.
        DownloadPaused = "DownloadPaused",
        /// No update in progress; only sent when triggered.
        Idle = "Idle",
        /// Installation of the new firmware failed.
        InstallationFailed = "InstallationFailed",
        /// Firmware is being installed.
        Installing = "Installing",
        /// New firmware has been installed.
        Installed = "Installed",
        /// The station reboots to activate the new firmware.
        InstallRebooting = "InstallRebooting",
        /// Installation is scheduled for later.
        InstallScheduled = "InstallScheduled",
        /// Verification of the new firmware failed.
        InstallVerificationFailed = "InstallVerificationFailed",
        /// The firmware signature is not valid.
        InvalidSignature = "InvalidSignature",
        /// The firmware signature was verified.
        SignatureVerified = "SignatureVerified",
    }
}

ocpp_enum! {
    /// Progress of publishing firmware on a Local Controller (`PublishFirmwareStatusEnumType`).
    pub enum PublishFirmwareStatusEnumType {
        /// No publish in progress; only sent when triggered.
        Idle = "Idle",
        /// Download is scheduled for later.
        DownloadScheduled = "DownloadScheduled",
        /// Firmware is being downloaded.
        Downloading = "Downloading",
        /// Firmware has been downloaded.
        Downloaded = "Downloaded",
        /// Firmware is published; `location` lists where.
        Published = "Published",
        /// Download failed.
        DownloadFailed = "DownloadFailed",
        /// Download has been paused.
        DownloadPaused = "DownloadPaused",
        /// The checksum of the downloaded file is wrong.
        InvalidChecksum = "InvalidChecksum",
        /// The checksum of the downloaded file was verified.
        ChecksumVerified = "ChecksumVerified",
        /// Publishing failed.
        PublishFailed = "PublishFailed",
    }
}

/// `FirmwareStatusNotificationRequest`: progress of an UpdateFirmware.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirmwareStatusNotificationRequest {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// Current firmware update status.
    pub status: FirmwareStatusEnumType,
    /// The UpdateFirmware requestId; absent only for a triggered `Idle`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<i32>,
}

/// `FirmwareStatusNotificationResponse`: empty acknowledgement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirmwareStatusNotificationResponse {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
}

/// `PublishFirmwareStatusNotificationRequest`: progress of a PublishFirmware.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishFirmwareStatusNotificationRequest {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// Current publish status.
    pub status: PublishFirmwareStatusEnumType,
    /// URIs where the firmware is published (max 512 chars each); required when `Published`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Vec<String>>,
    /// The PublishFirmware requestId; absent only for a triggered `Idle`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<i32>,
}

/// `PublishFirmwareStatusNotificationResponse`: empty acknowledgement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishFirmwareStatusNotificationResponse {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
}
