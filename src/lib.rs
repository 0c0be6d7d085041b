//! deadman: a Prometheus dead-man's-switch exporter.
//!
//! Integrations ping deadman when a run starts, succeeds or fails; deadman
//! keeps that state durably and exports freshness, deadlines and volume as
//! Prometheus metrics, so alert rules fire when an expected run goes quiet.
//!
//! # Layout
//!
//! Data flows one way: request → ping event → writer/store → published
//! state → scrape and pages.
//!
//! * [`model`] — the domain, pure: ping kinds and reasons, parsing a ping,
//!   schedules, check state and deadlines, run ids, volume and expiries,
//!   declared values, failure ratios and pauses.
//! * [`config`] — the TOML file, raw → validated [`config::Config`];
//!   [`live_config`] — the config in force and reload (SIGHUP, `/-/reload`).
//! * [`store`] — the [`store::Store`] seam, SQLite under it, and the
//!   group-commit [`store::writer`]: the only writer of store and state,
//!   and the authority on readiness and storage health.
//! * [`state`] — the published snapshot readers render from without locks;
//!   [`check_report`] — what a check's config and state mean now, for the
//!   pages, the JSON API and badges.
//! * [`metrics`] — self-metrics, grouped per subsystem;
//!   [`exposition`] — a scrape's text, per-check families included.
//! * [`web`] — accept loop, router, one file per endpoint group;
//!   [`web_config`] — `--web.config.file` (TLS, basic auth, headers).
//! * [`client`] — `deadman run -- CMD` and `deadman ping`: the other end
//!   of the ping API, for cron jobs and scripts.
//! * [`auth`] — ping tokens; [`badge_key`] — the keys in public badge
//!   URLs; [`docs`] — the `deadman docs` inventory;
//!   [`text`] — HTML escaping and timestamps; [`name_hash`] — hashing
//!   check names; [`clock`] — injectable time;
//!   [`allocator`] — giving memory back after scrapes and config reads.
//!
//! The binary (`main.rs`) only parses flags, builds a [`Server`] and calls
//! [`run`]; tests drive [`run`] on port 0.

pub mod allocator;
pub mod auth;
pub mod badge_key;
pub mod check_report;
pub mod client;
pub mod clock;
pub mod config;
pub mod docs;
pub mod exposition;
pub mod live_config;
pub mod metrics;
pub mod model;
pub mod name_hash;
pub mod state;
pub mod store;
mod string_enum;
pub mod text;
pub mod version;
pub mod web;
pub mod web_config;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::clock::Clock;
use crate::config::Config;
use crate::live_config::{LiveConfig, Reloaded};
use crate::metrics::Metrics;
use crate::store::writer::{self, WriterHandle, WriterParts};
use crate::store::{Opened, StoreError};
pub use crate::web::limits::ConnectionLimits;
use crate::web::router::App;
use crate::web_config::watch::WebConfigWatch;

pub use crate::version::{REVISION, VERSION};

/// How to run an exporter, besides its config and store. Start from
/// [`Options::new`] and set what differs from the defaults.
pub struct Options {
    /// The config file, re-read on reload.
    pub config_path: PathBuf,
    /// Where metrics are served (`--web.telemetry-path`).
    pub telemetry_path: String,
    /// Time source; tests inject a manual one.
    pub clock: Arc<dyn Clock>,
    /// TLS, basic auth and response headers (`--web.config.file`).
    pub web: Arc<WebConfigWatch>,
    /// `--web.enable-lifecycle`: allow `POST /-/reload`.
    pub enable_lifecycle: bool,
    /// `--web.health-without-auth`: keep `/-/healthy` and `/-/ready` open
    /// when basic auth is configured.
    pub health_without_auth: bool,
    /// `--web.external-url`: where users reach deadman, for links.
    pub external_url: Option<String>,
    /// Connection limits and timeouts (`--web.max-connections`, …).
    pub limits: ConnectionLimits,
    /// `--web.exposition.all-series`: export every per-kind and per-reason
    /// counter and the run series of every check, zeros included.
    pub all_series: bool,
    /// `--web.max-scrape-bodies`: scrape bodies that may exist at once.
    pub max_scrape_bodies: usize,
}

impl Options {
    /// Metrics on `/metrics`, no web config, lifecycle API off.
    pub fn new(config_path: PathBuf, clock: Arc<dyn Clock>) -> Options {
        Options {
            config_path,
            telemetry_path: "/metrics".into(),
            clock,
            web: Arc::new(WebConfigWatch::none()),
            enable_lifecycle: false,
            health_without_auth: false,
            external_url: None,
            limits: ConnectionLimits::default(),
            all_series: false,
            max_scrape_bodies: crate::web::scrape::DEFAULT_MAX_BODIES,
        }
    }
}

