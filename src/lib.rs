//! deadman: a Prometheus dead-man's-switch exporter.
//!
//! Integrations ping deadman when a run starts, succeeds or fails; deadman
//! keeps that state durably and exports freshness, deadlines and volume as
//! Prometheus metrics, so alert rules fire when an expected run goes quiet.
//!
//! # Layout
//!
//! * [`config`] — the TOML file, raw → validated [`config::Config`]
//!   (field parsers and the volume/expiry sections in its submodules).
//! * [`clock`] — wall and monotonic time, injectable for tests.
//! * [`schedule`] — `every` / cron + time zone → deadlines (pure).
//! * [`expect`] — volume windows and expiries (pure).
//! * [`ping`] — an HTTP request → a [`ping::Ping`] event (pure).
//! * [`state`] — per-check state and how a ping changes it (pure).
//! * [`store`] — the storage seam, with [`sqlite`] the durable store under it;
//!   [`writer`] — the group-commit thread that is the only writer of both
//!   store and state, and the only reader of the store after startup.
//! * [`metrics`] — self-metrics and scrape rendering; [`exposition`] — the
//!   per-check families, written at scrape time from config and state.
//! * [`http`] — routing and handlers; [`landing`] — the `/` page;
//!   [`docs`] — the `deadman docs` inventory.
//! * [`server`] — accept loop, limits, graceful shutdown.
//! * [`shared`] — the `Arc<Shared>` handle all of the above share.
//!
//! The binary (`main.rs`) only parses flags, builds a [`Server`] and calls
//! [`run`]; tests drive [`run`] on port 0.

pub mod clock;
pub mod config;
pub mod docs;
pub mod expect;
pub mod exposition;
pub mod http;
pub mod landing;
pub mod metrics;
pub mod ping;
pub mod schedule;
pub mod server;
pub mod shared;
pub mod sqlite;
pub mod state;
pub mod store;
pub mod writer;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::clock::Clock;
use crate::config::Config;
use crate::shared::Shared;
use crate::store::{Store, StoreError};

/// The crate version, as in `Cargo.toml`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git revision this binary was built from.
pub const REVISION: &str = env!("DEADMAN_REVISION");

/// How to run an exporter, besides its config and store.
pub struct Options {
    /// The config file, re-read on reload.
    pub config_path: PathBuf,
    /// Where metrics are served (`--web.telemetry-path`).
    pub telemetry_path: String,
    /// Time source; tests inject a manual one.
    pub clock: Arc<dyn Clock>,
}

/// An exporter that has been set up but not yet started serving.
pub struct Server {
    /// The state handle; also given to tests and the SIGHUP task.
    shared: Arc<Shared>,
    /// Resolves when the writer has loaded the store (or failed to).
    loaded: oneshot::Receiver<Result<(), StoreError>>,
    /// The writer thread, joined on shutdown so the last batch is on disk.
    writer_thread: JoinHandle<()>,
}

impl Server {
    /// Starts the writer thread, which loads `store` in the background; until
    /// it has, `/-/ready` and pings answer 503.
    pub fn new(config: Config, options: Options, store: Box<dyn Store>) -> std::io::Result<Server> {
        let (writer, inbox) = writer::channel();
        let shared = Arc::new(Shared::new(
            config,
            options.config_path,
            options.telemetry_path,
            options.clock,
            writer,
        ));
        shared.metrics.reload_successful.set(1);
        shared
            .metrics
            .reload_success_timestamp
            .set(shared.now().wall);
        let (loaded_tx, loaded) = oneshot::channel();
        let writer_thread = writer::spawn(Arc::downgrade(&shared), store, inbox, loaded_tx)?;
        Ok(Server {
            shared,
            loaded,
            writer_thread,
        })
    }

    pub fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
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
    let Server {
        shared,
        loaded,
        writer_thread,
    } = server;
    // Resolves only if loading fails; once loaded it never completes.
    let load_failure = async move {
        match loaded.await {
            Ok(Ok(())) => std::future::pending().await,
            Ok(Err(err)) => err,
            Err(_) => StoreError("the storage writer exited during startup".into()),
        }
    };
    let mut load_error = None;
    let stop = async {
        tokio::select! {
            _ = shutdown => {}
            err = load_failure => load_error = Some(err),
        }
    };
    server::serve(listener, Arc::clone(&shared), stop).await;

    shared.writer.stop();
    let _ = tokio::task::spawn_blocking(move || writer_thread.join()).await;
    match load_error {
        Some(err) => Err(RunError::Load(err)),
        None => Ok(()),
    }
}

/// Re-reads the config file and applies it if valid. On any error the old
/// config stays in effect and `deadman_config_last_reload_successful` is 0.
/// Returns the number of configured checks.
pub async fn reload(shared: &Shared) -> Result<usize, String> {
    let _one_at_a_time = shared.reload_lock.lock().await;
    let path = shared.config_path.clone();
    let loaded = tokio::task::spawn_blocking(move || Config::load(&path))
        .await
        .map_err(|e| format!("reading config: {e}"));
    let result = match loaded {
        Ok(Ok(config)) => {
            let checks = config.checks.len();
            shared
                .writer
                .apply_config(Arc::new(config))
                .await
                .map(|()| checks)
                .map_err(|e| format!("recording the new config in storage: {e}"))
        }
        Ok(Err(err)) => Err(format!("{}: {err}", shared.config_path.display())),
        Err(err) => Err(err),
    };
    match &result {
        Ok(checks) => {
            shared.metrics.reload_successful.set(1);
            shared
                .metrics
                .reload_success_timestamp
                .set(shared.now().wall);
            tracing::info!(checks, "config reloaded");
        }
        Err(err) => {
            shared.metrics.reload_successful.set(0);
            tracing::error!(error = %err, "config reload failed; keeping the previous config");
        }
    }
    result
}
