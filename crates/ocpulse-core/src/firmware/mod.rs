//! Firmware updates: what the caller asks for ([`FirmwareAsk`]), the CALL that asks a
//! station of each version for it ([`UpdateCall`]), one station's progress folded from what
//! it reports ([`progress`]), and the staged rollout over a fleet ([`rollout`]).
//!
//! The facts live in the journal: the CALL and its answer, the station's
//! (Signed)FirmwareStatusNotification and its BootNotification after the reboot. All of it
//! is plain values here; the shell sends, reads the journal and stores.

pub mod progress;
pub mod rollout;
#[cfg(test)]
mod tests;

use ocpp_rpc::Family;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The station messages that report an update's progress, and the boot that ends one.
pub const PROGRESS_ACTIONS: [&str; 3] = [
    "FirmwareStatusNotification",
    "SignedFirmwareStatusNotification",
    "BootNotification",
];

/// What a caller asks every station of a rollout to install.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirmwareAsk {
    /// Where the station downloads the image (http, https, ftp or ftps URL).
    pub location: String,
    /// When to download (RFC 3339); the CALL's required retrieve time is the send time
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrieve_at: Option<String>,
    /// When to install (RFC 3339; signed updates only), else at once after download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_at: Option<String>,
    /// Download attempts the station may make.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    /// Seconds between attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval_secs: Option<i64>,
    /// PEM certificate the image was signed with: a signed update (1.6
    /// SignedUpdateFirmware; 2.0.1 UpdateFirmware's firmware fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_certificate: Option<String>,
    /// Base64 signature of the image (with `signing_certificate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The firmware version the image carries: a station whose BootNotification reports it
    /// has installed the update, even if its status reports were lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<String>,
}

impl FirmwareAsk {
    /// Whether it is a signed update.
    pub fn signed(&self) -> bool {
        self.signing_certificate.is_some() || self.signature.is_some()
    }

    /// What is wrong with it, said so the caller can fix it: a location that is no
    /// download URL, half a signature, a retry count below zero.
    pub fn check(&self) -> Result<(), String> {
        let scheme = self.location.split_once("://").map(|(s, _)| s);
        let host = self
            .location
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or(""));
        if !matches!(scheme, Some("http" | "https" | "ftp" | "ftps"))
            || host.is_none_or(str::is_empty)
        {
            return Err(format!(
                "location {:?} is not a download URL; use http://, https://, ftp:// or ftps:// with a host, e.g. https://firmware.example.com/fw-2.1.bin",
                self.location
            ));
        }
        if self.location.len() > 512 {
            return Err("location is longer than OCPP's 512 characters".into());
        }
        if self.signing_certificate.is_some() != self.signature.is_some() {
            return Err(
                "a signed update needs both signingCertificate (PEM) and signature (base64); give both or neither"
                    .into(),
            );
        }
        if self.install_at.is_some() && !self.signed() {
            return Err(
                "installAt exists only in signed updates (1.6 SignedUpdateFirmware, 2.0.1 UpdateFirmware with a signature); add signingCertificate and signature or drop installAt"
                    .into(),
            );
        }
        for (name, value) in [
            ("retries", self.retries),
            ("retryIntervalSecs", self.retry_interval_secs),
        ] {
            if value.is_some_and(|v| !(0..=i64::from(i32::MAX)).contains(&v)) {
                return Err(format!("{name} must be between 0 and {}", i32::MAX));
            }
        }
        Ok(())
    }
}

/// Which CALL asks a station to update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpdateCall {
    /// 1.6 core UpdateFirmware: answered with nothing; progress by FirmwareStatusNotification
    /// without a requestId.
    UpdateFirmware16,
    /// 1.6 security extension SignedUpdateFirmware: answered with a status; progress by
    /// SignedFirmwareStatusNotification with the requestId.
    SignedUpdateFirmware,
    /// 2.0.1 / 2.1 UpdateFirmware: answered with a status; progress by
    /// FirmwareStatusNotification with the requestId.
    UpdateFirmware2,
}

impl UpdateCall {
    /// The call for a station of `family`: a signed update on 1.6 needs the extension's
    /// SignedUpdateFirmware.
    pub fn for_station(family: Family, signed: bool) -> Self {
        match (family, signed) {
            (Family::V16, false) => Self::UpdateFirmware16,
            (Family::V16, true) => Self::SignedUpdateFirmware,
            (Family::V2, _) => Self::UpdateFirmware2,
        }
    }

    /// The OCPP action name.
    pub fn action(self) -> &'static str {
        match self {
            Self::UpdateFirmware16 | Self::UpdateFirmware2 => "UpdateFirmware",
            Self::SignedUpdateFirmware => "SignedUpdateFirmware",
        }
    }

    /// The CALL payload; `now` (RFC 3339) is the retrieve time when the ask has none.
    pub fn payload(self, ask: &FirmwareAsk, request_id: i64, now: &str) -> Value {
        let retrieve = ask.retrieve_at.as_deref().unwrap_or(now);
        let mut p = match self {
            Self::UpdateFirmware16 => json!({"location": ask.location, "retrieveDate": retrieve}),
            Self::SignedUpdateFirmware | Self::UpdateFirmware2 => {
                let mut firmware = json!({"location": ask.location, "retrieveDateTime": retrieve});
                for (key, value) in [
                    ("installDateTime", &ask.install_at),
                    ("signingCertificate", &ask.signing_certificate),
                    ("signature", &ask.signature),
                ] {
                    if let Some(v) = value {
                        firmware[key] = json!(v);
                    }
                }
                json!({"requestId": request_id, "firmware": firmware})
            }
        };
        if let Some(r) = ask.retries {
            p["retries"] = json!(r);
        }
        if let Some(r) = ask.retry_interval_secs {
            p["retryInterval"] = json!(r);
        }
        p
    }

    /// Whether the station took the update, from its CALLRESULT: `Ok` with the status
    /// (`Accepted`, `AcceptedCanceled`; 1.6 core answers nothing and counts as Accepted),
    /// `Err` with the refusal (`Rejected`, `InvalidCertificate`, `RevokedCertificate`).
    pub fn answer(self, response: &Value) -> Result<String, String> {
        if self == Self::UpdateFirmware16 {
            return Ok("Accepted".into());
        }
        match response.get("status").and_then(Value::as_str) {
            Some(s @ ("Accepted" | "AcceptedCanceled")) => Ok(s.to_owned()),
            Some(other) => Err(other.to_owned()),
            None => Err("no status".into()),
        }
    }
}
