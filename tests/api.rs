//! Every route, status code and metric of the ping API against the real
//! server (issue #2).

mod common;

use common::{series, TestServer, T0};

const CONFIG: &str = r#"
[defaults]
grace = "5m"

[[check]]
name = "orders"
description = "Shopify orders to Xero"
owner = "finance-ops@acme.example"
team = "finance"
runbook = "https://wiki.example/orders"
severity = "critical"
every = "15m"
grace = "10m"
max_runtime = "30m"
labels = { system = "xero" }

[[check]]
name = "payouts"
owner = "finance-ops@acme.example"
cron = "30 2 * * *"
timezone = "America/New_York"
grace = "30m"
token = "s3cret-token"
methods = ["POST"]
"#;

#[tokio::test]
async fn every_configured_check_is_exported_from_startup_with_zeros() {
    let server = TestServer::start(CONFIG).await;
    let m = server.scrape().await;
    assert_eq!(m.value("deadman_checks"), 2.0);
    for check in ["orders", "payouts"] {
        assert_eq!(
            m.of("deadman_check_last_success_timestamp_seconds", check),
            0.0
        );
        assert_eq!(
            m.of("deadman_check_last_failure_timestamp_seconds", check),
            0.0
        );
        assert_eq!(m.of("deadman_check_records_total", check), 0.0);
        assert_eq!(m.of("deadman_check_consecutive_failures", check), 0.0);
        assert_eq!(
            m.of("deadman_check_first_configured_timestamp_seconds", check),
            T0
        );
        // What the rules read is there at 0 before it first moves.
        assert_eq!(
            m.value(&format!(
                "deadman_check_pings_total{{check=\"{check}\",kind=\"success\"}}"
            )),
            0.0
        );
        assert_eq!(
            m.value(&format!(
                "deadman_check_failures_total{{check=\"{check}\",reason=\"auth\"}}"
            )),
            0.0
        );
        // Other kinds and reasons appear once they occur; run series once
        // the check reports a start.
        for kind in ["fail", "start", "log"] {
            let series = format!("deadman_check_pings_total{{check=\"{check}\",kind=\"{kind}\"}}");
            assert!(m.get(&series).is_none(), "{series}");
        }
        for reason in ["other", "exit_code", "timeout"] {
            let series =
                format!("deadman_check_failures_total{{check=\"{check}\",reason=\"{reason}\"}}");
            assert!(m.get(&series).is_none(), "{series}");
        }
        for name in [
            "deadman_check_last_start_timestamp_seconds",
            "deadman_check_last_duration_seconds",
            "deadman_check_runs_in_progress",
            "deadman_check_oldest_run_start_timestamp_seconds",
        ] {
            assert!(m.get(&series(name, check)).is_none(), "{name}");
        }
    }
    // Never pinged: the deadline counts from first configuration.
    assert_eq!(
        m.of("deadman_check_deadline_timestamp_seconds", "orders"),
        T0 + 900.0 + 600.0
    );
    assert_eq!(m.of("deadman_check_max_runtime_seconds", "orders"), 1800.0);
    assert!(m
        .get(&series("deadman_check_max_runtime_seconds", "payouts"))
        .is_none());
    assert_eq!(
        m.value(
            "deadman_check_info{check=\"orders\",owner=\"finance-ops@acme.example\",team=\"finance\",\
             severity=\"critical\",runbook_url=\"https://wiki.example/orders\",schedule=\"every 15m\",\
             description=\"Shopify orders to Xero\",system=\"xero\"}"
        ),
        1.0
    );
    // Empty labels are left out: Prometheus reads them as absent anyway.
    assert_eq!(
        m.value(
            "deadman_check_info{check=\"payouts\",owner=\"finance-ops@acme.example\",\
             severity=\"warning\",schedule=\"cron 30 2 * * * America/New_York\"}"
        ),
        1.0
    );
    assert_eq!(m.value("deadman_config_last_reload_successful"), 1.0);
    assert_eq!(
        m.value("deadman_pings_rejected_total{reason=\"not_found\"}"),
        0.0
    );
    assert!(m.text.contains("deadman_build_info{revision="));
    assert!(m.text.contains("process_start_time_seconds"));
}

