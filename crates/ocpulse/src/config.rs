//! Server settings, shared by the command line and the integration tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ocpulse_core::ValidationMode;

/// Everything `ocpulse serve` can be told.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the one listener (stations and API) binds.
    pub listen: SocketAddr,
    /// Where the SQLite database lives (and the development CA, whatever the database).
    pub data_dir: PathBuf,
    /// A PostgreSQL database (`postgres://...`) to store everything in instead of SQLite
    /// in `data_dir`. It may hold a password: never log it (see `describe_database`).
    pub database_url: Option<String>,
    /// Cluster mode (`--cluster-url`): `None` for a server alone.
    pub cluster: Option<ClusterSettings>,
    /// A draining node spreads the closes of its stations over this long.
    pub drain_time: Duration,
    /// Heartbeat interval given with an Accepted BootNotification, in seconds.
    pub heartbeat_interval: i32,
    /// How long a CSMS CALL may wait for the station's answer before it times out.
    pub call_timeout: Duration,
    /// The inbound schema-validation policy for stations without their own.
    pub validation: ValidationMode,
    /// The trigger API's wait when the caller gives no `timeoutMs`.
    pub default_trigger_timeout: Duration,
    /// Ping a station quiet for this long; close it after three intervals of silence (0 = never).
    pub ws_ping_interval: Duration,
    /// How long a stop may take: closing every station session (each journaled
    /// disconnected), letting API requests finish and flushing the store.
    pub shutdown_timeout: Duration,
    /// Which CA answers SignCertificate.
    pub ca: CaSource,
    /// How long after a start a job that was running at the stop resumes: time for the
    /// fleet to reconnect, so its stations are not reported offline for being early.
    pub job_resume_delay: Duration,
    /// A connected station silent this long is probed with a triggered Heartbeat before it
    /// is declared unresponsive (zero: never probe).
    pub probe_after: Duration,
    /// Webhook delivery: the wait before the first retry; each later retry waits twice as
    /// long (0.5 s, 1 s, 2 s, ...). Tests shorten it.
    pub webhook_retry_base: Duration,
    /// Webhook delivery: how many attempts before a delivery is marked failed.
    pub webhook_attempts: u32,
    /// Webhook delivery: how long one attempt may take (connect, send, answer).
    pub webhook_timeout: Duration,
    /// Extra CA certificates (PEM) trusted for https webhook receivers, besides the OS store.
    pub webhook_ca: Option<PathBuf>,
    /// The organization (O) a station's CSR must name, when set (A00.FR.404); its CN must
    /// always be the station's identity.
    pub csr_organization: Option<String>,
    /// How presented id tokens are decided: `accept-all` (unknown tokens Accepted; the
    /// loopback default, refused elsewhere by `check_exposure`) or `registry`.
    pub authorization: ocpulse_core::authorization::Policy,
    /// Who may connect and call the API.
    pub security: Security,
    /// Bounds that keep one client from exhausting what every client shares.
    pub limits: Limits,
    /// Address ranges webhooks may reach besides public addresses (`--webhook-allow`):
    /// loopback, private, link-local and other internal addresses are refused unless
    /// named here, so a webhook cannot be aimed at the server's own network (SSRF).
    pub webhook_allow: Vec<ipnet::IpNet>,
    /// An event-stream client whose socket takes none of its pending events for this long
    /// is disconnected (it resumes with `Last-Event-ID`), so it holds no memory meanwhile.
    pub event_stream_stall: Duration,
    /// How long journal entries are kept (nothing is deleted by default).
    pub retention: ocpulse_core::retention::RetentionPolicy,
    /// How often the journal is pruned when a retention is set.
    pub prune_every: Duration,
    /// Readiness fails when the data directory's file system has fewer bytes free than
    /// this (0: no floor), so a load balancer stops sending stations before writes fail.
    pub min_free_space: u64,
    /// The URL stations reach this server at (`https://csms.example.com`): upload URLs
    /// handed to stations start with it. `None`: the listen address.
    pub public_url: Option<String>,
    /// The largest log file a station may upload, in bytes (larger: 413, nothing kept).
    pub max_upload_bytes: u64,
}

/// How this server joins a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// The NATS server(s): `nats://host:4222` (credentials in the URL are never logged).
    pub url: String,
    /// This node's unique name.
    pub node_id: String,
    /// The cluster's name, the prefix of its subjects and buckets.
    pub name: String,
}

/// Authentication settings: who may open a station connection or call the API.
///
/// The defaults are the loopback development mode (`ocpulse serve` with no flags): unknown
/// stations are registered as they connect and the API answers without a token. A
/// non-loopback listener refuses to start with either (`ServerConfig::check_exposure`).
#[derive(Debug, Clone)]
pub struct Security {
    /// Accept station identities that are not registered, and register them (profile 0).
    pub auto_register: bool,
    /// API requests must carry a bearer token.
    pub require_token: bool,
    /// With a certificate the one listener speaks TLS only (wss:// and https://).
    pub tls: Option<TlsFiles>,
}

