//! Routing: the one place that holds every handle, and gives each handler
//! only the ones it uses.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode};

use super::access::{self, Scope};
use super::response::{method_not_allowed, text, HttpResponse};
use super::{admin, api, badge, ping, scrape, ui};
use crate::clock::Clock;
use crate::live_config::LiveConfig;
use crate::metrics::Metrics;
use crate::state::StateHandle;
use crate::store::writer::WriterHandle;
use crate::web_config::watch::WebConfigWatch;

/// Every handle the handlers draw from.
pub struct App {
    /// The config in force, and reload.
    pub config: LiveConfig,
    /// The published state snapshot, for scrapes and the page.
    pub state: StateHandle,
    /// Pings, history, readiness and storage health.
    pub writer: WriterHandle,
    /// Self-metrics: the registry scrapes gather, and the rejection counter.
    pub metrics: Arc<Metrics>,
    /// Ping arrival stamps and "now" for deadlines and windows.
    pub clock: Arc<dyn Clock>,
    /// Path of the metrics endpoint (`--web.telemetry-path`).
    pub telemetry_path: String,
    /// Scrapes in progress, so concurrent ones share a render.
    pub renders: scrape::Renders,
    /// Ping rate limits per check and failed-token budgets per address.
    pub limits: super::rate_limit::RateLimits,
    /// TLS, basic auth and response headers (`--web.config.file`).
    pub web: Arc<WebConfigWatch>,
    /// Which paths basic auth covers.
    pub scope: Scope,
    /// `--web.enable-lifecycle`: whether `POST /-/reload` is allowed.
    pub enable_lifecycle: bool,
    /// `--web.external-url`: where users reach deadman, for links.
    pub external_url: Option<String>,
}

/// Routes one request, behind basic auth where it applies, and adds the
/// web config's headers. Never fails: every error is a response.
pub async fn route(
    app: Arc<App>,
    req: Request<Incoming>,
    remote: SocketAddr,
) -> Result<HttpResponse, Infallible> {
    let web = app.web.current();
    let path = req.uri().path();
    // Asked of the config in force, so a reload that removes [badges]
    // puts badges behind basic auth at once.
    let public_badges = path.starts_with("/badge/") && app.config.current().badges.is_some();
    let admitted = match &web.auth {
        Some(auth) if app.scope.covers(path, public_badges) => {
            let now = app.clock.now().mono;
            access::admit(auth, req.headers(), remote.ip(), &app.limits, now).await
        }
        _ => Ok(()),
    };
    let mut response = match admitted {
        Ok(()) => dispatch(&app, req, remote, web.tls.is_some()).await,
        Err(refused) => refused,
    };
    add_headers(&mut response, &web.headers);
    Ok(response)
}

/// The web config's `http_server_config.headers`, on every response.
pub fn add_headers(response: &mut HttpResponse, headers: &[(HeaderName, HeaderValue)]) {
    for (name, value) in headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
}

/// Picks the handler for the path and gives it the handles it uses.
async fn dispatch(
    app: &App,
    req: Request<Incoming>,
    remote: SocketAddr,
    tls: bool,
) -> HttpResponse {
    let path = req.uri().path().to_string();
    let get = matches!(*req.method(), Method::GET | Method::HEAD);
    // Links and badge URLs: `--web.external-url` without its trailing slash.
    let base = (app.external_url.as_deref().unwrap_or("")).trim_end_matches('/');
    if let Some(rest) = path.strip_prefix("/ping/") {
        let deps = ping::PingDeps {
            config: &app.config,
            writer: &app.writer,
            clock: app.clock.as_ref(),
            rejections: &app.metrics.rejections,
            limits: &app.limits,
        };
        ping::handle(deps, req, remote, rest).await
    } else if path == "/api/v1/badges" {
        match get {
            true => badge::listing(&app.config, base),
            false => method_not_allowed("GET, HEAD"),
        }
    } else if let Some(rest) = path.strip_prefix("/badge/") {
        let deps = badge::BadgeDeps {
            config: &app.config,
            state: &app.state,
            writer: &app.writer,
            clock: app.clock.as_ref(),
        };
        match get {
            true => badge::handle(deps, rest, req.headers()),
            false => method_not_allowed("GET, HEAD"),
        }
    } else if path.starts_with("/api/") {
        let deps = api::ApiDeps {
            config: &app.config,
            state: &app.state,
            writer: &app.writer,
            clock: app.clock.as_ref(),
        };
        api::handle(deps, req.method(), &path, req.uri().query()).await
    } else if path == app.telemetry_path {
        let deps = scrape::ScrapeDeps {
            registry: &app.metrics.registry,
            config: &app.config,
            state: &app.state,
            rejections: &app.metrics.rejections,
            writer: &app.writer,
            clock: app.clock.as_ref(),
            renders: &app.renders,
            base,
        };
        match get {
            true => scrape::handle(deps, req.headers()).await,
            false => method_not_allowed("GET, HEAD"),
        }
    } else if is_page(&path) {
        if !get {
            return method_not_allowed("GET, HEAD");
        }
        let deps = ui::UiDeps {
            config: &app.config,
            state: &app.state,
            writer: &app.writer,
            clock: app.clock.as_ref(),
            telemetry_path: &app.telemetry_path,
            base,
            tls,
        };
        match ui::handle(&deps, &path, req.uri().query(), req.headers()).await {
            Some(response) => response,
            None => text(StatusCode::NOT_FOUND, "Not found."),
        }
    } else {
        match (req.method(), path.as_str()) {
            (_, "/-/healthy" | "/-/ready") if !get => method_not_allowed("GET, HEAD"),
            (_, "/-/healthy") => admin::healthy(&app.writer),
            (_, "/-/ready") => admin::ready(&app.writer),
            (&Method::POST | &Method::PUT, "/-/reload") if !app.enable_lifecycle => {
                admin::lifecycle_disabled()
            }
            (&Method::POST | &Method::PUT, "/-/reload") => {
                admin::reload(&app.config, &app.writer).await
            }
            (_, "/-/reload") => method_not_allowed("POST, PUT"),
            _ => text(StatusCode::NOT_FOUND, "Not found."),
        }
    }
}

/// The status pages and their assets.
fn is_page(path: &str) -> bool {
    path == "/"
        || path == "/inventory"
        || path.starts_with("/checks/")
        || path.starts_with("/static/")
}
