//! OCPP 1.6J (+ security extension) payload types against the official schemas.

#[macro_use]
mod support;

use ocpp_types::v16::*;
use support::Example;

/// Core and security actions with request and response types in `ocpp_types::v16`.
const COVERED_ACTIONS: &[&str] = &[
    "Authorize",
    "BootNotification",
    "DataTransfer",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StartTransaction",
    "StatusNotification",
    "StopTransaction",
    "TriggerMessage",
    "ExtendedTriggerMessage",
    "LogStatusNotification",
    "SecurityEventNotification",
    "SignCertificate",
    "SignedFirmwareStatusNotification",
    "CertificateSigned",
];

fn examples() -> Vec<Example> {
    vec![
        // Authorize
        example!(
            AuthorizeRequest,
            "v16/Authorize.json",
            r#"{"idTag":"04A2B3C4D5E6F7"}"#
        ),
        example!(
            AuthorizeResponse,
            "v16/AuthorizeResponse.json",
            r#"{"idTagInfo":{"status":"Accepted","expiryDate":"2025-12-31T23:59:59Z","parentIdTag":"FLEET-0042"}}"#
        ),
        example!(
            AuthorizeResponse,
            "v16/AuthorizeResponse.json",
            r#"{"idTagInfo":{"status":"ConcurrentTx"}}"#
        ),
        // BootNotification
        example!(
            BootNotificationRequest,
            "v16/BootNotification.json",
            r#"{"chargePointVendor":"VendorX","chargePointModel":"ModelY-22",
                "chargePointSerialNumber":"CP-SN-000123","chargeBoxSerialNumber":"CB-SN-000123",
                "firmwareVersion":"1.4.2","iccid":"8931440400000000001","imsi":"262011234567890",
                "meterType":"EEM-350-D","meterSerialNumber":"MTR-778899"}"#
        ),
        example!(
            BootNotificationRequest,
            "v16/BootNotification.json",
            r#"{"chargePointVendor":"VendorX","chargePointModel":"ModelY-22"}"#
        ),
        example!(
            BootNotificationResponse,
            "v16/BootNotificationResponse.json",
            r#"{"status":"Accepted","currentTime":"2025-01-01T12:00:00Z","interval":300}"#
        ),
        example!(
            BootNotificationResponse,
            "v16/BootNotificationResponse.json",
            r#"{"status":"Pending","currentTime":"2025-01-01T12:00:00.123+01:00","interval":0}"#
        ),
        // DataTransfer
        example!(
            DataTransferRequest,
            "v16/DataTransfer.json",
            r#"{"vendorId":"com.example.vendor","messageId":"GetPrice","data":"{\"connectorId\":1}"}"#
        ),
        example!(
            DataTransferRequest,
            "v16/DataTransfer.json",
            r#"{"vendorId":"com.example.vendor"}"#
        ),
        example!(
            DataTransferResponse,
            "v16/DataTransferResponse.json",
            r#"{"status":"Accepted","data":"0.35 EUR/kWh"}"#
        ),
        example!(
            DataTransferResponse,
            "v16/DataTransferResponse.json",
            r#"{"status":"UnknownVendorId"}"#
        ),
        // DiagnosticsStatusNotification
        example!(
            DiagnosticsStatusNotificationRequest,
            "v16/DiagnosticsStatusNotification.json",
            r#"{"status":"Idle"}"#
        ),
        example!(
            DiagnosticsStatusNotificationResponse,
            "v16/DiagnosticsStatusNotificationResponse.json",
            r#"{}"#
        ),
        // FirmwareStatusNotification
        example!(
            FirmwareStatusNotificationRequest,
            "v16/FirmwareStatusNotification.json",
            r#"{"status":"Installed"}"#
        ),
        example!(
            FirmwareStatusNotificationResponse,
            "v16/FirmwareStatusNotificationResponse.json",
            r#"{}"#
        ),
        // Heartbeat
        example!(HeartbeatRequest, "v16/Heartbeat.json", r#"{}"#),
        example!(
            HeartbeatResponse,
            "v16/HeartbeatResponse.json",
            r#"{"currentTime":"2025-01-01T12:00:00Z"}"#
        ),
        // MeterValues
        example!(
            MeterValuesRequest,
            "v16/MeterValues.json",
            r#"{"connectorId":1,"transactionId":42,"meterValue":[
                {"timestamp":"2025-01-01T12:15:00Z","sampledValue":[
                    {"value":"15234","context":"Sample.Periodic","format":"Raw",
                     "measurand":"Energy.Active.Import.Register","location":"Outlet","unit":"Wh"},
                    {"value":"7.4","measurand":"Power.Active.Import","unit":"kW"},
                    {"value":"16.1","measurand":"Current.Import","phase":"L1","unit":"A"},
                    {"value":"229.8","measurand":"Voltage","phase":"L1-N","unit":"V"},
                    {"value":"31.5","measurand":"Temperature","location":"Body","unit":"Celcius"},
                    {"value":"31.5","measurand":"Temperature","location":"Body","unit":"Celsius"},
                    {"value":"50.01","measurand":"Frequency","unit":"Hertz"},
                    {"value":"64","measurand":"SoC","location":"EV","unit":"Percent"},
                    {"value":"A1B2C3D4","context":"Trigger","format":"SignedData",
                     "measurand":"Energy.Active.Import.Register","unit":"kWh"}]}]}"#
        ),
        example!(
            MeterValuesRequest,
            "v16/MeterValues.json",
            r#"{"connectorId":0,"meterValue":[{"timestamp":"2025-01-01T12:15:00Z","sampledValue":[{"value":"100200"}]}]}"#
        ),
        example!(MeterValuesResponse, "v16/MeterValuesResponse.json", r#"{}"#),
        // StartTransaction
        example!(
            StartTransactionRequest,
            "v16/StartTransaction.json",
            r#"{"connectorId":1,"idTag":"04A2B3C4D5E6F7","meterStart":12345,"reservationId":7,
                "timestamp":"2025-01-01T12:00:00Z"}"#
        ),
        example!(
            StartTransactionRequest,
            "v16/StartTransaction.json",
            r#"{"connectorId":2,"idTag":"04A2B3C4D5E6F7","meterStart":0,"timestamp":"2025-01-01T12:00:00Z"}"#
        ),
        example!(
            StartTransactionResponse,
            "v16/StartTransactionResponse.json",
            r#"{"idTagInfo":{"status":"Accepted","expiryDate":"2025-01-02T00:00:00Z"},"transactionId":42}"#
        ),
        // StatusNotification (first example from the spec brief §2g)
        example!(
            StatusNotificationRequest,
            "v16/StatusNotification.json",
            r#"{"connectorId":1,"errorCode":"NoError","status":"Charging","timestamp":"2025-01-01T12:00:00Z"}"#
        ),
        example!(
            StatusNotificationRequest,
            "v16/StatusNotification.json",
            r#"{"connectorId":0,"errorCode":"OtherError","info":"Door open","status":"Faulted",
                "timestamp":"2025-01-01T12:00:00Z","vendorId":"com.example.vendor","vendorErrorCode":"E-102"}"#
        ),
        example!(
            StatusNotificationRequest,
            "v16/StatusNotification.json",
            r#"{"connectorId":2,"errorCode":"EVCommunicationError","status":"SuspendedEVSE"}"#
        ),
        example!(
            StatusNotificationResponse,
            "v16/StatusNotificationResponse.json",
            r#"{}"#
        ),
        // StopTransaction
        example!(
            StopTransactionRequest,
            "v16/StopTransaction.json",
            r#"{"idTag":"04A2B3C4D5E6F7","meterStop":19876,"timestamp":"2025-01-01T13:30:00Z",
                "transactionId":42,"reason":"EVDisconnected","transactionData":[
                {"timestamp":"2025-01-01T12:00:00Z","sampledValue":[{"value":"12345",
                 "context":"Transaction.Begin","measurand":"Energy.Active.Import.Register","unit":"Wh"}]},
                {"timestamp":"2025-01-01T13:30:00Z","sampledValue":[{"value":"19876",
                 "context":"Transaction.End","measurand":"Energy.Active.Import.Register","unit":"Wh"}]}]}"#
        ),
        example!(
            StopTransactionRequest,
            "v16/StopTransaction.json",
            r#"{"meterStop":19876,"timestamp":"2025-01-01T13:30:00Z","transactionId":42}"#
        ),
        example!(
            StopTransactionResponse,
            "v16/StopTransactionResponse.json",
            r#"{"idTagInfo":{"status":"Accepted"}}"#
        ),
        example!(
            StopTransactionResponse,
            "v16/StopTransactionResponse.json",
            r#"{}"#
        ),
        // TriggerMessage (spec brief §2g)
        example!(
            TriggerMessageRequest,
            "v16/TriggerMessage.json",
            r#"{"requestedMessage":"StatusNotification","connectorId":1}"#
        ),
        example!(
            TriggerMessageRequest,
            "v16/TriggerMessage.json",
            r#"{"requestedMessage":"DiagnosticsStatusNotification"}"#
        ),
        example!(
            TriggerMessageResponse,
            "v16/TriggerMessageResponse.json",
            r#"{"status":"Accepted"}"#
        ),
        // Security extension
        example!(
            ExtendedTriggerMessageRequest,
            "v16/ExtendedTriggerMessage.json",
            r#"{"requestedMessage":"SignChargePointCertificate"}"#
        ),
        example!(
            ExtendedTriggerMessageRequest,
            "v16/ExtendedTriggerMessage.json",
            r#"{"requestedMessage":"StatusNotification","connectorId":2}"#
        ),
        example!(
            ExtendedTriggerMessageResponse,
            "v16/ExtendedTriggerMessageResponse.json",
            r#"{"status":"NotImplemented"}"#
        ),
        example!(
            LogStatusNotificationRequest,
            "v16/LogStatusNotification.json",
            r#"{"status":"Uploading","requestId":17}"#
        ),
        example!(
            LogStatusNotificationRequest,
            "v16/LogStatusNotification.json",
            r#"{"status":"Idle"}"#
        ),
        example!(
            LogStatusNotificationResponse,
            "v16/LogStatusNotificationResponse.json",
            r#"{}"#
        ),
        example!(
            SecurityEventNotificationRequest,
            "v16/SecurityEventNotification.json",
            r#"{"type":"InvalidCentralSystemCertificate","timestamp":"2025-01-01T12:00:00Z",
                "techInfo":"certificate expired 2024-12-31"}"#
        ),
        example!(
            SecurityEventNotificationRequest,
            "v16/SecurityEventNotification.json",
            r#"{"type":"StartupOfTheDevice","timestamp":"2025-01-01T12:00:00Z"}"#
        ),
        example!(
            SecurityEventNotificationResponse,
            "v16/SecurityEventNotificationResponse.json",
            r#"{}"#
        ),
        example!(
            SignCertificateRequest,
            "v16/SignCertificate.json",
            r#"{"csr":"-----BEGIN CERTIFICATE REQUEST-----\nMIIBWzCCAQECAQAwHzEdMBsGA1UEAwwUQ1AtU04tMDAwMTIz\n-----END CERTIFICATE REQUEST-----\n"}"#
        ),
        example!(
            SignCertificateResponse,
            "v16/SignCertificateResponse.json",
            r#"{"status":"Accepted"}"#
        ),
        example!(
            SignedFirmwareStatusNotificationRequest,
            "v16/SignedFirmwareStatusNotification.json",
            r#"{"status":"SignatureVerified","requestId":3}"#
        ),
        example!(
            SignedFirmwareStatusNotificationRequest,
            "v16/SignedFirmwareStatusNotification.json",
            r#"{"status":"Idle"}"#
        ),
        example!(
            SignedFirmwareStatusNotificationResponse,
            "v16/SignedFirmwareStatusNotificationResponse.json",
            r#"{}"#
        ),
        example!(
            CertificateSignedRequest,
            "v16/CertificateSigned.json",
            r#"{"certificateChain":"-----BEGIN CERTIFICATE-----\nMIIBxTCCAWugAwIBAgIUQ1AtU04tMDAwMTIz\n-----END CERTIFICATE-----\n"}"#
        ),
        example!(
            CertificateSignedResponse,
            "v16/CertificateSignedResponse.json",
            r#"{"status":"Rejected"}"#
        ),
    ]
}

