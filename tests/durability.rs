//! Durable state (issue #3): restarts continue exactly where they were,
//! storage faults answer 503 and never lose what was acknowledged, and the
//! store refuses to start when it cannot be trusted.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{TestServer, T0};
use deadman::store::SqliteStore;
use deadman::store::{Batch, HistoryRow, Snapshot, Store, StoreError};

const CONFIG: &str = r#"
[[check]]
name = "orders"
owner = "ops"
every = "1m"
grace = "0s"
max_runtime = "10m"

[[check]]
name = "payouts"
owner = "ops"
cron = "0 * * * *"
grace = "30s"

[[check]]
name = "never"
owner = "ops"
every = "10m"
grace = "0s"
"#;

/// Every per-check series, as `name{labels} value` lines.
fn per_check(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("deadman_check") || l.starts_with("deadman_checks "))
        .map(String::from)
        .collect();
    lines.sort();
    lines
}

#[tokio::test]
async fn graceful_restart_keeps_every_per_check_value() {
    let server = TestServer::start(CONFIG).await;
    server.advance(1.5);
    for path in [
        "/ping/orders/start?rid=a",
        "/ping/orders?rid=a&records=10",
        "/ping/orders/start?rid=b", // still running at the restart
        "/ping/orders/fail?reason=timeout&records=2&rid=c",
        "/ping/payouts/log",
        "/ping/payouts/3",
    ] {
        server.advance(0.25);
        assert_eq!(server.post(path).await.status, 200, "{path}");
    }
    let before = server.get("/metrics").await.text();

    let server = server.restart(CONFIG).await;
    let after = server.get("/metrics").await.text();
    assert_eq!(per_check(&before), per_check(&after));
    let m = server.scrape().await;
    assert_eq!(m.value("deadman_state_restored_checks"), 3.0);

    // Idempotency survives the restart too.
    assert_eq!(
        server.post("/ping/orders?rid=a&records=10").await.status,
        200
    );
    assert_eq!(
        server
            .scrape()
            .await
            .value("deadman_check_records_total{check=\"orders\"}"),
        12.0
    );
    // The run started before the restart finishes after it (wall clock).
    server.advance(4.0);
    assert_eq!(server.post("/ping/orders?rid=b").await.status, 200);
    assert_eq!(
        server
            .scrape()
            .await
            .value("deadman_check_last_duration_seconds{check=\"orders\"}"),
        4.75 // started at T0+2.25, finished at T0+7
    );
}

#[tokio::test]
async fn restart_across_a_deadline_is_late_at_once_and_a_fresh_ping_is_not() {
    let server = TestServer::start(CONFIG).await;
    assert_eq!(server.post("/ping/orders").await.status, 200);
    assert_eq!(server.post("/ping/payouts").await.status, 200);
    server.advance(30.0);
    let (dir, clock) = server.stop().await;

    // Down for 5 minutes: orders (every 1m) passed its deadline meanwhile.
    clock.advance(Duration::from_secs(300));
    let server = TestServer::start_in(dir, CONFIG, clock, common::sqlite).await;
    let now = T0 + 330.0;
    let m = server.scrape().await;
    assert!(m.value("deadman_check_deadline_timestamp_seconds{check=\"orders\"}") < now);
    assert!(server
        .get("/")
        .await
        .text()
        .contains("<tr class=\"problem late\" data-check=\"orders\">"));
    // never-pinged: deadline still counts from the first configuration.
    assert_eq!(
        m.value("deadman_check_first_configured_timestamp_seconds{check=\"never\"}"),
        T0
    );
    assert_eq!(
        m.value("deadman_check_deadline_timestamp_seconds{check=\"never\"}"),
        T0 + 600.0
    );

    // A check pinged just before a restart is not late after it.
    assert_eq!(server.post("/ping/orders").await.status, 200);
    server.advance(1.0);
    let server = server.restart(CONFIG).await;
    let m = server.scrape().await;
    assert!(m.value("deadman_check_deadline_timestamp_seconds{check=\"orders\"}") > now + 1.0);
    assert!(server
        .get("/")
        .await
        .text()
        .contains("<tr class=\"up\" data-check=\"orders\">"));
}

