//! The server on PostgreSQL while its database restarts (issue 18): ocpulse answers CALLERROR
//! `InternalError` while the database is away, never acknowledges what it did not commit,
//! keeps the stations' connections open, and recovers by itself when the database returns.
//!
//! The test runs its own PostgreSQL (initdb into a temporary directory, trust auth, a free
//! loopback port), never the machine's shared one, and stops it with `pg_ctl stop -m
//! immediate` (a crash, as far as clients can tell). It is skipped (passing, with the reason
//! printed) when `initdb` or `pg_ctl` cannot be found. As root, PostgreSQL refuses to run,
//! so its commands run as the `postgres` user through `runuser`.

mod common;

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::spawned::{free_port, journaled};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// How many stations stream MeterValues.
const STATIONS: usize = 4;

/// How long any one wait of the test may take.
const WAIT: Duration = Duration::from_secs(30);

/// `name` on the PATH or in /usr/local/bin.
fn find_bin(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/local/bin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A PostgreSQL instance of the test's own, stopped (immediately) when dropped, even when
/// the test panics.
struct Postgres {
    initdb: PathBuf,
    pg_ctl: PathBuf,
    /// `Some("postgres")` when the test runs as root: PostgreSQL's commands run as that user.
    run_as: Option<&'static str>,
    data: PathBuf,
    /// The socket directory and the server's log file live here.
    home: PathBuf,
    port: u16,
    /// Removed after the server is stopped (fields drop after `Drop::drop`).
    _root: tempfile::TempDir,
}

impl Postgres {
    /// A fresh cluster, not started; or why the test cannot run one here.
    fn init() -> Result<Self, String> {
        let initdb = find_bin("initdb").ok_or("initdb not found")?;
        let pg_ctl = find_bin("pg_ctl").ok_or("pg_ctl not found")?;
        let root = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let home = root.path().join("pg");
        std::fs::create_dir(&home).map_err(|e| format!("mkdir: {e}"))?;
        let as_root = std::fs::metadata(&home).map_err(|e| e.to_string())?.uid() == 0;
        let run_as = if as_root {
            // PostgreSQL refuses to run as root: hand the directory to `postgres`.
            let user_exists = Command::new("id")
                .args(["-u", "postgres"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !user_exists || find_bin("runuser").is_none() {
                return Err("running as root without a `postgres` user and `runuser`".into());
            }
            std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755))
                .map_err(|e| e.to_string())?;
            let chown = Command::new("chown")
                .arg("postgres")
                .arg(&home)
                .status()
                .map_err(|e| e.to_string())?;
            if !chown.success() {
                return Err("cannot chown the cluster's directory to postgres".into());
            }
            Some("postgres")
        } else {
            None
        };
        let pg = Self {
            initdb,
            pg_ctl,
            run_as,
            data: home.join("data"),
            home,
            port: free_port(),
            _root: root,
        };
        let mut init = pg.command(&pg.initdb);
        init.arg("-D")
            .arg(&pg.data)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale"])
            .arg("--no-sync");
        let out = init.output().map_err(|e| format!("initdb: {e}"))?;
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(pg)
    }

    /// `bin`, as the cluster's owner.
    fn command(&self, bin: &Path) -> Command {
        let mut c = match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        c.stdin(Stdio::null());
        c
    }

    fn pg_ctl(&self, args: &[&str]) -> std::process::Output {
        let mut c = self.command(&self.pg_ctl);
        c.arg("-D").arg(&self.data).args(args);
        c.output().expect("run pg_ctl")
    }

    /// Starts the server and waits (bounded) until it accepts connections.
    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.home.display()
        );
        let log = self.home.join("postgres.log");
        let log = log.to_str().expect("utf-8 path");
        let out = self.pg_ctl(&["-o", &options, "-l", log, "-w", "-t", "30", "start"]);
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }

    /// Stops the server the hard way: every backend quits at once, no checkpoint.
    fn stop_immediately(&self) -> bool {
        self.pg_ctl(&["-m", "immediate", "-w", "-t", "30", "stop"])
            .status
            .success()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Harmless when it is already stopped.
        let _ = self.stop_immediately();
    }
}

/// The ocpulse server process, killed when dropped; its log is printed if the test failed.
struct Server {
    child: Child,
    log: PathBuf,
    port: u16,
}

