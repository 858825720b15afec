//! OCPP-J RPC frames (OCPP-J §4): parsing with precise errors and writing.
//!
//! ```text
//! CALL        [2, "<messageId>", "<Action>", {payload}]
//! CALLRESULT  [3, "<messageId>", {payload}]
//! CALLERROR   [4, "<messageId>", "<errorCode>", "<errorDescription>", {errorDetails}]
//! ```

use serde_json::{Map, Value};

use crate::{error_code::ErrorCode, message_id, version::ProtocolVersion};

/// The message id to use in a CALLERROR when the offending frame's id cannot be read
/// (OCPP-J 2.1 §4.2.3).
pub const UNREADABLE_ID: &str = "-1";

/// The longest errorDescription 2.x allows (`string[255]`).
const MAX_DESCRIPTION: usize = 255;

/// A well-formed OCPP-J frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A request; answered by a CALLRESULT or CALLERROR with the same id.
    Call {
        /// The sender's message id.
        id: String,
        /// The action name, e.g. `BootNotification`.
        action: String,
        /// The request payload (always a JSON object).
        payload: Value,
    },
    /// A successful answer to the CALL with the same id.
    CallResult {
        /// Id of the CALL answered.
        id: String,
        /// The response payload (always a JSON object).
        payload: Value,
    },
    /// A failed answer to the CALL with the same id.
    CallError {
        /// Id of the CALL answered.
        id: String,
        /// The error code exactly as received or to be sent.
        code: String,
        /// Human-readable description ("" if none).
        description: String,
        /// Error details (`{}` if none).
        details: Value,
    },
}

/// Why a text is not a usable OCPP-J frame; carries everything needed for the CALLERROR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// The message id, if it could be read.
    pub id: Option<String>,
    /// The error code to answer with.
    pub code: ErrorCode,
    /// What was wrong, for the errorDescription and the journal.
    pub message: String,
    /// The message type number, if it could be read (a bad CALLRESULT is not answered like a bad CALL).
    pub message_type: Option<u64>,
}

impl FrameError {
    fn new(id: Option<String>, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            id,
            code,
            message: message.into(),
            message_type: None,
        }
    }

    /// The id the CALLERROR must carry: the frame's own, or `"-1"` when unreadable.
    pub fn reply_id(&self) -> &str {
        self.id.as_deref().unwrap_or(UNREADABLE_ID)
    }

    /// The CALLERROR frame that answers this error on a `version` connection.
    pub fn to_call_error(&self, version: ProtocolVersion) -> Frame {
        Frame::call_error(self.reply_id(), self.code, version, &self.message)
    }
}

