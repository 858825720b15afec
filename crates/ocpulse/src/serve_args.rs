//! The options of `ocpulse serve` (each also an `OCPULSE_*` environment variable and a key
//! of the `--config` file, see `config_file.rs`) and the [`ServerConfig`] they describe.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ocpulse_core::ValidationMode;
use ocpulse_core::authorization::Policy;
use ocpulse_core::retention::RetentionPolicy;

use crate::config::{CaSource, Limits, Security, ServerConfig, TlsFiles};

/// Options of `ocpulse serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// A TOML file holding any of these settings, keyed by the option's long name
    /// (`heartbeat-interval = 300`); an option on the command line or in the environment
    /// wins over the file ([`crate::config_file`]).
    #[arg(long, env = "OCPULSE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address for the one listener (station WebSocket and HTTP API).
    #[arg(long, env = "OCPULSE_LISTEN", default_value = "127.0.0.1:8180")]
    pub listen: SocketAddr,
    /// Directory of the embedded SQLite database (created if missing).
    #[arg(long, env = "OCPULSE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Store everything in this PostgreSQL database (postgres://user:password@host:port/db)
    /// instead of the SQLite database in --data-dir.
    #[arg(
        long,
        env = "OCPULSE_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Run as one node of a cluster: NATS (with JetStream) at this URL routes API calls to
    /// the node holding each station and keeps who holds what (needs --database-url, the
    /// store every node shares, and --node-id).
    #[arg(
        long,
        env = "OCPULSE_CLUSTER_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub cluster_url: Option<String>,
    /// This node's name in the cluster: unique, letters, digits, '-' and '_'.
    #[arg(long, env = "OCPULSE_NODE_ID", value_name = "NAME")]
    pub node_id: Option<String>,
    /// The cluster's name: its NATS subjects and buckets start with it, so several clusters
    /// can share one NATS.
    #[arg(
        long,
        env = "OCPULSE_CLUSTER_NAME",
        value_name = "NAME",
        default_value = "ocpulse"
    )]
    pub cluster_name: String,
    /// Seconds over which a draining node (SIGTERM in a cluster, or
    /// POST /api/v1/cluster/nodes/{id}/drain) spreads the closes of its stations.
    #[arg(
        long,
        env = "OCPULSE_DRAIN_TIME",
        default_value_t = 10,
        value_name = "SECONDS"
    )]
    pub drain_time: u64,
    /// Heartbeat interval (seconds) given to stations with an Accepted BootNotification.
    #[arg(long, env = "OCPULSE_HEARTBEAT_INTERVAL", default_value_t = 300, value_parser = clap::value_parser!(i32).range(1..))]
    pub heartbeat_interval: i32,
    /// Seconds a station has to answer a CSMS CALL.
    #[arg(long, env = "OCPULSE_CALL_TIMEOUT", default_value_t = 30)]
    pub call_timeout: u64,
    /// Inbound schema validation for stations without their own policy: strict or lenient.
    #[arg(long, env = "OCPULSE_VALIDATION", default_value = "strict")]
    pub validation: ValidationMode,
    /// Seconds of silence before a station is pinged; three intervals without any frame or
    /// pong close the connection (0 = never ping).
    #[arg(long, env = "OCPULSE_WS_PING_INTERVAL", default_value_t = 60)]
    pub ws_ping_interval: u64,
    /// Seconds a stop (SIGTERM or Ctrl-C) may take: stations get a close frame, each is
    /// journaled disconnected and the store is flushed within it; what is still open then
    /// is dropped so the process always exits.
    #[arg(long, env = "OCPULSE_SHUTDOWN_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub shutdown_timeout: u64,
    /// CA certificate (PEM, optionally followed by its chain) that signs station certificates
    /// (SignCertificate). Needs --ca-key. Without both, a development CA is generated once in
    /// DATA_DIR/ca/.
    #[arg(
        long,
        env = "OCPULSE_CA_CERT",
        value_name = "PATH",
        requires = "ca_key"
    )]
    pub ca_cert: Option<PathBuf>,
    /// The CA's private key (PKCS#8 PEM). Needs --ca-cert.
    #[arg(
        long,
        env = "OCPULSE_CA_KEY",
        value_name = "PATH",
        requires = "ca_cert"
    )]
    pub ca_key: Option<PathBuf>,
    /// The organization (O) a station's CSR must name to be signed (its CN must always be
    /// the station's identity).
    #[arg(long, env = "OCPULSE_CSR_ORGANIZATION", value_name = "NAME")]
    pub csr_organization: Option<String>,
    /// Sign no station certificates: SignCertificate is answered Rejected.
    #[arg(long, env = "OCPULSE_NO_CA", conflicts_with_all = ["ca_cert", "ca_key"])]
    pub no_ca: bool,
    /// Seconds after a start before trigger jobs (and schedules) that were running at the
    /// stop resume: time for the fleet to reconnect first.
    #[arg(long, env = "OCPULSE_RESUME_DELAY", default_value_t = 15)]
    pub resume_delay: u64,
    /// Seconds a connected station may stay silent before it is probed with a triggered
    /// Heartbeat; a failed probe declares it unresponsive (0 = never probe). Keep it above
    /// the heartbeat interval.
    #[arg(long, env = "OCPULSE_PROBE_AFTER", default_value_t = 600)]
    pub probe_after: u64,
    /// Extra CA certificates (PEM) to trust for https webhook receivers, besides the OS
    /// certificate store (for receivers behind a private CA).
    #[arg(long, env = "OCPULSE_WEBHOOK_CA", value_name = "PATH")]
    pub webhook_ca: Option<PathBuf>,
    /// Accept unknown station identities and register them (profile 0, no credentials).
    /// The default on a loopback listener; refused on any other.
    #[arg(
        long,
        env = "OCPULSE_AUTO_REGISTER",
        conflicts_with = "no_auto_register"
    )]
    pub auto_register: bool,
    /// Refuse unknown station identities even on a loopback listener.
    #[arg(long, env = "OCPULSE_NO_AUTO_REGISTER")]
    pub no_auto_register: bool,
    /// How station id tokens (Authorize, transactions) are decided: `registry` (only
    /// registered tokens, `/api/v1/id-tokens`; an unknown one is Invalid) or `accept-all`
    /// (an unknown token is Accepted; registered ones still answer their status). Default:
    /// accept-all on a loopback listener, registry on any other, where accept-all is refused.
    #[arg(long, env = "OCPULSE_AUTHORIZATION", value_name = "POLICY", value_parser = ["registry", "accept-all"])]
    pub authorization: Option<String>,
    /// API requests need a bearer token (`ocpulse token create`). Always on when the
    /// listener is not loopback.
    #[arg(long, env = "OCPULSE_REQUIRE_TOKEN")]
    pub require_token: bool,
    /// Server certificate (PEM, leaf then chain): the listener then speaks only TLS
    /// (wss:// for stations at profile 2 and 3, https:// for the API). Needs --tls-key.
    #[arg(
        long,
        env = "OCPULSE_TLS_CERT",
        value_name = "PATH",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The server certificate's private key (PEM). Needs --tls-cert.
    #[arg(
        long,
        env = "OCPULSE_TLS_KEY",
        value_name = "PATH",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Extra CA certificates (PEM) that station client certificates (profile 3) may chain
    /// to, besides the CA that signs station CSRs.
    #[arg(
        long,
        env = "OCPULSE_TLS_CLIENT_CA",
        value_name = "PATH",
        requires = "tls_cert"
    )]
    pub tls_client_ca: Option<PathBuf>,
    /// Seconds a connection has to finish its TLS handshake and send its first request.
    #[arg(long, env = "OCPULSE_HANDSHAKE_TIMEOUT", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub handshake_timeout: u64,
    /// Connections allowed at once that have not sent a first request yet; more are closed
    /// at once.
    #[arg(long, env = "OCPULSE_MAX_PENDING_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pending_connections: u64,
    /// Let webhooks reach this address range (CIDR, e.g. 10.20.0.0/16, or one address;
    /// repeatable). Without it only public addresses are allowed: loopback, private,
    /// link-local, CGNAT and other internal addresses are refused.
    #[arg(long, env = "OCPULSE_WEBHOOK_ALLOW", value_delimiter = ',', value_name = "CIDR", value_parser = crate::alerts::address_policy::parse_cidr)]
    pub webhook_allow: Vec<ipnet::IpNet>,
    /// Delete journal entries older than this (`90d`, `12h`, `forever`), except actions
    /// with their own period. Pruning runs in the background in small steps. Default: keep
    /// everything.
    #[arg(long, env = "OCPULSE_RETAIN_JOURNAL", value_name = "DURATION", value_parser = parse_retention)]
    pub retain_journal: Option<Retention>,
    /// Delete MeterValues (the bulk of a fleet's journal) older than this; the same as
    /// `--retain-action MeterValues=DURATION`.
    #[arg(long, env = "OCPULSE_RETAIN_METER_VALUES", value_name = "DURATION", value_parser = parse_retention)]
    pub retain_meter_values: Option<Retention>,
    /// Keep one action for its own period, overriding --retain-journal:
    /// `ACTION=DURATION` or `ACTION=forever` (repeatable).
    #[arg(long, env = "OCPULSE_RETAIN_ACTION", value_delimiter = ',', value_name = "ACTION=DURATION", value_parser = parse_action_retention)]
    pub retain_action: Vec<(String, Retention)>,
    /// Seconds between two pruning passes (when a retention is set).
    #[arg(long, env = "OCPULSE_PRUNE_EVERY", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub prune_every: u64,
    /// The largest OCPP message (bytes) a station may send.
    #[arg(long, env = "OCPULSE_MAX_FRAME_BYTES", default_value_t = 256 * 1024, value_parser = clap::value_parser!(u64).range(1024..=16 * 1024 * 1024))]
    pub max_frame_bytes: u64,
    /// `GET /health/ready` fails while the data directory's file system has less free space
    /// than this (`500MiB`, `2GiB`; 0 = no floor).
    #[arg(long, env = "OCPULSE_MIN_FREE_SPACE", value_name = "SIZE", default_value = "100MiB", value_parser = crate::readiness::parse_size)]
    pub min_free_space: u64,
    /// The URL stations reach this server at (`https://csms.example.com`, behind a proxy
    /// or NAT): the one-time log upload URLs handed to stations start with it. Default:
    /// the listen address (or, when that is 0.0.0.0, the host the API was called at).
    #[arg(long, env = "OCPULSE_PUBLIC_URL", value_name = "URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
    /// The largest log file a station may upload (`64MiB`, `1GiB`); larger is refused
    /// with 413 and nothing is kept. One upload is held in memory while it is checked.
    #[arg(long, env = "OCPULSE_MAX_UPLOAD_SIZE", value_name = "SIZE", default_value = "64MiB", value_parser = crate::readiness::parse_size)]
    pub max_upload_size: u64,
}

