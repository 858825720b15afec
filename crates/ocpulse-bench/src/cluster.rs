//! `ocpulse bench --cluster N`: N `ocpulse serve` nodes on this machine, on one fresh
//! PostgreSQL schema and a `nats-server` of the run's own (never the machine's shared one),
//! holding a simulated fleet together; and, in the same run, one node alone on PostgreSQL
//! for the single-node figure the cluster's fleet trigger is compared with.
//!
//! Measured: connect+boot of the whole fleet (each node gets its share, through its own
//! port) and RSS per station per node; one bulk job triggering every station (the leader
//! runs it and hands each step for a station held elsewhere to the station's owner); and
//! what routing costs: the same triggers through the owning node and through
//! another node, with server CPU per trigger summed over the two nodes (and the NATS
//! server's apart) and p50/p99 latency. Every loop is bounded in count and time; everything
//! stays on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::procstat::{cpu_secs, rss_kib};
use crate::report::Report;
use crate::run::pin_driver;
use crate::scenarios::{Fleet, station, trigger_closed_loop, trigger_open_loop};
use crate::targets::{BenchSchema, Running, Target, start, start_node};

/// What `bench --cluster` runs.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Nodes in the cluster (at least 2: routing needs an owner and another node).
    pub nodes: usize,
    /// Stations of the whole cluster (split evenly over the nodes).
    pub stations: usize,
    /// Stations of the single-node comparison run (0 = skip it).
    pub single_stations: usize,
    /// Length of each trigger phase.
    pub phase: Duration,
    /// The `ocpulse` executable.
    pub exe: PathBuf,
    /// The PostgreSQL database; each run makes schemas of its own and drops them.
    pub database_url: String,
    /// The `nats-server` executable (Debian's `nats-server` package).
    pub nats_server: PathBuf,
}

/// A `nats-server -js` of the run's own, on a free port, its store in a temporary directory.
#[derive(Debug)]
pub struct NatsServer {
    child: Child,
    /// Its client port on 127.0.0.1.
    pub port: u16,
    _store: tempfile::TempDir,
}

