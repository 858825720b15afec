//! Webhooks: where alert changes are POSTed, and how receivers check they came from us.
//!
//! Each delivery is signed: `X-Ocpulse-Signature: sha256=<hex>` where `<hex>` is the
//! HMAC-SHA256, keyed with the webhook's secret, of the string
//! `"<X-Ocpulse-Timestamp>.<raw request body>"` (the timestamp in Unix seconds, a dot, the
//! body bytes exactly as sent). Binding the timestamp lets a receiver refuse old replays.

use serde::{Deserialize, Serialize};

use ocpulse_core::alert_rules::ALERT_EVENTS;

/// Document kind of webhooks.
pub const DOC: &str = "webhook";

/// The shortest secret accepted: an HMAC key people cannot guess.
pub const MIN_SECRET: usize = 16;

/// A registered webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    /// Its id (time-ordered).
    pub id: String,
    /// Where deliveries are POSTed (http).
    pub url: String,
    /// The HMAC key; stored, never shown again after creation.
    pub secret: String,
    /// Only these events (`AlertRaised`, ...); every alert event when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    /// When it was registered (RFC 3339).
    pub created_at: String,
}

/// What a caller asks for when registering a webhook (the API reads it from its body).
#[derive(Debug, Clone)]
pub struct WebhookSpec {
    /// Where to POST.
    pub url: String,
    /// The HMAC key.
    pub secret: String,
    /// Only these events.
    pub events: Option<Vec<String>>,
}

impl WebhookSpec {
    /// Checks the body; the message says what is wrong and what would be right.
    pub fn validate(&self) -> Result<(), String> {
        let url = reqwest::Url::parse(&self.url).map_err(|e| {
            format!(
                "url {:?} is not a valid URL ({e}); use e.g. http://receiver.example:8080/hooks/ocpulse",
                self.url
            )
        })?;
        match url.scheme() {
            "http" | "https" => {}
            other => {
                return Err(format!(
                    "url scheme {other:?} is not supported; webhooks are delivered over http or https"
                ));
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("url {:?} has no host", self.url));
        }
        if self.secret.chars().count() < MIN_SECRET {
            return Err(format!(
                "secret must be at least {MIN_SECRET} characters (it keys the HMAC-SHA256 signature of every delivery)"
            ));
        }
        if let Some(events) = &self.events {
            if events.is_empty() {
                return Err(format!(
                    "events must name at least one of {} (leave it out for all)",
                    ALERT_EVENTS.join(", ")
                ));
            }
            if let Some(bad) = events.iter().find(|e| !ALERT_EVENTS.contains(&e.as_str())) {
                return Err(format!(
                    "events: {bad:?} is not an alert event; use {}",
                    ALERT_EVENTS.join(", ")
                ));
            }
        }
        Ok(())
    }
}

impl Webhook {
    /// Whether deliveries of this event go to it.
    pub fn wants(&self, event: &str) -> bool {
        self.events
            .as_ref()
            .is_none_or(|list| list.iter().any(|e| e == event))
    }

    /// `…` and the secret's last 4 characters: enough to tell secrets apart, never the secret.
    pub fn secret_hint(&self) -> String {
        let chars: Vec<char> = self.secret.chars().collect();
        let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
        format!("…{tail}")
    }
}

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`: the signature header value.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("sha256={}", hex(ctx.sign().as_ref()))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_rfc_4231_and_signs_timestamp_dot_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"Jefe");
        assert_eq!(
            hex(ring::hmac::sign(&key, b"what do ya want for nothing?").as_ref()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"s3cret-s3cret-s3cret");
        let direct = hex(ring::hmac::sign(&key, b"1700000000.{\"a\":1}").as_ref());
        assert_eq!(
            signature("s3cret-s3cret-s3cret", 1_700_000_000, b"{\"a\":1}"),
            format!("sha256={direct}")
        );
    }

    #[test]
    fn specs_are_checked() {
        let spec = |url: &str, secret: &str, events: Option<Vec<&str>>| WebhookSpec {
            url: url.into(),
            secret: secret.into(),
            events: events.map(|e| e.into_iter().map(Into::into).collect()),
        };
        let secret = "0123456789abcdef";
        assert!(
            spec("http://127.0.0.1:9/x", secret, None)
                .validate()
                .is_ok()
        );
        assert!(spec("ftp://h/x", secret, None).validate().is_err());
        assert!(spec("not a url", secret, None).validate().is_err());
        assert!(spec("http://h/x", "short", None).validate().is_err());
        assert!(spec("http://h/x", secret, Some(vec![])).validate().is_err());
        assert!(
            spec("http://h/x", secret, Some(vec!["AlertRaised", "Nope"]))
                .validate()
                .is_err()
        );
        let hook = Webhook {
            id: "w".into(),
            url: "http://h/x".into(),
            secret: secret.into(),
            events: Some(vec!["AlertResolved".into()]),
            created_at: String::new(),
        };
        assert!(hook.wants("AlertResolved") && !hook.wants("AlertRaised"));
        assert_eq!(hook.secret_hint(), "…cdef");
    }
}
