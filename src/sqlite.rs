//! The durable [`Store`]: SQLite in WAL mode with `synchronous=FULL`, so a
//! committed transaction survives power loss, not just a process crash.
//!
//! One file, `deadman.db`, under `--storage.path`, guarded by an exclusive
//! lock on `lock` beside it so that two exporters can never write the same
//! state. The schema version is `PRAGMA user_version`; migrations run in
//! order on open, and a file from a newer deadman is refused.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::ping::{FailReason, Kind};
use crate::state::{CheckState, Run, RID_MIN_COUNT};
use crate::store::{Batch, HistoryRow, RecordEvent, RidRow, Snapshot, Store, StoreError};

/// Marks the file as ours (`PRAGMA application_id`, "dead" in ASCII).
const APPLICATION_ID: i64 = 0x6465_6164;

/// Schema migrations; `MIGRATIONS[n]` takes `user_version` n to n+1.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE checks (
        name TEXT PRIMARY KEY,
        first_configured REAL NOT NULL,
        removed_at REAL,
        last_success REAL NOT NULL,
        last_failure REAL NOT NULL,
        last_failure_reason TEXT,
        last_start REAL NOT NULL,
        last_duration REAL NOT NULL,
        pings_success INTEGER NOT NULL,
        pings_fail INTEGER NOT NULL,
        pings_start INTEGER NOT NULL,
        pings_log INTEGER NOT NULL,
        records INTEGER NOT NULL,
        failures_auth INTEGER NOT NULL,
        failures_rate_limit INTEGER NOT NULL,
        failures_timeout INTEGER NOT NULL,
        failures_upstream INTEGER NOT NULL,
        failures_validation INTEGER NOT NULL,
        failures_other INTEGER NOT NULL,
        failures_exit_code INTEGER NOT NULL,
        -- unfinished runs as JSON [[rid or null, started], ...]; almost always []
        runs TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE rids (
        check_name TEXT NOT NULL,
        kind TEXT NOT NULL,
        rid TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (check_name, kind, rid)
    ) WITHOUT ROWID;
    CREATE INDEX rids_by_age ON rids (check_name, at);
    CREATE TABLE history (
        id INTEGER PRIMARY KEY,
        check_name TEXT NOT NULL,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        rid TEXT,
        records INTEGER,
        reason TEXT,
        exit_status INTEGER,
        message TEXT,
        remote_addr TEXT NOT NULL,
        user_agent TEXT
    );
    CREATE INDEX history_by_check ON history (check_name, id);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
    "#,
    // 2: volume windows and expiries.
    r#"
    -- reported expiries as JSON {"name": unix seconds}
    ALTER TABLE checks ADD COLUMN expiries TEXT NOT NULL DEFAULT '{}';
    -- records reported by pings of checks with a volume expectation, kept
    -- as long as the longest window needs them
    CREATE TABLE record_events (
        check_name TEXT NOT NULL,
        at REAL NOT NULL,
        records INTEGER NOT NULL
    );
    CREATE INDEX record_events_by_check ON record_events (check_name, at);
    "#,
];

/// The database file's name under `--storage.path`.
pub const DB_FILE: &str = "deadman.db";
/// The lock file's name under `--storage.path`.
pub const LOCK_FILE: &str = "lock";

pub struct SqliteStore {
    conn: Connection,
    /// Where the database is, for error messages.
    path: PathBuf,
    /// Held for the store's lifetime: the OS releases the lock when the
    /// process dies, however it dies.
    _lock: File,
}

fn sql_error(context: &str, path: &Path, err: rusqlite::Error) -> StoreError {
    let corrupt = matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    );
    if corrupt {
        corrupt_error(path, &err.to_string())
    } else {
        StoreError(format!("{context} ({}): {err}", path.display()))
    }
}

fn corrupt_error(path: &Path, why: &str) -> StoreError {
    StoreError(format!(
        "{} is corrupt or not a deadman database ({why}); deadman will not start on it so \
         that no state is silently lost: stop deadman, move the file (and any -wal/-shm \
         files) aside, then restore it from a backup or start without it to begin with \
         empty state",
        path.display()
    ))
}

