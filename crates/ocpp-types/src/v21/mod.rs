//! OCPP 2.1 messages: only what differs from 2.0.1 where ocpulse needs it.
//!
//! Schemas: `schemas/ocpp/v21/<Action>Request.json` / `<Action>Response.json`. A message
//! 2.1 shares with 2.0.1 is read and built with the [`crate::v201`] types (2.1 only adds
//! optional fields and widens limits and vocabularies there, see [`as_v201`]); this
//! module holds the 2.1 TriggerMessage, whose vocabulary grew, and the lists that tell
//! shared station messages from new ones.

mod as_v201;
mod trigger;

pub use crate::v201::{CustomData, EVSEType, TriggerMessageResponse, TriggerMessageStatusEnumType};
pub use as_v201::{UNKNOWN_TRIGGER_REASON, as_v201};
pub use trigger::{MessageTriggerEnumType, TriggerMessageRequest};

/// Actions whose Request a 2.1 Charging Station sends to the CSMS that 2.0.1 does not
/// have (alphabetical). `NotifyPeriodicEventStream` is sent with SEND (message type 6),
/// never as a CALL.
pub const NEW_ACTIONS_FROM_STATION: &[&str] = &[
    "BatterySwap",
    "ClosePeriodicEventStream",
    "GetCertificateChainStatus",
    "NotifyDERAlarm",
    "NotifyDERStartStop",
    "NotifyPeriodicEventStream",
    "NotifyPriorityCharging",
    "NotifySettlement",
    "OpenPeriodicEventStream",
    "PullDynamicScheduleUpdate",
    "ReportDERControl",
    "VatNumberValidation",
];
