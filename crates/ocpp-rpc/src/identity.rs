//! Charging-station identity rules (OCPP-J §3.1.1): the last URL path segment,
//! percent-decoded; in 2.x (2.0.1 and 2.1) an identifierString of at most 48 characters
//! without `:`.

use crate::version::ProtocolVersion;

/// Why an identity from the connection URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// An empty identity names no station.
    #[error("the station identity is empty")]
    Empty,
    /// 2.x limits identities to 48 characters.
    #[error("the station identity has {0} characters; OCPP 2.0.1 and 2.1 allow at most 48")]
    TooLong(usize),
    /// 2.x forbids `:` because it separates user and password in Basic auth.
    #[error(
        "the station identity contains ':', which OCPP 2.x forbids (it is the Basic-auth separator)"
    )]
    Colon,
    /// Control characters cannot be printed, logged or used in an API path safely.
    #[error("the station identity contains control characters")]
    Control,
}

/// Checks an already percent-decoded identity against the rules of `version`.
pub fn validate(identity: &str, version: ProtocolVersion) -> Result<(), IdentityError> {
    if identity.is_empty() {
        return Err(IdentityError::Empty);
    }
    if identity.chars().any(char::is_control) {
        return Err(IdentityError::Control);
    }
    if version.is_v2() {
        let len = identity.chars().count();
        if len > 48 {
            return Err(IdentityError::TooLong(len));
        }
        if identity.contains(':') {
            return Err(IdentityError::Colon);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v201_identity_is_limited_to_48_characters_without_colon() {
        assert!(validate(&"a".repeat(48), ProtocolVersion::V201).is_ok());
        assert!(
            validate(&"a".repeat(49), ProtocolVersion::V21).is_err(),
            "2.1 keeps the rule"
        );
        assert_eq!(
            validate(&"a".repeat(49), ProtocolVersion::V201),
            Err(IdentityError::TooLong(49))
        );
        assert_eq!(
            validate("RDAM:1", ProtocolVersion::V201),
            Err(IdentityError::Colon)
        );
    }

    #[test]
    fn v16_identity_has_no_length_limit_but_must_not_be_empty() {
        assert!(validate(&"a".repeat(200), ProtocolVersion::V16).is_ok());
        assert!(validate("RDAM 123", ProtocolVersion::V16).is_ok());
        assert_eq!(
            validate("", ProtocolVersion::V16),
            Err(IdentityError::Empty)
        );
        assert_eq!(
            validate("a\nb", ProtocolVersion::V16),
            Err(IdentityError::Control)
        );
    }
}
