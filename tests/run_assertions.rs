//! What a run reports, asserted (issue #14), against the real server on
//! 127.0.0.1:0 with a temp storage path and an injected clock: declared
//! values, failure thresholds, failure ratios, too-short runs, pauses, the
//! last failure's exit status and the check page's URL on
//! `deadman_check_info`; each through the exposition, the JSON API and a
//! restart where state is kept.

mod common;

use common::{series, Metrics, TestServer, T0};
use serde_json::Value;

/// T0 + 1h: 2026-03-02T10:00:00Z.
const PAUSE_ENDS: f64 = T0 + 3600.0;

const CONFIG: &str = r#"
[[check]]
name = "reconcile"
owner = "finance-ops@acme.example"
every = "1h"
grace = "10m"
failure_threshold = 3
min_runtime = "30s"
max_failure_ratio = 0.25
failure_ratio_window = "1h"

[[check.value]]
name = "unmatched_invoices"
description = "invoices in Xero with no matching Shopify order"
max = 0
for = "30m"

[[check.value]]
name = "dead_letters"
min = 0
max = 10

[[check.value]]
name = "lag_seconds"

[[check]]
name = "migration"
owner = "ops"
every = "15m"
paused_until = "2026-03-02T10:00:00Z"
pause_reason = "Xero migration, CHG-1234"

[[check]]
name = "retired"
owner = "ops"
every = "1d"
paused = true

[[check]]
name = "plain"
owner = "ops"
every = "1h"
"#;

/// `name{check="<check>",name="<value>"}`.
fn value_series(family: &str, check: &str, value: &str) -> String {
    format!("{family}{{check=\"{check}\",name=\"{value}\"}}")
}

async fn ok(server: &TestServer, path: &str) -> String {
    let reply = server.post(path).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    reply.text()
}

async fn refused(server: &TestServer, path: &str) -> String {
    let reply = server.post(path).await;
    assert_eq!(reply.status, 400, "{path}: {}", reply.text());
    reply.text()
}

/// Whether an API check holds `condition`.
fn holds(check: &Value, condition: &str) -> bool {
    check["conditions"]
        .as_array()
        .is_some_and(|c| c.contains(&Value::from(condition)))
}

/// The check's exported failure times since its last success, newest
/// first (`nth` = 1, 2, ...).
fn recent_failures(m: &common::Metrics, check: &str) -> Vec<f64> {
    (1..)
        .map_while(|nth| {
            m.get(&format!(
                "deadman_check_recent_failure_timestamp_seconds{{check=\"{check}\",nth=\"{nth}\"}}"
            ))
        })
        .collect()
}

