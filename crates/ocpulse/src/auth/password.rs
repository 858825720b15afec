//! Station passwords (security profiles 1 and 2): generated, hashed with argon2id and
//! verified. Only the hash is stored (A01.FR.08); verifying is deliberately slow, so it runs
//! on the blocking pool, a few at a time, and a password that verified once is remembered
//! in memory as a keyed digest so a reconnecting fleet does not pay argon2 again.

use std::collections::HashMap;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use parking_lot::Mutex;
use ring::rand::{SecureRandom as _, SystemRandom};

/// Why a password operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The system's random source failed.
    #[error("no randomness available")]
    Random,
    /// argon2 refused its input.
    #[error("cannot hash the password: {0}")]
    Hash(String),
    /// The stored hash is not a PHC string argon2 reads.
    #[error("the stored password hash is unreadable: {0}")]
    Stored(String),
}

/// A fresh password: 20 random bytes as 40 hex digits, which is both a 1.6 AuthorizationKey
/// (16 to 20 bytes as up to 40 hex digits) and a 2.0.1 BasicAuthPassword (16 to 40
/// characters), so one generator serves both versions.
pub fn generate() -> Result<String, PasswordError> {
    let mut bytes = [0u8; 20];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PasswordError::Random)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Checks an operator-chosen password: 16 to 40 visible ASCII characters (2.0.1's
/// passwordString bounds; 1.6 stations need 32 to 40 hex digits, which this admits).
pub fn check_chosen(password: &str) -> Result<(), String> {
    let len = password.chars().count();
    if !(16..=40).contains(&len) {
        return Err(format!(
            "a station password has 16 to 40 characters (1.6 AuthorizationKey: 32 to 40 hex digits); this one has {len}"
        ));
    }
    if !password.chars().all(|c| c.is_ascii_graphic()) {
        return Err("a station password uses visible ASCII characters only".into());
    }
    Ok(())
}

/// Hashes a password to an argon2id PHC string with a random salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `stored` (constant time inside argon2).
pub fn verify(password: &str, stored: &str) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(stored).map_err(|e| PasswordError::Stored(e.to_string()))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

/// Passwords that verified, as HMAC-SHA256 under a key made at start (never stored), per
/// station and stored hash: a reconnect with the same password is a keyed digest and a
/// constant-time comparison instead of argon2. A changed hash (rotation) misses, so the old
/// password is checked against the new hash and fails.
pub struct VerifiedCache {
    key: ring::hmac::Key,
    entries: Mutex<HashMap<String, (String, ring::hmac::Tag)>>,
}

impl std::fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedCache").finish_non_exhaustive()
    }
}

impl VerifiedCache {
    /// An empty cache with a fresh key.
    pub fn new() -> Result<Self, PasswordError> {
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &SystemRandom::new())
            .map_err(|_| PasswordError::Random)?;
        Ok(Self {
            key,
            entries: Mutex::default(),
        })
    }

    /// Whether `password` verified against `stored` for `station` before.
    pub fn knows(&self, station: &str, stored: &str, password: &str) -> bool {
        let entries = self.entries.lock();
        entries.get(station).is_some_and(|(hash, tag)| {
            hash == stored
                && ring::hmac::verify(&self.key, password.as_bytes(), tag.as_ref()).is_ok()
        })
    }

    /// Remembers a password that verified.
    pub fn remember(&self, station: &str, stored: &str, password: &str) {
        let tag = ring::hmac::sign(&self.key, password.as_bytes());
        let mut entries = self.entries.lock();
        entries.insert(station.to_owned(), (stored.to_owned(), tag));
    }

    /// Forgets a station (its password changed or it was deleted).
    pub fn forget(&self, station: &str) {
        self.entries.lock().remove(station);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_password_is_40_hex_digits_and_verifies_against_its_hash() {
        let pw = generate().expect("random");
        assert_eq!(pw.len(), 40);
        assert!(pw.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(check_chosen(&pw).is_ok());
        let h = hash(&pw).expect("hash");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains(&pw));
        assert!(verify(&pw, &h).expect("readable"));
        assert!(!verify("0123456789abcdef0123", &h).expect("readable"));
        assert!(verify(&pw, "not a hash").is_err());
    }

    #[test]
    fn chosen_passwords_are_16_to_40_visible_characters() {
        assert!(check_chosen("short").is_err());
        assert!(check_chosen(&"a".repeat(41)).is_err());
        assert!(check_chosen("sixteen chars!!!").is_err(), "space");
        assert!(check_chosen("sixteen-chars-ok").is_ok());
    }

    #[test]
    fn the_cache_misses_after_the_hash_changes() {
        let cache = VerifiedCache::new().expect("key");
        cache.remember("CP1", "$h1", "secret-password-1");
        assert!(cache.knows("CP1", "$h1", "secret-password-1"));
        assert!(!cache.knows("CP1", "$h1", "secret-password-2"));
        assert!(!cache.knows("CP1", "$h2", "secret-password-1"));
        assert!(!cache.knows("CP2", "$h1", "secret-password-1"));
        cache.forget("CP1");
        assert!(!cache.knows("CP1", "$h1", "secret-password-1"));
    }
}
