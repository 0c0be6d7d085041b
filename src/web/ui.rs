//! The status pages' handlers: `/`, `/checks/<name>`, `/inventory` and
//! `/static/…`. They gather what a page shows (config, published state,
//! history) and hand it to [`super::pages`], which only renders.

use hyper::header::HeaderMap;
use hyper::StatusCode;
use maud::{html, Markup};

use super::pages::{self, check::CheckPage, list::Filter, Frame, REFRESH_SECONDS};
use super::response::{html_with_status, HttpResponse, NOT_READY};
use crate::check_report::CheckReport;
use crate::clock::Clock;
use crate::live_config::LiveConfig;
use crate::state::StateHandle;
use crate::store::writer::WriterHandle;

/// What the pages need, and nothing else.
pub struct UiDeps<'a> {
    pub config: &'a LiveConfig,
    /// The published state the pages render from, without locks.
    pub state: &'a StateHandle,
    /// Readiness, storage health and the history for the check page.
    pub writer: &'a WriterHandle,
    pub clock: &'a dyn Clock,
    pub telemetry_path: &'a str,
    /// `--web.external-url` without its trailing slash, or "".
    pub base: &'a str,
    /// Whether this listener speaks TLS, for ping snippets without an
    /// external URL.
    pub tls: bool,
}

/// Serves a page or asset for `path`, or `None` if it is not one of them.
pub async fn handle(
    deps: &UiDeps<'_>,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Option<HttpResponse> {
    if let Some(asset) = pages::assets::serve(path, headers) {
        return Some(asset);
    }
    match path {
        "/" => Some(list(deps, query)),
        "/inventory" => Some(inventory(deps)),
        _ => {
            let name = path.strip_prefix("/checks/")?;
            Some(check(deps, name, query, headers).await)
        }
    }
}

fn frame<'a>(deps: &'a UiDeps<'_>, title: &'a str, refresh: bool) -> Frame<'a> {
    let mut notices = Vec::new();
    if !deps.writer.is_ready() {
        notices.push(NOT_READY.to_string());
    }
    if let Some(fault) = deps.writer.storage_fault() {
        notices.push(format!(
            "Storage is failing; pings are refused with 503: {fault}"
        ));
    }
    Frame {
        title,
        base: deps.base,
        telemetry_path: deps.telemetry_path,
        refresh: refresh.then_some(REFRESH_SECONDS),
        notices,
    }
}

fn list(deps: &UiDeps<'_>, query: Option<&str>) -> HttpResponse {
    let filter = match Filter::parse(query) {
        Ok(filter) => filter,
        Err(why) => return bad_request(deps, &why),
    };
    let config = deps.config.current();
    let snapshot = deps.state.snapshot();
    let state = deps.writer.is_ready().then_some(snapshot.as_ref());
    let content = pages::list::render(&config, state, deps.clock.now().wall, &filter, deps.base);
    let page = pages::page(&frame(deps, "Checks", true), content);
    html_with_status(StatusCode::OK, page.into_string())
}

fn inventory(deps: &UiDeps<'_>) -> HttpResponse {
    let config = deps.config.current();
    let snapshot = deps.state.snapshot();
    let state = deps.writer.is_ready().then_some(snapshot.as_ref());
    let body = pages::inventory::render(&config, state, deps.clock.now().wall);
    html_with_status(StatusCode::OK, body)
}

async fn check(
    deps: &UiDeps<'_>,
    name: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> HttpResponse {
    let config = deps.config.current();
    let Some(check) = config.check(name) else {
        let shown: String = name.chars().take(64).collect();
        let content = html! { h1 { "No such check" } p { "There is no check named " code { (shown) } " in the config." } p { a href={ (deps.base) "/" } { "All checks" } } };
        return html_with_status(
            StatusCode::NOT_FOUND,
            pages::page(&frame(deps, "Not found", false), content).into_string(),
        );
    };
    let kind = match pages::check::parse_kind(query) {
        Ok(kind) => kind,
        Err(why) => return bad_request(deps, &why),
    };
    let now = deps.clock.now().wall;
    let ready = deps.writer.is_ready();
    let snapshot = deps.state.snapshot();
    let report = ready
        .then(|| snapshot.get(&check.name))
        .flatten()
        .map(|view| CheckReport::new(check, view, now));
    let history = match ready {
        true => deps
            .writer
            .history(&check.name, config.storage.history)
            .await
            .unwrap_or_default(),
        false => Vec::new(),
    };
    let ping_base = ping_base(deps, headers);
    let badge = super::badge::links(&config, &ping_base)
        .into_iter()
        .find(|link| link.subject == crate::badge_key::Subject::Check(check.name.clone()))
        .map(|link| link.svg);
    let page = CheckPage {
        check,
        report,
        history: &history,
        kind,
        now,
        base: deps.base,
        ping_base: &ping_base,
        badge,
    };
    let content: Markup = pages::check::render(&page);
    html_with_status(
        StatusCode::OK,
        pages::page(&frame(deps, &check.name, true), content).into_string(),
    )
}

/// Where pings go: the external URL, else this host as the client named it.
fn ping_base(deps: &UiDeps<'_>, headers: &HeaderMap) -> String {
    if !deps.base.is_empty() {
        return deps.base.to_string();
    }
    let host = headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && !h.contains(['/', ' ', '"', '<']))
        .unwrap_or("localhost:10070");
    let scheme = if deps.tls { "https" } else { "http" };
    format!("{scheme}://{host}")
}

fn bad_request(deps: &UiDeps<'_>, why: &str) -> HttpResponse {
    let content = html! { h1 { "Bad request" } p { (why) } p { a href={ (deps.base) "/" } { "All checks" } } };
    html_with_status(
        StatusCode::BAD_REQUEST,
        pages::page(&frame(deps, "Bad request", false), content).into_string(),
    )
}
