//! `/ping/{check}[/{action}]`: an HTTP request → a durable ping, as a
//! sequence of steps that each either pass or refuse with a [`Refusal`]:
//! admit (ready?), find the check, allow the method, read the head and the
//! body, parse, authorize, submit. Every refusal is counted (per check when
//! the check exists) and logged.

use std::net::SocketAddr;

use bytes::Bytes;
use hyper::body::Body;
use hyper::header::{self, HeaderValue};
use hyper::{Request, StatusCode};

use super::ping_body::{is_multipart, multipart_fields, read_body, BodyError, Head};
use super::rate_limit::{retry_after_seconds, RateLimits, REFUSAL_DELAY};
use super::response::{text, HttpResponse, Refusal};
use crate::auth::{self, AuthError};
use crate::clock::{Clock, Stamp};
use crate::config::Check;
use crate::live_config::LiveConfig;
use crate::metrics::{Rejection, Rejections};
use crate::model::ping::{self, Parsed, PingError, PingRequest};
use crate::store::working_set::{Outcome, PingJob};
use crate::store::writer::WriterHandle;

/// What the ping handler needs, and nothing else.
pub struct PingDeps<'a> {
    /// To find the check, its methods, token and declared expiries.
    pub config: &'a LiveConfig,
    /// Readiness, and where the ping is made durable.
    pub writer: &'a WriterHandle,
    /// The arrival stamp.
    pub clock: &'a dyn Clock,
    /// Every refusal is counted by reason.
    pub rejections: &'a Rejections,
    /// Pings per check, failed tokens per address.
    pub limits: &'a RateLimits,
}

/// A refused ping: which configured check it was for, if any.
struct Refused {
    check: Option<String>,
    refusal: Refusal,
}

impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Self {
        Refused {
            check: None,
            refusal,
        }
    }
}

/// Handles one ping; `rest` is the path after `/ping/`.
pub async fn handle<B>(
    deps: PingDeps<'_>,
    req: Request<B>,
    remote: SocketAddr,
    rest: &str,
) -> HttpResponse
where
    B: Body<Data = Bytes>,
    B::Error: Into<BodyError>,
{
    // Stamped on arrival: batching must not make a ping look later than it was.
    let at = deps.clock.now();
    match record(&deps, req, remote, rest, at).await {
        Ok(recorded) => text(StatusCode::OK, recorded),
        Err(Refused { check, refusal }) => {
            deps.rejections.count(refusal.rejection, check.as_deref());
            // Traceable without a packet capture; the message never holds
            // a token (auth's sentences do not quote what was presented).
            // At info up to 10 lines a second, so a flood stays readable.
            let check = check.as_deref().unwrap_or("(unknown)");
            let (reason, status) = (refusal.rejection.as_str(), refusal.status.as_u16());
            let remote = remote.ip();
            // `detail`, not `message`: logfmt already uses `message` for
            // the event itself, and two keys of one name confuse parsers.
            let detail = &refusal.message;
            if deps.limits.may_log_rejection(at.mono) {
                tracing::info!(check, reason, status, %remote, %detail, "ping rejected");
            } else {
                tracing::debug!(check, reason, status, %remote, %detail, "ping rejected");
            }
            if refusal.status == StatusCode::TOO_MANY_REQUESTS {
                // A flood over keep-alive connections would otherwise get
                // its 429s as fast as it can send, taking the CPU that
                // pings of other checks need; delayed, each connection
                // costs a few requests a second.
                tokio::time::sleep(REFUSAL_DELAY).await;
            }
            refusal.into_response()
        }
    }
}

/// Returns the 200 body: what was recorded.
async fn record<B>(
    deps: &PingDeps<'_>,
    req: Request<B>,
    remote: SocketAddr,
    rest: &str,
    at: Stamp,
) -> Result<String, Refused>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BodyError>,
{
    let (name, action) = match rest.split_once('/') {
        Some((name, action)) => (name, Some(action)),
        None => (rest, None),
    };
    admit(deps.writer)?;
    let config = deps.config.current();
    let check = find(config.check(name), name)?;
    record_for(deps, check, req, remote, action, at)
        .await
        .map_err(|refusal| Refused {
            check: Some(check.name.clone()),
            refusal,
        })
}