impl Frame {
    /// Parses one WebSocket text message.
    pub fn parse(text: &str) -> Result<Frame, FrameError> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            FrameError::new(
                None,
                ErrorCode::FormatViolation,
                format!("frame is not valid JSON: {e}"),
            )
        })?;
        let Value::Array(mut items) = value else {
            return Err(FrameError::new(
                None,
                ErrorCode::RpcFrameworkError,
                "frame must be a JSON array [messageTypeId, messageId, ...]",
            ));
        };
        let message_type = items.first().and_then(Value::as_u64);
        let id = match items.get(1) {
            Some(Value::String(id)) => Some(id.clone()),
            _ => None,
        };
        let err = |code, message: String| FrameError {
            id: id.clone(),
            code,
            message,
            message_type,
        };
        let Some(message_type) = message_type else {
            return Err(err(
                ErrorCode::RpcFrameworkError,
                "first element must be the messageTypeId 2, 3 or 4".into(),
            ));
        };
        let Some(id) = id.clone() else {
            return Err(err(
                ErrorCode::RpcFrameworkError,
                "second element must be the messageId string".into(),
            ));
        };
        if id.is_empty() || id.chars().count() > message_id::MAX_LEN {
            return Err(err(
                ErrorCode::RpcFrameworkError,
                format!(
                    "messageId must have 1 to {} characters, got {}",
                    message_id::MAX_LEN,
                    id.chars().count()
                ),
            ));
        }
        // Moves the payload out of the parsed array (a copy was a deep clone of every
        // payload a station sends).
        let payload_at = |items: &mut Vec<Value>, index: usize| -> Result<Value, FrameError> {
            match items.get_mut(index) {
                Some(payload @ Value::Object(_)) => Ok(payload.take()),
                Some(other) => Err(err(
                    ErrorCode::FormatViolation,
                    format!(
                        "payload must be a JSON object (use {{}} when empty), got {}",
                        json_kind(other)
                    ),
                )),
                None => Err(err(ErrorCode::FormatViolation, "payload is missing".into())),
            }
        };
        let arity = |expected: &str| {
            err(
                ErrorCode::RpcFrameworkError,
                format!(
                    "a message of type {message_type} has {expected} elements, got {}",
                    items.len()
                ),
            )
        };
        match message_type {
            2 => {
                if items.len() != 4 {
                    return Err(arity("4"));
                }
                let Some(action) = items[2].as_str().filter(|a| !a.is_empty()) else {
                    return Err(err(
                        ErrorCode::FormatViolation,
                        "third element must be the Action name".into(),
                    ));
                };
                Ok(Frame::Call {
                    id,
                    action: action.to_owned(),
                    payload: payload_at(&mut items, 3)?,
                })
            }
            3 => {
                if items.len() != 3 {
                    return Err(arity("3"));
                }
                Ok(Frame::CallResult {
                    id,
                    payload: payload_at(&mut items, 2)?,
                })
            }
            4 => {
                // Be liberal: some stations omit errorDetails.
                if !(4..=5).contains(&items.len()) {
                    return Err(arity("5"));
                }
                let (Some(code), Some(description)) = (items[2].as_str(), items[3].as_str()) else {
                    return Err(err(
                        ErrorCode::FormatViolation,
                        "errorCode and errorDescription must be strings".into(),
                    ));
                };
                let (code, description) = (code.to_owned(), description.to_owned());
                let details = if items.len() == 5 {
                    payload_at(&mut items, 4)?
                } else {
                    Value::Object(Map::new())
                };
                Ok(Frame::CallError {
                    id,
                    code,
                    description,
                    details,
                })
            }
            other => Err(err(
                ErrorCode::MessageTypeNotSupported,
                format!(
                    "messageTypeId {other} is not supported (2=CALL, 3=CALLRESULT, 4=CALLERROR)"
                ),
            )),
        }
    }

    /// A CALLERROR spelled for `version`, its description cut to the 255 characters 2.x allows.
    pub fn call_error(
        id: &str,
        code: ErrorCode,
        version: ProtocolVersion,
        description: &str,
    ) -> Frame {
        let description: String = description.chars().take(MAX_DESCRIPTION).collect();
        Frame::CallError {
            id: id.to_owned(),
            code: code.wire(version).to_owned(),
            description,
            details: Value::Object(Map::new()),
        }
    }

    /// The frame's message id.
    pub fn id(&self) -> &str {
        match self {
            Frame::Call { id, .. } | Frame::CallResult { id, .. } | Frame::CallError { id, .. } => {
                id
            }
        }
    }

    /// `"CALL"`, `"CALLRESULT"` or `"CALLERROR"`, as the journal names frame types.
    pub fn type_name(&self) -> &'static str {
        match self {
            Frame::Call { .. } => "CALL",
            Frame::CallResult { .. } => "CALLRESULT",
            Frame::CallError { .. } => "CALLERROR",
        }
    }

    /// The wire text of the frame.
    pub fn to_text(&self) -> String {
        // Tuples serialize as JSON arrays, so the payload is written where it lies instead of
        // being deep-cloned into a `Value::Array` first (a map clone and drop per frame).
        let text = match self {
            Frame::Call {
                id,
                action,
                payload,
            } => serde_json::to_string(&(2, id, action, payload)),
            Frame::CallResult { id, payload } => serde_json::to_string(&(3, id, payload)),
            Frame::CallError {
                id,
                code,
                description,
                details,
            } => serde_json::to_string(&(4, id, code, description, details)),
        };
        // Strings and `Value`s always serialize (a `Value` map's keys are strings).
        text.unwrap_or_default()
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn call_result_and_error_round_trip() {
        for text in [
            r#"[2,"19223201","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]"#,
            r#"[3,"19223201",{"status":"Accepted"}]"#,
            r#"[4,"19223201","NotImplemented","",{}]"#,
        ] {
            let frame = Frame::parse(text).expect("valid frame");
            assert_eq!(Frame::parse(&frame.to_text()).expect("reparse"), frame);
            let a: Value = serde_json::from_str(text).expect("json");
            let b: Value = serde_json::from_str(&frame.to_text()).expect("json");
            assert_eq!(a, b);
        }
    }

    #[test]
    fn invalid_json_answers_with_id_minus_one_and_format_violation() {
        let err = Frame::parse("[2, \"abc\", ").expect_err("not json");
        assert_eq!(err.reply_id(), "-1");
        assert_eq!(err.code, ErrorCode::FormatViolation);
        let Frame::CallError { id, code, .. } = err.to_call_error(ProtocolVersion::V16) else {
            panic!()
        };
        assert_eq!((id.as_str(), code.as_str()), ("-1", "FormationViolation"));
    }

    #[test]
    fn unreadable_message_id_answers_with_minus_one_rpc_framework_error() {
        let err = Frame::parse(r#"[2, 17, "Heartbeat", {}]"#).expect_err("numeric id");
        assert_eq!(
            (err.reply_id(), err.code),
            ("-1", ErrorCode::RpcFrameworkError)
        );
        let err = Frame::parse(r#"{"id": "x"}"#).expect_err("object");
        assert_eq!(
            (err.reply_id(), err.code),
            ("-1", ErrorCode::RpcFrameworkError)
        );
    }

    #[test]
    fn readable_id_is_echoed_in_the_error() {
        let err = Frame::parse(r#"[2, "m1", "Heartbeat"]"#).expect_err("missing payload");
        assert_eq!(err.reply_id(), "m1");
        let err = Frame::parse(r#"[2, "m2", "Heartbeat", null]"#).expect_err("null payload");
        assert_eq!(
            (err.reply_id(), err.code),
            ("m2", ErrorCode::FormatViolation)
        );
        let err = Frame::parse(r#"[7, "m3", "Heartbeat", {}]"#).expect_err("unknown type");
        assert_eq!(
            (err.reply_id(), err.code),
            ("m3", ErrorCode::MessageTypeNotSupported)
        );
    }

    #[test]
    fn message_id_longer_than_36_characters_is_refused() {
        let id = "x".repeat(37);
        let err = Frame::parse(&format!(r#"[2,"{id}","Heartbeat",{{}}]"#)).expect_err("too long");
        assert_eq!(err.code, ErrorCode::RpcFrameworkError);
        assert!(Frame::parse(&format!(r#"[2,"{}","Heartbeat",{{}}]"#, "x".repeat(36))).is_ok());
    }

    #[test]
    fn call_error_without_details_is_accepted_when_receiving() {
        let frame = Frame::parse(r#"[4,"a","GenericError","boom"]"#).expect("liberal");
        assert_eq!(
            frame,
            Frame::CallError {
                id: "a".into(),
                code: "GenericError".into(),
                description: "boom".into(),
                details: json!({})
            }
        );
    }

    #[test]
    fn call_error_description_is_cut_to_255_characters() {
        let Frame::CallError { description, .. } = Frame::call_error(
            "a",
            ErrorCode::GenericError,
            ProtocolVersion::V201,
            &"é".repeat(400),
        ) else {
            panic!()
        };
        assert_eq!(description.chars().count(), 255);
    }
}
