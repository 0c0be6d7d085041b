//! Storage edge cases (issue #9): a `deadman.db` that exists but holds no
//! deadman state is refused, never started empty; deleting `lock` does not
//! let a second exporter in; and after a checkpoint `deadman.db` alone is a
//! complete copy of what was acknowledged.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::binary::{dir_with_config, metric, run_once, send, start, stop_cleanly, wait_ready};
use common::{TestServer, T0};

const CONFIG: &str = "[[check]]\nname = \"orders\"\nowner = \"ops\"\nevery = \"1h\"\n";
const RECORDS: &str = "deadman_check_records_total{check=\"orders\"}";

/// Runs the binary on `dir` and asserts it refused to start with `needles`.
fn assert_refused(dir: &Path, needles: &[&str]) -> String {
    let out = run_once(dir, "127.0.0.1:0");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "no {needle:?} in: {stderr}");
    }
    stderr
}

fn data(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("mkdir data");
    data
}

#[test]
fn a_zero_byte_database_is_refused_with_what_to_do() {
    let dir = dir_with_config(CONFIG);
    let db = data(dir.path()).join("deadman.db");
    std::fs::write(&db, b"").expect("zero-byte file");
    assert_refused(
        dir.path(),
        &[
            &format!("{} exists but holds no deadman state", db.display()),
            "it is empty (0 bytes)",
            "restore the file from a backup",
            "delete it to start with empty state",
        ],
    );
    assert_eq!(std::fs::metadata(&db).expect("left alone").len(), 0);
}

#[test]
fn a_schema_less_sqlite_database_is_refused() {
    let dir = dir_with_config(CONFIG);
    let db = data(dir.path()).join("deadman.db");
    rusqlite::Connection::open(&db)
        .and_then(|conn| conn.execute_batch("VACUUM"))
        .expect("an empty SQLite database");
    let before = std::fs::read(&db).expect("read");
    assert_refused(
        dir.path(),
        &[
            "holds no deadman state",
            "it is an SQLite database with no tables",
        ],
    );
    assert_eq!(std::fs::read(&db).expect("read"), before, "left alone");
}

#[test]
fn a_fresh_directory_still_starts_and_leaves_no_temporary_file() {
    let dir = dir_with_config(CONFIG);
    let (mut child, address, _logs) = start(dir.path(), &[]);
    wait_ready(&address);
    assert!(send(&address, "POST", "/ping/orders?records=3").starts_with("HTTP/1.1 200"));
    stop_cleanly(&mut child, "TERM");
    assert!(dir.path().join("data/deadman.db").is_file());
    assert!(!dir.path().join("data/deadman.db.new").exists());

    // And it is accepted as deadman's own on the next start.
    let (mut child, address, _logs) = start(dir.path(), &[]);
    wait_ready(&address);
    assert_eq!(metric(&address, RECORDS), 3.0);
    stop_cleanly(&mut child, "TERM");
}

#[test]
fn deleting_the_lock_file_does_not_let_a_second_exporter_start() {
    let dir = dir_with_config(CONFIG);
    let (mut first, address, _logs) = start(dir.path(), &[]);
    wait_ready(&address);
    std::fs::remove_file(dir.path().join("data/lock")).expect("rm lock");
    assert_refused(
        dir.path(),
        &[
            "error: opening storage: storage path",
            "is in use by another deadman process",
        ],
    );
    // The first one is unaffected and still the only writer.
    assert!(send(&address, "POST", "/ping/orders?records=1").starts_with("HTTP/1.1 200"));
    assert_eq!(metric(&address, RECORDS), 1.0);
    stop_cleanly(&mut first, "TERM");
}

#[test]
fn after_a_clean_shutdown_the_real_binary_leaves_a_self_contained_database() {
    let dir = dir_with_config(CONFIG);
    let (mut child, address, _logs) = start(dir.path(), &[]);
    wait_ready(&address);
    assert!(send(&address, "POST", "/ping/orders?records=7").starts_with("HTTP/1.1 200"));
    stop_cleanly(&mut child, "TERM");

    let copy = dir_with_config(CONFIG);
    std::fs::copy(
        dir.path().join("data/deadman.db"),
        data(copy.path()).join("deadman.db"),
    )
    .expect("copy deadman.db alone");
    let (mut child, address, _logs) = start(copy.path(), &[]);
    wait_ready(&address);
    assert_eq!(metric(&address, RECORDS), 7.0);
    stop_cleanly(&mut child, "TERM");
}

/// SQLite checkpoints by itself when its last connection closes; an idle
/// reader (a monitoring tool, a `sqlite3` shell left open) prevents that,
/// so only deadman's own checkpoint on shutdown brings `deadman.db` up to
/// date.
#[tokio::test]
async fn the_shutdown_checkpoint_works_even_with_another_connection_open() {
    let server = TestServer::start(CONFIG).await;
    assert_eq!(server.post("/ping/orders?records=5").await.status, 200);
    let db = server.dir.path().join("data/deadman.db");
    let idle = rusqlite::Connection::open(&db).expect("idle reader");
    let _: i64 = idle
        .query_row("SELECT count(*) FROM checks", [], |row| row.get(0))
        .expect("read once");
    let (dir, _clock) = server.stop().await;
    let wal = dir.path().join("data/deadman.db-wal");
    assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), 0);

    let copy = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&db, data(copy.path()).join("deadman.db")).expect("copy alone");
    drop(idle);
    let clock = Arc::new(deadman::clock::ManualClock::new(T0));
    let server = TestServer::start_in(copy, CONFIG, clock, common::sqlite).await;
    assert_eq!(server.scrape().await.value(RECORDS), 5.0);
}