#[tokio::test]
async fn all_series_exports_every_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = std::sync::Arc::new(deadman::clock::ManualClock::new(T0));
    let server = TestServer::start_customized(dir, CONFIG, clock, common::sqlite, |options| {
        options.all_series = true;
    })
    .await;
    let m = server.scrape().await;
    for check in ["orders", "payouts"] {
        for kind in ["success", "fail", "start", "log"] {
            let series = format!("deadman_check_pings_total{{check=\"{check}\",kind=\"{kind}\"}}");
            assert_eq!(m.value(&series), 0.0);
        }
        for reason in [
            "auth",
            "rate_limit",
            "timeout",
            "upstream",
            "validation",
            "other",
            "exit_code",
        ] {
            let series =
                format!("deadman_check_failures_total{{check=\"{check}\",reason=\"{reason}\"}}");
            assert_eq!(m.value(&series), 0.0);
        }
        assert_eq!(
            m.of("deadman_check_last_start_timestamp_seconds", check),
            0.0
        );
        assert_eq!(m.of("deadman_check_last_duration_seconds", check), 0.0);
        assert_eq!(m.of("deadman_check_runs_in_progress", check), 0.0);
        assert_eq!(
            m.of("deadman_check_oldest_run_start_timestamp_seconds", check),
            0.0
        );
    }
}

#[tokio::test]
async fn success_start_fail_log_and_exit_status_move_their_metrics() {
    let server = TestServer::start(CONFIG).await;

    server.advance(10.0);
    let r = server.get("/ping/orders/start?rid=run-1").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "OK: start recorded (rid=run-1).\n")
    );
    let m = server.scrape().await;
    assert_eq!(
        m.of("deadman_check_last_start_timestamp_seconds", "orders"),
        T0 + 10.0
    );
    assert_eq!(m.of("deadman_check_runs_in_progress", "orders"), 1.0);
    assert_eq!(
        m.of("deadman_check_oldest_run_start_timestamp_seconds", "orders"),
        T0 + 10.0
    );

    server.advance(5.0);
    assert_eq!(server.get("/ping/orders/log?rid=run-1").await.status, 200);
    server.advance(37.5);
    let r = server.post("/ping/orders?rid=run-1&records=200").await;
    assert_eq!(r.status, 200);
    let m = server.scrape().await;
    let done = T0 + 52.5;
    assert_eq!(
        m.of("deadman_check_last_success_timestamp_seconds", "orders"),
        done
    );
    assert_eq!(m.of("deadman_check_last_duration_seconds", "orders"), 42.5);
    assert_eq!(m.of("deadman_check_runs_in_progress", "orders"), 0.0);
    assert_eq!(m.of("deadman_check_records_total", "orders"), 200.0);
    assert_eq!(
        m.of("deadman_check_deadline_timestamp_seconds", "orders"),
        done + 1500.0
    );
    assert_eq!(
        m.value("deadman_check_pings_total{check=\"orders\",kind=\"log\"}"),
        1.0
    );
    assert_eq!(
        m.value("deadman_check_pings_total{check=\"orders\",kind=\"start\"}"),
        1.0
    );
    assert_eq!(
        m.value("deadman_check_pings_total{check=\"orders\",kind=\"success\"}"),
        1.0
    );

    server.advance(60.0);
    let r = server
        .get("/ping/orders/fail?reason=rate_limit&records=3")
        .await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "OK: fail recorded (records=3, reason=rate_limit).\n")
    );
    server.advance(1.0);
    assert_eq!(server.get("/ping/orders/2").await.status, 200);
    let m = server.scrape().await;
    assert_eq!(
        m.of("deadman_check_last_failure_timestamp_seconds", "orders"),
        done + 61.0
    );
    assert_eq!(
        m.value("deadman_check_failures_total{check=\"orders\",reason=\"rate_limit\"}"),
        1.0
    );
    assert_eq!(
        m.value("deadman_check_failures_total{check=\"orders\",reason=\"exit_code\"}"),
        1.0
    );
    assert_eq!(
        m.value("deadman_check_last_failure_info{check=\"orders\",reason=\"exit_code\"}"),
        1.0
    );
    assert_eq!(m.of("deadman_check_records_total", "orders"), 203.0);
    // Failures do not move the deadline.
    assert_eq!(
        m.of("deadman_check_deadline_timestamp_seconds", "orders"),
        done + 1500.0
    );

    // Exit status 0 is a success.
    server.advance(1.0);
    assert_eq!(server.get("/ping/orders/0").await.status, 200);
    let m = server.scrape().await;
    assert_eq!(
        m.of("deadman_check_last_success_timestamp_seconds", "orders"),
        done + 62.0
    );
    assert_eq!(
        m.value("deadman_check_pings_total{check=\"orders\",kind=\"success\"}"),
        2.0
    );
    assert_eq!(
        m.value("deadman_check_pings_total{check=\"orders\",kind=\"fail\"}"),
        2.0
    );
}