impl ServeArgs {
    /// The server settings these options describe. Fails when only one of `--ca-cert` and
    /// `--ca-key` is given (clap already refuses that; this keeps the rule when the
    /// struct is built another way).
    pub fn config(&self) -> anyhow::Result<ServerConfig> {
        let ca = match (&self.ca_cert, &self.ca_key, self.no_ca) {
            (None, None, true) => CaSource::Disabled,
            (None, None, false) => CaSource::Development,
            (Some(cert), Some(key), false) => CaSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            (_, _, true) => anyhow::bail!("--no-ca cannot be combined with --ca-cert/--ca-key"),
            (Some(_), None, _) => anyhow::bail!("--ca-cert needs --ca-key (the CA's private key)"),
            (None, Some(_), _) => anyhow::bail!("--ca-key needs --ca-cert (the CA certificate)"),
        };
        let loopback = self.listen.ip().is_loopback();
        let security = Security {
            auto_register: self.auto_register || (loopback && !self.no_auto_register),
            require_token: self.require_token || !loopback,
            tls: match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => Some(TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                    client_ca: self.tls_client_ca.clone(),
                }),
                (None, None) => None,
                _ => anyhow::bail!("--tls-cert and --tls-key go together"),
            },
        };
        let authorization = match self.authorization.as_deref() {
            Some(policy) => policy.parse().map_err(anyhow::Error::msg)?,
            None if loopback => Policy::AcceptAll,
            None => Policy::Registry,
        };
        let cluster = match (&self.cluster_url, &self.node_id) {
            (None, None) => None,
            (None, Some(_)) => anyhow::bail!(
                "--node-id names a cluster node: give --cluster-url nats://HOST:4222 too, or leave both out for a server alone"
            ),
            (Some(_), None) => anyhow::bail!(
                "--cluster-url needs --node-id NAME (unique per node: letters, digits, '-' and '_')"
            ),
            (Some(url), Some(node_id)) => {
                ocpulse_core::cluster::check_node_id(node_id)
                    .map_err(|e| anyhow::anyhow!("--node-id {node_id:?}: {e}"))?;
                ocpulse_core::cluster::check_node_id(&self.cluster_name)
                    .map_err(|e| anyhow::anyhow!("--cluster-name {:?}: {e}", self.cluster_name))?;
                if self.database_url.is_none() {
                    anyhow::bail!(
                        "--cluster-url needs --database-url postgres://...: the nodes of a cluster share one PostgreSQL database (the journal and every document)"
                    );
                }
                Some(crate::config::ClusterSettings {
                    url: url.clone(),
                    node_id: node_id.clone(),
                    name: self.cluster_name.clone(),
                })
            }
        };
        let limits = Limits {
            handshake_timeout: Duration::from_secs(self.handshake_timeout),
            max_pending_connections: usize::try_from(self.max_pending_connections)?,
            max_frame_bytes: usize::try_from(self.max_frame_bytes)?,
            ..Limits::default()
        };
        Ok(ServerConfig {
            csr_organization: self.csr_organization.clone(),
            security,
            authorization,
            limits,
            listen: self.listen,
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            cluster,
            drain_time: Duration::from_secs(self.drain_time),
            heartbeat_interval: self.heartbeat_interval,
            call_timeout: Duration::from_secs(self.call_timeout),
            validation: self.validation,
            ws_ping_interval: Duration::from_secs(self.ws_ping_interval),
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout),
            ca,
            job_resume_delay: Duration::from_secs(self.resume_delay),
            probe_after: Duration::from_secs(self.probe_after),
            webhook_ca: self.webhook_ca.clone(),
            webhook_allow: self.webhook_allow.clone(),
            retention: self.retention()?,
            prune_every: Duration::from_secs(self.prune_every),
            min_free_space: self.min_free_space,
            public_url: self.public_url.clone(),
            max_upload_bytes: self.max_upload_size,
            ..ServerConfig::default()
        })
    }
}

