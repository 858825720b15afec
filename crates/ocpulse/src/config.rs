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
    /// Where the SQLite database lives.
    pub data_dir: PathBuf,
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

/// Subdirectory of the data directory that holds the development CA.
pub const DEV_CA_DIR: &str = "ca";

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8180)),
            data_dir: PathBuf::from("data"),
            heartbeat_interval: 300,
            call_timeout: Duration::from_secs(30),
            validation: ValidationMode::Strict,
            default_trigger_timeout: Duration::from_secs(10),
            ws_ping_interval: Duration::from_secs(60),
            ca: CaSource::Development,
            job_resume_delay: Duration::from_secs(15),
            probe_after: Duration::from_secs(600),
            webhook_retry_base: Duration::from_millis(500),
            webhook_attempts: 6,
            webhook_timeout: Duration::from_secs(5),
            webhook_ca: None,
        }
    }
}