#[tokio::test]
async fn retried_ping_with_same_rid_changes_nothing() {
    let server = TestServer::start(CONFIG).await;
    assert_eq!(
        server
            .post("/ping/orders?rid=batch-7&records=50")
            .await
            .status,
        200
    );
    let before = server.scrape().await.for_check("orders");
    let before_values: Vec<f64> = {
        let m = server.scrape().await;
        before.iter().map(|s| m.value(s)).collect()
    };
    server.advance(30.0);
    let r = server.post("/ping/orders?rid=batch-7&records=50").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (
            200,
            "OK: duplicate rid, already recorded; nothing changed.\n"
        )
    );
    // The Idempotency-Key header is the same rid.
    let r = server
        .send(
            "POST",
            "/ping/orders?records=50",
            &[("Idempotency-Key", "batch-7")],
            b"",
        )
        .await;
    assert_eq!(r.status, 200);
    let m = server.scrape().await;
    let after_values: Vec<f64> = before.iter().map(|s| m.value(s)).collect();
    assert_eq!(before_values, after_values);
    assert_eq!(m.of("deadman_check_records_total", "orders"), 50.0);

    // The same rid on another kind is a different ping.
    assert_eq!(
        server.post("/ping/orders/fail?rid=batch-7").await.status,
        200
    );
    let m = server.scrape().await;
    assert_eq!(
        m.value("deadman_check_pings_total{check=\"orders\",kind=\"fail\"}"),
        1.0
    );
}

#[tokio::test]
async fn unknown_check_is_404_and_creates_no_series() {
    let server = TestServer::start(CONFIG).await;
    let r = server.get("/ping/no-such-check?records=5").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.text(),
        "unknown check \"no-such-check\"; it must be configured before it can be pinged\n"
    );
    let m = server.scrape().await;
    assert!(m.for_check("no-such-check").is_empty());
    assert!(!m.text.contains("no-such-check"));
    assert_eq!(
        m.value("deadman_pings_rejected_total{reason=\"not_found\"}"),
        1.0
    );
}

#[tokio::test]
async fn token_is_required_where_configured() {
    let server = TestServer::start(CONFIG).await;
    let r = server.post("/ping/payouts").await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"deadman\"")
    );
    assert!(!r.text().contains("s3cret"));
    let r = server
        .send(
            "POST",
            "/ping/payouts",
            &[("Authorization", "Bearer wrong")],
            b"",
        )
        .await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (401, "wrong token for this check\n")
    );
    let r = server.post("/ping/payouts?token=wrong").await;
    assert_eq!(r.status, 401);

    let ok = [
        server
            .send(
                "POST",
                "/ping/payouts",
                &[("Authorization", "Bearer s3cret-token")],
                b"",
            )
            .await,
        // Basic auth: any user, the token as password ("zap:s3cret-token").
        server
            .send(
                "POST",
                "/ping/payouts",
                &[("Authorization", "Basic emFwOnMzY3JldC10b2tlbg==")],
                b"",
            )
            .await,
        server.post("/ping/payouts?token=s3cret-token").await,
    ];
    for r in &ok {
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let m = server.scrape().await;
    assert_eq!(
        m.value("deadman_check_pings_total{check=\"payouts\",kind=\"success\"}"),
        3.0
    );
    assert_eq!(
        m.value("deadman_pings_rejected_total{reason=\"unauthorized\"}"),
        3.0
    );
    assert!(!m.text.contains("s3cret"));
}

