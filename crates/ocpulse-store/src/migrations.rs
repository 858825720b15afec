//! Schema migrations through refinery: numbered SQL files under `migrations/<backend>/`,
//! applied in order and recorded in the `refinery_schema_history` table (the same table
//! and checksums `refinery_cli` reads), each backend in one transaction.
//!
//! refinery's engine (`refinery-core`) is used without its macros: the files are embedded
//! here with `include_str!`, so no proc-macro (and no second regex build for the host) is
//! compiled for it.

use refinery_core::traits::sync::{Migrate, Query, Transaction};
use refinery_core::{Migration, Runner, Target};
use rusqlite::Connection;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use ocpulse_core::store::StoreError;

/// The SQLite migrations, in order. Never edit one that shipped: refinery refuses a
/// database whose recorded checksum differs; add a new file instead.
const SQLITE: &[(&str, &str)] = &[
    (
        "V1__journal_stations_meta",
        include_str!("../migrations/sqlite/V1__journal_stations_meta.sql"),
    ),
    (
        "V2__drop_journal_by_station_action",
        include_str!("../migrations/sqlite/V2__drop_journal_by_station_action.sql"),
    ),
    (
        "V3__journal_trigger_id",
        include_str!("../migrations/sqlite/V3__journal_trigger_id.sql"),
    ),
    (
        "V4__triggers",
        include_str!("../migrations/sqlite/V4__triggers.sql"),
    ),
    (
        "V5__docs",
        include_str!("../migrations/sqlite/V5__docs.sql"),
    ),
    (
        "V6__drop_triggers_by_station",
        include_str!("../migrations/sqlite/V6__drop_triggers_by_station.sql"),
    ),
    (
        "V7__station_snapshots",
        include_str!("../migrations/sqlite/V7__station_snapshots.sql"),
    ),
    (
        "V8__trigger_record_kind",
        include_str!("../migrations/sqlite/V8__trigger_record_kind.sql"),
    ),
];

/// How many migrations ocpulse ran before refinery, counted in `PRAGMA user_version`: they
/// are the first files of [`SQLITE`], statement for statement.
const SQLITE_BEFORE_REFINERY: i64 = 6;

/// The PostgreSQL migrations, in order (the same rule: never edit one that shipped).
#[cfg(feature = "postgres")]
const POSTGRES: &[(&str, &str)] = &[
    (
        "V1__schema",
        include_str!("../migrations/postgres/V1__schema.sql"),
    ),
    (
        "V2__station_snapshots",
        include_str!("../migrations/postgres/V2__station_snapshots.sql"),
    ),
    (
        "V3__trigger_record_kind",
        include_str!("../migrations/postgres/V3__trigger_record_kind.sql"),
    ),
];

/// Brings a PostgreSQL schema (the first of the connection's `search_path`) to the current
/// version, in one transaction, under an advisory lock keyed by the schema so that two
/// servers starting at once migrate one after the other.
#[cfg(feature = "postgres")]
pub(crate) async fn postgres(client: &mut tokio_postgres::Client) -> Result<(), StoreError> {
    let db = |e: tokio_postgres::Error| {
        StoreError::Setup(format!("cannot migrate the database schema: {e}"))
    };
    client
        .execute(
            "SELECT pg_advisory_lock(hashtext('ocpulse migrations ' || current_schema()))",
            &[],
        )
        .await
        .map_err(db)?;
    let result = runner(POSTGRES)?.run_async(client).await.map_err(failed);
    let unlocked = client
        .execute(
            "SELECT pg_advisory_unlock(hashtext('ocpulse migrations ' || current_schema()))",
            &[],
        )
        .await
        .map_err(db);
    result?;
    unlocked.map(drop)
}

/// A failed migration, said as a start-up error.
fn failed(e: impl std::fmt::Display) -> StoreError {
    StoreError::Setup(format!("cannot migrate the database schema: {e}"))
}

fn runner(files: &[(&str, &str)]) -> Result<Runner, StoreError> {
    let migrations = files
        .iter()
        .map(|(name, sql)| Migration::unapplied(name, sql))
        .collect::<Result<Vec<_>, _>>()
        .map_err(failed)?;
    Ok(Runner::new(&migrations).set_grouped(true))
}

/// Brings a SQLite database to the current schema.
///
/// Everything happens in one IMMEDIATE (write-locked) transaction that reads the history
/// inside it: two processes opening a new file at once (a server and `ocpulse token
/// create`) migrate one after the other, and the second finds nothing left to do. A
/// database made before refinery (its `user_version` counts the migrations it ran) gets
/// those recorded as applied first, without running them again.
pub(crate) fn sqlite(conn: &mut Connection) -> Result<(), StoreError> {
    let db = |e: rusqlite::Error| StoreError::Database(e.to_string());
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db)?;
    let before: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db)?;
    let history: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'refinery_schema_history')",
            [],
            |r| r.get(0),
        )
        .map_err(db)?;
    let mut locked = Locked(&tx);
    if !history && before > 0 {
        if before > SQLITE_BEFORE_REFINERY {
            return Err(StoreError::Setup(format!(
                "the database's schema version {before} is newer than this ocpulse knows ({SQLITE_BEFORE_REFINERY}); use a newer ocpulse"
            )));
        }
        let baseline = i32::try_from(before).unwrap_or(0);
        runner(SQLITE)?
            .set_target(Target::FakeVersion(baseline))
            .run(&mut locked)
            .map_err(failed)?;
    }
    runner(SQLITE)?.run(&mut locked).map_err(failed)?;
    tx.commit().map_err(db)
}

