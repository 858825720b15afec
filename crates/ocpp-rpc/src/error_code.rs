//! OCPP-J RPC error codes, with the exact wire spelling of each version
//! (OCPP-J 1.6 Table 7 keeps the typos `FormationViolation` and `OccurenceConstraintViolation`).

use crate::version::{Family, ProtocolVersion};

/// An RPC error code, independent of how a version spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Requested Action is not known by the receiver.
    NotImplemented,
    /// Requested Action is recognized but not supported by the receiver.
    NotSupported,
    /// An internal error occurred and the receiver could not process the Action.
    InternalError,
    /// Payload for Action is incomplete / not conform the PDU structure.
    ProtocolError,
    /// A security issue prevented the receiver from completing the Action.
    SecurityError,
    /// Payload is syntactically incorrect (1.6 `FormationViolation`, 2.x `FormatViolation`).
    FormatViolation,
    /// A field has an invalid value.
    PropertyConstraintViolation,
    /// A field violates occurrence constraints (1.6 spells it `OccurenceConstraintViolation`).
    OccurrenceConstraintViolation,
    /// A field violates data type constraints.
    TypeConstraintViolation,
    /// Any other error.
    GenericError,
    /// 2.x only: the message type number is not supported.
    MessageTypeNotSupported,
    /// 2.x only: not a valid RPC request (for example an unreadable message id).
    RpcFrameworkError,
}

impl ErrorCode {
    /// The spelling to send on a connection of `version`; 2.x-only codes degrade to the
    /// closest 1.6 code.
    pub fn wire(self, version: ProtocolVersion) -> &'static str {
        use ErrorCode::*;
        let v16 = version.family() == Family::V16;
        match self {
            NotImplemented => "NotImplemented",
            NotSupported => "NotSupported",
            InternalError => "InternalError",
            ProtocolError => "ProtocolError",
            SecurityError => "SecurityError",
            FormatViolation if v16 => "FormationViolation",
            FormatViolation => "FormatViolation",
            PropertyConstraintViolation => "PropertyConstraintViolation",
            OccurrenceConstraintViolation if v16 => "OccurenceConstraintViolation",
            OccurrenceConstraintViolation => "OccurrenceConstraintViolation",
            TypeConstraintViolation => "TypeConstraintViolation",
            GenericError => "GenericError",
            MessageTypeNotSupported if v16 => "FormationViolation",
            MessageTypeNotSupported => "MessageTypeNotSupported",
            RpcFrameworkError if v16 => "FormationViolation",
            RpcFrameworkError => "RpcFrameworkError",
        }
    }

    /// Reads a received code; both spellings of every version are accepted.
    pub fn parse(code: &str) -> Option<Self> {
        use ErrorCode::*;
        Some(match code {
            "NotImplemented" => NotImplemented,
            "NotSupported" => NotSupported,
            "InternalError" => InternalError,
            "ProtocolError" => ProtocolError,
            "SecurityError" => SecurityError,
            "FormationViolation" | "FormatViolation" => FormatViolation,
            "PropertyConstraintViolation" => PropertyConstraintViolation,
            "OccurenceConstraintViolation" | "OccurrenceConstraintViolation" => {
                OccurrenceConstraintViolation
            }
            "TypeConstraintViolation" => TypeConstraintViolation,
            "GenericError" => GenericError,
            "MessageTypeNotSupported" => MessageTypeNotSupported,
            "RpcFrameworkError" => RpcFrameworkError,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProtocolVersion::*;

    #[test]
    fn v16_keeps_the_specs_typo_spellings_on_the_wire() {
        assert_eq!(ErrorCode::FormatViolation.wire(V16), "FormationViolation");
        assert_eq!(
            ErrorCode::OccurrenceConstraintViolation.wire(V16),
            "OccurenceConstraintViolation"
        );
        assert_eq!(ErrorCode::FormatViolation.wire(V201), "FormatViolation");
        assert_eq!(
            ErrorCode::OccurrenceConstraintViolation.wire(V201),
            "OccurrenceConstraintViolation"
        );
    }

    #[test]
    fn v201_only_codes_are_never_sent_to_a_16_station() {
        assert_eq!(ErrorCode::RpcFrameworkError.wire(V16), "FormationViolation");
        assert_eq!(
            ErrorCode::MessageTypeNotSupported.wire(V16),
            "FormationViolation"
        );
        assert_eq!(ErrorCode::RpcFrameworkError.wire(V201), "RpcFrameworkError");
    }

    #[test]
    fn both_spellings_are_accepted_when_receiving() {
        assert_eq!(
            ErrorCode::parse("FormationViolation"),
            Some(ErrorCode::FormatViolation)
        );
        assert_eq!(
            ErrorCode::parse("OccurrenceConstraintViolation"),
            Some(ErrorCode::OccurrenceConstraintViolation)
        );
        assert_eq!(ErrorCode::parse("Whatever"), None);
    }
}
