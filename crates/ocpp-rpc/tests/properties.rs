//! Property tests: the frame codec and the validator never panic on any input, frames
//! round-trip, and schema failures map to codes consistently.

use ocpp_rpc::schema::SchemaError;
use ocpp_rpc::{ErrorCode, Frame, PayloadKind, ProtocolVersion, SchemaRegistry};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use std::sync::OnceLock;

fn registry() -> &'static SchemaRegistry {
    static R: OnceLock<SchemaRegistry> = OnceLock::new();
    R.get_or_init(|| SchemaRegistry::load().expect("schemas"))
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-zA-Z0-9 ._:-]{0,30}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn payload() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-zA-Z]{1,12}", json_value(), 0..5)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn frame() -> impl Strategy<Value = Frame> {
    let id = "[!-~]{1,36}";
    prop_oneof![
        (id, "[A-Za-z]{1,30}", payload()).prop_map(|(id, action, payload)| Frame::Call {
            id,
            action,
            payload
        }),
        (id, payload()).prop_map(|(id, payload)| Frame::CallResult { id, payload }),
        (id, "[A-Za-z]{1,30}", "[ -~]{0,60}", payload()).prop_map(
            |(id, code, description, details)| Frame::CallError {
                id,
                code,
                description,
                details
            }
        ),
    ]
}

proptest! {
    #[test]
    fn any_text_parses_or_yields_an_error_with_a_reply_id(text in "\\PC{0,200}") {
        if let Err(e) = Frame::parse(&text) {
            let id = e.reply_id();
            prop_assert!(id == "-1" || (!id.is_empty() && id.chars().count() <= 36));
        }
    }

    #[test]
    fn any_json_array_parses_or_yields_an_error(items in prop::collection::vec(json_value(), 0..6)) {
        let text = Value::Array(items).to_string();
        let _ = Frame::parse(&text);
    }

    #[test]
    fn frames_round_trip_through_text(frame in frame()) {
        let text = frame.to_text();
        prop_assert_eq!(Frame::parse(&text).expect("own output parses"), frame);
    }

    #[test]
    fn validation_never_panics_and_returns_a_defined_code(payload in payload(), pick in 0usize..1000, v16 in any::<bool>()) {
        let version = if v16 { ProtocolVersion::V16 } else { ProtocolVersion::V201 };
        let actions: &[&str] = if v16 { ocpp_types::v16::ACTIONS_FROM_STATION } else { ocpp_types::v201::ACTIONS_FROM_STATION };
        let action = actions[pick % actions.len()];
        match registry().validate(version, action, PayloadKind::Request, &payload) {
            Ok(()) => {}
            Err(SchemaError::Invalid(v)) => {
                prop_assert!(ErrorCode::parse(v.code.wire(version)).is_some());
                prop_assert!(!v.description.is_empty());
            }
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }

    #[test]
    fn removing_a_required_field_is_an_occurrence_violation(drop_vendor in any::<bool>()) {
        let mut boot = json!({"chargePointVendor": "V", "chargePointModel": "M"});
        let key = if drop_vendor { "chargePointVendor" } else { "chargePointModel" };
        boot.as_object_mut().expect("object").remove(key);
        let result = registry().validate(ProtocolVersion::V16, "BootNotification", PayloadKind::Request, &boot);
        prop_assert!(matches!(result, Err(SchemaError::Invalid(ref v)) if v.code == ErrorCode::OccurrenceConstraintViolation));
    }
}
