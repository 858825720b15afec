//! OCPP 2.1 payload types against the official 2.1 schemas.

#[macro_use]
mod support;

use ocpp_types::v21::*;
use support::Example;

fn examples() -> Vec<Example> {
    vec![
        example!(
            TriggerMessageRequest,
            "v21/TriggerMessageRequest.json",
            r#"{"requestedMessage": "CustomTrigger", "customTrigger": "com.vendor.diagnostics"}"#
        ),
        example!(
            TriggerMessageRequest,
            "v21/TriggerMessageRequest.json",
            r#"{"requestedMessage": "SignV2G20Certificate"}"#
        ),
        example!(
            TriggerMessageRequest,
            "v21/TriggerMessageRequest.json",
            r#"{"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}}"#
        ),
        example!(
            TriggerMessageResponse,
            "v21/TriggerMessageResponse.json",
            r#"{"status": "Rejected", "statusInfo": {"reasonCode": "UnknownTrigger"}}"#
        ),
    ]
}

#[test]
fn every_example_round_trips_to_identical_json() {
    support::assert_round_trips(&examples());
}

#[test]
fn every_example_is_valid_against_its_official_schema() {
    support::assert_schema_valid(&examples());
}

#[test]
fn unknown_top_level_fields_are_ignored_when_parsing() {
    support::assert_unknown_field_tolerated(&examples());
}

#[test]
fn no_example_serializes_a_null() {
    support::assert_no_nulls_serialized(&examples());
}

#[test]
fn trigger_enums_list_every_schema_value_in_order() {
    check_enum!(
        MessageTriggerEnumType,
        "v21/TriggerMessageRequest.json",
        "/definitions/MessageTriggerEnumType/enum"
    );
    assert_eq!(MessageTriggerEnumType::ALL.len(), 13);
    check_enum!(
        TriggerMessageStatusEnumType,
        "v21/TriggerMessageResponse.json",
        "/definitions/TriggerMessageStatusEnumType/enum"
    );
}

#[test]
fn every_201_trigger_value_is_a_21_value_too() {
    for m in ocpp_types::v201::MessageTriggerEnumType::ALL {
        assert!(
            MessageTriggerEnumType::ALL
                .iter()
                .any(|n| n.as_str() == m.as_str()),
            "{m}"
        );
    }
}

#[test]
fn station_actions_are_either_shared_with_201_or_new_in_21() {
    let exists = |dir: &str, file: String| {
        std::path::Path::new(&format!("{}{dir}/{file}", support::SCHEMA_ROOT)).is_file()
    };
    for action in ocpp_types::v201::ACTIONS_FROM_STATION {
        assert!(
            exists("v21", format!("{action}Request.json")),
            "2.1 still has {action}"
        );
    }
    for action in NEW_ACTIONS_FROM_STATION {
        let file = if *action == "NotifyPeriodicEventStream" {
            format!("{action}.json")
        } else {
            format!("{action}Request.json")
        };
        assert!(exists("v21", file.clone()), "{action} has a 2.1 schema");
        assert!(!exists("v201", file), "{action} is new in 2.1");
    }
    let mut sorted = NEW_ACTIONS_FROM_STATION.to_vec();
    sorted.sort_unstable();
    assert_eq!(sorted, NEW_ACTIONS_FROM_STATION, "alphabetical");
}
