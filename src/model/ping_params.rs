//! Ping parameters as collected from the query string and the body (form,
//! multipart or JSON), each at most once, with the rules every source
//! shares: names, bounds and formats.

use super::expectations::parse_rfc3339;
use super::ping_error::{bad, PingError};
use super::values::{check_bound, parse_value};

/// The largest `records` accepted: 2^53, the largest integer a Prometheus
/// sample (a float64) holds exactly. Larger values are refused rather than
/// rounded, and sums saturate here, so a counter never wraps (which
/// Prometheus would read as a reset).
pub const MAX_RECORDS: u64 = 1 << 53;

/// What the 400 for an unknown parameter lists.
pub const ACCEPTED_PARAMS: &str =
    "records, rid, reason, message, token, expires.<name>, value.<name>";

/// Parameters as collected, each at most once.
#[derive(Default)]
pub struct Params {
    pub records: Option<u64>,
    pub rid: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
    /// A token sent in the body (form, multipart or JSON); the query's is
    /// read by auth directly. Checked by auth, never stored.
    pub token: Option<String>,
    pub expiries: Vec<(String, f64)>,
    /// `value.<name>=N`, in the order given; names are checked against the
    /// config by the handler.
    pub values: Vec<(String, f64)>,
}

impl Params {
    pub fn set_records(&mut self, value: u64) -> Result<(), PingError> {
        if value > MAX_RECORDS {
            return Err(too_many_records(&value.to_string()));
        }
        set_once(&mut self.records, value, "records")
    }

    /// One `key=value` from a query string or a form; `from_query` because
    /// the query's token is auth's to read.
    pub fn set_text(
        &mut self,
        key: &str,
        value: String,
        from_query: bool,
    ) -> Result<(), PingError> {
        match key {
            "rid" => set_once(&mut self.rid, value, "rid"),
            "reason" => set_once(&mut self.reason, value, "reason"),
            "message" => set_once(&mut self.message, value, "message"),
            "records" => {
                let n = parse_records(&value)?;
                self.set_records(n)
            }
            "token" if from_query => Ok(()),
            "token" => set_once(&mut self.token, value, "token"),
            // A stray "&" (as in "?records=5&") is not a parameter.
            "" => Ok(()),
            _ if key.starts_with("expires.") => self.add_expiry(&key["expires.".len()..], &value),
            _ if key.starts_with("value.") => {
                self.add_value(&key["value.".len()..], parse_value(&value))
            }
            other => Err(bad(format!(
                "unknown parameter {other:?}; accepted parameters are {ACCEPTED_PARAMS}"
            ))),
        }
    }

    pub fn add_expiry(&mut self, name: &str, value: &str) -> Result<(), PingError> {
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

impl Params {
    /// One reported value: `Ok` from [`parse_value`] or [`check_bound`], or
    /// the sentence of why not. A name given twice is refused, as any
    /// repeated parameter is.
    pub fn add_value(&mut self, name: &str, value: Result<f64, String>) -> Result<(), PingError> {
        if self.values.iter().any(|(n, _)| n == name) {
            return Err(bad(format!(
                "value.{name} is given more than once; send it once"
            )));
        }
        let value = value.map_err(|why| bad(format!("value.{name} {why}")))?;
        self.values.push((name.to_string(), value));
        Ok(())
    }

    /// A value sent as a JSON number.
    pub fn add_json_value(
        &mut self,
        name: &str,
        number: &serde_json::Number,
    ) -> Result<(), PingError> {
        let value = number.as_f64().unwrap_or(f64::INFINITY);
        self.add_value(name, check_bound(value, &number.to_string()))
    }
}

pub fn set_once<T>(slot: &mut Option<T>, value: T, name: &str) -> Result<(), PingError> {
    if slot.is_some() {
        return Err(bad(format!("{name} is given more than once; send it once")));
    }
    *slot = Some(value);
    Ok(())
}

pub fn parse_records(text: &str) -> Result<u64, PingError> {
    let trimmed = text.trim();
    if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!(
            "records must be a non-negative integer, not {text:?}"
        )));
    }
    match trimmed.parse::<u64>() {
        Ok(n) if n <= MAX_RECORDS => Ok(n),
        _ => Err(too_many_records(text)),
    }
}

fn too_many_records(text: &str) -> PingError {
    bad(format!(
        "records {text:?} is too large; the most one ping may report is {MAX_RECORDS} (2^53)"
    ))
}
