//! Every response deadman sends is built here: one builder
//! ([`respond`]) and the shapes on top of it, and [`Refusal`], the one way a
//! handler says no (status + a sentence naming what was wrong, plus the
//! header that status calls for).

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};

use crate::metrics::Rejection;

pub type HttpResponse = Response<Full<Bytes>>;

/// The one "not ready" sentence: pings, `/-/ready`, the API and the page.
pub const NOT_READY: &str = "not ready: still loading stored state; retry shortly";

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_SECONDS: &str = "5";

/// The one response builder.
pub fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> HttpResponse {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECONDS),
        );
    }
    response
}

/// Plain text; every text body ends with a newline.
pub fn text(status: StatusCode, body: impl Into<String>) -> HttpResponse {
    let mut body = body.into();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    respond(status, "text/plain; charset=utf-8", Bytes::from(body))
}

pub fn html(body: String) -> HttpResponse {
    html_with_status(StatusCode::OK, body)
}

pub fn html_with_status(status: StatusCode, body: String) -> HttpResponse {
    respond(status, "text/html; charset=utf-8", Bytes::from(body))
}

pub fn json(value: &serde_json::Value) -> HttpResponse {
    let body = value.to_string() + "\n";
    respond(StatusCode::OK, "application/json", Bytes::from(body))
}

pub fn not_ready() -> HttpResponse {
    text(StatusCode::SERVICE_UNAVAILABLE, NOT_READY)
}

pub fn method_not_allowed(allow: &str) -> HttpResponse {
    Refusal::method_not_allowed(allow).into_response()
}

/// A request refused: what to count it as (for pings), the status, and
/// the sentence that says why.
#[derive(Debug)]
pub struct Refusal {
    /// The `reason` label of `deadman_pings_rejected_total`.
    pub rejection: Rejection,
    pub status: StatusCode,
    pub message: String,
    /// `Allow` for 405, `WWW-Authenticate` for 401.
    pub header: Option<(HeaderName, HeaderValue)>,
}

impl Refusal {
    pub fn new(rejection: Rejection, status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal {
            rejection,
            status,
            message: message.into(),
            header: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Refusal {
        Refusal::new(Rejection::NotFound, StatusCode::NOT_FOUND, message)
    }

    pub fn bad_request(message: impl Into<String>) -> Refusal {
        Refusal::new(Rejection::BadRequest, StatusCode::BAD_REQUEST, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Refusal {
        Refusal::new(
            Rejection::Unavailable,
            StatusCode::SERVICE_UNAVAILABLE,
            message,
        )
    }

    pub fn not_ready() -> Refusal {
        Refusal::unavailable(NOT_READY)
    }

    pub fn method_not_allowed(allow: &str) -> Refusal {
        Refusal {
            header: HeaderValue::from_str(allow)
                .ok()
                .map(|value| (header::ALLOW, value)),
            ..Refusal::new(
                Rejection::MethodNotAllowed,
                StatusCode::METHOD_NOT_ALLOWED,
                format!("Method not allowed; use {allow}."),
            )
        }
    }

    /// The sentence as plain text, for pings and operators' endpoints.
    pub fn into_response(self) -> HttpResponse {
        let response = text(self.status, &self.message);
        self.with_header(response)
    }

    /// `{"error": "<sentence>"}`, for the JSON API: a client that parses
    /// every body as JSON must be able to parse the refusals too.
    pub fn into_json_response(self) -> HttpResponse {
        let body = serde_json::json!({ "error": self.message }).to_string() + "\n";
        let response = respond(self.status, "application/json", Bytes::from(body));
        self.with_header(response)
    }

    fn with_header(self, mut response: HttpResponse) -> HttpResponse {
        if let Some((name, value)) = self.header {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_of(r: &HttpResponse, name: HeaderName) -> Option<&str> {
        r.headers().get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn refusals_carry_their_header_and_a_sentence() {
        let r = Refusal::method_not_allowed("GET, HEAD").into_response();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(header_of(&r, header::ALLOW), Some("GET, HEAD"));
        assert_eq!(header_of(&not_ready(), header::RETRY_AFTER), Some("5"));
    }

    #[test]
    fn json_refusals_keep_status_and_header() {
        let r = Refusal::method_not_allowed("GET, HEAD").into_json_response();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(header_of(&r, header::ALLOW), Some("GET, HEAD"));
        assert_eq!(
            header_of(&r, header::CONTENT_TYPE),
            Some("application/json")
        );
        let r = Refusal::not_ready().into_json_response();
        assert_eq!(header_of(&r, header::RETRY_AFTER), Some("5"));
    }
}
