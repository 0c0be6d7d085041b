//! Routing and handlers. Handlers talk to state only through [`Shared`]:
//! the writer handle for changes, read locks for views.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::config::Check;
use crate::metrics::{self, Rejection};
use crate::ping::{self, PingError, PingRequest, MAX_BODY_BYTES};
use crate::shared::Shared;
use crate::writer::{Outcome, PingJob};

pub type HttpResponse = Response<Full<Bytes>>;

/// How long a ping's body may take to arrive after its headers.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// `Content-Type` of the Prometheus text exposition format 0.0.4.
pub const EXPOSITION_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Routes one request. Never fails: every error is a response.
pub async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    remote: SocketAddr,
) -> Result<HttpResponse, Infallible> {
    let path = req.uri().path().to_string();
    let response = if let Some(rest) = path.strip_prefix("/ping/") {
        handle_ping(&shared, req, remote, rest).await
    } else if let Some(check) = path
        .strip_prefix("/api/v1/checks/")
        .and_then(|rest| rest.strip_suffix("/history"))
    {
        match *req.method() {
            Method::GET | Method::HEAD => handle_history(&shared, check, req.uri().query()).await,
            _ => method_not_allowed("GET, HEAD"),
        }
    } else if path == shared.telemetry_path {
        match *req.method() {
            Method::GET | Method::HEAD => handle_metrics(&shared, &req).await,
            _ => method_not_allowed("GET, HEAD"),
        }
    } else {
        match (req.method(), path.as_str()) {
            (&Method::GET | &Method::HEAD, "/") => landing_page(&shared),
            (&Method::GET | &Method::HEAD, "/-/healthy") => healthy(&shared),
            (&Method::GET | &Method::HEAD, "/-/ready") => ready(&shared),
            (&Method::POST | &Method::PUT, "/-/reload") => match crate::reload(&shared).await {
                Ok(checks) => text(StatusCode::OK, format!("Reloaded: {checks} checks.\n")),
                Err(err) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("reload failed, the previous config stays in effect: {err}\n"),
                ),
            },
            (_, "/" | "/-/healthy" | "/-/ready") => method_not_allowed("GET, HEAD"),
            (_, "/-/reload") => method_not_allowed("POST, PUT"),
            _ => text(StatusCode::NOT_FOUND, "Not found.\n"),
        }
    };
    Ok(response)
}

