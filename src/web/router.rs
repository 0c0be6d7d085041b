//! Routing: the one place that holds every handle, and gives each handler
//! only the ones it uses.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};

use super::response::{method_not_allowed, text, HttpResponse};
use super::{admin, history, landing, ping, scrape};
use crate::clock::Clock;
use crate::live_config::LiveConfig;
use crate::metrics::Metrics;
use crate::state::StateHandle;
use crate::store::writer::WriterHandle;

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
}

/// Routes one request. Never fails: every error is a response.
pub async fn route(
    app: Arc<App>,
    req: Request<Incoming>,
    remote: SocketAddr,
) -> Result<HttpResponse, Infallible> {
    let path = req.uri().path().to_string();
    let get = matches!(*req.method(), Method::GET | Method::HEAD);
    let response = if let Some(rest) = path.strip_prefix("/ping/") {
        let deps = ping::PingDeps {
            config: &app.config,
            writer: &app.writer,
            clock: app.clock.as_ref(),
            rejections: &app.metrics.rejections,
            limits: &app.limits,
        };
        ping::handle(deps, req, remote, rest).await
    } else if let Some(check) = path
        .strip_prefix("/api/v1/checks/")
        .and_then(|rest| rest.strip_suffix("/history"))
    {
        match get {
            true => history::handle(&app.config, &app.writer, check, req.uri().query()).await,
            false => method_not_allowed("GET, HEAD"),
        }
    } else if path == app.telemetry_path {
        let deps = scrape::ScrapeDeps {
            registry: &app.metrics.registry,
            config: &app.config,
            state: &app.state,
            rejections: &app.metrics.rejections,
            writer: &app.writer,
            clock: app.clock.as_ref(),
            renders: &app.renders,
        };
        match get {
            true => scrape::handle(deps, req.headers()).await,
            false => method_not_allowed("GET, HEAD"),
        }
    } else {
        match (req.method(), path.as_str()) {
            (_, "/" | "/-/healthy" | "/-/ready") if !get => method_not_allowed("GET, HEAD"),
            (_, "/") => landing::handle(
                &app.config,
                &app.state,
                &app.writer,
                app.clock.as_ref(),
                &app.telemetry_path,
            ),
            (_, "/-/healthy") => admin::healthy(&app.writer),
            (_, "/-/ready") => admin::ready(&app.writer),
            (&Method::POST | &Method::PUT, "/-/reload") => {
                admin::reload(&app.config, &app.writer).await
            }
            (_, "/-/reload") => method_not_allowed("POST, PUT"),
            _ => text(StatusCode::NOT_FOUND, "Not found."),
        }
    };
    Ok(response)
}
