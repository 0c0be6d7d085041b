//! The SQLite store's tests: round trips, bounds, locks, refused files,
//! checkpoints, migrations and pruning, on real files in temp dirs.

use super::schema::{APPLICATION_ID, MIGRATIONS};
use super::*;
use crate::model::failure_ratio::RunBucket;
use crate::model::values::ReportedValue;
use crate::model::{CheckState, FailReason, Kind, Ping, Run};
use crate::store::rid_index::Forgotten;
use crate::store::seam::{JournalRow, RidRow, RunBucketRow};
use std::fs::{File, OpenOptions};

/// A journal entry as `history` below shows it.
fn entry(seq: u64, check: &str, at: f64, message: &str) -> JournalRow {
    JournalRow {
        seq,
        check: check.into(),
        at,
        ping: Ping {
            kind: Kind::Success,
            reason: None,
            exit_status: None,
            records: Some(1),
            rid: None,
            message: Some(message.into()),
            expiries: Vec::new(),
            values: Vec::new(),
        },
        remote_addr: "127.0.0.1".into(),
        user_agent: Some("curl".into()),
    }
}

/// A journal entry carrying a rid.
fn with_rid(seq: u64, check: &str, kind: Kind, rid: &str, at: f64) -> JournalRow {
    let mut row = entry(seq, check, at, "");
    row.ping.kind = kind;
    row.ping.rid = Some(rid.into());
    row
}

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
    state.consecutive_failures = 3;
    state.recent_failures = vec![20.5, 20.75, 21.0];
    state.last_failure_exit_status = Some(3);
    state.last_success_duration = Some(0.25);
    let out = ReportedValue {
        value: 37.5,
        at: 20.0,
        out_of_range_since: Some(19.5),
    };
    state.values.insert("unmatched".into(), out);
    let ok = ReportedValue {
        value: -1.0,
        at: 20.0,
        out_of_range_since: None,
    };
    state.values.insert("lag".into(), ok);
    let bucket = |minute, runs, failures| RunBucketRow {
        check: "a".into(),
        bucket: RunBucket {
            minute,
            runs,
            failures,
        },
    };
    {
        let mut store = SqliteStore::open(dir.path()).expect("open");
        store
            .commit(&Batch {
                states: vec![("a".into(), state.clone())],
                journal: vec![with_rid(1, "a", Kind::Fail, "r1", 20.0)],
                run_buckets: vec![bucket(7, 2, 1), bucket(5, 1, 0)],
                history_limit: 100,
                ..Batch::default()
            })
            .expect("commit");
        // Whole totals replace the row; old minutes are pruned.
        store
            .commit(&Batch {
                run_buckets: vec![bucket(7, 3, 2)],
                prune_run_buckets_before: Some(6),
                history_limit: 100,
                ..Batch::default()
            })
            .expect("commit");
    }
    let mut store = SqliteStore::open(dir.path()).expect("reopen");
    let snapshot = store.load().expect("load");
    assert_eq!(snapshot.checks, vec![("a".to_string(), state)]);
    let rids = stored_rids(&mut store);
    assert_eq!(rids.len(), 1);
    assert_eq!(rids[0].kind, Kind::Fail);
    assert_eq!(snapshot.run_buckets, vec![bucket(7, 3, 2)]);
}