#[tokio::test]
async fn removed_check_keeps_its_state_for_the_retention_period() {
    let config = format!("[storage]\nretention = \"2h\"\n{CONFIG}");
    let without_orders = config.replace("name = \"orders\"", "name = \"orders-v2\"");
    let server = TestServer::start(&config).await;
    assert_eq!(server.post("/ping/orders?records=5").await.status, 200);

    assert_eq!(server.reload_with(&without_orders).await.status, 200);
    assert!(server.scrape().await.for_check("orders").is_empty());
    // Across a restart while removed...
    let server = server.restart(&without_orders).await;
    server.advance(3600.0);
    // ...and back within retention: everything returns.
    assert_eq!(server.reload_with(&config).await.status, 200);
    let m = server.scrape().await;
    assert_eq!(
        m.value("deadman_check_records_total{check=\"orders\"}"),
        5.0
    );
    assert_eq!(
        m.value("deadman_check_first_configured_timestamp_seconds{check=\"orders\"}"),
        T0
    );

    // Removed for longer than the retention: purged, so it starts afresh.
    assert_eq!(server.reload_with(&without_orders).await.status, 200);
    server.advance(2.0 * 3600.0 + 1.0);
    assert_eq!(server.reload_with(&without_orders).await.status, 200);
    assert_eq!(server.reload_with(&config).await.status, 200);
    let m = server.scrape().await;
    assert_eq!(
        m.value("deadman_check_records_total{check=\"orders\"}"),
        0.0
    );
    assert_eq!(
        m.value("deadman_check_first_configured_timestamp_seconds{check=\"orders\"}"),
        T0 + 3.0 * 3600.0 + 1.0
    );
}

/// A store that fails on demand, standing in for a full disk or an I/O error.
struct FaultyStore {
    inner: SqliteStore,
    failing: Arc<AtomicBool>,
}

impl Store for FaultyStore {
    fn load(&mut self) -> Result<Snapshot, StoreError> {
        self.inner.load()
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("database or disk is full".into()));
        }
        self.inner.commit(batch)
    }

    fn history(&mut self, check: &str, limit: usize) -> Result<Vec<HistoryRow>, StoreError> {
        self.inner.history(check, limit)
    }
}

#[tokio::test]
async fn storage_fault_gives_503_keeps_serving_and_recovers() {
    let failing = Arc::new(AtomicBool::new(false));
    let toggle = failing.clone();
    let server = TestServer::start_with(CONFIG, move |dir: &Path| {
        Box::new(FaultyStore {
            inner: SqliteStore::open(&dir.join("data")).expect("open"),
            failing: toggle,
        }) as Box<dyn Store>
    })
    .await;
    assert_eq!(server.post("/ping/orders?records=1").await.status, 200);

    failing.store(true, Ordering::SeqCst);
    let r = server.post("/ping/orders?records=100").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("5"));
    assert_eq!(
        r.text(),
        "storage unavailable, the ping was NOT recorded; retry: database or disk is full\n"
    );
    // Scrapes and the landing page keep working from memory.
    let m = server.scrape().await;
    assert_eq!(
        m.value("deadman_check_records_total{check=\"orders\"}"),
        1.0
    );
    assert_eq!(m.value("deadman_storage_errors_total"), 1.0);
    assert_eq!(
        m.value("deadman_pings_rejected_total{reason=\"unavailable\"}"),
        1.0
    );
    let page = server.get("/").await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("Storage is failing"));
    let health = server.get("/-/healthy").await;
    assert_eq!(health.status, 503);
    assert!(health.text().contains("database or disk is full"));

    failing.store(false, Ordering::SeqCst);
    assert_eq!(server.post("/ping/orders?records=100").await.status, 200);
    assert_eq!(server.get("/-/healthy").await.status, 200);
    let m = server.scrape().await;
    assert_eq!(
        m.value("deadman_check_records_total{check=\"orders\"}"),
        101.0
    );

    // Nothing acknowledged was lost: it is all on disk.
    let server = server.restart(CONFIG).await;
    assert_eq!(
        server
            .scrape()
            .await
            .value("deadman_check_records_total{check=\"orders\"}"),
        101.0
    );
}

