//! Station authentication at the WebSocket handshake: the registry, the security-profile
//! decision (`ocpulse_core::admission`), password verification and the per-address limit
//! on failures. Everything here runs before the upgrade, so a refused connection never
//! reaches a session and creates no station.

pub mod password;
pub mod registrations;

use std::net::SocketAddr;
use std::sync::Arc;

use ocpulse_core::admission::{self, Admission, Presented, Refusal, Registration};
use ocpulse_core::auth_limiter::AuthLimiter;
use ocpulse_core::journal::CONNECTION_REFUSED;
use ocpulse_core::{Direction, JournalEntry, Store};
use parking_lot::Mutex;
use tokio::sync::Semaphore;

pub use registrations::Registrations;

/// What the transport learned about a connection before any request: handed to the
/// handshake as a request extension by the listener.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The remote address.
    pub remote: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The common name of the client certificate the TLS layer verified (profile 3).
    pub certificate_cn: Option<String>,
}

/// The station-facing gate: who may connect.
#[derive(Debug)]
pub struct Gate {
    /// The registry.
    pub registrations: Registrations,
    /// Passwords that verified before.
    pub verified: password::VerifiedCache,
    limiter: Mutex<AuthLimiter>,
    /// argon2 runs are memory- and CPU-heavy: at most this many at once.
    hashing: Arc<Semaphore>,
    auto_register: bool,
    loopback: bool,
}

impl Gate {
    /// A gate over `registrations` with the server's policy.
    pub fn new(
        registrations: Registrations,
        auto_register: bool,
        loopback: bool,
        failures_per_minute: u32,
    ) -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Self {
            registrations,
            verified: password::VerifiedCache::new()?,
            limiter: Mutex::new(AuthLimiter::new(failures_per_minute)),
            hashing: Arc::new(Semaphore::new(cores)),
            auto_register,
            loopback,
        })
    }

    /// Decides a connection of `identity` (already checked against the identity rules)
    /// from what it presented. Auto-registers an unknown identity when the policy allows.
    pub async fn admit(
        &self,
        store: &dyn Store,
        identity: &str,
        peer: &Peer,
        basic: Option<(String, String)>,
        now: ocpulse_core::Millis,
    ) -> Result<(), Refusal> {
        let ip = peer.remote.ip();
        if self.limiter.lock().blocked(ip, now) {
            return Err(Refusal::RateLimited);
        }
        let presented = Presented {
            identity,
            tls: peer.tls,
            basic: basic.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
            certificate_cn: peer.certificate_cn.as_deref(),
        };
        let registration = self.registrations.get(identity);
        let result = match admission::admit(
            registration.as_ref(),
            &presented,
            self.auto_register,
            self.loopback,
        ) {
            Admission::Admit => Ok(()),
            Admission::Register => {
                self.registrations.put_unawaited(
                    store,
                    Registration {
                        id: identity.to_owned(),
                        security_profile: 0,
                        enabled: true,
                        notes: String::new(),
                        password_hash: None,
                        auto_registered: true,
                        created_at: now,
                        updated_at: now,
                    },
                );
                Ok(())
            }
            Admission::CheckPassword { hash, password } => {
                if self.check_password(identity, &hash, &password).await {
                    Ok(())
                } else {
                    Err(Refusal::WrongCredentials(identity.to_owned()))
                }
            }
            Admission::Refuse(refusal) => Err(refusal),
        };
        if let Err(refusal) = &result
            && refusal.counts_as_failure()
        {
            self.limiter.lock().failed(ip, now);
            self.registrations.count_refusal(identity);
        }
        result
    }

    async fn check_password(&self, identity: &str, hash: &str, password: &str) -> bool {
        if self.verified.knows(identity, hash, password) {
            return true;
        }
        let Ok(_permit) = Arc::clone(&self.hashing).acquire_owned().await else {
            return false;
        };
        let (h, p) = (hash.to_owned(), password.to_owned());
        let ok = tokio::task::spawn_blocking(move || password::verify(&p, &h))
            .await
            .ok()
            .and_then(|r| {
                r.inspect_err(|e| tracing::error!(station = %identity, error = %e, "cannot verify a station password"))
                    .ok()
            })
            .unwrap_or(false);
        if ok {
            self.verified.remember(identity, hash, password);
        }
        ok
    }
}

/// The journal entry of a refused connection (not awaited by anyone: nothing is promised
/// to the refused peer).
pub fn refusal_entry(
    identity: &str,
    refusal: &Refusal,
    peer: &Peer,
    profile: u8,
    at: ocpulse_core::Millis,
) -> JournalEntry {
    JournalEntry {
        seq: 0,
        station_id: identity.to_owned(),
        direction: Direction::In,
        frame_type: ocpulse_core::journal::EVENT,
        message_id: None,
        action: Some(CONNECTION_REFUSED.to_owned()),
        payload: serde_json::json!({
            "code": refusal.code(),
            "reason": refusal.to_string(),
            "remote": peer.remote.to_string(),
            "profile": profile,
        })
        .to_string(),
        at,
        violation: None,
        trigger_id: None,
    }
}

/// A copy of a CALL payload with its secret values replaced: the `value` of a 1.6
/// ChangeConfiguration and every `attributeValue` of a 2.0.1 SetVariables, so a new
/// password sent to a station is never journaled.
pub fn redacted(payload: &serde_json::Value) -> serde_json::Value {
    let mut copy = payload.clone();
    if let Some(v) = copy.get_mut("value") {
        *v = serde_json::Value::from("<redacted>");
    }
    if let Some(items) = copy
        .get_mut("setVariableData")
        .and_then(serde_json::Value::as_array_mut)
    {
        for item in items {
            if let Some(v) = item.get_mut("attributeValue") {
                *v = serde_json::Value::from("<redacted>");
            }
        }
    }
    copy
}

/// Reads `Authorization: Basic base64(user:password)`. Anything else (no header, another
/// scheme, undecodable) is no credentials.
pub fn basic_credentials(headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_read_from_the_authorization_header() {
        let mut h = axum::http::HeaderMap::new();
        assert_eq!(basic_credentials(&h), None);
        // base64("CP1:secret:with:colons")
        h.insert(
            axum::http::header::AUTHORIZATION,
            "Basic Q1AxOnNlY3JldDp3aXRoOmNvbG9ucw=="
                .parse()
                .expect("header"),
        );
        assert_eq!(
            basic_credentials(&h),
            Some(("CP1".into(), "secret:with:colons".into()))
        );
        h.insert(
            axum::http::header::AUTHORIZATION,
            "Bearer abc".parse().expect("header"),
        );
        assert_eq!(basic_credentials(&h), None);
    }
}
