//! The read-only JSON API, v1 (issue #11): what a dashboard, a script or a
//! chat bot reads instead of scraping the landing page.
//!
//! * `GET /api/v1/checks` — every configured check, most urgent first,
//!   with a summary; filters in [`query::Filter`].
//! * `GET /api/v1/checks/{check}` — one check, with its recent pings.
//! * `GET /api/v1/checks/{check}/history` — only the recent pings.
//!
//! Every answer under `/api/` is JSON, refusals included
//! (`{"error": "<sentence>"}`). A check's values come from
//! [`CheckReport`], the struct the pages and badges read; field naming is
//! described in [`json`].

mod json;
mod query;

use hyper::Method;
use serde_json::Value;

use super::response::{self, HttpResponse, Refusal};
use crate::check_report::CheckReport;
use crate::clock::Clock;
use crate::config::{Check, Config};
use crate::live_config::LiveConfig;
use crate::state::{StateHandle, StateSnapshot};
use crate::store::writer::WriterHandle;
use query::{parse_limit, shown, Filter};

/// The handles the API reads; it changes nothing.
pub struct ApiDeps<'a> {
    /// Which checks exist, their fields, and how much history is kept.
    pub config: &'a LiveConfig,
    /// The published state the reports are built from.
    pub state: &'a StateHandle,
    /// Readiness, and the stored pings.
    pub writer: &'a WriterHandle,
    /// "Now" for deadlines, windows and expiries.
    pub clock: &'a dyn Clock,
}

/// Which endpoint a path names.
#[derive(Debug, PartialEq)]
enum Route<'a> {
    List,
    Check(&'a str),
    History(&'a str),
}

/// Answers any request under `/api/`.
pub async fn handle(
    deps: ApiDeps<'_>,
    method: &Method,
    path: &str,
    query: Option<&str>,
) -> HttpResponse {
    match answer(deps, method, path, query).await {
        Ok(value) => response::json(&value),
        Err(refusal) => refusal.into_json_response(),
    }
}

async fn answer(
    deps: ApiDeps<'_>,
    method: &Method,
    path: &str,
    query: Option<&str>,
) -> Result<Value, Refusal> {
    let route = route(path).ok_or_else(|| {
        Refusal::not_found(format!(
            "no API endpoint at {}; the endpoints are /api/v1/checks, \
             /api/v1/checks/<check> and /api/v1/checks/<check>/history",
            shown(path)
        ))
    })?;
    if !matches!(*method, Method::GET | Method::HEAD) {
        return Err(Refusal::method_not_allowed("GET, HEAD"));
    }
    // Before the stored state is loaded every check would look new.
    if !deps.writer.is_ready() {
        return Err(Refusal::not_ready());
    }
    let config = deps.config.current();
    let snapshot = deps.state.snapshot();
    let now = deps.clock.now().wall;
    match route {
        Route::List => list(&config, &snapshot, query, now),
        Route::Check(name) => {
            let check = find(&config, name)?;
            let limit = parse_limit(query, config.storage.history).map_err(Refusal::bad_request)?;
            let mut out = json::check(check, &report(check, &snapshot, now)?, now);
            out.insert("history".into(), pings(deps.writer, check, limit).await?);
            json::put_time(&mut out, "generated_at", Some(now));
            Ok(out.into())
        }
        Route::History(name) => {
            let check = find(&config, name)?;
            let limit = parse_limit(query, config.storage.history).map_err(Refusal::bad_request)?;
            let pings = pings(deps.writer, check, limit).await?;
            Ok(serde_json::json!({ "check": check.name, "pings": pings }))
        }
    }
}

fn route(path: &str) -> Option<Route<'_>> {
    let rest = path.strip_prefix("/api/v1/checks")?;
    if rest.is_empty() {
        return Some(Route::List);
    }
    let rest = rest.strip_prefix('/').filter(|r| !r.is_empty())?;
    match rest.split_once('/') {
        None => Some(Route::Check(rest)),
        Some((name, "history")) if !name.is_empty() => Some(Route::History(name)),
        Some(_) => None,
    }
}

