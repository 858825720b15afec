//! Alerts: the I/O shell around the sans-IO rule engine (`ocpulse_core::alert_rules`).
//!
//! A background task (`engine`) reads the journal as it grows, exactly like the event
//! stream does, and a 1 s tick for time-based rules; the engine's decisions become alert
//! documents and `AlertRaised` / `AlertAcknowledged` / `AlertResolved` journal entries,
//! committed together, so every alert change is on the event stream. Each change also
//! queues webhook deliveries (`webhooks`, `delivery`), stored as pending in the same
//! commit so a restart retries what was in flight.

pub mod address_policy;
pub mod delivery;
pub mod engine;
pub mod target;
pub mod webhooks;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ocpulse_core::alert_rules::{
    ALERT_ACKNOWLEDGED, ALERT_RAISED, ALERT_RESOLVED, AckError, Alert, AlertEngine, AlertKey,
    AlertRule, Decision,
};
use ocpulse_core::journal::EVENT;
use ocpulse_core::store::{StoreError, WriteBatch};
use ocpulse_core::{Direction, Doc, JournalEntry, Millis};
use parking_lot::RwLock;
use serde_json::json;

use crate::app::App;
use crate::now_ms;
use delivery::{Delivery, DeliveryStatus};
use webhooks::Webhook;

/// Document kind of alert rules.
pub const RULE_DOC: &str = "alertRule";
/// Document kind of alerts.
pub const ALERT_DOC: &str = "alert";

/// A new time-ordered id (UUID v7), so documents list by age.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// The rules, the alerts and which alert is active for each key. Behind one async lock:
/// alert changes are rare, and one writer at a time keeps the engine's view, the stored
/// documents and the journal in the same order.
#[derive(Debug, Default)]
pub struct AlertState {
    /// The rule engine (it also holds the rules).
    pub engine: AlertEngine,
    /// Every alert, by id (time-ordered).
    pub alerts: BTreeMap<String, Alert>,
    /// The active (not resolved) alert of each key.
    pub active: HashMap<AlertKey, String>,
}

/// Alerting's shared state, part of `App`.
pub struct Alerts {
    /// Rules, alerts, engine.
    pub state: tokio::sync::Mutex<AlertState>,
    /// The registered webhooks.
    pub webhooks: RwLock<Vec<Webhook>>,
    /// The HTTP client deliveries use (one connection pool; resolves through the policy).
    pub http: reqwest::Client,
    /// Which addresses webhooks may reach (checked at registration and delivery).
    pub policy: Arc<address_policy::AddressPolicy>,
    /// Signalled when rules are added or removed, so the engine task starts or stops
    /// following the journal.
    pub rules_changed: tokio::sync::Notify,
}

/// The HTTP client webhook deliveries use: http and https, trusting the OS certificate store
/// plus `extra_ca` (PEM, one or more certificates) for receivers behind a private CA.
///
/// It resolves host names through `target::GuardedResolver` (only addresses `policy`
/// allows are ever connected to), follows no redirect (a 3xx is a failed attempt: a
/// redirect would lead past the address check) and ignores proxy environment variables
/// (a proxy would resolve and connect on our behalf, past the check too).
pub fn http_client(
    extra_ca: Option<&std::path::Path>,
    policy: &Arc<address_policy::AddressPolicy>,
) -> anyhow::Result<reqwest::Client> {
    crate::install_tls_provider();
    let mut builder = reqwest::Client::builder()
        .dns_resolver(Arc::new(target::GuardedResolver::new(Arc::clone(policy))))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    if let Some(path) = extra_ca {
        let pem = std::fs::read(path).map_err(|e| {
            anyhow::anyhow!("cannot read the webhook CA file {}: {e}", path.display())
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            anyhow::anyhow!(
                "the webhook CA file {} is not PEM certificates: {e}",
                path.display()
            )
        })?;
        if certs.is_empty() {
            anyhow::bail!(
                "the webhook CA file {} holds no certificate",
                path.display()
            );
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the webhook HTTP client: {e}"))
}

impl Alerts {
    /// Empty until `start` loads what is stored; deliveries go through `http`, which
    /// must resolve through `policy` (`http_client` builds it so).
    pub fn new(http: reqwest::Client, policy: Arc<address_policy::AddressPolicy>) -> Self {
        Self {
            state: tokio::sync::Mutex::default(),
            webhooks: RwLock::default(),
            http,
            policy,
            rules_changed: tokio::sync::Notify::new(),
        }
    }

    /// The webhooks now registered.
    pub fn webhook_list(&self) -> Vec<Webhook> {
        self.webhooks.read().clone()
    }
}

fn parse_docs<T: serde::de::DeserializeOwned>(kind: &str, docs: Vec<(String, String)>) -> Vec<T> {
    docs.into_iter()
        .filter_map(|(id, body)| match serde_json::from_str(&body) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(kind, id, error = %e, "skipping an unreadable stored document");
                None
            }
        })
        .collect()
}

