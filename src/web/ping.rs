//! `/ping/{check}[/{action}]`: an HTTP request → a durable ping, as a
//! sequence of steps that each either pass or refuse with a [`Refusal`]:
//! admit (ready?), find the check, allow the method, authorize, read the
//! body, parse, submit.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Body;
use hyper::header::{self, HeaderValue};
use hyper::{Request, StatusCode};

use super::response::{text, HttpResponse, Refusal};
use crate::auth;
use crate::clock::{Clock, Stamp};
use crate::config::Check;
use crate::live_config::LiveConfig;
use crate::metrics::{Rejection, Rejections};
use crate::model::ping::{self, PingError, PingRequest, MAX_BODY_BYTES};
use crate::model::{Kind, Ping};
use crate::store::working_set::{Outcome, PingJob};
use crate::store::writer::WriterHandle;

/// How long a ping's body may take to arrive after its headers.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

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
}

/// Why a request body could not be read, whatever the body type: hyper's
/// `Incoming` in the server, `Full<Bytes>` in unit tests.
type BodyError = Box<dyn std::error::Error + Send + Sync>;

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
        Ok((kind, Outcome::Accepted)) => {
            text(StatusCode::OK, format!("OK: {} recorded.", kind.as_str()))
        }
        Ok((_, Outcome::Duplicate)) => text(
            StatusCode::OK,
            "OK: duplicate rid, already recorded; nothing changed.",
        ),
        Err(refusal) => {
            deps.rejections.count(refusal.rejection);
            refusal.into_response()
        }
    }
}

async fn record<B>(
    deps: &PingDeps<'_>,
    req: Request<B>,
    remote: SocketAddr,
    rest: &str,
    at: Stamp,
) -> Result<(Kind, Outcome), Refusal>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BodyError>,
{
    let (name, action) = rest.split_once('/').unwrap_or((rest, ""));
    admit(deps.writer)?;
    let config = deps.config.current();
    let check = find(config.check(name), name)?;
    if !check.methods.allows(req.method()) {
        return Err(Refusal::method_not_allowed(&check.methods.allow_header()));
    }
    authorize(check, &req)?;
    let head = Head::read(&req)?;
    let body = read_body(req).await?;
    let ping = parse(check, action, &head, &body)?;
    let kind = ping.kind;
    let job = PingJob {
        check: check.name.clone(),
        ping,
        at,
        remote_addr: remote.ip().to_string(),
        user_agent: head.user_agent,
    };
    let outcome = deps.writer.ping(job).await.map_err(|err| {
        Refusal::unavailable(format!(
            "storage unavailable, the ping was NOT recorded; retry: {err}"
        ))
    })?;
    Ok((kind, outcome))
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

fn authorize<B>(check: &Check, req: &Request<B>) -> Result<(), Refusal> {
    auth::authorize(check.token.as_ref(), req.headers(), req.uri().query()).map_err(|why| Refusal {
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

/// The parts of the request head a ping uses.
struct Head {
    /// Parameters may come in the query string.
    query: Option<String>,
    /// Decides how the body is read (JSON, form, text).
    content_type: Option<String>,
    /// Kept in the history, to tell integrations apart.
    user_agent: Option<String>,
    /// An alternative to `rid` for clients that set headers.
    idempotency_key: Option<String>,
}

impl Head {
    fn read<B>(req: &Request<B>) -> Result<Head, Refusal> {
        let header = |name: header::HeaderName| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let idempotency_key = req
            .headers()
            .get("idempotency-key")
            .map(|v| v.to_str().map(str::to_string))
            .transpose()
            .map_err(|_| Refusal::bad_request("the Idempotency-Key header is not valid text"))?;
        let declared_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared_length.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(too_large());
        }
        Ok(Head {
            query: req.uri().query().map(str::to_string),
            content_type: header(header::CONTENT_TYPE),
            user_agent: header(header::USER_AGENT),
            idempotency_key,
        })
    }
}

/// Reads the body, bounded in size and in time: the header timeout does not
/// cover the body, and a client trickling one must not hold a connection
/// forever.
async fn read_body<B>(req: Request<B>) -> Result<Bytes, Refusal>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BodyError>,
{
    let collected = tokio::time::timeout(
        BODY_READ_TIMEOUT,
        Limited::new(req.into_body(), MAX_BODY_BYTES).collect(),
    )
    .await;
    match collected {
        Err(_) => Err(Refusal::new(
            Rejection::BadRequest,
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} seconds",
                BODY_READ_TIMEOUT.as_secs()
            ),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(err)) if err.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(err)) => Err(Refusal::bad_request(format!(
            "could not read the request body: {err}"
        ))),
    }
}

fn too_large() -> Refusal {
    Refusal::new(
        Rejection::PayloadTooLarge,
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body is larger than {} KB", MAX_BODY_BYTES / 1024),
    )
}

/// Parses the ping and checks what only the config can: that every
/// reported expiry is declared, so input can never create series.
fn parse(check: &Check, action: &str, head: &Head, body: &[u8]) -> Result<Ping, Refusal> {
    let ping = ping::parse(&PingRequest {
        action,
        query: head.query.as_deref(),
        content_type: head.content_type.as_deref(),
        idempotency_key: head.idempotency_key.as_deref(),
        body,
    })
    .map_err(|err| match err {
        PingError::UnknownAction(_) => {
            Refusal::new(Rejection::NotFound, StatusCode::NOT_FOUND, err.to_string())
        }
        PingError::BadRequest(_) => Refusal::bad_request(err.to_string()),
    })?;
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
        return Err(Refusal::bad_request(format!(
            "expires.{name} is not declared for check {:?}; declared expiries: {declared}",
            check.name
        )));
    }
    Ok(ping)
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
        assert_eq!(first, (200, "OK: success recorded.\n".into()));
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
        assert_eq!(rejected(&app, Rejection::BadRequest), 2);
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