#[test]
fn history_is_bounded_per_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = SqliteStore::open(dir.path()).expect("open");
    for i in 0..5 {
        store
            .commit(&Batch {
                journal: vec![
                    entry(2 * i + 1, "a", i as f64, &format!("a{i}")),
                    entry(2 * i + 2, "b", i as f64, &format!("b{i}")),
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
        err.to_string()
            .contains("is in use by another deadman process"),
        "{err}"
    );
}

#[test]
fn deleting_the_lock_file_does_not_release_the_guard() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = SqliteStore::open(dir.path()).expect("open");
    std::fs::remove_file(dir.path().join(LOCK_FILE)).expect("rm lock");
    let err = SqliteStore::open(dir.path()).err().expect("still refused");
    assert!(
        matches!(&err, StoreError::Locked { held, .. } if held == dir.path()),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(
            "is in use by another deadman process (it holds the lock on the directory itself)"
        ),
        "{err}"
    );
}

#[test]
fn an_older_deadman_holding_only_the_lock_file_is_respected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lock_path = dir.path().join(LOCK_FILE);
    let older = File::create(&lock_path).expect("lock file");
    older.try_lock().expect("older deadman's lock");
    let err = SqliteStore::open(dir.path()).err().expect("refused");
    assert!(
        matches!(&err, StoreError::Locked { held, .. } if *held == lock_path),
        "{err:?}"
    );
    drop(older);
    SqliteStore::open(dir.path()).expect("free once it exits");
}

#[test]
fn the_directory_lock_does_not_block_read_only_readers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = SqliteStore::open(dir.path()).expect("open");
    store
        .commit(&Batch {
            states: vec![("a".into(), CheckState::new(1.0))],
            history_limit: 100,
            ..Batch::default()
        })
        .expect("commit");
    let snapshot = SqliteStore::read_snapshot(dir.path()).expect("read beside the writer");
    assert_eq!(snapshot.checks.len(), 1);
}

#[test]
fn zero_byte_and_schema_less_files_are_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join(DB_FILE);
    std::fs::write(&db, b"").expect("write");
    let err = SqliteStore::open(dir.path()).err().expect("refused");
    assert!(
        matches!(&err, StoreError::Uninitialised { why, .. } if why.contains("0 bytes")),
        "{err:?}"
    );
    assert!(err.to_string().contains("holds no deadman state"), "{err}");
    assert_eq!(std::fs::metadata(&db).expect("still there").len(), 0);

    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join(DB_FILE);
    Connection::open(&db)
        .and_then(|c| c.execute_batch("VACUUM"))
        .expect("empty database");
    let before = std::fs::read(&db).expect("read");
    assert!(!before.is_empty());
    let err = SqliteStore::open(dir.path()).err().expect("refused");
    assert!(
        matches!(&err, StoreError::Uninitialised { why, .. } if why.contains("no tables")),
        "{err:?}"
    );
    assert_eq!(std::fs::read(&db).expect("read"), before, "left alone");
}

#[test]
fn a_new_database_appears_complete_and_replaces_a_crashed_creation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let temp = create::temp_path(&dir.path().join(DB_FILE));
    std::fs::write(&temp, b"half-built").expect("leftover");
    let store = SqliteStore::open(dir.path()).expect("open");
    assert!(!temp.exists(), "the leftover was removed");
    let version: i64 = store
        .conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("version");
    assert_eq!(version, MIGRATIONS.len() as i64);
    drop(store);
    // What the rename put in place was complete on its own.
    SqliteStore::open(dir.path()).expect("reopens");
}

#[test]
fn after_a_checkpoint_the_database_file_alone_has_every_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = SqliteStore::open(dir.path()).expect("open");
    let mut state = CheckState::new(1.0);
    state.records = 42;
    store
        .commit(&Batch {
            states: vec![("a".into(), state)],
            history_limit: 100,
            ..Batch::default()
        })
        .expect("commit");
    store.checkpoint().expect("checkpoint");
    let wal = dir.path().join(format!("{DB_FILE}-wal"));
    assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), 0);

    // Copied while the store is open, without its -wal.
    let copy = tempfile::tempdir().expect("tempdir");
    std::fs::copy(dir.path().join(DB_FILE), copy.path().join(DB_FILE)).expect("copy");
    let snapshot = SqliteStore::open(copy.path())
        .expect("open copy")
        .load()
        .expect("load");
    assert_eq!(snapshot.checks.len(), 1);
    assert_eq!(snapshot.checks[0].1.records, 42);
}

