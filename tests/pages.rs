//! The status pages' HTML without a browser (issue #11): every page parses
//! without a single error under html5ever (the HTML5 parsing algorithm
//! browsers use), values are escaped, filters and errors answer as
//! documented.

mod common;

use common::TestServer;
use html5ever::tendril::TendrilSink;

pub const CONFIG: &str = r#"
[[check]]
name = "orders"
owner = "finance-ops@acme.example"
team = "finance"
every = "15m"
description = "Shopify orders to Xero <b>bold</b> & \"quoted\""
recovery = "1. Reconnect Xero.\n2. Replay the failed tasks."
runbook = "https://wiki.example/orders"
labels = { env = "prod" }
max_runtime = "30m"
token = "orders-token-0123456789"
[check.volume]
min_records = 100
max_records = 1000
window = "1d"
[[check.expiry]]
name = "xero-token"
kind = "credential"
warn_before = "14d"

[[check]]
name = "payroll"
owner = "hr@acme.example"
team = "people"
every = "1d"
"#;

/// Parse errors html5ever reports for `html` (empty for valid HTML).
fn parse_errors(html: &str) -> Vec<String> {
    let dom = html5ever::parse_document(markup5ever_rcdom::RcDom::default(), Default::default())
        .from_utf8()
        .read_from(&mut html.as_bytes())
        .expect("parse");
    let errors = dom.errors.borrow().iter().map(|e| e.to_string()).collect();
    errors
}

async fn busy_server() -> TestServer {
    let server = TestServer::start(CONFIG).await;
    let token = "token=orders-token-0123456789";
    assert_eq!(
        server
            .post(&format!("/ping/orders/start?rid=r1&{token}"))
            .await
            .status,
        200
    );
    server.advance(42.0);
    assert_eq!(
        server
            .post(&format!(
                "/ping/orders?rid=r1&records=120&{token}&expires.xero-token=2026-03-10T00:00:00Z"
            ))
            .await
            .status,
        200
    );
    server.advance(5.0);
    let long = "x".repeat(400);
    let path = format!(
        "/ping/orders/fail?reason=upstream&message=%3Cscript%3Ealert(1)%3C/script%3E{long}&{token}"
    );
    assert_eq!(server.post(&path).await.status, 200);
    server
}

#[tokio::test]
async fn every_page_is_valid_html_and_escapes_what_it_shows() {
    let server = busy_server().await;
    for path in [
        "/",
        "/?state=failing",
        "/checks/orders",
        "/checks/orders?kind=fail",
        "/checks/payroll",
        "/inventory",
        "/?q=zzz",
    ] {
        let page = server.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        let html = page.text();
        assert_eq!(parse_errors(&html), Vec::<String>::new(), "{path}");
        assert!(!html.contains("<script>alert"), "{path}: unescaped message");
        assert!(
            !html.contains("<b>bold</b>"),
            "{path}: unescaped description"
        );
        assert!(
            !html.contains("orders-token-0123456789"),
            "{path}: a token on a page"
        );
    }
}

#[tokio::test]
async fn the_check_page_shows_what_deadman_knows() {
    let server = busy_server().await;
    let html = server.get("/checks/orders").await.text();
    for expected in [
        "Shopify orders to Xero &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;",
        "1. Reconnect Xero.\n2. Replay the failed tasks.",
        "<a href=\"https://wiki.example/orders\">",
        "<code>env=prod</code>",
        "every 15 minutes, 5 minutes grace",
        "upstream",
        "<svg class=\"chart\"",
        "<details><summary>",
        "xero-token",
        "120 records",
        "Authorization: Bearer $DEADMAN_TOKEN",
        "http://127.0.0.1:",
        "/badge/orders.svg",
    ] {
        assert!(
            html.contains(expected),
            "{expected:?} missing from the check page"
        );
    }
    let failures = server.get("/checks/orders?kind=fail").await.text();
    assert_eq!(failures.matches("data-kind=\"fail\"").count(), 1);
    assert_eq!(failures.matches("data-kind=\"success\"").count(), 0);
}

#[tokio::test]
async fn the_list_filters_by_team_state_label_and_search() {
    let server = busy_server().await;
    let rows = |html: &str| -> Vec<String> {
        html.match_indices("data-check=\"")
            .map(|(i, _)| html[i + 12..].split('"').next().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(rows(&server.get("/").await.text()), ["orders", "payroll"]);
    assert_eq!(rows(&server.get("/?team=people").await.text()), ["payroll"]);
    assert_eq!(
        rows(&server.get("/?state=failing").await.text()),
        ["orders"]
    );
    assert_eq!(rows(&server.get("/?state=new").await.text()), ["payroll"]);
    assert_eq!(
        rows(&server.get("/?label=env%3Dprod").await.text()),
        ["orders"]
    );
    assert_eq!(
        rows(&server.get("/?label.env=prod").await.text()),
        ["orders"]
    );
    assert_eq!(rows(&server.get("/?q=HR%40acme").await.text()), ["payroll"]);
    assert!(rows(&server.get("/?q=nothing-like-this").await.text()).is_empty());
}

#[tokio::test]
async fn bad_filters_and_unknown_checks_get_a_page_that_says_why() {
    let server = busy_server().await;
    let bad = server.get("/?state=sideways").await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.text()
            .contains("state &quot;sideways&quot; is not one of failing, late"),
        "{}",
        bad.text()
    );
    let bad = server.get("/checks/orders?kind=nope").await;
    assert_eq!(bad.status, 400);
    assert!(bad
        .text()
        .contains("kind &quot;nope&quot; is not one of success, fail, start, log"));
    let missing = server.get("/checks/no-such-check").await;
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("There is no check named"));
    assert_eq!(server.post("/").await.status, 405);
}

