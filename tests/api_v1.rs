//! The read-only JSON API, v1 (issue #11), against the real server: every
//! field of a fully configured check through start, success and failure,
//! the list's order, summary and filters, and every refusal.
// One `json!` holds a whole check, deeper than the default limit allows.
#![recursion_limit = "256"]

mod common;

use common::{FaultStore, Reply, TestServer, T0};
use serde_json::{json, Value};

const TOKEN: &str = "s3cret-token-for-xero-sync";

/// xero-sync has every field; the others are there to be sorted and
/// filtered. "backups" comes before "archive" so that name order is seen
/// to be the API's, not the file's.
const CONFIG: &str = r#"
[storage]
history = 50

[[check]]
name = "xero-sync"
description = "Shopify orders to Xero"
owner = "finance-ops@acme.example"
team = "finance"
runbook = "https://wiki.example/xero-sync"
severity = "critical"
source = "Shopify"
destination = "Xero"
account = "xero-admin@acme.example"
recovery = "Reconnect the Xero app."
cron = "0 3 * * *"
timezone = "Europe/London"
grace = "30m"
max_runtime = "20m"
token = "s3cret-token-for-xero-sync"
labels = { system = "xero", env = "prod" }

[check.volume]
min_records = 10
max_records = 500
window = "1d"

[[check.expiry]]
name = "xero-refresh-token"
kind = "credential"
at = "2026-03-20T00:00:00Z"
warn_before = "30d"

[[check]]
name = "backups"
owner = "ops"
team = "infra"
every = "1h"
grace = "5m"
labels = { env = "prod" }

[[check]]
name = "archive"
owner = "ops"
team = "infra"
every = "1h"
grace = "5m"

[[check]]
name = "certs"
owner = "security"
every = "1d"

[[check.expiry]]
name = "tls"
kind = "certificate"
at = "2026-03-01T00:00:00Z"
warn_before = "7d"

[[check]]
name = "reports"
owner = "ops"
every = "1d"
"#;

fn body(reply: &Reply) -> Value {
    assert_eq!(
        reply.header("content-type"),
        Some("application/json"),
        "{}",
        reply.text()
    );
    serde_json::from_slice(&reply.body).unwrap_or_else(|e| panic!("{e}: {}", reply.text()))
}

async fn get_json(server: &TestServer, path: &str) -> Value {
    let reply = server.get(path).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    body(&reply)
}

/// Names of the listed checks, in order.
async fn names(server: &TestServer, query: &str) -> Vec<String> {
    let list = get_json(server, &format!("/api/v1/checks{query}")).await;
    list["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| c["name"].as_str().expect("name").to_string())
        .collect()
}

async fn ping(server: &TestServer, path: &str) {
    let reply = server.post(path).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.text());
}

#[tokio::test]
async fn a_fully_configured_check_shows_every_field_through_its_runs() {
    let server = TestServer::start(CONFIG).await;
    let path = "/api/v1/checks/xero-sync";

    // Never pinged: new, and its token is within 30 days of expiry.
    let fresh = get_json(&server, path).await;
    assert_eq!(fresh["conditions"], json!(["expiring", "new"]));
    assert_eq!(fresh["status"], "new");
    assert_eq!(fresh["last_success"], Value::Null);
    assert_eq!(fresh["last_success_seconds"], Value::Null);
    assert_eq!(fresh["last_start"], Value::Null);
    assert_eq!(fresh["runs"], json!([]));
    assert_eq!(fresh["history"], json!([]));

    server.advance(60.0);
    ping(
        &server,
        &format!("/ping/xero-sync/start?rid=run-1&token={TOKEN}"),
    )
    .await;
    server.advance(30.0);
    let running = get_json(&server, path).await;
    assert_eq!(running["conditions"], json!(["expiring", "running"]));
    assert_eq!(running["status"], "running");
    assert_eq!(
        running["runs"],
        json!([{
            "rid": "run-1",
            "started": "2026-03-02T09:01:00Z",
            "started_seconds": T0 as i64 + 60,
            "elapsed_seconds": 30,
        }])
    );

    server.advance(90.0);
    ping(
        &server,
        &format!("/ping/xero-sync?rid=run-1&records=600&token={TOKEN}"),
    )
    .await;
    server.advance(60.0);
    ping(
        &server,
        &format!("/ping/xero-sync/fail?reason=auth&message=invalid_grant&token={TOKEN}"),
    )
    .await;
    server.advance(60.0);

    let check = get_json(&server, &format!("{path}?limit=2")).await;
    assert_eq!(check, expected_after_runs());
    assert!(!check.to_string().contains(TOKEN));
    // The list shows the same object, without the history.
    let list = get_json(&server, "/api/v1/checks?label.system=xero").await;
    let mut listed = expected_after_runs();
    for key in ["history", "generated_at", "generated_at_seconds"] {
        listed.as_object_mut().map(|o| o.remove(key));
    }
    assert_eq!(list["checks"], json!([listed]));
    assert!(!list.to_string().contains(TOKEN));

    // A second run past max_runtime (20m) is running too long.
    ping(
        &server,
        &format!("/ping/xero-sync/start?rid=run-2&token={TOKEN}"),
    )
    .await;
    server.advance(1201.0);
    let long = get_json(&server, path).await;
    assert_eq!(
        long["conditions"],
        json!(["failing", "running_too_long", "volume_high", "expiring"])
    );
    assert_eq!(long["runs"][0]["rid"], "run-2");
    assert_eq!(long["runs"][0]["elapsed_seconds"], 1201);
    assert_eq!(long["history"].as_array().map(Vec::len), Some(4));
}

