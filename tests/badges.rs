//! Badges (issue #11) against the real server: valid SVG whose text and
//! colour follow the check's condition as pings arrive and time passes,
//! team badges, shields.io's endpoint JSON, and the opt-in: with
//! `[badges]` a keyed badge is reachable without basic auth and nothing
//! else is; without it badges need basic auth like every page.

mod common;

use std::sync::Arc;

use base64::Engine as _;

use common::{Reply, TestServer, T0};
use deadman::clock::ManualClock;
use deadman::web_config::watch::WebConfigWatch;
use deadman::web_config::WebConfig;

const CHECKS: &str = r#"
[[check]]
name = "orders"
owner = "alice@example.com"
description = "Shopify orders into Xero"
team = "finance"
every = "1h"
grace = "10m"
max_runtime = "30m"

[[check]]
name = "payroll"
owner = "bob@example.com"
team = "finance"
every = "1d"

[[check]]
name = "backup"
owner = "ops"
every = "1d"
"#;

const SECRET: &str = "[badges]\nsecret = \"badge-secret-0123456789\"\n";

/// bcrypt (cost 4) of "secret".
const HASH: &str = "$2b$04$9v57qvoxmauBiva4O/je/e2XkEvvQDuUf/Wrn4L03Ol6IbaEsnPau";

/// A badge's SVG, parsed as XML: what a person and a screen reader get.
#[derive(Debug, PartialEq)]
struct Svg {
    title: String,
    /// The visible texts: label, then message.
    texts: Vec<String>,
    /// The message side's colour.
    fill: String,
}

fn svg(reply: &Reply) -> Svg {
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("image/svg+xml"));
    assert_eq!(reply.header("cache-control"), Some("no-cache, max-age=0"));
    let text = reply.text();
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    let elements = |name: &'static str| {
        root.descendants()
            .filter(move |n| n.is_element() && n.tag_name().name() == name)
    };
    let title = (elements("title").next())
        .and_then(|t| t.text())
        .expect("a title")
        .to_string();
    let texts = elements("text")
        .filter(|t| t.attribute("aria-hidden").is_none())
        .map(|t| t.text().unwrap_or_default().to_string())
        .collect();
    let fill = (elements("rect").find(|r| r.attribute("x").is_some()))
        .and_then(|r| r.attribute("fill"))
        .expect("a message rect")
        .to_string();
    // The sides add up to the badge's width.
    let width = |node: roxmltree::Node| -> u32 {
        node.attribute("width")
            .and_then(|w| w.parse().ok())
            .expect("a width")
    };
    let sides: u32 = elements("rect")
        .filter(|r| {
            r.attribute("fill")
                .is_some_and(|f| !f.starts_with("url(") && f != "#fff")
        })
        .map(width)
        .sum();
    assert_eq!(sides, width(root), "{text}");
    Svg { title, texts, fill }
}

fn badge(label: &str, message: &str, fill: &str) -> Svg {
    Svg {
        title: format!("{label}: {message}"),
        texts: vec![label.to_string(), message.to_string()],
        fill: fill.to_string(),
    }
}

fn endpoint_json(reply: &Reply) -> serde_json::Value {
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    serde_json::from_slice(&reply.body).expect("JSON")
}

#[tokio::test]
async fn badges_render_as_svg_and_follow_the_condition() {
    let server = TestServer::start(CHECKS).await;
    let orders = || server.get("/badge/orders.svg");
    assert_eq!(svg(&orders().await), badge("orders", "new", "#9f9f9f"));

    assert_eq!(server.get("/ping/orders").await.status, 200);
    assert_eq!(svg(&orders().await), badge("orders", "up", "#4c1"));

    // 1h period + 10m grace after the success.
    server.advance(4201.0);
    assert_eq!(svg(&orders().await), badge("orders", "late", "#fe7d37"));

    assert_eq!(server.get("/ping/orders/start").await.status, 200);
    // Running, and still late: the most urgent condition is shown.
    assert_eq!(svg(&orders().await).texts[1], "late");
    assert_eq!(server.get("/ping/orders").await.status, 200);
    assert_eq!(server.get("/ping/orders/start").await.status, 200);
    assert_eq!(svg(&orders().await), badge("orders", "running", "#007ec6"));
    server.advance(1801.0);
    assert_eq!(
        svg(&orders().await),
        badge("orders", "running too long", "#fe7d37")
    );

    assert_eq!(server.get("/ping/orders/fail").await.status, 200);
    assert_eq!(svg(&orders().await), badge("orders", "failing", "#e05d44"));

    // The team's worst check, with how many are in that state.
    let team = svg(&server.get("/badge/team/finance.svg").await);
    assert_eq!(team, badge("finance", "1 failing", "#e05d44"));
    assert_eq!(server.get("/ping/orders").await.status, 200);
    assert_eq!(server.get("/ping/payroll").await.status, 200);
    let team = svg(&server.get("/badge/team/finance.svg").await);
    assert_eq!(team, badge("finance", "up", "#4c1"));
}