impl SqliteStore {
    /// Locks `dir`, opens (or creates) the database and brings its schema up
    /// to date. Fails with a sentence saying what to do if the directory is in
    /// use by another deadman, or the file is corrupt or from a newer version.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError(format!("cannot create storage path {}: {e}", dir.display()))
        })?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError(format!("cannot open {}: {e}", lock_path.display())))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError(format!(
                    "storage path {} is in use by another deadman process (it holds the lock \
                     on {}); stop that one first, or give this one its own --storage.path",
                    dir.display(),
                    lock_path.display()
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(StoreError(format!(
                    "cannot lock {}: {e}",
                    lock_path.display()
                )))
            }
        }

        let path = dir.join(DB_FILE);
        check_file_size(&path)?;
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| sql_error("cannot open the database", &path, e))?;
        let mut store = SqliteStore {
            conn,
            path,
            _lock: lock,
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// Reads the stored state without locking or writing, for tools such as
    /// `deadman docs` that run beside a live exporter (WAL allows readers).
    pub fn read_snapshot(dir: &Path) -> Result<Snapshot, StoreError> {
        let path = dir.join(DB_FILE);
        if !path.exists() {
            return Err(StoreError(format!("{} does not exist", path.display())));
        }
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| sql_error("cannot open the database", &path, e))?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| sql_error("reading the schema version", &path, e))?;
        if version != MIGRATIONS.len() as i64 {
            return Err(StoreError(format!(
                "{} has schema version {version}; this deadman reads version {}",
                path.display(),
                MIGRATIONS.len()
            )));
        }
        load_snapshot(&conn, &path)
    }

    fn err(&self, context: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        let context = context.to_string();
        move |e| sql_error(&context, &self.path, e)
    }

    fn configure(&mut self) -> Result<(), StoreError> {
        // Reading the header first turns "not a database" into a clear error
        // before anything is written.
        let application_id: i64 = self
            .conn
            .pragma_query_value(None, "application_id", |row| row.get(0))
            .map_err(self.err("reading the database header"))?;
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(self.err("reading the schema version"))?;
        let tables: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
            .map_err(self.err("reading the schema"))?;
        if application_id != APPLICATION_ID && !(application_id == 0 && version == 0 && tables == 0)
        {
            return Err(corrupt_error(&self.path, "it was not written by deadman"));
        }
        let mode: String = self
            .conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(self.err("enabling WAL"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError(format!(
                "{}: the file system does not support SQLite's WAL mode (got {mode})",
                self.path.display()
            )));
        }
        // FULL: the WAL is fsynced at every commit, so an acknowledged ping
        // survives power loss.
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(self.err("setting synchronous=FULL"))?;
        Ok(())
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(self.err("reading the schema version"))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError(format!(
                "{} has schema version {version}, written by a newer deadman; this version \
                 understands up to {known}. Upgrade deadman, or restore a backup made by this version",
                self.path.display()
            )));
        }
        for (from, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self
                .conn
                .transaction()
                .map_err(|e| sql_error("starting a migration", &self.path, e))?;
            tx.execute_batch(sql)
                .and_then(|()| tx.pragma_update(None, "application_id", APPLICATION_ID))
                .and_then(|()| tx.pragma_update(None, "user_version", from as i64 + 1))
                .and_then(|()| tx.commit())
                .map_err(|e| {
                    sql_error(
                        &format!("migrating the schema to version {}", from + 1),
                        &self.path,
                        e,
                    )
                })?;
        }
        Ok(())
    }
}

/// A database whose size is not a whole number of pages, or smaller than
/// its header says, was truncated (a bad copy, a full disk during a
/// restore): refuse it rather than lose the missing pages silently.
fn check_file_size(path: &Path) -> Result<(), StoreError> {
    let Ok(metadata) = std::fs::metadata(path) else {
        return Ok(()); // a new database
    };
    let len = metadata.len();
    if len == 0 {
        return Ok(());
    }
    let mut header = [0u8; 100];
    let read = File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header))
        .map(|()| true);
    if !matches!(read, Ok(true)) || &header[..16] != b"SQLite format 3\0" {
        return Err(corrupt_error(
            path,
            "it does not start with an SQLite header",
        ));
    }
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65536,
        n => u64::from(n),
    };
    let pages = u64::from(u32::from_be_bytes([
        header[28], header[29], header[30], header[31],
    ]));
    if page_size < 512 || len % page_size != 0 || len < pages * page_size {
        return Err(corrupt_error(
            path,
            &format!(
                "it is {len} bytes but its header describes {pages} pages of {page_size} bytes; \
                 it looks truncated"
            ),
        ));
    }
    Ok(())
}