/// xero-sync at T0+300 after start (T0+60), success with 600 records
/// (T0+180) and an auth failure (T0+240), asked with `limit=2`.
fn expected_after_runs() -> Value {
    let t0 = T0 as i64;
    json!({
        "name": "xero-sync",
        "description": "Shopify orders to Xero",
        "owner": "finance-ops@acme.example",
        "team": "finance",
        "labels": {"env": "prod", "system": "xero"},
        "runbook": "https://wiki.example/xero-sync",
        "severity": "critical",
        "source": "Shopify",
        "destination": "Xero",
        "account": "xero-admin@acme.example",
        "recovery": "Reconnect the Xero app.",
        "schedule": {
            "cron": "0 3 * * *",
            "timezone": "Europe/London",
            "text": "At 03:00 (Europe/London), 30 minutes grace",
        },
        "grace_seconds": 1800,
        "max_runtime_seconds": 1200,
        "min_runtime_seconds": null,
        "failure_threshold": 1,
        "paused": false,
        "paused_until": null,
        "paused_until_seconds": null,
        "pause_reason": "",
        "condition": "failing",
        "conditions": ["failing", "volume_high", "expiring"],
        "status": "failing",
        // The next 03:00 London (GMT in March) after the success, + 30m.
        "deadline": "2026-03-03T03:30:00Z",
        "deadline_seconds": 1_772_508_600,
        "last_success": "2026-03-02T09:03:00Z",
        "last_success_seconds": t0 + 180,
        "last_failure": "2026-03-02T09:04:00Z",
        "last_failure_seconds": t0 + 240,
        "last_start": "2026-03-02T09:01:00Z",
        "last_start_seconds": t0 + 60,
        "last_failure_reason": "auth",
        "last_failure_exit_status": null,
        "consecutive_failures": 1,
        "last_duration_seconds": 120,
        "last_success_duration_seconds": 120,
        "runs": [],
        "volume": {
            "records": 600,
            "min_records": 10,
            "max_records": 500,
            "window_start": "2026-03-01T09:05:00Z",
            "window_start_seconds": t0 + 300 - 86_400,
            // A whole window after first configuration.
            "due": "2026-03-03T09:00:00Z",
            "due_seconds": t0 + 86_400,
            "low": false,
            "high": true,
        },
        "expiries": [{
            "name": "xero-refresh-token",
            "kind": "credential",
            "at": "2026-03-20T00:00:00Z",
            "at_seconds": 1_773_964_800,
            "warn_before_seconds": 30 * 86_400,
            "expiring": true,
            "expired": false,
            "remaining_seconds": 1_773_964_800 - (t0 + 300),
        }],
        "failure_ratio": null,
        "values": [],
        "history": [
            {
                "at": "2026-03-02T09:04:00Z",
                "at_seconds": t0 + 240,
                "kind": "fail",
                "rid": null,
                "records": null,
                "reason": "auth",
                "exit_status": null,
                "message": "invalid_grant",
                "remote_addr": "127.0.0.1",
                "user_agent": null,
            },
            {
                "at": "2026-03-02T09:03:00Z",
                "at_seconds": t0 + 180,
                "kind": "success",
                "rid": "run-1",
                "records": 600,
                "reason": null,
                "exit_status": null,
                "message": null,
                "remote_addr": "127.0.0.1",
                "user_agent": null,
            },
        ],
        "generated_at": "2026-03-02T09:05:00Z",
        "generated_at_seconds": t0 + 300,
    })
}

/// At T0+3901: archive and backups are late, certs expired, xero-sync
/// expiring, reports up.
async fn started_and_aged() -> TestServer {
    let server = TestServer::start(CONFIG).await;
    server.advance(3600.0);
    ping(&server, "/ping/reports").await;
    server.advance(301.0);
    server
}

