//! SecurityEventNotification, SignCertificate and CertificateSigned.

use serde::{Deserialize, Serialize};

use super::common::{CustomData, StatusInfoType};
use crate::common::DateTime;

ocpp_enum! {
    /// Which certificate a CSR / signed chain is for (`CertificateSigningUseEnumType`).
    pub enum CertificateSigningUseEnumType {
        /// Certificate for the station-to-CSMS connection.
        ChargingStationCertificate = "ChargingStationCertificate",
        /// Certificate for the ISO 15118 connection to the EV.
        V2GCertificate = "V2GCertificate",
    }
}

ocpp_enum! {
    /// Generic accept/reject answer (`GenericStatusEnumType`).
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

/// `SecurityEventNotificationRequest`: a security-related event occurred.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityEventNotificationRequest {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// Event type (`type` on the wire, max 50 chars), e.g. `StartupOfTheDevice`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the event happened.
    pub timestamp: DateTime,
    /// Additional technical information (max 255 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tech_info: Option<String>,
}

/// `SecurityEventNotificationResponse`: empty acknowledgement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityEventNotificationResponse {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
}

/// `SignCertificateRequest`: a CSR from the station.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignCertificateRequest {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// PEM-encoded PKCS#10 certificate signing request (max 5500 chars).
    pub csr: String,
    /// Certificate use; absent means both uses (combined certificate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_type: Option<CertificateSigningUseEnumType>,
}

/// `SignCertificateResponse`: whether the CSR will be processed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignCertificateResponse {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// Accepted or Rejected.
    pub status: GenericStatusEnumType,
    /// More information about the status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_info: Option<StatusInfoType>,
}

/// `CertificateSignedRequest`: the CSMS delivers a signed certificate chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSignedRequest {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// PEM certificate chain, leaf first (max 10000 chars).
    pub certificate_chain: String,
    /// Certificate use (recommended: copied from the SignCertificateRequest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_type: Option<CertificateSigningUseEnumType>,
}

/// `CertificateSignedResponse`: whether the station installed the certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSignedResponse {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// Accepted or Rejected.
    pub status: CertificateSignedStatusEnumType,
    /// More information about the status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_info: Option<StatusInfoType>,
}
