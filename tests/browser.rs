//! The status pages in a real browser (issue #11): Debian's headless
//! Chromium driven through chromedriver (WebDriver, with fantoccini). The
//! list shows each state after pings, filters and search narrow it, the
//! check page shows the event log and the chart, auto-refresh picks up a new
//! ping without reloading the page, copy buttons copy, and nothing is
//! logged to the console. Screenshots at 375 and 1,280 px are written to
//! `target/screenshots/` (and to `$DEADMAN_SCREENSHOT_DIR` when set, which is
//! how `scripts/screenshots` refreshes the README's pictures).
//!
//! chromedriver and chromium are started here on loopback and stopped by
//! PID; `scripts/test` installs them (Debian `chromium`, `chromium-driver`).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use common::TestServer;

const CONFIG: &str = r#"
[[check]]
name = "shopify-orders-to-xero"
description = "Creates Xero invoices from paid Shopify orders"
owner = "finance-ops@acme.example"
team = "finance"
every = "15m"
source = "Shopify"
destination = "Xero"
runbook = "https://wiki.example/shopify-xero"
recovery = "1. Check the Zap's task history.\n2. Reconnect Xero if it says invalid_grant."
labels = { env = "prod" }
[check.volume]
min_records = 200
max_records = 5000
window = "1d"

[[check]]
name = "stripe-payouts-to-quickbooks"
description = "Books Stripe payouts into QuickBooks"
owner = "finance-ops@acme.example"
team = "finance"
every = "1d"

[[check]]
name = "hubspot-contacts-to-salesforce"
description = "Pushes new HubSpot contacts to Salesforce"
owner = "revops@acme.example"
team = "sales"
every = "1h"

[[check]]
name = "nightly-warehouse-etl"
description = "Loads yesterday's orders into the warehouse"
owner = "data@acme.example"
team = "data"
every = "10m"

[[check]]
name = "new-integration"
description = "Not wired up yet"
owner = "ops@acme.example"
team = "sales"
every = "1d"
"#;

/// chromedriver, started in a process group of its own with the Chromium it
/// launches; dropping it kills that group (by its id, which is
/// chromedriver's PID) — so a failing test leaves no browser behind — and
/// reaps chromedriver.
struct Driver {
    child: Child,
    /// Where its WebDriver API listens.
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn on_path(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// chromedriver on a free loopback port, and a WebDriver session with
/// headless Chromium in a fresh profile.
async fn browser(width: u32) -> (Client, Driver, tempfile::TempDir) {
    let (Some(driver), Some(chromium)) = (on_path("chromedriver"), on_path("chromium")) else {
        panic!(
            "the browser tests need `chromium` and `chromedriver` on PATH and install nothing \
             themselves; scripts/test installs them (Debian packages chromium, chromium-driver)"
        );
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    use std::os::unix::process::CommandExt as _;
    let child = Command::new(driver)
        .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    let driver = Driver {
        child,
        url: url.clone(),
    };
    let profile = tempfile::tempdir().expect("profile dir");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
                format!("--user-data-dir={}", profile.path().display()),
                format!("--window-size={width},1000"),
            ],
        }),
    );
    caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return (client, driver, profile),
            Err(err) if Instant::now() > deadline => panic!("no WebDriver session: {err}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Console messages the page logged, from chromedriver's log endpoint
/// (outside the W3C protocol, so fantoccini has no verb for it).
async fn console(client: &Client, driver: &Driver) -> Vec<serde_json::Value> {
    let session = client
        .session_id()
        .await
        .ok()
        .flatten()
        .expect("session id");
    let address = driver.url.trim_start_matches("http://").to_string();
    let path = format!("/session/{session}/se/log");
    let body = json!({ "type": "browser" }).to_string();
    let reply = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&address).expect("connect to chromedriver");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("send");
        // Read the head, then exactly Content-Length bytes: chromedriver may
        // keep the connection open whatever the request says.
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&raw);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head.lines().find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                });
                if length.is_some_and(|len| body.len() >= len) {
                    break;
                }
            }
        }
        String::from_utf8_lossy(&raw).into_owned()
    })
    .await
    .expect("log request");
    let json = reply
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .unwrap_or("");
    let value: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|_| panic!("log reply: {reply}"));
    value["value"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("log reply: {reply}"))
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    let mut dirs = vec![std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots")];
    if let Some(dir) = std::env::var_os("DEADMAN_SCREENSHOT_DIR") {
        dirs.push(dir.into());
    }
    for dir in dirs {
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), &png).expect("write screenshot");
    }
}

