//! The PostgreSQL store (`serve --database-url postgres://...`).
//!
//! Like the SQLite store, one writer commits in groups: a thread with its own runtime and
//! connection takes every batch queued while the previous commit ran and writes them in one
//! transaction, every statement pipelined (one round trip per group: BEGIN, the seq
//! reservation, one multi-row INSERT per table from arrays, COMMIT), with
//! `synchronous_commit=on`; each batch is acknowledged, and its entries published, only
//! after COMMIT. Reads go through a small pool on the caller's runtime.
//!
//! `seq`s are reserved from `meta.journal_seq` in the group's transaction: the row lock
//! orders writers (two processes on one database still commit seqs in order) and makes the
//! counter exactly the highest committed seq. The journal is partitioned by day of `at`;
//! the writer creates the coming days' partitions ahead.
//!
//! PostgreSQL text cannot hold a NUL character: one in any stored text is written as U+FFFD.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use ocpulse_core::Millis;
use ocpulse_core::journal::{Direction, JournalEntry, JournalQuery, JournalScan};
use ocpulse_core::projection::Folded;
use ocpulse_core::retention::{ActionSet, JournalStats};
use ocpulse_core::store::{BoxFuture, DocChange, Snapshot, Store, StoreError, WriteBatch};
use ocpulse_core::trigger_record::{TriggerQuery, TriggerRecord};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

/// The most batches one group commit takes, so a flood cannot make one commit unbounded.
const MAX_GROUP: usize = 4096;

/// How long entries nobody waits for may wait for company before they are committed.
const LINGER: Duration = Duration::from_millis(10);

/// How many committed entries a live subscriber may fall behind (as SQLite).
const EVENTS_CAPACITY: usize = 4096;

/// Connections for reads (API queries, exports, live tails catching up).
const READERS: usize = 8;

/// How long a connection attempt may take when the URL does not say (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a read waits for a free pooled connection, or for a new one to open.
const READ_WAIT: Duration = Duration::from_secs(30);

const DAY_MS: i64 = 86_400_000;

/// How many days of journal partitions exist ahead of today.
const PARTITION_DAYS_AHEAD: i64 = 7;

/// How often the writer checks that the coming days' partitions exist.
const PARTITION_CHECK_EVERY: Duration = Duration::from_secs(60);

/// An acknowledgement: where to say a batch is durable (or why not).
type Ack = oneshot::Sender<Result<(), StoreError>>;

/// A batch queued for the writer and, when someone waits, where to acknowledge it.
type Commit = (WriteBatch, Option<Ack>);

/// What the writer thread is asked to do.
enum Work {
    /// Commit a batch.
    Commit(Commit),
    /// Answer a synchronous read (the port's start-up reads) after what was queued before.
    Read(SyncRead),
}

/// Sorts one piece of work into the group being collected (`waited`: someone waits for a
/// batch of it) or the reads answered after it.
fn take(work: Work, group: &mut Vec<Commit>, reads: &mut Vec<SyncRead>, waited: &mut bool) {
    match work {
        Work::Commit(commit) => {
            *waited |= commit.1.is_some();
            group.push(commit);
        }
        Work::Read(read) => reads.push(read),
    }
}

/// The port's two synchronous reads, answered by the writer on its own runtime (a caller
/// blocking its thread can then never starve the connection that answers it).
enum SyncRead {
    Snapshot(std::sync::mpsc::Sender<Result<Snapshot, StoreError>>),
    TransactionId(std::sync::mpsc::Sender<Result<i64, StoreError>>),
}

/// PostgreSQL-backed `Store`.
pub struct PgStore {
    /// `None` once dropping: closing it ends the writer's loop.
    work: Option<mpsc::UnboundedSender<Work>>,
    /// Joined on drop, so what was queued is written before the store is gone.
    writer: Option<thread::JoinHandle<()>>,
    pool: Pool,
    events: broadcast::Sender<Arc<JournalEntry>>,
    /// Where it is, for messages (never the password).
    target: String,
    /// A cluster node's store: its tail of the shared journal runs while this is held.
    _tail: Option<Arc<()>>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        drop(self.work.take());
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!("the PostgreSQL journal writer panicked");
        }
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .finish()
    }
}

/// A statement the database refused or failed.
fn db(e: tokio_postgres::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// A value that cannot become, or be read back from, the JSON it is stored as.
fn not_json(e: serde_json::Error) -> StoreError {
    StoreError::Serialization(e.to_string())
}

/// Text PostgreSQL can store: a NUL character becomes U+FFFD (copied only when present).
fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// `host:port/dbname` (user, never the password), for messages.
fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().or(config.get_user()).unwrap_or("");
    match config.get_user() {
        Some(user) => format!("{user}@{host}:{port}/{db}"),
        None => format!("{host}:{port}/{db}"),
    }
}

/// Today, in days since the epoch (UTC).
fn today() -> i64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    ms.div_euclid(DAY_MS)
}

