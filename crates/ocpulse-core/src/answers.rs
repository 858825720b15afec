//! How the CSMS answers each CALL a station may send, per version family (SPEC_BRIEF §2e):
//! 2.1 is answered as 2.0.1 for the messages they share, and with `NotImplemented` for the
//! station messages only 2.1 has.
//! Pure: the clock, the heartbeat interval and any allocated transaction id are inputs.
//! SignCertificate is answered from a [`CsrVerdict`] the caller reaches first (checking a
//! CSR needs the CA, which lives outside the domain); `answer` alone gives the no-CA answer.

use ocpp_rpc::{ErrorCode, Family, ProtocolVersion};
use ocpp_types::{v16, v21, v201};
use serde::Serialize;
use serde_json::{Value, json};

use crate::authorization::Verdict;

/// The inputs an answer may need besides the request.
#[derive(Debug, Clone)]
pub struct AnswerContext {
    /// The CSMS clock, RFC 3339 (BootNotification/Heartbeat `currentTime`).
    pub now: String,
    /// Heartbeat interval in seconds given with an Accepted BootNotification.
    pub heartbeat_interval: i32,
    /// A fresh 1.6 transaction id, when `needs_transaction_id` said one is needed.
    pub transaction_id: Option<i64>,
    /// The registry's verdict on the id token the CALL presents
    /// (`authorization::presented`): 1.6 `idTagInfo`, 2.x `idTokenInfo`. `None` for a CALL
    /// that presents none; Authorize and StartTransaction are then answered `Invalid`
    /// (never Accepted by default: nobody decided it may charge).
    pub id_token: Option<Verdict>,
}

/// The answer to a station CALL.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A CALLRESULT with this payload.
    Result(Value),
    /// A CALLERROR.
    Error {
        /// Its code.
        code: ErrorCode,
        /// Its description.
        description: String,
    },
}

/// Whether answering `action` needs a newly allocated transaction id (1.6 StartTransaction).
pub fn needs_transaction_id(version: ProtocolVersion, action: &str) -> bool {
    version.family() == Family::V16 && action == "StartTransaction"
}

fn typed(value: impl Serialize) -> Answer {
    match serde_json::to_value(value) {
        Ok(v) => Answer::Result(v),
        Err(e) => Answer::Error {
            code: ErrorCode::InternalError,
            description: format!("could not encode the answer: {e}"),
        },
    }
}

/// The CSMS's answer to a station CALL whose payload has passed validation (or was
/// accepted leniently). Actions a station never sends are `NotSupported`; station
/// actions ocpulse does not handle (2.1's new ones) are `NotImplemented`.
pub fn answer(version: ProtocolVersion, action: &str, ctx: &AnswerContext) -> Answer {
    match version.family() {
        Family::V16 => answer_v16(action, ctx),
        Family::V2 if is_new_in_v21(version, action) => Answer::Error {
            code: ErrorCode::NotImplemented,
            description: format!(
                "{action} is an OCPP 2.1 message this CSMS does not implement; it speaks the messages 2.1 shares with 2.0.1"
            ),
        },
        Family::V2 => answer_v2(version, action, ctx),
    }
}

/// Whether `action` is a station message that 2.1 added to 2.0.1's.
fn is_new_in_v21(version: ProtocolVersion, action: &str) -> bool {
    version == ProtocolVersion::V21 && v21::NEW_ACTIONS_FROM_STATION.contains(&action)
}