impl Server {
    fn start(dir: &Path, url: &str) -> Self {
        let port = free_port();
        let log = dir.join("ocpulse.log");
        let file = std::fs::File::create(&log).expect("log file");
        let child = common::spawned::serve(port, dir)
            .args(["--database-url", url])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn ocpulse");
        Self { child, log, port }
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if reqwest::get(format!("http://127.0.0.1:{}/api/v1/health", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("ocpulse did not start");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("--- ocpulse's last log lines ---");
            for line in &lines[lines.len().saturating_sub(30)..] {
                eprintln!("{line}");
            }
        }
    }
}

/// What a station saw of one of its CALLs.
#[derive(Debug)]
enum Seen {
    /// Acknowledged with a CALLRESULT.
    Acked { id: String, sent: Instant },
    /// Answered with a CALLERROR of this code.
    Refused { code: String, sent: Instant },
    /// The connection ended (or an answer did not come within `WAIT`).
    Closed { station: String, why: String },
}

/// One event a station reports, with when it was seen.
type Event = (usize, Seen, Instant);

type Socket = common::spawned::Station;

async fn connect(port: u16, station: &str) -> Socket {
    common::spawned::connect(port, station)
        .await
        .unwrap_or_else(|| panic!("{station} cannot connect"))
}

async fn stream(
    index: usize,
    port: u16,
    stop: Arc<AtomicBool>,
    events: mpsc::UnboundedSender<Event>,
) {
    let station = format!("PGR{index}");
    let mut ws = connect(port, &station).await;
    let closed = |why: String| {
        (
            index,
            Seen::Closed {
                station: station.clone(),
                why,
            },
            Instant::now(),
        )
    };
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let id = format!("{station}-{n}");
        let payload = json!({"connectorId": 1, "meterValue": [{"timestamp": "2025-01-01T12:00:00Z", "sampledValue": [{"value": n.to_string()}]}]});
        let sent = Instant::now();
        let frame = json!([2, id, "MeterValues", payload]).to_string();
        if let Err(e) = ws.send(Message::Text(frame.into())).await {
            let _ = events.send(closed(format!("send: {e}")));
            return;
        }
        let seen = loop {
            match tokio::time::timeout(WAIT, ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(t.as_str()).expect("json");
                    if v[1] != json!(id) {
                        continue;
                    }
                    match v[0].as_i64() {
                        Some(3) => break Seen::Acked { id, sent },
                        Some(4) => {
                            let code = v[2].as_str().unwrap_or_default().to_owned();
                            break Seen::Refused { code, sent };
                        }
                        _ => continue,
                    }
                }
                Ok(Some(Ok(_))) => continue,
                Ok(other) => {
                    let _ = events.send(closed(format!("{other:?}")));
                    return;
                }
                Err(_) => {
                    let _ = events.send(closed(format!("no answer to {id} within {WAIT:?}")));
                    return;
                }
            }
        };
        let _ = events.send((index, seen, Instant::now()));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = ws.close(None).await;
}

/// Everything the stations reported so far.
#[derive(Default)]
struct Log {
    acked: HashSet<String>,
    /// Acknowledgements: (station, sent, answered).
    acks: Vec<(usize, Instant, Instant)>,
    /// CALLERRORs: (station, code, sent, answered).
    refusals: Vec<(usize, String, Instant, Instant)>,
}

impl Log {
    fn take(&mut self, (station, seen, at): Event) {
        match seen {
            Seen::Acked { id, sent } => {
                self.acked.insert(id);
                self.acks.push((station, sent, at));
            }
            Seen::Refused { code, sent } => self.refusals.push((station, code, sent, at)),
            Seen::Closed { station, why } => {
                panic!("{station}'s connection ended (it must stay open): {why}")
            }
        }
    }

    /// Reads events until `done` holds, failing after `WAIT`.
    async fn until(
        &mut self,
        events: &mut mpsc::UnboundedReceiver<Event>,
        what: &str,
        done: impl Fn(&Self) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !done(self) {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(event)) => self.take(event),
                Ok(None) => panic!("every station stopped before {what}"),
                Err(_) => panic!("not within {WAIT:?}: {what}"),
            }
        }
    }
}

