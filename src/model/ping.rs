//! An HTTP ping request → a [`Ping`] event. Pure: no I/O, no clock, no
//! config; the handler does lookup and auth first and passes the parts here.

use std::fmt::Write as _;

use super::kind::{FailReason, Kind};
use super::ping_error::bad;
pub use super::ping_error::PingError;
use super::ping_json::parse_json_body;
use super::ping_params::{set_once, Params};

/// Longest run message kept; longer ones are cut at a character boundary.
pub const MAX_MESSAGE_BYTES: usize = 10 * 1024;
/// Largest request body accepted; more is a 413.
pub const MAX_BODY_BYTES: usize = 100 * 1024;
/// Longest accepted run id.
pub const MAX_RID_CHARS: usize = 64;

/// One accepted-for-processing ping, before idempotency is checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Ping {
    pub kind: Kind,
    /// Set for `Kind::Fail` only.
    pub reason: Option<FailReason>,
    /// The status from `/ping/{check}/{0-255}`.
    pub exit_status: Option<u8>,
    /// Records moved by this run.
    pub records: Option<u64>,
    /// Run id: idempotency key and start/finish pairing.
    pub rid: Option<String>,
    /// Run message, at most [`MAX_MESSAGE_BYTES`].
    pub message: Option<String>,
    /// Expiries the integration learned at run time (`expires.<name>=`
    /// RFC 3339), as (name, Unix seconds). Names are checked against the
    /// config by the handler, so input can never create series.
    pub expiries: Vec<(String, f64)>,
    /// Declared values the run reported (`value.<name>=N`), as (name,
    /// number); like expiries, checked against the config by the handler.
    pub values: Vec<(String, f64)>,
}

/// The parts of a request that carry a ping's meaning.
#[derive(Clone, Copy, Debug, Default)]
pub struct PingRequest<'a> {
    /// Path after `/ping/{check}`, without the slash: "", "start", "fail", "log" or "0".."255".
    pub action: &'a str,
    /// Raw query string, without `?`.
    pub query: Option<&'a str>,
    /// `Content-Type` header.
    pub content_type: Option<&'a str>,
    /// `Idempotency-Key` header.
    pub idempotency_key: Option<&'a str>,
    /// Request body (already limited to [`MAX_BODY_BYTES`]).
    pub body: &'a [u8],
    /// The fields of a `multipart/form-data` body, decoded by the web layer
    /// (multipart parsing is async); read instead of `body` when set.
    pub multipart: Option<&'a [(String, String)]>,
}

/// A parsed ping, and what the handler needs besides the event.
#[derive(Debug, PartialEq)]
pub struct Parsed {
    pub ping: Ping,
    /// A token sent in the body; auth must check it with the others.
    pub body_token: Option<String>,
    /// The media type of a body that carries no parameters and was kept as
    /// the message, when that is not what plain text implies: the response
    /// says so, so a client that meant to send parameters finds out.
    pub body_as_message: Option<String>,
}

/// Media types whose body is the run's message with nothing to say about it.
const PLAIN_BODY_TYPES: [&str; 3] = ["", "text/plain", "application/octet-stream"];

/// Parses one ping request.
pub fn parse(req: &PingRequest<'_>) -> Result<Parsed, PingError> {
    let (kind, exit_status) = parse_action(req.action)?;
    let mut params = Params::default();

    if let Some(query) = req.query {
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            params.set_text(&key, value.into_owned(), true)?;
        }
    }
    let body_as_message = read_body(req, &mut params)?;
    if let Some(key) = req.idempotency_key {
        match &params.rid {
            Some(rid) if rid != key => {
                return Err(bad(
                    "rid and the Idempotency-Key header differ; send one of them",
                ))
            }
            _ => params.rid = Some(key.to_string()),
        }
    }
    if let Some(rid) = &params.rid {
        validate_rid(rid)?;
    }

    let reason = match (kind, params.reason.as_deref()) {
        (Kind::Fail, None) if exit_status.is_some() => Some(FailReason::ExitCode),
        (Kind::Fail, None) => Some(FailReason::Other),
        (Kind::Fail, Some(_)) if exit_status.is_some() => {
            return Err(bad(
                "reason cannot be given with an exit status; the reason is exit_code",
            ))
        }
        (Kind::Fail, Some(text)) => match FailReason::parse(text) {
            Some(r) if r != FailReason::ExitCode => Some(r),
            _ => {
                return Err(bad(format!(
                    "reason {text:?} is not one of {}",
                    FailReason::REPORTABLE
                )))
            }
        },
        (_, None) => None,
        (_, Some(_)) => {
            return Err(bad(
                "reason is only accepted on failure pings (/fail or a non-zero exit status)",
            ))
        }
    };

    Ok(Parsed {
        ping: Ping {
            kind,
            reason,
            exit_status,
            records: params.records,
            rid: params.rid,
            message: params.message.map(truncate_message),
            expiries: params.expiries,
            values: params.values,
        },
        body_token: params.token,
        body_as_message,
    })
}

