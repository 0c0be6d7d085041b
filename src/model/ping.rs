//! An HTTP ping request → a [`Ping`] event. Pure: no I/O, no clock, no
//! config; the handler does lookup and auth first and passes the parts here.

use std::fmt;

use super::expectations::parse_rfc3339;
use super::kind::{FailReason, Kind};

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
}

/// Why a ping request was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum PingError {
    /// The path after the check name is not a ping action (404).
    UnknownAction(String),
    /// Malformed parameters (400); the text is the one-line reason.
    BadRequest(String),
}

impl fmt::Display for PingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PingError::UnknownAction(action) => write!(
                f,
                "unknown ping action {action:?}; use /start, /fail, /log or an exit status /0 to /255"
            ),
            PingError::BadRequest(why) => f.write_str(why),
        }
    }
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
}

/// Parameters as collected from query, form or JSON body, each at most once.
#[derive(Default)]
struct Params {
    records: Option<u64>,
    rid: Option<String>,
    reason: Option<String>,
    message: Option<String>,
    expiries: Vec<(String, f64)>,
}

const ACCEPTED_PARAMS: &str = "records, rid, reason, message, token, expires.<name>";

fn bad(why: impl Into<String>) -> PingError {
    PingError::BadRequest(why.into())
}

impl Params {
    fn set_records(&mut self, value: u64) -> Result<(), PingError> {
        set_once(&mut self.records, value, "records")
    }

    fn set_text(&mut self, key: &str, value: String) -> Result<(), PingError> {
        match key {
            "rid" => set_once(&mut self.rid, value, "rid"),
            "reason" => set_once(&mut self.reason, value, "reason"),
            "message" => set_once(&mut self.message, value, "message"),
            "records" => {
                let n = parse_records(&value)?;
                self.set_records(n)
            }
            // Consumed by auth before parsing; never stored.
            "token" => Ok(()),
            // A stray "&" (as in "?records=5&") is not a parameter.
            "" => Ok(()),
            _ if key.starts_with("expires.") => self.add_expiry(&key["expires.".len()..], &value),
            other => Err(bad(format!(
                "unknown parameter {other:?}; accepted parameters are {ACCEPTED_PARAMS}"
            ))),
        }
    }
}

impl Params {
    fn add_expiry(&mut self, name: &str, value: &str) -> Result<(), PingError> {
        if self.expiries.iter().any(|(n, _)| n == name) {
            return Err(bad(format!(
                "expires.{name} is given more than once; send it once"
            )));
        }
        let at = parse_rfc3339(value).ok_or_else(|| {
            bad(format!(
                "expires.{name} must be an RFC 3339 time such as 2027-01-15T00:00:00Z, not {value:?}"
            ))
        })?;
        self.expiries.push((name.to_string(), at));
        Ok(())
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, name: &str) -> Result<(), PingError> {
    if slot.is_some() {
        return Err(bad(format!("{name} is given more than once; send it once")));
    }
    *slot = Some(value);
    Ok(())
}

fn parse_records(text: &str) -> Result<u64, PingError> {
    let trimmed = text.trim();
    if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!(
            "records must be a non-negative integer, not {text:?}"
        )));
    }
    trimmed
        .parse()
        .map_err(|_| bad(format!("records {text:?} is too large")))
}

/// Parses one ping request.
pub fn parse(req: &PingRequest<'_>) -> Result<Ping, PingError> {
    let (kind, exit_status) = parse_action(req.action)?;
    let mut params = Params::default();

    if let Some(query) = req.query {
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            params.set_text(&key, value.into_owned())?;
        }
    }

    let media_type = req
        .content_type
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if !req.body.is_empty() {
        match media_type.as_str() {
            "application/json" => parse_json_body(req.body, &mut params)?,
            "application/x-www-form-urlencoded" => {
                for (key, value) in form_urlencoded::parse(req.body) {
                    params.set_text(&key, value.into_owned())?;
                }
            }
            _ => {
                let text = String::from_utf8_lossy(req.body).into_owned();
                if !text.trim().is_empty() {
                    set_once(&mut params.message, text, "message")?;
                }
            }
        }
    }

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

    Ok(Ping {
        kind,
        reason,
        exit_status,
        records: params.records,
        rid: params.rid,
        message: params.message.map(truncate_message),
        expiries: params.expiries,
    })
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

