//! StartTransaction and StopTransaction.

use serde::{Deserialize, Serialize};

use super::authorization::IdTagInfo;
use super::meter_values::MeterValue;
use crate::common::DateTime;

ocpp_enum! {
    /// Why a transaction was stopped (1.6 `Reason`; absent means `Local`).
    pub enum Reason {
        /// Emergency stop button was used.
        EmergencyStop = "EmergencyStop",
        /// Disconnecting of the cable has been detected.
        EvDisconnected = "EVDisconnected",
        /// A hard reset command was received.
        HardReset = "HardReset",
        /// Stopped locally on request of the user (e.g. presenting the tag again).
        Local = "Local",
        /// Any other reason.
        Other = "Other",
        /// Complete loss of power.
        PowerLoss = "PowerLoss",
        /// A locally initiated reset or reboot.
        Reboot = "Reboot",
        /// Stopped remotely by a RemoteStopTransaction.
        Remote = "Remote",
        /// A soft reset command was received.
        SoftReset = "SoftReset",
        /// The Central System sent an UnlockConnector.
        UnlockCommand = "UnlockCommand",
        /// The transaction's idTag was deauthorized by the Central System.
        DeAuthorized = "DeAuthorized",
    }
}

/// `StartTransaction.req`: a transaction has started on a connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartTransactionRequest {
    /// Connector on which the transaction started (> 0).
    pub connector_id: i32,
    /// Identifier that started the transaction (max 20 chars).
    pub id_tag: String,
    /// Meter reading at start, in Wh (64-bit so long-lived registers never fail to parse).
    pub meter_start: i64,
    /// Reservation this transaction ends, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation_id: Option<i32>,
    /// When the transaction started.
    pub timestamp: DateTime,
}

/// `StartTransaction.conf`: the transaction id and idTag verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartTransactionResponse {
    /// Authorization status of the idTag.
    pub id_tag_info: IdTagInfo,
    /// Transaction id assigned by the Central System.
    pub transaction_id: i32,
}

/// `StopTransaction.req`: a transaction has ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopTransactionRequest {
    /// Identifier that stopped the transaction, if any (max 20 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_tag: Option<String>,
    /// Meter reading at stop, in Wh.
    pub meter_stop: i64,
    /// When the transaction stopped.
    pub timestamp: DateTime,
    /// Transaction id from the StartTransaction response.
    pub transaction_id: i32,
    /// Why the transaction stopped (absent means `Local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// Meter samples relevant for billing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_data: Option<Vec<MeterValue>>,
}

/// `StopTransaction.conf`: idTag verdict, present when an idTag was sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopTransactionResponse {
    /// Authorization status of the stop idTag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_tag_info: Option<IdTagInfo>,
}
