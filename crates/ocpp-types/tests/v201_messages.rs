//! OCPP 2.0.1 payload types against the official schemas.

#[macro_use]
mod support;

use ocpp_types::v201::*;
use serde_json::{Value, json};
use support::Example;

/// Actions with request and response types in `ocpp_types::v201`.
const COVERED_ACTIONS: &[&str] = &[
    "Authorize",
    "BootNotification",
    "DataTransfer",
    "FirmwareStatusNotification",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "NotifyEvent",
    "SecurityEventNotification",
    "SignCertificate",
    "CertificateSigned",
    "StatusNotification",
    "TransactionEvent",
    "TriggerMessage",
    "PublishFirmwareStatusNotification",
];

fn examples() -> Vec<Example> {
    vec![
        // Authorize
        example!(
            AuthorizeRequest,
            "v201/AuthorizeRequest.json",
            r#"{"customData":{"vendorId":"com.example.vendor","tariffHint":"night"},
                "idToken":{"idToken":"04A2B3C4D5E6F7","type":"ISO14443",
                  "customData":{"vendorId":"com.example.vendor","readerSlot":2},
                  "additionalInfo":[{"additionalIdToken":"FLEET-0042","type":"FleetCard"}]},
                "certificate":"-----BEGIN CERTIFICATE-----\nMIIBxTCCAWugAwIBAgIU\n-----END CERTIFICATE-----\n",
                "iso15118CertificateHashData":[{"hashAlgorithm":"SHA256",
                  "issuerNameHash":"7d9f2c0a1b3e","issuerKeyHash":"4c8e1f2a9b0d",
                  "serialNumber":"1A2B3C4D","responderURL":"http://ocsp.example.com"}]}"#
        ),
        example!(
            AuthorizeRequest,
            "v201/AuthorizeRequest.json",
            r#"{"idToken":{"idToken":"04A2B3C4D5E6F7","type":"ISO14443"}}"#
        ),
        example!(
            AuthorizeResponse,
            "v201/AuthorizeResponse.json",
            r#"{"idTokenInfo":{"status":"Accepted","cacheExpiryDateTime":"2025-01-02T00:00:00Z",
                  "chargingPriority":2,"language1":"en","evseId":[1,2],
                  "groupIdToken":{"idToken":"GROUP-7","type":"Central"},"language2":"de",
                  "personalMessage":{"format":"UTF8","language":"en","content":"Welcome back!"}},
                "certificateStatus":"Accepted"}"#
        ),
        example!(
            AuthorizeResponse,
            "v201/AuthorizeResponse.json",
            r#"{"idTokenInfo":{"status":"Unknown"}}"#
        ),
        // BootNotification
        example!(
            BootNotificationRequest,
            "v201/BootNotificationRequest.json",
            r#"{"chargingStation":{"serialNumber":"CS-SN-000123","model":"ModelY-22",
                  "modem":{"iccid":"8931440400000000001","imsi":"262011234567890"},
                  "vendorName":"VendorX","firmwareVersion":"2.1.0"},
                "reason":"PowerUp"}"#
        ),
        example!(
            BootNotificationRequest,
            "v201/BootNotificationRequest.json",
            r#"{"chargingStation":{"model":"ModelY-22","vendorName":"VendorX"},"reason":"Triggered"}"#
        ),
        example!(
            BootNotificationResponse,
            "v201/BootNotificationResponse.json",
            r#"{"currentTime":"2025-01-01T12:00:00Z","interval":300,"status":"Accepted"}"#
        ),
        example!(
            BootNotificationResponse,
            "v201/BootNotificationResponse.json",
            r#"{"currentTime":"2025-01-01T12:00:00.5Z","interval":60,"status":"Pending",
                "statusInfo":{"reasonCode":"Provisioning","additionalInfo":"Awaiting operator approval"}}"#
        ),
        // DataTransfer
        example!(
            DataTransferRequest,
            "v201/DataTransferRequest.json",
            r#"{"vendorId":"com.example.vendor","messageId":"SetPrice","data":{"connectorId":1,"price":0.35}}"#
        ),
        example!(
            DataTransferRequest,
            "v201/DataTransferRequest.json",
            r#"{"vendorId":"com.example.vendor","data":"plain text"}"#
        ),
        example!(
            DataTransferResponse,
            "v201/DataTransferResponse.json",
            r#"{"status":"Accepted","data":[1,2,3]}"#
        ),
        example!(
            DataTransferResponse,
            "v201/DataTransferResponse.json",
            r#"{"status":"UnknownMessageId","statusInfo":{"reasonCode":"UnknownMessage"}}"#
        ),
        // FirmwareStatusNotification
        example!(
            FirmwareStatusNotificationRequest,
            "v201/FirmwareStatusNotificationRequest.json",
            r#"{"status":"Downloading","requestId":12}"#
        ),
        example!(
            FirmwareStatusNotificationRequest,
            "v201/FirmwareStatusNotificationRequest.json",
            r#"{"status":"Idle"}"#
        ),
        example!(
            FirmwareStatusNotificationResponse,
            "v201/FirmwareStatusNotificationResponse.json",
            r#"{}"#
        ),
        // Heartbeat
        example!(HeartbeatRequest, "v201/HeartbeatRequest.json", r#"{}"#),
        example!(
            HeartbeatRequest,
            "v201/HeartbeatRequest.json",
            r#"{"customData":{"vendorId":"com.example.vendor","uptimeSeconds":86400,"tags":["a","b"]}}"#
        ),
        example!(
            HeartbeatResponse,
            "v201/HeartbeatResponse.json",
            r#"{"currentTime":"2025-01-01T12:00:00Z"}"#
        ),
        // LogStatusNotification
        example!(
            LogStatusNotificationRequest,
            "v201/LogStatusNotificationRequest.json",
            r#"{"status":"AcceptedCanceled","requestId":5}"#
        ),
        example!(
            LogStatusNotificationRequest,
            "v201/LogStatusNotificationRequest.json",
            r#"{"status":"Idle"}"#
        ),
        example!(
            LogStatusNotificationResponse,
            "v201/LogStatusNotificationResponse.json",
            r#"{}"#
        ),
        // MeterValues
        example!(
            MeterValuesRequest,
            "v201/MeterValuesRequest.json",
            r#"{"evseId":1,"meterValue":[{"timestamp":"2025-01-01T12:15:00Z","sampledValue":[
                {"value":15234.5,"context":"Sample.Periodic","measurand":"Energy.Active.Import.Register",
                 "location":"Outlet","unitOfMeasure":{"unit":"kWh","multiplier":3}},
                {"value":229.8,"measurand":"Voltage","phase":"L1-N","unitOfMeasure":{"unit":"V"}},
                {"value":-1.5,"measurand":"Current.Export","phase":"L2","location":"EV"},
                {"value":0.25,"context":"Trigger","measurand":"Energy.Active.Net",
                 "signedMeterValue":{"signedMeterData":"AQIDBA==","signingMethod":"ECDSA-secp256r1-SHA256",
                   "encodingMethod":"OCMF","publicKey":"BAUGBw=="},
                 "customData":{"vendorId":"com.example.meter","register":"1.8.0"}}]}]}"#
        ),
        example!(
            MeterValuesRequest,
            "v201/MeterValuesRequest.json",
            r#"{"evseId":0,"meterValue":[{"timestamp":"2025-01-01T12:15:00Z","sampledValue":[{"value":1.5}]}]}"#
        ),
        example!(
            MeterValuesResponse,
            "v201/MeterValuesResponse.json",
            r#"{}"#
        ),
        // NotifyEvent
        example!(
            NotifyEventRequest,
            "v201/NotifyEventRequest.json",
            r#"{"generatedAt":"2025-01-01T12:00:00Z","tbc":false,"seqNo":0,"eventData":[
                {"eventId":1001,"timestamp":"2025-01-01T12:00:00Z","trigger":"Delta",
                 "actualValue":"Occupied","eventNotificationType":"HardWiredNotification",
                 "component":{"name":"Connector","evse":{"id":1,"connectorId":1}},
                 "variable":{"name":"AvailabilityState"}},
                {"eventId":1002,"timestamp":"2025-01-01T12:00:01Z","trigger":"Alerting","cause":1001,
                 "actualValue":"85","techCode":"OVERTEMP","techInfo":"Sensor 3 above threshold",
                 "cleared":false,"transactionId":"a3f1c0de-7b9e-4c1a-9d2f-0e1b2c3d4e5f",
                 "component":{"name":"EVSE","instance":"1","evse":{"id":1}},
                 "variableMonitoringId":7,"eventNotificationType":"CustomMonitor",
                 "variable":{"name":"Temperature","instance":"Internal"}}]}"#
        ),
        example!(
            NotifyEventResponse,
            "v201/NotifyEventResponse.json",
            r#"{}"#
        ),
        // SecurityEventNotification
        example!(
            SecurityEventNotificationRequest,
            "v201/SecurityEventNotificationRequest.json",
            r#"{"type":"StartupOfTheDevice","timestamp":"2025-01-01T12:00:00Z","techInfo":"cold boot"}"#
        ),
        example!(
            SecurityEventNotificationResponse,
            "v201/SecurityEventNotificationResponse.json",
            r#"{}"#
        ),
        // SignCertificate
        example!(
            SignCertificateRequest,
            "v201/SignCertificateRequest.json",
            r#"{"csr":"-----BEGIN CERTIFICATE REQUEST-----\nMIIBWzCCAQECAQAw\n-----END CERTIFICATE REQUEST-----\n",
                "certificateType":"ChargingStationCertificate"}"#
        ),
        example!(
            SignCertificateRequest,
            "v201/SignCertificateRequest.json",
            r#"{"csr":"-----BEGIN CERTIFICATE REQUEST-----\nMIIBWzCCAQECAQAw\n-----END CERTIFICATE REQUEST-----\n"}"#
        ),
        example!(
            SignCertificateResponse,
            "v201/SignCertificateResponse.json",
            r#"{"status":"Accepted"}"#
        ),
        example!(
            SignCertificateResponse,
            "v201/SignCertificateResponse.json",
            r#"{"status":"Rejected","statusInfo":{"reasonCode":"InvalidCSR"}}"#
        ),
        // CertificateSigned
        example!(
            CertificateSignedRequest,
            "v201/CertificateSignedRequest.json",
            r#"{"certificateChain":"-----BEGIN CERTIFICATE-----\nMIIBxTCCAWugAwIBAgIU\n-----END CERTIFICATE-----\n",
                "certificateType":"V2GCertificate"}"#
        ),
        example!(
            CertificateSignedResponse,
            "v201/CertificateSignedResponse.json",
            r#"{"status":"Accepted"}"#
        ),
        // StatusNotification (spec brief §2g)
        example!(
            StatusNotificationRequest,
            "v201/StatusNotificationRequest.json",
            r#"{"timestamp":"2025-01-01T12:00:00Z","connectorStatus":"Occupied","evseId":1,"connectorId":1}"#
        ),
        example!(
            StatusNotificationResponse,
            "v201/StatusNotificationResponse.json",
            r#"{}"#
        ),
        // TransactionEvent
        example!(
            TransactionEventRequest,
            "v201/TransactionEventRequest.json",
            r#"{"eventType":"Started","timestamp":"2025-01-01T12:00:00Z","triggerReason":"CablePluggedIn",
                "seqNo":0,"offline":false,"numberOfPhasesUsed":3,"cableMaxCurrent":32,"reservationId":7,
                "transactionInfo":{"transactionId":"a3f1c0de-7b9e-4c1a-9d2f-0e1b2c3d4e5f",
                  "chargingState":"EVConnected","remoteStartId":15},
                "evse":{"id":1,"connectorId":1},
                "idToken":{"idToken":"04A2B3C4D5E6F7","type":"ISO14443"},
                "meterValue":[{"timestamp":"2025-01-01T12:00:00Z","sampledValue":[
                  {"value":12345.5,"context":"Transaction.Begin","measurand":"Energy.Active.Import.Register",
                   "unitOfMeasure":{"unit":"Wh"}}]}]}"#
        ),
        example!(
            TransactionEventRequest,
            "v201/TransactionEventRequest.json",
            r#"{"eventType":"Updated","timestamp":"2025-01-01T12:30:00Z","triggerReason":"Trigger","seqNo":3,
                "transactionInfo":{"transactionId":"a3f1c0de-7b9e-4c1a-9d2f-0e1b2c3d4e5f",
                  "chargingState":"Charging","timeSpentCharging":1800},
                "meterValue":[{"timestamp":"2025-01-01T12:30:00Z","sampledValue":[
                  {"value":16.25,"context":"Trigger","measurand":"Energy.Active.Import.Register",
                   "unitOfMeasure":{"unit":"kWh"}}]}]}"#
        ),
        example!(
            TransactionEventRequest,
            "v201/TransactionEventRequest.json",
            r#"{"eventType":"Ended","timestamp":"2025-01-01T13:30:00Z","triggerReason":"StopAuthorized","seqNo":7,
                "transactionInfo":{"transactionId":"a3f1c0de-7b9e-4c1a-9d2f-0e1b2c3d4e5f",
                  "chargingState":"Idle","stoppedReason":"Local"},
                "idToken":{"idToken":"04A2B3C4D5E6F7","type":"ISO14443"}}"#
        ),
        example!(
            TransactionEventResponse,
            "v201/TransactionEventResponse.json",
            r#"{"totalCost":12.34,"chargingPriority":0,"idTokenInfo":{"status":"Accepted"},
                "updatedPersonalMessage":{"format":"ASCII","content":"Cost so far: 12.34 EUR"}}"#
        ),
        example!(
            TransactionEventResponse,
            "v201/TransactionEventResponse.json",
            r#"{}"#
        ),
        // TriggerMessage (spec brief §2g)
        example!(
            TriggerMessageRequest,
            "v201/TriggerMessageRequest.json",
            r#"{"requestedMessage":"StatusNotification","evse":{"id":1,"connectorId":1}}"#
        ),
        example!(
            TriggerMessageRequest,
            "v201/TriggerMessageRequest.json",
            r#"{"requestedMessage":"SignCombinedCertificate"}"#
        ),
        example!(
            TriggerMessageResponse,
            "v201/TriggerMessageResponse.json",
            r#"{"status":"Accepted"}"#
        ),
        example!(
            TriggerMessageResponse,
            "v201/TriggerMessageResponse.json",
            r#"{"status":"Rejected","statusInfo":{"reasonCode":"UnknownEvse","additionalInfo":"EVSE 9 does not exist"}}"#
        ),
        // PublishFirmwareStatusNotification
        example!(
            PublishFirmwareStatusNotificationRequest,
            "v201/PublishFirmwareStatusNotificationRequest.json",
            r#"{"status":"Published","location":["https://lc.example.local/fw/2.1.0.bin",
                "ftp://lc.example.local/fw/2.1.0.bin"],"requestId":4}"#
        ),
        example!(
            PublishFirmwareStatusNotificationRequest,
            "v201/PublishFirmwareStatusNotificationRequest.json",
            r#"{"status":"Idle"}"#
        ),
        example!(
            PublishFirmwareStatusNotificationResponse,
            "v201/PublishFirmwareStatusNotificationResponse.json",
            r#"{}"#
        ),
    ]
}

