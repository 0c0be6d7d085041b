//! Reading a ping request: the head's parts, and the body bounded in size
//! and time, with `multipart/form-data` decoded into fields.

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Body;
use hyper::header;
use hyper::{Request, StatusCode};

use super::response::Refusal;
use crate::metrics::Rejection;
use crate::model::ping::{media_type, MAX_BODY_BYTES};

/// How long a ping's body may take to arrive after its headers.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Why a request body could not be read, whatever the body type: hyper's
/// `Incoming` in the server, `Full<Bytes>` in unit tests.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// The parts of the request head a ping uses.
pub struct Head {
    /// Parameters may come in the query string.
    pub query: Option<String>,
    /// Decides how the body is read (JSON, form, text).
    pub content_type: Option<String>,
    /// Kept in the history, to tell integrations apart.
    pub user_agent: Option<String>,
    /// An alternative to `rid` for clients that set headers.
    pub idempotency_key: Option<String>,
}

impl Head {
    pub fn read<B>(req: &Request<B>) -> Result<Head, Refusal> {
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
        // Both framings at once is how requests are smuggled past proxies
        // that pick the other one: refuse rather than guess.
        if req.headers().contains_key(header::CONTENT_LENGTH)
            && req.headers().contains_key(header::TRANSFER_ENCODING)
        {
            return Err(Refusal::bad_request(
                "the request has both Content-Length and Transfer-Encoding; send one",
            ));
        }
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
pub async fn read_body<B>(req: Request<B>) -> Result<Bytes, Refusal>
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

/// The fields of a `multipart/form-data` body. A part that is a file is
/// refused: ping parameters are plain fields, and a file would be ignored.
pub async fn multipart_fields(
    body: Bytes,
    content_type: &str,
) -> Result<Vec<(String, String)>, Refusal> {
    let malformed =
        |e: multer::Error| Refusal::bad_request(format!("malformed multipart/form-data body: {e}"));
    let boundary = multer::parse_boundary(content_type).map_err(malformed)?;
    let stream =
        futures_util::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut fields = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        let Some(name) = field.name().map(str::to_string) else {
            return Err(Refusal::bad_request(
                "a multipart/form-data part has no name; name every field",
            ));
        };
        if let Some(file) = field.file_name() {
            return Err(Refusal::bad_request(format!(
                "multipart part {name:?} is a file ({file:?}); ping parameters are plain \
                 form fields, send the text as a field instead"
            )));
        }
        fields.push((name, field.text().await.map_err(malformed)?));
    }
    Ok(fields)
}

/// Whether the body is `multipart/form-data`.
pub fn is_multipart(head: &Head) -> bool {
    media_type(head.content_type.as_deref()) == "multipart/form-data"
}
