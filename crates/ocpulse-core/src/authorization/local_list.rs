//! SendLocalList built from the id-token registry, in the station's version's shapes (1.6
//! `localAuthorizationList[].idTagInfo`, 2.0.1 `localAuthorizationList[].idTokenInfo`), and
//! the list version read back from what was sent and answered, so the station's state can
//! track it from the journal.

use ocpp_rpc::{Family, ProtocolVersion};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{DEFAULT_TOKEN_TYPE, ID_TAG_16_MAX, IdTokenEntry, Policy, decide};
use crate::Millis;

/// SendLocalList's `updateType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateType {
    /// The list replaces the station's.
    Full,
    /// The list changes the station's: entries with an info are added or replaced, entries
    /// without one are removed.
    Differential,
}

impl UpdateType {
    /// Every wire name.
    pub const NAMES: [&'static str; 2] = ["Full", "Differential"];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "Full",
            Self::Differential => "Differential",
        }
    }

    /// Reads a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "Full" => Some(Self::Full),
            "Differential" => Some(Self::Differential),
            _ => None,
        }
    }
}

/// A token left out of a list, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The token.
    pub id_token: String,
    /// Why it was not sent.
    pub reason: String,
}

/// A SendLocalList payload and what went into it.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalList {
    /// The payload to send.
    pub payload: Value,
    /// The version it sets.
    pub version: i64,
    /// Tokens sent with their info (added or replaced on the station).
    pub entries: usize,
    /// Tokens sent without info (removed from the station's list, Differential only).
    pub removals: usize,
    /// Tokens left out.
    pub skipped: Vec<Skipped>,
}

/// The version a new list gets: one above the station's known one (lists start at 1; 0
/// means "no list" and -1 "not supported" in GetLocalListVersion).
pub fn next_version(current: Option<i64>) -> i64 {
    current.unwrap_or(0).max(0).saturating_add(1)
}

/// Builds SendLocalList for `version`. `items` are the tokens to send, each with its
/// registry entry: a registered token is sent with its info as of `now` (an Accepted token
/// past its expiry as Expired); one not in the registry is a removal in a Differential
/// update and left out of a Full one. A token a 1.6 `idTag` cannot hold (over 20
/// characters) is left out too.
pub fn build(
    version: ProtocolVersion,
    update: UpdateType,
    list_version: i64,
    items: &[(String, Option<IdTokenEntry>)],
    now: Millis,
) -> LocalList {
    let mut list = Vec::new();
    let mut skipped = Vec::new();
    let (mut entries, mut removals) = (0, 0);
    for (token, entry) in items {
        if version.family() == Family::V16 && token.len() > ID_TAG_16_MAX {
            skipped.push(Skipped {
                id_token: token.clone(),
                reason: format!("a 1.6 idTag holds at most {ID_TAG_16_MAX} characters"),
            });
            continue;
        }
        let info = match (entry, update) {
            (Some(e), _) => Some(decide(Some(e), Policy::Registry, now).info(version)),
            (None, UpdateType::Differential) => None,
            (None, UpdateType::Full) => {
                skipped.push(Skipped {
                    id_token: token.clone(),
                    reason: "not in the registry".into(),
                });
                continue;
            }
        };
        if info.is_some() {
            entries += 1;
        } else {
            removals += 1;
        }
        let mut item = match version.family() {
            Family::V16 => json!({"idTag": token}),
            Family::V2 => {
                let kind = entry
                    .as_ref()
                    .map_or(DEFAULT_TOKEN_TYPE, |e| e.token_type.as_str());
                json!({"idToken": {"idToken": token, "type": kind}})
            }
        };
        if let Some(info) = info {
            let field = match version.family() {
                Family::V16 => "idTagInfo",
                Family::V2 => "idTokenInfo",
            };
            item[field] = info;
        }
        list.push(item);
    }
    let mut payload = match version.family() {
        Family::V16 => json!({"listVersion": list_version, "updateType": update.as_str()}),
        Family::V2 => json!({"versionNumber": list_version, "updateType": update.as_str()}),
    };
    // 2.0.1 wants at least one item when the list is present; an empty Full list is sent
    // without one (the station's list is then emptied).
    if !list.is_empty() {
        payload["localAuthorizationList"] = Value::Array(list);
    }
    LocalList {
        payload,
        version: list_version,
        entries,
        removals,
        skipped,
    }
}

/// The list version a SendLocalList payload sets (1.6 `listVersion`, 2.x `versionNumber`).
pub fn sent_version(payload: &Value) -> Option<i64> {
    payload
        .get("listVersion")
        .or_else(|| payload.get("versionNumber"))
        .and_then(Value::as_i64)
}

/// The list version a GetLocalListVersion answer reports (1.6 `listVersion`, 2.x
/// `versionNumber`; 0: no list, -1 in 1.6: not supported).
pub fn reported_version(response: &Value) -> Option<i64> {
    sent_version(response)
}

/// `EVENT`: the CSMS learned the version of a station's local list (payload: [`ListKnown`]).
pub const LOCAL_LIST_VERSION: &str = "LocalListVersion";

/// What the CSMS knows of a station's local authorization list: journaled as the
/// [`LOCAL_LIST_VERSION`] event and kept in the station's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListKnown {
    /// The list version (0: no list; -1: the 1.6 station does not support local lists).
    pub version: i64,
    /// How it was learned: `SendLocalList` (the station accepted a list of this version) or
    /// `GetLocalListVersion` (the station reported it).
    pub source: String,
    /// For SendLocalList: `Full` or `Differential`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_type: Option<String>,
    /// When it was learned.
    #[serde(default)]
    pub at: crate::Millis,
}

impl ListKnown {
    /// What a CSMS CALL's answer teaches: a SendLocalList answered `Accepted` sets the
    /// version it sent (`sent`: that CALL's payload); a GetLocalListVersion answer reports
    /// one. Any other CALL or answer teaches nothing.
    pub fn learned(
        action: &str,
        sent: Option<&Value>,
        response: &Value,
        at: crate::Millis,
    ) -> Option<Self> {
        match action {
            "SendLocalList" => {
                let sent = sent?;
                (response.get("status").and_then(Value::as_str) == Some("Accepted"))
                    .then_some(())?;
                Some(Self {
                    version: sent_version(sent)?,
                    source: action.to_owned(),
                    update_type: sent
                        .get("updateType")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    at,
                })
            }
            "GetLocalListVersion" => Some(Self {
                version: reported_version(response)?,
                source: action.to_owned(),
                update_type: None,
                at,
            }),
            _ => None,
        }
    }
}
