//! Authorization of id tokens (1.6 `idTag`, 2.0.1 `idToken`): the id-token registry the
//! CSMS answers from, the policy switch, and the one decision every answer carries.
//!
//! Pure: the registry is an in-memory table (the shell loads it from the store's `Doc`s and
//! keeps it current through the API), the clock is an argument. The decision is made while
//! the station's CALL is answered and journaled with it as the CALLRESULT, so replaying the
//! journal never asks the registry again.
//!
//! Answered from here: 1.6 `Authorize`, `StartTransaction` and `StopTransaction` (when it
//! carries an `idTag`) with `idTagInfo`; 2.0.1 `Authorize` and `TransactionEvent` (when it
//! carries an `idToken`) with `idTokenInfo`. [`local_list`] builds SendLocalList from the
//! same registry.

pub mod local_list;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use ocpp_rpc::{Family, ProtocolVersion};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Millis;

/// The longest id token the registry holds (2.0.1 `IdTokenType.idToken`, maxLength 36).
pub const ID_TOKEN_MAX: usize = 36;
/// The longest 1.6 `idTag` / `parentIdTag` (CiString20Type): longer tokens cannot be sent
/// to a 1.6 station.
pub const ID_TAG_16_MAX: usize = 20;

/// Which id tokens are accepted. `AcceptAll` is the loopback development mode only (the
/// shell refuses it on any other listener).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// A token not in the registry is `Accepted` (development); a registered token is still
    /// answered from its entry, so a Blocked one is refused in development too.
    AcceptAll,
    /// Only the registry decides: a token not in it is `Invalid`.
    Registry,
}

impl Policy {
    /// The option's spelling (`accept-all`, `registry`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AcceptAll => "accept-all",
            Self::Registry => "registry",
        }
    }
}

impl FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "accept-all" => Ok(Self::AcceptAll),
            "registry" => Ok(Self::Registry),
            other => Err(format!(
                "unknown authorization policy {other:?}; use \"registry\" or \"accept-all\""
            )),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status a registry entry gives its token: the values 1.6 and 2.0.1 share and that an
/// operator sets (ConcurrentTx and 2.0.1's others are decided at charging time, not stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenStatus {
    /// May charge.
    Accepted,
    /// Blocked by the operator.
    Blocked,
    /// No longer valid (also what an Accepted token past its expiry answers).
    Expired,
    /// Not valid.
    Invalid,
}

impl TokenStatus {
    /// Every status, in the order the API lists them.
    pub const ALL: [Self; 4] = [Self::Accepted, Self::Blocked, Self::Expired, Self::Invalid];
    /// Every status's wire name.
    pub const NAMES: [&'static str; 4] = ["Accepted", "Blocked", "Expired", "Invalid"];

    /// The wire name (the same in 1.6 and 2.0.1).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "Accepted",
            Self::Blocked => "Blocked",
            Self::Expired => "Expired",
            Self::Invalid => "Invalid",
        }
    }

    /// Reads a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// 2.0.1 `IdTokenEnumType`: how the token was presented. 1.6 has no types.
pub const TOKEN_TYPES: [&str; 8] = [
    "Central",
    "eMAID",
    "ISO14443",
    "ISO15693",
    "KeyCode",
    "Local",
    "MacAddress",
    "NoAuthorization",
];

/// The type a token gets when the operator names none: an RFID card, the common case.
pub const DEFAULT_TOKEN_TYPE: &str = "ISO14443";

/// The type a 2.0.1 `groupIdToken` is sent with: a group is the CSMS's own identifier.
pub const GROUP_TOKEN_TYPE: &str = "Central";

/// One id token in the registry, as stored (a `Doc` of kind [`DOC`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdTokenEntry {
    /// The token as the operator wrote it (matched case-insensitively, as OCPP says).
    pub id_token: String,
    /// Its 2.0.1 type (one of [`TOKEN_TYPES`]), sent in 2.0.1 local lists.
    #[serde(rename = "type")]
    pub token_type: String,
    /// Its status.
    pub status: TokenStatus,
    /// After this it answers `Expired` (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<Millis>,
    /// The group it belongs to (1.6 `parentIdTag`, 2.0.1 `groupIdToken`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// When it was registered.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
}