#[test]
fn every_request_and_response_type_has_an_example() {
    let expected: Vec<String> = COVERED_ACTIONS
        .iter()
        .flat_map(|a| {
            [
                format!("v201/{a}Request.json"),
                format!("v201/{a}Response.json"),
            ]
        })
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
    let req = TriggerMessageRequest {
        custom_data: None,
        evse: Some(EVSEType {
            custom_data: None,
            id: 1,
            connector_id: None,
        }),
        requested_message: MessageTriggerEnumType::MeterValues,
    };
    assert_eq!(
        serde_json::to_value(&req).expect("serialize"),
        json!({"requestedMessage": "MeterValues", "evse": {"id": 1}})
    );
    for empty in [
        serde_json::to_string(&HeartbeatRequest::default()),
        serde_json::to_string(&TransactionEventResponse::default()),
        serde_json::to_string(&StatusNotificationResponse::default()),
        serde_json::to_string(&NotifyEventResponse::default()),
    ] {
        assert_eq!(empty.expect("serialize"), "{}");
    }
}

#[test]
fn custom_data_keeps_vendor_specific_properties() {
    let req: HeartbeatRequest = serde_json::from_str(
        r#"{"customData":{"vendorId":"com.example.vendor","uptimeSeconds":86400,"nested":{"a":[1]}}}"#,
    )
    .expect("parse");
    let custom = req.custom_data.as_ref().expect("customData present");
    assert_eq!(custom.vendor_id, "com.example.vendor");
    assert_eq!(custom.extra.get("uptimeSeconds"), Some(&json!(86400)));
    assert_eq!(custom.extra.get("nested"), Some(&json!({"a": [1]})));
    assert!(!custom.extra.contains_key("vendorId"));
    assert_eq!(
        serde_json::to_value(&req).expect("serialize"),
        json!({"customData": {"vendorId": "com.example.vendor", "uptimeSeconds": 86400, "nested": {"a": [1]}}})
    );
}