#[tokio::test]
async fn the_endpoint_json_is_shields_format_and_badges_revalidate() {
    let server = TestServer::start(CHECKS).await;
    assert_eq!(server.get("/ping/orders/fail").await.status, 200);
    let orders = endpoint_json(&server.get("/badge/orders.json").await);
    assert_eq!(
        orders,
        serde_json::json!({
            "schemaVersion": 1, "label": "orders", "message": "failing", "color": "red"
        })
    );
    let team = endpoint_json(&server.get("/badge/team/finance.json").await);
    assert_eq!(team["message"], "1 failing");

    // Only the state: nothing of the owner, the description or the team.
    for path in ["/badge/orders.svg", "/badge/orders.json"] {
        let body = server.get(path).await.text();
        for private in ["alice", "Shopify", "finance"] {
            assert!(!body.contains(private), "{path}: {body}");
        }
    }

    let first = server.get("/badge/orders.svg").await;
    let etag = first.header("etag").expect("an ETag").to_string();
    let again = server
        .send("GET", "/badge/orders.svg", &[("if-none-match", &etag)], b"")
        .await;
    assert_eq!((again.status, again.body.len()), (304, 0));
    assert_eq!(again.header("cache-control"), Some("no-cache, max-age=0"));
    // A new state is a new body, and a new tag.
    assert_eq!(server.get("/ping/orders").await.status, 200);
    let changed = server
        .send("GET", "/badge/orders.svg", &[("if-none-match", &etag)], b"")
        .await;
    assert_eq!(svg(&changed).texts[1], "up");

    let unknown = server.get("/no/such/page").await;
    assert_eq!(
        (unknown.status, unknown.text()),
        (404, "Not found.\n".into())
    );
    for path in [
        "/badge/nope.svg",
        "/badge/team/nobody.svg",
        "/badge/orders.png",
    ] {
        let reply = server.get(path).await;
        assert_eq!(
            (reply.status, reply.body.clone()),
            (404, unknown.body.clone()),
            "{path}"
        );
    }
    assert_eq!(server.post("/badge/orders.svg").await.status, 405);
}

/// Starts with basic auth (user "prometheus", password "secret").
async fn start_with_basic_auth(config: &str) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("web.yml");
    std::fs::write(
        &path,
        format!("basic_auth_users:\n  prometheus: '{HASH}'\n"),
    )
    .expect("write");
    let loaded = WebConfig::load(&path).expect("valid web config");
    let watch = Arc::new(WebConfigWatch::new(path, loaded).expect("web settings"));
    let clock = Arc::new(ManualClock::new(T0));
    TestServer::start_customized(dir, config, clock, common::sqlite, |options| {
        options.web = watch;
        options.external_url = Some("https://deadman.example/".into());
    })
    .await
}

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

async fn get_as_admin(server: &TestServer, path: &str) -> Reply {
    let auth = basic("prometheus", "secret");
    server
        .send("GET", path, &[("authorization", &auth)], b"")
        .await
}

/// `/api/v1/badges` → subject name → (svg, json) paths, without the base.
async fn listed(server: &TestServer) -> (bool, Vec<(String, String, String)>) {
    let reply = get_as_admin(server, "/api/v1/badges").await;
    let listing = endpoint_json(&reply);
    let base = "https://deadman.example";
    let mut out = Vec::new();
    for (kind, list) in [("check", &listing["checks"]), ("team", &listing["teams"])] {
        for entry in list.as_array().expect("a list") {
            let field = |name: &str| entry[name].as_str().expect(name).to_string();
            let svg = field("svg");
            assert_eq!(field("markdown"), format!("![{}]({svg})", field(kind)));
            let strip = |url: String| url.strip_prefix(base).expect("absolute").to_string();
            out.push((field(kind), strip(svg), strip(field("json"))));
        }
    }
    (listing["public"].as_bool().expect("public"), out)
}

