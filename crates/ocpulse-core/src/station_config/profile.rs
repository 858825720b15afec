//! Desired configuration profiles: the settings an operator wants on every station a
//! selector picks, for one OCPP version (keys differ between 1.6 and 2.x).

use std::collections::BTreeMap;

use ocpp_rpc::{Family, ProtocolVersion};
use serde::{Deserialize, Serialize};

use super::key;
use crate::selector::Selector;
use crate::state::StationState;

/// Longest value a profile may set: 1.6 ChangeConfiguration's `value` limit (2.x allows
/// 1000, but one limit for both keeps a profile portable between them).
pub const MAX_VALUE_CHARS: usize = 500;

/// Most settings one profile may hold.
pub const MAX_SETTINGS: usize = 500;

/// A profile as stored and served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigProfile {
    /// Its id (the URL path segment).
    pub id: String,
    /// A name people recognise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `ocpp1.6` or `ocpp2.0.1` (2.0.1 profiles also apply to 2.1 stations).
    pub protocol: String,
    /// Which stations of that version it applies to.
    pub selector: Selector,
    /// Key → desired value.
    pub settings: BTreeMap<String, String>,
}

/// Why a profile was refused: the API's 400 code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileError {
    /// Stable code.
    pub code: &'static str,
    /// What is wrong and what would be right.
    pub message: String,
}

fn refuse<T>(code: &'static str, message: String) -> Result<T, ProfileError> {
    Err(ProfileError { code, message })
}

impl ConfigProfile {
    /// The version family the profile's keys belong to.
    pub fn family(&self) -> Option<Family> {
        ProtocolVersion::parse_name(&self.protocol).map(|v| v.family())
    }

    /// Checks what serde cannot.
    pub fn check(&self) -> Result<(), ProfileError> {
        let Some(family) = self.family() else {
            return refuse(
                "invalid_protocol",
                format!(
                    "protocol {:?} is not a version ocpulse speaks; use \"ocpp1.6\" or \"ocpp2.0.1\"",
                    self.protocol
                ),
            );
        };
        if let Err(e) = self.selector.check() {
            return refuse(e.code, e.message);
        }
        if self.settings.is_empty() {
            return refuse(
                "empty_settings",
                "settings must name at least one key and its desired value, e.g. {\"HeartbeatInterval\": \"300\"}".into(),
            );
        }
        if self.settings.len() > MAX_SETTINGS {
            return refuse(
                "too_many_settings",
                format!(
                    "a profile holds at most {MAX_SETTINGS} settings, got {}",
                    self.settings.len()
                ),
            );
        }
        for (k, v) in &self.settings {
            if k.is_empty() {
                return refuse("invalid_key", "a setting's key must not be empty".into());
            }
            if family != Family::V16
                && let Err(why) = key::parse(k)
            {
                return refuse(
                    "invalid_key",
                    format!("{why}; 2.x keys are Component.Variable"),
                );
            }
            if v.chars().count() > MAX_VALUE_CHARS {
                return refuse(
                    "value_too_long",
                    format!("the value of {k:?} has more than {MAX_VALUE_CHARS} characters"),
                );
            }
        }
        Ok(())
    }

    /// Whether the profile applies to this station: same version family, and selected.
    pub fn applies_to(&self, station: &StationState, connected: bool) -> bool {
        let family = station
            .protocol
            .as_deref()
            .and_then(ProtocolVersion::from_subprotocol)
            .map(ProtocolVersion::family);
        family.is_some() && family == self.family() && self.selector.selects(station, connected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(protocol: &str, settings: &[(&str, &str)]) -> ConfigProfile {
        ConfigProfile {
            id: "p".into(),
            name: None,
            protocol: protocol.into(),
            selector: Selector {
                all: true,
                ..Selector::default()
            },
            settings: settings
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn profiles_are_checked_per_version() {
        assert!(
            profile("ocpp1.6", &[("HeartbeatInterval", "300")])
                .check()
                .is_ok()
        );
        assert_eq!(
            profile("ocpp3", &[("A", "1")])
                .check()
                .expect_err("refused")
                .code,
            "invalid_protocol"
        );
        assert_eq!(
            profile("ocpp1.6", &[]).check().expect_err("refused").code,
            "empty_settings"
        );
        assert_eq!(
            profile("ocpp2.0.1", &[("HeartbeatInterval", "1")])
                .check()
                .expect_err("refused")
                .code,
            "invalid_key"
        );
        let long = "x".repeat(MAX_VALUE_CHARS + 1);
        assert_eq!(
            profile("ocpp1.6", &[("A", &long)])
                .check()
                .expect_err("refused")
                .code,
            "value_too_long"
        );
        let mut p = profile("ocpp1.6", &[("A", "1")]);
        p.selector = Selector::default();
        assert!(p.check().is_err(), "an empty selector is refused");
    }

    #[test]
    fn a_profile_applies_to_its_version_family_only() {
        let mut s = StationState::new("CP1");
        let p201 = profile("ocpp2.0.1", &[("A.B", "1")]);
        assert!(!p201.applies_to(&s, true), "no version known yet");
        s.protocol = Some("ocpp2.1".into());
        assert!(p201.applies_to(&s, true));
        s.protocol = Some("ocpp1.6".into());
        assert!(!p201.applies_to(&s, true));
    }
}