fn runs_to_json(runs: &[Run]) -> String {
    if runs.is_empty() {
        return "[]".into();
    }
    let list: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| serde_json::json!([r.rid, r.started]))
        .collect();
    serde_json::Value::Array(list).to_string()
}

fn expiries_to_json(expiries: &std::collections::BTreeMap<String, f64>) -> String {
    if expiries.is_empty() {
        return "{}".into();
    }
    serde_json::to_string(expiries).unwrap_or_else(|_| "{}".into())
}

fn runs_from_json(text: &str) -> Vec<Run> {
    if text == "[]" {
        return Vec::new();
    }
    let parsed: Vec<(Option<String>, f64)> = serde_json::from_str(text).unwrap_or_default();
    parsed
        .into_iter()
        .map(|(rid, started)| Run {
            rid,
            started,
            // Started by an earlier process: only wall-clock time is comparable.
            started_mono: None,
        })
        .collect()
}

impl Store for SqliteStore {
    fn load(&mut self) -> Result<Snapshot, StoreError> {
        load_snapshot(&self.conn, &self.path)
    }

    fn history(&mut self, check: &str, limit: usize) -> Result<Vec<HistoryRow>, StoreError> {
        query_all(
            &self.conn,
            &self.path,
            "reading history",
            "SELECT at, kind, rid, records, reason, exit_status, message, remote_addr, user_agent
             FROM history WHERE check_name = ?1 ORDER BY id DESC LIMIT ?2",
            params![check, limit as i64],
            |row| {
                let kind: String = row.get(1)?;
                let reason: Option<String> = row.get(4)?;
                Ok(HistoryRow {
                    check: check.to_string(),
                    at: row.get(0)?,
                    kind: Kind::parse(&kind).unwrap_or(Kind::Log),
                    rid: row.get(2)?,
                    records: row.get::<_, Option<i64>>(3)?.map(|n| n as u64),
                    reason: reason.as_deref().and_then(FailReason::parse),
                    exit_status: row.get(5)?,
                    message: row.get(6)?,
                    remote_addr: row.get(7)?,
                    user_agent: row.get(8)?,
                })
            },
        )
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        let path_buf = self.path.clone();
        let path: &Path = &path_buf;
        let fail = |context: &'static str| move |e: rusqlite::Error| sql_error(context, path, e);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail("starting a transaction"))?;
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO checks VALUES
                     (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,
                      ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
                )
                .map_err(fail("saving checks"))?;
            for (name, s) in &batch.states {
                upsert
                    .execute(params![
                        name,
                        s.first_configured,
                        s.removed_at,
                        s.last_success,
                        s.last_failure,
                        s.last_failure_reason.map(FailReason::as_str),
                        s.last_start,
                        s.last_duration,
                        s.pings[0] as i64,
                        s.pings[1] as i64,
                        s.pings[2] as i64,
                        s.pings[3] as i64,
                        s.records as i64,
                        s.failures[0] as i64,
                        s.failures[1] as i64,
                        s.failures[2] as i64,
                        s.failures[3] as i64,
                        s.failures[4] as i64,
                        s.failures[5] as i64,
                        s.failures[6] as i64,
                        runs_to_json(&s.runs),
                        expiries_to_json(&s.expiries),
                    ])
                    .map_err(fail("saving checks"))?;
            }
            for name in &batch.purged {
                for sql in [
                    "DELETE FROM checks WHERE name = ?1",
                    "DELETE FROM rids WHERE check_name = ?1",
                    "DELETE FROM history WHERE check_name = ?1",
                    "DELETE FROM record_events WHERE check_name = ?1",
                ] {
                    tx.prepare_cached(sql)
                        .and_then(|mut stmt| stmt.execute([name]))
                        .map_err(fail("purging a removed check"))?;
                }
            }
            let mut insert_rid = tx
                .prepare_cached("INSERT OR IGNORE INTO rids VALUES (?1, ?2, ?3, ?4)")
                .map_err(fail("saving run ids"))?;
            for row in &batch.rids {
                insert_rid
                    .execute(params![row.check, row.kind.as_str(), row.rid, row.at])
                    .map_err(fail("saving run ids"))?;
            }
            let mut insert_history = tx
                .prepare_cached(
                    "INSERT INTO history (check_name, at, kind, rid, records, reason, exit_status,
                                          message, remote_addr, user_agent)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(fail("saving history"))?;
            let mut touched: Vec<&str> = Vec::new();
            for h in &batch.history {
                insert_history
                    .execute(params![
                        h.check,
                        h.at,
                        h.kind.as_str(),
                        h.rid,
                        h.records.map(|n| n as i64),
                        h.reason.map(FailReason::as_str),
                        h.exit_status,
                        h.message,
                        h.remote_addr,
                        h.user_agent,
                    ])
                    .map_err(fail("saving history"))?;
                if !touched.contains(&h.check.as_str()) {
                    touched.push(&h.check);
                }
            }
            let mut trim = tx
                .prepare_cached(
                    "DELETE FROM history WHERE check_name = ?1 AND id <= (
                         SELECT id FROM history WHERE check_name = ?1
                         ORDER BY id DESC LIMIT 1 OFFSET ?2)",
                )
                .map_err(fail("trimming history"))?;
            for check in touched {
                trim.execute(params![check, batch.history_limit as i64])
                    .map_err(fail("trimming history"))?;
            }
            let mut insert_event = tx
                .prepare_cached("INSERT INTO record_events VALUES (?1, ?2, ?3)")
                .map_err(fail("saving record counts"))?;
            for e in &batch.record_events {
                insert_event
                    .execute(params![e.check, e.at, e.records as i64])
                    .map_err(fail("saving record counts"))?;
            }
            if let Some(before) = batch.prune_record_events_before {
                tx.execute("DELETE FROM record_events WHERE at < ?1", [before])
                    .map_err(fail("pruning record counts"))?;
            }
            if let Some(before) = batch.prune_rids_before {
                prune_rids(&tx, before).map_err(fail("pruning run ids"))?;
                // A write on every maintenance pass, so a store that failed
                // is noticed to work again even when no pings arrive.
                tx.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('maintenance_at', ?1)",
                    [before],
                )
                .map_err(fail("recording maintenance"))?;
            }
        }
        tx.commit().map_err(fail("committing"))
    }
}

