//! TransactionEvent.

use serde::{Deserialize, Serialize};

use super::authorization::{IdTokenInfoType, IdTokenType, MessageContentType};
use super::common::{CustomData, EVSEType};
use super::meter_values::MeterValueType;
use crate::common::DateTime;

ocpp_enum! {
    /// Kind of transaction event (`TransactionEventEnumType`).
    pub enum TransactionEventEnumType {
        /// Last event of a transaction.
        Ended = "Ended",
        /// First event of a transaction.
        Started = "Started",
        /// Any event between Started and Ended.
        Updated = "Updated",
    }
}

ocpp_enum! {
    /// Why a TransactionEvent was sent (`TriggerReasonEnumType`).
    pub enum TriggerReasonEnumType {
        /// The driver was authorized.
        Authorized = "Authorized",
        /// A cable was plugged in.
        CablePluggedIn = "CablePluggedIn",
        /// The charging rate changed by more than the configured amount.
        ChargingRateChanged = "ChargingRateChanged",
        /// The charging state changed.
        ChargingStateChanged = "ChargingStateChanged",
        /// The driver was deauthorized.
        Deauthorized = "Deauthorized",
        /// The energy limit was reached.
        EnergyLimitReached = "EnergyLimitReached",
        /// Communication with the EV was lost.
        EvCommunicationLost = "EVCommunicationLost",
        /// The EV was not connected within the timeout.
        EvConnectTimeout = "EVConnectTimeout",
        /// Clock-aligned meter values.
        MeterValueClock = "MeterValueClock",
        /// Periodic meter values.
        MeterValuePeriodic = "MeterValuePeriodic",
        /// The time limit was reached.
        TimeLimitReached = "TimeLimitReached",
        /// Sent because of a TriggerMessage.
        Trigger = "Trigger",
        /// The CSMS sent an UnlockConnector.
        UnlockCommand = "UnlockCommand",
        /// The driver was authorized to stop the transaction.
        StopAuthorized = "StopAuthorized",
        /// The EV left the parking bay.
        EvDeparted = "EVDeparted",
        /// An EV was detected in the parking bay.
        EvDetected = "EVDetected",
        /// The CSMS requested a stop.
        RemoteStop = "RemoteStop",
        /// The CSMS requested a start.
        RemoteStart = "RemoteStart",
        /// An abnormal error or fault condition occurred.
        AbnormalCondition = "AbnormalCondition",
        /// Signed meter data was received from the meter.
        SignedDataReceived = "SignedDataReceived",
        /// The CSMS sent a Reset.
        ResetCommand = "ResetCommand",
    }
}

ocpp_enum! {
    /// Charging state of a transaction (`ChargingStateEnumType`).
    pub enum ChargingStateEnumType {
        /// Energy is flowing to or from the EV.
        Charging = "Charging",
        /// EV connected, not yet charging.
        EvConnected = "EVConnected",
        /// The EV is not taking the offered energy.
        SuspendedEv = "SuspendedEV",
        /// The EVSE is not offering energy.
        SuspendedEvse = "SuspendedEVSE",
        /// No EV connected (e.g. before plug-in or after unplug).
        Idle = "Idle",
    }
}

ocpp_enum! {
    /// Why a transaction stopped (`ReasonEnumType`; absent means `Local`).
    pub enum ReasonEnumType {
        /// The idToken was deauthorized.
        DeAuthorized = "DeAuthorized",
        /// Emergency stop button was used.
        EmergencyStop = "EmergencyStop",
        /// The energy limit was reached.
        EnergyLimitReached = "EnergyLimitReached",
        /// The cable was disconnected.
        EvDisconnected = "EVDisconnected",
        /// A ground fault occurred.
        GroundFault = "GroundFault",
        /// An immediate Reset was requested.
        ImmediateReset = "ImmediateReset",
        /// Stopped locally by the driver.
        Local = "Local",
        /// Local credit ran out.
        LocalOutOfCredit = "LocalOutOfCredit",
        /// Stopped with a master pass.
        MasterPass = "MasterPass",
        /// Any other reason.
        Other = "Other",
        /// An overcurrent fault occurred.
        OvercurrentFault = "OvercurrentFault",
        /// Complete loss of power.
        PowerLoss = "PowerLoss",
        /// Power quality problem (e.g. voltage out of range).
        PowerQuality = "PowerQuality",
        /// A locally initiated reboot.
        Reboot = "Reboot",
        /// Stopped remotely by the CSMS.
        Remote = "Remote",
        /// The state-of-charge limit was reached.
        SocLimitReached = "SOCLimitReached",
        /// The EV stopped the transaction.
        StoppedByEv = "StoppedByEV",
        /// The time limit was reached.
        TimeLimitReached = "TimeLimitReached",
        /// The EV was not connected within the timeout.
        Timeout = "Timeout",
    }
}

/// Transaction state carried by every TransactionEvent (`TransactionType`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionType {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// Transaction id chosen by the station (max 36 chars).
    pub transaction_id: String,
    /// Current charging state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charging_state: Option<ChargingStateEnumType>,
    /// Seconds energy has flowed so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_spent_charging: Option<i32>,
    /// Why the transaction stopped (only with `Ended`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<ReasonEnumType>,
    /// Id of the RequestStartTransaction that started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_start_id: Option<i32>,
}

/// `TransactionEventRequest`: start, update or end of a transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionEventRequest {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// Started, Updated or Ended.
    pub event_type: TransactionEventEnumType,
    /// Meter samples (at least one when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter_value: Option<Vec<MeterValueType>>,
    /// When the event occurred.
    pub timestamp: DateTime,
    /// Why the event was sent.
    pub trigger_reason: TriggerReasonEnumType,
    /// Incremental sequence number per transaction, to detect lost messages.
    pub seq_no: i32,
    /// Whether the event happened while offline (absent means `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline: Option<bool>,
    /// Number of phases used for charging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_phases_used: Option<i32>,
    /// Maximum current of the connected cable (A).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cable_max_current: Option<i32>,
    /// Reservation this transaction ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation_id: Option<i32>,
    /// Transaction state.
    pub transaction_info: TransactionType,
    /// EVSE (and connector) of the transaction; sent at least once per transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evse: Option<EVSEType>,
    /// Identifier that authorized (or stopped) the transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<IdTokenType>,
}

/// `TransactionEventResponse`: optional cost, priority and idToken verdict.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionEventResponse {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// Running total cost including taxes, in the configured currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cost: Option<f64>,
    /// Priority from -9 to 9 for this transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charging_priority: Option<i32>,
    /// Verdict on the idToken in the request (only when one was sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_info: Option<IdTokenInfoType>,
    /// Personal message to show to the driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_personal_message: Option<MessageContentType>,
}