#[tokio::test]
async fn the_list_is_most_urgent_first_with_a_summary_of_every_condition() {
    let server = started_and_aged().await;
    let list = get_json(&server, "/api/v1/checks").await;
    assert_eq!(
        names(&server, "").await,
        ["archive", "backups", "certs", "xero-sync", "reports"]
    );
    let conditions: Vec<&Value> = list["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| &c["conditions"])
        .collect();
    assert_eq!(
        conditions,
        [
            &json!(["late"]),
            &json!(["late"]),
            &json!(["expired", "new"]),
            &json!(["expiring", "new"]),
            &json!(["up"]),
        ]
    );
    assert_eq!(
        list["summary"],
        json!({
            "total": 5, "failing": 0, "late": 2, "running_too_long": 0, "ran_too_short": 0,
            "value_out_of_range": 0, "failure_rate_high": 0, "expired": 1, "volume_low": 0,
            "volume_high": 0, "expiring": 1, "paused": 0, "running": 0, "new": 2, "up": 1,
        })
    );
    assert_eq!(list["generated_at"], "2026-03-02T10:05:01Z");
    assert_eq!(list["generated_at_seconds"], T0 as i64 + 3901);
    assert_eq!(
        list["checks"][0]["schedule"],
        json!({"every": "1h", "every_seconds": 3600, "text": "every 1 hour, 5 minutes grace"})
    );
    assert_eq!(list["checks"][0]["max_runtime_seconds"], Value::Null);
    assert_eq!(list["checks"][0]["volume"], Value::Null);
    assert_eq!(list["checks"][0]["team"], "infra");
    assert_eq!(list["checks"][0]["description"], "");
}

#[tokio::test]
async fn filters_narrow_the_list_and_its_summary() {
    let server = started_and_aged().await;
    assert_eq!(names(&server, "?team=infra").await, ["archive", "backups"]);
    assert_eq!(names(&server, "?team=").await, ["certs", "reports"]);
    assert_eq!(names(&server, "?state=late").await, ["archive", "backups"]);
    // A condition held but not primary counts too.
    assert_eq!(names(&server, "?state=new").await, ["certs", "xero-sync"]);
    assert_eq!(
        names(&server, "?state=expired&state=up").await,
        ["certs", "reports"]
    );
    assert_eq!(
        names(&server, "?label.env=prod").await,
        ["backups", "xero-sync"]
    );
    assert_eq!(
        names(&server, "?label.env=prod&label.system=xero").await,
        ["xero-sync"]
    );
    assert_eq!(names(&server, "?q=SHOPIFY").await, ["xero-sync"]);
    assert_eq!(names(&server, "?q=secur").await, ["certs"]);
    assert_eq!(
        names(&server, "?team=infra&state=late&q=back").await,
        ["backups"]
    );
    assert!(names(&server, "?state=failing").await.is_empty());
    let list = get_json(&server, "/api/v1/checks?team=infra").await;
    assert_eq!(list["summary"]["total"], 2);
    assert_eq!(list["summary"]["late"], 2);
    assert_eq!(list["summary"]["up"], 0);
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let server = TestServer::start(CONFIG).await;
    for path in [
        "/api/v1/checks",
        "/api/v1/checks/reports",
        "/api/v1/checks/reports/history",
    ] {
        let r = server.send("HEAD", path, &[], b"").await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(r.body.is_empty(), "{path}");
    }
}

/// Status and `error` sentence of a refusal, which is JSON like the rest.
async fn refused(server: &TestServer, method: &str, path: &str) -> (u16, String) {
    let r = server.send(method, path, &[], b"").await;
    let body = body(&r);
    let error = body["error"].as_str().expect("an error sentence");
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
    (r.status, error.to_string())
}

#[tokio::test]
async fn every_refusal_is_json_with_its_status() {
    let server = TestServer::start(CONFIG).await;
    let long = "a".repeat(100);
    let cases: [(&str, &str, u16, String); 19] = [
        (
            "GET",
            "/api/v1/checks/nope",
            404,
            "unknown check \"nope\"; GET /api/v1/checks lists the configured checks".into(),
        ),
        (
            "GET",
            "/api/v1/checks/nope/history",
            404,
            "unknown check \"nope\"; GET /api/v1/checks lists the configured checks".into(),
        ),
        (
            "GET",
            &format!("/api/v1/checks/{long}"),
            404,
            format!(
                "unknown check \"{}\"; GET /api/v1/checks lists the configured checks",
                "a".repeat(64)
            ),
        ),
        (
            "GET",
            "/api/v1/nope",
            404,
            "no API endpoint at \"/api/v1/nope\"; the endpoints are /api/v1/checks, \
             /api/v1/checks/<check> and /api/v1/checks/<check>/history"
                .into(),
        ),
        (
            "GET",
            "/api/v1/checks?teams=x",
            400,
            "unknown parameter \"teams\"; the parameters are team, state, label.<name> and q"
                .into(),
        ),
        (
            "GET",
            "/api/v1/checks?state=down",
            400,
            "state \"down\" is not one of failing, late, running_too_long, ran_too_short, \
             value_out_of_range, failure_rate_high, expired, volume_low, volume_high, expiring, \
             paused, running, new, up"
                .into(),
        ),
        (
            "GET",
            "/api/v1/checks?team=a&team=b",
            400,
            "parameter \"team\" is given more than once; it takes one value".into(),
        ),
        (
            "GET",
            "/api/v1/checks?q=a&q=b",
            400,
            "parameter \"q\" is given more than once; it takes one value".into(),
        ),
        (
            "GET",
            "/api/v1/checks?label.env=a&label.env=b",
            400,
            "parameter \"label.env\" is given more than once; it takes one value".into(),
        ),
        (
            "GET",
            "/api/v1/checks?label.=a",
            400,
            "parameter \"label.\" names no label; write label.<name>=<value>".into(),
        ),
        (
            "GET",
            "/api/v1/checks/reports?limit=0",
            400,
            limit_message("\"0\""),
        ),
        (
            "GET",
            "/api/v1/checks/reports?limit=51",
            400,
            limit_message("\"51\""),
        ),
        (
            "GET",
            "/api/v1/checks/reports?limit=100000",
            400,
            limit_message("\"100000\""),
        ),
        (
            "GET",
            "/api/v1/checks/reports/history?limit=ten",
            400,
            limit_message("\"ten\""),
        ),
        (
            "GET",
            "/api/v1/checks/reports?limit=1&limit=2",
            400,
            "parameter \"limit\" is given more than once; it takes one value".into(),
        ),
        (
            "GET",
            "/api/v1/checks/reports/history?team=x",
            400,
            "unknown parameter \"team\"; the only parameter is limit".into(),
        ),
        (
            "POST",
            "/api/v1/checks",
            405,
            "Method not allowed; use GET, HEAD.".into(),
        ),
        (
            "DELETE",
            "/api/v1/checks/reports",
            405,
            "Method not allowed; use GET, HEAD.".into(),
        ),
        (
            "PUT",
            "/api/v1/checks/reports/history",
            405,
            "Method not allowed; use GET, HEAD.".into(),
        ),
    ];
    for (method, path, status, message) in cases {
        assert_eq!(
            refused(&server, method, path).await,
            (status, message),
            "{method} {path}"
        );
    }
    let r = server.post("/api/v1/checks").await;
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
}

fn limit_message(shown: &str) -> String {
    format!(
        "limit must be a whole number from 1 to 50 (the [storage] history kept per check), \
         not {shown}"
    )
}

#[tokio::test]
async fn no_history_kept_means_no_limit_and_an_empty_history() {
    let server = TestServer::start(&CONFIG.replace("history = 50", "history = 0")).await;
    ping(&server, "/ping/reports").await;
    let check = get_json(&server, "/api/v1/checks/reports").await;
    assert_eq!(check["history"], json!([]));
    assert_eq!(
        refused(&server, "GET", "/api/v1/checks/reports?limit=1").await,
        (
            400,
            "limit cannot be given: no history is kept ([storage] history = 0)".into()
        )
    );
}

#[tokio::test]
async fn not_ready_is_a_503_to_retry() {
    let (mut server, release) = TestServer::start_loading(CONFIG).await;
    for path in [
        "/api/v1/checks",
        "/api/v1/checks/reports",
        "/api/v1/checks/reports/history",
    ] {
        assert_eq!(
            refused(&server, "GET", path).await,
            (
                503,
                "not ready: still loading stored state; retry shortly".into()
            )
        );
        assert_eq!(server.get(path).await.header("retry-after"), Some("5"));
    }
    release.send(()).expect("release load");
    server.wait_ready().await;
    assert_eq!(server.get("/api/v1/checks").await.status, 200);
}

#[tokio::test]
async fn a_storage_failure_reading_history_is_a_503_to_retry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = std::sync::Arc::new(deadman::clock::ManualClock::new(T0));
    let store = |dir: &std::path::Path| FaultStore::open(dir).failing_history("disk I/O error");
    let server = TestServer::start_in(dir, CONFIG, clock, store).await;
    for path in ["/api/v1/checks/reports", "/api/v1/checks/reports/history"] {
        assert_eq!(
            refused(&server, "GET", path).await,
            (503, "storage unavailable: disk I/O error".into())
        );
        assert_eq!(server.get(path).await.header("retry-after"), Some("5"));
    }
    // The list reads no history, so it keeps working.
    assert_eq!(server.get("/api/v1/checks").await.status, 200);
}
