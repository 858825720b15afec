//! OCPP protocol versions, their families, and WebSocket subprotocol negotiation
//! (OCPP-J §3.1.2 / §3.3).
//!
//! Code that behaves the same for every 2.x version asks for the [`Family`]; only what
//! really differs between 2.0.1 and 2.1 (a schema folder, a vocabulary) names a version.
//! Adding a 2.x version is then a new variant, its schemas and its new messages.

use std::fmt;

/// An OCPP version ocpulse speaks; chosen per connection by subprotocol negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtocolVersion {
    /// OCPP 1.6J, including the 1.6 Security Whitepaper messages.
    V16,
    /// OCPP 2.0.1.
    V201,
    /// OCPP 2.1: for the messages it shares with 2.0.1 it is answered as 2.0.1.
    V21,
}

/// A family of versions that share their message model: 1.6 (connectors, idTags) or 2.x
/// (EVSEs, TransactionEvent, device model). Most version-dependent behaviour is a family's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// OCPP 1.6J (with the security whitepaper).
    V16,
    /// OCPP 2.0.1 and 2.1.
    V2,
}

impl ProtocolVersion {
    /// Every supported version, in the server's order of preference (newest first).
    pub const ALL: [ProtocolVersion; 3] = [
        ProtocolVersion::V21,
        ProtocolVersion::V201,
        ProtocolVersion::V16,
    ];

    /// The family whose message model this version uses.
    pub const fn family(self) -> Family {
        match self {
            ProtocolVersion::V16 => Family::V16,
            ProtocolVersion::V201 | ProtocolVersion::V21 => Family::V2,
        }
    }

    /// Whether this is a 2.x version (EVSEs, 2.x error code spellings, identity rules).
    pub const fn is_v2(self) -> bool {
        matches!(self.family(), Family::V2)
    }

    /// The IANA-registered WebSocket subprotocol name.
    pub fn subprotocol(self) -> &'static str {
        match self {
            ProtocolVersion::V16 => "ocpp1.6",
            ProtocolVersion::V201 => "ocpp2.0.1",
            ProtocolVersion::V21 => "ocpp2.1",
        }
    }

    /// The version named by a subprotocol token, if ocpulse speaks it.
    pub fn from_subprotocol(token: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.subprotocol() == token.trim())
    }

    /// The version a person names, in the spellings ocpulse accepts everywhere (the API's
    /// selectors, every command's `--protocol`): the subprotocol (`ocpp1.6`, `ocpp2.0.1`,
    /// `ocpp2.1`) or the bare version (`1.6`, `2.0.1`, `2.1`); [`Self::NAMES`] lists them.
    /// One parser, so no two places disagree.
    pub fn parse_name(name: &str) -> Option<Self> {
        let name = name.trim();
        let version = name.strip_prefix("ocpp").unwrap_or(name);
        Self::ALL.into_iter().find(|v| v.number() == version)
    }

    /// Every spelling [`Self::parse_name`] accepts, oldest version first, subprotocols
    /// first (the API documents exactly these).
    pub const NAMES: [&'static str; 6] = ["ocpp1.6", "ocpp2.0.1", "ocpp2.1", "1.6", "2.0.1", "2.1"];

    /// The bare version number, e.g. `2.0.1`.
    pub fn number(self) -> &'static str {
        match self {
            ProtocolVersion::V16 => "1.6",
            ProtocolVersion::V201 => "2.0.1",
            ProtocolVersion::V21 => "2.1",
        }
    }

    /// The schema folder name under `schemas/ocpp/`.
    pub fn schema_dir(self) -> &'static str {
        match self {
            ProtocolVersion::V16 => "v16",
            ProtocolVersion::V201 => "v201",
            ProtocolVersion::V21 => "v21",
        }
    }

    /// The version whose schema folder is `dir`.
    pub fn from_schema_dir(dir: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.schema_dir() == dir)
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.subprotocol())
    }
}

/// Picks the version for a `Sec-WebSocket-Protocol` offer: the first token, in the
/// station's order of preference (OCPP-J 2.1 §3.1.2: the client lists the versions it
/// supports in order of preference), that ocpulse speaks. `None` means the handshake must
/// complete without the header and the socket then be closed (OCPP-J 1.6 §3.2).
pub fn negotiate(offer: &str) -> Option<ProtocolVersion> {
    offer.split(',').find_map(ProtocolVersion::from_subprotocol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_version_names_it() {
        for (names, version) in [
            (["1.6", "ocpp1.6", " 1.6 "], ProtocolVersion::V16),
            (["2.0.1", "ocpp2.0.1", "ocpp2.0.1 "], ProtocolVersion::V201),
            (["2.1", "ocpp2.1", "2.1"], ProtocolVersion::V21),
        ] {
            for name in names {
                assert_eq!(ProtocolVersion::parse_name(name), Some(version), "{name}");
            }
        }
        for name in ProtocolVersion::NAMES {
            assert!(ProtocolVersion::parse_name(name).is_some(), "{name}");
        }
        for bad in [
            "",
            "2.0",
            "ocpp",
            "1.5",
            "ocpp2",
            "16",
            "OCPP1.6",
            "ocppocpp1.6",
        ] {
            assert_eq!(ProtocolVersion::parse_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn negotiation_follows_the_stations_preference_order() {
        assert_eq!(
            negotiate("ocpp2.1, ocpp2.0.1, ocpp1.6"),
            Some(ProtocolVersion::V21)
        );
        assert_eq!(
            negotiate("ocpp2.0.1, ocpp2.1, ocpp1.6"),
            Some(ProtocolVersion::V201)
        );
        assert_eq!(negotiate("ocpp1.6,ocpp2.1"), Some(ProtocolVersion::V16));
        assert_eq!(negotiate("ocpp1.5, ocpp2.1"), Some(ProtocolVersion::V21));
        assert_eq!(negotiate(" ocpp1.6 "), Some(ProtocolVersion::V16));
    }

    #[test]
    fn negotiation_refuses_offers_without_a_supported_version() {
        assert_eq!(negotiate("ocpp1.5, ocpp2.0"), None);
        assert_eq!(negotiate(""), None);
        assert_eq!(
            negotiate("OCPP1.6"),
            None,
            "subprotocol tokens are case-sensitive"
        );
        assert_eq!(negotiate("ocpp2.1.0"), None);
    }

    #[test]
    fn every_version_round_trips_through_its_names_and_has_a_family() {
        for v in ProtocolVersion::ALL {
            assert_eq!(ProtocolVersion::from_subprotocol(v.subprotocol()), Some(v));
            assert_eq!(ProtocolVersion::from_schema_dir(v.schema_dir()), Some(v));
        }
        assert_eq!(ProtocolVersion::V16.family(), Family::V16);
        assert_eq!(ProtocolVersion::V201.family(), Family::V2);
        assert_eq!(ProtocolVersion::V21.family(), Family::V2);
    }
}
