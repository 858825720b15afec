//! Webhook deliveries: one POST per alert change and webhook, retried with exponential
//! backoff, every attempt logged in the delivery's document.
//!
//! A delivery is stored as `pending` in the same commit as the alert change that caused
//! it, and rewritten after every attempt, so a process that stops mid-way resumes it at
//! the next start (a receiver may then see the same `deliveryId` twice: deliveries are at
//! least once, and receivers deduplicate by that id).
//!
//! Every attempt goes through the address policy (`target`): a target that is (or
//! resolves only to) a refused address gets no traffic at all, and the delivery ends at
//! once as failed, "refused by policy". The log never tells how a connection failed
//! (refused, reset, unreachable, timed out): that difference is what makes a webhook a
//! port scanner, so all of them read "could not connect".

use std::sync::Arc;
use std::time::{Duration, Instant};

use ocpulse_core::alert_rules::Alert;
use ocpulse_core::store::WriteBatch;
use ocpulse_core::{Doc, Millis, rfc3339};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::target::{RefusedByPolicy, literal_refusal};
use super::webhooks::{Webhook, signature};
use crate::app::App;
use crate::now_ms;

/// Document kind of deliveries.
pub const DOC: &str = "delivery";

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeliveryStatus {
    /// Not delivered yet; attempts remain.
    Pending,
    /// A 2xx answer came back.
    Delivered,
    /// Every attempt failed (or the webhook was deleted).
    Failed,
}

/// One POST and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// When it was sent (RFC 3339).
    pub at: String,
    /// The receiver's HTTP status, if it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Why it did not count as delivered: refused by policy, could not connect, a TLS
    /// certificate that is not trusted, or a non-2xx status (a 3xx included: redirects
    /// are not followed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
}

/// One alert change on its way to one webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Its id (time-ordered), sent as `X-Ocpulse-Delivery` and `deliveryId`.
    pub id: String,
    /// The webhook.
    pub webhook_id: String,
    /// `AlertRaised`, `AlertAcknowledged` or `AlertResolved`.
    pub event: String,
    /// The alert.
    pub alert_id: String,
    /// The alert as it was when the event happened (what is sent).
    pub alert: Value,
    /// Where it is.
    pub status: DeliveryStatus,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Every attempt so far.
    pub attempts: Vec<Attempt>,
    /// When it ended (delivered or failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// Why it ended without attempts left (e.g. the webhook was deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Delivery {
    /// A pending delivery of `event` about `alert`.
    pub fn new(id: String, webhook_id: &str, event: &str, alert: &Alert, now: Millis) -> Self {
        Self {
            id,
            webhook_id: webhook_id.to_owned(),
            event: event.to_owned(),
            alert_id: alert.id.clone(),
            alert: json!(alert),
            status: DeliveryStatus::Pending,
            created_at: rfc3339(now),
            attempts: Vec::new(),
            completed_at: None,
            note: None,
        }
    }
}

/// The wait before attempt `n` (0-based): none for the first, then base, 2×base, 4×base...
fn backoff(base: Duration, n: usize) -> Duration {
    if n == 0 {
        return Duration::ZERO;
    }
    let exp = u32::try_from(n - 1).unwrap_or(u32::MAX).min(16);
    base.saturating_mul(1 << exp)
}