/// The day since the epoch a `journal_pYYYYMMDD` partition holds.
fn partition_day(name: &str) -> Option<i64> {
    let digits = name.strip_prefix("journal_p")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = |r: std::ops::Range<usize>| digits.get(r)?.parse::<i32>().ok();
    let month = time::Month::try_from(u8::try_from(number(4..6)?).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(number(0..4)?, month, u8::try_from(number(6..8)?).ok()?)
            .ok()?;
    Some(
        date.midnight()
            .assume_utc()
            .unix_timestamp()
            .div_euclid(86_400),
    )
}

/// `journal_pYYYYMMDD` for day `day` since the epoch.
fn partition_name(day: i64) -> String {
    let date = time::OffsetDateTime::from_unix_timestamp(day * 86_400)
        .map(|t| t.date())
        .unwrap_or(time::Date::MIN);
    format!(
        "journal_p{:04}{:02}{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

impl PgStore {
    /// Connects to the database at `url` (a `postgres://` URL or key=value string), brings
    /// its schema up to date and starts the writer. Running triggers left by a stopped
    /// server are marked interrupted. Fails, without panicking, on a bad URL or an
    /// unreachable database.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, Mode::Server).await
    }

    /// Opens the store for an offline command that may run while a server uses the same
    /// database: like `open`, but it leaves running triggers alone.
    pub async fn open_beside_server(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, Mode::BesideServer).await
    }

    /// Opens the store of one node of a cluster: every node writes the same schema (no
    /// server lock; seqs stay gap-free and in commit order through `meta.journal_seq`'s row
    /// lock), running triggers are left to the node that runs them, and subscribers see the
    /// whole cluster's journal: the committed entries of every node, read in `seq` order
    /// from the table (woken by this node's own commits, else every `TAIL_POLL`), not this
    /// writer's alone.
    pub async fn open_cluster_node(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, Mode::ClusterNode).await
    }

    async fn open_with(url: &str, mode: Mode) -> Result<Self, StoreError> {
        let recover = mode == Mode::Server;
        let mut config: Config = url
            .parse()
            .map_err(|e| StoreError::Setup(format!("invalid PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let target = describe(&config);
        let (work, rx) = mpsc::unbounded_channel();
        let (ready, started) = oneshot::channel();
        let (events, _) = broadcast::channel(EVENTS_CAPACITY);
        let committed = Arc::new(tokio::sync::Notify::new());
        let publish = match mode {
            Mode::ClusterNode => Publish::Wake(Arc::clone(&committed)),
            Mode::Server | Mode::BesideServer => Publish::Entries(events.clone()),
        };
        let writer_config = config.clone();
        let writer_target = target.clone();
        let writer = thread::Builder::new()
            .name("ocpulse-pg-writer".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready.send(Err(StoreError::Setup(format!(
                            "cannot start the PostgreSQL writer's runtime: {e}"
                        ))));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match Writer::start(writer_config, writer_target, recover).await {
                        Ok(writer) => {
                            let _ = ready.send(Ok(()));
                            writer.run(rx, publish).await;
                        }
                        Err(e) => {
                            let _ = ready.send(Err(e));
                        }
                    }
                });
            })
            .map_err(|e| StoreError::Setup(format!("cannot start the writer thread: {e}")))?;
        let started = started.await.unwrap_or_else(|_| {
            Err(StoreError::Setup(
                "the PostgreSQL writer stopped while starting".into(),
            ))
        });
        if let Err(e) = started {
            let _ = writer.join();
            return Err(e);
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(READERS)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(READ_WAIT))
            .create_timeout(Some(READ_WAIT))
            .build()
            .map_err(|e| StoreError::Setup(format!("cannot build the read pool: {e}")))?;
        let tail = if mode == Mode::ClusterNode {
            let alive = Arc::new(());
            let from = head(&pool, &target).await?;
            tokio::spawn(tail(
                pool.clone(),
                target.clone(),
                events.clone(),
                committed,
                Arc::downgrade(&alive),
                from,
            ));
            Some(alive)
        } else {
            None
        };
        Ok(Self {
            work: Some(work),
            writer: Some(writer),
            pool,
            events,
            target,
            _tail: tail,
        })
    }

    fn send(&self, work: Work) -> Result<(), StoreError> {
        self.work
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(work)
            .map_err(|_| StoreError::Closed)
    }

    /// Asks the writer for a synchronous read and blocks until it answers.
    fn ask<T>(
        &self,
        read: impl FnOnce(std::sync::mpsc::Sender<Result<T, StoreError>>) -> SyncRead,
    ) -> Result<T, StoreError> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.send(Work::Read(read(tx)))?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    /// Runs `read` on a pooled connection.
    fn read<T, F, Fut>(&self, read: F) -> BoxFuture<Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(deadpool_postgres::Client) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let pool = self.pool.clone();
        let target = self.target.clone();
        Box::pin(async move {
            let client = pool.get().await.map_err(|e| {
                StoreError::Database(format!("cannot reach PostgreSQL at {target}: {e}"))
            })?;
            read(client).await
        })
    }
}

/// The prepared statements of one writer connection.
struct Statements {
    reserve: Statement,
    journal: Statement,
    triggers: Statement,
    put_docs: Statement,
    delete_docs: Statement,
    transaction_id: Statement,
    stations: Statement,
    snapshot_seq: Statement,
    prune_only: Statement,
    prune_all_but: Statement,
}

/// Reserves `$1` seqs: returns the new highest.
const RESERVE: &str =
    "UPDATE meta SET value = value + $1 WHERE key = 'journal_seq' RETURNING value";

/// Appends the group's entries, numbered from the reservation just made.
const INSERT_JOURNAL: &str = "INSERT INTO journal (seq, station_id, direction, frame_type, message_id, action, payload, at, violation, trigger_id)
SELECT (SELECT value FROM meta WHERE key = 'journal_seq') - $1 + u.n, u.station_id, u.direction, u.frame_type, u.message_id, u.action, u.payload, u.at, u.violation, u.trigger_id
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int8[], $9::text[], $10::text[])
  WITH ORDINALITY AS u(station_id, direction, frame_type, message_id, action, payload, at, violation, trigger_id, n)";

const SAVE_TRIGGERS: &str = "INSERT INTO triggers (id, station_id, outcome, record, kind)
SELECT u.id, u.station_id, u.outcome, u.record, u.kind
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS u(id, station_id, outcome, record, kind, n)
ORDER BY u.n
ON CONFLICT (id) DO UPDATE SET outcome = excluded.outcome, record = excluded.record";

const PUT_DOCS: &str = "INSERT INTO docs (kind, id, body)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body";

const DELETE_DOCS: &str = "DELETE FROM docs d USING unnest($1::text[], $2::text[]) AS u(kind, id)
WHERE d.kind = u.kind AND d.id = u.id";

const RAISE_TRANSACTION_ID: &str =
    "INSERT INTO meta (key, value) VALUES ('last_transaction_id', $1)
ON CONFLICT (key) DO UPDATE SET value = GREATEST(meta.value, excluded.value)";

/// Retention: the entries of some actions in a seq window (`ActionSet::Only`).
const PRUNE_ONLY: &str =
    "DELETE FROM journal WHERE seq > $1 AND seq <= $2 AND action = ANY($3::text[])";

/// Retention: the entries of every action but some in a seq window (`ActionSet::AllBut`).
const PRUNE_ALL_BUT: &str = "DELETE FROM journal WHERE seq > $1 AND seq <= $2 AND (action IS NULL OR NOT (action = ANY($3::text[])))";

const UPSERT_STATIONS: &str = "INSERT INTO stations (id, state, seq)
SELECT * FROM unnest($1::text[], $2::text[], $3::int8[])
ON CONFLICT (id) DO UPDATE SET state = excluded.state, seq = excluded.seq
WHERE excluded.seq > stations.seq";

/// The point every stored snapshot reaches, raised by a snapshot round's last batch.
const RAISE_SNAPSHOT_SEQ: &str = "INSERT INTO meta (key, value) VALUES ('snapshot_seq', $1)
ON CONFLICT (key) DO UPDATE SET value = GREATEST(meta.value, excluded.value)";

/// One writer connection, ready to commit.
struct Conn {
    client: Client,
    statements: Statements,
}

/// Opens a connection for the writer: `synchronous_commit=on` whatever the server's
/// default, so COMMIT returns only once the transaction is durable.
async fn connect(config: &Config, target: &str) -> Result<Client, StoreError> {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| StoreError::Setup(format!("cannot connect to PostgreSQL at {target}: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "the PostgreSQL writer's connection ended");
        }
    });
    client
        .batch_execute("SET synchronous_commit = on")
        .await
        .map_err(db)?;
    Ok(client)
}

async fn prepare(client: Client) -> Result<Conn, StoreError> {
    let statements = Statements {
        reserve: client.prepare(RESERVE).await.map_err(db)?,
        journal: client.prepare(INSERT_JOURNAL).await.map_err(db)?,
        triggers: client.prepare(SAVE_TRIGGERS).await.map_err(db)?,
        put_docs: client.prepare(PUT_DOCS).await.map_err(db)?,
        delete_docs: client.prepare(DELETE_DOCS).await.map_err(db)?,
        transaction_id: client.prepare(RAISE_TRANSACTION_ID).await.map_err(db)?,
        stations: client.prepare(UPSERT_STATIONS).await.map_err(db)?,
        snapshot_seq: client.prepare(RAISE_SNAPSHOT_SEQ).await.map_err(db)?,
        prune_only: client.prepare(PRUNE_ONLY).await.map_err(db)?,
        prune_all_but: client.prepare(PRUNE_ALL_BUT).await.map_err(db)?,
    };
    Ok(Conn { client, statements })
}

