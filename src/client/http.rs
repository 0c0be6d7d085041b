//! One POST to deadman: HTTP/1.1 over hyper, TLS with rustls (ring), the
//! whole exchange bounded by a timeout. No pooling: a wrapper sends two
//! requests a run.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::retry::parse_retry_after;

/// deadman answers in one line; more than this is not deadman.
const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// What deadman answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// `Retry-After` in seconds, on 429 and 503.
    pub retry_after: Option<Duration>,
    /// The first line of the body, deadman's sentence.
    pub text: String,
}

/// Why no answer came.
#[derive(Debug)]
pub enum HttpError {
    BadUrl(String),
    Connect { host: String, error: std::io::Error },
    Tls { host: String, error: std::io::Error },
    Exchange(hyper::Error),
    Timeout(Duration),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::BadUrl(url) => write!(f, "{url:?} is not a URL"),
            HttpError::Connect { host, error } => write!(f, "cannot connect to {host}: {error}"),
            HttpError::Tls { host, error } => write!(f, "TLS with {host} failed: {error}"),
            HttpError::Exchange(error) => write!(f, "the request failed: {error}"),
            HttpError::Timeout(after) => write!(
                f,
                "no answer within {} (--ping-timeout)",
                humantime::format_duration(*after)
            ),
        }
    }
}

impl std::error::Error for HttpError {}

impl HttpError {
    /// Whether trying again cannot help: a bad URL, or a TLS failure in
    /// the handshake's checks (rustls reports a certificate that does not
    /// verify as invalid data), as opposed to a network error.
    pub fn is_final(&self) -> bool {
        match self {
            HttpError::BadUrl(_) => true,
            HttpError::Tls { error, .. } => error.kind() == std::io::ErrorKind::InvalidData,
            _ => false,
        }
    }
}

/// Why TLS cannot be set up: a `--ca-file` that is not usable.
#[derive(Debug)]
pub enum TlsSetupError {
    CaFile { path: String, error: String },
    NoRoots,
}

impl fmt::Display for TlsSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsSetupError::CaFile { path, error } => {
                write!(f, "cannot use the CA file {path}: {error}")
            }
            TlsSetupError::NoRoots => f.write_str(
                "no trusted CA certificates: the system has none installed \
                 (install ca-certificates) and no --ca-file was given",
            ),
        }
    }
}

impl std::error::Error for TlsSetupError {}

/// Sends pings; holds the TLS settings, made once.
#[derive(Clone)]
pub struct Client {
    /// `None` for plain http:// targets, which need no trust store.
    tls: Option<tokio_rustls::TlsConnector>,
}

impl Client {
    /// Plain HTTP only.
    pub fn plain() -> Client {
        Client { tls: None }
    }

    /// HTTPS trusting the system's roots and `ca_file`'s certificates.
    pub fn https(ca_file: Option<&Path>) -> Result<Client, TlsSetupError> {
        let mut roots = rustls::RootCertStore::empty();
        // Unreadable system certificates are skipped: one broken file in
        // /etc/ssl/certs must not stop the ping.
        let (_added, _ignored) =
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if let Some(path) = ca_file {
            let ca_error = |error: String| TlsSetupError::CaFile {
                path: path.display().to_string(),
                error,
            };
            let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
            let certs = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ca_error(format!("not PEM certificates ({e})")))?;
            if certs.is_empty() {
                return Err(ca_error("it holds no PEM certificate".into()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| ca_error(e.to_string()))?;
            }
        }
        if roots.is_empty() {
            return Err(TlsSetupError::NoRoots);
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::CaFile {
            path: String::new(),
            error: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Client {
            tls: Some(tokio_rustls::TlsConnector::from(Arc::new(config))),
        })
    }

    /// POSTs a form body to `url`, with the token as a bearer token.
    pub async fn post_form(
        &self,
        url: &str,
        token: Option<&str>,
        form: String,
        timeout: Duration,
    ) -> Result<Answer, HttpError> {
        match tokio::time::timeout(timeout, self.exchange(url, token, form)).await {
            Ok(result) => result,
            Err(_) => Err(HttpError::Timeout(timeout)),
        }
    }

    async fn exchange(
        &self,
        url: &str,
        token: Option<&str>,
        form: String,
    ) -> Result<Answer, HttpError> {
        let uri: Uri = url.parse().map_err(|_| HttpError::BadUrl(url.into()))?;
        let (Some(authority), Some(host)) = (uri.authority().cloned(), uri.host()) else {
            return Err(HttpError::BadUrl(url.into()));
        };
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        // IPv6 literals come bracketed in URLs and bare in sockets and SNI.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|error| HttpError::Connect {
                host: format!("{authority}"),
                error,
            })?;
        let _ = tcp.set_nodelay(true);
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        let mut request = Request::post(path)
            .header(header::HOST, authority.as_str())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(
                header::USER_AGENT,
                concat!("deadman/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(form)))
            .map_err(|_| HttpError::BadUrl(url.into()))?;
        if let Some(token) = token {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| HttpError::BadUrl("a token with control characters".into()))?;
            request.headers_mut().insert(header::AUTHORIZATION, value);
        }
        match (&self.tls, https) {
            (Some(tls), true) => {
                let name = ServerName::try_from(host.clone()).map_err(|_| {
                    HttpError::BadUrl(format!("{host} is not a valid TLS server name"))
                })?;
                let stream = tls
                    .connect(name, tcp)
                    .await
                    .map_err(|error| HttpError::Tls {
                        host: authority.to_string(),
                        error,
                    })?;
                send(stream, request).await
            }
            (None, true) => Err(HttpError::BadUrl(format!(
                "{url} is https:// but TLS is not set up"
            ))),
            (_, false) => send(tcp, request).await,
        }
    }
}

async fn send<S>(stream: S, request: Request<Full<Bytes>>) -> Result<Answer, HttpError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(HttpError::Exchange)?;
    // The connection is driven beside the request; it ends with it.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(HttpError::Exchange)?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    // A body too long or cut off still leaves the status to go by.
    let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    Ok(Answer {
        status,
        retry_after,
        text,
    })
}
