//! OCPP 2.0.1 messages.
//!
//! Schemas: `schemas/ocpp/v201/<Action>Request.json` / `<Action>Response.json`.
//! Type names follow the schema definitions (`EVSEType`, `IdTokenType`,
//! `...EnumType`); every object carries the optional `customData` extension.

mod authorization;
mod availability;
mod common;
mod data_transfer;
mod diagnostics;
mod events;
mod firmware;
mod meter_values;
mod provisioning;
mod security;
mod transactions;
mod trigger;

pub use crate::common::DateTime;
pub use authorization::{
    AdditionalInfoType, AuthorizationStatusEnumType, AuthorizeCertificateStatusEnumType,
    AuthorizeRequest, AuthorizeResponse, HashAlgorithmEnumType, IdTokenEnumType, IdTokenInfoType,
    IdTokenType, MessageContentType, MessageFormatEnumType, OCSPRequestDataType,
};
pub use availability::{
    ConnectorStatusEnumType, StatusNotificationRequest, StatusNotificationResponse,
};
pub use common::{CustomData, CustomDataType, EVSEType, StatusInfoType};
pub use data_transfer::{DataTransferRequest, DataTransferResponse, DataTransferStatusEnumType};
pub use diagnostics::{
    LogStatusNotificationRequest, LogStatusNotificationResponse, UploadLogStatusEnumType,
};
pub use events::{
    ComponentType, EventDataType, EventNotificationEnumType, EventTriggerEnumType,
    NotifyEventRequest, NotifyEventResponse, VariableType,
};
pub use firmware::{
    FirmwareStatusEnumType, FirmwareStatusNotificationRequest, FirmwareStatusNotificationResponse,
    PublishFirmwareStatusEnumType, PublishFirmwareStatusNotificationRequest,
    PublishFirmwareStatusNotificationResponse,
};
pub use meter_values::{
    LocationEnumType, MeasurandEnumType, MeterValueType, MeterValuesRequest, MeterValuesResponse,
    PhaseEnumType, ReadingContextEnumType, SampledValueType, SignedMeterValueType,
    UnitOfMeasureType,
};
pub use provisioning::{
    BootNotificationRequest, BootNotificationResponse, BootReasonEnumType, ChargingStationType,
    HeartbeatRequest, HeartbeatResponse, ModemType, RegistrationStatusEnumType,
};
pub use security::{
    CertificateSignedRequest, CertificateSignedResponse, CertificateSignedStatusEnumType,
    CertificateSigningUseEnumType, GenericStatusEnumType, SecurityEventNotificationRequest,
    SecurityEventNotificationResponse, SignCertificateRequest, SignCertificateResponse,
};
pub use transactions::{
    ChargingStateEnumType, ReasonEnumType, TransactionEventEnumType, TransactionEventRequest,
    TransactionEventResponse, TransactionType, TriggerReasonEnumType,
};
pub use trigger::{
    MessageTriggerEnumType, TriggerMessageRequest, TriggerMessageResponse,
    TriggerMessageStatusEnumType,
};

/// Actions whose Request a 2.0.1 Charging Station sends to the CSMS (alphabetical).
///
/// Lists every station-originated action of 2.0.1, including those this crate
/// has no types for yet (payloads of those are handled as raw JSON).
pub const ACTIONS_FROM_STATION: &[&str] = &[
    "Authorize",
    "BootNotification",
    "ClearedChargingLimit",
    "DataTransfer",
    "FirmwareStatusNotification",
    "Get15118EVCertificate",
    "GetCertificateStatus",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "NotifyChargingLimit",
    "NotifyCustomerInformation",
    "NotifyDisplayMessages",
    "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule",
    "NotifyEvent",
    "NotifyMonitoringReport",
    "NotifyReport",
    "PublishFirmwareStatusNotification",
    "ReportChargingProfiles",
    "ReservationStatusUpdate",
    "SecurityEventNotification",
    "SignCertificate",
    "StatusNotification",
    "TransactionEvent",
];
