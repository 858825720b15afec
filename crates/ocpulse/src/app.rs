//! The state every handler shares.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use ocpp_rpc::SchemaRegistry;
use ocpulse_ca::CertificateAuthority;
use ocpulse_core::Store;
use ocpulse_core::trigger_record::TriggerRecord;
use parking_lot::Mutex;

use crate::config::{CaSource, DEV_CA_DIR, ServerConfig};
use crate::registry::Registry;

/// How long an ended trigger's record stays readable from memory: far longer than the
/// store takes to write it (fire-and-forget writes linger at most 10 ms).
const ENDED_KEPT: std::time::Duration = std::time::Duration::from_secs(1);

/// At most this many ended records are held, whatever the rate (bounded memory).
const ENDED_MAX: usize = 4096;

/// Trigger records held in memory: running ones, and ended ones until the store surely has
/// them, so `GET /api/v1/triggers/{id}` never misses a record its caller was just told of.
#[derive(Debug, Default)]
pub struct Running {
    records: HashMap<String, Arc<TriggerRecord>>,
    ended: std::collections::VecDeque<(std::time::Instant, String)>,
}

impl Running {
    /// Holds a record (replacing an earlier version); ended ones expire after a while.
    pub fn put(&mut self, record: Arc<TriggerRecord>) {
        let now = std::time::Instant::now();
        while let Some((at, _)) = self.ended.front() {
            if now.duration_since(*at) < ENDED_KEPT && self.ended.len() < ENDED_MAX {
                break;
            }
            if let Some((_, id)) = self.ended.pop_front() {
                self.records.remove(&id);
            }
        }
        if record.outcome != ocpulse_core::trigger_record::Outcome::Running {
            self.ended.push_back((now, record.id.clone()));
        }
        self.records.insert(record.id.clone(), record);
    }

    /// The record, if held.
    pub fn get(&self, id: &str) -> Option<&TriggerRecord> {
        self.records.get(id).map(|r| &**r)
    }
}

/// How often the metrics read the journal's size at most (it walks the store's files).
const JOURNAL_SIZE_REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// Shared application state.
pub struct App {
    /// The settings.
    pub config: ServerConfig,
    /// The journal and station store.
    pub store: Arc<dyn Store>,
    /// Every official schema, compiled once at start.
    pub schemas: Arc<SchemaRegistry>,
    /// What every station session shares (settings, schemas, CA, transaction ids).
    pub session_env: Arc<ocpulse_core::session::SessionEnv>,
    /// The id-token registry every session answers Authorize and transactions from (the
    /// same one as `session_env.id_tokens`), changed by `/api/v1/id-tokens`.
    pub id_tokens: Arc<ocpulse_core::authorization::IdTokenRegistry>,
    /// Known stations and their sessions.
    pub stations: Registry,
    /// Cancelled at shutdown so every session closes its socket and the server can exit.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Every station session still running: a stop waits on it (bounded by
    /// `--shutdown-timeout`) so each session closes its socket and journals its
    /// disconnect before the store is flushed and the process exits.
    pub sessions: tokio_util::task::TaskTracker,
    /// Triggers still running, by id: their latest record, for `GET /api/v1/triggers/{id}`
    /// before the final one is stored.
    pub running: Mutex<Running>,
    /// The CA that signs station CSRs (SignCertificate); `None` with `--no-ca`, and then
    /// every SignCertificate is answered Rejected.
    pub ca: Option<Arc<CertificateAuthority>>,
    /// Bulk trigger jobs, running and finished.
    pub jobs: crate::jobs::Jobs,
    /// Recurring trigger plans.
    pub schedules: crate::schedules::Schedules,
    /// Freshness targets and the liveness probe's view of each station.
    pub freshness: crate::freshness::Freshness,
    /// Configuration apply jobs still running.
    pub config_applies: crate::station_config::apply::Applies,
    /// Firmware rollouts still running.
    pub firmware: crate::firmware::Rollouts,
    /// Alert rules, alerts and webhooks (loaded by `alerts::start` before serving).
    pub alerts: crate::alerts::Alerts,
    /// Who may connect as a station: the registry and the handshake's checks.
    pub gate: crate::auth::Gate,
    /// API bearer tokens (read from the store on first use).
    pub tokens: crate::tokens::Tokens,
    /// What journal retention did last (the storage report shows it).
    pub pruning: crate::retention::Pruning,
    /// Where the stored station snapshots stand (`snapshots`).
    pub snapshots: crate::snapshots::Snapshots,
    /// The Prometheus series (`GET /metrics`), fed by the code that sees each event.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The readiness checks' last result (`GET /health/ready`).
    pub readiness: crate::readiness::Readiness,
    /// Charging sessions' changes as they are stored (`charging_sessions`).
    pub charging: crate::charging_sessions::ChargingSessions,
    /// Held while an upload is checked and stored, so a one-time upload URL takes one file.
    pub log_uploads: tokio::sync::Mutex<()>,
    /// This server's place in its cluster (alone: no bus, every station held here).
    pub cluster: crate::cluster::Cluster,
    /// Where 1.6 transaction ids come from (`session_env.transaction_ids`), spread over the
    /// nodes in a cluster.
    pub transaction_ids: Arc<crate::session_env::CountedTransactionIds>,
    /// The dashboard's logins and fleet samples (`web`).
    pub web: crate::web::Web,
}