/// Reads the body's parameters into `params` by media type; a body of a
/// type that carries none becomes the message. Returns that media type when
/// the response should say no parameters were read from it.
fn read_body(req: &PingRequest<'_>, params: &mut Params) -> Result<Option<String>, PingError> {
    if let Some(fields) = req.multipart {
        for (key, value) in fields {
            params.set_text(key, value.clone(), false)?;
        }
        return Ok(None);
    }
    if req.body.is_empty() {
        return Ok(None);
    }
    let media_type = media_type(req.content_type);
    match media_type.as_str() {
        "application/json" => parse_json_body(req.body, params)?,
        "application/x-www-form-urlencoded" => {
            for (key, value) in form_urlencoded::parse(req.body) {
                params.set_text(&key, value.into_owned(), false)?;
            }
        }
        _ => {
            let text = String::from_utf8_lossy(req.body).into_owned();
            if !text.trim().is_empty() {
                set_once(&mut params.message, text, "message")?;
                if !PLAIN_BODY_TYPES.contains(&media_type.as_str()) {
                    return Ok(Some(media_type));
                }
            }
        }
    }
    Ok(None)
}

/// `Content-Type` without parameters, lower case; "" when absent.
pub fn media_type(content_type: Option<&str>) -> String {
    content_type
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

impl Ping {
    /// What was recorded, for the 200 body: `success recorded (records=200,
    /// rid=run-42)`, so a client sees at once that its records arrived.
    /// Written into one string: it is built for every accepted ping.
    pub fn summary(&self) -> String {
        let mut out = String::with_capacity(96);
        let _ = write!(out, "{} recorded", self.kind);
        let mut details = Details { out, any: false };
        if let Some(records) = self.records {
            details.add(format_args!("records={records}"));
        }
        if let Some(rid) = &self.rid {
            details.add(format_args!("rid={rid}"));
        }
        if let Some(status) = self.exit_status {
            details.add(format_args!("exit_status={status}"));
        }
        if let (Some(reason), None) = (self.reason, self.exit_status) {
            details.add(format_args!("reason={reason}"));
        }
        for (name, _) in &self.expiries {
            details.add(format_args!("expires.{name}"));
        }
        for (name, value) in &self.values {
            details.add(format_args!("value.{name}={value}"));
        }
        if let Some(message) = &self.message {
            details.add(format_args!("message of {} bytes", message.len()));
        }
        details.finish()
    }
}

/// The parenthesised, comma-separated tail of a summary.
struct Details {
    out: String,
    /// Whether the opening parenthesis is written.
    any: bool,
}

impl Details {
    fn add(&mut self, detail: std::fmt::Arguments<'_>) {
        self.out.push_str(if self.any { ", " } else { " (" });
        self.any = true;
        let _ = self.out.write_fmt(detail);
    }

    fn finish(mut self) -> String {
        if self.any {
            self.out.push(')');
        }
        self.out
    }
}

fn parse_action(action: &str) -> Result<(Kind, Option<u8>), PingError> {
    match action {
        "" => Ok((Kind::Success, None)),
        "start" => Ok((Kind::Start, None)),
        "fail" => Ok((Kind::Fail, None)),
        "log" => Ok((Kind::Log, None)),
        digits
            if !digits.is_empty()
                && digits.len() <= 4
                && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            match digits.parse::<u16>() {
                Ok(0) => Ok((Kind::Success, Some(0))),
                Ok(n @ 1..=255) => Ok((Kind::Fail, Some(n as u8))),
                _ => Err(bad(format!("exit status {digits} is out of range 0-255"))),
            }
        }
        other => Err(PingError::UnknownAction(other.to_string())),
    }
}

fn validate_rid(rid: &str) -> Result<(), PingError> {
    let valid_chars = rid
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if rid.is_empty() || rid.len() > MAX_RID_CHARS || !valid_chars {
        return Err(bad(format!(
            "rid must be 1 to {MAX_RID_CHARS} characters of A-Z a-z 0-9 . _ : -"
        )));
    }
    Ok(())
}