fn answer_v16(action: &str, ctx: &AnswerContext) -> Answer {
    let id_tag_info = || {
        ctx.id_token
            .clone()
            .unwrap_or_else(Verdict::invalid)
            .id_tag_info()
    };
    match action {
        "BootNotification" => typed(v16::BootNotificationResponse {
            status: v16::RegistrationStatus::Accepted,
            current_time: ctx.now.clone(),
            interval: ctx.heartbeat_interval,
        }),
        "Heartbeat" => typed(v16::HeartbeatResponse {
            current_time: ctx.now.clone(),
        }),
        "Authorize" => Answer::Result(json!({"idTagInfo": id_tag_info()})),
        "StartTransaction" => match ctx.transaction_id.and_then(|id| i32::try_from(id).ok()) {
            Some(transaction_id) => {
                Answer::Result(json!({"idTagInfo": id_tag_info(), "transactionId": transaction_id}))
            }
            None => Answer::Error {
                code: ErrorCode::InternalError,
                description: "no transaction id could be allocated".into(),
            },
        },
        // idTagInfo only when the station said who stopped (1.6 §6.51: it is optional).
        "StopTransaction" => Answer::Result(match &ctx.id_token {
            Some(verdict) => json!({"idTagInfo": verdict.id_tag_info()}),
            None => json!({}),
        }),
        "StatusNotification"
        | "MeterValues"
        | "DiagnosticsStatusNotification"
        | "FirmwareStatusNotification"
        | "LogStatusNotification"
        | "SecurityEventNotification"
        | "SignedFirmwareStatusNotification" => Answer::Result(json!({})),
        // Without a CSR check (see `sign_certificate`) nothing can be issued: say so rather
        // than leave the station waiting for a CertificateSigned that never comes.
        "SignCertificate" => sign_certificate(ProtocolVersion::V16, &CsrVerdict::NoCa),
        "DataTransfer" => Answer::Result(json!({"status": "UnknownVendorId"})),
        _ => not_from_station(action),
    }
}

/// 2.0.1's answers, which are valid 2.1 answers too (2.1 only added optional fields).
fn answer_v2(version: ProtocolVersion, action: &str, ctx: &AnswerContext) -> Answer {
    match action {
        "BootNotification" => typed(v201::BootNotificationResponse {
            custom_data: None,
            current_time: ctx.now.clone(),
            interval: ctx.heartbeat_interval,
            status: v201::RegistrationStatusEnumType::Accepted,
            status_info: None,
        }),
        "Heartbeat" => typed(v201::HeartbeatResponse {
            custom_data: None,
            current_time: ctx.now.clone(),
        }),
        "Authorize" => Answer::Result(json!({
            "idTokenInfo": ctx.id_token.clone().unwrap_or_else(Verdict::invalid).id_token_info()
        })),
        // TransactionEventResponse.idTokenInfo "is required when the transactionEventRequest
        // contained an idToken", and only then.
        "TransactionEvent" => Answer::Result(match &ctx.id_token {
            Some(verdict) => json!({"idTokenInfo": verdict.id_token_info()}),
            None => json!({}),
        }),
        "StatusNotification"
        | "MeterValues"
        | "FirmwareStatusNotification"
        | "LogStatusNotification"
        | "SecurityEventNotification"
        | "NotifyEvent"
        | "NotifyReport"
        | "NotifyMonitoringReport"
        | "NotifyChargingLimit"
        | "ClearedChargingLimit"
        | "NotifyCustomerInformation"
        | "NotifyDisplayMessages"
        | "ReportChargingProfiles"
        | "ReservationStatusUpdate"
        | "PublishFirmwareStatusNotification" => Answer::Result(json!({})),
        "SignCertificate" => sign_certificate(version, &CsrVerdict::NoCa),
        "DataTransfer" => Answer::Result(json!({"status": "UnknownVendorId"})),
        "NotifyEVChargingNeeds" => Answer::Result(json!({"status": "Rejected"})),
        "NotifyEVChargingSchedule" => Answer::Result(json!({"status": "Accepted"})),
        "GetCertificateStatus" => Answer::Result(json!({"status": "Failed"})),
        "Get15118EVCertificate" => Answer::Result(json!({"status": "Failed", "exiResponse": ""})),
        _ => not_from_station(action),
    }
}

