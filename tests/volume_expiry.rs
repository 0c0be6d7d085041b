//! Volume windows and expiries against the real server with an injected
//! clock (issue #5).

mod common;

use common::{series, TestServer};

/// 2026-06-10T00:00:00Z; in London that is 01:00 BST.
const DAY: f64 = 1_781_049_600.0;

const CONFIG: &str = r#"
[[check]]
name = "orders"
owner = "finance-ops@acme.example"
every = "15m"
timezone = "Europe/London"
source = "Shopify"
destination = "Xero"

[check.volume]
min_records = 200
max_records = 5000
since = "0 0 * * *"
due = "0 9 * * *"

[[check.expiry]]
name = "xero-refresh-token"
kind = "credential"
warn_before = "14d"

[[check.expiry]]
name = "xero-api"
kind = "api_version"
at = "2027-03-01T00:00:00Z"

[[check]]
name = "contacts"
owner = "revops@acme.example"
every = "1h"

[check.volume]
min_records = 10
window = "24h"
"#;

async fn start_at(wall: f64) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = std::sync::Arc::new(deadman::clock::ManualClock::new(wall));
    TestServer::start_in(dir, CONFIG, clock, common::sqlite).await
}

#[tokio::test]
async fn two_hundred_orders_by_nine_am_with_exact_windows_across_restarts() {
    // Configured the day before, so today's window is fully observed.
    let server = start_at(DAY - 86_400.0).await;
    server.advance(86_400.0 + 3600.0); // 02:00 BST on the 10th
    for records in [120, 30] {
        let r = server
            .post(&format!("/ping/orders?records={records}"))
            .await;
        assert_eq!(r.status, 200);
    }
    // Log and start pings never count; a fail ping's records do.
    assert_eq!(
        server.post("/ping/orders/log?records=999").await.status,
        200
    );
    assert_eq!(server.post("/ping/orders/fail?records=5").await.status, 200);

    let m = server.scrape().await;
    assert_eq!(m.of("deadman_check_window_records", "orders"), 155.0);
    assert_eq!(m.of("deadman_check_window_min_records", "orders"), 200.0);
    assert_eq!(m.of("deadman_check_window_max_records", "orders"), 5000.0);
    // 09:00 BST = 08:00 UTC.
    assert_eq!(
        m.of("deadman_check_window_due_timestamp_seconds", "orders"),
        DAY + 8.0 * 3600.0
    );

    // The window survives a restart exactly.
    let server = server.restart(CONFIG).await;
    assert_eq!(
        server
            .scrape()
            .await
            .of("deadman_check_window_records", "orders"),
        155.0
    );

    // Local midnight (23:00 UTC) starts a new window, due tomorrow 09:00.
    server.advance(22.0 * 3600.0);
    let m = server.scrape().await;
    assert_eq!(m.of("deadman_check_window_records", "orders"), 0.0);
    assert_eq!(
        m.of("deadman_check_window_due_timestamp_seconds", "orders"),
        DAY + 86_400.0 + 8.0 * 3600.0
    );
}

#[tokio::test]
async fn rolling_window_is_not_due_before_it_was_observed_in_full() {
    let server = start_at(DAY).await;
    assert_eq!(server.post("/ping/contacts?records=4").await.status, 200);
    let m = server.scrape().await;
    assert_eq!(m.of("deadman_check_window_records", "contacts"), 4.0);
    assert_eq!(
        m.of("deadman_check_window_due_timestamp_seconds", "contacts"),
        DAY + 86_400.0
    );
    assert!(m
        .get(&series("deadman_check_window_max_records", "contacts"))
        .is_none());
    server.advance(86_400.0 + 1.0);
    let m = server.scrape().await;
    assert_eq!(m.of("deadman_check_window_records", "contacts"), 0.0);
}

#[tokio::test]
async fn reported_expiries_are_exported_persisted_and_only_declared_names_accepted() {
    let server = start_at(DAY).await;
    let m = server.scrape().await;
    let token = "deadman_expiry_timestamp_seconds{check=\"orders\",name=\"xero-refresh-token\",kind=\"credential\"}";
    let api =
        "deadman_expiry_timestamp_seconds{check=\"orders\",name=\"xero-api\",kind=\"api_version\"}";
    assert!(m.get(token).is_none(), "an unknown expiry is not exported");
    assert_eq!(m.value(api), 1_803_859_200.0);
    assert_eq!(
        m.value("deadman_expiry_warn_before_seconds{check=\"orders\",name=\"xero-refresh-token\",kind=\"credential\"}"),
        14.0 * 86_400.0
    );

    let r = server
        .post("/ping/orders?expires.xero-refresh-token=2027-01-15T00:00:00Z")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = server
        .send(
            "POST",
            "/ping/orders",
            &[("Content-Type", "application/json")],
            br#"{"records": 1, "expires": {"xero-api": "2027-06-01T00:00:00Z"}}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    let r = server
        .post("/ping/orders?expires.stripe-key=2027-01-15T00:00:00Z")
        .await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (
            400,
            "expires.stripe-key is not declared for check \"orders\"; declared expiries: xero-refresh-token, xero-api\n"
        )
    );
    let r = server
        .post("/ping/contacts?expires.x=2027-01-15T00:00:00Z")
        .await;
    assert_eq!(r.status, 400);
    let r = server.post("/ping/orders?expires.xero-api=next-year").await;
    assert_eq!(r.status, 400);

    let server = server.restart(CONFIG).await;
    let m = server.scrape().await;
    assert_eq!(m.value(token), 1_799_971_200.0);
    assert_eq!(
        m.value(api),
        1_811_808_000.0,
        "reported value overrides config"
    );
    assert!(!m.text.contains("stripe-key"));
}
