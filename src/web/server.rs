//! The accept loop: connection limits, timeouts and graceful shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::framing::FramingGuard;
use super::response::{text, HttpResponse};
use super::router::{route, App};
use super::write_timeout::WriteTimeout;

/// How long shutdown waits for requests in flight before giving up on them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Open connections per client address.
#[derive(Default)]
struct PerAddress {
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerAddress {
    /// Takes a slot for `address`, unless it already holds `max`.
    fn admit(self: &Arc<Self>, address: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(address).or_default();
        if max > 0 && *count >= max {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            owner: Arc::clone(self),
            address,
        })
    }
}

/// One open connection's claim on its address's count; released on drop.
struct AddressSlot {
    owner: Arc<PerAddress>,
    address: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.owner.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// Serves HTTP/1.1 (with keep-alive) until `shutdown` completes, then stops
/// accepting and lets requests in flight finish, for at most `DRAIN_TIMEOUT`.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let limit = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = Arc::new(PerAddress::default());
    let mut refused_logged = std::time::Instant::now() - Duration::from_secs(60);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&limit).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // the semaphore is never closed
            },
            _ = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Usually EMFILE; back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Some(slot) = per_address.admit(remote.ip(), limits.max_per_address) else {
            // Closed at once: the client learns, and holds nothing.
            drop(stream);
            if refused_logged.elapsed() >= Duration::from_secs(10) {
                tracing::warn!(
                    remote = %remote.ip(),
                    limit = limits.max_per_address,
                    "connection refused: this address holds the most connections allowed \
                     (--web.max-connections-per-ip); logged at most every 10 s"
                );
                refused_logged = std::time::Instant::now();
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn_app = Arc::clone(&app);
        let (stream, ambiguous) = FramingGuard::new(stream);
        let requests = AtomicU64::new(0);
        let service = service_fn(move |req| {
            // hyper calls the service once per request head, in order, so
            // this counts the same requests the framing guard counts.
            let position = requests.fetch_add(1, Ordering::Relaxed) + 1;
            let ambiguous = ambiguous.is_ambiguous(position);
            let app = Arc::clone(&conn_app);
            async move {
                match ambiguous {
                    true => Ok(ambiguous_framing()),
                    false => route(app, req, remote).await,
                }
            }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .keep_alive(true)
            .serve_connection(
                WriteTimeout::new(TokioIo::new(stream), limits.write_timeout),
                service,
            );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(%remote, error = %err, "connection ended with an error");
            }
            drop(slot);
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!("shutdown: gave up waiting for requests in flight");
        }
    }
}

/// The answer to a request that carries both `Content-Length` and
/// `Transfer-Encoding`; hyper closes the connection after it.
fn ambiguous_framing() -> HttpResponse {
    text(
        StatusCode::BAD_REQUEST,
        "Bad request: it has both Content-Length and Transfer-Encoding, so its body \
         could be read two ways (request smuggling); send only one of them.",
    )
}
