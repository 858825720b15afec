//! Who may open a station connection: the station registry's records and the OCPP
//! security-profile rules (1.6 Security Whitepaper / 2.0.1 Part 2 §A, A00.FR.*), decided
//! from plain values. Hashing a password and reading a certificate happen at the edge;
//! this module says which check a connection needs and what its outcome means.

use serde::{Deserialize, Serialize};

use crate::Millis;

/// The `Doc` kind registrations are stored under.
pub const REGISTRATION_DOC: &str = "registration";

/// A registered station: who it is and how it must authenticate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    /// The identity in the connection URL (`/ocpp/{id}`).
    pub id: String,
    /// The lowest security profile it may connect with (0 = none, loopback only).
    pub security_profile: u8,
    /// A disabled station is refused at the handshake, credentials or not.
    pub enabled: bool,
    /// The operator's notes.
    #[serde(default)]
    pub notes: String,
    /// The argon2id hash (PHC string) of its Basic-auth password, for profiles 1 and 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// Registered by `--auto-register` rather than by an operator.
    #[serde(default)]
    pub auto_registered: bool,
    /// When it was registered.
    pub created_at: Millis,
    /// When the registration last changed.
    pub updated_at: Millis,
}

/// The highest OCPP security profile.
pub const MAX_PROFILE: u8 = 3;

/// What a connection presented at the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presented<'a> {
    /// The identity from the URL.
    pub identity: &'a str,
    /// The connection is TLS.
    pub tls: bool,
    /// The Basic-auth credentials, if an `Authorization: Basic` header was sent.
    pub basic: Option<(&'a str, &'a str)>,
    /// The common name of a client certificate the TLS layer verified, if any.
    pub certificate_cn: Option<&'a str>,
}

impl Presented<'_> {
    /// The profile this connection uses: 3 with a verified client certificate, 2 with
    /// Basic auth over TLS, 1 with Basic auth in the clear, 0 with nothing.
    pub fn profile(&self) -> u8 {
        match (
            self.tls,
            self.certificate_cn.is_some(),
            self.basic.is_some(),
        ) {
            (true, true, _) => 3,
            (true, false, true) => 2,
            (false, _, true) => 1,
            _ => 0,
        }
    }
}

/// Why a connection is refused before the upgrade. Each maps to an HTTP status and a
/// message; none reveals a password or whether a password was close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No registration with this identity, and auto-registration is off.
    #[error("station {0:?} is not registered")]
    Unknown(String),
    /// The registration is disabled.
    #[error("station {0:?} is disabled")]
    Disabled(String),
    /// Profile 1/2 needs `Authorization: Basic`.
    #[error("station {0:?} must authenticate with HTTP Basic auth (security profile {1})")]
    MissingCredentials(String, u8),
    /// The Basic-auth username must be the identity in the URL (A00.FR.202/203).
    #[error("the Basic-auth username must equal the station identity in the URL")]
    UsernameMismatch,
    /// Wrong password.
    #[error("wrong credentials for station {0:?}")]
    WrongCredentials(String),
    /// A lower profile than registered (A00.FR.002/005: no downgrade).
    #[error(
        "station {identity:?} is registered for security profile {registered}; a connection at profile {presented} is refused (no downgrade)"
    )]
    Downgrade {
        /// The station.
        identity: String,
        /// Its registered profile.
        registered: u8,
        /// The profile this connection uses.
        presented: u8,
    },
    /// A client certificate on a station not registered for profile 3.
    #[error(
        "station {0:?} presented a client certificate but is registered for profile {1}; register it for profile 3 first"
    )]
    NotRegisteredForCertificates(String, u8),
    /// The certificate's CN names another station (A00.FR.405).
    #[error("the client certificate's CN {cn:?} is not the station identity {identity:?}")]
    CertificateMismatch {
        /// The station.
        identity: String,
        /// The certificate's common name.
        cn: String,
    },
    /// Profile 0 (no credentials) is for loopback listeners only.
    #[error(
        "station {0:?} is registered without credentials (profile 0), which only a loopback listener accepts"
    )]
    NoCredentialsOffLoopback(String),
    /// Too many failed attempts from this address.
    #[error("too many failed connection attempts from this address; retry later")]
    RateLimited,
}

impl Refusal {
    /// The HTTP status of the refusal: 404 for an unknown identity, 429 when rate-limited,
    /// 403 for a disabled station, 401 for everything about credentials.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Unknown(_) => 404,
            Self::RateLimited => 429,
            Self::Disabled(_) => 403,
            _ => 401,
        }
    }

    /// A short machine-readable code, journaled with the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unknown(_) => "unknown_station",
            Self::Disabled(_) => "disabled",
            Self::MissingCredentials(..) => "missing_credentials",
            Self::UsernameMismatch => "username_mismatch",
            Self::WrongCredentials(_) => "wrong_credentials",
            Self::Downgrade { .. } => "downgrade",
            Self::NotRegisteredForCertificates(..) => "not_registered_for_profile_3",
            Self::CertificateMismatch { .. } => "certificate_mismatch",
            Self::NoCredentialsOffLoopback(_) => "no_credentials_off_loopback",
            Self::RateLimited => "rate_limited",
        }
    }

    /// Whether it counts as a failed authentication for the per-address rate limit.
    pub fn counts_as_failure(&self) -> bool {
        !matches!(self, Self::RateLimited)
    }
}