/// Loads rules, alerts and webhooks, then starts the engine task and resumes the
/// deliveries a previous run left pending. Called before the server accepts connections,
/// so with rules stored the engine sees every entry from the first station on.
pub async fn start(app: &Arc<App>) -> anyhow::Result<()> {
    let store = &app.store;
    let rules: Vec<AlertRule> = parse_docs(RULE_DOC, store.docs(RULE_DOC).await?);
    let alerts: Vec<Alert> = parse_docs(ALERT_DOC, store.docs(ALERT_DOC).await?);
    let hooks: Vec<Webhook> = parse_docs(webhooks::DOC, store.docs(webhooks::DOC).await?);
    let pending: Vec<Delivery> = parse_docs(delivery::DOC, store.docs(delivery::DOC).await?);
    let active: HashMap<AlertKey, String> = alerts
        .iter()
        .filter(|a| a.is_active())
        .map(|a| (a.key(), a.id.clone()))
        .collect();
    tracing::info!(
        rules = rules.len(),
        active = active.len(),
        webhooks = hooks.len(),
        "alerting loaded"
    );
    {
        let mut state = app.alerts.state.lock().await;
        state.engine = AlertEngine::new(rules, active.keys().cloned());
        state.alerts = alerts.into_iter().map(|a| (a.id.clone(), a)).collect();
        state.active = active;
    }
    *app.alerts.webhooks.write() = hooks;
    tokio::spawn(engine::run(Arc::clone(app)));
    for d in pending
        .into_iter()
        .filter(|d| d.status == DeliveryStatus::Pending)
    {
        tokio::spawn(delivery::run(Arc::clone(app), d));
    }
    Ok(())
}

/// The journal entry of an alert change: on the event stream under `kind=alert`.
fn event(name: &str, alert: &Alert, now: Millis) -> JournalEntry {
    JournalEntry {
        seq: 0,
        station_id: alert.station_id.clone(),
        direction: Direction::Out,
        frame_type: EVENT,
        message_id: Some(alert.id.clone()),
        action: Some(name.to_owned()),
        payload: json!(alert).to_string(),
        at: now,
        violation: None,
        trigger_id: None,
    }
}

/// Alert changes made under the lock, committed together.
#[derive(Default)]
struct Changes {
    batch: WriteBatch,
    deliveries: Vec<Delivery>,
    /// The first document that could not be serialized: the whole batch is then refused
    /// at `commit` rather than written without it.
    failed: Option<StoreError>,
}

impl Changes {
    /// Records one alert change: its document, its event and a pending delivery per
    /// interested webhook.
    fn add(&mut self, app: &App, name: &str, alert: &Alert, now: Millis) {
        self.put(ALERT_DOC, &alert.id, alert);
        self.batch.entries.push(event(name, alert, now));
        for hook in app.alerts.webhook_list().iter().filter(|h| h.wants(name)) {
            let d = Delivery::new(new_id(), &hook.id, name, alert, now);
            self.put(delivery::DOC, &d.id, &d);
            self.deliveries.push(d);
        }
    }

    /// Adds a document to write, remembering the first that cannot be serialized.
    fn put<T: serde::Serialize>(&mut self, kind: &'static str, id: &str, value: &T) {
        match Doc::put(kind, id, value) {
            Ok(doc) => self.batch.docs.push(doc),
            Err(e) => {
                self.failed.get_or_insert(e);
            }
        }
    }

    /// Commits, then starts the deliveries (stored as pending first, so a crash before
    /// they finish is retried at the next start).
    async fn commit(self, app: &Arc<App>) -> Result<(), StoreError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if self.batch.docs.is_empty() && self.batch.entries.is_empty() {
            return Ok(());
        }
        app.store.commit(self.batch).await?;
        for d in self.deliveries {
            tokio::spawn(delivery::run(Arc::clone(app), d));
        }
        Ok(())
    }
}

/// Applies the engine's decisions: raise, count or resolve alerts, commit, deliver.
pub async fn apply(
    app: &Arc<App>,
    state: &mut AlertState,
    decisions: Vec<Decision>,
) -> Result<(), StoreError> {
    if decisions.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let mut changes = Changes::default();
    for decision in decisions {
        match decision {
            Decision::Raise(finding) => {
                let Some(rule) = state.engine.rule(&finding.key.rule_id) else {
                    continue;
                };
                let alert = Alert::raise(new_id(), rule, &finding, now);
                tracing::info!(alert = %alert.id, rule = %alert.rule_name, station = %alert.station_id, target = %alert.target, "alert raised");
                changes.add(app, ALERT_RAISED, &alert, now);
                state.active.insert(finding.key, alert.id.clone());
                state.alerts.insert(alert.id.clone(), alert);
            }
            Decision::Repeat(finding) => {
                if let Some(alert) = state
                    .active
                    .get(&finding.key)
                    .and_then(|id| state.alerts.get_mut(id))
                {
                    alert.repeat(finding.details, now);
                    // Counted quietly: a document update, no event or webhook per repeat.
                    changes.put(ALERT_DOC, &alert.id, &*alert);
                }
            }
            Decision::Resolve(finding) => {
                if let Some(alert) = state
                    .active
                    .remove(&finding.key)
                    .and_then(|id| state.alerts.get_mut(&id))
                {
                    alert.resolve(finding.details, now);
                    tracing::info!(alert = %alert.id, station = %alert.station_id, target = %alert.target, "alert resolved");
                    changes.add(app, ALERT_RESOLVED, alert, now);
                }
            }
        }
    }
    changes.commit(app).await
}