#[test]
fn a_checkpoint_blocked_by_a_reader_says_so_without_waiting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = SqliteStore::open(dir.path()).expect("open");
    let commit = |store: &mut SqliteStore, name: &str| {
        store
            .commit(&Batch {
                states: vec![(name.into(), CheckState::new(1.0))],
                history_limit: 100,
                ..Batch::default()
            })
            .expect("commit")
    };
    commit(&mut store, "a");
    let reader = Connection::open(dir.path().join(DB_FILE)).expect("reader");
    reader.execute_batch("BEGIN").expect("begin");
    let _: i64 = reader
        .query_row("SELECT count(*) FROM checks", [], |row| row.get(0))
        .expect("read");
    commit(&mut store, "b"); // newer than the reader's snapshot
    let started = std::time::Instant::now();
    let err = store.checkpoint().expect_err("busy");
    assert!(matches!(err, StoreError::CheckpointBusy { .. }), "{err:?}");
    assert!(started.elapsed() < BUSY_TIMEOUT / 2, "it did not wait");
    reader.execute_batch("COMMIT").expect("end read");
    store
        .checkpoint()
        .expect("succeeds once the reader is done");
    commit(&mut store, "c"); // and commits still work after it
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
        err.to_string()
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
        err.to_string()
            .contains("is corrupt or not a deadman database"),
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
    assert!(err.to_string().contains("looks truncated"), "{err}");
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
fn version_2_database_is_migrated_and_a_failing_check_keeps_failing() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let conn = Connection::open(dir.path().join(DB_FILE)).expect("create");
        conn.execute_batch(MIGRATIONS[0]).expect("v1 schema");
        conn.execute_batch(MIGRATIONS[1]).expect("v2 schema");
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .expect("id");
        conn.pragma_update(None, "user_version", 2)
            .expect("version");
        // "a" failed after its last success; "b" succeeded last.
        for (name, success, failure) in [("a", 2, 3), ("b", 3, 2)] {
            conn.execute(
                &format!(
                    "INSERT INTO checks VALUES ('{name}', 1, NULL, {success}, {failure}, \
                     'auth', 0, 0, 1, 1, 0, 0, 7, 1, 0, 0, 0, 0, 0, 0, '[]', '{{}}')"
                ),
                [],
            )
            .expect("v2 row");
        }
    }
    let mut store = SqliteStore::open(dir.path()).expect("migrates");
    let snapshot = store.load().expect("load");
    let state = |name: &str| {
        (snapshot.checks.iter())
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
            .expect("kept")
    };
    assert_eq!(state("a").consecutive_failures, 1);
    assert_eq!(state("b").consecutive_failures, 0);
    // Schema 6: a failing check has its last failure among its recent ones.
    assert_eq!(state("a").recent_failures, [3.0]);
    assert!(state("b").recent_failures.is_empty());
    assert_eq!(state("a").records, 7);
    assert!(state("a").values.is_empty());
    assert_eq!(state("a").last_success_duration, None);
    assert!(snapshot.run_buckets.is_empty());
}