/// What the CSMS concluded about a station's CSR. It is decided *before* SignCertificate is
/// answered, so `Accepted` is a promise the CSMS can keep (the certificate already exists and
/// only has to be delivered in CertificateSigned), never a hope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsrVerdict {
    /// A CA is configured, the CSR verified and a certificate was issued for it.
    Accepted,
    /// No CA is configured, so nothing can be signed whatever the CSR.
    NoCa,
    /// The CSR cannot be signed: it is missing, unreadable, its self-signature does not
    /// verify, or its subject or key cannot be put in a certificate. Says what was wrong.
    InvalidCsr(String),
    /// The CSR is fine but the CA could not issue (e.g. the CA expired, or the chain does not
    /// fit in CertificateSigned). Says what was wrong.
    CaFailure(String),
}

/// The longest 2.0.1 `statusInfo.additionalInfo` (StatusInfoType, maxLength 512; 2.1
/// allows 1024, so the shorter limit fits both).
pub const ADDITIONAL_INFO_MAX: usize = 512;

impl CsrVerdict {
    /// The 2.0.1 `statusInfo.reasonCode` of a rejection (at most 20 characters), `None` when
    /// accepted. Stations and operators filter on it, so it is a short stable code.
    pub fn reason_code(&self) -> Option<&'static str> {
        match self {
            Self::Accepted => None,
            Self::NoCa => Some("NoCA"),
            Self::InvalidCsr(_) => Some("InvalidCSR"),
            Self::CaFailure(_) => Some("CAError"),
        }
    }

    /// Why the CSR was rejected, in words an operator can act on; `None` when accepted.
    pub fn reason(&self) -> Option<String> {
        match self {
            Self::Accepted => None,
            Self::NoCa => Some("no certificate authority is configured on this CSMS".into()),
            Self::InvalidCsr(why) | Self::CaFailure(why) => Some(why.clone()),
        }
    }
}

/// The answer to SignCertificate once the CSR has been checked. 1.6 (security extension)
/// has only the status; 2.x also says why in `statusInfo`, cut to 512 characters so the
/// answer always passes its own schema.
pub fn sign_certificate(version: ProtocolVersion, verdict: &CsrVerdict) -> Answer {
    let (Some(code), Some(reason)) = (verdict.reason_code(), verdict.reason()) else {
        return Answer::Result(json!({"status": "Accepted"}));
    };
    match version.family() {
        Family::V16 => Answer::Result(json!({"status": "Rejected"})),
        Family::V2 => Answer::Result(json!({
            "status": "Rejected",
            "statusInfo": {"reasonCode": code, "additionalInfo": truncate_chars(&reason, ADDITIONAL_INFO_MAX)},
        })),
    }
}

/// `text` cut to at most `max` characters (JSON schema lengths count characters, not bytes).
fn truncate_chars(text: &str, max: usize) -> &str {
    text.char_indices()
        .nth(max)
        .map_or(text, |(cut, _)| &text[..cut])
}

