//! One ping with its retries: the form body, the tries the
//! [`retry::Policy`] allows, and a sentence for what went wrong.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use super::http::{Client, TlsSetupError};
use super::retry::{self, Policy, Verdict};
use super::target::{Target, TargetArgs};

/// The parameters of one ping, sent as a form body (never in the query
/// string, which proxies log and which bounds its length).
#[derive(Clone, Debug, Default)]
pub struct Fields {
    pub rid: Option<String>,
    pub records: Option<u64>,
    pub reason: Option<String>,
    pub message: Option<String>,
    /// (name, RFC 3339 time) for `expires.<name>`.
    pub expiries: Vec<(String, String)>,
    /// (name, number as written) for `value.<name>`.
    pub values: Vec<(String, String)>,
}

impl Fields {
    /// Only a run id.
    pub fn rid(rid: &str) -> Fields {
        Fields {
            rid: Some(rid.to_string()),
            ..Fields::default()
        }
    }

    /// Whether the job's report file added anything (records, expiries,
    /// values).
    pub fn has_report(&self) -> bool {
        self.records.is_some() || !self.expiries.is_empty() || !self.values.is_empty()
    }

    /// The same ping without what the report file added, with `why` before
    /// the message: what to send when deadman refused the report, so that
    /// the run's outcome is still recorded.
    pub fn without_report(&self, why: &str) -> Fields {
        let message = match &self.message {
            Some(m) if !m.is_empty() => format!("{why}\n{m}"),
            _ => why.to_string(),
        };
        Fields {
            records: None,
            expiries: Vec::new(),
            values: Vec::new(),
            message: Some(message),
            ..self.clone()
        }
    }

    fn form(&self) -> String {
        let mut form = form_urlencoded::Serializer::new(String::new());
        if let Some(rid) = &self.rid {
            form.append_pair("rid", rid);
        }
        if let Some(records) = self.records {
            form.append_pair("records", &records.to_string());
        }
        if let Some(reason) = &self.reason {
            form.append_pair("reason", reason);
        }
        if let Some(message) = self.message.as_deref().filter(|m| !m.is_empty()) {
            form.append_pair("message", message);
        }
        for (name, time) in &self.expiries {
            form.append_pair(&format!("expires.{name}"), time);
        }
        for (name, value) in &self.values {
            form.append_pair(&format!("value.{name}"), value);
        }
        form.finish()
    }
}

/// Why a ping was not acknowledged.
#[derive(Debug)]
pub enum PingFailure {
    /// deadman refused it for good (401, 404, 400, …): retrying would not help.
    Refused { status: u16, text: String },
    /// No acknowledgement within the tries and the budget.
    GaveUp {
        tries: u32,
        elapsed: Duration,
        last: String,
    },
}

impl fmt::Display for PingFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PingFailure::Refused { status, text } => {
                write!(f, "deadman answered {status}: {text}")
            }
            PingFailure::GaveUp {
                tries,
                elapsed,
                last,
            } => write!(
                f,
                "gave up after {tries} tr{} in {:.1}s: {last}",
                if *tries == 1 { "y" } else { "ies" },
                elapsed.as_secs_f64()
            ),
        }
    }
}

/// Sends pings of one check.
#[derive(Clone)]
pub struct Pinger {
    client: Client,
    target: Target,
    policy: Policy,
}

impl Pinger {
    pub fn new(args: &TargetArgs, target: Target) -> Result<Pinger, TlsSetupError> {
        let client = match target.base.starts_with("https://") {
            true => Client::https(args.ca_file.as_deref())?,
            false => Client::plain(),
        };
        let policy = Policy {
            per_try: args.ping_timeout,
            ..Policy::default()
        };
        Ok(Pinger {
            client,
            target,
            policy,
        })
    }

    /// From the flags and the process environment; the error is a
    /// sentence that says what to set.
    pub fn from_env(args: &TargetArgs, check: Option<&str>) -> Result<Pinger, String> {
        let target = Target::resolve(args, check, |name| std::env::var(name).ok())
            .map_err(|e| e.to_string())?;
        Pinger::new(args, target).map_err(|e| e.to_string())
    }

    pub fn check(&self) -> &str {
        &self.target.check
    }

    /// Sends `action` with `fields`, retrying as the policy allows;
    /// returns deadman's acknowledgement.
    pub async fn send(&self, action: &str, fields: &Fields) -> Result<String, PingFailure> {
        let url = self.target.url(action);
        let form = fields.form();
        let started = Instant::now();
        let mut tries = 0;
        loop {
            let timeout = self.policy.try_timeout(started.elapsed());
            let result = self
                .client
                .post_form(&url, self.target.token.as_deref(), form.clone(), timeout)
                .await;
            tries += 1;
            let (last, retry_after) = match result {
                Ok(answer) => match retry::classify(answer.status) {
                    Verdict::Acknowledged => return Ok(answer.text),
                    Verdict::Refused => {
                        return Err(PingFailure::Refused {
                            status: answer.status,
                            text: answer.text,
                        })
                    }
                    Verdict::Retry => (
                        format!("deadman answered {}: {}", answer.status, answer.text),
                        answer.retry_after,
                    ),
                },
                // The same URL, or a certificate that does not verify,
                // would be just as bad next time.
                Err(err) if err.is_final() => {
                    return Err(PingFailure::GaveUp {
                        tries,
                        elapsed: started.elapsed(),
                        last: err.to_string(),
                    })
                }
                Err(err) => (err.to_string(), None),
            };
            match self
                .policy
                .wait_before_next(tries, started.elapsed(), retry_after)
            {
                Some(wait) => tokio::time::sleep(wait).await,
                None => {
                    return Err(PingFailure::GaveUp {
                        tries,
                        elapsed: started.elapsed(),
                        last,
                    })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_body_encodes_every_field() {
        let fields = Fields {
            rid: Some("r-1".into()),
            records: Some(5),
            reason: Some("timeout".into()),
            message: Some("a&b=c\nd é".into()),
            expiries: vec![("api-token".into(), "2027-01-15T00:00:00+01:00".into())],
            values: vec![("unmatched_invoices".into(), "37".into())],
        };
        assert_eq!(
            fields.form(),
            "rid=r-1&records=5&reason=timeout&message=a%26b%3Dc%0Ad+%C3%A9\
             &expires.api-token=2027-01-15T00%3A00%3A00%2B01%3A00&value.unmatched_invoices=37"
        );
        assert_eq!(Fields::default().form(), "");
    }
}
