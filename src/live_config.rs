//! The config in force, and the one way it is replaced: [`LiveConfig::reload`]
//! (SIGHUP and `POST /-/reload`), which also owns the reload gauges.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

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
            // One line per error, each naming the file, as check-config does.
            ReloadError::Config { path, source } => {
                for (i, err) in source.each().iter().enumerate() {
                    let separator = if i == 0 { "" } else { "\n" };
                    write!(f, "{separator}{}: {err}", path.display())?;
                }
                Ok(())
            }
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
    /// Serialises reloads (SIGHUP and `POST /-/reload` may race), and
    /// holds when the last one started, to pace them; a tokio mutex
    /// because a reload awaits the writer while holding it.
    reloading: tokio::sync::Mutex<Option<Instant>>,
    /// `deadman_config_last_reload_successful` and its timestamp.
    gauges: ReloadGauges,
    /// For the success timestamp.
    clock: Arc<dyn Clock>,
    /// Reload requests so far; each caller takes a number.
    requested: AtomicU64,
    /// The last reload's outcome and the highest request number it
    /// answers (every request that arrived before it read the file), so a
    /// burst of requests costs one or two reloads, not one each.
    last: Mutex<Option<(u64, Reloaded)>>,
    /// When a reload was last logged at info: a flood of reloads logs one
    /// line a second, the rest at debug.
    last_logged: Mutex<Option<Instant>>,
}

/// A reload's outcome, shared by the requests it answers.
pub type Reloaded = Result<Reload, Arc<ReloadError>>;

/// A reload that succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reload {
    /// Checks configured now.
    pub checks: usize,
    /// The file and its token files were as last read: nothing was parsed.
    pub unchanged: bool,
}

/// Reload log lines at info at most this often.
const RELOAD_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Reloads start at most this often. Even one of an unchanged file is
/// applied by the writer (retention runs), which takes the writer from the
/// pings for a moment: a client looping on `/-/reload` at 700 a second
/// cut ping throughput to a tenth at 20,000 checks. Requests that arrive
/// meanwhile wait and share the next reload, so each still sees the file
/// as it was after it was sent, a quarter of a second later at most.
const RELOAD_MIN_INTERVAL: Duration = Duration::from_millis(250);

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
                reloading: tokio::sync::Mutex::new(None),
                gauges,
                clock,
                requested: AtomicU64::new(0),
                last: Mutex::new(None),
                last_logged: Mutex::new(None),
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
    /// is 0. A file that is unchanged (with its token files) is not parsed
    /// again, but still applied, so retention runs as on every reload.
    ///
    /// Requests that arrive while a reload runs wait for the next one and
    /// share its outcome: it reads the file after they arrived, so it sees
    /// whatever they were sent for. Reloads start at most every
    /// [`RELOAD_MIN_INTERVAL`], so a flood of requests cannot keep the
    /// writer from the pings.
    pub async fn reload(&self, writer: &WriterHandle) -> Reloaded {
        let ticket = self.inner.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut last_started = self.inner.reloading.lock().await;
        if let Some(shared) = self.answered(ticket) {
            return shared;
        }
        if let Some(at) = *last_started {
            tokio::time::sleep_until((at + RELOAD_MIN_INTERVAL).into()).await;
        }
        *last_started = Some(Instant::now());
        // Read after the pause: the requests that arrived during it are
        // answered by this reload too.
        let covers = self.inner.requested.load(Ordering::SeqCst);
        let result = self.load_and_apply(writer).await.map_err(Arc::new);
        self.log(&result);
        self.record(result.is_ok());
        *self.inner.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((covers, result.clone()));
        result
    }

    /// The last outcome, if that reload started after request `ticket`.
    fn answered(&self, ticket: u64) -> Option<Reloaded> {
        match &*self.inner.last.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((covers, result)) if *covers >= ticket => Some(result.clone()),
            _ => None,
        }
    }

    fn log(&self, result: &Reloaded) {
        let now = Instant::now();
        let loud = {
            let mut last = self
                .inner
                .last_logged
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let loud = last.is_none_or(|at| now.duration_since(at) >= RELOAD_LOG_INTERVAL);
            if loud {
                *last = Some(now);
            }
            loud
        };
        match (result, loud) {
            (Ok(Reload { checks, unchanged }), true) => {
                tracing::info!(checks, unchanged, "config reloaded")
            }
            (Ok(Reload { checks, unchanged }), false) => {
                tracing::debug!(checks, unchanged, "config reloaded")
            }
            (Err(err), true) => {
                tracing::error!(error = %err, "config reload failed; keeping the previous config")
            }
            (Err(err), false) => {
                tracing::debug!(error = %err, "config reload failed; keeping the previous config")
            }
        }
    }

    async fn load_and_apply(&self, writer: &WriterHandle) -> Result<Reload, ReloadError> {
        let path = self.inner.path.clone();
        let previous = self.current();
        let loaded = tokio::task::spawn_blocking(move || Config::load_if_changed(&path, &previous))
            .await
            .map_err(|e| ReloadError::Read(e.to_string()))?
            .map_err(|source| ReloadError::Config {
                path: self.inner.path.clone(),
                source,
            })?;
        let unchanged = loaded.is_none();
        let config = match loaded {
            Some(config) => Arc::new(config),
            None => self.current(),
        };
        if !unchanged {
            for warning in config.ended_pauses(self.inner.clock.now().wall) {
                tracing::warn!(%warning, "config");
            }
        }
        let checks = config.checks.len();
        // The writer first: a check must have state before handlers can
        // find it in the config. An unchanged config goes too: applying it
        // purges checks whose retention ran out, as every reload does.
        writer
            .apply_config(Arc::clone(&config))
            .await
            .map_err(ReloadError::Store)?;
        if !unchanged {
            *self
                .inner
                .current
                .write()
                .unwrap_or_else(|e| e.into_inner()) = config;
            // The parser's temporaries (and, unless a request still holds
            // it, the previous config) go back to the system.
            crate::allocator::trim();
        }
        Ok(Reload { checks, unchanged })
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
