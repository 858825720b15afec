//! OCPP protocol versions and WebSocket subprotocol negotiation (OCPP-J §3.1.2 / §3.3).

use std::fmt;

/// An OCPP version ocpulse speaks; chosen per connection by subprotocol negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtocolVersion {
    /// OCPP 1.6J, including the 1.6 Security Whitepaper messages.
    V16,
    /// OCPP 2.0.1.
    V201,
}

impl ProtocolVersion {
    /// Every supported version, in the server's order of preference.
    pub const ALL: [ProtocolVersion; 2] = [ProtocolVersion::V201, ProtocolVersion::V16];

    /// The IANA-registered WebSocket subprotocol name.
    pub fn subprotocol(self) -> &'static str {
        match self {
            ProtocolVersion::V16 => "ocpp1.6",
            ProtocolVersion::V201 => "ocpp2.0.1",
        }
    }

    /// The version named by a subprotocol token, if ocpulse speaks it.
    pub fn from_subprotocol(token: &str) -> Option<Self> {
        match token.trim() {
            "ocpp1.6" => Some(ProtocolVersion::V16),
            "ocpp2.0.1" => Some(ProtocolVersion::V201),
            _ => None,
        }
    }

    /// The schema folder name under `schemas/ocpp/`.
    pub fn schema_dir(self) -> &'static str {
        match self {
            ProtocolVersion::V16 => "v16",
            ProtocolVersion::V201 => "v201",
        }
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.subprotocol())
    }
}

/// Picks the version for a `Sec-WebSocket-Protocol` offer: the first token, in the
/// station's order of preference, that ocpulse speaks. `None` means the handshake must
/// complete without the header and the socket then be closed (OCPP-J 1.6 §3.2).
pub fn negotiate(offer: &str) -> Option<ProtocolVersion> {
    offer.split(',').find_map(ProtocolVersion::from_subprotocol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_the_stations_preference_order() {
        assert_eq!(
            negotiate("ocpp2.1, ocpp2.0.1, ocpp1.6"),
            Some(ProtocolVersion::V201)
        );
        assert_eq!(negotiate("ocpp1.6,ocpp2.0.1"), Some(ProtocolVersion::V16));
        assert_eq!(negotiate(" ocpp1.6 "), Some(ProtocolVersion::V16));
    }

    #[test]
    fn negotiation_refuses_offers_without_a_supported_version() {
        assert_eq!(negotiate("ocpp1.5, ocpp2.1"), None);
        assert_eq!(negotiate(""), None);
        assert_eq!(
            negotiate("OCPP1.6"),
            None,
            "subprotocol tokens are case-sensitive"
        );
    }
}