/// Reads every check, rid and record event.
fn load_snapshot(conn: &Connection, path: &Path) -> Result<Snapshot, StoreError> {
    let checks = query_all(
        conn,
        path,
        "loading checks",
        "SELECT name, first_configured, removed_at, last_success, last_failure,
                last_failure_reason, last_start, last_duration,
                pings_success, pings_fail, pings_start, pings_log, records,
                failures_auth, failures_rate_limit, failures_timeout, failures_upstream,
                failures_validation, failures_other, failures_exit_code, runs, expiries
         FROM checks",
        [],
        |row| {
            let reason: Option<String> = row.get(5)?;
            let runs: String = row.get(20)?;
            let expiries: String = row.get(21)?;
            let mut pings = [0u64; 4];
            for (i, slot) in pings.iter_mut().enumerate() {
                *slot = row.get::<_, i64>(8 + i)? as u64;
            }
            let mut failures = [0u64; 7];
            for (i, slot) in failures.iter_mut().enumerate() {
                *slot = row.get::<_, i64>(13 + i)? as u64;
            }
            Ok((
                row.get::<_, String>(0)?,
                CheckState {
                    first_configured: row.get(1)?,
                    removed_at: row.get(2)?,
                    last_success: row.get(3)?,
                    last_failure: row.get(4)?,
                    last_failure_reason: reason.as_deref().and_then(FailReason::parse),
                    last_start: row.get(6)?,
                    last_duration: row.get(7)?,
                    runs: runs_from_json(&runs),
                    pings,
                    records: row.get::<_, i64>(12)? as u64,
                    failures,
                    expiries: serde_json::from_str(&expiries).unwrap_or_default(),
                },
            ))
        },
    )?;
    let rids = query_all(
        conn,
        path,
        "loading run ids",
        "SELECT check_name, kind, rid, at FROM rids ORDER BY at",
        [],
        |row| {
            Ok((
                row.get(0)?,
                row.get::<_, String>(1)?,
                row.get(2)?,
                row.get(3)?,
            ))
        },
    )?;
    let record_events = query_all(
        conn,
        path,
        "loading record counts",
        "SELECT check_name, at, records FROM record_events ORDER BY at",
        [],
        |row| {
            Ok(RecordEvent {
                check: row.get(0)?,
                at: row.get(1)?,
                records: row.get::<_, i64>(2)? as u64,
            })
        },
    )?;
    Ok(Snapshot {
        checks,
        // A kind this build does not know cannot be a duplicate of anything.
        rids: rids
            .into_iter()
            .filter_map(|(check, kind, rid, at)| {
                let kind = Kind::parse(&kind)?;
                Some(RidRow {
                    check,
                    kind,
                    rid,
                    at,
                })
            })
            .collect(),
        record_events,
    })
}