#[test]
fn version_3_database_is_migrated_into_the_journal_keeping_history_and_rids() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let conn = Connection::open(dir.path().join(DB_FILE)).expect("create");
        for sql in &MIGRATIONS[..3] {
            conn.execute_batch(sql).expect("v3 schema");
        }
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .expect("id");
        conn.pragma_update(None, "user_version", 3)
            .expect("version");
        conn.execute_batch(
            "INSERT INTO checks VALUES ('a', 1, NULL, 5, 0, NULL, 0, 0, 3, 0, 0, 0, 9,
                 0, 0, 0, 0, 0, 0, 0, '[]', '{}', 0, NULL, NULL, '{}');
             INSERT INTO history VALUES (1, 'a', 3, 'success', 'r1', 3, NULL, NULL, 'm1', 'x', NULL);
             INSERT INTO history VALUES (2, 'b', 3, 'success', NULL, NULL, NULL, NULL, 'b1', 'x', NULL);
             INSERT INTO history VALUES (5, 'a', 5, 'success', 'r2', 6, NULL, NULL, 'm2', 'x', 'ua');
             -- r1 is in the history too; r0 only in rids (its entry was trimmed)
             INSERT INTO rids VALUES ('a', 'success', 'r0', 2), ('a', 'success', 'r1', 3),
                                     ('a', 'success', 'r2', 5);
             INSERT INTO record_events VALUES ('a', 5, 6);",
        )
        .expect("v3 rows");
    }
    let mut store = SqliteStore::open(dir.path()).expect("migrates");
    let snapshot = store.load().expect("load");
    assert_eq!(snapshot.checks.len(), 1);
    assert_eq!(snapshot.checks[0].1.records, 9);
    assert!(
        snapshot.replay.is_empty(),
        "the state already has every ping"
    );
    assert_eq!(snapshot.record_events.len(), 1);
    let stored = stored_rids(&mut store);
    let mut rids: Vec<_> = stored.iter().map(|r| r.rid.as_str()).collect();
    rids.sort_unstable();
    assert_eq!(rids, ["r0", "r1", "r2"], "each once");
    assert!(
        snapshot.last_seq >= 6,
        "new entries follow every stored one"
    );
    let history = store.history("a", 10).expect("history");
    let messages: Vec<_> = history.iter().filter_map(|h| h.message.clone()).collect();
    assert_eq!(messages, ["m2", "m1"]);
    assert_eq!(history[0].user_agent.as_deref(), Some("ua"));
    assert_eq!(history[0].records, Some(6));
    let r0 = stored.iter().find(|r| r.rid == "r0").expect("r0");
    assert_eq!(
        store.rid_at(r0.seq).expect("read").map(|k| k.rid),
        Some("r0".to_string())
    );
    // And appending continues each check's chain.
    store
        .commit(&Batch {
            journal: vec![entry(snapshot.last_seq + 1, "a", 7.0, "m3")],
            history_limit: 100,
            ..Batch::default()
        })
        .expect("append");
    let messages: Vec<_> = (store.history("a", 10).expect("history").into_iter())
        .filter_map(|h| h.message)
        .collect();
    assert_eq!(messages, ["m3", "m2", "m1"]);
}

#[test]
fn undecodable_stored_values_refuse_the_load_naming_check_and_column() {
    let cases = [
        ("runs", "'not json'", "checks.runs"),
        ("expiries", "'[1]'", "checks.expiries"),
        ("reported_values", "'{\"a\": 1}'", "checks.reported_values"),
        (
            "last_failure_reason",
            "'bored'",
            "checks.last_failure_reason",
        ),
    ];
    for (column, value, named) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = SqliteStore::open(dir.path()).expect("open");
        store
            .commit(&Batch {
                states: vec![("orders".into(), CheckState::new(1.0))],
                history_limit: 100,
                ..Batch::default()
            })
            .expect("commit");
        store
            .conn
            .execute(&format!("UPDATE checks SET {column} = {value}"), [])
            .expect("damage a value");
        let err = store.load().expect_err("refused");
        assert!(
            matches!(&err, StoreError::Undecodable { check, column, .. }
                if check == "orders" && *column == named),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains(&format!("the stored {named} of check \"orders\"")),
            "{err}"
        );
    }
}

/// Every rid the store hands back at startup, in the order it gives them.
fn stored_rids(store: &mut SqliteStore) -> Vec<RidRow> {
    let mut rows = Vec::new();
    store.each_rid(&mut |row| rows.push(row)).expect("rids");
    rows
}