#[tokio::test]
async fn methods_are_restricted_per_check() {
    let server = TestServer::start(CONFIG).await;
    let r = server.get("/ping/payouts?token=s3cret-token").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    let r = server.send("PUT", "/ping/orders", &[], b"").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, POST"));
    let r = server.send("HEAD", "/ping/orders", &[], b"").await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    let m = server.scrape().await;
    assert_eq!(
        m.value("deadman_pings_rejected_total{reason=\"method_not_allowed\"}"),
        2.0
    );
    assert_eq!(
        m.value("deadman_check_pings_total{check=\"orders\",kind=\"success\"}"),
        1.0
    );
}

#[tokio::test]
async fn bad_input_gets_400_with_the_reason_and_changes_nothing() {
    let server = TestServer::start(CONFIG).await;
    let cases = [
        ("/ping/orders?records=-5", "records must be a non-negative integer, not \"-5\"\n"),
        ("/ping/orders?records=lots", "records must be a non-negative integer, not \"lots\"\n"),
        (
            "/ping/orders/fail?reason=bored",
            "reason \"bored\" is not one of auth, rate_limit, timeout, upstream, validation, other\n",
        ),
        ("/ping/orders/300", "exit status 300 is out of range 0-255\n"),
        (
            "/ping/orders?rid=has%20space",
            "rid must be 1 to 64 characters of A-Z a-z 0-9 . _ : -\n",
        ),
    ];
    for (path, message) in cases {
        let r = server.post(path).await;
        assert_eq!((r.status, r.text()), (400, message.to_string()), "{path}");
    }
    let r = server.post("/ping/orders/finish").await;
    assert_eq!(r.status, 404);
    let m = server.scrape().await;
    assert_eq!(
        m.value("deadman_pings_rejected_total{reason=\"bad_request\"}"),
        5.0
    );
    assert_eq!(m.of("deadman_check_records_total", "orders"), 0.0);
    assert_eq!(
        m.value("deadman_check_pings_total{check=\"orders\",kind=\"success\"}"),
        0.0
    );
}