#[test]
fn every_request_and_response_type_has_an_example() {
    let expected: Vec<String> = COVERED_ACTIONS
        .iter()
        .flat_map(|a| [format!("v16/{a}.json"), format!("v16/{a}Response.json")])
        .collect();
    support::assert_covers_exactly(&examples(), &expected);
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
fn absent_optional_fields_are_omitted_from_output() {
    let req = StatusNotificationRequest {
        connector_id: 1,
        error_code: ChargePointErrorCode::NoError,
        info: None,
        status: ChargePointStatus::Available,
        timestamp: None,
        vendor_id: None,
        vendor_error_code: None,
    };
    assert_eq!(
        serde_json::to_value(&req).expect("serialize"),
        serde_json::json!({"connectorId": 1, "errorCode": "NoError", "status": "Available"})
    );
    let resp = StopTransactionResponse::default();
    assert_eq!(serde_json::to_string(&resp).expect("serialize"), "{}");
}

#[test]
fn empty_payload_types_serialize_as_empty_object() {
    for json in [
        serde_json::to_string(&HeartbeatRequest::default()),
        serde_json::to_string(&MeterValuesResponse::default()),
        serde_json::to_string(&StatusNotificationResponse::default()),
        serde_json::to_string(&DiagnosticsStatusNotificationResponse::default()),
        serde_json::to_string(&FirmwareStatusNotificationResponse::default()),
        serde_json::to_string(&LogStatusNotificationResponse::default()),
        serde_json::to_string(&SecurityEventNotificationResponse::default()),
        serde_json::to_string(&SignedFirmwareStatusNotificationResponse::default()),
    ] {
        assert_eq!(json.expect("serialize"), "{}");
    }
}

#[test]
fn typed_fields_carry_the_parsed_values() {
    let req: MeterValuesRequest = serde_json::from_str(
        r#"{"connectorId":1,"meterValue":[{"timestamp":"2025-01-01T12:15:00Z",
            "sampledValue":[{"value":"31.5","measurand":"Temperature","phase":"L3-L1","unit":"Celcius"}]}]}"#,
    )
    .expect("parse");
    let sample = &req.meter_value[0].sampled_value[0];
    assert_eq!(sample.value, "31.5");
    assert_eq!(sample.measurand, Some(Measurand::Temperature));
    assert_eq!(sample.phase, Some(Phase::L3L1));
    assert_eq!(sample.unit, Some(UnitOfMeasure::Celcius));
    assert_eq!(sample.context, None);

    let ev: SecurityEventNotificationRequest =
        serde_json::from_str(r#"{"type":"FirmwareUpdated","timestamp":"2025-01-01T12:00:00Z"}"#)
            .expect("parse");
    assert_eq!(ev.kind, "FirmwareUpdated");
}