#[test]
fn trimmed_entries_keep_their_rids_until_forgotten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = SqliteStore::open(dir.path()).expect("open");
    let journal = (1..=60)
        .map(|seq| with_rid(seq, "a", Kind::Success, &format!("r{seq}"), seq as f64))
        .collect();
    store
        .commit(&Batch {
            journal,
            history_limit: 10,
            ..Batch::default()
        })
        .expect("append");
    // A checkpoint trims the journal to the newest 10 entries...
    store
        .commit(&Batch {
            states: vec![("a".into(), CheckState::new(1.0))],
            through: Some(60),
            history_limit: 10,
            ..Batch::default()
        })
        .expect("checkpoint");
    let entries: i64 = store
        .conn
        .query_row("SELECT count(*) FROM journal", [], |row| row.get(0))
        .expect("count");
    assert_eq!(entries, 10);
    let history = store.history("a", 100).expect("history");
    assert_eq!(history.len(), 10);
    assert_eq!(history[0].rid.as_deref(), Some("r60"));
    assert_eq!(history[9].rid.as_deref(), Some("r51"));
    // ...and every rid is still there to be confirmed and reloaded.
    let key = store.rid_at(3).expect("read").expect("kept");
    assert_eq!((key.check.as_str(), key.rid.as_str()), ("a", "r3"));
    assert_eq!(
        store.rid_at(60).expect("read").map(|k| k.rid),
        Some("r60".into())
    );
    assert_eq!(stored_rids(&mut store).len(), 60);
    // Forgotten rids leave the store; those still in the history stay.
    store
        .commit(&Batch {
            forget_rids: vec![
                Forgotten {
                    check: "a".into(),
                    before: 56,
                },
                Forgotten {
                    check: "other".into(),
                    before: 1000,
                },
            ],
            history_limit: 10,
            ..Batch::default()
        })
        .expect("forget");
    let snapshot = store.load().expect("load");
    assert_eq!(
        stored_rids(&mut store).len(),
        10,
        "the entries in the history keep theirs"
    );
    assert!(snapshot.replay.is_empty(), "all checkpointed");
    assert_eq!(store.rid_at(3).expect("read"), None);
}

#[test]
fn a_quiet_check_among_busy_ones_is_trimmed_along_its_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = SqliteStore::open(dir.path()).expect("open");
    // "a" has every tenth entry: too sparse for a range delete.
    let journal = (1..=600)
        .map(|seq| {
            let check = if seq % 10 == 0 {
                "a".to_string()
            } else {
                format!("b{}", seq % 10)
            };
            with_rid(seq, &check, Kind::Success, &format!("r{seq}"), seq as f64)
        })
        .collect();
    store
        .commit(&Batch {
            journal,
            history_limit: 100,
            ..Batch::default()
        })
        .expect("append");
    // A checkpoint of every check but b9.
    let states = std::iter::once("a".to_string())
        .chain((1..=8).map(|i| format!("b{i}")))
        .map(|name| (name, CheckState::new(1.0)))
        .collect();
    store
        .commit(&Batch {
            states,
            through: Some(600),
            history_limit: 10,
            ..Batch::default()
        })
        .expect("checkpoint");
    let count = |check: &str| -> i64 {
        store
            .conn
            .query_row(
                "SELECT count(*) FROM journal WHERE check_name = ?1",
                [check],
                |row| row.get(0),
            )
            .expect("count")
    };
    assert_eq!(count("a"), 10);
    assert_eq!(
        count("b1"),
        10,
        "every checkpointed check over the limit is trimmed"
    );
    assert_eq!(
        count("b9"),
        60,
        "entries after a check's checkpoint stay for a recovery"
    );
    let history = store.history("a", 100).expect("history");
    let rids: Vec<_> = history.iter().filter_map(|h| h.rid.clone()).collect();
    assert_eq!(rids.first().map(String::as_str), Some("r600"));
    assert_eq!(rids.last().map(String::as_str), Some("r510"));
    let stored = stored_rids(&mut store);
    assert_eq!(stored.len(), 600, "no rid is lost");
    assert!(
        stored.windows(2).all(|w| w[0].seq < w[1].seq),
        "the journal's and rid_log's rids come as one sequence, oldest first"
    );
}