/// `GET /api/v1/checks`: the checks the filters keep, most urgent first
/// (primary condition in [`crate::check_report::Condition::ALL`] order,
/// then name), and the summary of those same checks.
fn list(
    config: &Config,
    snapshot: &StateSnapshot,
    query: Option<&str>,
    now: f64,
) -> Result<Value, Refusal> {
    let filter = Filter::parse(query).map_err(Refusal::bad_request)?;
    let mut rows: Vec<(&Check, CheckReport)> = Vec::new();
    for check in config.checks.iter().filter(|c| filter.admits(c)) {
        let report = report(check, snapshot, now)?;
        if filter.admits_conditions(&report.conditions) {
            rows.push((check, report));
        }
    }
    rows.sort_by(|(a, a_report), (b, b_report)| {
        let urgency = |r: &CheckReport| r.primary().index();
        urgency(a_report)
            .cmp(&urgency(b_report))
            .then_with(|| a.name.cmp(&b.name))
    });
    let summary = json::summary(rows.iter().map(|(_, r)| r.conditions.as_slice()));
    let checks: Vec<Value> = rows
        .iter()
        .map(|(check, report)| json::check(check, report, now).into())
        .collect();
    let mut out = serde_json::Map::new();
    json::put_time(&mut out, "generated_at", Some(now));
    out.insert("summary".into(), summary);
    out.insert("checks".into(), checks.into());
    Ok(out.into())
}

fn find<'a>(config: &'a Config, name: &str) -> Result<&'a Check, Refusal> {
    config.check(name).map(|c| c.as_ref()).ok_or_else(|| {
        Refusal::not_found(format!(
            "unknown check {}; GET /api/v1/checks lists the configured checks",
            shown(name)
        ))
    })
}

fn report(check: &Check, snapshot: &StateSnapshot, now: f64) -> Result<CheckReport, Refusal> {
    // The writer publishes a check's state before its config becomes
    // current, so a configured check without state is only a moment of a
    // reload; saying "not ready" is truer than inventing a state.
    let view = snapshot.get(&check.name).ok_or_else(Refusal::not_ready)?;
    Ok(CheckReport::new(check, view, now))
}

/// The check's most recent `limit` pings, newest first.
async fn pings(writer: &WriterHandle, check: &Check, limit: usize) -> Result<Value, Refusal> {
    if limit == 0 {
        return Ok(Value::Array(Vec::new()));
    }
    let rows = writer
        .history(&check.name, limit)
        .await
        .map_err(|err| Refusal::unavailable(format!("storage unavailable: {err}")))?;
    Ok(rows.iter().map(json::ping).collect::<Vec<_>>().into())
}

#[cfg(test)]
mod tests {
    use super::super::test_app::{read, TestApp};
    use super::*;

    #[test]
    fn paths_name_their_endpoint() {
        assert_eq!(route("/api/v1/checks"), Some(Route::List));
        assert_eq!(route("/api/v1/checks/a"), Some(Route::Check("a")));
        assert_eq!(route("/api/v1/checks/a/history"), Some(Route::History("a")));
        for path in [
            "/api/v1/checks/",
            "/api/v1/checks//history",
            "/api/v1/checks/a/runs",
            "/api/v1/checksx",
            "/api/v2/checks",
        ] {
            assert_eq!(route(path), None, "{path}");
        }
    }

    #[tokio::test]
    async fn a_list_and_a_check_answer_json_from_the_report() {
        let app = TestApp::ready().await;
        let deps = || ApiDeps {
            config: &app.app.config,
            state: &app.app.state,
            writer: &app.app.writer,
            clock: app.clock.as_ref(),
        };
        let (status, body) = read(handle(deps(), &Method::GET, "/api/v1/checks", None).await).await;
        let body: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(status, 200);
        assert_eq!(body["summary"]["new"], 2);
        assert_eq!(body["checks"][0]["name"], "orders");
        assert!(!body.to_string().contains("s3cret"));
        let (status, body) = read(
            handle(
                deps(),
                &Method::GET,
                "/api/v1/checks/payroll",
                Some("limit=2"),
            )
            .await,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["history"], serde_json::json!([]));
        let (status, body) =
            read(handle(deps(), &Method::DELETE, "/api/v1/checks", None).await).await;
        assert_eq!(
            (status, body.as_str()),
            (405, "{\"error\":\"Method not allowed; use GET, HEAD.\"}\n")
        );
    }
}