/// Marks every trigger still running as interrupted (see `crate::INTERRUPTED_DETAIL`),
/// editing the stored JSON in Rust so any record PostgreSQL's JSON types would refuse (a
/// `\u0000` escape) is still handled.
async fn interrupt_running(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(db)?;
    let rows = tx
        .query(
            "SELECT id, record FROM triggers WHERE outcome = 'Running' FOR UPDATE",
            &[],
        )
        .await
        .map_err(db)?;
    for row in rows {
        let id: String = row.get(0);
        let record: String = row.get(1);
        let mut value: serde_json::Value = match serde_json::from_str(&record) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(trigger = %id, error = %e, "stored trigger record unreadable; left as it is");
                continue;
            }
        };
        if let Some(fields) = value.as_object_mut() {
            fields.insert("outcome".into(), "Interrupted".into());
            fields.insert("detail".into(), crate::INTERRUPTED_DETAIL.into());
        }
        let json = serde_json::to_string(&value).map_err(not_json)?;
        tx.execute(
            "UPDATE triggers SET outcome = 'Interrupted', record = $2 WHERE id = $1",
            &[&id, &json],
        )
        .await
        .map_err(db)?;
    }
    tx.commit().await.map_err(db)
}

/// Creates the journal partitions of days `from..until` that do not exist yet; returns the
/// first day not covered (where it stopped on an error, which it logs: entries of a missing
/// day still land in `journal_default`).
async fn create_partitions(client: &Client, from: i64, until: i64) -> i64 {
    for day in from..until {
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF journal FOR VALUES FROM ({}) TO ({})",
            partition_name(day),
            day * DAY_MS,
            (day + 1) * DAY_MS
        );
        if let Err(e) = client.batch_execute(&sql).await {
            tracing::warn!(error = %e, partition = %partition_name(day), "cannot create a journal partition");
            return day;
        }
    }
    until
}

/// Who the store is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The server alone on its schema: it takes the server lock and recovers what a stopped
    /// server left running.
    Server,
    /// An offline command beside a server.
    BesideServer,
    /// One node of a cluster sharing the schema.
    ClusterNode,
}

/// How committed entries reach subscribers.
enum Publish {
    /// The writer sends its own entries as it commits them.
    Entries(broadcast::Sender<Arc<JournalEntry>>),
    /// The writer wakes the tail, which reads every node's entries from the table.
    Wake(Arc<tokio::sync::Notify>),
}

/// How often a cluster node's tail reads the journal when its own writer is quiet: the
/// most another node's entry waits before this node's subscribers see it.
const TAIL_POLL: Duration = Duration::from_millis(100);

/// Entries a tail reads per query.
const TAIL_PAGE: i64 = 2_000;

/// The highest committed seq.
async fn head(pool: &Pool, target: &str) -> Result<i64, StoreError> {
    let client = pool
        .get()
        .await
        .map_err(|e| StoreError::Database(format!("cannot reach PostgreSQL at {target}: {e}")))?;
    let row = client
        .query_opt("SELECT value FROM meta WHERE key = 'journal_seq'", &[])
        .await
        .map_err(db)?;
    Ok(row.map_or(0, |r| r.get(0)))
}

