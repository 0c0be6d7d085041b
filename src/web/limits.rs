//! [`ConnectionLimits`]: what one client, or all of them together, may hold
//! open, and for how long. The accept loops enforce the counts; each
//! connection enforces the timeouts.

use std::time::Duration;

/// What one client, or all of them, may hold open.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Open connections at most; further clients wait in the kernel's
    /// accept queue rather than exhausting file descriptors.
    pub max_connections: usize,
    /// Open connections per client address (0: no limit), so that one
    /// client (a slowloris, a leaking pool) cannot take every slot and
    /// lock out the pings, scrapes and health checks of everyone else.
    /// Behind a reverse proxy every client has the proxy's address: raise it.
    pub max_per_address: usize,
    /// A client must send a request head within this, on a new connection
    /// and between keep-alive requests, so idle or half-open connections
    /// are closed instead of piling up.
    pub header_read_timeout: Duration,
    /// A write that makes no progress for this long fails and closes the
    /// connection: a client that stops reading cannot hold a response.
    pub write_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 4096,
            max_per_address: 256,
            header_read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
        }
    }
}