#[test]
fn unknown_enum_value_is_a_parse_error() {
    let result =
        serde_json::from_str::<TriggerMessageRequest>(r#"{"requestedMessage":"TransactionEvent"}"#);
    assert!(result.is_err());
}

#[test]
fn actions_from_station_are_request_schemas_and_include_no_csms_calls() {
    for action in ACTIONS_FROM_STATION {
        let path = format!("{}v16/{action}.json", support::SCHEMA_ROOT);
        assert!(
            std::path::Path::new(&path).is_file(),
            "{action} has no schema"
        );
    }
    for csms_call in [
        "TriggerMessage",
        "ExtendedTriggerMessage",
        "CertificateSigned",
    ] {
        assert!(!ACTIONS_FROM_STATION.contains(&csms_call));
    }
    let mut sorted = ACTIONS_FROM_STATION.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 14);
}

#[test]
fn every_station_action_has_typed_request_examples() {
    let covered: Vec<String> = examples().iter().map(|e| e.schema.to_owned()).collect();
    for action in ACTIONS_FROM_STATION {
        assert!(covered.contains(&format!("v16/{action}.json")), "{action}");
    }
}

#[test]
fn trigger_enums_list_every_schema_value_in_order() {
    check_enum!(
        MessageTrigger,
        "v16/TriggerMessage.json",
        "/properties/requestedMessage/enum"
    );
    assert_eq!(MessageTrigger::ALL.len(), 6);
    check_enum!(
        TriggerMessageStatus,
        "v16/TriggerMessageResponse.json",
        "/properties/status/enum"
    );
    check_enum!(
        MessageTriggerEnumType,
        "v16/ExtendedTriggerMessage.json",
        "/definitions/MessageTriggerEnumType/enum"
    );
    assert_eq!(MessageTriggerEnumType::ALL.len(), 7);
    assert_eq!(
        MessageTriggerEnumType::SignChargePointCertificate.as_str(),
        "SignChargePointCertificate"
    );
    check_enum!(
        TriggerMessageStatusEnumType,
        "v16/ExtendedTriggerMessageResponse.json",
        "/definitions/TriggerMessageStatusEnumType/enum"
    );
}