fn text(status: StatusCode, body: impl Into<String>) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body.into())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn method_not_allowed(allow: &str) -> HttpResponse {
    let mut response = text(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("Method not allowed; use {allow}.\n"),
    );
    if let Ok(value) = HeaderValue::from_str(allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

/// A refused ping: counted, and answered with a one-line reason.
fn reject(shared: &Shared, why: Rejection, status: StatusCode, message: String) -> HttpResponse {
    shared.metrics.reject(why);
    let mut response = text(status, format!("{message}\n"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}

async fn handle_ping(
    shared: &Shared,
    req: Request<Incoming>,
    remote: SocketAddr,
    rest: &str,
) -> HttpResponse {
    // Stamped on arrival: batching must not make a ping look later than it was.
    let at = shared.now();
    let (name, action) = rest.split_once('/').unwrap_or((rest, ""));

    if !shared.is_ready() {
        return reject(
            shared,
            Rejection::Unavailable,
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: still loading stored state; retry shortly".into(),
        );
    }
    let config = shared.config();
    let Some(check) = config.check(name) else {
        let shown: String = name.chars().take(64).collect();
        return reject(
            shared,
            Rejection::NotFound,
            StatusCode::NOT_FOUND,
            format!("unknown check {shown:?}; it must be configured before it can be pinged"),
        );
    };
    if !check.methods.allows(req.method()) {
        shared.metrics.reject(Rejection::MethodNotAllowed);
        return method_not_allowed(&check.methods.allow_header());
    }
    if let Err(why) = authorize(check, &req) {
        let mut response = reject(
            shared,
            Rejection::Unauthorized,
            StatusCode::UNAUTHORIZED,
            why.into(),
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"deadman\""),
        );
        return response;
    }

    let header = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header(header::CONTENT_TYPE);
    let user_agent = header(header::USER_AGENT);
    let idempotency_key = req
        .headers()
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_string));
    let idempotency_key = match idempotency_key.transpose() {
        Ok(key) => key,
        Err(_) => {
            return reject(
                shared,
                Rejection::BadRequest,
                StatusCode::BAD_REQUEST,
                "the Idempotency-Key header is not valid text".into(),
            )
        }
    };
    let query = req.uri().query().map(str::to_string);

    let declared_length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return too_large(shared);
    }
    // The header timeout does not cover the body: bound it too, so a client
    // trickling a body cannot hold a connection forever.
    let collected = tokio::time::timeout(
        BODY_READ_TIMEOUT,
        Limited::new(req.into_body(), MAX_BODY_BYTES).collect(),
    )
    .await;
    let body = match collected {
        Err(_) => {
            return reject(
                shared,
                Rejection::BadRequest,
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} seconds",
                    BODY_READ_TIMEOUT.as_secs()
                ),
            )
        }
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(err)) if err.is::<http_body_util::LengthLimitError>() => return too_large(shared),
        Ok(Err(err)) => {
            return reject(
                shared,
                Rejection::BadRequest,
                StatusCode::BAD_REQUEST,
                format!("could not read the request body: {err}"),
            )
        }
    };

    let parsed = ping::parse(&PingRequest {
        action,
        query: query.as_deref(),
        content_type: content_type.as_deref(),
        idempotency_key: idempotency_key.as_deref(),
        body: &body,
    });
    let ping = match parsed {
        Ok(ping) => ping,
        Err(err @ PingError::UnknownAction(_)) => {
            return reject(
                shared,
                Rejection::NotFound,
                StatusCode::NOT_FOUND,
                err.to_string(),
            )
        }
        Err(err @ PingError::BadRequest(_)) => {
            return reject(
                shared,
                Rejection::BadRequest,
                StatusCode::BAD_REQUEST,
                err.to_string(),
            )
        }
    };

    // Only declared expiries are accepted, so input can never create series.
    if let Some((name, _)) = ping
        .expiries
        .iter()
        .find(|(name, _)| !check.expiries.iter().any(|e| &e.name == name))
    {
        let declared: Vec<&str> = check.expiries.iter().map(|e| e.name.as_str()).collect();
        let declared = if declared.is_empty() {
            "none".to_string()
        } else {
            declared.join(", ")
        };
        return reject(
            shared,
            Rejection::BadRequest,
            StatusCode::BAD_REQUEST,
            format!(
                "expires.{name} is not declared for check {:?}; declared expiries: {declared}",
                check.name
            ),
        );
    }

    let kind = ping.kind;
    let job = PingJob {
        check: check.name.clone(),
        ping,
        at,
        remote_addr: remote.ip().to_string(),
        user_agent,
    };
    match shared.writer.ping(job).await {
        Ok(Outcome::Accepted) => text(StatusCode::OK, format!("OK: {} recorded.\n", kind.as_str())),
        Ok(Outcome::Duplicate) => text(
            StatusCode::OK,
            "OK: duplicate rid, already recorded; nothing changed.\n",
        ),
        Err(err) => reject(
            shared,
            Rejection::Unavailable,
            StatusCode::SERVICE_UNAVAILABLE,
            format!("storage unavailable, the ping was NOT recorded; retry: {err}"),
        ),
    }
}

