//! The inbound schema-validation policy. Real chargers have quirks (an over-long serial
//! number, a non-standard measurand); a CSMS that drops them is useless, so each station
//! can be validated strictly (CALLERROR, as the spec says) or leniently (accept, record).

use std::fmt;
use std::str::FromStr;

/// How a station's non-conforming CALL payloads are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValidationMode {
    /// Answer with the CALLERROR the violation maps to (the default).
    #[default]
    Strict,
    /// Accept and answer normally, recording the violation in the journal and on the station.
    Lenient,
}

impl ValidationMode {
    /// Every mode, for documentation (its name is its `Display`).
    pub const ALL: [ValidationMode; 2] = [ValidationMode::Strict, ValidationMode::Lenient];
}

impl FromStr for ValidationMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "strict" => Ok(Self::Strict),
            "lenient" => Ok(Self::Lenient),
            other => Err(format!(
                "unknown validation mode {other:?}; use \"strict\" or \"lenient\""
            )),
        }
    }
}

impl fmt::Display for ValidationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Strict => "strict",
            Self::Lenient => "lenient",
        })
    }
}
