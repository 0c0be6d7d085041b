//! `deadman run -- CMD`: a start ping, the command, a finish ping with its
//! exit status, output tail and report, then exit with the command's
//! status. Monitoring never stands in the job's way: when pings cannot be
//! sent the command still runs and its status is still returned, with a
//! warning on stderr.

use std::ffi::OsString;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::job::{self, Ending, Spec};
use super::output::{Tail, MAX_TAIL_BYTES};
use super::pinger::{Fields, PingFailure, Pinger};
use super::report_file;
use super::target::TargetArgs;

const EXAMPLES: &str = "\
Examples:
  # crontab (DEADMAN_URL and DEADMAN_TOKEN_FILE set at the top of the crontab)
  */15 * * * * deadman run --check nightly-etl -- /usr/local/bin/etl

  # a 1-hour limit; the job reports what it did through $DEADMAN_REPORT
  deadman run --url https://deadman.example.com --check orders --timeout 1h -- \\
    sh -c 'sync-orders && echo records=$(wc -l < /tmp/orders) >> \"$DEADMAN_REPORT\"'

What is sent: POST /ping/<check>/start with a fresh rid, then
POST /ping/<check>/<exit status> with the same rid (or /fail with reason=timeout),
the last output as the message, and what the command wrote to $DEADMAN_REPORT.
If deadman cannot be reached the command still runs and its status is kept;
each ping is tried 3 times within 30 s, and a warning goes to stderr.

Exit status: the command's; 128+N when signal N killed it; 124 on --timeout;
127 when the command is not found, 126 when it cannot be executed.

DEADMAN_REPORT: the command may write lines to this file:
  records=<N>                     records this run moved (a later line wins)
  expires.<name>=<RFC 3339 time>  when the check's declared expiry <name> expires
  value.<name>=<N>                the check's declared value <name> (37, -2.5)
Blank lines and lines starting with # are ignored; bad lines are reported on
stderr and skipped.

Environment: DEADMAN_URL, DEADMAN_CHECK, DEADMAN_TOKEN, DEADMAN_TOKEN_FILE.";

/// `deadman run`: flags, then the command after `--`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The check to ping (as configured in deadman). Default: $DEADMAN_CHECK.
    #[arg(long, value_name = "NAME")]
    pub check: Option<String>,
    /// Stop the command after this long (e.g. 30m, 1h 30m): SIGTERM to its
    /// process group, a failure ping with reason timeout, exit 124.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
    /// After the timeout's SIGTERM, SIGKILL the group if anything is still
    /// running this much later.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub kill_after: Duration,
    /// Send the last this many bytes of the command's output (stdout and
    /// stderr together) with the finish ping; at most 10000, which leaves
    /// room in deadman's 10,240-byte message for the wrapper's own notes.
    #[arg(long, value_name = "BYTES", default_value_t = MAX_TAIL_BYTES)]
    pub output_limit: usize,
    /// Send none of the command's output (it still passes through).
    #[arg(long)]
    pub no_output: bool,
    /// Send only the finish ping, no start ping.
    #[arg(long)]
    pub no_start: bool,
    /// The run id for both pings (e.g. an orchestrator's run id): 1 to 64
    /// characters of A-Z a-z 0-9 . _ : -. Default: a fresh random one.
    #[arg(long, value_name = "RID", value_parser = parse_rid)]
    pub rid: Option<String>,
    /// Print nothing of deadman's own (ping warnings, report-file errors);
    /// the command's output still passes through.
    #[arg(long)]
    pub quiet: bool,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// A `--rid` as deadman accepts it, checked here so a typo fails at once.
pub fn parse_rid(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.len() <= crate::model::ping::MAX_RID_CHARS
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    match valid {
        true => Ok(text.to_string()),
        false => Err("a rid is 1 to 64 characters of A-Z a-z 0-9 . _ : -".into()),
    }
}