#[test]
fn core_enums_match_schema_spellings_and_order() {
    check_enum!(
        AuthorizationStatus,
        "v16/AuthorizeResponse.json",
        "/properties/idTagInfo/properties/status/enum"
    );
    check_enum!(
        RegistrationStatus,
        "v16/BootNotificationResponse.json",
        "/properties/status/enum"
    );
    check_enum!(
        DataTransferStatus,
        "v16/DataTransferResponse.json",
        "/properties/status/enum"
    );
    check_enum!(
        DiagnosticsStatus,
        "v16/DiagnosticsStatusNotification.json",
        "/properties/status/enum"
    );
    check_enum!(
        FirmwareStatus,
        "v16/FirmwareStatusNotification.json",
        "/properties/status/enum"
    );
    check_enum!(
        ChargePointErrorCode,
        "v16/StatusNotification.json",
        "/properties/errorCode/enum"
    );
    check_enum!(
        ChargePointStatus,
        "v16/StatusNotification.json",
        "/properties/status/enum"
    );
    check_enum!(
        Reason,
        "v16/StopTransaction.json",
        "/properties/reason/enum"
    );
}

#[test]
fn sampled_value_enums_match_both_meter_values_and_stop_transaction() {
    const MV: &str = "/properties/meterValue/items/properties/sampledValue/items/properties";
    const TD: &str = "/properties/transactionData/items/properties/sampledValue/items/properties";
    for (file, base) in [
        ("v16/MeterValues.json", MV),
        ("v16/StopTransaction.json", TD),
    ] {
        check_enum!(ReadingContext, file, format!("{base}/context/enum"));
        check_enum!(ValueFormat, file, format!("{base}/format/enum"));
        check_enum!(Measurand, file, format!("{base}/measurand/enum"));
        check_enum!(Phase, file, format!("{base}/phase/enum"));
        check_enum!(Location, file, format!("{base}/location/enum"));
    }
    check_enum!(
        UnitOfMeasure,
        "v16/MeterValues.json",
        format!("{MV}/unit/enum")
    );
}

