//! `kill -9` under load never loses an acknowledged ping, and never counts a
//! rid twice; a second exporter and a corrupt file are refused (issue #3).

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::binary::{dir_with_config, metric, run_once, send, start, stop_cleanly, wait_ready};

/// Floods one check on purpose, so without the per-check rate limit.
const CONFIG: &str =
    "[[check]]\nname = \"crash\"\nowner = \"ops\"\nevery = \"1h\"\nrate_limit = \"none\"\n";
const CLIENTS: usize = 16;

fn ping(address: &str, rid: &str) -> bool {
    send(address, "POST", &format!("/ping/crash?rid={rid}&records=1")).starts_with("HTTP/1.1 200")
}

#[test]
fn kill_9_loses_no_acknowledged_ping_and_counts_no_rid_twice() {
    let dir = dir_with_config(CONFIG);
    let (mut child, address, _logs) = start(dir.path(), &[]);
    wait_ready(&address);

    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let sent = Arc::new(Mutex::new(0usize));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (address, acked, sent, stop) =
                (address.clone(), acked.clone(), sent.clone(), stop.clone());
            std::thread::spawn(move || {
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let rid = format!("c{client}-{i}");
                    *sent.lock().expect("lock") += 1;
                    // A refused connection after the kill is simply not acked.
                    let ok = std::panic::catch_unwind(|| ping(&address, &rid)).unwrap_or(false);
                    if ok {
                        acked.lock().expect("lock").push(rid);
                    } else if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
            })
        })
        .collect();

    // Kill at a random moment between 0.3 s and 1.5 s into the load.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let delay = Duration::from_millis(300 + u64::from(nanos % 1200));
    std::thread::sleep(delay);
    child.kill().expect("kill -9"); // SIGKILL: no chance to flush anything
    let _ = child.wait();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        let _ = client.join();
    }
    let acked = acked.lock().expect("lock").clone();
    let sent = *sent.lock().expect("lock");
    assert!(
        !acked.is_empty(),
        "no ping was acknowledged before the kill"
    );
    assert_eq!(acked.iter().collect::<HashSet<_>>().len(), acked.len());

    let (mut child, address, _logs) = start(dir.path(), &[]);
    wait_ready(&address);
    let records = metric(&address, "deadman_check_records_total{check=\"crash\"}");
    let successes = metric(
        &address,
        "deadman_check_pings_total{check=\"crash\",kind=\"success\"}",
    );
    println!(
        "killed after {delay:?}: {sent} sent, {} acknowledged, {records} recorded",
        acked.len()
    );
    assert!(
        records >= acked.len() as f64,
        "acknowledged pings were lost"
    );
    assert!(
        records <= sent as f64,
        "more records than pings sent: a rid counted twice"
    );
    assert_eq!(records, successes);

    // Every acknowledged rid is remembered: retrying them all changes nothing.
    for rid in &acked {
        assert!(ping(&address, rid));
    }
    assert_eq!(
        metric(&address, "deadman_check_records_total{check=\"crash\"}"),
        records
    );
    stop_cleanly(&mut child, "TERM");
}

