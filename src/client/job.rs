//! The wrapped command as a process: started in its own process group,
//! its output passed through and kept, signals forwarded to the group, a
//! timeout enforced with SIGTERM then SIGKILL, and how it ended.

use std::ffi::OsString;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::time::{sleep_until, Instant};

use super::output::Tail;

/// After the command exits, how long its output may still take to drain:
/// a child it left in the background may hold the pipes open for hours,
/// and the finish ping must not wait for it.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// How often a timed-out group is looked at while its SIGKILL is pending.
const GROUP_POLL: Duration = Duration::from_millis(50);

/// What to run and how long it may take.
pub struct Spec {
    /// The program and its arguments.
    pub command: Vec<OsString>,
    /// Added to the environment (`DEADMAN_REPORT`).
    pub env: Vec<(OsString, OsString)>,
    /// `--timeout`: SIGTERM to the group after this.
    pub timeout: Option<Duration>,
    /// `--kill-after`: SIGKILL this long after the SIGTERM.
    pub kill_after: Duration,
}

/// How the command ended.
#[derive(Debug)]
pub enum Ending {
    /// It exited with this status.
    Exited(u8),
    /// A signal ended it (the number).
    Signalled(i32),
    /// `--timeout` ran out; `killed` when SIGTERM was not enough.
    TimedOut { after: Duration, killed: bool },
    /// It could not be started.
    CannotStart {
        program: String,
        error: std::io::Error,
    },
}

impl Ending {
    /// The wrapper's exit status, as a shell or `timeout` would give it.
    pub fn exit_code(&self) -> u8 {
        match self {
            Ending::Exited(code) => *code,
            Ending::Signalled(signal) => (128 + signal).clamp(0, 255) as u8,
            Ending::TimedOut { .. } => 124,
            Ending::CannotStart { error, .. } => match error.kind() {
                std::io::ErrorKind::NotFound => 127,
                _ => 126,
            },
        }
    }

    /// The wrapper's own line at the top of the message, if it has one.
    pub fn describe(&self) -> Option<String> {
        match self {
            Ending::Exited(_) => None,
            Ending::Signalled(signal) => Some(format!(
                "deadman run: the command was killed by signal {signal} ({})",
                signal_name(*signal)
            )),
            Ending::TimedOut { after, killed } => Some(format!(
                "deadman run: timed out after {} (--timeout); SIGTERM sent to its process group{}",
                humantime::format_duration(*after),
                if *killed { ", then SIGKILL" } else { "" }
            )),
            Ending::CannotStart { program, error } => {
                let program: String = program.chars().take(100).collect();
                Some(format!("deadman run: cannot start {program:?}: {error}"))
            }
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        _ => "another signal",
    }
}

/// The signals forwarded to the command's group.
struct Forwarded {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl Forwarded {
    fn install() -> std::io::Result<Forwarded> {
        Ok(Forwarded {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    async fn next(&mut self) -> i32 {
        tokio::select! {
            _ = self.interrupt.recv() => libc::SIGINT,
            _ = self.terminate.recv() => libc::SIGTERM,
            _ = self.hangup.recv() => libc::SIGHUP,
        }
    }
}

/// Sends `signal` to every process in the group led by `leader`.
fn signal_group(leader: u32, signal: i32) {
    let Ok(pid) = libc::pid_t::try_from(leader) else {
        return;
    };
    // SAFETY: kill(2) with a negative pid only sends a signal; it touches
    // no memory. The group is the command's own (process_group(0)), so
    // nothing outside the job is hit.
    unsafe {
        libc::kill(-pid, signal);
    }
}

/// Runs the command to its end. Output goes to the wrapper's own stdout
/// and stderr as it comes, and into `tail`.
pub async fn run(spec: Spec, tail: Arc<Mutex<Tail>>) -> Ending {
    // Installed before the command starts, so a SIGTERM that comes at
    // once is forwarded instead of killing the wrapper (and orphaning
    // the command, whose finish would never be reported).
    let mut forwarded = Forwarded::install().ok();
    let Some((program, args)) = spec.command.split_first() else {
        return Ending::CannotStart {
            program: String::new(),
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "no command given"),
        };
    };
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            return Ending::CannotStart {
                program: program.to_string_lossy().into_owned(),
                error,
            }
        }
    };
    let Some(leader) = child.id() else {
        return Ending::Exited(0);
    };
    let mut pumps = Vec::new();
    if let Some(out) = child.stdout.take() {
        pumps.push(tokio::spawn(pump(out, tokio::io::stdout(), tail.clone())));
    }
    if let Some(err) = child.stderr.take() {
        pumps.push(tokio::spawn(pump(err, tokio::io::stderr(), tail)));
    }
    let mut watch = Watch {
        leader,
        timeout: spec.timeout,
        kill_after: spec.kill_after,
        terminated_at: None,
        killed: false,
    };
    let status = watch.wait(&mut child, forwarded.as_mut()).await;
    watch.drain(pumps).await;
    match (spec.timeout, watch.terminated_at) {
        (Some(after), Some(_)) => Ending::TimedOut {
            after,
            killed: watch.killed,
        },
        _ => status,
    }
}

/// The command's group while it runs: timeout and kill deadlines.
struct Watch {
    leader: u32,
    timeout: Option<Duration>,
    kill_after: Duration,
    /// When the timeout's SIGTERM went out.
    terminated_at: Option<Instant>,
    /// Whether SIGKILL followed.
    killed: bool,
}

impl Watch {
    /// The next deadline: the timeout, then the SIGKILL after it.
    fn deadline(&self, started: Instant) -> Option<Instant> {
        match (self.terminated_at, self.killed) {
            (None, _) => self.timeout.map(|t| started + t),
            (Some(at), false) => Some(at + self.kill_after),
            (Some(_), true) => None,
        }
    }