#[tokio::test]
async fn with_badges_a_keyed_badge_needs_no_password_and_nothing_else_opens() {
    let server = start_with_basic_auth(&format!("{SECRET}{CHECKS}")).await;
    assert_eq!(server.get("/api/v1/badges").await.status, 401);
    let (public, links) = listed(&server).await;
    assert!(public);
    let names: Vec<&str> = links.iter().map(|(name, _, _)| name.as_str()).collect();
    assert_eq!(names, ["orders", "payroll", "backup", "finance"]);
    let (orders_svg, orders_json) = (&links[0].1, &links[0].2);
    let finance_svg = &links[3].1;
    let key = orders_svg
        .strip_prefix("/badge/")
        .and_then(|rest| rest.split('/').next())
        .expect("a key");
    assert_eq!(orders_svg, &format!("/badge/{key}/orders.svg"));
    assert!(finance_svg.ends_with("/team/finance.svg"));

    // No credentials needed, and the badge says the state.
    assert_eq!(server.get("/ping/orders").await.status, 200);
    assert_eq!(
        svg(&server.get(orders_svg).await),
        badge("orders", "up", "#4c1")
    );
    assert_eq!(
        endpoint_json(&server.get(orders_json).await)["message"],
        "up"
    );
    let team = svg(&server.get(finance_svg).await);
    assert_eq!(team, badge("finance", "new", "#9f9f9f"));

    // A wrong key, another check's key, an unknown name: one 404, the same
    // as the router's for any unknown path, so a URL tells nothing about
    // what exists.
    let unknown = get_as_admin(&server, "/no/such/page").await;
    assert_eq!(unknown.status, 404);
    for path in [
        "/badge/0000000000000000/orders.svg".to_string(),
        format!("/badge/{key}/payroll.svg"),
        format!("/badge/{key}/nope.svg"),
        format!("/badge/{key}/team/orders.svg"),
        "/badge/0000000000000000/team/finance.json".to_string(),
        "/badge/0000000000000000/nope.svg".to_string(),
    ] {
        let reply = server.get(&path).await;
        assert_eq!((reply.status, &reply.body), (404, &unknown.body), "{path}");
    }

    // Everything else still needs the password, keyless badges included.
    for path in [
        "/",
        "/metrics",
        "/badge/orders.svg",
        "/api/v1/checks/orders/history",
    ] {
        assert_eq!(server.get(path).await.status, 401, "{path}");
    }
    let malformed = format!("/badge/{}/orders.svg", key.to_uppercase());
    assert_eq!(server.get(&malformed).await.status, 401);
}

#[tokio::test]
async fn rotating_or_removing_the_secret_closes_the_old_urls() {
    let server = start_with_basic_auth(&format!("{SECRET}{CHECKS}")).await;
    let (_, before) = listed(&server).await;
    let old = before[0].1.clone();
    assert_eq!(server.get(&old).await.status, 200);

    let rotated = "[badges]\nsecret = \"another-badge-secret-987654\"\n";
    let auth = basic("prometheus", "secret");
    std::fs::write(&server.config_path, format!("{rotated}{CHECKS}")).expect("write");
    let reload = server
        .send("POST", "/-/reload", &[("authorization", &auth)], b"")
        .await;
    assert_eq!(reload.status, 200, "{}", reload.text());
    assert_eq!(server.get(&old).await.status, 404);
    let (_, after) = listed(&server).await;
    assert_ne!(after[0].1, old);
    assert_eq!(server.get(&after[0].1).await.status, 200);

    // Without [badges], the keyed URL is behind basic auth like any page.
    std::fs::write(&server.config_path, CHECKS).expect("write");
    let reload = server
        .send("POST", "/-/reload", &[("authorization", &auth)], b"")
        .await;
    assert_eq!(reload.status, 200, "{}", reload.text());
    assert_eq!(server.get(&after[0].1).await.status, 401);
    assert_eq!(get_as_admin(&server, &after[0].1).await.status, 404);
}

#[tokio::test]
async fn without_badges_a_badge_needs_basic_auth() {
    let server = start_with_basic_auth(CHECKS).await;
    assert_eq!(server.get("/badge/orders.svg").await.status, 401);
    assert_eq!(server.get("/badge/team/finance.json").await.status, 401);
    let reply = get_as_admin(&server, "/badge/orders.svg").await;
    assert_eq!(svg(&reply), badge("orders", "new", "#9f9f9f"));
    let (public, links) = listed(&server).await;
    assert!(!public);
    assert_eq!(links[0].1, "/badge/orders.svg");
    assert_eq!(links[3].2, "/badge/team/finance.json");
    // A keyed-looking path is not a badge here, and not open either.
    assert_eq!(
        server
            .get("/badge/0123456789abcdef/orders.svg")
            .await
            .status,
        401
    );
}

#[test]
fn the_badges_command_prints_every_badge_url_with_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = common::write_config(dir.path(), &format!("{SECRET}{CHECKS}"));
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_deadman"))
            .args(["badges", "--config.file"])
            .arg(&path)
            .args(extra)
            .output()
            .expect("deadman runs")
    };
    let out = run(&["--web.external-url", "https://deadman.example/"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys = deadman::badge_key::BadgeKeys::new("badge-secret-0123456789");
    let key = |subject| keys.key(&subject).expect("read");
    let orders = key(deadman::badge_key::Subject::Check("orders".into()));
    let finance = key(deadman::badge_key::Subject::Team("finance".into()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    let base = "https://deadman.example/badge";
    assert_eq!(
        lines[0],
        format!("check\torders\t{base}/{orders}/orders.svg\t{base}/{orders}/orders.json")
    );
    assert_eq!(
        lines[3],
        format!(
            "team\tfinance\t{base}/{finance}/team/finance.svg\t{base}/{finance}/team/finance.json"
        )
    );
    // Without --web.external-url: paths, and a note saying so.
    let out = run(&[]);
    assert!(String::from_utf8_lossy(&out.stdout)
        .starts_with(&format!("check\torders\t/badge/{orders}/")));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--web.external-url"));
    assert_eq!(
        run(&["--web.external-url", "deadman.example"])
            .status
            .code(),
        Some(1)
    );
}