#[test]
fn entries_after_the_checkpoint_are_replayed() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut store = SqliteStore::open(dir.path()).expect("open");
        let mut state = CheckState::new(1.0);
        state.records = 1;
        store
            .commit(&Batch {
                journal: vec![entry(1, "a", 10.0, "one")],
                history_limit: 100,
                ..Batch::default()
            })
            .expect("append");
        store
            .commit(&Batch {
                states: vec![("a".into(), state)],
                through: Some(1),
                history_limit: 100,
                ..Batch::default()
            })
            .expect("checkpoint");
        store
            .commit(&Batch {
                journal: vec![entry(2, "a", 11.0, "two"), entry(3, "b", 12.0, "three")],
                history_limit: 100,
                ..Batch::default()
            })
            .expect("append");
    }
    let mut store = SqliteStore::open(dir.path()).expect("reopen");
    let snapshot = store.load().expect("load");
    assert_eq!(snapshot.last_seq, 3);
    let replayed: Vec<_> = snapshot.replay.iter().map(|r| r.seq).collect();
    assert_eq!(replayed, [2, 3]);
    assert_eq!(snapshot.replay[0], entry(2, "a", 11.0, "two"));
    // The chain of "a" runs through the checkpoint.
    let messages: Vec<_> = (store.history("a", 10).expect("history").into_iter())
        .filter_map(|h| h.message)
        .collect();
    assert_eq!(messages, ["two", "one"]);
}

#[test]
fn trim_slices_finish_what_a_checkpoint_left_and_then_stop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = SqliteStore::open(dir.path()).expect("open");
    // 40 interleaved checks of 80 entries each: trimming them to 10 reads
    // and deletes more rows than one trim's budget.
    let checks = 40;
    let journal = (1..=checks * 80)
        .map(|seq| {
            let check = format!("c{}", seq % checks);
            with_rid(seq, &check, Kind::Success, &format!("r{seq}"), seq as f64)
        })
        .collect();
    store
        .commit(&Batch {
            journal,
            history_limit: 10,
            ..Batch::default()
        })
        .expect("append");
    // The gauges' count: 70 of each check's 80 rows are beyond its 10.
    let counted = |store: &SqliteStore| store.journal_rows().expect("a journal");
    assert_eq!(
        counted(&store),
        JournalRows {
            stored: checks * 80,
            awaiting_trim: checks * 70,
        }
    );
    let states = (0..checks)
        .map(|i| (format!("c{i}"), CheckState::new(1.0)))
        .collect();
    store
        .commit(&Batch {
            states,
            through: Some(checks * 80),
            history_limit: 10,
            ..Batch::default()
        })
        .expect("checkpoint");
    let rows = |store: &SqliteStore| -> i64 {
        (store.conn)
            .query_row("SELECT count(*) FROM journal", [], |row| row.get(0))
            .expect("count")
    };
    let after_checkpoint = rows(&store);
    assert!(
        after_checkpoint > (checks * 10) as i64,
        "the checkpoint trims only its share ({after_checkpoint} rows left)"
    );
    assert_eq!(counted(&store).stored, after_checkpoint as u64);
    assert!(counted(&store).awaiting_trim > 0);
    let mut slices = 0;
    while store.trim_history().expect("trim") {
        slices += 1;
        assert!(slices < 10, "each slice makes progress");
    }
    let most: i64 = (store.conn)
        .query_row(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM journal GROUP BY check_name)",
            [],
            |row| row.get(0),
        )
        .expect("count");
    // A check cut short by a budget may rest within the slack (16 over).
    assert!(most <= 10 + 16, "every check is within its limit ({most})");
    assert!(rows(&store) < after_checkpoint);
    assert!(!store.trim_history().expect("trim"), "nothing more to do");
    assert_eq!(
        counted(&store),
        JournalRows {
            stored: rows(&store) as u64,
            awaiting_trim: 0,
        }
    );
    assert_eq!(
        stored_rids(&mut store).len(),
        (checks * 80) as usize,
        "no rid is lost"
    );
    let history = store.history("c1", 100).expect("history");
    assert_eq!(history.len(), 10);
}