async fn api(server: &TestServer, check: &str) -> Value {
    let reply = server.get(&format!("/api/v1/checks/{check}")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    serde_json::from_slice(&reply.body).expect("JSON")
}

#[tokio::test]
async fn declared_values_are_reported_on_any_ping_exported_and_survive_a_restart() {
    let server = TestServer::start(CONFIG).await;
    let unmatched = |family: &str| value_series(family, "reconcile", "unmatched_invoices");
    let m = server.scrape().await;
    assert!(
        m.get(&unmatched("deadman_check_value")).is_none(),
        "absent until reported"
    );
    assert_eq!(m.value(&unmatched("deadman_check_value_max")), 0.0);
    assert_eq!(
        m.value(&unmatched("deadman_check_value_for_seconds")),
        1800.0
    );
    assert!(
        m.get(&unmatched("deadman_check_value_min")).is_none(),
        "no min declared"
    );
    assert_eq!(
        m.value("deadman_check_value_info{check=\"reconcile\",name=\"unmatched_invoices\",description=\"invoices in Xero with no matching Shopify order\"}"),
        1.0
    );
    assert_eq!(
        m.value(&value_series(
            "deadman_check_value_min",
            "reconcile",
            "dead_letters"
        )),
        0.0
    );
    assert!(
        !m.text.contains("check=\"plain\",name="),
        "no value declared, no series"
    );

    // Start, success, fail and log pings all carry values.
    server.advance(10.0);
    let answer = ok(
        &server,
        "/ping/reconcile/start?rid=r1&value.unmatched_invoices=37",
    )
    .await;
    assert_eq!(
        answer,
        "OK: start recorded (rid=r1, value.unmatched_invoices=37).\n"
    );
    let reply = server
        .send(
            "POST",
            "/ping/reconcile/log",
            &[("Content-Type", "application/json")],
            br#"{"values": {"dead_letters": 3}, "value.lag_seconds": "-2.5", "order_id": 7}"#,
        )
        .await;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (
            200,
            "OK: log recorded (value.dead_letters=3, value.lag_seconds=-2.5).\n"
        )
    );
    let reply = server
        .send(
            "POST",
            "/ping/reconcile/fail",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"value.lag_seconds=4.25",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let multipart =
        "--b\r\nContent-Disposition: form-data; name=\"value.dead_letters\"\r\n\r\n12\r\n--b--\r\n";
    let reply = server
        .send(
            "POST",
            "/ping/reconcile",
            &[("Content-Type", "multipart/form-data; boundary=b")],
            multipart.as_bytes(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let m = server.scrape().await;
    assert_eq!(m.value(&unmatched("deadman_check_value")), 37.0);
    assert_eq!(
        m.value(&unmatched("deadman_check_value_timestamp_seconds")),
        T0 + 10.0
    );
    assert_eq!(
        m.value(&unmatched(
            "deadman_check_value_out_of_range_since_timestamp_seconds"
        )),
        T0 + 10.0
    );
    // Stale one period and grace after the report.
    assert_eq!(
        m.value(&unmatched("deadman_check_value_stale_timestamp_seconds")),
        T0 + 10.0 + 4200.0
    );
    let dead = |family: &str| value_series(family, "reconcile", "dead_letters");
    assert_eq!(m.value(&dead("deadman_check_value")), 12.0);
    assert!(m
        .get(&dead(
            "deadman_check_value_out_of_range_since_timestamp_seconds"
        ))
        .is_some());
    let lag = value_series("deadman_check_value", "reconcile", "lag_seconds");
    assert_eq!(m.value(&lag), 4.25);

    let check = api(&server, "reconcile").await;
    assert!(check["conditions"]
        .as_array()
        .is_some_and(|c| c.contains(&Value::from("value_out_of_range"))));
    assert_eq!(
        check["values"][0],
        serde_json::json!({
            "name": "unmatched_invoices",
            "description": "invoices in Xero with no matching Shopify order",
            "min": null, "max": 0, "for_seconds": 1800, "value": 37,
            "reported": "2026-03-02T09:00:10Z", "reported_seconds": T0 as i64 + 10,
            "stale_at": "2026-03-02T10:10:10Z", "stale_at_seconds": T0 as i64 + 4210,
            "stale": false, "out_of_range": true,
            "out_of_range_since": "2026-03-02T09:00:10Z", "out_of_range_since_seconds": T0 as i64 + 10,
        })
    );

    // An in-range report ends the run; the state is kept across a restart.
    server.advance(60.0);
    ok(&server, "/ping/reconcile?value.unmatched_invoices=0").await;
    let server = server.restart(CONFIG).await;
    let m = server.scrape().await;
    assert_eq!(m.value(&unmatched("deadman_check_value")), 0.0);
    assert_eq!(
        m.value(&unmatched("deadman_check_value_timestamp_seconds")),
        T0 + 70.0
    );
    assert!(m
        .get(&unmatched(
            "deadman_check_value_out_of_range_since_timestamp_seconds"
        ))
        .is_none());
    assert_eq!(m.value(&dead("deadman_check_value")), 12.0);
}

#[tokio::test]
async fn only_declared_finite_values_are_accepted_and_nothing_else_is_recorded() {
    let server = TestServer::start(CONFIG).await;
    let cases = [
        (
            "/ping/reconcile?value.unmatched=1",
            "value.unmatched is not declared for check \"reconcile\"; declared values: unmatched_invoices, dead_letters, lag_seconds\n",
        ),
        (
            "/ping/plain?value.unmatched_invoices=1",
            "value.unmatched_invoices is not declared for check \"plain\"; declared values: none\n",
        ),
        (
            "/ping/reconcile?value.lag_seconds=NaN",
            "value.lag_seconds must be a number such as 37 or -2.5, not \"NaN\"\n",
        ),
        (
            "/ping/reconcile?value.lag_seconds=inf",
            "value.lag_seconds must be a number such as 37 or -2.5, not \"inf\"\n",
        ),
        (
            "/ping/reconcile?value.lag_seconds=2000000000000000",
            "value.lag_seconds is 2000000000000000, out of range; a value may be at most 1e15 (1000000000000000) either side of 0\n",
        ),
        (
            "/ping/reconcile?value.lag_seconds=1&value.lag_seconds=2",
            "value.lag_seconds is given more than once; send it once\n",
        ),
        (
            "/ping/reconcile?valu.lag_seconds=1",
            "unknown parameter \"valu.lag_seconds\"; accepted parameters are records, rid, reason, message, token, expires.<name>, value.<name>\n",
        ),
    ];
    for (path, message) in cases {
        assert_eq!(refused(&server, path).await, message, "{path}");
    }
    let reply = server
        .send(
            "POST",
            "/ping/reconcile",
            &[("Content-Type", "application/json")],
            br#"{"values": {"lag_seconds": [1]}}"#,
        )
        .await;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (
            400,
            "value.lag_seconds has the wrong JSON type (array); send a number\n"
        )
    );
    let m = server.scrape().await;
    assert!(!m.text.contains("deadman_check_value{"), "{}", m.text);
    assert_eq!(
        m.value("deadman_check_pings_total{check=\"reconcile\",kind=\"success\"}"),
        0.0,
        "a refused ping records nothing"
    );
}

#[tokio::test]
async fn failures_in_a_row_page_at_the_threshold_keep_their_exit_status_and_survive_a_restart() {
    let server = TestServer::start(CONFIG).await;
    let m = server.scrape().await;
    assert_eq!(m.of("deadman_check_consecutive_failures", "reconcile"), 0.0);
    assert_eq!(m.of("deadman_check_failure_threshold", "reconcile"), 3.0);
    assert_eq!(
        m.of("deadman_check_failure_threshold", "plain"),
        1.0,
        "every check has one"
    );
    assert!(m
        .get(&series(
            "deadman_check_last_failure_exit_status",
            "reconcile"
        ))
        .is_none());

    ok(&server, "/ping/reconcile").await;
    server.advance(60.0);
    ok(&server, "/ping/reconcile/3").await;
    server.advance(60.0);
    ok(&server, "/ping/reconcile/4").await;
    let m = server.scrape().await;
    assert_eq!(m.of("deadman_check_consecutive_failures", "reconcile"), 2.0);
    assert_eq!(
        m.of("deadman_check_last_failure_exit_status", "reconcile"),
        4.0
    );
    // The failure times, for the rules to count across replicas.
    let second = m.of("deadman_check_last_failure_timestamp_seconds", "reconcile");
    assert_eq!(recent_failures(&m, "reconcile"), [second, second - 60.0]);
    assert!(
        recent_failures(&m, "plain").is_empty(),
        "a check that pages at its first failure has none"
    );
    let check = api(&server, "reconcile").await;
    assert!(
        !holds(&check, "failing"),
        "below the threshold nothing pages"
    );
    assert_eq!(check["status"], "failing", "the last run failed");
    assert_eq!(check["consecutive_failures"], 2);
    assert_eq!(check["failure_threshold"], 3);
    assert_eq!(check["last_failure_exit_status"], 4);

    let server = server.restart(CONFIG).await;
    server.advance(60.0);
    ok(&server, "/ping/reconcile/fail?reason=upstream").await;
    let m = server.scrape().await;
    assert_eq!(
        m.of("deadman_check_consecutive_failures", "reconcile"),
        3.0,
        "kept across the restart"
    );
    assert_eq!(
        recent_failures(&m, "reconcile"),
        [second + 60.0, second, second - 60.0],
        "failure times are kept across the restart"
    );
    assert!(
        m.get(&series(
            "deadman_check_last_failure_exit_status",
            "reconcile"
        ))
        .is_none(),
        "the last failure had no exit status"
    );
    let check = api(&server, "reconcile").await;
    assert!(holds(&check, "failing"), "{check}");
    assert_eq!(check["last_failure_exit_status"], Value::Null);

    server.advance(60.0);
    ok(&server, "/ping/reconcile/0").await;
    let m = server.scrape().await;
    assert_eq!(
        m.of("deadman_check_consecutive_failures", "reconcile"),
        0.0,
        "one success resets"
    );
    assert!(recent_failures(&m, "reconcile").is_empty());
    // Past the threshold only the newest three are exported.
    for _ in 0..5 {
        server.advance(60.0);
        ok(&server, "/ping/reconcile/fail").await;
    }
    let m = server.scrape().await;
    let newest = m.of("deadman_check_last_failure_timestamp_seconds", "reconcile");
    assert_eq!(
        recent_failures(&m, "reconcile"),
        [newest, newest - 60.0, newest - 120.0]
    );
}

#[tokio::test]
async fn the_failure_ratio_is_counted_over_its_window_and_survives_a_restart() {
    let server = TestServer::start(CONFIG).await;
    let m = server.scrape().await;
    assert_eq!(m.of("deadman_check_max_failure_ratio", "reconcile"), 0.25);
    assert_eq!(
        m.of("deadman_check_failure_ratio_window_seconds", "reconcile"),
        3600.0
    );
    assert_eq!(
        m.of("deadman_check_failure_ratio_window_runs", "reconcile"),
        0.0
    );
    assert!(m
        .get(&series("deadman_check_max_failure_ratio", "plain"))
        .is_none());
    assert!(m
        .get(&series("deadman_check_failure_ratio_window_runs", "plain"))
        .is_none());

    for path in [
        "/ping/reconcile",
        "/ping/reconcile/fail",
        "/ping/reconcile/start",
        "/ping/reconcile/log",
    ] {
        ok(&server, path).await;
        server.advance(120.0);
    }
    ok(&server, "/ping/reconcile").await;
    ok(&server, "/ping/reconcile/2").await;
    let m = server.scrape().await;
    assert_eq!(
        m.of("deadman_check_failure_ratio_window_runs", "reconcile"),
        4.0
    );
    assert_eq!(
        m.of("deadman_check_failure_ratio_window_failures", "reconcile"),
        2.0
    );
    let check = api(&server, "reconcile").await;
    assert_eq!(
        check["failure_ratio"],
        serde_json::json!({"max_failure_ratio": 0.25, "window_seconds": 3600, "runs": 4,
                           "failures": 2, "ratio": 0.5, "high": true})
    );
    assert!(check["conditions"]
        .as_array()
        .is_some_and(|c| c.contains(&Value::from("failure_rate_high"))));

    let server = server.restart(CONFIG).await;
    let m = server.scrape().await;
    assert_eq!(
        m.of("deadman_check_failure_ratio_window_runs", "reconcile"),
        4.0
    );
    // An hour after the first run it has left the window (in whole
    // minutes: the window starts at the minute an hour ago falls in).
    server.advance(3200.0);
    let m = server.scrape().await;
    assert_eq!(
        m.of("deadman_check_failure_ratio_window_runs", "reconcile"),
        3.0
    );
    assert_eq!(
        m.of("deadman_check_failure_ratio_window_failures", "reconcile"),
        2.0
    );
    server.advance(3600.0);
    let m = server.scrape().await;
    assert_eq!(
        m.of("deadman_check_failure_ratio_window_runs", "reconcile"),
        0.0
    );
}

#[tokio::test]
async fn a_success_faster_than_min_runtime_ran_too_short_only_when_it_had_a_start() {
    let server = TestServer::start(CONFIG).await;
    let m = server.scrape().await;
    assert_eq!(m.of("deadman_check_min_runtime_seconds", "reconcile"), 30.0);
    assert!(m
        .get(&series("deadman_check_min_runtime_seconds", "plain"))
        .is_none());
    let duration = series("deadman_check_last_success_duration_seconds", "reconcile");
    assert!(m.get(&duration).is_none(), "no success yet");

    ok(&server, "/ping/reconcile/start?rid=r1").await;
    server.advance(0.25);
    ok(&server, "/ping/reconcile?rid=r1").await;
    let m = server.scrape().await;
    assert_eq!(m.value(&duration), 0.25);
    let check = api(&server, "reconcile").await;
    assert_eq!(check["conditions"], serde_json::json!(["ran_too_short"]));
    assert_eq!(check["min_runtime_seconds"], 30);
    assert_eq!(check["last_success_duration_seconds"], 0.25);

    // A success without a start cannot be timed: not too short, not kept.
    server.advance(60.0);
    ok(&server, "/ping/reconcile").await;
    let m = server.scrape().await;
    assert!(m.get(&duration).is_none());
    assert_eq!(
        m.of("deadman_check_last_duration_seconds", "reconcile"),
        0.25
    );
    assert_eq!(
        api(&server, "reconcile").await["conditions"],
        serde_json::json!(["up"])
    );

    ok(&server, "/ping/reconcile/start?rid=r2").await;
    server.advance(45.0);
    ok(&server, "/ping/reconcile?rid=r2").await;
    let server = server.restart(CONFIG).await;
    assert_eq!(
        server.scrape().await.value(&duration),
        45.0,
        "kept across a restart"
    );
}

#[tokio::test]
async fn a_pause_is_exported_ends_by_itself_and_pings_are_still_recorded() {
    let server = TestServer::start(CONFIG).await;
    let m = server.scrape().await;
    assert_eq!(m.of("deadman_check_paused", "migration"), 1.0);
    assert_eq!(m.of("deadman_check_paused", "retired"), 1.0);
    assert_eq!(m.of("deadman_check_paused", "plain"), 0.0);
    assert_eq!(
        m.of("deadman_check_paused_until_timestamp_seconds", "migration"),
        PAUSE_ENDS
    );
    assert!(m
        .get(&series(
            "deadman_check_paused_until_timestamp_seconds",
            "retired"
        ))
        .is_none());
    // A whole period and grace after the pause: 15m + 5m.
    assert_eq!(
        m.of("deadman_check_deadline_timestamp_seconds", "migration"),
        PAUSE_ENDS + 1200.0
    );

    ok(&server, "/ping/migration/fail?records=5").await;
    let m = server.scrape().await;
    assert_eq!(m.of("deadman_check_records_total", "migration"), 5.0);
    let check = api(&server, "migration").await;
    assert_eq!(check["condition"], "paused");
    assert_eq!(
        check["conditions"],
        serde_json::json!(["paused", "failing"])
    );
    assert_eq!(check["paused"], true);
    assert_eq!(check["paused_until"], "2026-03-02T10:00:00Z");
    assert_eq!(check["paused_until_seconds"], PAUSE_ENDS);
    assert_eq!(check["pause_reason"], "Xero migration, CHG-1234");
    let retired = api(&server, "retired").await;
    assert_eq!(
        (retired["paused"].clone(), retired["paused_until"].clone()),
        (Value::Bool(true), Value::Null)
    );
    let list = server.get("/api/v1/checks?state=paused").await;
    let list: Value = serde_json::from_slice(&list.body).expect("JSON");
    assert_eq!(list["summary"]["paused"], 2);

    // The pause lifts itself at paused_until, without a reload.
    server.advance(3600.0);
    let m = server.scrape().await;
    assert_eq!(m.of("deadman_check_paused", "migration"), 0.0);
    assert_eq!(m.of("deadman_check_paused", "retired"), 1.0);
    let check = api(&server, "migration").await;
    assert_eq!(
        (check["paused"].clone(), check["condition"].clone()),
        (Value::Bool(false), Value::from("failing"))
    );
}

#[tokio::test]
async fn the_info_series_links_to_the_check_page_under_the_external_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = std::sync::Arc::new(deadman::clock::ManualClock::new(T0));
    let server = TestServer::start_customized(dir, CONFIG, clock, common::sqlite, |options| {
        options.external_url = Some("https://ops.example.com/deadman/".into());
    })
    .await;
    let m = server.scrape().await;
    let info = m
        .series
        .keys()
        .find(|k| k.starts_with("deadman_check_info{check=\"reconcile\""))
        .expect("an info series");
    assert!(
        info.contains(",url=\"https://ops.example.com/deadman/checks/reconcile\""),
        "{info}"
    );
    let page = server.get("/checks/reconcile").await;
    assert_eq!(page.status, 200, "the URL is the check's page");

    let plain = TestServer::start(CONFIG).await;
    let m: Metrics = plain.scrape().await;
    assert!(
        !m.text.contains(",url="),
        "no url label without --web.external-url"
    );
}
