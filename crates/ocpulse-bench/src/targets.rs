//! The servers under test, each started as its own process (pinned to core 0 when
//! `taskset` exists, so the driver on core 1 never competes with it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A server the benchmark can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// ocpulse itself, release build, SQLite journal with the durability rule.
    Ocpulse,
    /// ocpulse on PostgreSQL (`bench --store postgres`): the same binary and rule, its
    /// journal in a schema made for the run.
    OcpulsePostgres,
    /// The null server (the machine's ceiling).
    Null,
    /// A CSMS on PyPI `ocpp` 2.1.0 + aiohttp (`bench/peers/python`).
    Python,
    /// A CSMS on npm `ocpp-rpc` 2.2.1 (`bench/peers/node`).
    Node,
}

impl Target {
    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Target::Ocpulse => "ocpulse",
            Target::OcpulsePostgres => "ocpulse (postgres)",
            Target::Null => "null",
            Target::Python => "python-ocpp",
            Target::Node => "node-ocpp-rpc",
        }
    }

    /// Whether it is ocpulse (on either store): the scenarios only ocpulse has run on it.
    pub fn is_ocpulse(self) -> bool {
        matches!(self, Target::Ocpulse | Target::OcpulsePostgres)
    }

    /// Parses a name from `--targets` (ocpulse on PostgreSQL comes from `--store`).
    pub fn parse(name: &str) -> Option<Self> {
        [Target::Ocpulse, Target::Null, Target::Python, Target::Node]
            .into_iter()
            .find(|t| {
                t.name() == name
                    || (name == "python" && *t == Target::Python)
                    || (name == "node" && *t == Target::Node)
            })
    }
}

/// A started server.
#[derive(Debug)]
pub struct Running {
    /// Which one.
    pub target: Target,
    /// Its process.
    pub child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    _data: Option<tempfile::TempDir>,
}

impl Running {
    /// Its pid, for RSS and CPU readings.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn http(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `ws://127.0.0.1:PORT/ocpp`.
    pub fn ws(&self) -> String {
        format!("ws://127.0.0.1:{}/ocpp", self.port)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn pinned(core: Option<usize>, program: &Path) -> Command {
    match core {
        Some(core) if Path::new("/usr/bin/taskset").exists() => {
            let mut c = Command::new("/usr/bin/taskset");
            c.arg("-c").arg(core.to_string()).arg(program);
            c
        }
        _ => Command::new(program),
    }
}

/// Starts `target` and waits until its HTTP API answers. `database_url` is where ocpulse
/// on PostgreSQL keeps its journal.
pub async fn start(
    target: Target,
    exe: &Path,
    repo: &Path,
    core: Option<usize>,
    database_url: Option<&str>,
) -> anyhow::Result<Running> {
    let port = free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let mut data = None;
    let mut cmd = match target {
        Target::Ocpulse => {
            let dir = tempfile::tempdir()?;
            let mut c = pinned(core, exe);
            c.args(["serve", "--listen", &listen, "--data-dir"])
                .arg(dir.path());
            data = Some(dir);
            c
        }
        Target::OcpulsePostgres => {
            let url = database_url.context("ocpulse on PostgreSQL needs a database URL")?;
            let dir = tempfile::tempdir()?;
            let mut c = pinned(core, exe);
            c.args(["serve", "--listen", &listen, "--data-dir"])
                .arg(dir.path())
                .args(["--database-url", url]);
            data = Some(dir);
            c
        }
        Target::Null => {
            let mut c = pinned(core, exe);
            c.args(["bench-null-server", "--listen", &listen]);
            c
        }
        Target::Python => {
            let python: PathBuf = repo.join("bench/peers/python/.venv/bin/python");
            if !python.exists() {
                bail!(
                    "{} is missing: run bench/peers/install.sh",
                    python.display()
                );
            }
            let mut c = pinned(core, &python);
            c.arg(repo.join("bench/peers/python/peer.py"))
                .args(["--port", &port.to_string()]);
            c
        }
        Target::Node => {
            let script = repo.join("bench/peers/node/peer.js");
            if !repo.join("bench/peers/node/node_modules").exists() {
                bail!("bench/peers/node/node_modules is missing: run bench/peers/install.sh");
            }
            let mut c = pinned(core, Path::new("/usr/bin/env"));
            c.arg("node")
                .arg(script)
                .args(["--port", &port.to_string()]);
            c
        }
    };
    cmd.env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", target.name()))?;
    let running = Running {
        target,
        child,
        port,
        _data: data,
    };
    wait_answering(&running, Duration::from_secs(30)).await?;
    Ok(running)
}

/// Starts one `ocpulse serve` node of a cluster (`bench --cluster`), unpinned, on the shared
/// schema at `database_url` and NATS at `nats_url`, and waits until its HTTP API answers.
/// Its warnings go to `node-ID.log` in its data directory (printed by the caller when a
/// figure looks wrong).
pub async fn start_node(
    exe: &Path,
    database_url: &str,
    nats_url: &str,
    cluster: &str,
    node_id: &str,
) -> anyhow::Result<Running> {
    let port = free_port()?;
    let dir = tempfile::tempdir()?;
    let log = std::fs::File::create(dir.path().join(format!("node-{node_id}.log")))?;
    let mut cmd = Command::new(exe);
    cmd.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--data-dir",
    ])
    .arg(dir.path())
    .args(["--database-url", database_url])
    .args(["--cluster-url", nats_url])
    .args(["--cluster-name", cluster])
    .args(["--node-id", node_id])
    .env("RUST_LOG", "warn")
    .stdout(Stdio::null())
    .stderr(log);
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start cluster node {node_id}"))?;
    let running = Running {
        target: Target::OcpulsePostgres,
        child,
        port,
        _data: Some(dir),
    };
    wait_answering(&running, Duration::from_secs(60)).await?;
    Ok(running)
}

impl Running {
    /// The node's log (`start_node`), if it has one.
    pub fn log_path(&self) -> Option<PathBuf> {
        let dir = self._data.as_ref()?;
        std::fs::read_dir(dir.path())
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "log"))
    }
}

async fn wait_answering(running: &Running, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    let client = reqwest::Client::new();
    while Instant::now() < deadline {
        if let Ok(r) = client
            .get(format!("{}/api/v1/stations", running.http()))
            .send()
            .await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "{} did not start within {} s",
        running.target.name(),
        limit.as_secs()
    )
}

/// A schema made for one run of ocpulse on PostgreSQL, so a run starts from an empty journal
/// and leaves the database as it found it: dropped (with its tables) by `drop_schema`.
#[derive(Debug)]
pub struct BenchSchema {
    /// The database's URL, as given.
    base: String,
    /// `ocpulse_bench_PID_NANOS`.
    name: String,
    /// `base` with the schema as its `search_path`: what the server is given.
    pub url: String,
}

/// A connection to `url` for making or dropping the run's schema.
async fn admin(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("cannot connect to the benchmark's PostgreSQL")?;
    tokio::spawn(connection);
    Ok(client)
}

impl BenchSchema {
    /// Makes a fresh schema in the database at `base`.
    pub async fn create(base: &str) -> anyhow::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("ocpulse_bench_{}_{nanos}", std::process::id());
        admin(base)
            .await?
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .with_context(|| format!("cannot create schema {name}"))?;
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
        Ok(Self {
            base: base.to_owned(),
            name,
            url,
        })
    }

    /// Drops the schema and everything in it (after the server using it has stopped).
    pub async fn drop_schema(self) -> anyhow::Result<()> {
        admin(&self.base)
            .await?
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name))
            .await
            .with_context(|| format!("cannot drop schema {}", self.name))
    }
}
