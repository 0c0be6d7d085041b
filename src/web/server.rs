//! The accept loops: connection limits, timeouts and graceful shutdown.
//! What happens on one connection is in [`super::connection`].

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::connection::{CloseSignals, Connection};
pub use super::limits::ConnectionLimits;
use super::router::App;
use crate::web_config::watch::WebConfigWatch;

/// How long shutdown waits for requests in flight before giving up on them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

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

/// What every accept loop shares.
struct Accept<'a> {
    app: &'a Arc<App>,
    web: &'a Arc<WebConfigWatch>,
    limits: ConnectionLimits,
    /// One permit per open connection, across all listeners.
    slots: Arc<Semaphore>,
    per_address: Arc<PerAddress>,
    /// Turns true at shutdown: connections finish what is in flight, then close.
    closing: tokio::sync::watch::Receiver<bool>,
    /// Bumped when open connections near the cap: idle keep-alive
    /// connections close, so new clients are not left waiting in the
    /// kernel's queue behind connections that do nothing.
    pressure: tokio::sync::watch::Sender<u64>,
    /// When `pressure` was last bumped (it is bumped at most twice a second).
    pressed: std::sync::Mutex<std::time::Instant>,
}

/// Serves HTTP/1.1 (with keep-alive; over TLS when the web config says so)
/// on every listener until `shutdown` completes, then stops accepting and
/// lets requests in flight finish, for at most `DRAIN_TIMEOUT`.
pub async fn serve(
    listeners: Vec<TcpListener>,
    app: Arc<App>,
    web: Arc<WebConfigWatch>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let (close, closing) = tokio::sync::watch::channel(false);
    let (pressure, _) = tokio::sync::watch::channel(0u64);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    {
        let accept = Accept {
            app: &app,
            web: &web,
            limits,
            slots: Arc::clone(&slots),
            per_address: Arc::new(PerAddress::default()),
            closing,
            pressure,
            pressed: std::sync::Mutex::new(std::time::Instant::now() - PRESSURE_INTERVAL),
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let loops = futures_util::future::join_all(
            listeners
                .into_iter()
                .map(|listener| accept_loop(listener, &accept, stopped.clone())),
        );
        tokio::pin!(loops);
        tokio::select! {
            _ = shutdown => {}
            _ = &mut loops => {}
        }
        let _ = stop.send(true);
        // The loops drop their listeners as they end.
        loops.await;
    }
    let _ = close.send(true);
    // Every open connection holds a slot until it ends.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN_TIMEOUT, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("shutdown: gave up waiting for requests in flight");
    }
}

/// Asks idle keep-alive connections to close when fewer than this share of
/// the connection cap is free.
const PRESSURE_FREE_SHARE: usize = 8;
/// At most one such request per this interval.
const PRESSURE_INTERVAL: Duration = Duration::from_millis(500);

impl Accept<'_> {
    /// Near the cap, asks every connection to close once idle.
    fn relieve_pressure(&self) {
        if self.slots.available_permits() >= self.limits.max_connections / PRESSURE_FREE_SHARE {
            return;
        }
        let mut pressed = self.pressed.lock().unwrap_or_else(|e| e.into_inner());
        if pressed.elapsed() < PRESSURE_INTERVAL {
            return;
        }
        *pressed = std::time::Instant::now();
        self.pressure.send_modify(|generation| *generation += 1);
        tracing::debug!("near --web.max-connections: idle keep-alive connections are closed");
    }
}

/// Resolves once `stopped` is true (or its sender is gone). Written out
/// rather than `wait_for`, whose guard would make the loop's future !Send.
async fn until_stopped(mut stopped: tokio::sync::watch::Receiver<bool>) {
    while !*stopped.borrow_and_update() {
        if stopped.changed().await.is_err() {
            return;
        }
    }
}

/// Accepts on one listener until `stopped` turns true.
async fn accept_loop(
    listener: TcpListener,
    accept: &Accept<'_>,
    stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut refused_logged = std::time::Instant::now() - Duration::from_secs(60);
    let limits = accept.limits;
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&accept.slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // the semaphore is never closed
            },
            _ = until_stopped(stopped.clone()) => break,
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
            _ = until_stopped(stopped.clone()) => break,
        };
        let Some(slot) = accept
            .per_address
            .admit(remote.ip(), limits.max_per_address)
        else {
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
        let connection = Connection {
            app: Arc::clone(accept.app),
            settings: accept.web.current(),
            limits,
            remote,
            signals: CloseSignals::new(accept.closing.clone(), accept.pressure.subscribe()),
        };
        // After subscribing: this connection, not yet used, ignores pressure
        // until its first request anyway.
        accept.relieve_pressure();
        tokio::spawn(async move {
            connection.serve(stream).await;
            drop(slot);
            drop(permit);
        });
    }
}
