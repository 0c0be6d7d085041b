//! The schema: migrations (`PRAGMA user_version`), the file checks that
//! refuse a database that is not ours, has no schema, is truncated or is
//! from a newer deadman, and the durability settings (WAL,
//! `synchronous=FULL`).

use std::fs::File;
use std::path::Path;

use rusqlite::Connection;

use crate::store::error::StoreError;

/// Marks the file as ours (`PRAGMA application_id`, "dead" in ASCII).
pub(super) const APPLICATION_ID: i64 = 0x6465_6164;

/// Schema migrations; `MIGRATIONS[n]` takes `user_version` n to n+1.
pub(super) const MIGRATIONS: &[&str] = &[
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
    // 3: what a run reports and how runs fail (issue #14).
    r#"
    -- failed runs since the last success; a check failing at the upgrade
    -- has failed at least once in a row (its earlier failures are unknown)
    ALTER TABLE checks ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
    UPDATE checks SET consecutive_failures = 1 WHERE last_failure > last_success;
    -- the exit status of the most recent failure, if it was reported as one
    ALTER TABLE checks ADD COLUMN last_failure_exit_status INTEGER;
    -- how long the most recent success ran, when it had a start
    ALTER TABLE checks ADD COLUMN last_success_duration REAL;
    -- reported values as JSON {"name": [value, at, out_of_range_since or null]}
    ALTER TABLE checks ADD COLUMN reported_values TEXT NOT NULL DEFAULT '{}';
    -- finished runs and failures per minute, for checks with a failure ratio
    CREATE TABLE run_buckets (
        check_name TEXT NOT NULL,
        minute INTEGER NOT NULL,
        runs INTEGER NOT NULL,
        failures INTEGER NOT NULL,
        PRIMARY KEY (check_name, minute)
    ) WITHOUT ROWID;
    "#,
    // 4: the ping journal (issue #15). Every accepted ping is one append to
    // `journal`, with no index; check state, record events and run buckets
    // are written in checkpoints, and `checks.journal_seq` says up to which
    // entry a check's row is current.
    r#"
    CREATE TABLE journal (
        -- the order pings were applied in
        seq INTEGER PRIMARY KEY,
        check_name TEXT NOT NULL,
        -- the check's previous entry: its history is a chain, read without an index
        prev INTEGER,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        rid TEXT,
        records INTEGER,
        reason TEXT,
        exit_status INTEGER,
        message TEXT,
        remote_addr TEXT NOT NULL,
        user_agent TEXT,
        -- reported expiries and values as JSON [[name, number], ...], or NULL
        expiries TEXT,
        reported_values TEXT
    );
    INSERT INTO journal (seq, check_name, prev, at, kind, rid, records, reason,
                         exit_status, message, remote_addr, user_agent)
        SELECT id, check_name, lag(id) OVER (PARTITION BY check_name ORDER BY id), at, kind,
               rid, records, reason, exit_status, message, remote_addr, user_agent
        FROM history;
    -- rids of pings that left the journal (beyond [storage] history) but are
    -- still remembered; seq is the journal entry that carried them
    CREATE TABLE rid_log (
        seq INTEGER PRIMARY KEY,
        check_name TEXT NOT NULL,
        kind TEXT NOT NULL,
        rid TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX history_rids_v4 ON history (check_name, rid);
    INSERT INTO rid_log (seq, check_name, kind, rid, at)
        SELECT (SELECT coalesce(max(id), 0) FROM history) + row_number() OVER (ORDER BY at),
               check_name, kind, rid, at
        FROM rids r
        WHERE NOT EXISTS (SELECT 1 FROM history h
                          WHERE h.check_name = r.check_name AND h.rid = r.rid AND h.kind = r.kind);
    -- the journal entries a check's row reflects, its newest entry, how
    -- many entries it has in the journal, and its oldest
    ALTER TABLE checks ADD COLUMN journal_seq INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE checks ADD COLUMN head_seq INTEGER;
    ALTER TABLE checks ADD COLUMN journal_rows INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE checks ADD COLUMN tail_seq INTEGER;
    CREATE TEMP TABLE heads_v4 (check_name TEXT PRIMARY KEY, head INTEGER, n INTEGER, tail INTEGER);
    INSERT INTO heads_v4
        SELECT check_name, max(seq), count(*), min(seq) FROM journal GROUP BY check_name;
    UPDATE checks SET
        journal_seq = (SELECT coalesce(max(seq), 0) FROM journal),
        head_seq = (SELECT head FROM heads_v4 WHERE heads_v4.check_name = checks.name),
        tail_seq = (SELECT tail FROM heads_v4 WHERE heads_v4.check_name = checks.name),
        journal_rows = coalesce((SELECT n FROM heads_v4 WHERE heads_v4.check_name = checks.name), 0);
    DROP TABLE heads_v4;
    DROP TABLE history;
    DROP TABLE rids;
    -- record events are pruned by time only; per-check windows are kept in memory
    DROP INDEX record_events_by_check;
    "#,
    // 5: rids are forgotten per check, as a range (issue #15: the writer's
    // rid index keeps no per-rid list in memory to name them one by one).
    r#"
    CREATE INDEX rid_log_by_check ON rid_log (check_name, seq);
    "#,
    // 6: the times of the failures since the last success (issue #14: with
    // several replicas, failure_threshold counts the failures newer than
    // the newest success any replica saw). A check failing at the upgrade
    // has its last failure; the earlier ones are unknown.
    r#"
    -- failure times as JSON [unix seconds, ...], oldest first
    ALTER TABLE checks ADD COLUMN recent_failures TEXT NOT NULL DEFAULT '[]';
    UPDATE checks SET recent_failures = '[' || last_failure || ']'
        WHERE last_failure > last_success AND consecutive_failures > 0;
    "#,
];

/// Refuses a file that is not a deadman database before anything is
/// written to it. `len` is its size before it was opened. One without any
/// schema at all (zero bytes, or an empty SQLite database) is
/// [`StoreError::Uninitialised`] rather than initialised: deadman creates
/// its database atomically (see `create`), so this file was not one it was
/// building, and starting empty on it could hide lost state.
pub(super) fn check_ours(conn: &Connection, path: &Path, len: u64) -> Result<(), StoreError> {
    let application_id: i64 = conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(|e| StoreError::sql("reading the database header", path, e))?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| StoreError::sql("reading the schema version", path, e))?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
        .map_err(|e| StoreError::sql("reading the schema", path, e))?;
    if application_id == APPLICATION_ID {
        return Ok(());
    }
    if application_id == 0 && version == 0 && tables == 0 {
        let why = if len == 0 {
            "it is empty (0 bytes)"
        } else {
            "it is an SQLite database with no tables"
        };
        return Err(StoreError::Uninitialised {
            path: path.to_path_buf(),
            why: why.to_string(),
        });
    }
    Err(StoreError::corrupt(path, "it was not written by deadman"))
}

