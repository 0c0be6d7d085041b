//! Time, injected so that tests can move it.
//!
//! Timestamps are wall-clock UTC seconds with sub-second precision (what
//! Prometheus and humans compare against); run durations use a monotonic
//! reading so a wall-clock step (NTP, a VM resume) cannot make them negative.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One reading of both clocks, taken when a ping arrives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stamp {
    /// Unix seconds, UTC.
    pub wall: f64,
    /// Monotonic time since the clock was created; only comparable with
    /// readings from the same process.
    pub mono: Duration,
}

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Stamp;
}

/// The real clocks.
pub struct SystemClock {
    /// Origin of the monotonic readings.
    started: Instant,
}

impl SystemClock {
    pub fn new() -> Self {
        SystemClock {
            started: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Stamp {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Stamp {
            wall,
            mono: self.started.elapsed(),
        }
    }
}

/// A clock that only moves when told to; for tests.
pub struct ManualClock {
    /// Current reading; a Mutex because tests move it from other threads.
    now: Mutex<Stamp>,
}

impl ManualClock {
    pub fn new(wall: f64) -> Self {
        ManualClock {
            now: Mutex::new(Stamp {
                wall,
                mono: Duration::ZERO,
            }),
        }
    }

    /// Moves both clocks forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        now.wall += by.as_secs_f64();
        now.mono += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Stamp {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}