/// The steps once the check is known.
async fn record_for<B>(
    deps: &PingDeps<'_>,
    check: &Check,
    req: Request<B>,
    remote: SocketAddr,
    action: Option<&str>,
    at: Stamp,
) -> Result<String, Refusal>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BodyError>,
{
    allow(deps.limits, check, &req, action, at)?;
    let Read {
        head,
        headers,
        parsed,
    } = read_and_parse(check, req, action.unwrap_or("")).await?;
    // A parse error is only shown to a client that is authorized.
    let body_token = parsed.as_ref().ok().and_then(|p| p.body_token.as_deref());
    authorize_from(deps.limits, check, remote, at, &headers, &head, body_token)?;
    let Parsed {
        ping,
        body_as_message,
        ..
    } = parsed?;
    let job = PingJob {
        check: check.name.clone(),
        ping,
        at,
        remote_addr: remote.ip().to_string(),
        user_agent: head.user_agent,
    };
    submit(deps.writer, job, body_as_message).await
}

/// The method, the check's rate limit, and the action's shape, before
/// anything is read.
fn allow<B>(
    limits: &RateLimits,
    check: &Check,
    req: &Request<B>,
    action: Option<&str>,
    at: Stamp,
) -> Result<(), Refusal> {
    if !check.methods.allows(req.method()) {
        return Err(Refusal::method_not_allowed(&check.methods.allow_header()));
    }
    limits
        .admit_ping(&check.name, check.rate_limit, at.mono)
        .map_err(|wait| {
            let limit = check.rate_limit.map(|l| l.describe()).unwrap_or_default();
            too_many(
                format!(
                    "check {:?} accepts at most {limit} (its rate_limit); slow down",
                    check.name
                ),
                wait,
            )
        })?;
    // `/ping/x/` is not `/ping/x`: an empty action is unknown, not success.
    if action == Some("") {
        return Err(unknown_action(PingError::UnknownAction(String::new())));
    }
    Ok(())
}

/// A request read: its head, the headers authorization needs, and the
/// ping parsed from it (or why not, kept until the client is authorized).
struct Read {
    head: Head,
    /// Empty for a check without a token: nothing else reads them.
    headers: hyper::HeaderMap,
    parsed: Result<Parsed, Refusal>,
}

/// Reads the head and the body and parses the ping. Parsing comes before
/// authorizing because a token may be in the body.
async fn read_and_parse<B>(check: &Check, req: Request<B>, action: &str) -> Result<Read, Refusal>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BodyError>,
{
    let head = Head::read(&req)?;
    let headers = match check.token {
        Some(_) => req.headers().clone(),
        None => hyper::HeaderMap::new(),
    };
    let body = read_body(req).await?;
    let parsed = if is_multipart(&head) {
        let content_type = head.content_type.as_deref().unwrap_or_default();
        match multipart_fields(body.clone(), content_type).await {
            Ok(fields) => parse(check, action, &head, &body, Some(&fields)),
            Err(refusal) => Err(refusal),
        }
    } else {
        parse(check, action, &head, &body, None)
    };
    Ok(Read {
        head,
        headers,
        parsed,
    })
}

/// The token check, behind the per-address budget of failed tokens.
fn authorize_from(
    limits: &RateLimits,
    check: &Check,
    remote: SocketAddr,
    at: Stamp,
    headers: &hyper::HeaderMap,
    head: &Head,
    body_token: Option<&str>,
) -> Result<(), Refusal> {
    if check.token.is_some() {
        limits.may_try_token(remote.ip(), at.mono).map_err(|wait| {
            too_many(
                "too many wrong or missing tokens from this address; wait and retry",
                wait,
            )
        })?;
    }
    authorize(check, headers, head.query.as_deref(), body_token)
        .inspect_err(|_| limits.token_failed(remote.ip(), at.mono))
}

/// Makes the ping durable and says what was recorded.
async fn submit(
    writer: &WriterHandle,
    job: PingJob,
    body_as_message: Option<String>,
) -> Result<String, Refusal> {
    let summary = job.ping.summary();
    let outcome = writer.ping(job).await.map_err(|err| {
        Refusal::unavailable(format!(
            "storage unavailable, the ping was NOT recorded; retry: {err}"
        ))
    })?;
    Ok(match (outcome, body_as_message) {
        (Outcome::Duplicate, _) => "OK: duplicate rid, already recorded; nothing changed.".into(),
        (Outcome::Accepted, None) => format!("OK: {summary}."),
        (Outcome::Accepted, Some(media_type)) => format!(
            "OK: {summary}. The {media_type} body was kept as the message; no parameters \
             were read from it (send them in the query string, or as JSON or a form)."
        ),
    })
}

/// Nothing may act on state before it is loaded.
fn admit(writer: &WriterHandle) -> Result<(), Refusal> {
    if writer.is_ready() {
        Ok(())
    } else {
        Err(Refusal::not_ready())
    }
}