impl ServeArgs {
    fn retention(&self) -> anyhow::Result<RetentionPolicy> {
        let mut policy = RetentionPolicy {
            journal: self.retain_journal.and_then(|r| r.0),
            per_action: Default::default(),
        };
        if let Some(r) = self.retain_meter_values {
            policy.per_action.insert("MeterValues".into(), r.0);
        }
        for (action, r) in &self.retain_action {
            if policy.per_action.insert(action.clone(), r.0).is_some() {
                anyhow::bail!(
                    "the retention of {action} is given twice (--retain-action, or --retain-meter-values for MeterValues)"
                );
            }
        }
        Ok(policy)
    }
}

/// A retention period; `None` keeps for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention(pub Option<Duration>);

/// Reads `90d`, `12h 30m`, `forever`: humantime's durations, at least a minute (a shorter
/// period would delete what alerts and triggers are still reading).
fn parse_retention(text: &str) -> Result<Retention, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("forever") {
        return Ok(Retention(None));
    }
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("{e}: give a duration such as 90d, 36h or 30m, or `forever`"))?;
    if d < Duration::from_secs(60) {
        return Err(format!("{text} is shorter than the shortest retention, 1m"));
    }
    Ok(Retention(Some(d)))
}

/// Reads `--public-url`: an http(s) URL without query or fragment; a trailing `/` is dropped.
fn parse_public_url(text: &str) -> Result<String, String> {
    let t = text.trim().trim_end_matches('/');
    let rest = t
        .strip_prefix("http://")
        .or_else(|| t.strip_prefix("https://"))
        .ok_or_else(|| {
            format!("{text:?} is not an http:// or https:// URL (e.g. https://csms.example.com)")
        })?;
    if rest.is_empty() || rest.contains(['?', '#', ' ']) {
        return Err(format!(
            "{text:?}: give the scheme, host and optional port and path, without query or fragment (e.g. https://csms.example.com)"
        ));
    }
    Ok(t.to_owned())
}