impl App {
    /// Builds the state, loading every known station and registration from the store.
    pub async fn new(config: ServerConfig, store: Arc<dyn Store>) -> anyhow::Result<Self> {
        let schemas = Arc::new(SchemaRegistry::load().map_err(anyhow::Error::msg)?);
        Self::with_schemas(config, store, schemas).await
    }

    /// Like [`App::new`] with schemas compiled once elsewhere: the API fuzz target builds
    /// an app per input, and compiling every schema each time would drown the requests.
    pub async fn with_schemas(
        config: ServerConfig,
        store: Arc<dyn Store>,
        schemas: Arc<SchemaRegistry>,
    ) -> anyhow::Result<Self> {
        let registrations = crate::auth::Registrations::load(&*store).await?;
        let rebuilt = crate::snapshots::rebuild(&*store).await?;
        let snapshots = crate::snapshots::Snapshots::new(rebuilt.through);
        let stations = Registry::with_stations(rebuilt.stations);
        // A registered station that never connected is listed too.
        for reg in registrations.all() {
            stations.ensure(&reg.id);
        }
        let gate = crate::auth::Gate::new(
            registrations,
            config.security.auto_register,
            config.listen.ip().is_loopback(),
            config.limits.auth_failures_per_minute,
        )?;
        let ca = load_ca(&config)?.map(Arc::new);
        let id_tokens = Arc::new(crate::id_tokens::load(&*store).await?);
        let transaction_ids = Arc::new(crate::session_env::CountedTransactionIds::new(
            store.last_transaction_id()?,
        ));
        let session_env = Arc::new(crate::session_env::build(
            &config,
            Arc::clone(&schemas),
            ca.clone(),
            Arc::clone(&transaction_ids),
            Arc::clone(&id_tokens),
        ));
        let config_webhook_ca = config.webhook_ca.clone();
        let webhook_policy = Arc::new(crate::alerts::address_policy::AddressPolicy::new(
            config.webhook_allow.clone(),
        ));
        Ok(Self {
            config,
            store,
            schemas,
            session_env,
            id_tokens,
            stations,
            shutdown: Default::default(),
            sessions: tokio_util::task::TaskTracker::new(),
            running: Mutex::default(),
            ca,
            jobs: crate::jobs::Jobs::default(),
            schedules: crate::schedules::Schedules::default(),
            freshness: crate::freshness::Freshness::default(),
            config_applies: Default::default(),
            firmware: Default::default(),
            alerts: crate::alerts::Alerts::new(
                crate::alerts::http_client(config_webhook_ca.as_deref(), &webhook_policy)?,
                webhook_policy,
            ),
            gate,
            tokens: crate::tokens::Tokens::default(),
            pruning: crate::retention::Pruning::default(),
            snapshots,
            metrics: Arc::new(crate::metrics::Metrics::new(JOURNAL_SIZE_REFRESH)),
            readiness: crate::readiness::Readiness::default(),
            charging: crate::charging_sessions::ChargingSessions::default(),
            log_uploads: tokio::sync::Mutex::new(()),
            cluster: crate::cluster::Cluster::default(),
            transaction_ids,
            web: crate::web::Web::default(),
        })
    }
}

/// Loads the CA the configuration names. A broken CA is a startup error rather than a
/// server that silently rejects every SignCertificate.
fn load_ca(config: &ServerConfig) -> anyhow::Result<Option<CertificateAuthority>> {
    match &config.ca {
        CaSource::Disabled => {
            tracing::info!("no CA (--no-ca): SignCertificate requests will be rejected");
            Ok(None)
        }
        CaSource::Development => {
            let dir = config.data_dir.join(DEV_CA_DIR);
            let ca = CertificateAuthority::load_or_generate(&dir).with_context(|| {
                format!("cannot set up the development CA in {}", dir.display())
            })?;
            tracing::warn!(
                dir = %dir.display(),
                ca = ?ca,
                "signing station certificates with a DEVELOPMENT CA (key stored unencrypted in the data directory); use --ca-cert/--ca-key for production, or --no-ca"
            );
            Ok(Some(ca))
        }
        CaSource::Files { cert, key } => {
            let read = |path: &std::path::Path, what: &str| {
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the {what} {}", path.display()))
            };
            let ca =
                CertificateAuthority::load(&read(cert, "CA certificate")?, &read(key, "CA key")?)
                    .with_context(|| {
                    format!("cannot use the CA {} / {}", cert.display(), key.display())
                })?;
            tracing::info!(cert = %cert.display(), ca = ?ca, "signing station certificates with the configured CA");
            Ok(Some(ca))
        }
    }
}