#[tokio::test]
async fn json_and_form_bodies_like_zapier_and_make() {
    let server = TestServer::start(CONFIG).await;
    let r = server
        .send(
            "POST",
            "/ping/orders",
            &[("Content-Type", "application/json")],
            br#"{"records": 12, "rid": "zap-1", "message": "ok", "zap_meta": {"id": 5}}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = server
        .send(
            "POST",
            "/ping/orders/fail",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"reason=auth&records=0&message=invalid_grant",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = server
        .send(
            "POST",
            "/ping/orders",
            &[("Content-Type", "application/json")],
            b"{not json",
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.text().starts_with("body is not valid JSON"));
    let m = server.scrape().await;
    assert_eq!(m.of("deadman_check_records_total", "orders"), 12.0);
    assert_eq!(
        m.value("deadman_check_failures_total{check=\"orders\",reason=\"auth\"}"),
        1.0
    );
}

#[tokio::test]
async fn oversized_body_is_413() {
    let server = TestServer::start(CONFIG).await;
    let body = vec![b'x'; 100 * 1024 + 1];
    let r = server.send("POST", "/ping/orders", &[], &body).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (413, "request body is larger than 100 KB\n")
    );
    let ok = vec![b'x'; 100 * 1024];
    assert_eq!(
        server.send("POST", "/ping/orders", &[], &ok).await.status,
        200
    );
    let m = server.scrape().await;
    assert_eq!(
        m.value("deadman_pings_rejected_total{reason=\"payload_too_large\"}"),
        1.0
    );
}

#[tokio::test]
async fn reload_keeps_state_adds_and_removes_checks() {
    let server = TestServer::start(CONFIG).await;
    assert_eq!(
        server.post("/ping/orders?records=7&rid=a").await.status,
        200
    );
    server.advance(100.0);

    let new_config = CONFIG.replace("name = \"payouts\"", "name = \"refunds\"");
    let r = server.reload_with(&new_config).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "Reloaded: 2 checks.\n")
    );
    let m = server.scrape().await;
    assert_eq!(m.of("deadman_check_records_total", "orders"), 7.0);
    assert_eq!(
        m.of("deadman_check_last_success_timestamp_seconds", "orders"),
        T0
    );
    assert!(
        m.for_check("payouts").is_empty(),
        "removed check vanishes at once"
    );
    assert_eq!(
        m.of(
            "deadman_check_first_configured_timestamp_seconds",
            "refunds"
        ),
        T0 + 100.0
    );
    // The same rid is still a duplicate after a reload.
    assert_eq!(
        server.post("/ping/orders?records=7&rid=a").await.status,
        200
    );
    assert_eq!(
        server
            .scrape()
            .await
            .of("deadman_check_records_total", "orders"),
        7.0
    );

    // An invalid config is rejected; the old one stays; the gauge drops to 0.
    let r = server.reload_with("[[check]]\nname = \"x\"\n").await;
    assert_eq!(r.status, 500);
    assert!(r.text().contains("owner: missing"), "{}", r.text());
    let m = server.scrape().await;
    assert_eq!(m.value("deadman_config_last_reload_successful"), 0.0);
    assert_eq!(m.value("deadman_checks"), 2.0);
    assert_eq!(
        server.post("/ping/refunds?token=s3cret-token").await.status,
        200
    );

    // Re-adding a removed check restores its state.
    let r = server.reload_with(CONFIG).await;
    assert_eq!(r.status, 200);
    let m = server.scrape().await;
    assert_eq!(m.value("deadman_config_last_reload_successful"), 1.0);
    assert_eq!(
        m.value("deadman_config_last_reload_success_timestamp_seconds"),
        T0 + 100.0
    );
    assert_eq!(
        m.of(
            "deadman_check_first_configured_timestamp_seconds",
            "payouts"
        ),
        T0
    );
}

/// A reload reports every error, one line each naming the file.
#[tokio::test]
async fn reload_lists_every_error() {
    let server = TestServer::start(CONFIG).await;
    let path = server.config_path.display().to_string();
    let r = server
        .reload_with(
            "[[check]]\nname = \"x\"\n\n[[check]]\nname = \"x\"\nowner = \"ops\"\nevery = \"1h\"\n",
        )
        .await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.text(),
        format!(
            "reload failed, the previous config stays in effect: \
             {path}: check \"x\" (line 1): owner: missing; every check needs a named owner (a person, team or address) so that its alerts reach someone\n\
             {path}: check \"x\" (line 1): every: missing; set exactly one of \"every\" (e.g. \"15m\") or \"cron\" (e.g. \"0 9 * * 1-5\")\n\
             {path}: check \"x\" (line 4): name: \"x\" is already used by the check at line 1; names must be unique\n"
        )
    );
}

