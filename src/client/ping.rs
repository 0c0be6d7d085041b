//! `deadman ping CHECK [ACTION]`: one ping from a script, with the same
//! target, token, TLS and retries as `deadman run`. Exits 0 when deadman
//! acknowledged; otherwise prints deadman's answer (or why it could not be
//! reached) and exits non-zero.

use std::io::Read as _;
use std::process::ExitCode;

use super::pinger::{Fields, PingFailure, Pinger};
use super::run::parse_rid;
use super::target::TargetArgs;

/// Refused by deadman (or unusable flags and environment).
const EXIT_REFUSED: u8 = 1;
/// deadman not reached, or still unavailable after the retries.
const EXIT_UNREACHABLE: u8 = 2;

const EXAMPLES: &str = "\
Examples:
  deadman ping nightly-etl start --rid \"$RUN_ID\"
  deadman ping nightly-etl 3 --rid \"$RUN_ID\" --message - < /var/log/etl.log
  deadman ping orders-sync --records 200 --expires xero-token=2027-01-15T00:00:00Z
  deadman ping reconcile-invoices --value unmatched_invoices=37
  deadman ping orders-sync fail --reason auth --message 'refresh token revoked'

Exit status: 0 acknowledged; 1 refused (deadman's answer is printed) or a
usage error; 2 deadman not reached (or unavailable) within 3 tries and 30 s.

Environment: DEADMAN_URL, DEADMAN_TOKEN, DEADMAN_TOKEN_FILE.";

/// `deadman ping`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct PingArgs {
    /// The check to ping, as configured in deadman.
    pub check: String,
    /// What happened: success, start, fail, log, or an exit status 0-255
    /// (0 is success, any other a failure).
    #[arg(default_value = "success", value_parser = parse_action)]
    pub action: String,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Records this run moved.
    #[arg(long, value_name = "N")]
    pub records: Option<u64>,
    /// Run id: pairs a start with its finish, and makes a retried ping count once.
    #[arg(long, value_name = "RID", value_parser = parse_rid)]
    pub rid: Option<String>,
    /// Why a `fail` ping failed: auth, rate_limit, timeout, upstream,
    /// validation or other.
    #[arg(long, value_name = "REASON")]
    pub reason: Option<String>,
    /// The run's message; `-` reads it from standard input.
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,
    /// When the check's declared expiry NAME expires (RFC 3339); repeatable.
    #[arg(long, value_name = "NAME=TIME", value_parser = parse_expiry)]
    pub expires: Vec<(String, String)>,
    /// The check's declared value NAME (a number such as 37 or -2.5);
    /// repeatable.
    #[arg(long, value_name = "NAME=N", value_parser = parse_value_arg)]
    pub value: Vec<(String, String)>,
}

/// `success` is the bare `/ping/<check>`; the rest are path segments.
fn parse_action(text: &str) -> Result<String, String> {
    match text {
        "success" => Ok(String::new()),
        "start" | "fail" | "log" => Ok(text.to_string()),
        digits
            if digits.bytes().all(|b| b.is_ascii_digit())
                && digits.len() <= 3
                && digits.parse::<u8>().is_ok() =>
        {
            Ok(digits.to_string())
        }
        _ => Err("use success, start, fail, log or an exit status 0-255".into()),
    }
}

fn parse_expiry(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, time)) if !name.is_empty() && !time.is_empty() => {
            Ok((name.to_string(), time.to_string()))
        }
        _ => Err("write NAME=TIME, e.g. api-token=2027-01-15T00:00:00Z".into()),
    }
}

fn parse_value_arg(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => {
            crate::model::values::parse_value(value).map_err(|why| format!("the value {why}"))?;
            Ok((name.to_string(), value.trim().to_string()))
        }
        _ => Err("write NAME=N, e.g. unmatched_invoices=37".into()),
    }
}

/// Runs `deadman ping`; the process's exit status.
pub fn main(args: PingArgs) -> ExitCode {
    let pinger = match Pinger::from_env(&args.target, Some(&args.check)) {
        Ok(pinger) => pinger,
        Err(why) => return fail(EXIT_REFUSED, &why),
    };
    let message = match args.message.as_deref() {
        Some("-") => {
            let mut bytes = Vec::new();
            if let Err(err) = std::io::stdin().read_to_end(&mut bytes) {
                return fail(
                    EXIT_REFUSED,
                    &format!("cannot read the message from stdin: {err}"),
                );
            }
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        other => other.map(str::to_string),
    };
    let fields = Fields {
        rid: args.rid,
        records: args.records,
        reason: args.reason,
        message,
        expiries: args.expires,
        values: args.value,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            return fail(
                EXIT_UNREACHABLE,
                &format!("cannot start the async runtime: {err}"),
            )
        }
    };
    match runtime.block_on(pinger.send(&args.action, &fields)) {
        Ok(answer) => {
            println!("{answer}");
            ExitCode::SUCCESS
        }
        Err(failure @ PingFailure::Refused { .. }) => fail(EXIT_REFUSED, &failure.to_string()),
        Err(failure) => fail(EXIT_UNREACHABLE, &failure.to_string()),
    }
}

fn fail(code: u8, why: &str) -> ExitCode {
    eprintln!("deadman ping: {why}");
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions() {
        assert_eq!(parse_action("success").as_deref(), Ok(""));
        assert_eq!(parse_action("start").as_deref(), Ok("start"));
        assert_eq!(parse_action("255").as_deref(), Ok("255"));
        assert!(parse_action("256").is_err());
        assert!(parse_action("+1").is_err());
        assert!(parse_action("finish").is_err());
    }

    #[test]
    fn expiries() {
        assert_eq!(
            parse_expiry("a=2027-01-01T00:00:00Z"),
            Ok(("a".into(), "2027-01-01T00:00:00Z".into()))
        );
        assert!(parse_expiry("a").is_err());
        assert!(parse_expiry("=x").is_err());
    }
}
