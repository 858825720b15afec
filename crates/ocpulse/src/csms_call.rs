//! Sending any CSMS-initiated CALL of a station's version on an operator's behalf (the
//! escape hatch for what ocpulse does not model): the action and payload are checked
//! against the official schemas before anything is sent, and the CALL goes through the
//! station session's outbox like every CSMS CALL (one in flight per station, journaled).
//! TriggerMessage is refused here: the trigger path owns its correlation.

use std::time::Duration;

use ocpp_rpc::schema::SchemaError;
use ocpp_rpc::{PayloadKind, ProtocolVersion, SchemaRegistry};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::app::App;
use crate::registry::{CallEnd, CallOutcome, CallRequest, SessionHandle};
use crate::trigger_service::Refusal;

/// The actions only the trigger path sends (`POST /api/v1/stations/{id}/trigger`).
pub const TRIGGER_ACTIONS: [&str; 2] = ["TriggerMessage", "ExtendedTriggerMessage"];

/// Why a call cannot be sent. The API turns each into its 4xx error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallRefusal {
    /// Unknown or not connected: the trigger's refusal, said alike.
    Station(Refusal),
    /// TriggerMessage / ExtendedTriggerMessage: the trigger path's own.
    TriggerAction {
        /// The action asked for.
        action: String,
    },
    /// Not a CALL the CSMS may send in this version (a station's message, or no message).
    NotCsmsAction {
        /// The version that has no such CSMS CALL.
        protocol: ProtocolVersion,
        /// The action asked for.
        action: String,
        /// Every action that version lets the CSMS send through this path.
        valid: Vec<&'static str>,
    },
    /// The payload violates the action's request schema.
    InvalidPayload {
        /// The version whose schema was used.
        protocol: ProtocolVersion,
        /// The action.
        action: String,
        /// The JSON pointer of the first failure (`/` for the payload itself).
        path: String,
        /// Where and what, with what would be valid (the schema validator's words).
        problem: String,
        /// The OCPP error code the violation maps to (`PropertyConstraintViolation`, ...).
        violation: &'static str,
    },
}

impl CallRefusal {
    /// The stable code (the API's `error`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Station(r) => r.code(),
            Self::TriggerAction { .. } => "use_trigger_endpoint",
            Self::NotCsmsAction { .. } => "unknown_action",
            Self::InvalidPayload { .. } => "invalid_payload",
        }
    }
}

/// What was wrong and what would be right (the API's `message`; a job's per-station detail).
impl std::fmt::Display for CallRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Station(r) => write!(f, "{r}"),
            Self::TriggerAction { action } => write!(
                f,
                "{action} is sent by POST /api/v1/stations/{{id}}/trigger, which also collects the message it triggers; send {{\"requestedMessage\": ...}} there"
            ),
            Self::NotCsmsAction {
                protocol, action, ..
            } => write!(
                f,
                "{action:?} is not a call the CSMS sends in {}; validValues lists those it does",
                protocol.subprotocol()
            ),
            Self::InvalidPayload {
                protocol,
                action,
                problem,
                ..
            } => write!(
                f,
                "the {action} payload violates the {} schema at {problem}; nothing was sent",
                protocol.subprotocol()
            ),
        }
    }
}

/// The CSMS-initiated actions of `protocol` this path sends: every request schema of the
/// version except the station's own messages (DataTransfer goes both ways, so it stays) and
/// the trigger actions.
pub fn csms_actions(protocol: ProtocolVersion) -> Vec<&'static str> {
    let from_station: &[&[&str]] = match protocol {
        ProtocolVersion::V16 => &[ocpp_types::v16::ACTIONS_FROM_STATION],
        ProtocolVersion::V201 => &[ocpp_types::v201::ACTIONS_FROM_STATION],
        ProtocolVersion::V21 => &[
            ocpp_types::v201::ACTIONS_FROM_STATION,
            ocpp_types::v21::NEW_ACTIONS_FROM_STATION,
        ],
    };
    SchemaRegistry::actions(protocol, PayloadKind::Request)
        .into_iter()
        .filter(|a| {
            *a == "DataTransfer"
                || !(from_station.iter().any(|l| l.contains(a)) || TRIGGER_ACTIONS.contains(a))
        })
        .collect()
}