/// Pings that put the checks in every state: failing, late, running, up, new.
async fn populate(server: &TestServer) {
    for (path, advance) in [
        ("/ping/shopify-orders-to-xero/start?rid=r1", 40.0),
        ("/ping/shopify-orders-to-xero?rid=r1&records=120", 60.0),
        ("/ping/shopify-orders-to-xero/start?rid=r2", 55.0),
        ("/ping/shopify-orders-to-xero?rid=r2&records=180", 60.0),
        ("/ping/stripe-payouts-to-quickbooks/start?rid=p1", 5.0),
        (
            "/ping/stripe-payouts-to-quickbooks/fail?rid=p1&reason=auth&message=invalid_grant",
            1.0,
        ),
        ("/ping/hubspot-contacts-to-salesforce/start?rid=h1", 1.0),
    ] {
        assert_eq!(server.post(path).await.status, 200, "{path}");
        server.advance(advance);
    }
    // The ETL (every 10 min) has never succeeded and is now past its deadline.
    server.advance(900.0);
    assert_eq!(
        server
            .post("/ping/shopify-orders-to-xero?rid=r3&records=90")
            .await
            .status,
        200
    );
}

async fn row_state(client: &Client, check: &str) -> String {
    let selector = format!("tr[data-check='{check}'] td.state-cell .state");
    match client.find(Locator::Css(&selector)).await {
        Ok(cell) => cell.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// The row's state once it shows `want`, or whatever it shows after 10 s
/// (a loaded machine can be slow to lay out a page).
async fn state_becomes(client: &Client, check: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = row_state(client, check).await;
        if state == want || Instant::now() > deadline {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn rows(client: &Client) -> Vec<String> {
    let mut names = Vec::new();
    for row in client
        .find_all(Locator::Css("tr[data-check]"))
        .await
        .expect("rows")
    {
        names.push(
            row.attr("data-check")
                .await
                .ok()
                .flatten()
                .unwrap_or_default(),
        );
    }
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_shows_every_state_and_filters_narrow_it() {
    let server = TestServer::start(CONFIG).await;
    populate(&server).await;
    let (client, driver, _profile) = browser(1280).await;
    let base = format!("http://{}", server.addr);
    client
        .goto(&format!("{base}/"))
        .await
        .expect("open the list");
    for (check, state) in [
        ("stripe-payouts-to-quickbooks", "failing"),
        ("nightly-warehouse-etl", "late"),
        ("hubspot-contacts-to-salesforce", "running"),
        ("shopify-orders-to-xero", "up"),
        ("new-integration", "new"),
    ] {
        assert_eq!(state_becomes(&client, check, state).await, state, "{check}");
    }
    assert_eq!(
        rows(&client).await[0],
        "stripe-payouts-to-quickbooks",
        "most urgent first"
    );
    screenshot(&client, "list-1280").await;

    // The search box and the team filter, submitted as a user would.
    let search = client
        .find(Locator::Css("input[name='q']"))
        .await
        .expect("search box");
    search.send_keys("hubspot").await.expect("type");
    client
        .find(Locator::Css("form.filters button[type='submit']"))
        .await
        .expect("button")
        .click()
        .await
        .expect("submit");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !client
        .current_url()
        .await
        .expect("url")
        .query()
        .unwrap_or("")
        .contains("q=hubspot")
    {
        assert!(Instant::now() < deadline, "the form did not navigate");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(rows(&client).await, ["hubspot-contacts-to-salesforce"]);
    client
        .goto(&format!("{base}/?team=finance&state=failing"))
        .await
        .expect("bookmarked filter");
    assert_eq!(rows(&client).await, ["stripe-payouts-to-quickbooks"]);
    let failing = client
        .find(Locator::Css("ul.summary a[href$='state=failing'] .count"))
        .await
        .expect("the summary counts failing checks");
    assert_eq!(failing.text().await.expect("count"), "1");

    let logged = console(&client, &driver).await;
    assert!(logged.is_empty(), "console: {logged:?}");
    client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_check_page_shows_the_log_and_chart_and_copies_snippets() {
    let server = TestServer::start(CONFIG).await;
    populate(&server).await;
    let (client, driver, _profile) = browser(1280).await;
    let base = format!("http://{}", server.addr);
    client
        .goto(&format!("{base}/checks/shopify-orders-to-xero"))
        .await
        .expect("open");
    let events = client
        .find_all(Locator::Css("table.events tbody tr"))
        .await
        .expect("events");
    assert_eq!(events.len(), 5, "start, success, start, success, success");
    let bars = client
        .find_all(Locator::Css("svg.chart rect.bar"))
        .await
        .expect("bars");
    assert!(bars.len() >= 5, "duration and records bars: {}", bars.len());
    screenshot(&client, "check-1280").await;

    let copy = client
        .find(Locator::Css("button[data-copy='snippet-curl']"))
        .await
        .expect("copy button");
    // Records what the page hands the clipboard (and still copies it), so
    // the test fails when nothing was copied even where reading the
    // clipboard back is not allowed.
    client
        .execute(
            "const real = navigator.clipboard.writeText.bind(navigator.clipboard);
             navigator.clipboard.writeText = t => { window.deadmanCopied = t; return real(t); };",
            vec![],
        )
        .await
        .expect("watch the clipboard");
    copy.click().await.expect("click copy");
    client
        .wait()
        .for_element(Locator::Css(
            "button[data-copy='snippet-curl'][data-copied='true']",
        ))
        .await
        .expect("the button says it copied");
    let copied = client
        .execute_async(
            "const done = arguments[0]; navigator.clipboard.readText().then(done, e => done('error: ' + e));",
            vec![],
        )
        .await
        .expect("read the clipboard");
    let expected = client
        .find(Locator::Id("snippet-curl"))
        .await
        .expect("snippet")
        .text()
        .await
        .expect("text");
    let handed = client
        .execute("return window.deadmanCopied;", vec![])
        .await
        .expect("what was copied");
    assert_eq!(
        handed.as_str().map(str::trim),
        Some(expected.trim()),
        "the snippet went to the clipboard"
    );
    // Reading the clipboard back needs a permission headless Chromium may
    // not grant; when it does, the text must be the snippet's too.
    if let Some(text) = copied.as_str().filter(|t| !t.starts_with("error")) {
        assert_eq!(text.trim(), expected.trim());
    }
    let logged = console(&client, &driver).await;
    assert!(logged.is_empty(), "console: {logged:?}");

    client
        .set_window_size(375, 1000)
        .await
        .expect("phone width");
    client
        .goto(&format!("{base}/checks/shopify-orders-to-xero"))
        .await
        .expect("reopen");
    screenshot(&client, "check-375").await;
    client.goto(&format!("{base}/")).await.expect("list");
    screenshot(&client, "list-375").await;
    client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_refresh_picks_up_a_new_ping_without_reloading() {
    let server = TestServer::start(CONFIG).await;
    let (client, _driver, _profile) = browser(1280).await;
    let base = format!("http://{}", server.addr);
    client
        .goto(&format!("{base}/?team=sales"))
        .await
        .expect("open");
    assert_eq!(
        state_becomes(&client, "new-integration", "new").await,
        "new"
    );
    // Marks this page load; a reload would lose it.
    client
        .execute(
            "window.scrollTo(0, 40); window.deadmanMarker = 'kept'; window.deadmanScrolled = window.scrollY;",
            vec![],
        )
        .await
        .expect("mark");
    assert_eq!(server.post("/ping/new-integration").await.status, 200);
    let deadline = Instant::now() + Duration::from_secs(40);
    while row_state(&client, "new-integration").await != "up" {
        assert!(
            Instant::now() < deadline,
            "the page did not refresh within 40 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let marker = client
        .execute("return window.deadmanMarker;", vec![])
        .await
        .expect("marker");
    assert_eq!(marker, json!("kept"), "refreshed in place, not reloaded");
    let scrolled = client
        .execute("return [window.scrollY, window.deadmanScrolled];", vec![])
        .await
        .expect("scroll");
    assert_eq!(scrolled[0], scrolled[1], "the scroll position is kept");
    let url = client.current_url().await.expect("url");
    assert_eq!(url.query(), Some("team=sales"), "the filter is kept");
    assert_eq!(
        rows(&client).await.len(),
        2,
        "both sales checks, still filtered"
    );
    client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_never_loses_a_half_typed_filter() {
    let server = TestServer::start(CONFIG).await;
    let (client, _driver, _profile) = browser(1280).await;
    let base = format!("http://{}", server.addr);
    client.goto(&format!("{base}/")).await.expect("open");
    let search = client
        .find(Locator::Css("input[name='q']"))
        .await
        .expect("search box");
    search.send_keys("sal").await.expect("type");
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let status = client
            .find(Locator::Id("refresh-status"))
            .await
            .expect("status")
            .text()
            .await
            .expect("text");
        if status == "Refresh paused while you edit the filter" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no refresh came within 40 s: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let kept = client
        .execute(
            "return [document.querySelector(\"input[name='q']\").value, document.activeElement.name];",
            vec![],
        )
        .await
        .expect("read the form");
    assert_eq!(
        kept,
        json!(["sal", "q"]),
        "the typed text and the focus survive"
    );
    client.close().await.expect("close");
}
