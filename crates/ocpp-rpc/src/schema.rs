//! Validation of payloads against the official OCPP JSON schemas, embedded in the binary
//! and compiled once at start, with each failure mapped to the CALLERROR code the
//! version defines (OCPP-J 1.6 §4.2.3 Table 7; 2.0.1/2.1 Part 4 §4.3).

use std::collections::HashMap;

use jsonschema::{Validator, error::ValidationErrorKind};
use serde_json::Value;

use crate::error_code::ErrorCode;
use crate::version::{Family, ProtocolVersion};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_schemas.rs"));
}

/// Whether a payload is the request (CALL) or the response (CALLRESULT) of its action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadKind {
    /// The payload of a CALL.
    Request,
    /// The payload of a CALLRESULT.
    Response,
}

/// Why a payload does not conform to its schema, ready to become a CALLERROR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The CALLERROR code that names the kind of violation.
    pub code: ErrorCode,
    /// Where and what: `"/chargePointVendor: \"...\" is longer than 20 characters"`.
    pub description: String,
    /// Where alone, as a JSON pointer into the payload (`/` for the payload itself), so an
    /// API can name the failing field without parsing the description.
    pub path: String,
}

/// Why a payload could not be validated at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The version has no such action (answer `NotImplemented`).
    #[error("{version} has no action {action:?}")]
    UnknownAction {
        /// The connection's version.
        version: ProtocolVersion,
        /// The action asked for.
        action: String,
    },
    /// The payload violates the schema.
    #[error("{}", .0.description)]
    Invalid(Violation),
}

/// Every official schema of every supported version, compiled.
pub struct SchemaRegistry {
    validators: HashMap<(ProtocolVersion, PayloadKind), HashMap<String, Validator>>,
}

impl std::fmt::Debug for SchemaRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaRegistry")
            .field("schemas", &self.len())
            .finish()
    }
}

impl SchemaRegistry {
    /// Compiles every embedded schema; fails only if the embedded files are broken.
    pub fn load() -> Result<Self, String> {
        let mut validators: HashMap<_, HashMap<String, Validator>> = HashMap::new();
        for (dir, stem, text) in embedded::EMBEDDED {
            let version = ProtocolVersion::from_schema_dir(dir)
                .ok_or_else(|| format!("{dir}: a schema folder of no supported version"))?;
            let (action, kind) = split_stem(version, stem);
            let schema: Value =
                serde_json::from_str(text).map_err(|e| format!("{dir}/{stem}.json: {e}"))?;
            let validator = jsonschema::options()
                .should_validate_formats(true)
                .build(&schema)
                .map_err(|e| format!("{dir}/{stem}.json: {e}"))?;
            validators
                .entry((version, kind))
                .or_default()
                .insert(action.to_owned(), validator);
        }
        Ok(Self { validators })
    }

    /// How many schemas are compiled.
    pub fn len(&self) -> usize {
        self.validators.values().map(HashMap::len).sum()
    }

    /// True when no schema is loaded (never, after a successful `load`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `version` defines `action` at all.
    pub fn knows(&self, version: ProtocolVersion, action: &str) -> bool {
        self.validators
            .get(&(version, PayloadKind::Request))
            .is_some_and(|m| m.contains_key(action))
    }

    /// Every action `version` has a `kind` schema for, sorted: the vocabulary an API can
    /// list when it refuses an action, taken from the official schemas themselves.
    pub fn actions(&self, version: ProtocolVersion, kind: PayloadKind) -> Vec<&str> {
        let mut actions: Vec<&str> = self
            .validators
            .get(&(version, kind))
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        actions.sort_unstable();
        actions
    }