#[tokio::test]
async fn not_ready_until_loaded_and_pings_get_503_meanwhile() {
    let (mut server, release) = TestServer::start_loading(CONFIG).await;

    let r = server.get("/-/ready").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (
            503,
            "not ready: still loading stored state; retry shortly\n"
        )
    );
    let r = server.post("/ping/orders").await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.text(),
        "not ready: still loading stored state; retry shortly\n"
    );
    let r = server.get("/metrics").await;
    assert_eq!(r.status, 200);
    assert!(
        !r.text().contains("deadman_check_last_success"),
        "no per-check zeros before load"
    );

    release.send(()).expect("release load");
    server.wait_ready().await;
    assert_eq!(server.get("/-/ready").await.status, 200);
    assert_eq!(server.post("/ping/orders").await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn history_keeps_the_last_n_pings_with_their_details() {
    let config = format!("[storage]\nhistory = 3\n{CONFIG}");
    let server = TestServer::start(&config).await;
    for i in 0..5 {
        let r = server
            .send(
                "POST",
                &format!("/ping/orders?rid=r{i}&records={i}"),
                &[("Content-Type", "text/plain"), ("User-Agent", "zapier")],
                format!("run {i}").as_bytes(),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(
        server
            .post("/ping/orders/fail?reason=auth&rid=f1")
            .await
            .status,
        200
    );
    let r = server.get("/api/v1/checks/orders/history?limit=2").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(body["check"], "orders");
    let pings = body["pings"].as_array().expect("pings");
    assert_eq!(pings.len(), 2);
    assert_eq!(pings[0]["kind"], "fail");
    assert_eq!(pings[0]["reason"], "auth");
    assert_eq!(pings[1]["message"], "run 4");
    assert_eq!(pings[1]["rid"], "r4");
    assert_eq!(pings[1]["records"], 4);
    assert_eq!(pings[1]["user_agent"], "zapier");
    assert_eq!(pings[1]["remote_addr"], "127.0.0.1");
    assert_eq!(pings[1]["at"], "2026-03-02T09:00:00Z");

    // Bounded by [storage] history, and it survives a restart.
    let server = server.restart(&config).await;
    let r = server.get("/api/v1/checks/orders/history").await;
    let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    let messages: Vec<_> = body["pings"]
        .as_array()
        .expect("pings")
        .iter()
        .map(|p| p["message"].clone())
        .collect();
    assert_eq!(
        messages,
        [serde_json::Value::Null, "run 4".into(), "run 3".into()]
    );
    // The six pings are stored (within the slack above the 3 kept, so
    // nothing awaits trimming), as the checkpoint at shutdown counted them.
    let m = server.scrape().await;
    assert_eq!(m.value("deadman_storage_journal_rows"), 6.0);
    assert_eq!(m.value("deadman_storage_journal_rows_awaiting_trim"), 0.0);

    assert_eq!(server.get("/api/v1/checks/nope/history").await.status, 404);
    // A limit beyond what is kept is refused, not silently cut short.
    let r = server.get("/api/v1/checks/orders/history?limit=4").await;
    assert_eq!(r.status, 400);
    let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(
        body["error"],
        "limit must be a whole number from 1 to 3 (the [storage] history kept per check), not \"4\""
    );
    assert_eq!(
        server
            .get("/api/v1/checks/orders/history?limit=0")
            .await
            .status,
        400
    );
    assert_eq!(
        server.post("/api/v1/checks/orders/history").await.status,
        405
    );
}