fn truncate_message(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_BYTES {
        let mut cut = MAX_MESSAGE_BYTES;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The event alone, as most cases need.
    fn parse_ping(req: &PingRequest<'_>) -> Result<Ping, PingError> {
        parse(req).map(|parsed| parsed.ping)
    }

    fn req<'a>(action: &'a str, query: Option<&'a str>) -> PingRequest<'a> {
        PingRequest {
            action,
            query,
            ..Default::default()
        }
    }

    #[test]
    fn actions() {
        assert_eq!(
            parse_ping(&req("", None)).map(|p| p.kind),
            Ok(Kind::Success)
        );
        assert_eq!(
            parse_ping(&req("start", None)).map(|p| p.kind),
            Ok(Kind::Start)
        );
        assert_eq!(parse_ping(&req("log", None)).map(|p| p.kind), Ok(Kind::Log));
        let fail = parse_ping(&req("fail", None)).expect("fail parses");
        assert_eq!(
            (fail.kind, fail.reason),
            (Kind::Fail, Some(FailReason::Other))
        );
        let zero = parse_ping(&req("0", None)).expect("0 parses");
        assert_eq!((zero.kind, zero.exit_status), (Kind::Success, Some(0)));
        let exit = parse_ping(&req("3", None)).expect("3 parses");
        assert_eq!(
            (exit.kind, exit.reason, exit.exit_status),
            (Kind::Fail, Some(FailReason::ExitCode), Some(3))
        );
        assert_eq!(
            parse_ping(&req("256", None)),
            Err(PingError::BadRequest(
                "exit status 256 is out of range 0-255".into()
            ))
        );
        assert_eq!(
            parse_ping(&req("finish", None)),
            Err(PingError::UnknownAction("finish".into()))
        );
    }

    #[test]
    fn query_parameters() {
        let p = parse_ping(&req(
            "fail",
            Some("records=12&rid=run-1&reason=rate_limit&token=x"),
        ))
        .expect("parses");
        assert_eq!(p.records, Some(12));
        assert_eq!(p.rid.as_deref(), Some("run-1"));
        assert_eq!(p.reason, Some(FailReason::RateLimit));
    }

    #[test]
    fn bad_parameters_say_what_is_wrong() {
        let cases = [
            ("", "records=-1", "records must be a non-negative integer, not \"-1\""),
            ("", "records=1.5", "records must be a non-negative integer, not \"1.5\""),
            ("", "records=1&records=2", "records is given more than once; send it once"),
            ("", "rid=a%20b", "rid must be 1 to 64 characters of A-Z a-z 0-9 . _ : -"),
            ("", "reason=auth", "reason is only accepted on failure pings (/fail or a non-zero exit status)"),
            ("fail", "reason=bored", "reason \"bored\" is not one of auth, rate_limit, timeout, upstream, validation, other"),
            ("fail", "reason=exit_code", "reason \"exit_code\" is not one of auth, rate_limit, timeout, upstream, validation, other"),
            ("", "recrods=5", "unknown parameter \"recrods\"; accepted parameters are records, rid, reason, message, token, expires.<name>, value.<name>"),
            ("", "value.a=lots", "value.a must be a number such as 37 or -2.5, not \"lots\""),
            ("", "value.a=1&value.a=2", "value.a is given more than once; send it once"),
            ("", "value.a=1e400", "value.a must be a number such as 37 or -2.5, not \"1e400\""),
            ("", "value.a=-1000000000000000.5", "value.a is -1000000000000000.5, out of range; a value may be at most 1e15 (1000000000000000) either side of 0"),
            ("", "expires.tok=soon", "expires.tok must be an RFC 3339 time such as 2027-01-15T00:00:00Z, not \"soon\""),
        ];
        for (action, query, expected) in cases {
            assert_eq!(
                parse_ping(&req(action, Some(query))),
                Err(PingError::BadRequest(expected.into())),
                "{action}?{query}"
            );
        }
        let long_rid = format!("rid={}", "a".repeat(65));
        assert!(parse_ping(&req("", Some(&long_rid))).is_err());
    }

    #[test]
    fn json_body_like_zapier_sends() {
        let body = br#"{"records": "42", "rid": "zap-7", "message": "synced", "order_id": 5, "nested": {"x": 1}}"#;
        let p = parse_ping(&PingRequest {
            action: "",
            content_type: Some("application/json; charset=utf-8"),
            body,
            ..Default::default()
        })
        .expect("parses");
        assert_eq!(p.records, Some(42));
        assert_eq!(p.rid.as_deref(), Some("zap-7"));
        assert_eq!(p.message.as_deref(), Some("synced"));
    }

    #[test]
    fn json_errors() {
        let parse_json = |body: &[u8]| {
            parse_ping(&PingRequest {
                content_type: Some("application/json"),
                body,
                ..Default::default()
            })
        };
        assert!(
            matches!(parse_json(b"{"), Err(PingError::BadRequest(m)) if m.starts_with("body is not valid JSON"))
        );
        assert_eq!(
            parse_json(b"[1]"),
            Err(PingError::BadRequest("JSON body must be an object".into()))
        );
        assert_eq!(
            parse_json(br#"{"records": -3}"#),
            Err(PingError::BadRequest(
                "records must be a non-negative integer, not -3".into()
            ))
        );
        assert_eq!(
            parse_json(br#"{"records": true}"#),
            Err(PingError::BadRequest(
                "records has the wrong JSON type (boolean)".into()
            ))
        );
    }

    #[test]
    fn expiries_from_query_and_json() {
        let p = parse_ping(&req(
            "",
            Some("expires.xero-refresh-token=2027-01-15T00:00:00Z"),
        ))
        .expect("parses");
        assert_eq!(
            p.expiries,
            vec![("xero-refresh-token".to_string(), 1_799_971_200.0)]
        );
        let p = parse_ping(&PingRequest {
            content_type: Some("application/json"),
            body: br#"{"expires": {"a": "2027-01-15T00:00:00Z"}, "expires.b": "2027-01-15T01:00:00+01:00"}"#,
            ..Default::default()
        })
        .expect("parses");
        assert_eq!(
            p.expiries,
            vec![
                ("a".to_string(), 1_799_971_200.0),
                ("b".to_string(), 1_799_971_200.0)
            ]
        );
    }

    #[test]
    fn values_on_any_kind_and_in_the_summary() {
        for action in ["", "start", "fail", "log", "3"] {
            let p = parse_ping(&req(
                action,
                Some("value.unmatched_invoices=37&value.lag=-0.25"),
            ))
            .expect("parses");
            assert_eq!(
                p.values,
                vec![
                    ("unmatched_invoices".to_string(), 37.0),
                    ("lag".to_string(), -0.25)
                ],
                "{action}"
            );
        }
        let p =
            parse_ping(&req("", Some("records=5&value.unmatched_invoices=37"))).expect("parses");
        assert_eq!(
            p.summary(),
            "success recorded (records=5, value.unmatched_invoices=37)"
        );
        let p = parse_ping(&PingRequest {
            content_type: Some("application/x-www-form-urlencoded"),
            body: b"value.lag=2.5",
            ..Default::default()
        })
        .expect("parses");
        assert_eq!(p.values, vec![("lag".to_string(), 2.5)]);
    }

    #[test]
    fn form_body_like_zapier_default() {
        let p = parse_ping(&PingRequest {
            action: "fail",
            content_type: Some("application/x-www-form-urlencoded"),
            body: b"reason=auth&records=0&message=token+revoked",
            ..Default::default()
        })
        .expect("parses");
        assert_eq!(p.reason, Some(FailReason::Auth));
        assert_eq!(p.message.as_deref(), Some("token revoked"));
    }

    #[test]
    fn text_body_is_the_message_and_is_truncated() {
        let body = "é".repeat(MAX_MESSAGE_BYTES); // 2 bytes each
        let p = parse_ping(&PingRequest {
            content_type: Some("text/plain"),
            body: body.as_bytes(),
            ..Default::default()
        })
        .expect("parses");
        let message = p.message.expect("message kept");
        assert_eq!(message.len(), MAX_MESSAGE_BYTES);
        assert!(message.chars().all(|c| c == 'é'));
    }

    #[test]
    fn idempotency_key_header() {
        let p = parse_ping(&PingRequest {
            idempotency_key: Some("abc"),
            ..Default::default()
        })
        .expect("parses");
        assert_eq!(p.rid.as_deref(), Some("abc"));
        let clash = parse_ping(&PingRequest {
            query: Some("rid=x"),
            idempotency_key: Some("y"),
            ..Default::default()
        });
        assert!(clash.is_err());
    }
}