fn find<'a>(check: Option<&'a std::sync::Arc<Check>>, name: &str) -> Result<&'a Check, Refusal> {
    check.map(|c| c.as_ref()).ok_or_else(|| {
        let shown: String = name.chars().take(64).collect();
        Refusal::new(
            Rejection::NotFound,
            StatusCode::NOT_FOUND,
            format!("unknown check {shown:?}; it must be configured before it can be pinged"),
        )
    })
}

/// Every token presented must be the check's: the header or `?token=`
/// (as auth reads them) and one sent in the body. A wrong one anywhere is
/// a 401, even beside a right one, so a mistake is never silently ignored.
fn authorize(
    check: &Check,
    headers: &hyper::HeaderMap,
    query: Option<&str>,
    body_token: Option<&str>,
) -> Result<(), Refusal> {
    let token = check.token.as_ref();
    let result = match (token, body_token) {
        (None, _) => Ok(()),
        (Some(token), Some(presented)) if !token.matches(presented) => Err(AuthError::Wrong),
        (Some(_), Some(_)) => match auth::authorize(token, headers, query) {
            Err(AuthError::Missing) => Ok(()),
            other => other,
        },
        (Some(_), None) => auth::authorize(token, headers, query),
    };
    result.map_err(|why| Refusal {
        header: Some((
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"deadman\""),
        )),
        ..Refusal::new(
            Rejection::Unauthorized,
            StatusCode::UNAUTHORIZED,
            why.to_string(),
        )
    })
}

/// A 429 with `Retry-After`.
fn too_many(message: impl Into<String>, wait: std::time::Duration) -> Refusal {
    Refusal {
        header: Some((
            header::RETRY_AFTER,
            HeaderValue::from(retry_after_seconds(wait)),
        )),
        ..Refusal::new(
            Rejection::RateLimited,
            StatusCode::TOO_MANY_REQUESTS,
            message,
        )
    }
}

fn unknown_action(err: PingError) -> Refusal {
    Refusal::new(Rejection::NotFound, StatusCode::NOT_FOUND, err.to_string())
}

/// Parses the ping and checks what only the config can: that every
/// reported expiry and value is declared, so input can never create series.
fn parse(
    check: &Check,
    action: &str,
    head: &Head,
    body: &[u8],
    multipart: Option<&[(String, String)]>,
) -> Result<Parsed, Refusal> {
    let parsed = ping::parse(&PingRequest {
        action,
        query: head.query.as_deref(),
        content_type: head.content_type.as_deref(),
        idempotency_key: head.idempotency_key.as_deref(),
        body,
        multipart,
    })
    .map_err(|err| match err {
        PingError::UnknownAction(_) => unknown_action(err),
        PingError::BadRequest(_) => Refusal::bad_request(err.to_string()),
    })?;
    let expiries: Vec<&str> = check.expiries.iter().map(|e| e.name.as_str()).collect();
    let reported = parsed.ping.expiries.iter().map(|(name, _)| name.as_str());
    undeclared(check, "expires", "expiries", reported, &expiries)?;
    let values: Vec<&str> = check.values.iter().map(|v| v.name.as_str()).collect();
    let reported = parsed.ping.values.iter().map(|(name, _)| name.as_str());
    undeclared(check, "value", "values", reported, &values)?;
    Ok(parsed)
}