/// An empty file is refused (it would drop every check) unless it says it
/// is meant to be empty.
#[tokio::test]
async fn reload_refuses_an_empty_file() {
    let server = TestServer::start(CONFIG).await;
    for truncated in ["", "[defaults]\nowner = \"ops\"\n"] {
        let r = server.reload_with(truncated).await;
        assert_eq!(r.status, 500);
        let body = r.text();
        assert!(
            body.ends_with(
                ": no checks are configured (the file has no [[check]]), so nothing would be \
                 watched; if that is intended, put allow_no_checks = true at the top of the file\n"
            ),
            "{body}"
        );
        let m = server.scrape().await;
        assert_eq!(m.value("deadman_checks"), 2.0, "the previous config stays");
        assert_eq!(m.value("deadman_config_last_reload_successful"), 0.0);
    }

    let r = server.reload_with("allow_no_checks = true\n").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "Reloaded: 0 checks.\n")
    );
    assert_eq!(server.scrape().await.value("deadman_checks"), 0.0);
}

#[tokio::test]
async fn metrics_exposition_format_and_gzip() {
    let server = TestServer::start(CONFIG).await;
    let r = server.get("/metrics").await;
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(r.header("content-encoding"), None);
    let r = server
        .send(
            "GET",
            "/metrics",
            &[("Accept-Encoding", "gzip, deflate")],
            b"",
        )
        .await;
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&r.body[..]), &mut text)
        .expect("valid gzip");
    assert!(text.contains("deadman_checks 2"));
    let r = server
        .send("GET", "/metrics", &[("Accept-Encoding", "gzip;q=0")], b"")
        .await;
    assert_eq!(r.header("content-encoding"), None);
}

#[tokio::test]
async fn label_values_are_escaped() {
    let config = r#"
[[check]]
name = "tricky"
description = "says \"hi\"\\n and a backslash \\ \nnewline"
owner = "o"
every = "1h"
"#;
    let server = TestServer::start(config).await;
    let text = server.get("/metrics").await.text();
    assert!(
        text.contains(r#"description="says \"hi\"\\n and a backslash \\ \nnewline""#),
        "{text}"
    );
}

#[tokio::test]
async fn operational_endpoints() {
    let server = TestServer::start(CONFIG).await;
    let r = server.get("/-/healthy").await;
    assert_eq!((r.status, r.text().as_str()), (200, "Healthy.\n"));
    let r = server.get("/-/ready").await;
    assert_eq!((r.status, r.text().as_str()), (200, "Ready.\n"));
    assert_eq!(server.get("/-/reload").await.status, 405);
    assert_eq!(server.get("/nope").await.status, 404);
    assert_eq!(server.post("/metrics").await.status, 405);

    server.advance(2000.0); // orders (15m + 10m grace) is late; payouts is not
    assert_eq!(
        server.post("/ping/payouts?token=s3cret-token").await.status,
        200
    );
    let r = server.get("/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let html = r.text();
    assert!(html.contains("href=\"/metrics\""));
    // The list: most urgent first, each state as icon and text.
    let orders = html.find("data-check=\"orders\"").expect("orders row");
    let payouts = html.find("data-check=\"payouts\"").expect("payouts row");
    assert!(orders < payouts, "late before up");
    assert!(
        html.contains("<tr class=\"problem late\" data-check=\"orders\">"),
        "{html}"
    );
    assert!(
        html.contains("<a href=\"/checks/orders\">orders</a>"),
        "{html}"
    );
    assert!(html.contains("late by 8 min"), "{html}");
    assert!(
        html.contains("<tr class=\"up\" data-check=\"payouts\">"),
        "{html}"
    );
    // The check page has the runbook.
    let page = server.get("/checks/orders").await.text();
    assert!(
        page.contains("<a href=\"https://wiki.example/orders\">https://wiki.example/orders</a>"),
        "{page}"
    );
}

#[tokio::test]
async fn cron_deadline_is_exact_in_the_check_time_zone() {
    let server = TestServer::start(CONFIG).await;
    // T0 = 2026-03-02T09:00Z = 04:00 EST. Next 02:30 New York is 2026-03-03T07:30Z.
    let m = server.scrape().await;
    let next = 1_772_523_000.0; // 2026-03-03T07:30:00Z
    assert_eq!(
        m.of("deadman_check_deadline_timestamp_seconds", "payouts"),
        next + 1800.0
    );
}
