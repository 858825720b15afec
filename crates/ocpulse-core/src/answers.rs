//! How the CSMS answers each CALL a station may send, per version (SPEC_BRIEF §2e).
//! Pure: the clock, the heartbeat interval and any allocated transaction id are inputs.

use ocpp_rpc::{ErrorCode, ProtocolVersion};
use ocpp_types::{v16, v201};
use serde::Serialize;
use serde_json::{Value, json};

/// The inputs an answer may need besides the request.
#[derive(Debug, Clone)]
pub struct AnswerContext {
    /// The CSMS clock, RFC 3339 (BootNotification/Heartbeat `currentTime`).
    pub now: String,
    /// Heartbeat interval in seconds given with an Accepted BootNotification.
    pub heartbeat_interval: i32,
    /// A fresh 1.6 transaction id, when `needs_transaction_id` said one is needed.
    pub transaction_id: Option<i64>,
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
    version == ProtocolVersion::V16 && action == "StartTransaction"
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
/// accepted leniently). Actions a station never sends are `NotSupported`; actions the
/// version lacks are `NotImplemented`.
pub fn answer(version: ProtocolVersion, action: &str, ctx: &AnswerContext) -> Answer {
    match version {
        ProtocolVersion::V16 => answer_v16(action, ctx),
        ProtocolVersion::V201 => answer_v201(action, ctx),
    }
}

fn answer_v16(action: &str, ctx: &AnswerContext) -> Answer {
    let accepted = || v16::IdTagInfo {
        expiry_date: None,
        parent_id_tag: None,
        status: v16::AuthorizationStatus::Accepted,
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
        "Authorize" => typed(v16::AuthorizeResponse {
            id_tag_info: accepted(),
        }),
        "StartTransaction" => match ctx.transaction_id.and_then(|id| i32::try_from(id).ok()) {
            Some(transaction_id) => typed(v16::StartTransactionResponse {
                id_tag_info: accepted(),
                transaction_id,
            }),
            None => Answer::Error {
                code: ErrorCode::InternalError,
                description: "no transaction id could be allocated".into(),
            },
        },
        "StopTransaction" => Answer::Result(json!({"idTagInfo": {"status": "Accepted"}})),
        "StatusNotification"
        | "MeterValues"
        | "DiagnosticsStatusNotification"
        | "FirmwareStatusNotification"
        | "LogStatusNotification"
        | "SecurityEventNotification"
        | "SignedFirmwareStatusNotification" => Answer::Result(json!({})),
        // No CA is configured yet, so no certificate can be issued: say so rather than
        // leave the station waiting for a CertificateSigned that never comes.
        "SignCertificate" => Answer::Result(json!({"status": "Rejected"})),
        "DataTransfer" => Answer::Result(json!({"status": "UnknownVendorId"})),
        _ => not_from_station(action),
    }
}

fn answer_v201(action: &str, ctx: &AnswerContext) -> Answer {
    let accepted = json!({"idTokenInfo": {"status": "Accepted"}});
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
        "Authorize" => Answer::Result(accepted),
        "TransactionEvent"
        | "StatusNotification"
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
        "SignCertificate" => Answer::Result(
            json!({"status": "Rejected", "statusInfo": {"reasonCode": "NoCA", "additionalInfo": "no certificate authority is configured on this CSMS"}}),
        ),
        "DataTransfer" => Answer::Result(json!({"status": "UnknownVendorId"})),
        "NotifyEVChargingNeeds" => Answer::Result(json!({"status": "Rejected"})),
        "NotifyEVChargingSchedule" => Answer::Result(json!({"status": "Accepted"})),
        "GetCertificateStatus" => Answer::Result(json!({"status": "Failed"})),
        "Get15118EVCertificate" => Answer::Result(json!({"status": "Failed", "exiResponse": ""})),
        _ => not_from_station(action),
    }
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
