//! The difference between what a profile wants and what a station reported.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ConfigEntry;

/// How a setting differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DriftKind {
    /// The station has another value (or did not disclose one); applying can fix it.
    Differs,
    /// The station's last read did not report this key: it may not support it.
    Missing,
    /// The station has another value and reports the key read-only: applying cannot fix
    /// it (it is shown, and an apply reports the station's refusal).
    ReadOnly,
}

/// One setting off its desired value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftItem {
    /// The key.
    pub key: String,
    /// What the profile wants.
    pub desired: String,
    /// What the station reported (absent when missing or undisclosed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// How it differs.
    pub kind: DriftKind,
}

/// Every setting of `settings` the station's `entries` do not hold at its desired value,
/// in key order. Values compare exactly, except around commas in lists (`a, b` is `a,b`)
/// and case of booleans (`True` is `true`): stations spell both both ways.
pub fn diff(
    settings: &BTreeMap<String, String>,
    entries: &BTreeMap<String, ConfigEntry>,
) -> Vec<DriftItem> {
    settings
        .iter()
        .filter_map(|(key, desired)| {
            let kind = match entries.get(key) {
                None => DriftKind::Missing,
                Some(e) if e.value.as_deref().is_some_and(|v| same(v, desired)) => return None,
                Some(e) if e.readonly => DriftKind::ReadOnly,
                Some(_) => DriftKind::Differs,
            };
            Some(DriftItem {
                key: key.clone(),
                desired: desired.clone(),
                actual: entries.get(key).and_then(|e| e.value.clone()),
                kind,
            })
        })
        .collect()
}

fn same(actual: &str, desired: &str) -> bool {
    let norm = |s: &str| -> String {
        let joined: Vec<&str> = s.split(',').map(str::trim).collect();
        let joined = joined.join(",");
        if joined.eq_ignore_ascii_case("true") || joined.eq_ignore_ascii_case("false") {
            joined.to_ascii_lowercase()
        } else {
            joined
        }
    };
    actual == desired || norm(actual) == norm(desired)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(value: Option<&str>, readonly: bool) -> ConfigEntry {
        ConfigEntry {
            value: value.map(str::to_owned),
            readonly,
        }
    }

    #[test]
    fn diff_names_each_kind_and_skips_what_matches() {
        let settings: BTreeMap<String, String> = [
            ("Same", "1"),
            ("List", "a,b"),
            ("Bool", "true"),
            ("Other", "60"),
            ("Fixed", "x"),
            ("Absent", "1"),
            ("Secret", "k"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let entries: BTreeMap<String, ConfigEntry> = [
            ("Same", entry(Some("1"), false)),
            ("List", entry(Some("a, b"), false)),
            ("Bool", entry(Some("True"), true)),
            ("Other", entry(Some("300"), false)),
            ("Fixed", entry(Some("y"), true)),
            ("Secret", entry(None, false)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let d = diff(&settings, &entries);
        let kinds: Vec<(&str, DriftKind)> = d.iter().map(|i| (i.key.as_str(), i.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("Absent", DriftKind::Missing),
                ("Fixed", DriftKind::ReadOnly),
                ("Other", DriftKind::Differs),
                ("Secret", DriftKind::Differs),
            ]
        );
        assert_eq!(d[2].actual.as_deref(), Some("300"));
    }
}