    /// Checks `payload` against the schema of `action`'s request or response.
    pub fn validate(
        &self,
        version: ProtocolVersion,
        action: &str,
        kind: PayloadKind,
        payload: &Value,
    ) -> Result<(), SchemaError> {
        let validator = self
            .validators
            .get(&(version, kind))
            .and_then(|m| m.get(action))
            .ok_or_else(|| SchemaError::UnknownAction {
                version,
                action: action.to_owned(),
            })?;
        let mut errors = validator.iter_errors(payload);
        let Some(first) = errors.next() else {
            return Ok(());
        };
        let more = errors.count();
        let mut path = first.instance_path().to_string();
        if path.is_empty() {
            path.push('/');
        }
        let mut description = format!("{path}: {first}");
        if more > 0 {
            description.push_str(&format!(" (and {more} more)"));
        }
        Err(SchemaError::Invalid(Violation {
            code: code_for(first.kind()),
            description,
            path,
        }))
    }
}

fn split_stem(version: ProtocolVersion, stem: &str) -> (&str, PayloadKind) {
    if let Some(action) = stem.strip_suffix("Response") {
        return (action, PayloadKind::Response);
    }
    // 1.6 names a request file after its action; 2.x adds `Request` (except 2.1's
    // `NotifyPeriodicEventStream`, a SEND message without a response).
    match version.family() {
        Family::V16 => (stem, PayloadKind::Request),
        Family::V2 => (
            stem.strip_suffix("Request").unwrap_or(stem),
            PayloadKind::Request,
        ),
    }
}

