//! One accepted connection: the TLS handshake when the web config asks for
//! TLS (with a plain answer for a client that spoke HTTP to it), the
//! framing guard, the write timeout, and hyper serving requests on it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::framing::FramingGuard;
use super::limits::ConnectionLimits;
use super::response::{text, HttpResponse};
use super::router::{add_headers, route, App};
use super::write_timeout::WriteTimeout;
use crate::web_config::tls::client_san_allowed;
use crate::web_config::watch::WebSettings;

/// The first byte of every TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// What Go's servers (and so other exporters) answer to plain HTTP on a
/// TLS port: a readable sentence instead of a handshake failure.
const PLAIN_HTTP_ON_TLS: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; \
charset=utf-8\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// Everything one connection needs.
pub struct Connection {
    pub app: Arc<App>,
    /// The web settings when the connection was accepted: TLS is decided
    /// per connection, so a rotated certificate applies to the next one.
    pub settings: Arc<WebSettings>,
    pub limits: ConnectionLimits,
    pub remote: SocketAddr,
    /// When to stop keeping the connection alive: shutdown, or too many
    /// connections open.
    pub signals: CloseSignals,
}

/// What asks a connection to close once it is idle (hyper's graceful
/// shutdown: a request in flight is answered first).
pub struct CloseSignals {
    /// True at shutdown.
    closing: tokio::sync::watch::Receiver<bool>,
    /// Bumped when the server nears its connection cap.
    pressure: tokio::sync::watch::Receiver<u64>,
}

impl CloseSignals {
    pub fn new(
        closing: tokio::sync::watch::Receiver<bool>,
        pressure: tokio::sync::watch::Receiver<u64>,
    ) -> CloseSignals {
        CloseSignals { closing, pressure }
    }

    /// Resolves when a signal fires, saying which.
    async fn fired(&mut self) -> Signal {
        if *self.closing.borrow_and_update() {
            return Signal::Closing;
        }
        tokio::select! {
            changed = self.closing.changed() => match changed {
                Ok(()) => Signal::Closing,
                Err(_) => Signal::Gone,
            },
            changed = self.pressure.changed() => match changed {
                Ok(()) => Signal::Pressure,
                Err(_) => Signal::Gone,
            },
        }
    }
}

/// Why a connection was asked to close.
enum Signal {
    /// Shutdown.
    Closing,
    /// Too many open connections.
    Pressure,
    /// The server is gone; nothing more will fire.
    Gone,
}

impl Connection {
    /// Serves the connection until the client or shutdown closes it.
    pub async fn serve(self, stream: TcpStream) {
        let Some(tls) = self.settings.tls.clone() else {
            return self.serve_http(stream).await;
        };
        let timeout = self.limits.header_read_timeout;
        let mut first = [0u8; 1];
        match tokio::time::timeout(timeout, stream.peek(&mut first)).await {
            Ok(Ok(1)) if first[0] == TLS_HANDSHAKE => {}
            Ok(Ok(1)) => return answer_plain_http(stream, timeout).await,
            _ => return, // closed, failed or silent: nothing to answer
        }
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let stream = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => {
                tracing::debug!(remote = %self.remote, error = %err, "TLS handshake failed");
                return;
            }
            Err(_) => return,
        };
        let peer = stream.get_ref().1.peer_certificates();
        if !client_san_allowed(peer, &self.settings.allowed_sans) {
            tracing::info!(
                remote = %self.remote,
                "TLS client refused: its certificate has none of client_allowed_sans"
            );
            return;
        }
        self.serve_http(stream).await
    }

    async fn serve_http<S>(self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (stream, ambiguous) = FramingGuard::new(stream);
        let requests = Arc::new(AtomicU64::new(0));
        let served = Arc::clone(&requests);
        let (app, remote, settings) = (self.app, self.remote, self.settings);
        let service = service_fn(move |req| {
            // hyper calls the service once per request head, in order, so
            // this counts the same requests the framing guard counts.
            let position = requests.fetch_add(1, Ordering::Relaxed) + 1;
            let ambiguous = ambiguous.is_ambiguous(position);
            let app = Arc::clone(&app);
            let settings = Arc::clone(&settings);
            async move {
                if ambiguous {
                    let mut response = ambiguous_framing();
                    add_headers(&mut response, &settings.headers);
                    return Ok(response);
                }
                route(app, req, remote).await
            }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout)
            .keep_alive(true)
            .serve_connection(
                WriteTimeout::new(TokioIo::new(stream), self.limits.write_timeout),
                service,
            );
        tokio::pin!(conn);
        let mut signals = self.signals;
        let mut listening = true;
        let result = loop {
            tokio::select! {
                result = conn.as_mut() => break result,
                fired = signals.fired(), if listening => match fired {
                    // A connection that has not had its first request yet
                    // is a client about to be served, not an idle one.
                    Signal::Pressure if served.load(Ordering::Relaxed) == 0 => {}
                    Signal::Closing | Signal::Pressure => {
                        listening = false;
                        conn.as_mut().graceful_shutdown();
                    }
                    Signal::Gone => listening = false,
                }
            }
        };
        if let Err(err) = result {
            tracing::debug!(%remote, error = %err, "connection ended with an error");
        }
    }
}

/// Says in plain HTTP that this port speaks TLS. The request is read
/// (up to 64 KiB, briefly) before closing: closing with unread input makes
/// the kernel send a reset, which can destroy the answer before the client
/// reads it.
async fn answer_plain_http(mut stream: TcpStream, timeout: std::time::Duration) {
    use tokio::io::AsyncReadExt as _;
    let _ = tokio::time::timeout(timeout, stream.write_all(PLAIN_HTTP_ON_TLS)).await;
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let drain = async {
        let mut read = 0;
        while read < 64 * 1024 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), drain).await;
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
