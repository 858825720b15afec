//! StatusNotification.

use serde::{Deserialize, Serialize};

use super::common::CustomData;
use crate::common::DateTime;

ocpp_enum! {
    /// Status of a connector (`ConnectorStatusEnumType`).
    pub enum ConnectorStatusEnumType {
        /// Available for a new user.
        Available = "Available",
        /// A cable is plugged in or the connector is otherwise in use.
        Occupied = "Occupied",
        /// Reserved by a ReserveNow.
        Reserved = "Reserved",
        /// Not available for charging.
        Unavailable = "Unavailable",
        /// An error prevents operation.
        Faulted = "Faulted",
    }
}

/// `StatusNotificationRequest`: status of one connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusNotificationRequest {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// When the status was reported.
    pub timestamp: DateTime,
    /// Current connector status.
    pub connector_status: ConnectorStatusEnumType,
    /// EVSE of the connector.
    pub evse_id: i32,
    /// Connector id within the EVSE.
    pub connector_id: i32,
}

/// `StatusNotificationResponse`: empty acknowledgement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusNotificationResponse {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
}