/// A cluster node's tail of the shared journal: publishes every committed entry after
/// `from`, in `seq` order, each once, until the store is dropped (`alive` gone). Commits
/// take their seqs under one row lock and commit in seq order, so what a read sees is
/// always a gap-free prefix: the tail never skips an entry committed late.
async fn tail(
    pool: Pool,
    target: String,
    events: broadcast::Sender<Arc<JournalEntry>>,
    committed: Arc<tokio::sync::Notify>,
    alive: std::sync::Weak<()>,
    mut from: i64,
) {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM journal WHERE seq > $1 ORDER BY seq LIMIT $2");
    while alive.upgrade().is_some() {
        let read = async {
            let client = pool.get().await.map_err(|e| {
                StoreError::Database(format!("cannot reach PostgreSQL at {target}: {e}"))
            })?;
            client
                .query(sql.as_str(), &[&from, &TAIL_PAGE])
                .await
                .map_err(db)
        };
        match read.await {
            Ok(rows) => {
                let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) >= TAIL_PAGE;
                for row in &rows {
                    let entry = entry_row(row);
                    from = entry.seq;
                    let _ = events.send(Arc::new(entry));
                }
                if full {
                    continue;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the shared journal's tail; retrying"),
        }
        let _ = tokio::time::timeout(TAIL_POLL, committed.notified()).await;
    }
}

/// The writer: its connection (reopened after a failure), and the partitions made ahead.
struct Writer {
    config: Config,
    target: String,
    conn: Option<Conn>,
    /// The first day without a partition made by this writer.
    partitions_until: i64,
    next_partition_check: Instant,
    /// A server's writer: its connection holds the schema's server lock.
    holds_schema: bool,
}

/// How long a starting server waits for the schema's server lock: a server restarting
/// finds its predecessor's connection still closing.
const SERVER_LOCK_WAIT: Duration = Duration::from_secs(5);

/// The first key of the server lock (`pg_try_advisory_lock(int, int)`), the second being
/// the schema's `hashtext`: one server per schema, whatever else uses advisory locks.
const SERVER_LOCK: i32 = 0x6f63_7075; // "ocpu"

/// Takes the schema's server lock on `client`'s session, retrying for up to `wait`; fails
/// saying which connection holds it.
async fn hold_schema(client: &Client, wait: Duration) -> Result<(), StoreError> {
    let deadline = Instant::now() + wait;
    loop {
        let held: bool = client
            .query_one(
                "SELECT pg_try_advisory_lock($1, hashtext(current_schema()))",
                &[&SERVER_LOCK],
            )
            .await
            .map_err(db)?
            .get(0);
        if held {
            return Ok(());
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let holder = client
        .query_opt(
            "SELECT a.pid, a.application_name, COALESCE(host(a.client_addr), 'local'), current_schema()
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
               AND l.classid = $1::int4::oid AND l.objid = hashtext(current_schema())::oid",
            &[&SERVER_LOCK],
        )
        .await
        .map_err(db)?;
    let who = holder.map_or_else(
        || "another connection".to_owned(),
        |r| {
            format!(
                "PostgreSQL backend {} ({:?} from {})",
                r.get::<_, i32>(0),
                r.get::<_, Option<String>>(1).unwrap_or_default(),
                r.get::<_, String>(2)
            )
        },
    );
    Err(StoreError::Database(format!(
        "another ocpulse server is running on this database schema (its lock is held by {who}); run one server per database schema"
    )))
}

/// One step of a pipelined group: each sends its request when first polled.
type Step<'a> = Pin<Box<dyn Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + 'a>>;

impl Writer {
    async fn start(config: Config, target: String, recover: bool) -> Result<Self, StoreError> {
        let mut client = connect(&config, &target).await?;
        crate::migrations::postgres(&mut client).await?;
        if recover {
            // A server's writer holds the schema: a second server on it refuses to start.
            hold_schema(&client, SERVER_LOCK_WAIT)
                .await
                .map_err(|e| StoreError::Setup(e.detail().to_owned()))?;
            interrupt_running(&mut client).await?;
        }
        let day = today();
        let partitions_until =
            create_partitions(&client, day - 1, day + PARTITION_DAYS_AHEAD).await;
        let conn = prepare(client).await?;
        Ok(Self {
            config,
            target,
            conn: Some(conn),
            partitions_until,
            next_partition_check: Instant::now() + PARTITION_CHECK_EVERY,
            holds_schema: recover,
        })
    }

    /// The connection, reopened if the last one broke.
    async fn conn(&mut self) -> Result<&Conn, StoreError> {
        if self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            self.conn = None;
        }
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                let client = connect(&self.config, &self.target)
                    .await
                    .map_err(|e| StoreError::Database(e.detail().to_owned()))?;
                // The lock went with the old connection: while another server holds the
                // schema now, this one writes nothing.
                if self.holds_schema {
                    hold_schema(&client, Duration::ZERO).await?;
                }
                tracing::info!(target = %self.target, "the PostgreSQL writer reconnected");
                prepare(client).await?
            }
        };
        Ok(self.conn.insert(conn))
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Work>, publish: Publish) {
        let mut closed = false;
        while !closed {
            let first = match rx.recv().await {
                Some(work) => work,
                None => break,
            };
            let mut group: Vec<Commit> = Vec::new();
            let mut reads: Vec<SyncRead> = Vec::new();
            let mut waited = false;
            take(first, &mut group, &mut reads, &mut waited);
            let deadline = tokio::time::Instant::now() + LINGER;
            // Take what is queued; commit at once when someone waits (or a read waits
            // behind the group), else linger so fire-and-forget entries share a commit.
            while !group.is_empty() && reads.is_empty() && group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(work) => {
                        take(work, &mut group, &mut reads, &mut waited);
                        continue;
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                    Err(mpsc::error::TryRecvError::Empty) => {}
                }
                if waited {
                    break;
                }
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(work)) => take(work, &mut group, &mut reads, &mut waited),
                    Ok(None) => {
                        closed = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            let result = self.commit(&group).await;
            if let Err(e) = &result {
                tracing::error!(error = %e, batches = group.len(), "journal commit failed");
            }
            // Published only after the commit, so a subscriber never sees an entry that
            // could still vanish (the same rule, and reasons, as SQLite's writer). A cluster
            // node's tail reads them back from the table instead, with every other node's.
            let events = match &publish {
                Publish::Entries(events) => Some(events),
                Publish::Wake(committed) => {
                    if result.is_ok() {
                        committed.notify_one();
                    }
                    None
                }
            };
            let publish = result.is_ok() && events.is_some_and(|e| e.receiver_count() > 0);
            let mut seq = result.as_ref().map_or(0, |first| *first);
            let result = result.map(drop);
            for (batch, ack) in group {
                if let Some(ack) = ack {
                    let _ = ack.send(result.clone());
                }
                if publish && let Some(events) = events {
                    for mut entry in batch.entries {
                        seq += 1;
                        entry.seq = seq;
                        let _ = events.send(Arc::new(entry));
                    }
                }
            }
            for read in reads {
                self.answer(read).await;
            }
        }
    }

    /// Commits a group in one transaction; returns the seq before the group's first entry
    /// (its entries are numbered on from it, in order).
    async fn commit(&mut self, group: &[Commit]) -> Result<i64, StoreError> {
        let nothing = group.iter().all(|(b, _)| {
            b.entries.is_empty()
                && b.triggers.is_empty()
                && b.docs.is_empty()
                && b.prune.is_empty()
                && b.transaction_id.is_none()
                && b.snapshot.is_none()
        });
        if nothing {
            return Ok(0);
        }
        if Instant::now() >= self.next_partition_check {
            self.next_partition_check = Instant::now() + PARTITION_CHECK_EVERY;
            let day = today();
            if day + 2 >= self.partitions_until {
                let from = day.max(self.partitions_until);
                let conn = self.conn().await?;
                let until = create_partitions(&conn.client, from, day + PARTITION_DAYS_AHEAD).await;
                self.partitions_until = until;
            }
        }
        let conn = self.conn().await?;
        let result = write_group(conn, group).await;
        if result.is_err() {
            // Leave no transaction open on a connection that survived the failure (after a
            // failed statement the pipelined COMMIT already rolled back: this is a no-op).
            if conn.client.is_closed() || conn.client.batch_execute("ROLLBACK").await.is_err() {
                self.conn = None;
            }
        }
        result
    }

    async fn answer(&mut self, read: SyncRead) {
        match read {
            SyncRead::Snapshot(tx) => {
                let result = match self.conn().await {
                    Ok(conn) => load_snapshot(&conn.client).await,
                    Err(e) => Err(e),
                };
                let _ = tx.send(result);
            }
            SyncRead::TransactionId(tx) => {
                let result = match self.conn().await {
                    Ok(conn) => conn
                        .client
                        .query_opt(
                            "SELECT value FROM meta WHERE key = 'last_transaction_id'",
                            &[],
                        )
                        .await
                        .map(|row| row.map_or(0, |r| r.get(0)))
                        .map_err(db),
                    Err(e) => Err(e),
                };
                let _ = tx.send(result);
            }
        }
    }
}

async fn load_snapshot(client: &Client) -> Result<Snapshot, StoreError> {
    let through = client
        .query_opt("SELECT value FROM meta WHERE key = 'snapshot_seq'", &[])
        .await
        .map_err(db)?
        .map_or(0, |r| r.get(0));
    let rows = client
        .query("SELECT id, seq, state FROM stations ORDER BY id", &[])
        .await
        .map_err(db)?;
    let stations = rows
        .iter()
        .map(|row| crate::stored_station(row.get(0), row.get(1), row.get(2)))
        .collect();
    Ok(Snapshot { through, stations })
}