#[test]
fn stop_transaction_schema_lacks_hertz_so_the_validator_rejects_it_there() {
    // This schema copy adds "Hertz" only to MeterValues.json, not StopTransaction.json.
    let stop_units = support::schema_enum(
        "v16/StopTransaction.json",
        "/properties/transactionData/items/properties/sampledValue/items/properties/unit/enum",
    );
    let ours: Vec<&str> = UnitOfMeasure::ALL
        .iter()
        .map(|u| u.as_str())
        .filter(|u| *u != "Hertz")
        .collect();
    assert_eq!(stop_units, ours);
    assert!(stop_units.iter().any(|u| u == "Celcius"));
    assert!(stop_units.iter().any(|u| u == "Celsius"));

    let with_hertz = serde_json::json!({
        "meterStop": 10, "timestamp": "2025-01-01T13:30:00Z", "transactionId": 42,
        "transactionData": [{"timestamp": "2025-01-01T13:30:00Z",
            "sampledValue": [{"value": "50.0", "measurand": "Frequency", "unit": "Hertz"}]}]
    });
    assert!(!support::schema_errors("v16/StopTransaction.json", &with_hertz).is_empty());
    // The type itself accepts it (one shared UnitOfMeasure enum).
    assert!(serde_json::from_value::<StopTransactionRequest>(with_hertz).is_ok());
}

#[test]
fn schema_check_rejects_bad_formats_unknown_fields_and_missing_required() {
    let bad_time = serde_json::json!({"currentTime": "yesterday"});
    assert!(!support::schema_errors("v16/HeartbeatResponse.json", &bad_time).is_empty());
    let extra = serde_json::json!({"idTag": "ABC", "unexpected": 1});
    assert!(!support::schema_errors("v16/Authorize.json", &extra).is_empty());
    let missing = serde_json::json!({"chargePointVendor": "VendorX"});
    assert!(!support::schema_errors("v16/BootNotification.json", &missing).is_empty());
}

#[test]
fn security_enums_match_schema_spellings_and_order() {
    check_enum!(
        UploadLogStatusEnumType,
        "v16/LogStatusNotification.json",
        "/definitions/UploadLogStatusEnumType/enum"
    );
    check_enum!(
        FirmwareStatusEnumType,
        "v16/SignedFirmwareStatusNotification.json",
        "/definitions/FirmwareStatusEnumType/enum"
    );
    check_enum!(
        GenericStatusEnumType,
        "v16/SignCertificateResponse.json",
        "/definitions/GenericStatusEnumType/enum"
    );
    check_enum!(
        CertificateSignedStatusEnumType,
        "v16/CertificateSignedResponse.json",
        "/definitions/CertificateSignedStatusEnumType/enum"
    );
}