/// Why an acknowledgement failed.
#[derive(Debug)]
pub enum AcknowledgeError {
    /// No alert has this id.
    NotFound,
    /// The alert's state does not allow it.
    Refused(AckError),
    /// Storage failed.
    Store(StoreError),
}

/// Acknowledges an alert: stored, journaled and delivered like any alert change. An alert
/// whose condition never clears by itself (`securityEvent`) is resolved in the same commit
/// (`AlertAcknowledged` then `AlertResolved`), so the next event raises a new alert.
pub async fn acknowledge(
    app: &Arc<App>,
    id: &str,
    by: String,
    note: Option<String>,
) -> Result<Alert, AcknowledgeError> {
    let mut state = app.alerts.state.lock().await;
    let now = now_ms();
    let mut alert = state
        .alerts
        .get(id)
        .cloned()
        .ok_or(AcknowledgeError::NotFound)?;
    alert
        .acknowledge(by, note, now)
        .map_err(AcknowledgeError::Refused)?;
    let mut changes = Changes::default();
    changes.add(app, ALERT_ACKNOWLEDGED, &alert, now);
    let key = alert.key();
    let ends = state.engine.resolution_on_acknowledge(&key);
    if let Some(resolution) = ends.clone() {
        alert.resolve(resolution, now);
        tracing::info!(alert = %alert.id, station = %alert.station_id, target = %alert.target, "alert resolved by its acknowledgement");
        changes.add(app, ALERT_RESOLVED, &alert, now);
    }
    // Applied only once stored: a failed commit leaves the alert as it was.
    changes.commit(app).await.map_err(AcknowledgeError::Store)?;
    if ends.is_some() {
        state.engine.forget(&key);
        state.active.remove(&key);
    }
    state.alerts.insert(alert.id.clone(), alert.clone());
    Ok(alert)
}

/// The active alerts of a rule, resolved with `reason` (not yet applied to `state`).
fn resolve_all(
    app: &App,
    state: &AlertState,
    rule_id: &str,
    reason: &str,
    changes: &mut Changes,
) -> Vec<(AlertKey, Alert)> {
    let now = now_ms();
    let mut resolved = Vec::new();
    for (key, alert_id) in state.active.iter().filter(|(k, _)| k.rule_id == rule_id) {
        if let Some(alert) = state.alerts.get(alert_id) {
            let mut alert = alert.clone();
            alert.resolve(json!({ "reason": reason }), now);
            changes.add(app, ALERT_RESOLVED, &alert, now);
            resolved.push((key.clone(), alert));
        }
    }
    resolved
}

/// Applies resolutions made by `resolve_all` once they are committed.
fn forget_resolved(state: &mut AlertState, resolved: Vec<(AlertKey, Alert)>) {
    for (key, alert) in resolved {
        state.engine.forget(&key);
        state.active.remove(&key);
        state.alerts.insert(alert.id.clone(), alert);
    }
}

/// Stores a new or replaced rule and puts it in force. Replacing a rule's condition with
/// one of another kind resolves its active alerts: nothing would ever clear them.
/// Returns how many alerts were resolved.
pub async fn put_rule(app: &Arc<App>, rule: AlertRule) -> Result<usize, StoreError> {
    let mut state = app.alerts.state.lock().await;
    let mut changes = Changes::default();
    changes.put(RULE_DOC, &rule.id, &rule);
    let kind_changed = state.engine.rule(&rule.id).is_some_and(|old| {
        std::mem::discriminant(&old.condition) != std::mem::discriminant(&rule.condition)
    });
    let resolved = if kind_changed {
        resolve_all(
            app,
            &state,
            &rule.id,
            "the rule's condition changed",
            &mut changes,
        )
    } else {
        Vec::new()
    };
    changes.commit(app).await?;
    state.engine.put_rule(rule);
    let count = resolved.len();
    forget_resolved(&mut state, resolved);
    app.alerts.rules_changed.notify_one();
    Ok(count)
}

/// Deletes a rule; its active alerts are resolved (their condition is no longer watched).
/// Returns the rule and how many alerts were resolved, or `None` if there was no such rule.
pub async fn delete_rule(
    app: &Arc<App>,
    id: &str,
) -> Result<Option<(AlertRule, usize)>, StoreError> {
    let mut state = app.alerts.state.lock().await;
    let Some(rule) = state.engine.rule(id).cloned() else {
        return Ok(None);
    };
    let mut changes = Changes::default();
    changes.batch.docs.push(Doc::delete(RULE_DOC, id));
    let resolved = resolve_all(app, &state, id, "the rule was deleted", &mut changes);
    changes.commit(app).await?;
    state.engine.remove_rule(id);
    let count = resolved.len();
    forget_resolved(&mut state, resolved);
    app.alerts.rules_changed.notify_one();
    Ok(Some((rule, count)))
}