/// The recommended mapping of a schema failure to an RPC error code (SPEC_BRIEF §2a).
fn code_for(kind: &ValidationErrorKind) -> ErrorCode {
    use ValidationErrorKind as K;
    match kind {
        K::Required { .. }
        | K::MinItems { .. }
        | K::MaxItems { .. }
        | K::MinProperties { .. }
        | K::MaxProperties { .. } => ErrorCode::OccurrenceConstraintViolation,
        K::Type { .. } => ErrorCode::TypeConstraintViolation,
        K::AdditionalProperties { .. } | K::AdditionalItems { .. } | K::FalseSchema => {
            ErrorCode::FormatViolation
        }
        K::Enum { .. }
        | K::Constant { .. }
        | K::MaxLength { .. }
        | K::MinLength { .. }
        | K::Format { .. }
        | K::Minimum { .. }
        | K::Maximum { .. }
        | K::ExclusiveMinimum { .. }
        | K::ExclusiveMaximum { .. }
        | K::MultipleOf { .. }
        | K::Pattern { .. } => ErrorCode::PropertyConstraintViolation,
        _ => ErrorCode::FormatViolation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProtocolVersion::*;
    use serde_json::json;
    use std::sync::OnceLock;

    fn registry() -> &'static SchemaRegistry {
        static R: OnceLock<SchemaRegistry> = OnceLock::new();
        R.get_or_init(|| SchemaRegistry::load().expect("embedded schemas compile"))
    }

    #[test]
    fn actions_are_listed_from_the_schemas_and_a_violation_names_its_path() {
        let v16 = registry().actions(V16, PayloadKind::Request);
        assert!(v16.contains(&"GetConfiguration") && v16.contains(&"BootNotification"));
        assert!(v16.windows(2).all(|w| w[0] < w[1]), "sorted");
        assert!(!v16.contains(&"GetVariables"));
        let Err(SchemaError::Invalid(v)) = registry().validate(
            V16,
            "ChangeAvailability",
            PayloadKind::Request,
            &json!({"connectorId": 1, "type": "Sometimes"}),
        ) else {
            panic!("invalid")
        };
        assert_eq!(v.path, "/type");
        let Err(SchemaError::Invalid(v)) =
            registry().validate(V16, "ChangeAvailability", PayloadKind::Request, &json!({}))
        else {
            panic!("invalid")
        };
        assert_eq!(v.path, "/");
    }

    fn code(version: ProtocolVersion, action: &str, payload: Value) -> Option<ErrorCode> {
        match registry().validate(version, action, PayloadKind::Request, &payload) {
            Ok(()) => None,
            Err(SchemaError::Invalid(v)) => Some(v.code),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn every_official_schema_compiles() {
        assert_eq!(registry().len(), 78 + 128 + 181);
        assert!(registry().knows(V16, "ExtendedTriggerMessage"));
        assert!(registry().knows(V201, "TransactionEvent"));
        assert!(!registry().knows(V16, "TransactionEvent"));
        assert!(registry().knows(V21, "BatterySwap"));
        assert!(!registry().knows(V201, "BatterySwap"));
    }

    #[test]
    fn valid_payloads_of_both_versions_pass() {
        assert_eq!(
            code(
                V16,
                "BootNotification",
                json!({"chargePointVendor": "V", "chargePointModel": "M"})
            ),
            None
        );
        assert_eq!(
            code(
                V201,
                "BootNotification",
                json!({"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}})
            ),
            None
        );
        assert_eq!(
            code(
                V201,
                "StatusNotification",
                json!({"timestamp": "2025-01-01T12:00:00Z", "connectorStatus": "Available", "evseId": 1, "connectorId": 1})
            ),
            None
        );
    }

    #[test]
    fn v21_payloads_are_checked_against_the_v21_schemas_not_the_v201_ones() {
        let custom = json!({"requestedMessage": "CustomTrigger", "customTrigger": "vendorX"});
        assert_eq!(code(V21, "TriggerMessage", custom.clone()), None);
        assert_eq!(
            code(V201, "TriggerMessage", custom),
            Some(ErrorCode::PropertyConstraintViolation),
            "CustomTrigger is not a 2.0.1 value"
        );
        assert_eq!(
            code(
                V21,
                "TriggerMessage",
                json!({"requestedMessage": "CustomTrigger", "customTrigger": "x".repeat(51)})
            ),
            Some(ErrorCode::PropertyConstraintViolation)
        );
    }

    #[test]
    fn missing_required_field_is_an_occurrence_violation() {
        assert_eq!(
            code(V16, "BootNotification", json!({"chargePointVendor": "V"})),
            Some(ErrorCode::OccurrenceConstraintViolation)
        );
    }

    #[test]
    fn wrong_type_is_a_type_violation() {
        assert_eq!(
            code(
                V16,
                "StatusNotification",
                json!({"connectorId": "1", "errorCode": "NoError", "status": "Available"})
            ),
            Some(ErrorCode::TypeConstraintViolation)
        );
    }

    #[test]
    fn over_long_string_and_unknown_enum_are_property_violations() {
        assert_eq!(
            code(
                V16,
                "BootNotification",
                json!({"chargePointVendor": "V", "chargePointModel": "M", "chargePointSerialNumber": "x".repeat(26)})
            ),
            Some(ErrorCode::PropertyConstraintViolation)
        );
        assert_eq!(
            code(
                V16,
                "StatusNotification",
                json!({"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"})
            ),
            Some(ErrorCode::PropertyConstraintViolation)
        );
    }

    #[test]
    fn bad_date_time_is_a_property_violation() {
        assert_eq!(
            code(
                V201,
                "StatusNotification",
                json!({"timestamp": "yesterday", "connectorStatus": "Available", "evseId": 1, "connectorId": 1})
            ),
            Some(ErrorCode::PropertyConstraintViolation)
        );
    }

    #[test]
    fn unknown_field_is_a_format_violation() {
        assert_eq!(
            code(V16, "Heartbeat", json!({"extra": 1})),
            Some(ErrorCode::FormatViolation)
        );
    }

    #[test]
    fn unknown_action_is_reported_as_such() {
        assert!(matches!(
            registry().validate(V16, "Teleport", PayloadKind::Request, &json!({})),
            Err(SchemaError::UnknownAction { .. })
        ));
    }

    #[test]
    fn responses_are_validated_too() {
        let r = registry();
        assert!(
            r.validate(
                V16,
                "TriggerMessage",
                PayloadKind::Response,
                &json!({"status": "Accepted"})
            )
            .is_ok()
        );
        assert!(
            r.validate(
                V16,
                "TriggerMessage",
                PayloadKind::Response,
                &json!({"status": "Maybe"})
            )
            .is_err()
        );
    }
}
