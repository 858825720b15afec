//! Every station CALL read once into its typed message (`ocpp-types`), so station state,
//! meter rows, alert rules and trigger matching read the same fields the same way.
//!
//! Payloads reach this point after schema validation, but the lenient policy lets odd ones
//! through, and journal readers see whatever was stored: a payload that does not fit its
//! type (or an action without one here) is [`StationCall::Other`], never an error or a
//! panic. Its caller still holds the payload as sent (the journal keeps it whole).
//!
//! The version decides which message type a payload is read as, in one place
//! ([`StationCall::parse`], by version family: 2.1 is read with the 2.0.1 types it shares).

mod meter;
mod reports;
#[cfg(test)]
mod tests;

use std::borrow::Cow;

use ocpp_rpc::Family;
use ocpp_rpc::ProtocolVersion;
use ocpp_rpc::trigger::{Marker, TargetKey};
use ocpp_types::{v16, v21, v201};
use serde::Deserialize;
use serde_json::Value;

pub use meter::{DEFAULT_MEASURAND, MeterReport, MeterSample, Readings};
pub use reports::{Activity, ActivityReport, ConnectorReport, CsrRequest, SecurityEventReport};

/// Defines a version's station-CALL enum, one variant per action (named as the action,
/// holding its request type, boxed so the large ones do not size the enum), and its
/// `parse`, which reads an action's payload as its type or says `None`.
macro_rules! station_calls {
    (
        $(#[$meta:meta])*
        $name:ident in $version:ident {
            $($(#[$vmeta:meta])* $action:ident($request:ident)),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub enum $name {
            $($(#[$vmeta])* $action(Box<$version::$request>),)+
        }

        impl $name {
            /// `payload` of `action` as this version's message, if it fits.
            fn parse(action: &str, payload: &Value) -> Option<Self> {
                $(if action == stringify!($action) {
                    return $version::$request::deserialize(payload).ok().map(|r| Self::$action(Box::new(r)));
                })+
                None
            }
        }
    };
}

station_calls! {
    /// A 1.6 station CALL whose payload fits its message type.
    Call16 in v16 {
        /// `BootNotification.req`.
        BootNotification(BootNotificationRequest),
        /// `Heartbeat.req`.
        Heartbeat(HeartbeatRequest),
        /// `StatusNotification.req`.
        StatusNotification(StatusNotificationRequest),
        /// `MeterValues.req`.
        MeterValues(MeterValuesRequest),
        /// `StartTransaction.req`.
        StartTransaction(StartTransactionRequest),
        /// `StopTransaction.req`.
        StopTransaction(StopTransactionRequest),
        /// `FirmwareStatusNotification.req`.
        FirmwareStatusNotification(FirmwareStatusNotificationRequest),
        /// Security extension `SignedFirmwareStatusNotification.req`.
        SignedFirmwareStatusNotification(SignedFirmwareStatusNotificationRequest),
        /// `DiagnosticsStatusNotification.req`.
        DiagnosticsStatusNotification(DiagnosticsStatusNotificationRequest),
        /// Security extension `LogStatusNotification.req`.
        LogStatusNotification(LogStatusNotificationRequest),
        /// Security extension `SecurityEventNotification.req`.
        SecurityEventNotification(SecurityEventNotificationRequest),
        /// Security extension `SignCertificate.req`.
        SignCertificate(SignCertificateRequest),
    }
}

station_calls! {
    /// A 2.x station CALL whose payload fits its (2.0.1) message type.
    Call2 in v201 {
        /// `BootNotificationRequest`.
        BootNotification(BootNotificationRequest),
        /// `HeartbeatRequest`.
        Heartbeat(HeartbeatRequest),
        /// `StatusNotificationRequest`.
        StatusNotification(StatusNotificationRequest),
        /// `MeterValuesRequest`.
        MeterValues(MeterValuesRequest),
        /// `TransactionEventRequest`.
        TransactionEvent(TransactionEventRequest),
        /// `FirmwareStatusNotificationRequest`.
        FirmwareStatusNotification(FirmwareStatusNotificationRequest),
        /// `PublishFirmwareStatusNotificationRequest`.
        PublishFirmwareStatusNotification(PublishFirmwareStatusNotificationRequest),
        /// `LogStatusNotificationRequest`.
        LogStatusNotification(LogStatusNotificationRequest),
        /// `SecurityEventNotificationRequest`.
        SecurityEventNotification(SecurityEventNotificationRequest),
        /// `SignCertificateRequest`.
        SignCertificate(SignCertificateRequest),
    }
}

/// One station CALL, read once.
#[derive(Debug, Clone, PartialEq)]
pub enum StationCall {
    /// An OCPP 1.6 message.
    V16(Call16),
    /// An OCPP 2.x message (2.0.1, and 2.1 for the messages it shares with 2.0.1).
    V2(Call2),
    /// An action nothing here reads, or a payload that does not fit its type (accepted
    /// under the lenient policy): only the payload as sent says anything about it.
    Other,
}

impl StationCall {
    /// Reads `payload` of `action`, received on a connection speaking `version`: the one
    /// place that picks message types by version (by family: 2.1 shares 2.0.1's types).
    pub fn parse(version: ProtocolVersion, action: &str, payload: &Value) -> Self {
        let message = match version.family() {
            Family::V16 => Call16::parse(action, payload).map(Self::V16),
            Family::V2 if version == ProtocolVersion::V21 => Self::parse_v21(action, payload),
            Family::V2 => Call2::parse(action, payload).map(Self::V2),
        };
        message.unwrap_or(Self::Other)
    }

    /// 2.1 is read with the 2.0.1 types; values 2.1 added to a shared message's vocabulary
    /// are first rewritten into what those types hold (`v21::as_v201`), so such a message
    /// still updates the state and answers triggers as its 2.0.1 twin would.
    fn parse_v21(action: &str, payload: &Value) -> Option<Self> {
        match v21::as_v201(action, payload) {
            Some(read) => Call2::parse(action, &read),
            None => Call2::parse(action, payload),
        }
        .map(Self::V2)
    }

    /// Reads a journaled station CALL. The journal does not keep the connection's version,
    /// so a payload that fits its 2.x type is read as 2.x, else as 1.6: where one
    /// payload fits both (Heartbeat, SecurityEventNotification, SignCertificate, a
    /// FirmwareStatusNotification without requestId) it means the same in both, and the
    /// messages whose fields differ (StatusNotification, MeterValues, BootNotification)
    /// each require a field only their own version has.
    /// A 2.1 payload with values only 2.1 has is read like [`StationCall::parse`] reads it.
    pub fn read_journaled(action: &str, payload: &Value) -> Self {
        Call2::parse(action, payload)
            .map(Self::V2)
            .or_else(|| Self::parse_v21(action, payload))
            .or_else(|| Call16::parse(action, payload).map(Self::V16))
            .unwrap_or(Self::Other)
    }

    /// The connector (1.6) or EVSE (2.0.1; with its connector for a StatusNotification)
    /// the message names, for the messages whose target a trigger matches.
    pub fn target(&self) -> Option<TargetKey> {
        match self {
            Self::V16(Call16::StatusNotification(s)) => Some(TargetKey::of(s.connector_id.into())),
            Self::V16(Call16::MeterValues(m)) => Some(TargetKey::of(m.connector_id.into())),
            Self::V2(Call2::StatusNotification(s)) => Some(TargetKey::evse_connector(
                s.evse_id.into(),
                s.connector_id.into(),
            )),
            Self::V2(Call2::MeterValues(m)) => Some(TargetKey::of(m.evse_id.into())),
            Self::V2(Call2::TransactionEvent(e)) => {
                e.evse.as_ref().map(|evse| TargetKey::of(evse.id.into()))
            }
            _ => None,
        }
    }

    /// Whether the message says it was sent because of a trigger: a MeterValues with a
    /// sampled value of context `Trigger` (both versions), a TransactionEvent with
    /// `triggerReason: Trigger`. Other kinds carry no marker.
    pub fn marker(&self) -> Marker {
        let triggered = match self {
            Self::V16(Call16::MeterValues(_)) | Self::V2(Call2::MeterValues(_)) => self
                .meter()
                .is_some_and(|m| m.readings.samples().any(|s| s.is_triggered())),
            Self::V2(Call2::TransactionEvent(e)) => {
                e.trigger_reason == v201::TriggerReasonEnumType::Trigger
            }
            _ => return Marker::Unmarkable,
        };
        if triggered {
            Marker::Triggered
        } else {
            Marker::Routine
        }
    }

    /// The transaction the message is about (1.6 ids as their decimal text).
    pub fn transaction_id(&self) -> Option<Cow<'_, str>> {
        match self {
            Self::V16(Call16::MeterValues(m)) => m.transaction_id.map(|id| id.to_string().into()),
            Self::V16(Call16::StopTransaction(s)) => Some(s.transaction_id.to_string().into()),
            Self::V2(Call2::TransactionEvent(e)) => {
                Some(e.transaction_info.transaction_id.as_str().into())
            }
            _ => None,
        }
    }

    /// A 2.x TransactionEvent.
    pub fn transaction_event(&self) -> Option<&v201::TransactionEventRequest> {
        match self {
            Self::V2(Call2::TransactionEvent(e)) => Some(e),
            _ => None,
        }
    }
}
