//! Authorize and the `IdTagInfo` shared with StartTransaction / StopTransaction.

use serde::{Deserialize, Serialize};

use crate::common::DateTime;

ocpp_enum! {
    /// Whether an idTag is allowed to charge (1.6 `AuthorizationStatus`).
    pub enum AuthorizationStatus {
        /// Identifier is allowed for charging.
        Accepted = "Accepted",
        /// Identifier has been blocked.
        Blocked = "Blocked",
        /// Identifier has expired.
        Expired = "Expired",
        /// Identifier is unknown.
        Invalid = "Invalid",
        /// Identifier is already involved in another transaction.
        ConcurrentTx = "ConcurrentTx",
    }
}

/// Authorization status and validity of an idTag (1.6 `IdTagInfo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdTagInfo {
    /// Date after which the idTag must be considered invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_date: Option<DateTime>,
    /// Parent identifier (max 20 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id_tag: Option<String>,
    /// Whether the idTag has been accepted.
    pub status: AuthorizationStatus,
}

/// `Authorize.req`: the Charge Point asks whether an idTag may charge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizeRequest {
    /// Identifier to authorize (max 20 chars).
    pub id_tag: String,
}

/// `Authorize.conf`: the Central System's verdict on an idTag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizeResponse {
    /// Authorization status and validity of the idTag.
    pub id_tag_info: IdTagInfo,
}