#[tokio::test]
async fn assets_are_embedded_and_cacheable() {
    let server = TestServer::start(CONFIG).await;
    let html = server.get("/").await.text();
    for (asset, kind) in [
        ("/static/deadman.css", "text/css"),
        ("/static/deadman.js", "text/javascript"),
        ("/static/favicon.svg", "image/svg+xml"),
    ] {
        assert!(html.contains(&format!("{asset}?v=")), "{asset} linked");
        let r = server.get(asset).await;
        assert_eq!(r.status, 200);
        assert!(r
            .header("content-type")
            .is_some_and(|t| t.starts_with(kind)));
        assert_eq!(r.header("cache-control"), Some("public, max-age=86400"));
        let etag = r.header("etag").expect("etag").to_string();
        let again = server
            .send("GET", asset, &[("if-none-match", &etag)], b"")
            .await;
        assert_eq!(again.status, 304);
    }
}

const ASSERTED: &str = r#"
[[check]]
name = "reconcile"
owner = "finance-ops@acme.example"
every = "1h"
failure_threshold = 3
min_runtime = "30s"
max_failure_ratio = 0.25
failure_ratio_window = "24h"

[[check.value]]
name = "unmatched_invoices"
description = "invoices with no <i>order</i>"
max = 0
for = "30m"

[[check.value]]
name = "dead_letters"
min = 0
max = 10

[[check.expiry]]
name = "owner-review"
kind = "review"
at = "2026-03-10T00:00:00Z"

[[check]]
name = "migration"
owner = "ops"
every = "15m"
paused_until = "2026-03-02T10:00:00Z"
pause_reason = "Xero <migration> & cut-over"
"#;

#[tokio::test]
async fn values_thresholds_runtimes_and_pauses_are_shown_in_valid_html() {
    let server = TestServer::start(ASSERTED).await;
    for path in [
        "/ping/reconcile/start?rid=r1",
        "/ping/reconcile?rid=r1&value.unmatched_invoices=37&value.dead_letters=2",
        "/ping/reconcile/fail",
        "/ping/reconcile/3",
        "/ping/migration/fail?reason=upstream",
    ] {
        assert_eq!(server.post(path).await.status, 200, "{path}");
    }
    server.advance(5.0);
    for path in [
        "/",
        "/?state=paused",
        "/checks/reconcile",
        "/checks/migration",
        "/inventory",
    ] {
        let html = server.get(path).await.text();
        assert_eq!(parse_errors(&html), Vec::<String>::new(), "{path}");
        assert!(
            !html.contains("<i>order</i>"),
            "{path}: unescaped description"
        );
        assert!(!html.contains("<migration>"), "{path}: unescaped reason");
    }
    let page = server.get("/checks/reconcile").await.text();
    for expected in [
        "<h2 id=\"values\">Values</h2>",
        "<code>unmatched_invoices</code>",
        "invoices with no &lt;i&gt;order&lt;/i&gt;",
        "<strong>37</strong>",
        "at most 0",
        "pages after 30 min out of range",
        "out of range</strong> since",
        "0 to 10",
        ", exit status 3",
        "Failures in a row",
        "(pages at 3)",
        "Min runtime",
        "30 s; the last success took 0 s",
        "too short",
        "Failure rate",
        "2 of 3 runs failed (66.67%) in the last 1 d; at most 25%",
        "review",
    ] {
        assert!(
            page.contains(expected),
            "{expected:?} missing from:\n{page}"
        );
    }
    let paused = server.get("/checks/migration").await.text();
    assert!(paused.contains("class=\"paused-note\""), "{paused}");
    assert!(
        paused.contains("Xero &lt;migration&gt; &amp; cut-over"),
        "{paused}"
    );
    let list = server.get("/?state=paused").await.text();
    assert!(list.contains("data-check=\"migration\""));
    assert!(!list.contains("data-check=\"reconcile\""));
    assert!(
        list.contains("<span class=\"state paused\">"),
        "a badge with words, not colour alone"
    );
    assert!(list.contains("also failing"));
    let all = server.get("/").await.text();
    assert!(all.contains("2 in a row; pages at 3"), "{all}");
    assert!(
        all.contains(", exit status 3 · "),
        "the list names the last failure's exit status: {all}"
    );
    let inventory = server.get("/inventory").await.text();
    assert!(inventory.contains("<h2>Reviews</h2>"), "{inventory}");
    assert!(inventory.contains("until 2026-03-02T10:00:00Z (no alert fires until then)"));
}