/// The ids of the MeterValues CALLs journaled for `station`, read back through the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_gets_internal_errors_loses_no_acknowledged_message_and_recovers() {
    let pg = match Postgres::init() {
        Ok(pg) => pg,
        Err(why) => {
            println!("skipped: cannot run a PostgreSQL of the test's own: {why}");
            return;
        }
    };
    pg.start();
    ocpulse::install_tls_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &pg.url());
    server.wait_ready().await;

    let stop = Arc::new(AtomicBool::new(false));
    let (tx, mut events) = mpsc::unbounded_channel();
    let stations: Vec<_> = (0..STATIONS)
        .map(|i| tokio::spawn(stream(i, server.port, stop.clone(), tx.clone())))
        .collect();
    drop(tx);
    let mut log = Log::default();

    // Before: every station is acknowledged.
    log.until(&mut events, "every station acknowledged 20 times", |l| {
        (0..STATIONS).all(|s| l.acks.iter().filter(|a| a.0 == s).count() >= 20)
    })
    .await;
    assert!(
        log.refusals.is_empty(),
        "refused before the outage: {:?}",
        log.refusals
    );

    // The database goes away: every station gets InternalError, on the same connection.
    assert!(pg.stop_immediately(), "pg_ctl stop -m immediate");
    let down = Instant::now();
    log.until(
        &mut events,
        "every station refused 5 times after the stop",
        |l| {
            (0..STATIONS).all(|s| l.refusals.iter().filter(|r| r.0 == s && r.2 > down).count() >= 5)
        },
    )
    .await;
    // Hold the outage a little longer, so the writer fails on many reconnections.
    let outage_end = down + Duration::from_secs(2);
    while Instant::now() < outage_end {
        if let Ok(Some(event)) = tokio::time::timeout_at(outage_end.into(), events.recv()).await {
            log.take(event);
        }
    }
    let first_refusal = log
        .refusals
        .iter()
        .filter(|r| r.2 > down)
        .map(|r| r.3 - down)
        .min();
    let refused_during = log.refusals.iter().filter(|r| r.2 > down).count();

    // The database returns, on the same directory and port; ocpulse is not restarted.
    let restarting = Instant::now();
    pg.start();
    let up = Instant::now();
    let sent_during_outage_and_acked: Vec<_> = log
        .acks
        .iter()
        .filter(|a| a.1 > down && a.2 < restarting)
        .collect();
    assert!(
        sent_during_outage_and_acked.is_empty(),
        "acknowledged while the database was down: {} messages",
        sent_during_outage_and_acked.len()
    );
    let other_codes: Vec<_> = log
        .refusals
        .iter()
        .filter(|r| r.1 != "InternalError")
        .map(|r| r.1.clone())
        .collect();
    assert!(
        other_codes.is_empty(),
        "only InternalError: {other_codes:?}"
    );

    log.until(
        &mut events,
        "every station acknowledged again after the restart",
        |l| (0..STATIONS).all(|s| l.acks.iter().any(|a| a.0 == s && a.1 > up)),
    )
    .await;
    // When each station was first acknowledged again, from the moment PostgreSQL was asked
    // to start (pg_ctl returns a little after it accepts connections).
    let recovered: Vec<Duration> = (0..STATIONS)
        .filter_map(|s| {
            log.acks
                .iter()
                .filter(|a| a.0 == s && a.1 > restarting)
                .map(|a| a.2 - restarting)
                .min()
        })
        .collect();
    let first_ack = recovered.iter().min().copied().unwrap_or_default();
    let all_acked = recovered.iter().max().copied().unwrap_or_default();
    // And it stays recovered.
    let acks_then = log.acks.len();
    log.until(&mut events, "50 more acknowledgements", |l| {
        l.acks.len() >= acks_then + 50
    })
    .await;

    stop.store(true, Ordering::Relaxed);
    for s in stations {
        tokio::time::timeout(WAIT, s)
            .await
            .expect("stations stop")
            .expect("station task");
    }
    while let Ok(event) = events.try_recv() {
        log.take(event);
    }

    // None lost: every acknowledged message is in the journal.
    let mut journal = HashSet::new();
    let mut per_station = HashMap::new();
    for s in 0..STATIONS {
        let ids = journaled(server.port, &format!("PGR{s}")).await;
        per_station.insert(s, ids.len());
        journal.extend(ids);
    }
    let lost: Vec<_> = log.acked.difference(&journal).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged messages lost, e.g. {:?}",
        lost.len(),
        lost.iter().take(5).collect::<Vec<_>>()
    );
    println!(
        "{} acknowledged ({} journaled), {refused_during} InternalError during the outage \
         (first {first_refusal:?} after the stop); pg_ctl start took {:?}; acknowledged again \
         {first_ack:?} after it began, every station by {all_acked:?}",
        log.acked.len(),
        journal.len(),
        up - restarting,
    );
    drop(server);
    drop(pg);
}