/// The store's `Doc` kind of registry entries (id: [`key`] of the token).
pub const DOC: &str = "id_token";

/// The registry's key of a token: tokens are case-insensitive (1.6 §7.25 IdToken, 2.0.1
/// IdTokenType), so `04a2b3` and `04A2B3` are one token.
pub fn key(id_token: &str) -> String {
    id_token.to_ascii_uppercase()
}

/// Checks a token as an operator gives it: 1 to 36 visible ASCII characters, none of
/// `/ ? # % \` (it is a path segment of the API). Says what is wrong.
pub fn check_token(id_token: &str) -> Result<(), String> {
    if id_token.is_empty() || id_token.len() > ID_TOKEN_MAX {
        return Err(format!(
            "must be 1 to {ID_TOKEN_MAX} characters, got {}",
            id_token.chars().count()
        ));
    }
    if let Some(bad) = id_token
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '/' | '?' | '#' | '%' | '\\'))
    {
        return Err(format!(
            "may hold visible ASCII characters except / ? # % \\, got {bad:?}"
        ));
    }
    Ok(())
}

/// The id-token registry: every entry by [`key`]. Shared read-mostly between the sessions
/// (which look tokens up while answering) and the API (which changes it after the store
/// committed the change).
#[derive(Debug, Default)]
pub struct IdTokenRegistry {
    entries: RwLock<BTreeMap<String, IdTokenEntry>>,
}

impl IdTokenRegistry {
    /// A registry holding `entries` (what the store had at start).
    pub fn new(entries: impl IntoIterator<Item = IdTokenEntry>) -> Self {
        Self {
            entries: RwLock::new(entries.into_iter().map(|e| (key(&e.id_token), e)).collect()),
        }
    }

    /// The entry of `id_token` (case-insensitive).
    pub fn find(&self, id_token: &str) -> Option<IdTokenEntry> {
        self.entries.read().get(&key(id_token)).cloned()
    }

    /// Replaces every entry at once (a cluster node re-reading what other nodes stored).
    pub fn replace_all(&self, entries: impl IntoIterator<Item = IdTokenEntry>) {
        let fresh = entries.into_iter().map(|e| (key(&e.id_token), e)).collect();
        *self.entries.write() = fresh;
    }

    /// Inserts or replaces an entry; returns the one replaced.
    pub fn put(&self, entry: IdTokenEntry) -> Option<IdTokenEntry> {
        self.entries.write().insert(key(&entry.id_token), entry)
    }

    /// Removes an entry; returns it.
    pub fn remove(&self, id_token: &str) -> Option<IdTokenEntry> {
        self.entries.write().remove(&key(id_token))
    }

    /// Every entry, by key.
    pub fn all(&self) -> Vec<IdTokenEntry> {
        self.entries.read().values().cloned().collect()
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.read().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.read().is_empty()
    }
}

/// What the CSMS answers about one token: the version-neutral content of 1.6 `IdTagInfo`
/// and 2.0.1 `IdTokenInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The status.
    pub status: TokenStatus,
    /// Until when the station may cache it (the entry's expiry).
    pub expiry: Option<Millis>,
    /// The token's group.
    pub group_id: Option<String>,
}

impl Verdict {
    /// Accepted with nothing more (an unknown token under `accept-all`).
    pub fn accepted() -> Self {
        Self {
            status: TokenStatus::Accepted,
            expiry: None,
            group_id: None,
        }
    }

    /// `Invalid` with nothing more.
    pub fn invalid() -> Self {
        Self {
            status: TokenStatus::Invalid,
            expiry: None,
            group_id: None,
        }
    }

