//! Configuration verification (seed 000's "verify configuration"): what a station reports
//! as its configuration, what the operator wants it to be, and the difference, decided
//! without I/O. Reading (GetConfiguration, GetBaseReport → NotifyReport, GetVariables) and
//! applying (ChangeConfiguration, SetVariables) are the binary's job; this module turns
//! their payloads into values and back.
//!
//! A setting is named by one string key in both versions: a 1.6 configuration key as the
//! station spells it, or a 2.x `Component.Variable` (see [`key`]).

pub mod apply;
pub mod drift;
pub mod key;
pub mod profile;
pub mod read;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use apply::{ApplyCall, KeyResult, apply_calls, read_apply_answer};
pub use drift::{DriftItem, DriftKind, diff};
pub use profile::{ConfigProfile, ProfileError};
pub use read::{
    ReportAssembly, from_get_configuration, from_get_variables, get_variables_requests,
};

/// One setting as the station reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigEntry {
    /// Its value; absent when the station did not disclose it (1.6 `value` is optional,
    /// 2.x write-only variables have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The station will refuse to change it (1.6 `readonly`, 2.x mutability `ReadOnly`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub readonly: bool,
}

/// A station's configuration as read at one moment: kept with history so an operator can
/// see what changed and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigSnapshot {
    /// The station.
    pub station_id: String,
    /// Its subprotocol when read (`ocpp1.6`, `ocpp2.0.1`, `ocpp2.1`).
    pub protocol: String,
    /// When it was read (RFC 3339).
    pub read_at: String,
    /// How: `GetConfiguration`, `GetBaseReport` or `GetVariables`.
    pub source: String,
    /// Whether every setting was asked for (a full read) or only some keys.
    pub complete: bool,
    /// The settings, by key.
    pub entries: BTreeMap<String, ConfigEntry>,
    /// Keys asked for that the station does not know (1.6 `unknownKey`, 2.x
    /// `UnknownComponent` / `UnknownVariable`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
}

impl ConfigSnapshot {
    /// The snapshot after `newer` was read: a full read replaces everything; a partial
    /// read updates the keys it asked for and keeps the rest, so reading a profile's keys
    /// does not forget the others.
    pub fn merged_with(&self, newer: ConfigSnapshot) -> ConfigSnapshot {
        if newer.complete || newer.protocol != self.protocol {
            return newer;
        }
        let mut entries = self.entries.clone();
        for key in &newer.unknown {
            entries.remove(key);
        }
        entries.extend(newer.entries);
        ConfigSnapshot {
            entries,
            complete: self.complete,
            ..newer
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(complete: bool, entries: &[(&str, &str)], unknown: &[&str]) -> ConfigSnapshot {
        ConfigSnapshot {
            station_id: "CP1".into(),
            protocol: "ocpp1.6".into(),
            read_at: "2026-01-01T00:00:00Z".into(),
            source: "GetConfiguration".into(),
            complete,
            entries: entries
                .iter()
                .map(|(k, v)| {
                    (
                        (*k).to_owned(),
                        ConfigEntry {
                            value: Some((*v).to_owned()),
                            readonly: false,
                        },
                    )
                })
                .collect(),
            unknown: unknown.iter().map(|k| (*k).to_owned()).collect(),
        }
    }

    #[test]
    fn a_partial_read_updates_its_keys_and_keeps_the_rest() {
        let full = snap(true, &[("A", "1"), ("B", "2"), ("C", "3")], &[]);
        let merged = full.merged_with(snap(false, &[("A", "9")], &["C"]));
        assert!(merged.complete);
        assert_eq!(merged.entries["A"].value.as_deref(), Some("9"));
        assert_eq!(merged.entries["B"].value.as_deref(), Some("2"));
        assert!(!merged.entries.contains_key("C"));
    }

    #[test]
    fn a_full_read_replaces_everything() {
        let old = snap(true, &[("A", "1"), ("B", "2")], &[]);
        let merged = old.merged_with(snap(true, &[("A", "1")], &[]));
        assert_eq!(merged.entries.len(), 1);
    }
}
