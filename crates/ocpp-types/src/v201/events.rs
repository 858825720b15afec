//! NotifyEvent and the device-model component/variable types.

use serde::{Deserialize, Serialize};

use super::common::{CustomData, EVSEType};
use crate::common::DateTime;

ocpp_enum! {
    /// What caused an event report (`EventTriggerEnumType`).
    pub enum EventTriggerEnumType {
        /// A monitored value crossed a threshold.
        Alerting = "Alerting",
        /// A monitored value changed by more than the delta.
        Delta = "Delta",
        /// Periodic report of a monitored value.
        Periodic = "Periodic",
    }
}

ocpp_enum! {
    /// Origin of the monitor that produced an event (`EventNotificationEnumType`).
    pub enum EventNotificationEnumType {
        /// Hard-wired notification, not based on a monitor.
        HardWiredNotification = "HardWiredNotification",
        /// Hard-wired monitor.
        HardWiredMonitor = "HardWiredMonitor",
        /// Monitor preconfigured by the manufacturer.
        PreconfiguredMonitor = "PreconfiguredMonitor",
        /// Monitor set by the CSMS (SetVariableMonitoring).
        CustomMonitor = "CustomMonitor",
    }
}

/// A device-model component, optionally on an EVSE (`ComponentType`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentType {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// EVSE (and connector) the component belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evse: Option<EVSEType>,
    /// Component name (max 50 chars, case-insensitive).
    pub name: String,
    /// Component instance (max 50 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// A device-model variable of a component (`VariableType`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariableType {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// Variable name (max 50 chars, case-insensitive).
    pub name: String,
    /// Variable instance (max 50 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// One reported event (`EventDataType`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDataType {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// Identifies the event.
    pub event_id: i32,
    /// When the event occurred.
    pub timestamp: DateTime,
    /// What triggered the report.
    pub trigger: EventTriggerEnumType,
    /// eventId of the event that caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<i32>,
    /// Value of the variable (max 2500 chars).
    pub actual_value: String,
    /// Technical (error) code (max 50 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tech_code: Option<String>,
    /// Technical detail (max 500 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tech_info: Option<String>,
    /// Whether the event condition has returned to normal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared: Option<bool>,
    /// Transaction the event relates to (max 36 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// Component the event is about.
    pub component: ComponentType,
    /// Monitor that produced the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable_monitoring_id: Option<i32>,
    /// Origin of the monitor.
    pub event_notification_type: EventNotificationEnumType,
    /// Variable the event is about.
    pub variable: VariableType,
}

/// `NotifyEventRequest`: events from the station's device model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifyEventRequest {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// When the message was generated.
    pub generated_at: DateTime,
    /// "To be continued": more parts follow (absent means `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tbc: Option<bool>,
    /// Sequence number of this message part (first is 0).
    pub seq_no: i32,
    /// The events (at least one).
    pub event_data: Vec<EventDataType>,
}

/// `NotifyEventResponse`: empty acknowledgement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifyEventResponse {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
}
