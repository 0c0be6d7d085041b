//! The one state handle every part of the server shares (`Arc<Shared>`).
//!
//! Locks are `std::sync` ones: nothing is ever awaited while one is held, and
//! every critical section is a lookup, a clone or a swap, so a blocking lock
//! is cheaper than an async one.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::clock::{Clock, Stamp};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::state::StateMap;
use crate::writer::WriterHandle;

pub struct Shared {
    /// The current config. Handlers clone the `Arc` and release the lock, so
    /// a reload swaps it without waiting for requests in flight.
    config: RwLock<Arc<Config>>,
    /// Where reloads read the config from.
    pub config_path: PathBuf,
    /// Serving copy of all check state; only the writer thread changes it,
    /// and only with what the store has already made durable.
    state: RwLock<StateMap>,
    /// Wall and monotonic time; injected so tests can move it.
    clock: Arc<dyn Clock>,
    /// Exporter self-metrics and the registry scrapes gather from.
    pub metrics: Metrics,
    /// False until the store is loaded and the config applied; until then
    /// `/-/ready` and pings answer 503 rather than act on missing state.
    ready: AtomicBool,
    /// The last storage error, until a commit succeeds again; reported by
    /// `/-/healthy` and in 503 bodies.
    storage_fault: Mutex<Option<String>>,
    /// Sends pings and config changes to the writer thread.
    pub writer: WriterHandle,
    /// Path of the metrics endpoint (`--web.telemetry-path`).
    pub telemetry_path: String,
    /// Serialises reloads (SIGHUP and `POST /-/reload` may race); a tokio
    /// mutex because a reload awaits the writer while holding it.
    pub reload_lock: tokio::sync::Mutex<()>,
}

impl Shared {
    pub fn new(
        config: Config,
        config_path: PathBuf,
        telemetry_path: String,
        clock: Arc<dyn Clock>,
        writer: WriterHandle,
    ) -> Self {
        Shared {
            config: RwLock::new(Arc::new(config)),
            config_path,
            state: RwLock::new(StateMap::default()),
            clock,
            metrics: Metrics::new(),
            ready: AtomicBool::new(false),
            storage_fault: Mutex::new(None),
            writer,
            telemetry_path,
            reload_lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Only the writer swaps the config, after recording what it changes.
    pub(crate) fn swap_config(&self, config: Arc<Config>) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = config;
    }

    pub fn state(&self) -> RwLockReadGuard<'_, StateMap> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn state_mut(&self) -> RwLockWriteGuard<'_, StateMap> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn now(&self) -> Stamp {
        self.clock.now()
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub(crate) fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub fn storage_fault(&self) -> Option<String> {
        self.storage_fault
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn set_storage_fault(&self, fault: Option<String>) {
        *self.storage_fault.lock().unwrap_or_else(|e| e.into_inner()) = fault;
    }
}