/// JSON bodies are what webhook tools send; keys other than ours are their
/// payload and are ignored, but our keys must have the right types.
fn parse_json_body(body: &[u8], params: &mut Params) -> Result<(), PingError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("body is not valid JSON: {e}")))?;
    let serde_json::Value::Object(map) = value else {
        return Err(bad("JSON body must be an object"));
    };
    for (key, value) in map {
        match (key.as_str(), value) {
            ("records", serde_json::Value::Number(n)) => match n.as_u64() {
                Some(n) => params.set_records(n)?,
                None => {
                    return Err(bad(format!(
                        "records must be a non-negative integer, not {n}"
                    )))
                }
            },
            // Many no-code tools send every field as a string.
            ("records", serde_json::Value::String(s)) => params.set_records(parse_records(&s)?)?,
            ("rid" | "reason" | "message", serde_json::Value::String(s)) => {
                params.set_text(&key, s)?
            }
            ("rid", serde_json::Value::Number(n)) => params.set_text("rid", n.to_string())?,
            // {"expires": {"xero-refresh-token": "2027-01-15T00:00:00Z"}}
            ("expires", serde_json::Value::Object(expiries)) => {
                for (name, value) in expiries {
                    match value {
                        serde_json::Value::String(text) => params.add_expiry(&name, &text)?,
                        other => {
                            return Err(bad(format!(
                            "expires.{name} has the wrong JSON type ({}); send an RFC 3339 string",
                            json_type(&other)
                        )))
                        }
                    }
                }
            }
            // {"expires.xero-refresh-token": "2027-01-15T00:00:00Z"}
            (key, serde_json::Value::String(text)) if key.starts_with("expires.") => {
                params.add_expiry(&key["expires.".len()..], &text)?
            }
            ("records" | "rid" | "reason" | "message", serde_json::Value::Null) => {}
            ("records" | "rid" | "reason" | "message", other) => {
                return Err(bad(format!(
                    "{key} has the wrong JSON type ({})",
                    json_type(&other)
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
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

    fn req<'a>(action: &'a str, query: Option<&'a str>) -> PingRequest<'a> {
        PingRequest {
            action,
            query,
            ..Default::default()
        }
    }

    #[test]
    fn actions() {
        assert_eq!(parse(&req("", None)).map(|p| p.kind), Ok(Kind::Success));
        assert_eq!(parse(&req("start", None)).map(|p| p.kind), Ok(Kind::Start));
        assert_eq!(parse(&req("log", None)).map(|p| p.kind), Ok(Kind::Log));
        let fail = parse(&req("fail", None)).expect("fail parses");
        assert_eq!(
            (fail.kind, fail.reason),
            (Kind::Fail, Some(FailReason::Other))
        );
        let zero = parse(&req("0", None)).expect("0 parses");
        assert_eq!((zero.kind, zero.exit_status), (Kind::Success, Some(0)));
        let exit = parse(&req("3", None)).expect("3 parses");
        assert_eq!(
            (exit.kind, exit.reason, exit.exit_status),
            (Kind::Fail, Some(FailReason::ExitCode), Some(3))
        );
        assert_eq!(
            parse(&req("256", None)),
            Err(PingError::BadRequest(
                "exit status 256 is out of range 0-255".into()
            ))
        );
        assert_eq!(
            parse(&req("finish", None)),
            Err(PingError::UnknownAction("finish".into()))
        );
    }

    #[test]
    fn query_parameters() {
        let p = parse(&req(
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
            ("", "recrods=5", "unknown parameter \"recrods\"; accepted parameters are records, rid, reason, message, token, expires.<name>"),
            ("", "expires.tok=soon", "expires.tok must be an RFC 3339 time such as 2027-01-15T00:00:00Z, not \"soon\""),
        ];
        for (action, query, expected) in cases {
            assert_eq!(
                parse(&req(action, Some(query))),
                Err(PingError::BadRequest(expected.into())),
                "{action}?{query}"
            );
        }
        let long_rid = format!("rid={}", "a".repeat(65));
        assert!(parse(&req("", Some(&long_rid))).is_err());
    }

    #[test]
    fn json_body_like_zapier_sends() {
        let body = br#"{"records": "42", "rid": "zap-7", "message": "synced", "order_id": 5, "nested": {"x": 1}}"#;
        let p = parse(&PingRequest {
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
            parse(&PingRequest {
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
        let p = parse(&req(
            "",
            Some("expires.xero-refresh-token=2027-01-15T00:00:00Z"),
        ))
        .expect("parses");
        assert_eq!(
            p.expiries,
            vec![("xero-refresh-token".to_string(), 1_799_971_200.0)]
        );
        let p = parse(&PingRequest {
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
    fn form_body_like_zapier_default() {
        let p = parse(&PingRequest {
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
        let p = parse(&PingRequest {
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
        let p = parse(&PingRequest {
            idempotency_key: Some("abc"),
            ..Default::default()
        })
        .expect("parses");
        assert_eq!(p.rid.as_deref(), Some("abc"));
        let clash = parse(&PingRequest {
            query: Some("rid=x"),
            idempotency_key: Some("y"),
            ..Default::default()
        });
        assert!(clash.is_err());
    }
}