/// Writes deadman's own warnings, unless `--quiet`.
#[derive(Clone, Copy)]
struct Warn {
    quiet: bool,
}

impl Warn {
    fn say(self, text: &str) {
        if !self.quiet {
            eprintln!("deadman run: {text}");
        }
    }
}

/// Runs `deadman run`; the process's exit status.
pub fn main(args: RunArgs) -> ExitCode {
    let warn = Warn { quiet: args.quiet };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    match runtime {
        Ok(runtime) => ExitCode::from(runtime.block_on(run(args, warn))),
        Err(err) => {
            // Without a runtime there is nothing to wrap the command with;
            // run it plainly rather than not at all.
            warn.say(&format!(
                "cannot start the async runtime ({err}); running the command without pings"
            ));
            ExitCode::from(run_plainly(&args.command))
        }
    }
}

async fn run(args: RunArgs, warn: Warn) -> u8 {
    let pinger = match Pinger::from_env(&args.target, args.check.as_deref()) {
        Ok(pinger) => Some(pinger),
        Err(why) => {
            warn.say(&format!(
                "not pinging deadman: {why}; the command runs anyway"
            ));
            None
        }
    };
    if args.output_limit > MAX_TAIL_BYTES && !args.no_output {
        warn.say(&format!(
            "--output-limit {} is more than deadman keeps; sending the last {MAX_TAIL_BYTES} bytes",
            args.output_limit
        ));
    }
    let rid = args.rid.clone().unwrap_or_else(fresh_rid);
    let start = match (&pinger, args.no_start) {
        (Some(pinger), false) => {
            let (pinger, fields) = (pinger.clone(), Fields::rid(&rid));
            // Sent beside the command, so a slow or absent deadman does
            // not delay the job; the finish waits for it, to stay second.
            Some(tokio::spawn(
                async move { pinger.send("start", &fields).await },
            ))
        }
        _ => None,
    };
    let report = ReportFile::create(&rid, warn);
    let tail = Arc::new(Mutex::new(Tail::new(args.output_limit)));
    let spec = Spec {
        command: args.command.clone(),
        env: report.iter().map(ReportFile::env).collect(),
        timeout: args.timeout,
        kill_after: args.kill_after,
    };
    let ending = job::run(spec, tail.clone()).await;
    if let (Ending::CannotStart { .. }, Some(line)) = (&ending, ending.describe()) {
        // What a shell would print; the command's own stderr would be
        // where the user looks, so this shows even with --quiet.
        eprintln!("{line}");
    }
    let mut fields = Fields::rid(&rid);
    if let Some(report) = report {
        report.read_into(&mut fields, warn);
    }
    let output = match args.no_output {
        true => String::new(),
        false => tail.lock().unwrap_or_else(|p| p.into_inner()).message(),
    };
    fields.message = Some(message(&ending, output));
    if let Some(start) = start {
        if let Ok(Err(failure)) = start.await {
            warn.say(&format!("the start ping failed: {failure}"));
        }
    }
    if let Some(pinger) = pinger {
        let action = finish_action(&ending, &mut fields);
        let mut sent = pinger.send(&action, &fields).await;
        // A typo in the report file (an undeclared value, a bad expiry)
        // must not lose the run: send the outcome again without the report,
        // saying why in the message, and warn.
        if let Err(PingFailure::Refused { status: 400, text }) = &sent {
            if fields.has_report() {
                warn.say(&format!(
                    "deadman refused the report ({text}); sending the run's outcome without it"
                ));
                let why = format!("deadman refused this run's report: {text}");
                sent = pinger.send(&action, &fields.without_report(&why)).await;
            }
        }
        if let Err(failure) = sent {
            warn.say(&format!(
                "the finish ping for check {:?} failed: {failure}",
                pinger.check()
            ));
        }
    }
    ending.exit_code()
}

