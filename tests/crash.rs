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
