//! What the status-like messages report, the same shape for both versions: a connector's
//! status, a firmware or log activity, a security event, a certificate request.

use super::{Call2, Call16, StationCall};

/// A StatusNotification: one connector's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectorReport<'a> {
    /// 2.0.1 EVSE id (absent on 1.6).
    pub evse_id: Option<i64>,
    /// 1.6 connectorId (0 = the charge point itself) or 2.0.1 connectorId within the EVSE.
    pub connector_id: i64,
    /// 1.6 `status` or 2.0.1 `connectorStatus`.
    pub status: &'static str,
    /// 1.6 `errorCode` (2.0.1 has none).
    pub error_code: Option<&'static str>,
    /// 1.6 free-text `info`.
    pub info: Option<&'a str>,
    /// 1.6 `vendorId`.
    pub vendor_id: Option<&'a str>,
    /// 1.6 `vendorErrorCode`.
    pub vendor_error_code: Option<&'a str>,
    /// The station's timestamp of the status, as sent.
    pub timestamp: Option<&'a str>,
}

/// Which long-running station activity a status message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// A firmware update (Firmware, SignedFirmware and PublishFirmware status notifications).
    Firmware,
    /// A diagnostics or log upload (DiagnosticsStatusNotification, LogStatusNotification).
    Log,
}

/// A status report of a firmware update or a log upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivityReport {
    /// Which activity.
    pub activity: Activity,
    /// The reported status, e.g. `Downloading`, `Uploaded`.
    pub status: &'static str,
    /// The request it belongs to, where the message has one.
    pub request_id: Option<i64>,
}

/// A SecurityEventNotification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecurityEventReport<'a> {
    /// The event type (`type`).
    pub kind: &'a str,
    /// When it happened, as sent.
    pub timestamp: &'a str,
    /// `techInfo`.
    pub tech_info: Option<&'a str>,
}

/// A SignCertificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsrRequest<'a> {
    /// The PEM CSR.
    pub csr: &'a str,
    /// The 2.0.1 `certificateType` (absent: the combined certificate; 1.6 has none).
    pub certificate_type: Option<&'static str>,
}

impl StationCall {
    /// A StatusNotification's report.
    pub fn connector_status(&self) -> Option<ConnectorReport<'_>> {
        match self {
            Self::V16(Call16::StatusNotification(s)) => Some(ConnectorReport {
                evse_id: None,
                connector_id: s.connector_id.into(),
                status: s.status.as_str(),
                error_code: Some(s.error_code.as_str()),
                info: s.info.as_deref(),
                vendor_id: s.vendor_id.as_deref(),
                vendor_error_code: s.vendor_error_code.as_deref(),
                timestamp: s.timestamp.as_deref(),
            }),
            Self::V2(Call2::StatusNotification(s)) => Some(ConnectorReport {
                evse_id: Some(s.evse_id.into()),
                connector_id: s.connector_id.into(),
                status: s.connector_status.as_str(),
                error_code: None,
                info: None,
                vendor_id: None,
                vendor_error_code: None,
                timestamp: Some(s.timestamp.as_str()),
            }),
            _ => None,
        }
    }

    /// A firmware or log status notification's report.
    pub fn activity(&self) -> Option<ActivityReport> {
        use Activity::{Firmware, Log};
        let (activity, status, request_id) = match self {
            Self::V16(Call16::FirmwareStatusNotification(n)) => (Firmware, n.status.as_str(), None),
            Self::V16(Call16::SignedFirmwareStatusNotification(n)) => {
                (Firmware, n.status.as_str(), n.request_id)
            }
            Self::V16(Call16::DiagnosticsStatusNotification(n)) => (Log, n.status.as_str(), None),
            Self::V16(Call16::LogStatusNotification(n)) => (Log, n.status.as_str(), n.request_id),
            Self::V2(Call2::FirmwareStatusNotification(n)) => {
                (Firmware, n.status.as_str(), n.request_id)
            }
            Self::V2(Call2::PublishFirmwareStatusNotification(n)) => {
                (Firmware, n.status.as_str(), n.request_id)
            }
            Self::V2(Call2::LogStatusNotification(n)) => (Log, n.status.as_str(), n.request_id),
            _ => return None,
        };
        Some(ActivityReport {
            activity,
            status,
            request_id: request_id.map(i64::from),
        })
    }

    /// A SecurityEventNotification's event.
    pub fn security_event(&self) -> Option<SecurityEventReport<'_>> {
        let (kind, timestamp, tech_info) = match self {
            Self::V16(Call16::SecurityEventNotification(e)) => {
                (&e.kind, &e.timestamp, &e.tech_info)
            }
            Self::V2(Call2::SecurityEventNotification(e)) => (&e.kind, &e.timestamp, &e.tech_info),
            _ => return None,
        };
        Some(SecurityEventReport {
            kind,
            timestamp,
            tech_info: tech_info.as_deref(),
        })
    }

    /// A SignCertificate's request.
    pub fn csr_request(&self) -> Option<CsrRequest<'_>> {
        match self {
            Self::V16(Call16::SignCertificate(r)) => Some(CsrRequest {
                csr: &r.csr,
                certificate_type: None,
            }),
            Self::V2(Call2::SignCertificate(r)) => Some(CsrRequest {
                csr: &r.csr,
                certificate_type: r.certificate_type.map(|t| t.as_str()),
            }),
            _ => None,
        }
    }
}