#[test]
fn custom_data_without_vendor_id_is_a_parse_error() {
    let result = serde_json::from_str::<HeartbeatRequest>(r#"{"customData":{"foo":1}}"#);
    assert!(result.is_err());
}

#[test]
fn data_transfer_distinguishes_explicit_null_from_absent_data() {
    let with_null: DataTransferRequest =
        serde_json::from_str(r#"{"vendorId":"com.example.vendor","data":null}"#).expect("parse");
    assert_eq!(with_null.data, Some(Value::Null));
    assert_eq!(
        serde_json::to_value(&with_null).expect("serialize"),
        json!({"vendorId": "com.example.vendor", "data": null})
    );
    let absent: DataTransferRequest =
        serde_json::from_str(r#"{"vendorId":"com.example.vendor"}"#).expect("parse");
    assert_eq!(absent.data, None);
    assert_eq!(
        serde_json::to_value(&absent).expect("serialize"),
        json!({"vendorId": "com.example.vendor"})
    );
}

#[test]
fn integer_sampled_value_reserializes_as_an_equal_number() {
    let req: MeterValuesRequest = serde_json::from_str(
        r#"{"evseId":1,"meterValue":[{"timestamp":"2025-01-01T12:15:00Z","sampledValue":[{"value":230}]}]}"#,
    )
    .expect("parse");
    assert_eq!(req.meter_value[0].sampled_value[0].value, 230.0);
    let out = serde_json::to_value(&req).expect("serialize");
    let value = &out["meterValue"][0]["sampledValue"][0]["value"];
    assert_eq!(value.as_f64(), Some(230.0));
    assert!(support::schema_errors("v201/MeterValuesRequest.json", &out).is_empty());
}

#[test]
fn typed_fields_carry_the_parsed_values() {
    let ev: TransactionEventRequest = serde_json::from_str(
        r#"{"eventType":"Updated","timestamp":"2025-01-01T12:30:00Z","triggerReason":"Trigger","seqNo":3,
            "transactionInfo":{"transactionId":"tx-1","chargingState":"SuspendedEVSE"},
            "evse":{"id":2,"connectorId":1},"idToken":{"idToken":"ABC","type":"eMAID"}}"#,
    )
    .expect("parse");
    assert_eq!(ev.event_type, TransactionEventEnumType::Updated);
    assert_eq!(ev.trigger_reason, TriggerReasonEnumType::Trigger);
    assert_eq!(
        ev.transaction_info.charging_state,
        Some(ChargingStateEnumType::SuspendedEvse)
    );
    assert_eq!(
        ev.evse.as_ref().map(|e| (e.id, e.connector_id)),
        Some((2, Some(1)))
    );
    assert_eq!(
        ev.id_token.as_ref().map(|t| t.kind),
        Some(IdTokenEnumType::EMaid)
    );
    assert_eq!(ev.offline, None);
}

#[test]
fn schema_check_rejects_bad_formats_unknown_fields_and_missing_required() {
    let bad_time = json!({"currentTime": "12:00"});
    assert!(!support::schema_errors("v201/HeartbeatResponse.json", &bad_time).is_empty());
    let extra = json!({"status": "Accepted", "surprise": true});
    assert!(!support::schema_errors("v201/TriggerMessageResponse.json", &extra).is_empty());
    let missing =
        json!({"timestamp": "2025-01-01T12:00:00Z", "connectorStatus": "Occupied", "evseId": 1});
    assert!(!support::schema_errors("v201/StatusNotificationRequest.json", &missing).is_empty());
}

#[test]
fn actions_from_station_are_request_schemas_and_include_no_csms_calls() {
    for action in ACTIONS_FROM_STATION {
        let path = format!("{}v201/{action}Request.json", support::SCHEMA_ROOT);
        assert!(
            std::path::Path::new(&path).is_file(),
            "{action} has no schema"
        );
    }
    for csms_call in ["TriggerMessage", "CertificateSigned", "GetLog", "Reset"] {
        assert!(!ACTIONS_FROM_STATION.contains(&csms_call));
    }
    let mut sorted = ACTIONS_FROM_STATION.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 25);
}

#[test]
fn trigger_enums_list_every_schema_value_in_order() {
    check_enum!(
        MessageTriggerEnumType,
        "v201/TriggerMessageRequest.json",
        "/definitions/MessageTriggerEnumType/enum"
    );
    assert_eq!(MessageTriggerEnumType::ALL.len(), 11);
    assert_eq!(
        MessageTriggerEnumType::PublishFirmwareStatusNotification.as_str(),
        "PublishFirmwareStatusNotification"
    );
    check_enum!(
        TriggerMessageStatusEnumType,
        "v201/TriggerMessageResponse.json",
        "/definitions/TriggerMessageStatusEnumType/enum"
    );
}

#[test]
fn all_enums_match_schema_spellings_and_order() {
    fn def(name: &str) -> String {
        format!("/definitions/{name}/enum")
    }
    check_enum!(
        IdTokenEnumType,
        "v201/AuthorizeRequest.json",
        def("IdTokenEnumType")
    );
    check_enum!(
        HashAlgorithmEnumType,
        "v201/AuthorizeRequest.json",
        def("HashAlgorithmEnumType")
    );
    check_enum!(
        AuthorizationStatusEnumType,
        "v201/AuthorizeResponse.json",
        def("AuthorizationStatusEnumType")
    );
    check_enum!(
        AuthorizeCertificateStatusEnumType,
        "v201/AuthorizeResponse.json",
        def("AuthorizeCertificateStatusEnumType")
    );
    check_enum!(
        MessageFormatEnumType,
        "v201/AuthorizeResponse.json",
        def("MessageFormatEnumType")
    );
    check_enum!(
        BootReasonEnumType,
        "v201/BootNotificationRequest.json",
        def("BootReasonEnumType")
    );
    check_enum!(
        RegistrationStatusEnumType,
        "v201/BootNotificationResponse.json",
        def("RegistrationStatusEnumType")
    );
    check_enum!(
        DataTransferStatusEnumType,
        "v201/DataTransferResponse.json",
        def("DataTransferStatusEnumType")
    );
    check_enum!(
        FirmwareStatusEnumType,
        "v201/FirmwareStatusNotificationRequest.json",
        def("FirmwareStatusEnumType")
    );
    check_enum!(
        PublishFirmwareStatusEnumType,
        "v201/PublishFirmwareStatusNotificationRequest.json",
        def("PublishFirmwareStatusEnumType")
    );
    check_enum!(
        UploadLogStatusEnumType,
        "v201/LogStatusNotificationRequest.json",
        def("UploadLogStatusEnumType")
    );
    check_enum!(
        ReadingContextEnumType,
        "v201/MeterValuesRequest.json",
        def("ReadingContextEnumType")
    );
    check_enum!(
        MeasurandEnumType,
        "v201/MeterValuesRequest.json",
        def("MeasurandEnumType")
    );
    check_enum!(
        PhaseEnumType,
        "v201/MeterValuesRequest.json",
        def("PhaseEnumType")
    );
    check_enum!(
        LocationEnumType,
        "v201/MeterValuesRequest.json",
        def("LocationEnumType")
    );
    check_enum!(
        EventTriggerEnumType,
        "v201/NotifyEventRequest.json",
        def("EventTriggerEnumType")
    );
    check_enum!(
        EventNotificationEnumType,
        "v201/NotifyEventRequest.json",
        def("EventNotificationEnumType")
    );
    check_enum!(
        CertificateSigningUseEnumType,
        "v201/SignCertificateRequest.json",
        def("CertificateSigningUseEnumType")
    );
    check_enum!(
        GenericStatusEnumType,
        "v201/SignCertificateResponse.json",
        def("GenericStatusEnumType")
    );
    check_enum!(
        CertificateSignedStatusEnumType,
        "v201/CertificateSignedResponse.json",
        def("CertificateSignedStatusEnumType")
    );
    check_enum!(
        ConnectorStatusEnumType,
        "v201/StatusNotificationRequest.json",
        def("ConnectorStatusEnumType")
    );
    check_enum!(
        TransactionEventEnumType,
        "v201/TransactionEventRequest.json",
        def("TransactionEventEnumType")
    );
    check_enum!(
        TriggerReasonEnumType,
        "v201/TransactionEventRequest.json",
        def("TriggerReasonEnumType")
    );
    check_enum!(
        ChargingStateEnumType,
        "v201/TransactionEventRequest.json",
        def("ChargingStateEnumType")
    );
    check_enum!(
        ReasonEnumType,
        "v201/TransactionEventRequest.json",
        def("ReasonEnumType")
    );
}