/// Checks that `protocol` lets the CSMS send `action` here and that `payload` conforms to
/// its request schema.
pub fn check(
    schemas: &SchemaRegistry,
    protocol: ProtocolVersion,
    action: &str,
    payload: &Value,
) -> Result<(), CallRefusal> {
    if TRIGGER_ACTIONS.contains(&action) {
        return Err(CallRefusal::TriggerAction {
            action: action.to_owned(),
        });
    }
    let valid = csms_actions(protocol);
    if !valid.contains(&action) {
        return Err(CallRefusal::NotCsmsAction {
            protocol,
            action: action.to_owned(),
            valid,
        });
    }
    match schemas.validate(protocol, action, PayloadKind::Request, payload) {
        Ok(()) => Ok(()),
        Err(SchemaError::Invalid(v)) => Err(CallRefusal::InvalidPayload {
            protocol,
            action: action.to_owned(),
            path: v.path,
            problem: v.description,
            violation: v.code.wire(protocol),
        }),
        // Listed above, so the version has its schema; said as "not a CSMS action" anyway.
        Err(SchemaError::UnknownAction { .. }) => Err(CallRefusal::NotCsmsAction {
            protocol,
            action: action.to_owned(),
            valid,
        }),
    }
}

/// The station's live session, once the call is known to be sendable: an unknown station
/// is refused first; a disconnected one has the call checked against the version it last
/// spoke (a call that could never run is told so now), then is refused as not connected.
pub fn prepare(
    app: &App,
    station_id: &str,
    action: &str,
    payload: &Value,
) -> Result<SessionHandle, CallRefusal> {
    let entry = app
        .stations
        .get(station_id)
        .ok_or_else(|| CallRefusal::Station(Refusal::UnknownStation(station_id.to_owned())))?;
    let Some(session) = entry.session else {
        let last = entry
            .state
            .lock()
            .protocol
            .as_deref()
            .and_then(ProtocolVersion::from_subprotocol);
        if let Some(protocol) = last {
            check(&app.schemas, protocol, action, payload)?;
        }
        return Err(CallRefusal::Station(Refusal::NotConnected(
            station_id.to_owned(),
        )));
    };
    check(&app.schemas, session.protocol, action, payload)?;
    Ok(session)
}

/// Sends the CALL through the session's outbox and waits for its end: the station's
/// CALLRESULT (checked against the response schema by the session), its CALLERROR, a
/// timeout after `timeout`, or the connection gone.
pub async fn send(
    session: &SessionHandle,
    action: &str,
    payload: Value,
    timeout: Duration,
) -> CallOutcome {
    let (reply, answer) = oneshot::channel();
    let call = Box::new(CallRequest {
        action: action.to_owned(),
        payload,
        timeout,
        reply,
        watch: None,
        redact: false,
    });
    if session.calls.send(call).is_err() {
        return CallOutcome::Disconnected;
    }
    // The session times the call out itself (from when it is written, after any CALL
    // queued before it); the margin only guards against a session that never answers.
    match tokio::time::timeout(timeout + END_MARGIN, answer).await {
        Ok(Ok(CallEnd { outcome, .. })) => outcome,
        Ok(Err(_)) => CallOutcome::Disconnected,
        Err(_) => CallOutcome::Timeout,
    }
}

/// How long past its timeout a caller waits for the session's reply.
const END_MARGIN: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schemas() -> SchemaRegistry {
        SchemaRegistry::load().expect("schemas")
    }

    #[test]
    fn csms_actions_exclude_station_messages_and_triggers_but_keep_data_transfer() {
        let v16 = csms_actions(ProtocolVersion::V16);
        for a in [
            "GetConfiguration",
            "Reset",
            "DataTransfer",
            "CertificateSigned",
        ] {
            assert!(v16.contains(&a), "{a} in {v16:?}");
        }
        for a in [
            "BootNotification",
            "TriggerMessage",
            "ExtendedTriggerMessage",
        ] {
            assert!(!v16.contains(&a), "{a} not in {v16:?}");
        }
        let v21 = csms_actions(ProtocolVersion::V21);
        assert!(v21.contains(&"GetVariables"));
        assert!(!v21.contains(&"NotifyDERAlarm") && !v21.contains(&"TransactionEvent"));
    }

    #[test]
    fn a_bad_payload_is_refused_with_its_path() {
        let s = schemas();
        let r = check(
            &s,
            ProtocolVersion::V201,
            "Reset",
            &json!({"type": "Sometime"}),
        );
        let Err(CallRefusal::InvalidPayload { path, problem, .. }) = r else {
            panic!("{r:?}")
        };
        assert_eq!(path, "/type");
        assert!(problem.contains("Immediate"), "{problem}");
    }
}
