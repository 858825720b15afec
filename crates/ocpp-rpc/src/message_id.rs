//! Message ids: at most 36 characters (OCPP-J `string[36]`, "to allow for GUIDs") and
//! unique per sender on a connection; in 2.x unique across connections of one identity.

/// The longest message id OCPP-J allows.
pub const MAX_LEN: usize = 36;

/// Makes CALL ids that never repeat: a random per-connection prefix (supplied by the
/// caller, so this stays deterministic in tests) and a counter.
#[derive(Debug, Clone)]
pub struct IdGenerator {
    prefix: String,
    counter: u64,
}

impl IdGenerator {
    /// A generator whose ids start with `prefix` (at most 12 alphanumerics, so ids stay within 36 chars).
    pub fn new(prefix: &str) -> Self {
        let prefix: String = prefix
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(12)
            .collect();
        Self { prefix, counter: 0 }
    }

    /// The next unused id.
    pub fn next_id(&mut self) -> String {
        self.counter += 1;
        format!("{}-{}", self.prefix, self.counter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_unique_and_within_36_characters() {
        let mut ids = IdGenerator::new("0123456789abcdef0123456789abcdef");
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = ids.next_id();
            assert!(id.len() <= MAX_LEN, "{id}");
            assert!(seen.insert(id));
        }
        let mut big = IdGenerator {
            prefix: "f".repeat(12),
            counter: u64::MAX - 1,
        };
        assert!(big.next_id().len() <= MAX_LEN);
    }
}