/// What the edge must do with a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Upgrade it.
    Admit,
    /// Unknown identity in auto-register mode: record a profile-0 registration, then
    /// upgrade.
    Register,
    /// Upgrade it if the Basic-auth password matches this hash.
    CheckPassword {
        /// The stored argon2id PHC string.
        hash: String,
        /// The password presented.
        password: String,
    },
    /// Refuse it.
    Refuse(Refusal),
}

/// Decides a connection from its registration and what it presented.
///
/// `auto_register` lets unknown identities in (loopback development mode only; the
/// configuration refuses it elsewhere), `loopback` says whether the listener is
/// loopback-only, so a profile-0 registration cannot be used from the network.
pub fn admit(
    registration: Option<&Registration>,
    presented: &Presented<'_>,
    auto_register: bool,
    loopback: bool,
) -> Admission {
    let identity = presented.identity;
    let Some(reg) = registration else {
        return if auto_register {
            Admission::Register
        } else {
            Admission::Refuse(Refusal::Unknown(identity.to_owned()))
        };
    };
    if !reg.enabled {
        return Admission::Refuse(Refusal::Disabled(identity.to_owned()));
    }
    let profile = presented.profile();
    if profile < reg.security_profile {
        if profile == 0 && presented.basic.is_none() && reg.security_profile < 3 {
            return Admission::Refuse(Refusal::MissingCredentials(
                identity.to_owned(),
                reg.security_profile,
            ));
        }
        return Admission::Refuse(Refusal::Downgrade {
            identity: identity.to_owned(),
            registered: reg.security_profile,
            presented: profile,
        });
    }
    if let Some(cn) = presented.certificate_cn
        && presented.tls
    {
        if reg.security_profile != MAX_PROFILE {
            return Admission::Refuse(Refusal::NotRegisteredForCertificates(
                identity.to_owned(),
                reg.security_profile,
            ));
        }
        if cn != identity {
            return Admission::Refuse(Refusal::CertificateMismatch {
                identity: identity.to_owned(),
                cn: cn.to_owned(),
            });
        }
        return Admission::Admit;
    }
    match (reg.security_profile, presented.basic) {
        // Profile 0 checks nothing (credentials a station sends anyway are ignored), so it
        // is for loopback only.
        (0, basic) if basic.is_none() || reg.password_hash.is_none() => {
            if loopback {
                Admission::Admit
            } else {
                Admission::Refuse(Refusal::NoCredentialsOffLoopback(identity.to_owned()))
            }
        }
        (_, Some((user, _))) if user != identity => Admission::Refuse(Refusal::UsernameMismatch),
        (_, Some((_, password))) => match &reg.password_hash {
            Some(hash) => Admission::CheckPassword {
                hash: hash.clone(),
                password: password.to_owned(),
            },
            // Registered with a profile but no password yet: nothing can match.
            None => Admission::Refuse(Refusal::WrongCredentials(identity.to_owned())),
        },
        (p, None) => Admission::Refuse(Refusal::MissingCredentials(identity.to_owned(), p)),
    }
}

/// The characters of an OCPP identity: 2.0.1's identifierString alphabet
/// (`a-z A-Z 0-9 * - _ = + | @ .`) without `:`, the Basic-auth separator (2.0.1 forbids it in
/// the identity; 1.6 stations cannot use it with Basic auth either).
pub fn identity_char_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '*' | '-' | '_' | '=' | '+' | '|' | '@' | '.')
}

/// The longest identity accepted (2.0.1's identifierString[48], for both versions: the
/// identity is in every journal row, so its length multiplies storage).
pub const MAX_IDENTITY_LEN: usize = 48;