/// The finish ping's action: the exit status (128+N for signal N), or
/// `/fail` with reason timeout.
fn finish_action(ending: &Ending, fields: &mut Fields) -> String {
    match ending {
        Ending::TimedOut { .. } => {
            fields.reason = Some("timeout".into());
            "fail".into()
        }
        other => other.exit_code().to_string(),
    }
}

/// How the command ended (when that is not plain from the status) above
/// its output.
fn message(ending: &Ending, output: String) -> String {
    match ending.describe() {
        Some(line) if output.is_empty() => line,
        Some(line) => format!("{line}\n{output}"),
        None => output,
    }
}

/// A run id no other run has: 96 random bits, in hex.
fn fresh_rid() -> String {
    let mut bytes = [0u8; 12];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if random.is_err() {
        // No /dev/urandom (a bare chroot): the time and pid are unique
        // enough for one host.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        return format!("{nanos}-{}", std::process::id());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The file behind `DEADMAN_REPORT`: fresh, private, removed afterwards.
struct ReportFile {
    path: PathBuf,
}

impl ReportFile {
    fn create(rid: &str, warn: Warn) -> Option<ReportFile> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let path =
            std::env::temp_dir().join(format!("deadman-report-{}-{rid}", std::process::id()));
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path);
        match created {
            Ok(_) => Some(ReportFile { path }),
            Err(err) => {
                warn.say(&format!(
                    "cannot create the report file {} ({err}); DEADMAN_REPORT is not set",
                    path.display()
                ));
                None
            }
        }
    }

    fn env(&self) -> (OsString, OsString) {
        ("DEADMAN_REPORT".into(), self.path.clone().into_os_string())
    }

    /// Reads what the job wrote into the finish ping, and removes the file.
    fn read_into(self, fields: &mut Fields, warn: Warn) {
        let text = std::fs::read(&self.path).map(|b| String::from_utf8_lossy(&b).into_owned());
        let _ = std::fs::remove_file(&self.path);
        let text = match text {
            Ok(text) => text,
            Err(err) => {
                warn.say(&format!(
                    "cannot read DEADMAN_REPORT {}: {err}",
                    self.path.display()
                ));
                return;
            }
        };
        let (report, bad) = report_file::parse(&text);
        for line in bad {
            warn.say(&format!("DEADMAN_REPORT {line}; skipped"));
        }
        fields.records = report.records;
        fields.expiries = report.expiries;
        fields.values = report.values;
    }
}

/// The command without the wrapper, when the wrapper cannot work.
fn run_plainly(command: &[OsString]) -> u8 {
    let Some((program, args)) = command.split_first() else {
        return 127;
    };
    match std::process::Command::new(program).args(args).status() {
        Ok(status) => status.code().map_or(1, |c| c.clamp(0, 255) as u8),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => 127,
        Err(_) => 126,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rids() {
        assert!(parse_rid("run-42.a_b:c").is_ok());
        assert!(parse_rid("").is_err());
        assert!(parse_rid("a b").is_err());
        assert!(parse_rid(&"x".repeat(65)).is_err());
        let (a, b) = (fresh_rid(), fresh_rid());
        assert_ne!(a, b);
        assert!(parse_rid(&a).is_ok(), "{a}");
    }

    #[test]
    fn finish_actions() {
        let mut fields = Fields::default();
        assert_eq!(finish_action(&Ending::Exited(0), &mut fields), "0");
        assert_eq!(finish_action(&Ending::Signalled(9), &mut fields), "137");
        assert_eq!(fields.reason, None);
        let timed_out = Ending::TimedOut {
            after: Duration::from_secs(1),
            killed: false,
        };
        assert_eq!(finish_action(&timed_out, &mut fields), "fail");
        assert_eq!(fields.reason.as_deref(), Some("timeout"));
    }

    #[test]
    fn messages() {
        assert_eq!(message(&Ending::Exited(0), "out\n".into()), "out\n");
        assert_eq!(
            message(&Ending::Signalled(9), "out\n".into()),
            "deadman run: the command was killed by signal 9 (SIGKILL)\nout\n"
        );
    }
}