/// An exporter that has been set up but not yet started serving.
pub struct Server {
    /// Everything the handlers share.
    app: Arc<App>,
    /// TLS for the accept loop (the handlers' copy is in `app`).
    web: Arc<WebConfigWatch>,
    /// Resolves when the writer has loaded the store (or failed to).
    loaded: oneshot::Receiver<Result<(), StoreError>>,
    /// The writer thread, joined on shutdown so the last batch is on disk.
    writer_thread: JoinHandle<()>,
    /// Connection limits and timeouts of the accept loop.
    limits: ConnectionLimits,
}

/// What the binary and tests may do to a running exporter from outside:
/// ask whether it is ready, and reload its config (SIGHUP).
#[derive(Clone)]
pub struct Control {
    /// Reload goes through the live config...
    config: LiveConfig,
    /// ...which needs the writer; readiness is the writer's.
    writer: WriterHandle,
}

impl Control {
    pub fn is_ready(&self) -> bool {
        self.writer.is_ready()
    }

    /// Re-reads the config file, as `POST /-/reload` does. Returns the
    /// number of configured checks.
    pub async fn reload(&self) -> Reloaded {
        self.config.reload(&self.writer).await
    }
}

impl Server {
    /// Starts the writer thread, which loads `store` in the background (or
    /// takes what [`store::Loading`] has read meanwhile); until it has,
    /// `/-/ready` and pings answer 503.
    pub fn new(
        config: Config,
        options: Options,
        store: impl Into<Opened>,
    ) -> std::io::Result<Server> {
        let metrics = Arc::new(Metrics::new());
        let config = Arc::new(config);
        let (publisher, state) = crate::state::channel();
        let spawned = writer::spawn(WriterParts {
            store: store.into(),
            config: Arc::clone(&config),
            publisher,
            metrics: metrics.storage.clone(),
            clock: Arc::clone(&options.clock),
        })?;
        let live = LiveConfig::new(
            config,
            options.config_path,
            metrics.reload.clone(),
            Arc::clone(&options.clock),
        );
        let renders = crate::web::scrape::Renders::new(
            options.all_series,
            options.max_scrape_bodies,
            metrics.scrape.clone(),
        );
        let app = Arc::new(App {
            config: live,
            state,
            writer: spawned.handle,
            metrics,
            clock: options.clock,
            telemetry_path: options.telemetry_path,
            renders,
            limits: Default::default(),
            web: Arc::clone(&options.web),
            scope: crate::web::access::Scope {
                health_without_auth: options.health_without_auth,
            },
            enable_lifecycle: options.enable_lifecycle,
            external_url: options.external_url,
        });
        Ok(Server {
            app,
            web: options.web,
            loaded: spawned.loaded,
            writer_thread: spawned.thread,
            limits: options.limits,
        })
    }

    pub fn control(&self) -> Control {
        Control {
            config: self.app.config.clone(),
            writer: self.app.writer.clone(),
        }
    }
}

/// Why the exporter stopped other than by a requested shutdown.
#[derive(Debug)]
pub enum RunError {
    /// The stored state could not be loaded.
    Load(StoreError),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Load(err) => write!(f, "loading stored state: {err}"),
        }
    }
}

impl std::error::Error for RunError {}

/// Serves until `shutdown` completes (then drains requests and flushes the
/// writer) or the store fails to load.
pub async fn run(
    listener: TcpListener,
    server: Server,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    run_on(vec![listener], server, shutdown).await
}

/// [`run`] on several listeners (`--web.listen-address` given more than
/// once), sharing one set of connection limits.
pub async fn run_on(
    listeners: Vec<TcpListener>,
    server: Server,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let Server {
        app,
        web,
        loaded,
        writer_thread,
        limits,
    } = server;
    // Resolves only if loading fails; once loaded it never completes.
    let load_failure = async move {
        match loaded.await {
            Ok(Ok(())) => {
                // What reading the store left freed goes back to the system.
                crate::allocator::trim();
                std::future::pending().await
            }
            Ok(Err(err)) => err,
            Err(_) => StoreError::WriterStopped,
        }
    };
    let mut load_error = None;
    let stop = async {
        tokio::select! {
            _ = shutdown => {}
            err = load_failure => load_error = Some(err),
        }
    };
    let writer = app.writer.clone();
    web::server::serve(listeners, app, web, limits, stop).await;

    writer.stop();
    let _ = tokio::task::spawn_blocking(move || writer_thread.join()).await;
    match load_error {
        Some(err) => Err(RunError::Load(err)),
        None => Ok(()),
    }
}