/// `GET /api/v1/checks/{check}/history?limit=N`: the check's most recent
/// pings, newest first, as JSON — what on-call reads to see why a run failed.
async fn handle_history(shared: &Shared, name: &str, query: Option<&str>) -> HttpResponse {
    if !shared.is_ready() {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: loading stored state.\n",
        );
    }
    let config = shared.config();
    let Some(check) = config.check(name) else {
        let shown: String = name.chars().take(64).collect();
        return text(StatusCode::NOT_FOUND, format!("unknown check {shown:?}\n"));
    };
    let kept = config.storage.history;
    let mut limit = kept.min(20);
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match (key.as_ref(), value.parse::<usize>()) {
            ("limit", Ok(n)) if n >= 1 => limit = n.min(kept),
            _ => {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!("the only parameter is limit, a whole number from 1 to {kept}\n"),
                )
            }
        }
    }
    let rows = match shared.writer.history(&check.name, limit).await {
        Ok(rows) => rows,
        Err(err) => {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("storage unavailable: {err}\n"),
            )
        }
    };
    let pings: Vec<serde_json::Value> = rows
        .iter()
        .map(|h| {
            serde_json::json!({
                "at": crate::landing::format_timestamp(h.at),
                "at_seconds": h.at,
                "kind": h.kind.as_str(),
                "rid": h.rid,
                "records": h.records,
                "reason": h.reason.map(|r| r.as_str()),
                "exit_status": h.exit_status,
                "message": h.message,
                "remote_addr": h.remote_addr,
                "user_agent": h.user_agent,
            })
        })
        .collect();
    let body = serde_json::json!({ "check": check.name, "pings": pings }).to_string();
    let mut response = Response::new(Full::new(Bytes::from(body + "\n")));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn too_large(shared: &Shared) -> HttpResponse {
    reject(
        shared,
        Rejection::PayloadTooLarge,
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body is larger than {} KB", MAX_BODY_BYTES / 1024),
    )
}

/// Accepts the check's token as a bearer token, a basic-auth password, or
/// `?token=`. The messages never include what was presented.
fn authorize(check: &Check, req: &Request<Incoming>) -> Result<(), &'static str> {
    let Some(token) = &check.token else {
        return Ok(());
    };
    let presented = presented_token(req);
    match presented {
        None => Err("this check requires a token: send Authorization: Bearer <token>, a basic-auth password, or ?token="),
        Some(p) if token.matches(&p) => Ok(()),
        Some(_) => Err("wrong token for this check"),
    }
}

fn presented_token(req: &Request<Incoming>) -> Option<String> {
    if let Some(auth) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, credentials) = auth.trim().split_once(' ').unwrap_or((auth, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(credentials.trim().to_string());
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(credentials.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())?;
            return decoded
                .split_once(':')
                .map(|(_, password)| password.to_string());
        }
    }
    ping::query_token(req.uri().query())
}

async fn handle_metrics(shared: &Arc<Shared>, req: &Request<Incoming>) -> HttpResponse {
    let gzip = req
        .headers()
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            name.eq_ignore_ascii_case("gzip") && !refused
        });
    // Rendering thousands of checks is CPU work; keep it off the reactor.
    let shared = Arc::clone(shared);
    let rendered = tokio::task::spawn_blocking(move || metrics::render(&shared, gzip)).await;
    match rendered {
        Ok(Ok(exposition)) => {
            let mut response = Response::new(Full::new(Bytes::from(exposition.body)));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(EXPOSITION_CONTENT_TYPE),
            );
            if exposition.gzipped {
                response
                    .headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
                .headers_mut()
                .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            response
        }
        Ok(Err(err)) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")),
        Err(err) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("rendering metrics failed: {err}\n"),
        ),
    }
}

fn healthy(shared: &Shared) -> HttpResponse {
    match shared.storage_fault() {
        None => text(StatusCode::OK, "Healthy.\n"),
        Some(fault) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Unhealthy: storage is failing, pings are refused with 503: {fault}\n"),
        ),
    }
}

fn ready(shared: &Shared) -> HttpResponse {
    if shared.is_ready() {
        text(StatusCode::OK, "Ready.\n")
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: loading stored state.\n",
        )
    }
}

fn landing_page(shared: &Shared) -> HttpResponse {
    let body = crate::landing::render(shared);
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}
