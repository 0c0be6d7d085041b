//! The exposition is a contract: a golden file with a fixed clock, and
//! `promtool check metrics` over a real scrape (issue #2).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::TestServer;

const CONFIG: &str = r#"
[[check]]
name = "orders"
description = "Shopify \"paid\" orders\\to Xero\nline two"
owner = "finance-ops@acme.example"
team = "finance"
runbook = "https://wiki.example/orders"
severity = "critical"
every = "15m"
grace = "10m"
max_runtime = "30m"
labels = { system = "xero" }
min_runtime = "10s"
failure_threshold = 2
max_failure_ratio = 0.5
failure_ratio_window = "1h"

[[check.value]]
name = "unmatched_invoices"
description = "invoices with no \"order\""
max = 0
for = "30m"

[[check.value]]
name = "dead_letters"
min = 0
max = 10

[[check]]
name = "payouts"
owner = "finance-ops@acme.example"
cron = "30 2 * * *"
timezone = "America/New_York"
grace = "30m"
paused_until = "2026-03-09T00:00:00Z"
pause_reason = "migration"
failure_threshold = 3
"#;

async fn scripted_scrape() -> String {
    let server = TestServer::start(CONFIG).await;
    server.advance(1.0);
    assert_eq!(server.post("/ping/orders/start?rid=r1").await.status, 200);
    server.advance(12.25);
    assert_eq!(
        server
            .post("/ping/orders?rid=r1&records=40&value.unmatched_invoices=37")
            .await
            .status,
        200
    );
    server.advance(60.0);
    assert_eq!(
        server.post("/ping/payouts/fail?reason=auth").await.status,
        200
    );
    server.advance(30.0);
    assert_eq!(server.post("/ping/payouts/3").await.status, 200);
    assert_eq!(server.get("/ping/nope").await.status, 404);
    server.get("/metrics").await.text()
}

/// Drops what legitimately differs between builds and runs: process
/// metrics, the revision, and commit timings.
fn stable_lines(text: &str) -> String {
    text.lines()
        .filter(|l| {
            !l.contains("process_")
                && !l.contains("deadman_build_info")
                && !l.contains("deadman_storage_commit_")
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

#[tokio::test]
async fn golden_exposition() {
    let actual = stable_lines(&scripted_scrape().await);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/testdata/golden.prom");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &actual).expect("write golden");
    }
    let expected =
        std::fs::read_to_string(path).expect("golden file exists (UPDATE_GOLDEN=1 writes it)");
    assert_eq!(
        actual, expected,
        "exposition changed; if intended, rerun with UPDATE_GOLDEN=1"
    );
}

#[tokio::test]
async fn promtool_check_metrics_accepts_a_real_scrape() {
    let text = scripted_scrape().await;
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(err) => panic!("promtool is needed (the README test command installs it): {err}"),
    };
    child
        .stdin
        .take()
        .expect("stdin piped")
        .write_all(text.as_bytes())
        .expect("write scrape");
    let out = child.wait_with_output().expect("promtool runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{report}"
    );
    assert!(
        report.trim().is_empty(),
        "promtool has lint findings:\n{report}"
    );
}