/// Runs a query and maps every row, naming `context` and the file in errors
/// (a corrupt page surfaces here as a corruption error).
fn query_all<T>(
    conn: &Connection,
    path: &Path,
    context: &str,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_map(params, map)?.collect())
        .map_err(|e| sql_error(context, path, e))
}

/// Forgets rids older than `before`, except each check's newest
/// [`RID_MIN_COUNT`]; only checks with more than that many need work.
fn prune_rids(tx: &rusqlite::Transaction<'_>, before: f64) -> rusqlite::Result<()> {
    let crowded: Vec<String> = tx
        .prepare_cached("SELECT check_name FROM rids GROUP BY check_name HAVING count(*) > ?1")?
        .query_map([RID_MIN_COUNT as i64], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for check in crowded {
        let cutoff: Option<f64> = tx
            .query_row(
                "SELECT at FROM rids WHERE check_name = ?1 ORDER BY at DESC LIMIT 1 OFFSET ?2",
                params![check, RID_MIN_COUNT as i64 - 1],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(cutoff) = cutoff {
            tx.execute(
                "DELETE FROM rids WHERE check_name = ?1 AND at < ?2 AND at < ?3",
                params![check, before, cutoff],
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(check: &str, at: f64, message: &str) -> HistoryRow {
        HistoryRow {
            check: check.into(),
            at,
            kind: Kind::Success,
            rid: None,
            records: Some(1),
            reason: None,
            exit_status: None,
            message: Some(message.into()),
            remote_addr: "127.0.0.1".into(),
            user_agent: Some("curl".into()),
        }
    }

    #[test]
    fn state_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut state = CheckState::new(10.5);
        state.last_success = 20.25;
        state.last_failure = 21.0;
        state.last_failure_reason = Some(FailReason::RateLimit);
        state.pings = [1, 2, 3, 4];
        state.failures = [1, 2, 3, 4, 5, 6, 7];
        state.records = 12345;
        state.runs = vec![Run {
            rid: Some("r".into()),
            started: 19.0,
            started_mono: None,
        }];
        {
            let mut store = SqliteStore::open(dir.path()).expect("open");
            store
                .commit(&Batch {
                    states: vec![("a".into(), state.clone())],
                    rids: vec![RidRow {
                        check: "a".into(),
                        kind: Kind::Fail,
                        rid: "r1".into(),
                        at: 20.0,
                    }],
                    history_limit: 100,
                    ..Batch::default()
                })
                .expect("commit");
        }
        let mut store = SqliteStore::open(dir.path()).expect("reopen");
        let snapshot = store.load().expect("load");
        assert_eq!(snapshot.checks, vec![("a".to_string(), state)]);
        assert_eq!(snapshot.rids.len(), 1);
        assert_eq!(snapshot.rids[0].kind, Kind::Fail);
    }

    #[test]
    fn history_is_bounded_per_check() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = SqliteStore::open(dir.path()).expect("open");
        for i in 0..5 {
            store
                .commit(&Batch {
                    history: vec![
                        history("a", i as f64, &format!("a{i}")),
                        history("b", i as f64, &format!("b{i}")),
                    ],
                    history_limit: 3,
                    ..Batch::default()
                })
                .expect("commit");
        }
        let a = store.history("a", 100).expect("history");
        let messages: Vec<_> = a.iter().filter_map(|h| h.message.clone()).collect();
        assert_eq!(messages, ["a4", "a3", "a2"]);
        assert_eq!(store.history("b", 100).expect("history").len(), 3);
        assert_eq!(store.history("b", 2).expect("history").len(), 2);
        assert_eq!(a[0], history("a", 4.0, "a4"));
    }

    #[test]
    fn second_open_is_refused_while_locked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _first = SqliteStore::open(dir.path()).expect("open");
        let err = SqliteStore::open(dir.path())
            .err()
            .expect("second open fails");
        assert!(
            err.0.contains("is in use by another deadman process"),
            "{err}"
        );
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = SqliteStore::open(dir.path()).expect("open");
            store
                .conn
                .pragma_update(None, "user_version", 99)
                .expect("set version");
        }
        let err = SqliteStore::open(dir.path()).err().expect("refused");
        assert!(
            err.0
                .contains("schema version 99, written by a newer deadman"),
            "{err}"
        );
    }

    #[test]
    fn garbage_and_truncated_files_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(DB_FILE), vec![7u8; 8192]).expect("write");
        let err = SqliteStore::open(dir.path()).err().expect("refused");
        assert!(
            err.0.contains("is corrupt or not a deadman database"),
            "{err}"
        );

        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut store = SqliteStore::open(dir.path()).expect("open");
            let states = (0..2000)
                .map(|i| (format!("check-{i}"), CheckState::new(i as f64)))
                .collect();
            store
                .commit(&Batch {
                    states,
                    history_limit: 100,
                    ..Batch::default()
                })
                .expect("commit");
            store
                .conn
                .pragma_update(None, "wal_checkpoint", "TRUNCATE")
                .expect("checkpoint");
        }
        let db = dir.path().join(DB_FILE);
        let len = std::fs::metadata(&db).expect("metadata").len();
        let file = OpenOptions::new().write(true).open(&db).expect("open db");
        file.set_len(len / 2).expect("truncate");
        drop(file);
        let err = SqliteStore::open(dir.path()).err().expect("refused");
        assert!(err.0.contains("looks truncated"), "{err}");
    }

    #[test]
    fn version_1_database_is_migrated_keeping_its_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let conn = Connection::open(dir.path().join(DB_FILE)).expect("create");
            conn.execute_batch(MIGRATIONS[0]).expect("v1 schema");
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .expect("id");
            conn.pragma_update(None, "user_version", 1)
                .expect("version");
            conn.execute(
                "INSERT INTO checks VALUES ('a', 1, NULL, 2, 0, NULL, 0, 0, 1, 0, 0, 0, 7,
                 0, 0, 0, 0, 0, 0, 0, '[]')",
                [],
            )
            .expect("v1 row");
        }
        let mut store = SqliteStore::open(dir.path()).expect("migrates");
        let version: i64 = store
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("version");
        assert_eq!(version, MIGRATIONS.len() as i64);
        let snapshot = store.load().expect("load");
        assert_eq!(snapshot.checks.len(), 1);
        assert_eq!(snapshot.checks[0].1.records, 7);
        assert!(snapshot.checks[0].1.expiries.is_empty());
    }

    #[test]
    fn crowded_rids_are_pruned_to_the_newest_ten_thousand() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = SqliteStore::open(dir.path()).expect("open");
        let rids = (0..RID_MIN_COUNT + 50)
            .map(|i| RidRow {
                check: "a".into(),
                kind: Kind::Success,
                rid: format!("r{i}"),
                at: i as f64,
            })
            .chain(std::iter::once(RidRow {
                check: "b".into(),
                kind: Kind::Success,
                rid: "old".into(),
                at: 0.0,
            }))
            .collect();
        store
            .commit(&Batch {
                rids,
                history_limit: 100,
                ..Batch::default()
            })
            .expect("commit");
        store
            .commit(&Batch {
                prune_rids_before: Some(1e9),
                history_limit: 100,
                ..Batch::default()
            })
            .expect("prune");
        let snapshot = store.load().expect("load");
        let a = snapshot.rids.iter().filter(|r| r.check == "a").count();
        assert_eq!(a, RID_MIN_COUNT);
        assert!(
            snapshot.rids.iter().any(|r| r.check == "b"),
            "uncrowded check keeps its rids"
        );
        assert!(!snapshot.rids.iter().any(|r| r.rid == "r0"));
    }
}