/// Reads `ACTION=DURATION`.
fn parse_action_retention(text: &str) -> Result<(String, Retention), String> {
    let (action, period) = text
        .split_once('=')
        .ok_or_else(|| format!("{text}: expected ACTION=DURATION, e.g. MeterValues=7d"))?;
    let action = action.trim();
    if action.is_empty() || !action.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "{action:?} is not an OCPP action name (e.g. MeterValues)"
        ));
    }
    Ok((action.to_owned(), parse_retention(period)?))
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use crate::cli::{Cli, Command};

    fn serve(args: &[&str]) -> anyhow::Result<crate::config::ServerConfig> {
        let cli = Cli::try_parse_from(["ocpulse", "serve"].iter().chain(args))?;
        let Command::Serve(serve) = cli.command else {
            anyhow::bail!("not serve");
        };
        let config = serve.config()?;
        config.check_exposure()?;
        Ok(config)
    }

    #[test]
    fn loopback_is_development_mode_and_anything_else_requires_authentication() {
        let dev = serve(&[]).expect("the default starts");
        assert!(dev.security.auto_register && !dev.security.require_token);
        let closed = serve(&["--no-auto-register", "--require-token"]).expect("starts");
        assert!(!closed.security.auto_register && closed.security.require_token);
        let public = serve(&["--listen", "0.0.0.0:8180"]).expect("secure by default");
        assert!(!public.security.auto_register && public.security.require_token);
        let open = serve(&["--listen", "0.0.0.0:8180", "--auto-register"])
            .expect_err("refuses to start open");
        assert!(open.to_string().contains("--auto-register"), "{open}");
    }

    #[test]
    fn authorization_is_accept_all_only_on_loopback_and_registry_elsewhere() {
        use ocpulse_core::authorization::Policy;
        assert_eq!(serve(&[]).expect("starts").authorization, Policy::AcceptAll);
        let strict = serve(&["--authorization", "registry"]).expect("starts");
        assert_eq!(strict.authorization, Policy::Registry);
        let public = serve(&["--listen", "0.0.0.0:8180"]).expect("secure by default");
        assert_eq!(public.authorization, Policy::Registry);
        let open = serve(&["--listen", "0.0.0.0:8180", "--authorization", "accept-all"])
            .expect_err("refuses to accept every token from the network");
        assert!(open.to_string().contains("accept-all"), "{open}");
        let typo = serve(&["--authorization", "accept"]).expect_err("unknown policy");
        assert!(typo.to_string().contains("registry"), "{typo}");
    }

    #[test]
    fn a_database_url_selects_postgresql_and_is_shown_without_its_password() {
        let url = "postgres://ops:pw@db.example:5432/ocpulse";
        let pg = serve(&["--database-url", url]).expect("starts");
        assert_eq!(pg.database_url.as_deref(), Some(url));
        assert_eq!(
            crate::server::describe_database(url),
            "postgres://ops@db.example:5432/ocpulse"
        );
    }

    #[test]
    fn retention_periods_are_read_per_action_with_clear_errors() {
        let day = std::time::Duration::from_secs(86_400);
        let none = serve(&[]).expect("starts");
        assert!(!none.retention.prunes(), "nothing is deleted by default");
        let c = serve(&[
            "--retain-journal",
            "90d",
            "--retain-meter-values",
            "7d",
            "--retain-action",
            "BootNotification=forever",
        ])
        .expect("starts");
        assert_eq!(c.retention.journal, Some(day * 90));
        assert_eq!(c.retention.per_action["MeterValues"], Some(day * 7));
        assert_eq!(c.retention.per_action["BootNotification"], None);
        for (args, says) in [
            (&["--retain-journal", "soon"][..], "90d"),
            (&["--retain-journal", "10s"][..], "shortest"),
            (&["--retain-action", "MeterValues"][..], "ACTION=DURATION"),
            (&["--retain-action", "Meter Values=1d"][..], "action name"),
            (
                &[
                    "--retain-meter-values",
                    "1d",
                    "--retain-action",
                    "MeterValues=2d",
                ][..],
                "given twice",
            ),
        ] {
            let e = serve(args).expect_err("refused");
            assert!(e.to_string().contains(says), "{args:?}: {e}");
        }
    }
}