/// Values, failure streaks and the failure-ratio window are stored in the
/// same commit as everything else a ping changes (issue #14).
#[test]
fn kill_9_keeps_reported_values_failure_streaks_and_run_counts() {
    let config = "[[check]]\nname = \"reconcile\"\nowner = \"ops\"\nevery = \"1h\"\n\
                  failure_threshold = 3\nmax_failure_ratio = 0.5\nfailure_ratio_window = \"1h\"\n\
                  [[check.value]]\nname = \"unmatched_invoices\"\nmax = 0\n";
    let dir = dir_with_config(config);
    let (mut child, address, _logs) = start(dir.path(), &[]);
    wait_ready(&address);
    for path in [
        "/ping/reconcile",
        "/ping/reconcile/3?value.unmatched_invoices=37",
        "/ping/reconcile/fail?value.unmatched_invoices=38",
    ] {
        let answer = send(&address, "POST", path);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    child.kill().expect("kill -9"); // acknowledged: on disk, whatever comes next
    let _ = child.wait();

    let (mut child, address, _logs) = start(dir.path(), &[]);
    wait_ready(&address);
    let of = |series: &str| metric(&address, series);
    assert_eq!(
        of("deadman_check_value{check=\"reconcile\",name=\"unmatched_invoices\"}"),
        38.0
    );
    assert_eq!(
        of("deadman_check_consecutive_failures{check=\"reconcile\"}"),
        2.0
    );
    assert_eq!(
        of("deadman_check_failure_ratio_window_runs{check=\"reconcile\"}"),
        3.0
    );
    assert_eq!(
        of("deadman_check_failure_ratio_window_failures{check=\"reconcile\"}"),
        2.0
    );
    stop_cleanly(&mut child, "TERM");
}

/// Everything a ping changes is recovered from the journal after `kill -9`
/// before any state checkpoint (issue #15): counters, the volume window,
/// values, failure streaks, run counts, the history and every rid.
#[test]
fn kill_9_before_a_checkpoint_recovers_everything_from_the_journal() {
    let config = "[[check]]\nname = \"orders\"\nowner = \"ops\"\nevery = \"1h\"\n\
                  rate_limit = \"none\"\nfailure_threshold = 3\nmax_failure_ratio = 0.5\n\
                  failure_ratio_window = \"1h\"\n\
                  [[check.value]]\nname = \"lag\"\nmax = 100\n\
                  [check.volume]\nmin_records = 1\nwindow = \"1h\"\n";
    let dir = dir_with_config(config);
    let (mut child, address, _logs) = start(dir.path(), &[]);
    wait_ready(&address);
    let mut paths: Vec<String> = (0..40)
        .map(|i| format!("/ping/orders?rid=r{i}&records=2&value.lag={i}"))
        .collect();
    paths.push("/ping/orders/fail?rid=f1&records=1".into());
    paths.push("/ping/orders/7?rid=f2".into());
    for path in &paths {
        let answer = send(&address, "POST", path);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    // Well within the checkpoint interval: only the journal has them.
    child.kill().expect("kill -9");
    let _ = child.wait();

    let (mut child, address, _logs) = start(dir.path(), &[]);
    wait_ready(&address);
    let of = |series: &str| metric(&address, series);
    assert_eq!(of("deadman_check_records_total{check=\"orders\"}"), 81.0);
    assert_eq!(
        of("deadman_check_pings_total{check=\"orders\",kind=\"success\"}"),
        40.0
    );
    assert_eq!(of("deadman_check_window_records{check=\"orders\"}"), 81.0);
    assert_eq!(
        of("deadman_check_value{check=\"orders\",name=\"lag\"}"),
        39.0
    );
    assert_eq!(
        of("deadman_check_consecutive_failures{check=\"orders\"}"),
        2.0
    );
    assert_eq!(
        of("deadman_check_failure_ratio_window_runs{check=\"orders\"}"),
        42.0
    );
    assert_eq!(
        of("deadman_check_failure_ratio_window_failures{check=\"orders\"}"),
        2.0
    );
    let history = send(&address, "GET", "/api/v1/checks/orders/history?limit=3");
    assert!(history.contains("\"rid\":\"f2\""), "{history}");
    assert!(history.contains("\"rid\":\"r39\""), "{history}");
    // Every rid stays a duplicate; a new one is not.
    for path in &paths {
        let answer = send(&address, "POST", path);
        assert!(answer.contains("duplicate rid"), "{path}: {answer}");
    }
    assert!(send(&address, "POST", "/ping/orders?rid=new&records=1").contains("success recorded"));
    assert_eq!(of("deadman_check_records_total{check=\"orders\"}"), 82.0);
    // A second crash, after the recovery's own checkpoint, loses nothing either.
    child.kill().expect("kill -9");
    let _ = child.wait();
    let (mut child, address, _logs) = start(dir.path(), &[]);
    wait_ready(&address);
    assert_eq!(
        metric(&address, "deadman_check_records_total{check=\"orders\"}"),
        82.0
    );
    stop_cleanly(&mut child, "TERM");
}

/// A journal cut mid-write: the last transaction in the WAL is torn (its
/// frames half written, no commit frame), as a power cut during a commit
/// leaves it. Every acknowledged ping survives, the torn one is simply not
/// there (it was never acknowledged), and deadman starts rather than
/// refusing the file.
#[test]
fn a_torn_last_transaction_loses_only_what_was_never_acknowledged() {
    let dir = dir_with_config(CONFIG);
    let (mut child, address, _logs) = start(dir.path(), &[]);
    wait_ready(&address);
    for i in 0..20 {
        assert!(ping(&address, &format!("acked-{i}")));
    }
    child.kill().expect("kill -9");
    let _ = child.wait();
    let data = dir.path().join("data");
    let wal = data.join("deadman.db-wal");
    let acked_len = std::fs::metadata(&wal).expect("a WAL after kill -9").len();

    // Another writer appends one more ping and commits; its frames are then
    // cut in half, as if the machine died while they were being written.
    let torn = tempfile::tempdir().expect("tempdir");
    std::fs::write(torn.path().join("deadman.toml"), CONFIG).expect("config");
    std::fs::create_dir_all(torn.path().join("data")).expect("mkdir");
    let conn = rusqlite::Connection::open(data.join("deadman.db")).expect("open");
    conn.execute(
        "INSERT INTO journal (seq, check_name, at, kind, rid, records, remote_addr)
         SELECT max(seq) + 1, 'crash', 0, 'success', 'torn', 1, '127.0.0.1' FROM journal",
        [],
    )
    .expect("an unacknowledged ping");
    let full = std::fs::read(&wal).expect("read WAL");
    assert!(
        full.len() as u64 > acked_len,
        "the new transaction is in the WAL"
    );
    let cut = acked_len as usize + (full.len() - acked_len as usize) / 2;
    std::fs::copy(data.join("deadman.db"), torn.path().join("data/deadman.db")).expect("copy");
    std::fs::write(torn.path().join("data/deadman.db-wal"), &full[..cut]).expect("torn WAL");
    drop(conn);

    let (mut child, address, _logs) = start(torn.path(), &[]);
    wait_ready(&address);
    let records = metric(&address, "deadman_check_records_total{check=\"crash\"}");
    assert_eq!(
        records, 20.0,
        "every acknowledged ping, and not the torn one"
    );
    for i in 0..20 {
        let answer = send(
            &address,
            "POST",
            &format!("/ping/crash?rid=acked-{i}&records=1"),
        );
        assert!(answer.contains("duplicate rid"), "{answer}");
    }
    let answer = send(&address, "POST", "/ping/crash?rid=torn&records=1");
    assert!(
        answer.contains("success recorded"),
        "the torn ping was never recorded: {answer}"
    );
    stop_cleanly(&mut child, "TERM");
}

#[test]
fn a_second_exporter_on_the_same_storage_path_is_refused() {
    let dir = dir_with_config(CONFIG);
    let (mut first, address, _logs) = start(dir.path(), &[]);
    wait_ready(&address);
    let out = run_once(dir.path(), "127.0.0.1:0");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: opening storage: storage path"),
        "{stderr}"
    );
    assert!(
        stderr.contains("is in use by another deadman process"),
        "{stderr}"
    );
    stop_cleanly(&mut first, "TERM");
}

#[test]
fn a_corrupt_database_is_refused_naming_the_file() {
    let dir = dir_with_config(CONFIG);
    std::fs::create_dir_all(dir.path().join("data")).expect("mkdir");
    let db = dir.path().join("data/deadman.db");
    std::fs::write(&db, b"this is not a database, but it was once important").expect("write");
    let out = run_once(dir.path(), "127.0.0.1:0");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{} is corrupt or not a deadman database",
            db.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("restore it from a backup"), "{stderr}");
    // And the file was left alone.
    assert_eq!(
        std::fs::read(&db).expect("read"),
        b"this is not a database, but it was once important"
    );
}