fn not_from_station(action: &str) -> Answer {
    Answer::Error {
        code: ErrorCode::NotSupported,
        description: format!(
            "{action} is a message the CSMS sends, not one it accepts from a station"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocpp_rpc::{PayloadKind, SchemaRegistry};
    use std::sync::OnceLock;

    fn registry() -> &'static SchemaRegistry {
        static R: OnceLock<SchemaRegistry> = OnceLock::new();
        R.get_or_init(|| SchemaRegistry::load().expect("schemas"))
    }

    fn ctx() -> AnswerContext {
        AnswerContext {
            now: "2025-01-01T12:00:00.000Z".into(),
            heartbeat_interval: 60,
            transaction_id: Some(7),
            id_token: None,
        }
    }

    #[test]
    fn every_answer_to_a_station_message_validates_against_its_response_schema() {
        for (version, actions) in [
            (ProtocolVersion::V16, ocpp_types::v16::ACTIONS_FROM_STATION),
            (
                ProtocolVersion::V201,
                ocpp_types::v201::ACTIONS_FROM_STATION,
            ),
            (ProtocolVersion::V21, ocpp_types::v201::ACTIONS_FROM_STATION),
        ] {
            for action in actions {
                let Answer::Result(payload) = answer(version, action, &ctx()) else {
                    panic!("{version} {action} has no answer")
                };
                registry()
                    .validate(version, action, PayloadKind::Response, &payload)
                    .unwrap_or_else(|e| panic!("{version} {action}: {e}"));
            }
        }
    }

    #[test]
    fn boot_is_accepted_with_the_heartbeat_interval_and_clock() {
        let Answer::Result(p) = answer(ProtocolVersion::V16, "BootNotification", &ctx()) else {
            panic!()
        };
        assert_eq!(
            p,
            json!({"status": "Accepted", "currentTime": "2025-01-01T12:00:00.000Z", "interval": 60})
        );
    }

    #[test]
    fn start_transaction_carries_the_allocated_id() {
        assert!(needs_transaction_id(
            ProtocolVersion::V16,
            "StartTransaction"
        ));
        let Answer::Result(p) = answer(ProtocolVersion::V16, "StartTransaction", &ctx()) else {
            panic!()
        };
        assert_eq!(p["transactionId"], 7);
    }

    #[test]
    fn sign_certificate_answers_follow_the_csr_verdict_and_pass_their_schema() {
        let long = "é".repeat(600);
        for version in ProtocolVersion::ALL {
            for verdict in [
                CsrVerdict::Accepted,
                CsrVerdict::NoCa,
                CsrVerdict::InvalidCsr(long.clone()),
                CsrVerdict::CaFailure("the CA certificate expired".into()),
            ] {
                let Answer::Result(p) = sign_certificate(version, &verdict) else {
                    panic!("{version} {verdict:?} has no answer")
                };
                registry()
                    .validate(version, "SignCertificate", PayloadKind::Response, &p)
                    .unwrap_or_else(|e| panic!("{version} {verdict:?}: {e}"));
                let expected = if verdict == CsrVerdict::Accepted {
                    "Accepted"
                } else {
                    "Rejected"
                };
                assert_eq!(p["status"], expected, "{version} {verdict:?}");
                if version == ProtocolVersion::V16 {
                    assert!(p.get("statusInfo").is_none(), "1.6 has no statusInfo");
                } else if expected == "Rejected" {
                    assert_eq!(p["statusInfo"]["reasonCode"], json!(verdict.reason_code()));
                }
            }
        }
        let Answer::Result(p) =
            sign_certificate(ProtocolVersion::V201, &CsrVerdict::InvalidCsr(long.clone()))
        else {
            panic!()
        };
        let info = p["statusInfo"]["additionalInfo"].as_str().expect("info");
        assert_eq!(info.chars().count(), ADDITIONAL_INFO_MAX);
        assert_eq!(
            answer(ProtocolVersion::V201, "SignCertificate", &ctx()),
            sign_certificate(ProtocolVersion::V201, &CsrVerdict::NoCa),
            "without a CSR check the default answer is NoCA"
        );
    }

    #[test]
    fn station_messages_new_in_21_are_not_implemented_and_shared_ones_answered_as_201() {
        for action in ocpp_types::v21::NEW_ACTIONS_FROM_STATION {
            assert!(
                matches!(
                    answer(ProtocolVersion::V21, action, &ctx()),
                    Answer::Error {
                        code: ErrorCode::NotImplemented,
                        ..
                    }
                ),
                "{action}"
            );
        }
        for action in ocpp_types::v201::ACTIONS_FROM_STATION {
            assert_eq!(
                answer(ProtocolVersion::V21, action, &ctx()),
                answer(ProtocolVersion::V201, action, &ctx()),
                "{action}"
            );
        }
        assert!(matches!(
            answer(ProtocolVersion::V21, "AFRRSignal", &ctx()),
            Answer::Error {
                code: ErrorCode::NotSupported,
                ..
            }
        ));
    }

    #[test]
    fn csms_initiated_actions_are_not_supported_from_a_station() {
        assert!(matches!(
            answer(ProtocolVersion::V16, "Reset", &ctx()),
            Answer::Error {
                code: ErrorCode::NotSupported,
                ..
            }
        ));
        assert!(matches!(
            answer(ProtocolVersion::V201, "TriggerMessage", &ctx()),
            Answer::Error {
                code: ErrorCode::NotSupported,
                ..
            }
        ));
    }
}