/// Writes one group: every statement sent at once (pipelined) and checked. After a failed
/// statement the others fail too and COMMIT rolls back, so the group is whole or absent.
async fn write_group(conn: &Conn, group: &[Commit]) -> Result<i64, StoreError> {
    let s = &conn.statements;
    let client = &conn.client;

    // The journal, as columns.
    let count: usize = group.iter().map(|(b, _)| b.entries.len()).sum();
    let mut station_id = Vec::with_capacity(count);
    let mut direction = Vec::with_capacity(count);
    let mut frame_type = Vec::with_capacity(count);
    let mut message_id = Vec::with_capacity(count);
    let mut action = Vec::with_capacity(count);
    let mut payload = Vec::with_capacity(count);
    let mut at = Vec::with_capacity(count);
    let mut violation = Vec::with_capacity(count);
    let mut trigger_id = Vec::with_capacity(count);
    for e in group.iter().flat_map(|(b, _)| &b.entries) {
        station_id.push(text(&e.station_id));
        direction.push(match e.direction {
            Direction::In => "in",
            Direction::Out => "out",
        });
        frame_type.push(e.frame_type);
        message_id.push(e.message_id.as_deref().map(text));
        action.push(e.action.as_deref().map(text));
        payload.push(text(&e.payload));
        at.push(e.at);
        violation.push(e.violation.as_deref().map(text));
        trigger_id.push(e.trigger_id.as_deref().map(text));
    }
    let count = i64::try_from(count).unwrap_or(i64::MAX);

    // Trigger records: one row per id (an upsert may not touch a row twice), the last
    // write of each, in the order ids first appear (their list position).
    let mut trigger_rows: Vec<&TriggerRecord> = Vec::new();
    let mut trigger_at: HashMap<&str, usize> = HashMap::new();
    for t in group.iter().flat_map(|(b, _)| &b.triggers) {
        match trigger_at.get(t.id.as_str()) {
            Some(&i) => trigger_rows[i] = t,
            None => {
                trigger_at.insert(&t.id, trigger_rows.len());
                trigger_rows.push(t);
            }
        }
    }
    let mut t_id = Vec::with_capacity(trigger_rows.len());
    let mut t_station = Vec::with_capacity(trigger_rows.len());
    let mut t_outcome = Vec::with_capacity(trigger_rows.len());
    let mut t_record = Vec::with_capacity(trigger_rows.len());
    let mut t_kind = Vec::with_capacity(trigger_rows.len());
    for t in trigger_rows {
        t_kind.push(t.kind.as_str());
        let json = serde_json::to_string(t).map_err(not_json)?;
        t_id.push(text(&t.id));
        t_station.push(text(&t.station_id));
        t_outcome.push(t.outcome.as_str());
        t_record.push(text(&json).into_owned());
    }

    // Documents: the last change of each (kind, id) wins.
    let mut doc_last: HashMap<(&str, &str), &DocChange> = HashMap::new();
    let mut doc_order: Vec<(&str, &str)> = Vec::new();
    for d in group.iter().flat_map(|(b, _)| &b.docs) {
        let key = (d.kind, d.id.as_str());
        if doc_last.insert(key, &d.change).is_none() {
            doc_order.push(key);
        }
    }
    let (mut put_kind, mut put_id, mut put_body) = (Vec::new(), Vec::new(), Vec::new());
    let (mut del_kind, mut del_id) = (Vec::new(), Vec::new());
    for key in doc_order {
        match doc_last.get(&key) {
            Some(DocChange::Put(body)) => {
                put_kind.push(key.0);
                put_id.push(text(key.1));
                put_body.push(text(body));
            }
            Some(DocChange::Delete) => {
                del_kind.push(key.0);
                del_id.push(text(key.1));
            }
            None => {}
        }
    }

    let handed_out = group.iter().filter_map(|(b, _)| b.transaction_id).max();

    // Retention steps: seq windows of the primary key, in order with the rest.
    let prunes: Vec<(bool, i64, i64, Vec<String>)> = group
        .iter()
        .flat_map(|(b, _)| &b.prune)
        .map(|p| {
            let only = matches!(p.actions, ActionSet::Only(_));
            let listed = p
                .actions
                .listed()
                .iter()
                .map(|a| text(a).into_owned())
                .collect();
            (only, p.after_seq, p.until_seq, listed)
        })
        .collect();
    let prune_params: Vec<[&(dyn ToSql + Sync); 3]> = prunes
        .iter()
        .map(|(_, after, until, listed)| [after as &(dyn ToSql + Sync), until, listed])
        .collect();

    // Station snapshots (a background round's batch), one row per station, and the mark
    // its last batch sets.
    let mut state_at: HashMap<String, usize> = HashMap::new();
    let (mut st_id, mut st_json, mut st_seq): (Vec<String>, Vec<String>, Vec<i64>) =
        Default::default();
    let mut snapshot_through: Option<i64> = None;
    for snapshot in group.iter().filter_map(|(b, _)| b.snapshot.as_ref()) {
        for station in &snapshot.stations {
            let (id, json) = (
                text(&station.id).into_owned(),
                text(&station.state).into_owned(),
            );
            match state_at.get(&id) {
                Some(&i) => {
                    st_json[i] = json;
                    st_seq[i] = station.seq;
                }
                None => {
                    state_at.insert(id.clone(), st_id.len());
                    st_id.push(id);
                    st_json.push(json);
                    st_seq.push(station.seq);
                }
            }
        }
        snapshot_through = snapshot_through.max(snapshot.through);
    }

    let journal_params: [&(dyn ToSql + Sync); 10] = [
        &count,
        &station_id,
        &direction,
        &frame_type,
        &message_id,
        &action,
        &payload,
        &at,
        &violation,
        &trigger_id,
    ];
    let reserve_params: [&(dyn ToSql + Sync); 1] = [&count];
    let trigger_params: [&(dyn ToSql + Sync); 5] =
        [&t_id, &t_station, &t_outcome, &t_record, &t_kind];
    let put_params: [&(dyn ToSql + Sync); 3] = [&put_kind, &put_id, &put_body];
    let delete_params: [&(dyn ToSql + Sync); 2] = [&del_kind, &del_id];
    let txid_params: [&(dyn ToSql + Sync); 1] = [&handed_out];
    let station_params: [&(dyn ToSql + Sync); 3] = [&st_id, &st_json, &st_seq];
    let through_params: [&(dyn ToSql + Sync); 1] = [&snapshot_through];

    let mut steps: Vec<Step<'_>> = Vec::with_capacity(9);
    steps.push(Box::pin(async {
        client.batch_execute("BEGIN").await.map(|()| Vec::new())
    }));
    let reserved = steps.len();
    if count > 0 {
        steps.push(Box::pin(client.query(&s.reserve, &reserve_params)));
        steps.push(Box::pin(client.query(&s.journal, &journal_params)));
    }
    if !t_id.is_empty() {
        steps.push(Box::pin(client.query(&s.triggers, &trigger_params)));
    }
    if !put_kind.is_empty() {
        steps.push(Box::pin(client.query(&s.put_docs, &put_params)));
    }
    if !del_kind.is_empty() {
        steps.push(Box::pin(client.query(&s.delete_docs, &delete_params)));
    }
    if handed_out.is_some() {
        steps.push(Box::pin(client.query(&s.transaction_id, &txid_params)));
    }
    for ((only, ..), params) in prunes.iter().zip(&prune_params) {
        let delete = if *only {
            &s.prune_only
        } else {
            &s.prune_all_but
        };
        steps.push(Box::pin(client.query(delete, params)));
    }
    if !st_id.is_empty() {
        steps.push(Box::pin(client.query(&s.stations, &station_params)));
    }
    if snapshot_through.is_some() {
        steps.push(Box::pin(client.query(&s.snapshot_seq, &through_params)));
    }
    steps.push(Box::pin(async {
        client.batch_execute("COMMIT").await.map(|()| Vec::new())
    }));
    let results = futures_util::future::join_all(steps).await;
    let mut base = 0;
    for (i, result) in results.into_iter().enumerate() {
        let rows = result.map_err(db)?;
        if i == reserved && count > 0 {
            let top: i64 = rows
                .first()
                .ok_or_else(|| StoreError::Database("meta has no journal_seq row".into()))?
                .get(0);
            base = top - count;
        }
    }
    Ok(base)
}

