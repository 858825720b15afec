//! Security Whitepaper messages: logs, security events, certificates, signed firmware.

use serde::{Deserialize, Serialize};

use crate::common::DateTime;

ocpp_enum! {
    /// Progress of a GetLog upload (`UploadLogStatusEnumType`).
    pub enum UploadLogStatusEnumType {
        /// The upload request was malformed.
        BadMessage = "BadMessage",
        /// Not uploading; only sent when triggered by an ExtendedTriggerMessage.
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
    }
}

ocpp_enum! {
    /// Progress of a SignedUpdateFirmware (`FirmwareStatusEnumType`, 14 values).
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
        /// The Charge Point reboots to activate the new firmware.
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
    /// Generic accept/reject answer (`GenericStatusEnumType`, SignCertificate.conf).
    pub enum GenericStatusEnumType {
        /// Request accepted.
        Accepted = "Accepted",
        /// Request rejected.
        Rejected = "Rejected",
    }
}

ocpp_enum! {
    /// Answer to CertificateSigned (`CertificateSignedStatusEnumType`).
    pub enum CertificateSignedStatusEnumType {
        /// The signed certificate is valid and installed.
        Accepted = "Accepted",
        /// The signed certificate is invalid.
        Rejected = "Rejected",
    }
}

/// `LogStatusNotification.req`: progress of a GetLog upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStatusNotificationRequest {
    /// Current upload status.
    pub status: UploadLogStatusEnumType,
    /// The GetLog requestId; absent only for a triggered `Idle`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<i32>,
}

/// `LogStatusNotification.conf`: empty acknowledgement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogStatusNotificationResponse {}

/// `SecurityEventNotification.req`: a security-related event occurred.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityEventNotificationRequest {
    /// Event type (`type` on the wire, max 50 chars), e.g. `InvalidCentralSystemCertificate`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the event happened.
    pub timestamp: DateTime,
    /// Additional technical information (max 255 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tech_info: Option<String>,
}

/// `SecurityEventNotification.conf`: empty acknowledgement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SecurityEventNotificationResponse {}

/// `SignCertificate.req`: a CSR for the Charge Point certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignCertificateRequest {
    /// PEM-encoded PKCS#10 certificate signing request (max 5500 chars).
    pub csr: String,
}

/// `SignCertificate.conf`: whether the CSR will be processed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignCertificateResponse {
    /// Accepted or Rejected.
    pub status: GenericStatusEnumType,
}

/// `SignedFirmwareStatusNotification.req`: progress of a SignedUpdateFirmware.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedFirmwareStatusNotificationRequest {
    /// Current firmware update status.
    pub status: FirmwareStatusEnumType,
    /// The SignedUpdateFirmware requestId; absent only for `Idle`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<i32>,
}

/// `SignedFirmwareStatusNotification.conf`: empty acknowledgement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SignedFirmwareStatusNotificationResponse {}

/// `CertificateSigned.req`: the Central System delivers a signed certificate chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSignedRequest {
    /// PEM certificate chain, leaf first (max 10000 chars).
    pub certificate_chain: String,
}

/// `CertificateSigned.conf`: whether the Charge Point installed the certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSignedResponse {
    /// Accepted or Rejected.
    pub status: CertificateSignedStatusEnumType,
}