    /// Acts on a deadline that passed.
    fn on_deadline(&mut self) {
        if self.terminated_at.is_none() {
            signal_group(self.leader, libc::SIGTERM);
            self.terminated_at = Some(Instant::now());
        } else {
            signal_group(self.leader, libc::SIGKILL);
            self.killed = true;
        }
    }

    /// Waits for the command, forwarding signals and enforcing the timeout.
    async fn wait(&mut self, child: &mut Child, mut forwarded: Option<&mut Forwarded>) -> Ending {
        let started = Instant::now();
        loop {
            let deadline = self.deadline(started);
            tokio::select! {
                status = child.wait() => return ending(status),
                signal = async { match forwarded.as_mut() {
                    Some(f) => f.next().await,
                    None => std::future::pending().await,
                } } => signal_group(self.leader, signal),
                _ = async { match deadline {
                    Some(at) => sleep_until(at).await,
                    None => std::future::pending().await,
                } } => self.on_deadline(),
            }
        }
    }

    /// Lets the output drain once the command has exited. After a
    /// timeout, what is left of its group gets SIGKILL when `--kill-after`
    /// runs out (a child that ignores SIGTERM is not left running).
    async fn drain(&mut self, pumps: Vec<tokio::task::JoinHandle<()>>) {
        let all = async {
            for pump in pumps {
                let _ = pump.await;
            }
        };
        tokio::pin!(all);
        if let (Some(at), false) = (self.terminated_at, self.killed) {
            let kill_at = at + self.kill_after;
            tokio::select! {
                _ = &mut all => {
                    // The output closed, but a member that let go of it
                    // (`cmd >/dev/null 2>&1 &`) and ignores SIGTERM may
                    // still run: it is killed on time too.
                    while group_alive(self.leader) && Instant::now() < kill_at {
                        tokio::time::sleep(GROUP_POLL).await;
                    }
                    if group_alive(self.leader) {
                        self.on_deadline();
                    }
                    return;
                }
                _ = sleep_until(kill_at) => self.on_deadline(),
            }
        }
        let _ = tokio::time::timeout(DRAIN_GRACE, all).await;
    }
}

/// Whether any process is left in the group led by `leader`.
fn group_alive(leader: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(leader) else {
        return false;
    };
    // SAFETY: kill(2) with signal 0 sends nothing; it only reports whether
    // the group has a member this process may signal.
    unsafe { libc::kill(-pid, 0) == 0 }
}

fn ending(status: std::io::Result<std::process::ExitStatus>) -> Ending {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => Ending::Exited(code.clamp(0, 255) as u8),
            (None, Some(signal)) => Ending::Signalled(signal),
            (None, None) => Ending::Exited(1),
        },
        // waitpid failing is not something the command did; report it as
        // a failure rather than guess.
        Err(_) => Ending::Exited(1),
    }
}

/// Copies one of the command's streams to the wrapper's, keeping the tail.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    tail: Arc<Mutex<Tail>>,
) {
    let mut buffer = vec![0u8; 8192];
    let mut passing = true;
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        tail.lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(&buffer[..n]);
        // A closed stdout of the wrapper must not stop the command:
        // keep reading (and keeping) what it writes.
        if passing {
            passing = to.write_all(&buffer[..n]).await.is_ok() && to.flush().await.is_ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_as_a_shell_gives_them() {
        assert_eq!(Ending::Exited(3).exit_code(), 3);
        assert_eq!(Ending::Signalled(9).exit_code(), 137);
        let timed_out = Ending::TimedOut {
            after: Duration::from_secs(1),
            killed: true,
        };
        assert_eq!(timed_out.exit_code(), 124);
        let missing = Ending::CannotStart {
            program: "x".into(),
            error: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(missing.exit_code(), 127);
        let denied = Ending::CannotStart {
            program: "x".into(),
            error: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert_eq!(denied.exit_code(), 126);
        assert_eq!(
            Ending::Signalled(15).describe().as_deref(),
            Some("deadman run: the command was killed by signal 15 (SIGTERM)")
        );
        assert!(timed_out
            .describe()
            .is_some_and(|d| d.ends_with("then SIGKILL")));
    }
}