/// The open write transaction refinery runs in: its statements join it rather than
/// opening their own, so the whole migration commits (or fails) at once, under the lock.
struct Locked<'t, 'c>(&'t rusqlite::Transaction<'c>);

impl Transaction for Locked<'_, '_> {
    type Error = rusqlite::Error;

    fn execute<'a, T: Iterator<Item = &'a str>>(
        &mut self,
        queries: T,
    ) -> Result<usize, Self::Error> {
        let mut count = 0;
        for query in queries {
            self.0.execute_batch(query)?;
            count += 1;
        }
        Ok(count)
    }
}

impl Query<Vec<Migration>> for Locked<'_, '_> {
    fn query(&mut self, query: &str) -> Result<Vec<Migration>, Self::Error> {
        let mut stmt = self.0.prepare(query)?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i32>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut applied = Vec::new();
        for row in rows {
            let (version, name, on, checksum) = row?;
            // A history row refinery did not write is a database this code must not touch.
            let unreadable = |what: &str| {
                rusqlite::Error::InvalidColumnType(
                    0,
                    format!("refinery_schema_history {what} of version {version}"),
                    rusqlite::types::Type::Text,
                )
            };
            let on = OffsetDateTime::parse(&on, &Rfc3339).map_err(|_| unreadable("applied_on"))?;
            let checksum = checksum.parse().map_err(|_| unreadable("checksum"))?;
            applied.push(Migration::applied(version, name, on, checksum));
        }
        Ok(applied)
    }
}

impl Migrate for Locked<'_, '_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .expect("prepare");
        stmt.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    #[test]
    fn a_new_database_gets_every_migration_recorded_and_a_second_run_does_nothing() {
        let mut conn = Connection::open_in_memory().expect("open");
        sqlite(&mut conn).expect("migrate");
        sqlite(&mut conn).expect("again");
        let versions: Vec<i32> = conn
            .prepare("SELECT version FROM refinery_schema_history ORDER BY version")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        let all = i32::try_from(SQLITE.len()).expect("few");
        assert_eq!(versions, (1..=all).collect::<Vec<_>>());
        assert_eq!(
            tables(&conn),
            vec![
                "docs",
                "journal",
                "journal_by_station",
                "meta",
                "refinery_schema_history",
                "stations",
                "triggers"
            ]
        );
    }

    /// A database some migrations old, made the way ocpulse made them before refinery:
    /// the first `n` files run and `user_version = n`.
    fn made_before_refinery(n: usize) -> Connection {
        let conn = Connection::open_in_memory().expect("open");
        for (_, sql) in &SQLITE[..n] {
            conn.execute_batch(sql).expect("old migration");
        }
        conn.pragma_update(None, "user_version", n as i64)
            .expect("user_version");
        conn
    }

    #[test]
    fn a_database_made_before_refinery_keeps_its_data_and_gets_only_the_rest() {
        for n in 1..=SQLITE_BEFORE_REFINERY as usize {
            let mut conn = made_before_refinery(n);
            conn.execute(
                "INSERT INTO journal (station_id, direction, frame_type, payload, at) VALUES ('CP1', 'in', 'CALL', '{}', 1)",
                [],
            )
            .expect("old data");
            sqlite(&mut conn).expect("migrate");
            let kept: i64 = conn
                .query_row("SELECT COUNT(*) FROM journal", [], |r| r.get(0))
                .expect("count");
            assert_eq!(kept, 1, "after {n} old migrations");
            let recorded: i64 = conn
                .query_row("SELECT COUNT(*) FROM refinery_schema_history", [], |r| {
                    r.get(0)
                })
                .expect("count");
            assert_eq!(recorded, SQLITE.len() as i64);
            let fresh = {
                let mut c = Connection::open_in_memory().expect("open");
                sqlite(&mut c).expect("migrate");
                tables(&c)
            };
            assert_eq!(tables(&conn), fresh, "the same schema as a new database");
        }
    }

    #[test]
    fn a_database_newer_than_this_code_is_refused() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.pragma_update(None, "user_version", 99)
            .expect("user_version");
        let err = sqlite(&mut conn).expect_err("refused");
        assert!(err.to_string().contains("newer"), "{err}");
    }

    #[test]
    fn an_edited_migration_is_refused() {
        let mut conn = Connection::open_in_memory().expect("open");
        sqlite(&mut conn).expect("migrate");
        conn.execute(
            "UPDATE refinery_schema_history SET checksum = '1' WHERE version = 3",
            [],
        )
        .expect("tamper");
        let err = sqlite(&mut conn).expect_err("divergent");
        assert!(err.to_string().contains("migrat"), "{err}");
    }
}