impl NatsServer {
    /// Starts it and waits (at most 10 s) until it takes connections.
    pub async fn start(program: &Path) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let store = tempfile::tempdir()?;
        let child = Command::new(program)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (Debian package nats-server)",
                    program.display()
                )
            })?;
        let server = Self {
            child,
            port,
            _store: store,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("nats-server did not listen on port {port} within 10 s")
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Its pid, for CPU and RSS readings.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Raises this process's open-file limit (soft, and hard when allowed) to `want` when it is
/// lower, so one process can hold its share of the stations' sockets; the servers and fleet
/// processes started afterwards inherit it. Never lowers it. Returns the soft limit in force.
pub fn raise_open_files(want: u64) -> u64 {
    let soft = || {
        std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|l| {
                l.lines()
                    .find(|l| l.starts_with("Max open files"))
                    .and_then(|l| l.split_whitespace().nth(3))
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    if soft() >= want {
        return soft();
    }
    let me = std::process::id().to_string();
    // The soft limit alone when the hard one allows it; both when that is allowed (root).
    for spec in [format!("{want}:"), format!("{want}:{want}")] {
        if soft() >= want {
            break;
        }
        let _ = Command::new("prlimit")
            .args(["--pid", &me, &format!("--nofile={spec}")])
            .stderr(Stdio::null())
            .status();
    }
    soft()
}

async fn get_json(client: &reqwest::Client, url: &str) -> Option<Value> {
    let r = client.get(url).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

/// Polls `GET /api/v1/cluster` on `node` until `ready` holds or `limit` passes.
async fn until_cluster(
    client: &reqwest::Client,
    node: &Running,
    limit: Duration,
    ready: impl Fn(&Value) -> bool,
) -> Option<Value> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(v) = get_json(client, &format!("{}/api/v1/cluster", node.http())).await
            && ready(&v)
        {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Triggers StatusNotification on every connected station through one bulk job posted to
/// `http` (without `wait`: a job's full answer with tens of thousands of results is several
/// MB), then follows it (`?results=none`) until it ends, at most `limit`. Returns (seconds
/// from the POST until the job was seen ended, stations of `expected` not `Completed`).
pub async fn fleet_job_followed(
    client: &reqwest::Client,
    http: &str,
    expected: usize,
    limit: Duration,
) -> (f64, usize) {
    let body = json!({
        "selector": {"all": true},
        "trigger": {"requestedMessage": "StatusNotification", "connectorId": 1},
        "retries": 0,
    });
    let started = Instant::now();
    let created = match client
        .post(format!("{http}/api/v1/trigger-jobs"))
        .json(&body)
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
        Ok(r) => {
            let code = r.status();
            eprintln!(
                "bench: the bulk job was refused: {code} {}",
                r.text().await.unwrap_or_default()
            );
            None
        }
        Err(e) => {
            eprintln!("bench: cannot post the bulk job: {e}");
            None
        }
    };
    let Some(id) = created.and_then(|v| v["jobId"].as_str().map(str::to_owned)) else {
        eprintln!("bench: the bulk job's answer has no jobId");
        return (started.elapsed().as_secs_f64(), expected);
    };
    let url = format!("{http}/api/v1/trigger-jobs/{id}?results=none");
    while started.elapsed() < limit {
        if let Some(job) = get_json(client, &url).await
            && job["status"] != "running"
        {
            let secs = started.elapsed().as_secs_f64();
            let completed = if job["status"] == "completed" {
                job["counts"]["Completed"].as_u64().unwrap_or(0)
            } else {
                0
            };
            let completed = usize::try_from(completed).unwrap_or(0);
            return (secs, expected.saturating_sub(completed));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("bench: the bulk job {id} did not end within {limit:?}");
    (started.elapsed().as_secs_f64(), expected)
}

/// The journal's rows and bytes (every day partition, indexes included) in the schema of
/// `url`: what the scaling arithmetic stands on. `None` when it cannot be read.
async fn journal_size(url: &str) -> Option<(i64, i64)> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .ok()?;
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM journal), \
             (SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0)::bigint \
              FROM pg_inherits WHERE inhparent = 'journal'::regclass)",
            &[],
        )
        .await
        .ok()?;
    Some((row.get(0), row.get(1)))
}

/// A fleet in a process of its own (`ocpulse bench-fleet`): one process holds ~20,000
/// sockets, and the cluster's fleet is larger. Killed when dropped.
struct FleetProcess {
    child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

/// The most stations one fleet process holds (its open-file limit is 20,000).
const PER_PROCESS: usize = 18_000;

impl FleetProcess {
    fn spawn(exe: &Path, ws: &str, n: usize, prefix: &str) -> anyhow::Result<Self> {
        use tokio::io::AsyncBufReadExt as _;
        let mut cmd = if Path::new("/usr/bin/taskset").exists() {
            let mut c = tokio::process::Command::new("/usr/bin/taskset");
            c.args(["-c", "1"]).arg(exe);
            c
        } else {
            tokio::process::Command::new(exe)
        };
        let mut child = cmd
            .args(["bench-fleet", "--url", ws, "--prefix", prefix])
            .args(["--stations", &n.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start a fleet process (ocpulse bench-fleet)")?;
        let stdout = child
            .stdout
            .take()
            .context("the fleet process has no stdout")?;
        Ok(Self {
            child,
            lines: tokio::io::BufReader::new(stdout).lines(),
        })
    }

    /// Waits for its report: (seconds to boot every station, stations that did not).
    async fn booted(&mut self, n: usize) -> (f64, usize) {
        match self.lines.next_line().await {
            Ok(Some(line)) => {
                let v: Value = serde_json::from_str(&line).unwrap_or_default();
                (
                    v["secs"].as_f64().unwrap_or(0.0),
                    v["failed"]
                        .as_u64()
                        .and_then(|f| usize::try_from(f).ok())
                        .unwrap_or(n),
                )
            }
            _ => (0.0, n),
        }
    }

    async fn stop(mut self) {
        // Closing stdin ends it; the kill is for one that does not.
        drop(self.child.stdin.take());
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Node `i`'s id: a, b, c, …
fn node_id(i: usize) -> String {
    char::from(b'a' + u8::try_from(i % 26).unwrap_or(0)).to_string()
}

/// Runs the cluster benchmark; the figures are in the report (and printed as JSON lines).
pub async fn run_cluster(opts: &ClusterOptions) -> anyhow::Result<Report> {
    if opts.nodes < 2 || opts.nodes > 26 {
        bail!("--cluster takes 2 to 26 nodes, got {}", opts.nodes);
    }
    let mut report = Report::default();
    // Sockets of every station, the HTTP callers, and room for the rest.
    // Each process (a fleet, a node, the single node's in-process fleet) holds one share.
    let share = (opts.stations / opts.nodes.max(1)).max(opts.single_stations);
    let want = u64::try_from(share).unwrap_or(u64::MAX) + 1_024;
    let nofile = raise_open_files(want);
    let pinned = pin_driver();
    eprintln!(
        "bench: cluster of {} nodes, {} stations; open files: {nofile}; driver pinned to core 1: {pinned}; servers unpinned",
        opts.nodes, opts.stations
    );
    if nofile < want {
        eprintln!(
            "bench: the open-file limit ({nofile}) is below the {want} the fleet needs: stations past it fail to connect"
        );
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let job_limit = Duration::from_secs(300);

    // One node alone on PostgreSQL: the single-node fleet-trigger figure of this run.
    let single = "single node (postgres)";
    if opts.single_stations > 0 {
        let schema = BenchSchema::create(&opts.database_url).await?;
        let result = async {
            let server = start(
                Target::OcpulsePostgres,
                &opts.exe,
                Path::new("."),
                None,
                Some(&schema.url),
            )
            .await?;
            let n = opts.single_stations;
            let rss0 = rss_kib(server.pid());
            let (fleet, took, failed) =
                Fleet::connect(&server.ws(), n, "S", Duration::from_secs(300)).await;
            report.add(single, format!("connect+boot {n} (s)"), took.as_secs_f64());
            report.add(single, format!("connect+boot {n} failures"), failed as f64);
            tokio::time::sleep(Duration::from_secs(2)).await;
            report.add(
                single,
                format!("KB RSS per idle station ({n})"),
                rss_kib(server.pid()).saturating_sub(rss0) as f64 / n as f64,
            );
            let (secs, failures) = fleet_job_followed(&client, &server.http(), n, job_limit).await;
            report.add(
                single,
                format!("fleet trigger {n} via one bulk job (s)"),
                secs,
            );
            report.add(
                single,
                format!("fleet trigger {n} via one bulk job failures"),
                failures as f64,
            );
            fleet.stop().await;
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = schema.drop_schema().await {
            eprintln!("bench: {e:#}");
        }
        result?;
    }

    // The cluster.
    let schema = BenchSchema::create(&opts.database_url).await?;
    let cl = cluster_name(opts.nodes);
    let result = cluster_phases(opts, cl, &client, &schema.url, &mut report).await;
    if let Err(e) = schema.drop_schema().await {
        eprintln!("bench: {e:#}");
    }
    result?;

    // The targets, as rows of their own.
    let n = opts.stations / opts.nodes * opts.nodes;
    if let (Some(big), Some(small)) = (
        report.value_of(cl, &format!("fleet trigger {n} via one bulk job (s)")),
        report.value_of(
            single,
            &format!(
                "fleet trigger {} via one bulk job (s)",
                opts.single_stations
            ),
        ),
    ) && small > 0.0
    {
        report.add(
            cl,
            format!(
                "fleet job {n} ÷ single node's {} (target ≤ 3)",
                opts.single_stations
            ),
            big / small,
        );
    }
    Ok(report)
}

/// The cluster's column in the table (made once per run, so it lives as long as the report).
pub fn cluster_name(nodes: usize) -> &'static str {
    Box::leak(format!("cluster of {nodes}").into_boxed_str())
}

async fn cluster_phases(
    opts: &ClusterOptions,
    cl: &'static str,
    client: &reqwest::Client,
    database_url: &str,
    report: &mut Report,
) -> anyhow::Result<()> {
    let nats = NatsServer::start(&opts.nats_server).await?;
    let name = format!("bench{}", std::process::id());
    let mut nodes = Vec::new();
    for i in 0..opts.nodes {
        nodes.push(start_node(&opts.exe, database_url, &nats.url(), &name, &node_id(i)).await?);
    }
    let joined = until_cluster(client, &nodes[0], Duration::from_secs(30), |v| {
        v["nodes"].as_array().is_some_and(|n| n.len() == opts.nodes) && v["leader"].is_string()
    })
    .await
    .context("the cluster's nodes did not all join with a leader within 30 s")?;
    let leader = joined["leader"].as_str().unwrap_or_default().to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss0: Vec<u64> = nodes.iter().map(|n| rss_kib(n.pid())).collect();
    let nats_rss0 = rss_kib(nats.pid());

    // Connect + boot: every node its share, at once.
    let per = opts.stations / opts.nodes;
    let total = per * opts.nodes;
    if per > PER_PROCESS {
        bail!(
            "{per} stations per node is more than one fleet process holds ({PER_PROCESS}): use more nodes or fewer stations"
        );
    }
    let cpu_connect0: f64 = nodes.iter().map(|n| cpu_secs(n.pid())).sum();
    let nats_connect0 = cpu_secs(nats.pid());
    let started = Instant::now();
    let mut fleets = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        fleets.push(FleetProcess::spawn(
            &opts.exe,
            &node.ws(),
            per,
            &node_id(i).to_uppercase(),
        )?);
    }
    let mut failed = 0;
    for fleet in &mut fleets {
        failed += fleet.booted(per).await.1;
    }
    let took = started.elapsed();
    report.add(cl, format!("connect+boot {total} (s)"), took.as_secs_f64());
    report.add(cl, format!("connect+boot {total} failures"), failed as f64);
    report.add(
        cl,
        "connect+boot: server CPU µs per station (all nodes)",
        (nodes.iter().map(|n| cpu_secs(n.pid())).sum::<f64>() - cpu_connect0) * 1e6
            / total.max(1) as f64,
    );
    report.add(
        cl,
        "connect+boot: nats-server CPU µs per station",
        (cpu_secs(nats.pid()) - nats_connect0) * 1e6 / total.max(1) as f64,
    );
    // Every node's liveness record (every 2 s) counts its stations: all of them, cluster-wide.
    let seen = until_cluster(client, &nodes[0], Duration::from_secs(60), |v| {
        v["stations"].as_u64() == Some(total as u64)
    })
    .await;
    report.add(
        cl,
        format!("stations counted cluster-wide after connect ({total})"),
        seen.as_ref()
            .and_then(|v| v["stations"].as_u64())
            .unwrap_or(0) as f64,
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut rss_max = 0.0f64;
    for (i, node) in nodes.iter().enumerate() {
        let kb = rss_kib(node.pid()).saturating_sub(rss0[i]) as f64 / per as f64;
        report.add(
            cl,
            format!("KB RSS per idle station, node {} ({per})", node_id(i)),
            kb,
        );
        rss_max = rss_max.max(rss_kib(node.pid()) as f64 / 1024.0);
    }
    report.add(cl, "largest node RSS MB", rss_max);
    report.add(
        cl,
        "nats-server RSS MB",
        rss_kib(nats.pid()) as f64 / 1024.0,
    );
    report.add(
        cl,
        format!("nats-server KB RSS per station ({total})"),
        rss_kib(nats.pid()).saturating_sub(nats_rss0) as f64 / total as f64,
    );

    // One bulk job of every station, posted to the leader's node: a job's answer lists every
    // station, and past ~5,000 stations it no longer fits a NATS message from another node.
    let via = (0..nodes.len())
        .find(|i| node_id(*i) == leader)
        .unwrap_or(0);
    eprintln!(
        "bench: leader {leader}; the bulk job is posted to node {}",
        node_id(via)
    );
    let rows0 = journal_size(database_url).await;
    if let Some((rows, _)) = rows0 {
        report.add(
            cl,
            "journal rows per station after connect+boot",
            rows as f64 / total.max(1) as f64,
        );
    }
    let cpu0: Vec<f64> = nodes.iter().map(|n| cpu_secs(n.pid())).collect();
    let nats_cpu0 = cpu_secs(nats.pid());
    let (secs, failures) =
        fleet_job_followed(client, &nodes[via].http(), total, Duration::from_secs(300)).await;
    report.add(
        cl,
        format!("fleet trigger {total} via one bulk job (s)"),
        secs,
    );
    report.add(
        cl,
        format!("fleet trigger {total} via one bulk job failures"),
        failures as f64,
    );
    let job_cpu: f64 = nodes
        .iter()
        .zip(&cpu0)
        .map(|(n, c)| cpu_secs(n.pid()) - c)
        .sum();
    report.add(
        cl,
        "bulk job: server CPU µs per station (all nodes)",
        job_cpu * 1e6 / total.max(1) as f64,
    );
    report.add(
        cl,
        "bulk job: nats-server CPU µs per station",
        (cpu_secs(nats.pid()) - nats_cpu0) * 1e6 / total.max(1) as f64,
    );

    if let (Some((rows0, _)), Some((rows, bytes))) = (rows0, journal_size(database_url).await) {
        report.add(
            cl,
            "journal rows per bulk-job trigger",
            (rows - rows0) as f64 / total.max(1) as f64,
        );
        report.add(
            cl,
            "journal bytes per row (indexes included)",
            bytes as f64 / rows.max(1) as f64,
        );
    }

    // What routing costs: stations held by node `owner`, triggered through it and through
    // node `other`.
    let (owner, other) = (1, 0);
    let prefix = node_id(owner).to_uppercase();
    let stations: Vec<_> = (0..per).map(|i| station(i, &prefix)).collect();
    let stations = &stations;
    let pair = [nodes[owner].pid(), nodes[other].pid()];
    let mut cpu_per = [0.0f64; 2];
    for (k, (label, api)) in [("local", &nodes[owner]), ("routed", &nodes[other])]
        .into_iter()
        .enumerate()
    {
        let cpu0: f64 = pair.iter().map(|p| cpu_secs(*p)).sum();
        let nats0 = cpu_secs(nats.pid());
        let (rate, _, fails) = trigger_closed_loop(&api.http(), stations, 32, opts.phase).await;
        let count = (rate * opts.phase.as_secs_f64()).max(1.0);
        let cpu: f64 = pair.iter().map(|p| cpu_secs(*p)).sum::<f64>() - cpu0;
        cpu_per[k] = cpu * 1e6 / count;
        report.add(cl, format!("{label}: triggers/s (32 concurrent)"), rate);
        report.add(
            cl,
            format!("{label}: server CPU µs per trigger (owner + API node)"),
            cpu_per[k],
        );
        report.add(
            cl,
            format!("{label}: nats-server CPU µs per trigger"),
            (cpu_secs(nats.pid()) - nats0) * 1e6 / count,
        );
        report.add(
            cl,
            format!("{label}: trigger failures (32 concurrent)"),
            fails as f64,
        );
        let (lat_open, fails_open, _) = trigger_open_loop(
            &api.http(),
            &stations[..32.min(stations.len())],
            1000.0,
            opts.phase,
        )
        .await;
        report.add(cl, format!("{label}: trigger p50 ms @1000/s"), lat_open.p50);
        report.add(cl, format!("{label}: trigger p99 ms @1000/s"), lat_open.p99);
        report.add(
            cl,
            format!("{label}: trigger failures @1000/s"),
            fails_open as f64,
        );
    }
    if cpu_per[0] > 0.0 {
        report.add(
            cl,
            "routed ÷ local server CPU per trigger (target ≤ 1.5)",
            cpu_per[1] / cpu_per[0],
        );
    }
    for fleet in fleets {
        fleet.stop().await;
    }
    if failed > 0 || failures > 0 {
        for node in &nodes {
            if let Some(log) = node.log_path() {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(5).collect();
                eprintln!("bench: last lines of {}: {tail:#?}", log.display());
            }
        }
    }
    drop(nodes);
    drop(nats);
    Ok(())
}