    /// 1.6 `IdTagInfo`. A group id longer than a 1.6 `parentIdTag` is left out so the
    /// answer always passes its schema.
    pub fn id_tag_info(&self) -> Value {
        let mut info = json!({"status": self.status.as_str()});
        if let Some(at) = self.expiry {
            info["expiryDate"] = Value::from(crate::rfc3339(at));
        }
        if let Some(group) = self
            .group_id
            .as_deref()
            .filter(|g| g.len() <= ID_TAG_16_MAX)
        {
            info["parentIdTag"] = Value::from(group);
        }
        info
    }

    /// 2.0.1 `IdTokenInfoType` (also valid in 2.1).
    pub fn id_token_info(&self) -> Value {
        let mut info = json!({"status": self.status.as_str()});
        if let Some(at) = self.expiry {
            info["cacheExpiryDateTime"] = Value::from(crate::rfc3339(at));
        }
        if let Some(group) = &self.group_id {
            info["groupIdToken"] = json!({"idToken": group, "type": GROUP_TOKEN_TYPE});
        }
        info
    }

    /// The version's info object: 1.6 `IdTagInfo`, 2.x `IdTokenInfoType`.
    pub fn info(&self, version: ProtocolVersion) -> Value {
        match version.family() {
            Family::V16 => self.id_tag_info(),
            Family::V2 => self.id_token_info(),
        }
    }
}

/// The decision about a presented token: its registry entry (or none), the policy and the
/// time. A registered token answers its status, `Expired` once past its expiry whatever
/// its status said (an expired Blocked token stays Blocked: blocking is the stronger
/// word); an unknown one is `Invalid` under `registry` and `Accepted` under `accept-all`.
pub fn decide(entry: Option<&IdTokenEntry>, policy: Policy, now: Millis) -> Verdict {
    let Some(entry) = entry else {
        return match policy {
            Policy::AcceptAll => Verdict::accepted(),
            Policy::Registry => Verdict::invalid(),
        };
    };
    let expired = entry.expiry.is_some_and(|at| at <= now);
    let status = match entry.status {
        TokenStatus::Accepted if expired => TokenStatus::Expired,
        other => other,
    };
    Verdict {
        status,
        expiry: entry.expiry,
        group_id: entry.group_id.clone(),
    }
}

/// The token a station CALL presents for authorization, when its answer carries an info:
/// 1.6 `Authorize`, `StartTransaction` and `StopTransaction` (`idTag`, optional in the
/// last); 2.x `Authorize` and `TransactionEvent` (`idToken.idToken`, optional in the
/// last). `None` for every other CALL and for a CALL without one (its answer then has no
/// info, or, for a CALL whose info is required, `Invalid`: see [`Presented`]).
pub fn presented(version: ProtocolVersion, action: &str, payload: &Value) -> Presented {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    match (version.family(), action) {
        (Family::V16, "Authorize" | "StartTransaction") => {
            Presented::Required(text(payload.get("idTag")))
        }
        (Family::V16, "StopTransaction") => Presented::Optional(text(payload.get("idTag"))),
        (Family::V2, "Authorize") => {
            Presented::Required(text(payload.get("idToken").and_then(|t| t.get("idToken"))))
        }
        (Family::V2, "TransactionEvent") => {
            Presented::Optional(text(payload.get("idToken").and_then(|t| t.get("idToken"))))
        }
        _ => Presented::NotAuthorizing,
    }
}

/// What a station CALL presents for authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// Its answer carries no id-token info.
    NotAuthorizing,
    /// Its answer must carry an info (`None`: the payload has no readable token, which
    /// only the lenient policy lets through; it is answered `Invalid`).
    Required(Option<String>),
    /// Its answer carries an info only when the CALL carries a token.
    Optional(Option<String>),
}

impl Presented {
    /// The verdict the answer carries, if any: the registry's decision about the token.
    pub fn verdict(
        &self,
        registry: &IdTokenRegistry,
        policy: Policy,
        now: Millis,
    ) -> Option<Verdict> {
        match self {
            Self::NotAuthorizing | Self::Optional(None) => None,
            Self::Required(None) => Some(Verdict::invalid()),
            Self::Required(Some(token)) | Self::Optional(Some(token)) => {
                Some(decide(registry.find(token).as_ref(), policy, now))
            }
        }
    }
}