/// Delivers until a 2xx answer, the last attempt, or shutdown (then it stays pending and
/// the next start resumes it).
pub async fn run(app: Arc<App>, mut d: Delivery) {
    let max = usize::try_from(app.config.webhook_attempts.max(1)).unwrap_or(1);
    while d.status == DeliveryStatus::Pending {
        if d.attempts.len() >= max {
            finish(&mut d, DeliveryStatus::Failed, None);
            break;
        }
        let wait = backoff(app.config.webhook_retry_base, d.attempts.len());
        tokio::select! {
            () = app.shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        let Some(hook) = app
            .alerts
            .webhook_list()
            .into_iter()
            .find(|h| h.id == d.webhook_id)
        else {
            finish(
                &mut d,
                DeliveryStatus::Failed,
                Some("the webhook was deleted".into()),
            );
            break;
        };
        let attempt = tokio::select! {
            () = app.shutdown.cancelled() => return,
            a = attempt(&app, &hook, &d) => a,
        };
        let (attempt, refused) = attempt;
        let delivered = attempt.error.is_none();
        tracing::debug!(delivery = %d.id, webhook = %hook.id, status = ?attempt.status_code, error = ?attempt.error, "webhook attempt");
        d.attempts.push(attempt);
        if delivered {
            finish(&mut d, DeliveryStatus::Delivered, None);
        } else if refused {
            // Not retried: the policy will refuse the next attempt as well.
            tracing::warn!(delivery = %d.id, webhook = %hook.id, "webhook target refused by the address policy");
            finish(&mut d, DeliveryStatus::Failed, Some(REFUSED.into()));
        } else if d.attempts.len() >= max {
            tracing::warn!(delivery = %d.id, webhook = %hook.id, attempts = d.attempts.len(), "webhook delivery failed");
            finish(&mut d, DeliveryStatus::Failed, None);
        }
        store(&app, &d).await;
        if d.status != DeliveryStatus::Pending {
            return count(&app, &d);
        }
    }
    store(&app, &d).await;
    count(&app, &d);
}

/// Counts a finished delivery in `ocpulse_webhook_deliveries_total`.
fn count(app: &App, d: &Delivery) {
    let result = match d.status {
        DeliveryStatus::Delivered => "delivered",
        DeliveryStatus::Failed => "failed",
        DeliveryStatus::Pending => return,
    };
    app.metrics.webhook_delivery(result);
}

fn finish(d: &mut Delivery, status: DeliveryStatus, note: Option<String>) {
    d.status = status;
    d.completed_at = Some(rfc3339(now_ms()));
    d.note = note;
}

async fn store(app: &App, d: &Delivery) {
    let written = match Doc::put(DOC, &d.id, d) {
        Ok(doc) => {
            app.store
                .commit(WriteBatch {
                    docs: vec![doc],
                    ..WriteBatch::default()
                })
                .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        tracing::error!(delivery = %d.id, error = %e, "could not store a webhook delivery");
    }
}

/// The log's text for a target the address policy refuses.
const REFUSED: &str = "refused by policy: the webhook's address is not one deliveries may reach (public addresses and the operator's --webhook-allow ranges)";

/// The log's text for any failure to connect.
const NO_CONNECTION: &str = "could not connect to the receiver (or got no answer in time)";

/// Whether the error chain holds `RefusedByPolicy` (the resolver's refusal).
fn refused_by_policy(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err.is::<RefusedByPolicy>() {
            return true;
        }
        next = err.source();
    }
    false
}

/// Whether the error chain says the receiver's TLS certificate is not trusted. Told apart
/// from other connection failures because the operator can fix it (`--webhook-ca`); it
/// only ever concerns an address the policy allowed. rustls's error is matched by type
/// where the chain exposes it, and by its text ("invalid peer certificate") where it is
/// wrapped past `source()` (an `io::Error` hides its inner error from the chain).
fn untrusted_certificate(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        let tls = err.downcast_ref::<rustls::Error>().or_else(|| {
            err.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(tls) = tls {
            return matches!(tls, rustls::Error::InvalidCertificate(_));
        }
        if err.to_string().contains("invalid peer certificate") {
            return true;
        }
        next = err.source();
    }
    false
}

/// One signed POST, and whether the policy refused its target (nothing was sent then).
async fn attempt(app: &App, hook: &Webhook, d: &Delivery) -> (Attempt, bool) {
    let now = now_ms();
    let refused = |now| {
        (
            Attempt {
                at: rfc3339(now),
                status_code: None,
                error: Some(REFUSED.into()),
                duration_ms: 0,
            },
            true,
        )
    };
    // An IP-literal host never reaches the resolver that applies the policy: check it here.
    match reqwest::Url::parse(&hook.url) {
        Ok(url) if literal_refusal(&url, &app.alerts.policy).is_none() => {}
        _ => return refused(now),
    }
    let timestamp = now.div_euclid(1000);
    let body = json!({
        "event": d.event,
        "alert": d.alert,
        "deliveryId": d.id,
        "sentAt": rfc3339(now),
    })
    .to_string();
    let started = Instant::now();
    let result = app
        .alerts
        .http
        .post(&hook.url)
        .timeout(app.config.webhook_timeout)
        .header("content-type", "application/json")
        .header("user-agent", concat!("ocpulse/", env!("CARGO_PKG_VERSION")))
        .header("x-ocpulse-event", &d.event)
        .header("x-ocpulse-delivery", &d.id)
        .header("x-ocpulse-timestamp", timestamp.to_string())
        .header(
            "x-ocpulse-signature",
            signature(&hook.secret, timestamp, body.as_bytes()),
        )
        .body(body)
        .send()
        .await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (status_code, error) = match result {
        Ok(response) => {
            let code = response.status();
            let error = if code.is_redirection() {
                Some(format!(
                    "the receiver answered HTTP {code}; redirects are not followed, give the final URL"
                ))
            } else {
                (!code.is_success()).then(|| format!("the receiver answered HTTP {code}"))
            };
            (Some(code.as_u16()), error)
        }
        Err(e) if refused_by_policy(&e) => return refused(now),
        Err(e) if untrusted_certificate(&e) => (
            None,
            Some(format!(
                "{NO_CONNECTION}: its TLS certificate is not trusted (a private CA can be trusted with --webhook-ca)"
            )),
        ),
        Err(_) => (None, Some(NO_CONNECTION.into())),
    };
    (
        Attempt {
            at: rfc3339(now),
            status_code,
            error,
            duration_ms,
        },
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base() {
        let base = Duration::from_millis(500);
        let waits: Vec<u128> = (0..6).map(|n| backoff(base, n).as_millis()).collect();
        assert_eq!(waits, [0, 500, 1000, 2000, 4000, 8000]);
        assert!(backoff(base, 1000) >= backoff(base, 17));
    }
}
