//! The config in force, and the one way it is replaced: [`LiveConfig::reload`]
//! (SIGHUP and `POST /-/reload`), which also owns the reload gauges.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::ReloadGauges;
use crate::store::writer::WriterHandle;

/// Why a reload was refused; the previous config stays in effect.
#[derive(Debug)]
pub enum ReloadError {
    /// The file could not be read or is not a valid config.
    Config {
        path: PathBuf,
        source: crate::config::ConfigError,
    },
    /// Reading the file was interrupted (the blocking task panicked).
    Read(String),
    /// The writer could not record what the new config changes.
    Store(crate::store::StoreError),
}

impl std::fmt::Display for ReloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReloadError::Config { path, source } => write!(f, "{}: {source}", path.display()),
            ReloadError::Read(why) => write!(f, "reading config: {why}"),
            ReloadError::Store(err) => write!(f, "recording the new config in storage: {err}"),
        }
    }
}

impl std::error::Error for ReloadError {}

/// The current config, shared by every handler. Cheap to clone.
#[derive(Clone)]
pub struct LiveConfig {
    inner: Arc<Inner>,
}

struct Inner {
    /// Handlers clone the `Arc` and release the lock, so a reload swaps it
    /// without waiting for requests in flight, and a request never sees the
    /// config change under it.
    current: RwLock<Arc<Config>>,
    /// Where reloads read the config from.
    path: PathBuf,
    /// Serialises reloads (SIGHUP and `POST /-/reload` may race); a tokio
    /// mutex because a reload awaits the writer while holding it.
    reloading: tokio::sync::Mutex<()>,
    /// `deadman_config_last_reload_successful` and its timestamp.
    gauges: ReloadGauges,
    /// For the success timestamp.
    clock: Arc<dyn Clock>,
}

impl LiveConfig {
    /// A config that has just been loaded from `path` successfully.
    pub fn new(
        config: Arc<Config>,
        path: PathBuf,
        gauges: ReloadGauges,
        clock: Arc<dyn Clock>,
    ) -> LiveConfig {
        let live = LiveConfig {
            inner: Arc::new(Inner {
                current: RwLock::new(config),
                path,
                reloading: tokio::sync::Mutex::new(()),
                gauges,
                clock,
            }),
        };
        live.record(true);
        live
    }

    /// The config in force now.
    pub fn current(&self) -> Arc<Config> {
        Arc::clone(&self.inner.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Re-reads the config file and, if it is valid and the writer has
    /// recorded what it changes, makes it current. On any error the old
    /// config stays in effect and `deadman_config_last_reload_successful`
    /// is 0. Returns the number of configured checks.
    pub async fn reload(&self, writer: &WriterHandle) -> Result<usize, ReloadError> {
        let _one_at_a_time = self.inner.reloading.lock().await;
        let result = self.load_and_apply(writer).await;
        match &result {
            Ok(checks) => tracing::info!(checks, "config reloaded"),
            Err(err) => {
                tracing::error!(error = %err, "config reload failed; keeping the previous config")
            }
        }
        self.record(result.is_ok());
        result
    }

    async fn load_and_apply(&self, writer: &WriterHandle) -> Result<usize, ReloadError> {
        let path = self.inner.path.clone();
        let config = tokio::task::spawn_blocking(move || Config::load(&path))
            .await
            .map_err(|e| ReloadError::Read(e.to_string()))?
            .map_err(|source| ReloadError::Config {
                path: self.inner.path.clone(),
                source,
            })?;
        let config = Arc::new(config);
        let checks = config.checks.len();
        // The writer first: a check must have state before handlers can
        // find it in the config.
        writer
            .apply_config(Arc::clone(&config))
            .await
            .map_err(ReloadError::Store)?;
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = config;
        Ok(checks)
    }

    /// The one place the reload gauges are set.
    fn record(&self, success: bool) {
        let gauges = &self.inner.gauges;
        gauges.successful.set(i64::from(success));
        if success {
            gauges.success_timestamp.set(self.inner.clock.now().wall);
        }
    }
}
