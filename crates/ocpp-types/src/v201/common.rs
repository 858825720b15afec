//! Types shared by many OCPP 2.0.1 messages: `CustomDataType`, `StatusInfoType`, `EVSEType`.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Vendor extension object allowed on every 2.0.1 type (`CustomDataType`).
///
/// The only 2.0.1 object without `additionalProperties: false`: besides the
/// required `vendorId` it may carry any vendor-defined keys, kept in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomData {
    /// Vendor identifier (max 255 chars).
    pub vendor_id: String,
    /// All other vendor-defined properties, preserved as-is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Schema name of [`CustomData`].
pub type CustomDataType = CustomData;

/// More information about a status (`StatusInfoType`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusInfoType {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// Predefined case-insensitive reason code (max 20 chars).
    pub reason_code: String,
    /// Additional free-format information (max 512 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_info: Option<String>,
}

/// Identifies an EVSE and optionally one of its connectors (`EVSEType`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EVSEType {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// EVSE id (> 0; 0 is not an EVSE).
    pub id: i32,
    /// Connector id within the EVSE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_id: Option<i32>,
}

/// Deserializes a present value (even JSON `null`) as `Some`, so that an
/// explicit `null` survives a round trip while an absent key stays `None`.
pub(crate) fn present<'de, D>(deserializer: D) -> Result<Option<Value>, D::Error>
where
    D: Deserializer<'de>,
{
    Value::deserialize(deserializer).map(Some)
}