/// Maps a row selected as [`ENTRY_COLUMNS`].
fn entry_row(r: &Row) -> JournalEntry {
    let direction: &str = r.get(2);
    let frame_type: &str = r.get(3);
    JournalEntry {
        seq: r.get(0),
        station_id: r.get(1),
        direction: Direction::parse(direction).unwrap_or(Direction::In),
        frame_type: crate::stored_frame_type(frame_type),
        message_id: r.get(4),
        action: r.get(5),
        payload: r.get(6),
        at: r.get(7),
        violation: r.get(8),
        trigger_id: r.get(9),
    }
}

const ENTRY_COLUMNS: &str = "seq, station_id, direction, frame_type, message_id, action, payload, at, violation, trigger_id";

/// A `WHERE` clause built from the filters a query sets, so each combination gets a plan
/// that uses its index (rather than one generic plan of `$n IS NULL OR ...`).
#[derive(Default)]
struct Filter {
    sql: String,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Filter {
    /// Adds `condition`, whose `$` is the next parameter, `value`.
    fn and(&mut self, condition: &str, value: impl ToSql + Sync + Send + 'static) {
        self.params.push(Box::new(value));
        let n = self.params.len();
        self.and_sql(&condition.replace('$', &format!("${n}")));
    }

    /// Adds a condition without a parameter.
    fn and_sql(&mut self, condition: &str) {
        self.sql.push_str(if self.sql.is_empty() {
            " WHERE "
        } else {
            " AND "
        });
        self.sql.push_str(condition);
    }

    /// The query `head + where + tail` with `$` in `tail` as the next parameter, `limit`.
    fn finish(
        mut self,
        head: &str,
        tail: &str,
        limit: usize,
    ) -> (String, Vec<Box<dyn ToSql + Sync + Send>>) {
        self.params
            .push(Box::new(i64::try_from(limit).unwrap_or(i64::MAX)));
        let n = self.params.len();
        let sql = format!("{head}{}{}", self.sql, tail.replace('$', &format!("${n}")));
        (sql, self.params)
    }
}

/// The lowest and highest seq in the journal (0, 0 when empty).
async fn seq_range(client: &deadpool_postgres::Client) -> Result<(i64, i64), StoreError> {
    let rows = query(
        client,
        "SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM journal",
        &[],
    )
    .await?;
    Ok(rows.first().map_or((0, 0), |r| (r.get(0), r.get(1))))
}

/// The first entry at or after `seq`, as (seq, at).
async fn entry_from(
    client: &deadpool_postgres::Client,
    seq: i64,
) -> Result<Option<(i64, Millis)>, StoreError> {
    let mut filter = Filter::default();
    filter.and("seq >= $", seq);
    let (sql, params) = filter.finish("SELECT seq, at FROM journal", " ORDER BY seq LIMIT $", 1);
    Ok(query(client, &sql, &params)
        .await?
        .first()
        .map(|r| (r.get(0), r.get(1))))
}

/// See `Store::journal_seq_before`: bisects the primary key as the SQLite store does, a few
/// dozen point reads for millions of entries.
async fn seq_before(client: &deadpool_postgres::Client, at: Millis) -> Result<i64, StoreError> {
    let (mut lo, mut hi) = seq_range(client).await?;
    // Invariant: every entry below `lo` is older than `at`; none from `hi + 1` on is.
    let mut found = lo - 1;
    while lo <= hi {
        let mid = lo + (hi - lo) / 2;
        match entry_from(client, mid).await? {
            Some((seq, when)) if seq <= hi && when < at => {
                found = seq;
                lo = seq + 1;
            }
            _ => hi = mid - 1,
        }
    }
    Ok(found.max(0))
}

async fn query(
    client: &deadpool_postgres::Client,
    sql: &str,
    params: &[Box<dyn ToSql + Sync + Send>],
) -> Result<Vec<Row>, StoreError> {
    let stmt = client.prepare_cached(sql).await.map_err(db)?;
    let params: Vec<&(dyn ToSql + Sync)> =
        params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
    client.query(&stmt, &params).await.map_err(db)
}

impl Store for PgStore {
    fn commit(&self, batch: WriteBatch) -> BoxFuture<Result<(), StoreError>> {
        let (ack, done) = oneshot::channel();
        let sent = self.send(Work::Commit((batch, Some(ack))));
        Box::pin(async move {
            sent?;
            done.await.map_err(|_| StoreError::Closed)?
        })
    }

    fn enqueue(&self, batch: WriteBatch) {
        let _ = self.send(Work::Commit((batch, None)));
    }

    fn trigger(&self, id: String) -> BoxFuture<Result<Option<TriggerRecord>, StoreError>> {
        self.read(move |client| async move {
            let stmt = client
                .prepare_cached("SELECT record FROM triggers WHERE id = $1")
                .await
                .map_err(db)?;
            let row = client.query_opt(&stmt, &[&text(&id)]).await.map_err(db)?;
            row.map(|r| serde_json::from_str(r.get::<_, &str>(0)).map_err(not_json))
                .transpose()
        })
    }

    fn triggers(
        &self,
        q: TriggerQuery,
    ) -> BoxFuture<Result<Vec<(i64, TriggerRecord)>, StoreError>> {
        self.read(move |client| async move {
            let mut filter = Filter::default();
            if let Some(station) = q.station_id {
                filter.and("station_id = $", text(&station).into_owned());
            }
            if let Some(outcome) = q.outcome {
                filter.and("outcome = $", outcome.as_str());
            }
            if let Some(kind) = q.kind {
                filter.and("kind = $", kind.as_str());
            }
            if let Some(before) = q.before_seq {
                filter.and("seq < $", before);
            }
            let (sql, params) = filter.finish(
                "SELECT seq, record FROM triggers",
                " ORDER BY seq DESC LIMIT $",
                q.limit,
            );
            query(&client, &sql, &params)
                .await?
                .iter()
                .map(|r| {
                    Ok((
                        r.get(0),
                        serde_json::from_str(r.get::<_, &str>(1)).map_err(not_json)?,
                    ))
                })
                .collect()
        })
    }

    fn journal(&self, q: JournalQuery) -> BoxFuture<Result<Vec<JournalEntry>, StoreError>> {
        self.read(move |client| async move {
            let mut filter = Filter::default();
            filter.and("station_id = $", text(&q.station_id).into_owned());
            if let Some(action) = q.action {
                filter.and("action = $", text(&action).into_owned());
            }
            if let Some(before) = q.before_seq {
                filter.and("seq < $", before);
            }
            if let Some(before) = q.before_at {
                filter.and("at < $", before);
            }
            let head = format!("SELECT {ENTRY_COLUMNS} FROM journal");
            let (sql, params) = filter.finish(&head, " ORDER BY seq DESC LIMIT $", q.limit);
            Ok(query(&client, &sql, &params)
                .await?
                .iter()
                .map(entry_row)
                .collect())
        })
    }