impl Default for Security {
    fn default() -> Self {
        Self {
            auto_register: true,
            require_token: false,
            tls: None,
        }
    }
}

/// The listener's TLS material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server certificate (PEM, leaf first, then its chain).
    pub cert: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates (PEM) that station client certificates may chain to (profile 3),
    /// besides the CA that signs station CSRs.
    pub client_ca: Option<PathBuf>,
}

/// Resource bounds on what unauthenticated or misbehaving clients can hold.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A connection must finish its TLS handshake and send its first request's headers
    /// within this time, or it is closed.
    pub handshake_timeout: Duration,
    /// At most this many connections may be open without having sent a first request
    /// (idle, or in their TLS handshake); more are closed at once, so half-open
    /// connections cannot use up the file descriptors the API and stations need.
    pub max_pending_connections: usize,
    /// The largest OCPP message a station may send; a larger one is refused and journaled
    /// as its size and hash only.
    pub max_frame_bytes: usize,
    /// Failed station authentications allowed per source address and minute before that
    /// address gets 429 without its credentials being checked.
    pub auth_failures_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(5),
            max_pending_connections: 1024,
            max_frame_bytes: 256 * 1024,
            auth_failures_per_minute: 20,
        }
    }
}

impl ServerConfig {
    /// Refuses a configuration that would expose an open server beyond loopback: a
    /// non-loopback listener needs registered stations and API tokens. The error names the
    /// flag to change.
    pub fn check_exposure(&self) -> anyhow::Result<()> {
        if self.listen.ip().is_loopback() {
            return Ok(());
        }
        if self.security.auto_register {
            anyhow::bail!(
                "refusing to listen on {} with --auto-register: unknown stations would be accepted from the network. Register stations (POST /api/v1/stations) and drop --auto-register, or listen on 127.0.0.1",
                self.listen
            );
        }
        if self.authorization == ocpulse_core::authorization::Policy::AcceptAll {
            anyhow::bail!(
                "refusing to listen on {} with --authorization accept-all: every id token would be accepted, so anyone could charge. Use --authorization registry (the default off loopback) and register tokens (PUT /api/v1/id-tokens/{{idToken}}), or listen on 127.0.0.1",
                self.listen
            );
        }
        if !self.security.require_token {
            anyhow::bail!(
                "refusing to listen on {} without API tokens: give --require-token (create one with `ocpulse token create --name NAME --scope admin`), or listen on 127.0.0.1",
                self.listen
            );
        }
        Ok(())
    }
}

/// Where the CA that signs station certificates comes from.
///
/// The default is a development CA so that the certificate flow works out of the box (and in
/// tests), while production operators point at their own CA or switch signing off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CaSource {
    /// A development CA generated on first start and kept in `<data-dir>/ca/`, so restarts
    /// keep the CA that stations already trust.
    #[default]
    Development,
    /// The operator's CA: a PEM certificate (optionally followed by its chain) and its PKCS#8
    /// PEM private key.
    Files {
        /// The CA certificate file.
        cert: PathBuf,
        /// The CA private key file.
        key: PathBuf,
    },
    /// No CA: every SignCertificate is answered Rejected (NoCA).
    Disabled,
}

/// The default readiness floor on free space: 100 MiB.
pub const DEFAULT_MIN_FREE_SPACE: u64 = 100 << 20;

/// Subdirectory of the data directory that holds the development CA.
pub const DEV_CA_DIR: &str = "ca";

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8180)),
            data_dir: PathBuf::from("data"),
            database_url: None,
            cluster: None,
            drain_time: Duration::from_secs(10),
            heartbeat_interval: 300,
            call_timeout: Duration::from_secs(30),
            validation: ValidationMode::Strict,
            authorization: ocpulse_core::authorization::Policy::AcceptAll,
            default_trigger_timeout: Duration::from_secs(10),
            ws_ping_interval: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(10),
            ca: CaSource::Development,
            job_resume_delay: Duration::from_secs(15),
            probe_after: Duration::from_secs(600),
            webhook_retry_base: Duration::from_millis(500),
            webhook_attempts: 6,
            webhook_timeout: Duration::from_secs(5),
            webhook_ca: None,
            csr_organization: None,
            security: Security::default(),
            limits: Limits::default(),
            webhook_allow: Vec::new(),
            event_stream_stall: Duration::from_secs(10),
            retention: ocpulse_core::retention::RetentionPolicy::default(),
            prune_every: Duration::from_secs(60),
            min_free_space: DEFAULT_MIN_FREE_SPACE,
            public_url: None,
            max_upload_bytes: 64 * 1024 * 1024,
        }
    }
}