/// WAL and `synchronous=FULL`, on a file [`check_ours`] accepted.
pub(super) fn configure(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(|e| StoreError::sql("enabling WAL", path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::WalUnsupported {
            path: path.to_path_buf(),
            mode,
        });
    }
    // FULL: the WAL is fsynced at every commit, so an acknowledged ping
    // survives power loss.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| StoreError::sql("setting synchronous=FULL", path, e))?;
    Ok(())
}

pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| StoreError::sql("reading the schema version", path, e))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            version,
            known,
        });
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn
            .transaction()
            .map_err(|e| StoreError::sql("starting a migration", path, e))?;
        tx.execute_batch(sql)
            .and_then(|()| tx.pragma_update(None, "application_id", APPLICATION_ID))
            .and_then(|()| tx.pragma_update(None, "user_version", from as i64 + 1))
            .and_then(|()| tx.commit())
            .map_err(|e| {
                StoreError::sql(
                    &format!("migrating the schema to version {}", from + 1),
                    path,
                    e,
                )
            })?;
    }
    Ok(())
}

/// A database whose size is not a whole number of pages, or smaller than
/// its header says, was truncated (a bad copy, a full disk during a
/// restore): refuse it rather than lose the missing pages silently.
pub(super) fn check_file_size(path: &Path) -> Result<(), StoreError> {
    let Ok(metadata) = std::fs::metadata(path) else {
        return Ok(()); // opening it reports why it cannot be read
    };
    let len = metadata.len();
    if len == 0 {
        return Ok(()); // `check_ours` refuses it with advice
    }
    let mut header = [0u8; 100];
    let read = File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header))
        .map(|()| true);
    if !matches!(read, Ok(true)) || &header[..16] != b"SQLite format 3\0" {
        return Err(StoreError::corrupt(
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
        return Err(StoreError::corrupt(
            path,
            &format!(
                "it is {len} bytes but its header describes {pages} pages of {page_size} bytes; \
                 it looks truncated"
            ),
        ));
    }
    Ok(())
}