    fn journal_scan(&self, scan: JournalScan) -> BoxFuture<Result<Vec<JournalEntry>, StoreError>> {
        self.read(move |client| async move {
            let mut filter = Filter::default();
            filter.and("seq > $", scan.after_seq);
            if let Some(station) = scan.station_id {
                filter.and("station_id = $", text(&station).into_owned());
            }
            if let Some(until) = scan.until_seq {
                filter.and("seq <= $", until);
            }
            if let Some(from) = scan.from_at {
                filter.and("at >= $", from);
            }
            if let Some(to) = scan.to_at {
                filter.and("at < $", to);
            }
            if !scan.actions.is_empty() {
                let actions: Vec<String> =
                    scan.actions.iter().map(|a| text(a).into_owned()).collect();
                filter.and("action = ANY($)", actions);
            }
            if scan.station_calls_only {
                filter.and_sql("direction = 'in' AND frame_type = 'CALL'");
            }
            let head = format!("SELECT {ENTRY_COLUMNS} FROM journal");
            let (sql, params) = filter.finish(&head, " ORDER BY seq LIMIT $", scan.limit);
            Ok(query(&client, &sql, &params)
                .await?
                .iter()
                .map(entry_row)
                .collect())
        })
    }

    fn journal_after(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> BoxFuture<Result<Vec<JournalEntry>, StoreError>> {
        self.read(move |client| async move {
            let mut filter = Filter::default();
            filter.and("seq > $", after_seq);
            let head = format!("SELECT {ENTRY_COLUMNS} FROM journal");
            let (sql, params) = filter.finish(&head, " ORDER BY seq LIMIT $", limit);
            Ok(query(&client, &sql, &params)
                .await?
                .iter()
                .map(entry_row)
                .collect())
        })
    }

    fn journal_head(&self) -> BoxFuture<Result<i64, StoreError>> {
        self.read(move |client| async move {
            let rows = query(
                &client,
                "SELECT value FROM meta WHERE key = 'journal_seq'",
                &[],
            )
            .await?;
            Ok(rows.first().map_or(0, |r| r.get(0)))
        })
    }

    fn journal_seq_before(&self, at: Millis) -> BoxFuture<Result<i64, StoreError>> {
        self.read(move |client| async move { seq_before(&client, at).await })
    }

    fn journal_stats(&self) -> BoxFuture<Result<JournalStats, StoreError>> {
        self.read(move |client| async move {
            let (oldest_seq, newest_seq) = seq_range(&client).await?;
            let oldest_at = entry_from(&client, oldest_seq).await?.map(|(_, at)| at);
            // Every table and index of the store's schema (a shared database holds others).
            let rows = query(
                &client,
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::int8 FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = current_schema() AND c.relkind = 'r'",
                &[],
            )
            .await?;
            let bytes: i64 = rows.first().map_or(0, |r| r.get(0));
            Ok(JournalStats {
                oldest_seq,
                oldest_at: if oldest_seq == 0 { None } else { oldest_at },
                newest_seq,
                bytes: u64::try_from(bytes).unwrap_or(0),
            })
        })
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<JournalEntry>> {
        self.events.subscribe()
    }

    fn docs(&self, kind: &'static str) -> BoxFuture<Result<Vec<(String, String)>, StoreError>> {
        self.read(move |client| async move {
            let mut filter = Filter::default();
            filter.and("kind = $", kind);
            let (sql, params) = filter.finish(
                "SELECT id, body FROM docs",
                " ORDER BY id LIMIT $",
                usize::MAX,
            );
            Ok(query(&client, &sql, &params)
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
    }

    fn doc(&self, kind: &'static str, id: String) -> BoxFuture<Result<Option<String>, StoreError>> {
        self.read(move |client| async move {
            let mut filter = Filter::default();
            filter.and("kind = $", kind);
            filter.and("id = $", text(&id).into_owned());
            let (sql, params) = filter.finish("SELECT body FROM docs", " LIMIT $", 1);
            Ok(query(&client, &sql, &params)
                .await?
                .first()
                .map(|r| r.get(0)))
        })
    }

    fn load_snapshot(&self) -> Result<Snapshot, StoreError> {
        self.ask(SyncRead::Snapshot)
    }

    fn drop_partitions(
        &self,
        before: Millis,
        until_seq: i64,
        keep: Vec<String>,
    ) -> BoxFuture<Result<u64, StoreError>> {
        self.read(move |client| async move {
            // Day partitions by name; a day is due once its end is.
            let rows = client
                .query(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                     JOIN pg_class p ON p.oid = i.inhparent
                     WHERE p.relname = 'journal' AND p.relnamespace = to_regnamespace(current_schema())::oid
                       AND c.relname LIKE 'journal\\_p%' ORDER BY c.relname",
                    &[],
                )
                .await
                .map_err(db)?;
            let keep: Vec<String> = keep.iter().map(|a| text(a).into_owned()).collect();
            let mut dropped = 0u64;
            for row in rows {
                let name: String = row.get(0);
                let Some(day) = partition_day(&name) else { continue };
                if (day + 1) * DAY_MS > before {
                    continue;
                }
                // Not past what the snapshots reflect, and nothing an action kept longer.
                let check = format!(
                    "SELECT count(*), COALESCE(max(seq), 0), COALESCE(bool_or(action = ANY($1::text[])), false) FROM {name}"
                );
                let facts = client.query_one(&check, &[&keep]).await.map_err(db)?;
                let (count, top, kept): (i64, i64, bool) = (facts.get(0), facts.get(1), facts.get(2));
                if top > until_seq || kept {
                    continue;
                }
                client
                    .batch_execute(&format!("DROP TABLE {name}"))
                    .await
                    .map_err(db)?;
                tracing::info!(partition = %name, entries = count, "journal partition dropped (retention)");
                dropped += u64::try_from(count).unwrap_or(0);
            }
            Ok(dropped)
        })
    }

    fn station_snapshots(&self, ids: Vec<String>) -> BoxFuture<Result<Vec<Folded>, StoreError>> {
        self.read(move |client| async move {
            let ids: Vec<String> = ids.iter().map(|id| text(id).into_owned()).collect();
            let rows = client
                .query(
                    "SELECT id, seq, state FROM stations WHERE id = ANY($1::text[])",
                    &[&ids],
                )
                .await
                .map_err(db)?;
            Ok(rows
                .iter()
                .map(|row| crate::stored_station(row.get(0), row.get(1), row.get(2)))
                .collect())
        })
    }

    fn last_transaction_id(&self) -> Result<i64, StoreError> {
        self.ask(SyncRead::TransactionId)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::contract::{Backend, PgSchema as Schema, cut_connections, pg_admin as admin};

    impl Backend for Schema {
        fn open(&self) -> BoxFuture<Result<Arc<dyn Store>, StoreError>> {
            let url = self.url.clone();
            Box::pin(async move { Ok(Arc::new(PgStore::open(&url).await?) as Arc<dyn Store>) })
        }

        fn crash(&self, store: Arc<dyn Store>) -> BoxFuture<bool> {
            let base = self.base().to_owned();
            let name = self.name.clone();
            Box::pin(async move {
                cut_connections(&base, &name).await;
                drop(store);
                true
            })
        }
    }

    crate::contract_tests!(Schema::create());

    #[test]
    fn partitions_are_named_by_utc_day() {
        assert_eq!(partition_name(0), "journal_p19700101");
        assert_eq!(partition_name(20_000), "journal_p20241004");
        assert_eq!(partition_day("journal_p20241004"), Some(20_000));
        assert_eq!(partition_day("journal_default"), None);
        assert_eq!(partition_day("journal_p20241399"), None);
    }

    /// One server per schema: a second refuses to start and says who holds it; commands
    /// beside the server (backup, tokens) open it freely; once the first is gone the
    /// schema is free again.
    #[tokio::test]
    async fn a_second_server_on_one_schema_refuses_to_start() {
        let Some(schema) = Schema::create().await else {
            eprintln!("skipped: OCPULSE_TEST_POSTGRES_URL is not set");
            return;
        };
        let first = PgStore::open(&schema.url).await.expect("first server");
        let started = Instant::now();
        let second = PgStore::open(&schema.url).await.expect_err("second server");
        assert!(
            started.elapsed() >= SERVER_LOCK_WAIT,
            "it waited for a restart's predecessor"
        );
        let message = second.to_string();
        assert!(
            message.contains("another ocpulse server is running on this database schema")
                && message.contains("PostgreSQL backend"),
            "{message}"
        );
        let beside = PgStore::open_beside_server(&schema.url)
            .await
            .expect("a command beside the server");
        drop(beside);
        drop(first);
        PgStore::open(&schema.url)
            .await
            .expect("the schema is free once the first server is gone");
    }

    /// Retention drops a whole day partition once it is due, never one holding an entry the
    /// snapshots do not reflect yet or an action kept longer.
    #[tokio::test]
    async fn due_day_partitions_are_dropped_whole() {
        let Some(schema) = Schema::create().await else {
            eprintln!("skipped: OCPULSE_TEST_POSTGRES_URL is not set");
            return;
        };
        let store = PgStore::open(&schema.url).await.expect("open");
        let (client, connection) = tokio_postgres::connect(&schema.url, NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        let today = today();
        create_partitions(&client, today - 12, today - 8).await;
        let at = |days_ago: i64, action: &str| JournalEntry {
            action: Some(action.into()),
            at: (today - days_ago) * DAY_MS + 1_000,
            ..crate::contract::entry("CP1", action, 0)
        };
        let list = vec![
            at(11, "MeterValues"),
            at(10, "MeterValues"),
            at(10, "BootNotification"),
            at(9, "MeterValues"),
            at(0, "MeterValues"),
        ];
        store
            .commit(WriteBatch {
                entries: list,
                ..WriteBatch::default()
            })
            .await
            .expect("commit");
        let exists = |days_ago: i64| {
            let client = &client;
            async move {
                let name = partition_name(today - days_ago);
                client
                    .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
                    .await
                    .expect("query")
                    .get::<_, bool>(0)
            }
        };
        let before = (today - 8) * DAY_MS;
        // The snapshots reach only the first entry: nothing past it goes.
        let dropped = store
            .drop_partitions(before, 1, vec!["BootNotification".into()])
            .await
            .expect("drop");
        assert_eq!(dropped, 1, "day -11 (seq 1), and the empty day -12");
        assert!(!exists(12).await && !exists(11).await && exists(10).await);
        let dropped = store
            .drop_partitions(before, 5, vec!["BootNotification".into()])
            .await
            .expect("drop");
        assert_eq!(
            dropped, 1,
            "day -9; day -10 holds a BootNotification kept longer"
        );
        assert!(exists(10).await && !exists(9).await);
        let left = store.journal_after(0, 10).await.expect("read");
        assert_eq!(left.len(), 3, "day -10's two entries and today's");
    }

    #[tokio::test]
    async fn a_bad_url_or_an_unreachable_database_is_an_error_not_a_panic() {
        let bad = PgStore::open("postgres://[oops")
            .await
            .expect_err("bad URL");
        assert!(bad.to_string().contains("invalid PostgreSQL URL"), "{bad}");
        // Port 1 on loopback: refused at once.
        let away = PgStore::open("postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
            .await
            .expect_err("unreachable");
        assert!(
            away.to_string()
                .contains("cannot connect to PostgreSQL at nobody@127.0.0.1:1/none"),
            "{away}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn todays_entries_land_in_todays_partition() {
        let Some(schema) = Schema::create().await else {
            return;
        };
        let store = PgStore::open(&schema.url).await.expect("open");
        let now = today() * DAY_MS + 1000;
        let mut e = JournalEntry {
            seq: 0,
            station_id: "CP1".into(),
            direction: Direction::In,
            frame_type: "CALL",
            message_id: None,
            action: Some("Heartbeat".into()),
            payload: "{}".into(),
            at: now,
            violation: None,
            trigger_id: None,
        };
        store
            .commit(WriteBatch {
                entries: vec![e.clone()],
                ..WriteBatch::default()
            })
            .await
            .expect("commit");
        e.at = 5;
        store
            .commit(WriteBatch {
                entries: vec![e],
                ..WriteBatch::default()
            })
            .await
            .expect("commit");
        let client = admin(&schema.url).await;
        let rows = client
            .query(
                "SELECT tableoid::regclass::text, at FROM journal ORDER BY seq",
                &[],
            )
            .await
            .expect("query");
        let placed: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        assert_eq!(
            placed,
            vec![
                (partition_name(today()), now),
                ("journal_default".to_owned(), 5)
            ]
        );
        let ahead: i64 = client
            .query_one(
                "SELECT COUNT(*) FROM pg_inherits WHERE inhparent = 'journal'::regclass",
                &[],
            )
            .await
            .expect("count")
            .get(0);
        assert_eq!(
            ahead,
            1 + 1 + PARTITION_DAYS_AHEAD,
            "yesterday to a week ahead, and the default"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_writer_reconnects_after_losing_its_connection() {
        let Some(schema) = Schema::create().await else {
            return;
        };
        let store = PgStore::open(&schema.url).await.expect("open");
        let batch = |at| WriteBatch {
            entries: vec![JournalEntry {
                seq: 0,
                station_id: "CP1".into(),
                direction: Direction::In,
                frame_type: "CALL",
                message_id: None,
                action: Some("Heartbeat".into()),
                payload: "{}".into(),
                at,
                violation: None,
                trigger_id: None,
            }],
            ..WriteBatch::default()
        };
        store.commit(batch(1)).await.expect("commit");
        schema.cut_connections().await;
        // The first commit after the cut may fail (it finds the connection gone); one of
        // the next ones reconnects.
        let mut ok = false;
        for at in 2..20 {
            if store.commit(batch(at)).await.is_ok() {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ok, "never recovered");
        let read = async {
            loop {
                if let Ok(all) = store.journal_after(0, 100).await {
                    return all;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let all = tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("reads recover");
        assert_eq!(all.first().map(|e| e.at), Some(1));
        assert!(all.len() >= 2);
    }
}
