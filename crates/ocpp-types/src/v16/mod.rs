//! OCPP 1.6J messages, including the 1.6 Security Whitepaper extension.
//!
//! Schemas: `schemas/ocpp/v16/<Action>.json` (request) and
//! `<Action>Response.json` (response). Core 1.6 enums use the 1.6 spec names
//! (`MessageTrigger`, `ChargePointStatus`, ...); the security extension keeps its
//! own `...EnumType` names (`MessageTriggerEnumType`, ...).

mod authorization;
mod data_transfer;
mod firmware;
mod meter_values;
mod provisioning;
mod security;
mod status;
mod transactions;
mod trigger;

pub use crate::common::DateTime;
pub use authorization::{AuthorizationStatus, AuthorizeRequest, AuthorizeResponse, IdTagInfo};
pub use data_transfer::{DataTransferRequest, DataTransferResponse, DataTransferStatus};
pub use firmware::{
    DiagnosticsStatus, DiagnosticsStatusNotificationRequest, DiagnosticsStatusNotificationResponse,
    FirmwareStatus, FirmwareStatusNotificationRequest, FirmwareStatusNotificationResponse,
};
pub use meter_values::{
    Location, Measurand, MeterValue, MeterValuesRequest, MeterValuesResponse, Phase,
    ReadingContext, SampledValue, UnitOfMeasure, ValueFormat,
};
pub use provisioning::{
    BootNotificationRequest, BootNotificationResponse, HeartbeatRequest, HeartbeatResponse,
    RegistrationStatus,
};
pub use security::{
    CertificateSignedRequest, CertificateSignedResponse, CertificateSignedStatusEnumType,
    FirmwareStatusEnumType, GenericStatusEnumType, LogStatusNotificationRequest,
    LogStatusNotificationResponse, SecurityEventNotificationRequest,
    SecurityEventNotificationResponse, SignCertificateRequest, SignCertificateResponse,
    SignedFirmwareStatusNotificationRequest, SignedFirmwareStatusNotificationResponse,
    UploadLogStatusEnumType,
};
pub use status::{
    ChargePointErrorCode, ChargePointStatus, StatusNotificationRequest, StatusNotificationResponse,
};
pub use transactions::{
    Reason, StartTransactionRequest, StartTransactionResponse, StopTransactionRequest,
    StopTransactionResponse,
};
pub use trigger::{
    ExtendedTriggerMessageRequest, ExtendedTriggerMessageResponse, MessageTrigger,
    MessageTriggerEnumType, TriggerMessageRequest, TriggerMessageResponse, TriggerMessageStatus,
    TriggerMessageStatusEnumType,
};

/// Actions a 1.6 Charge Point may send as a CALL (core profile plus security extension).
pub const ACTIONS_FROM_STATION: &[&str] = &[
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
    "LogStatusNotification",
    "SecurityEventNotification",
    "SignCertificate",
    "SignedFirmwareStatusNotification",
];
