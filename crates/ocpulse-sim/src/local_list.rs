//! The station's local authorization list: SendLocalList stored as a real station keeps it
//! (Full replaces, Differential changes; a Differential update not above the current version
//! is a VersionMismatch, 1.6 §5.15 / 2.0.1 D01.FR.19), GetLocalListVersion answered from it.
//! With `supported` off it answers as a station without the LocalAuthListManagement
//! feature: 1.6 NotSupported and version -1, 2.0.1 Failed and version 0.

use std::collections::BTreeMap;

use ocpp_rpc::Family;
use serde_json::{Value, json};

/// The list and its version.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalList {
    /// Whether the station supports local lists.
    pub supported: bool,
    /// The version (0: no list).
    pub version: i64,
    /// Each token's info as sent (1.6 idTagInfo, 2.x idTokenInfo), by upper-cased token.
    pub entries: BTreeMap<String, Value>,
}

impl Default for LocalList {
    fn default() -> Self {
        Self {
            supported: true,
            version: 0,
            entries: BTreeMap::new(),
        }
    }
}

impl LocalList {
    /// Answers SendLocalList or GetLocalListVersion (payloads already schema-checked);
    /// `None` for any other action.
    pub fn on_call(&mut self, family: Family, action: &str, payload: &Value) -> Option<Value> {
        let version_key = match family {
            Family::V16 => "listVersion",
            Family::V2 => "versionNumber",
        };
        match action {
            "GetLocalListVersion" => {
                let version = match (self.supported, family) {
                    (true, _) => self.version,
                    (false, Family::V16) => -1,
                    (false, Family::V2) => 0,
                };
                Some(json!({ version_key: version }))
            }
            "SendLocalList" => Some(json!({"status": self.apply(family, version_key, payload)})),
            _ => None,
        }
    }

    fn apply(&mut self, family: Family, version_key: &str, payload: &Value) -> &'static str {
        if !self.supported {
            return match family {
                Family::V16 => "NotSupported",
                Family::V2 => "Failed",
            };
        }
        let Some(version) = payload.get(version_key).and_then(Value::as_i64) else {
            return "Failed";
        };
        let full = payload.get("updateType").and_then(Value::as_str) == Some("Full");
        if !full && version <= self.version {
            return "VersionMismatch";
        }
        if full {
            self.entries.clear();
        }
        let items = payload
            .get("localAuthorizationList")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for item in items {
            let (token, info) = match family {
                Family::V16 => (item.get("idTag"), item.get("idTagInfo")),
                Family::V2 => (
                    item.get("idToken").and_then(|t| t.get("idToken")),
                    item.get("idTokenInfo"),
                ),
            };
            let Some(token) = token.and_then(Value::as_str) else {
                continue;
            };
            let key = token.to_ascii_uppercase();
            match info {
                Some(info) => {
                    self.entries.insert(key, info.clone());
                }
                None => {
                    self.entries.remove(&key);
                }
            }
        }
        self.version = version;
        "Accepted"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_replaces_differential_changes_and_an_old_version_mismatches() {
        let mut l = LocalList::default();
        let full = json!({"listVersion": 3, "updateType": "Full", "localAuthorizationList": [{"idTag": "A", "idTagInfo": {"status": "Accepted"}}, {"idTag": "B", "idTagInfo": {"status": "Blocked"}}]});
        assert_eq!(
            l.on_call(Family::V16, "SendLocalList", &full),
            Some(json!({"status": "Accepted"}))
        );
        assert_eq!(
            l.on_call(Family::V16, "GetLocalListVersion", &json!({})),
            Some(json!({"listVersion": 3}))
        );
        let diff = json!({"listVersion": 3, "updateType": "Differential", "localAuthorizationList": [{"idTag": "A"}]});
        assert_eq!(
            l.on_call(Family::V16, "SendLocalList", &diff),
            Some(json!({"status": "VersionMismatch"}))
        );
        let diff = json!({"listVersion": 4, "updateType": "Differential", "localAuthorizationList": [{"idTag": "a"}]});
        assert_eq!(
            l.on_call(Family::V16, "SendLocalList", &diff),
            Some(json!({"status": "Accepted"}))
        );
        assert_eq!(l.entries.keys().collect::<Vec<_>>(), ["B"]);
        let v2 = json!({"versionNumber": 1, "updateType": "Full", "localAuthorizationList": [{"idToken": {"idToken": "c", "type": "ISO14443"}, "idTokenInfo": {"status": "Accepted"}}]});
        let mut l2 = LocalList::default();
        assert_eq!(
            l2.on_call(Family::V2, "SendLocalList", &v2),
            Some(json!({"status": "Accepted"}))
        );
        assert_eq!(
            l2.on_call(Family::V2, "GetLocalListVersion", &json!({})),
            Some(json!({"versionNumber": 1}))
        );
        let mut off = LocalList {
            supported: false,
            ..LocalList::default()
        };
        assert_eq!(
            off.on_call(Family::V16, "SendLocalList", &full),
            Some(json!({"status": "NotSupported"}))
        );
        assert_eq!(
            off.on_call(Family::V16, "GetLocalListVersion", &json!({})),
            Some(json!({"listVersion": -1}))
        );
    }
}