/// A 400 for the first `reported` name that is not `declared`, naming the
/// check and the names it does declare.
fn undeclared<'a>(
    check: &Check,
    prefix: &str,
    what: &str,
    mut reported: impl Iterator<Item = &'a str>,
    declared: &[&str],
) -> Result<(), Refusal> {
    let Some(name) = reported.find(|name| !declared.contains(name)) else {
        return Ok(());
    };
    let name: String = name.chars().take(64).collect();
    let declared = match declared.is_empty() {
        true => "none".to_string(),
        false => declared.join(", "),
    };
    Err(Refusal::bad_request(format!(
        "{prefix}.{name} is not declared for check {:?}; declared {what}: {declared}",
        check.name
    )))
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::super::test_app::{read, request, TestApp};
    use super::*;
    use crate::store::{Batch, HistoryRow, MemoryStore, Snapshot, Store, StoreError};

    async fn ping(
        app: &TestApp,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        let deps = PingDeps {
            config: &app.app.config,
            writer: &app.app.writer,
            clock: app.clock.as_ref(),
            rejections: &app.app.metrics.rejections,
            limits: &app.app.limits,
        };
        let rest = uri
            .trim_start_matches("/ping/")
            .split('?')
            .next()
            .unwrap_or_default();
        let remote: SocketAddr = "127.0.0.1:9".parse().expect("address");
        read(handle(deps, request(method, uri, headers, ""), remote, rest).await).await
    }

    fn rejected(app: &TestApp, why: Rejection) -> u64 {
        app.app
            .metrics
            .registry
            .gather()
            .iter()
            .filter(|f| f.name() == "deadman_pings_rejected_total")
            .flat_map(|f| f.get_metric())
            .filter(|m| m.get_label().iter().any(|l| l.value() == why.as_str()))
            .map(|m| m.get_counter().value() as u64)
            .sum()
    }

    #[tokio::test]
    async fn accepted_then_duplicate_and_published() {
        let app = TestApp::ready().await;
        let first = ping(&app, "POST", "/ping/orders?records=5&rid=r1", &[]).await;
        assert_eq!(
            first,
            (200, "OK: success recorded (records=5, rid=r1).\n".into())
        );
        let again = ping(&app, "POST", "/ping/orders?records=5&rid=r1", &[]).await;
        assert_eq!(
            again,
            (
                200,
                "OK: duplicate rid, already recorded; nothing changed.\n".into()
            )
        );
        let snapshot = app.app.state.snapshot();
        let orders = snapshot.get("orders").expect("published");
        assert_eq!(orders.state.records, 5);
        assert_eq!(orders.state.last_success, super::super::test_app::T0);
    }

    #[tokio::test]
    async fn each_refusal_has_its_status_sentence_and_counter() {
        let app = TestApp::ready().await;
        let (status, body) = ping(&app, "POST", "/ping/nope", &[]).await;
        assert_eq!(status, 404);
        assert!(body.starts_with("unknown check \"nope\""), "{body}");
        assert_eq!(rejected(&app, Rejection::NotFound), 1);

        let (status, body) = ping(&app, "GET", "/ping/payroll", &[]).await;
        assert_eq!(
            (status, body.as_str()),
            (405, "Method not allowed; use POST.\n")
        );
        assert_eq!(rejected(&app, Rejection::MethodNotAllowed), 1);

        let (status, body) = ping(&app, "POST", "/ping/payroll", &[]).await;
        assert_eq!(status, 401);
        assert!(body.contains("requires a token"), "{body}");
        let (status, _) = ping(
            &app,
            "POST",
            "/ping/payroll",
            &[("authorization", "Bearer x")],
        )
        .await;
        assert_eq!(status, 401);
        assert_eq!(rejected(&app, Rejection::Unauthorized), 2);
        let (status, _) = ping(
            &app,
            "POST",
            "/ping/payroll",
            &[("authorization", "Bearer s3cret")],
        )
        .await;
        assert_eq!(status, 200);

        let (status, body) = ping(&app, "POST", "/ping/orders?records=-1", &[]).await;
        assert_eq!(
            (status, body.as_str()),
            (400, "records must be a non-negative integer, not \"-1\"\n")
        );
        let (status, _) = ping(
            &app,
            "POST",
            "/ping/orders?expires.token=2027-01-01T00:00:00Z",
            &[],
        )
        .await;
        assert_eq!(status, 400, "undeclared expiry");
        let (status, body) = ping(&app, "POST", "/ping/orders?value.unmatched=1", &[]).await;
        assert_eq!(
            (status, body.as_str()),
            (
                400,
                "value.unmatched is not declared for check \"orders\"; declared values: none\n"
            )
        );
        assert_eq!(rejected(&app, Rejection::BadRequest), 3);
        let (status, _) = ping(&app, "POST", "/ping/orders/finish", &[]).await;
        assert_eq!(status, 404);
    }

    /// A store whose load waits until the test lets it go.
    struct GatedStore(mpsc::Receiver<()>);

    impl Store for GatedStore {
        fn load(&mut self) -> Result<Snapshot, StoreError> {
            let _ = self.0.recv();
            MemoryStore.load()
        }
        fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
            MemoryStore.commit(batch)
        }
        fn history(&mut self, check: &str, limit: usize) -> Result<Vec<HistoryRow>, StoreError> {
            MemoryStore.history(check, limit)
        }
    }

    #[tokio::test]
    async fn not_ready_is_a_503_that_says_retry() {
        let (release, gate) = mpsc::channel();
        let app = TestApp::with_store(Box::new(GatedStore(gate)));
        let (status, body) = ping(&app, "POST", "/ping/orders", &[]).await;
        assert_eq!(
            (status, body.as_str()),
            (
                503,
                "not ready: still loading stored state; retry shortly\n"
            )
        );
        assert_eq!(rejected(&app, Rejection::Unavailable), 1);
        let _ = release.send(());
    }
}