/// Checks an identity for the registry and the handshake: 1 to 48 characters of the OCPP
/// identity alphabet. The error says what is wrong and what would be right.
pub fn check_identity(identity: &str) -> Result<(), String> {
    let len = identity.chars().count();
    if len == 0 || len > MAX_IDENTITY_LEN {
        return Err(format!(
            "a station identity has 1 to {MAX_IDENTITY_LEN} characters; this one has {len}"
        ));
    }
    if let Some(bad) = identity.chars().find(|c| !identity_char_allowed(*c)) {
        return Err(format!(
            "a station identity uses only a-z A-Z 0-9 and * - _ = + | @ . (OCPP identifierString, no ':'); {bad:?} is not allowed"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(profile: u8) -> Registration {
        Registration {
            id: "CP1".into(),
            security_profile: profile,
            enabled: true,
            notes: String::new(),
            password_hash: (profile > 0).then(|| "$argon2id$hash".into()),
            auto_registered: false,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn plain<'a>(basic: Option<(&'a str, &'a str)>) -> Presented<'a> {
        Presented {
            identity: "CP1",
            tls: false,
            basic,
            certificate_cn: None,
        }
    }

    #[test]
    fn unknown_identity_is_refused_unless_auto_registering() {
        let p = plain(None);
        assert_eq!(
            admit(None, &p, false, true),
            Admission::Refuse(Refusal::Unknown("CP1".into()))
        );
        assert_eq!(admit(None, &p, true, true), Admission::Register);
        assert_eq!(Refusal::Unknown("x".into()).http_status(), 404);
    }

    #[test]
    fn profile_1_needs_basic_auth_with_the_identity_as_username_a00_fr_202() {
        let r = reg(1);
        assert_eq!(
            admit(Some(&r), &plain(None), false, false),
            Admission::Refuse(Refusal::MissingCredentials("CP1".into(), 1))
        );
        assert_eq!(
            admit(Some(&r), &plain(Some(("CP2", "pw"))), false, false),
            Admission::Refuse(Refusal::UsernameMismatch)
        );
        assert_eq!(
            admit(Some(&r), &plain(Some(("CP1", "pw"))), false, false),
            Admission::CheckPassword {
                hash: "$argon2id$hash".into(),
                password: "pw".into()
            }
        );
    }

    #[test]
    fn a_lower_profile_than_registered_is_a_downgrade_a00_fr_002() {
        let r = reg(2);
        assert_eq!(
            admit(Some(&r), &plain(Some(("CP1", "pw"))), false, false),
            Admission::Refuse(Refusal::Downgrade {
                identity: "CP1".into(),
                registered: 2,
                presented: 1
            })
        );
        let r3 = reg(3);
        let tls_basic = Presented {
            tls: true,
            ..plain(Some(("CP1", "pw")))
        };
        assert!(matches!(
            admit(Some(&r3), &tls_basic, false, false),
            Admission::Refuse(Refusal::Downgrade {
                registered: 3,
                presented: 2,
                ..
            })
        ));
    }

    #[test]
    fn profile_3_needs_a_certificate_whose_cn_is_the_identity_a00_fr_405() {
        let r = reg(3);
        let cert = |cn| Presented {
            identity: "CP1",
            tls: true,
            basic: None,
            certificate_cn: Some(cn),
        };
        assert_eq!(
            admit(Some(&r), &cert("CP1"), false, false),
            Admission::Admit
        );
        assert!(matches!(
            admit(Some(&r), &cert("CP2"), false, false),
            Admission::Refuse(Refusal::CertificateMismatch { .. })
        ));
        assert!(matches!(
            admit(Some(&reg(2)), &cert("CP1"), false, false),
            Admission::Refuse(Refusal::NotRegisteredForCertificates(_, 2))
        ));
    }

    #[test]
    fn profile_0_is_admitted_only_on_loopback() {
        let r = reg(0);
        assert_eq!(admit(Some(&r), &plain(None), false, true), Admission::Admit);
        assert_eq!(
            admit(Some(&r), &plain(Some(("CP1", "any"))), false, true),
            Admission::Admit
        );
        assert!(matches!(
            admit(Some(&r), &plain(None), false, false),
            Admission::Refuse(Refusal::NoCredentialsOffLoopback(_))
        ));
    }

    #[test]
    fn a_disabled_station_is_refused_whatever_it_presents() {
        let mut r = reg(1);
        r.enabled = false;
        assert_eq!(
            admit(Some(&r), &plain(Some(("CP1", "pw"))), true, true),
            Admission::Refuse(Refusal::Disabled("CP1".into()))
        );
    }

    #[test]
    fn identities_are_48_characters_of_the_ocpp_alphabet() {
        assert!(check_identity("CP-0001_a.b@c").is_ok());
        assert!(check_identity(&"a".repeat(48)).is_ok());
        assert!(check_identity(&"a".repeat(49)).is_err());
        assert!(check_identity("").is_err());
        assert!(check_identity("CP:1").is_err());
        assert!(check_identity("CP 1").is_err());
        assert!(check_identity("CP/1").is_err());
    }

    #[test]
    fn the_connection_profile_follows_from_transport_and_credentials() {
        assert_eq!(plain(None).profile(), 0);
        assert_eq!(plain(Some(("CP1", "x"))).profile(), 1);
        let tls = Presented {
            tls: true,
            ..plain(Some(("CP1", "x")))
        };
        assert_eq!(tls.profile(), 2);
        let cert = Presented {
            certificate_cn: Some("CP1"),
            ..tls
        };
        assert_eq!(cert.profile(), 3);
    }
}
