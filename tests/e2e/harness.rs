//! Processes, HTTP, the webhook receiver, the pinger and the scaled rules
//! copy: the parts of the end-to-end harness that know nothing of scenarios.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::*;

// ---------------------------------------------------------------------------
// Processes

/// A child process, killed (SIGKILL, by its PID) and reaped when dropped.
pub(crate) struct Proc {
    pub(crate) name: String,
    pub(crate) child: Option<Child>,
}

impl Proc {
    pub(crate) fn new(name: &str, child: Child) -> Proc {
        Proc {
            name: name.to_string(),
            child: Some(child),
        }
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills and reaps the process (idempotent).
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Some(description) if the process has exited.
    pub(crate) fn exited(&mut self) -> Option<String> {
        match self.child.as_mut().map(Child::try_wait) {
            None => Some("killed by the test".into()),
            Some(Ok(Some(status))) => Some(status.to_string()),
            Some(Ok(None)) => None,
            Some(Err(e)) => Some(format!("try_wait: {e}")),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

pub(crate) fn require_tools() {
    let missing: Vec<&str> = ["prometheus", "promtool", "prometheus-alertmanager"]
        .into_iter()
        .filter(|tool| find_on_path(tool).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "the end-to-end test needs {missing:?} on PATH, and does not install anything itself. \
         The README's test command, scripts/test, installs them (Debian packages `prometheus` \
         and `prometheus-alertmanager`); or run: apt-get install prometheus prometheus-alertmanager"
    );
}

/// A free loopback port (bound to port 0, then released for the child).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local addr")
        .port()
}

pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("(unreadable: {e})"));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---------------------------------------------------------------------------
// HTTP (HTTP/1.0, so Go servers never answer chunked)

pub(crate) fn http(addr: &str, method: &str, path: &str) -> Result<(u16, String), String> {
    let sock = addr
        .parse()
        .map_err(|e| format!("bad address {addr}: {e}"))?;
    let mut stream = TcpStream::connect_timeout(&sock, Duration::from_secs(5))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )
    .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("read from {addr}: {e}"))?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("malformed response from {addr}{path}: {text:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in response from {addr}{path}: {head:?}"))?;
    Ok((status, body.to_string()))
}

pub(crate) fn get_json(addr: &str, path: &str) -> Result<Value, String> {
    let (status, body) = http(addr, "GET", path)?;
    if status != 200 {
        return Err(format!("GET {addr}{path}: HTTP {status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("GET {addr}{path}: {e}: {body}"))
}

pub(crate) fn wait_http_ready(proc: &mut Proc, addr: &str, path: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, _)) = http(addr, "GET", path) {
            return;
        }
        if let Some(status) = proc.exited() {
            panic!(
                "{} exited ({status}) before it was ready; its log:\n{}",
                proc.name,
                tail(log, 40)
            );
        }
        assert!(
            Instant::now() < deadline,
            "{} at {addr} not ready after 30s; its log:\n{}",
            proc.name,
            tail(log, 40)
        );
        thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------
// The webhook receiver

pub(crate) struct Notification {
    pub(crate) at: Instant,
    pub(crate) body: Value,
}

pub(crate) type Inbox = Arc<Mutex<Vec<Notification>>>;

/// Accepts Alertmanager's webhook POSTs (one per connection) and records
/// each JSON body with its arrival time. The thread lives until the test
/// process exits; it holds no child process.
pub(crate) fn start_webhook() -> (String, Inbox) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind webhook");
    let addr = listener.local_addr().expect("webhook addr").to_string();
    let inbox: Inbox = Arc::default();
    let sink = inbox.clone();
    thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let sink = sink.clone();
            thread::spawn(move || receive(stream, &sink));
        }
    });
    (addr, inbox)
}

pub(crate) fn receive(stream: TcpStream, sink: &Mutex<Vec<Notification>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut length = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let at = Instant::now();
    let body = serde_json::from_slice(&body).unwrap_or_else(
        |e| serde_json::json!({ "unparsable": e.to_string(), "raw": String::from_utf8_lossy(&body) }),
    );
    sink.lock().unwrap().push(Notification { at, body });
    let mut stream = stream;
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

// ---------------------------------------------------------------------------
// The background pinger

#[derive(Default)]
pub(crate) struct PingState {
    pub(crate) enabled: HashMap<String, bool>,
    pub(crate) last_ok: HashMap<String, Instant>,
    pub(crate) errors: Vec<String>,
}

/// Pings the enabled checks on one replica every [`PING_EVERY`]. A whole
/// round runs under the lock, so once `disable` returns no ping of that check
/// is in flight and `last_ok` is exactly when its silence began.
pub(crate) struct Pinger {
    pub(crate) state: Arc<Mutex<PingState>>,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) thread: Option<JoinHandle<()>>,
}

impl Pinger {
    pub(crate) fn start(addr: String, checks: &[&str]) -> Pinger {
        let state = Arc::new(Mutex::new(PingState::default()));
        {
            let mut s = state.lock().unwrap();
            for check in checks {
                s.enabled.insert(check.to_string(), true);
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let thread = thread::spawn(move || {
            while !sp.load(Ordering::SeqCst) {
                {
                    let mut s = st.lock().unwrap();
                    let names: Vec<String> = s
                        .enabled
                        .iter()
                        .filter(|(_, on)| **on)
                        .map(|(n, _)| n.clone())
                        .collect();
                    for name in names {
                        match http(&addr, "POST", &format!("/ping/{name}?records=1")) {
                            Ok((200, _)) => {
                                s.last_ok.insert(name, Instant::now());
                            }
                            Ok((status, body)) => {
                                s.errors.push(format!("ping {name}: HTTP {status}: {body}"))
                            }
                            Err(e) => s.errors.push(format!("ping {name}: {e}")),
                        }
                    }
                }
                thread::sleep(PING_EVERY);
            }
        });
        Pinger {
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops pinging `check`; returns when its last accepted ping was.
    pub(crate) fn disable(&self, check: &str) -> Instant {
        let mut s = self.state.lock().unwrap();
        s.enabled.insert(check.to_string(), false);
        *s.last_ok
            .get(check)
            .unwrap_or_else(|| panic!("{check} was never pinged successfully: {:?}", s.errors))
    }

    pub(crate) fn enable(&self, check: &str) {
        self.state
            .lock()
            .unwrap()
            .enabled
            .insert(check.to_string(), true);
    }

    pub(crate) fn errors(&self) -> Vec<String> {
        self.state.lock().unwrap().errors.clone()
    }

    /// Stops the thread; returns each check's last accepted ping.
    pub(crate) fn stop(&mut self) -> HashMap<String, Instant> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.state.lock().unwrap().last_ok.clone()
    }
}

impl Drop for Pinger {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------
// The rules copy

/// Milliseconds of a Prometheus duration such as `10m` or `1h30m`.
pub(crate) fn duration_ms(text: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, ms) = [
            ("ms", 1),
            ("s", 1_000),
            ("m", 60_000),
            ("h", 3_600_000),
            ("d", 86_400_000),
            ("w", 604_800_000),
            ("y", 31_536_000_000),
        ]
        .into_iter()
        .find(|(u, _)| rest.starts_with(u))?;
        rest = &rest[unit.len()..];
        total += n * ms;
    }
    Some(total)
}

/// One alerting rule's `for` (or `keep_firing_for`), before and after
/// scaling.
pub(crate) struct ScaledFor {
    pub(crate) alert: String,
    /// `for` or `keep_firing_for`.
    pub(crate) field: &'static str,
    pub(crate) original: String,
    pub(crate) scaled: Duration,
}

/// The rules text with every `for:` and `keep_firing_for:` divided by
/// [`SCALE`]; every other byte is unchanged (line endings included).
pub(crate) fn scale_rules(original: &str) -> (String, Vec<ScaledFor>) {
    let mut out = String::with_capacity(original.len());
    let mut fors = Vec::new();
    let mut alert = String::new();
    for line in original.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        let trimmed = body.trim_start();
        let indent = &body[..body.len() - trimmed.len()];
        // The file is rendered by jsonnet, which quotes every string value.
        if let Some(name) = trimmed.strip_prefix("- alert:") {
            alert = name.trim().trim_matches('"').to_string();
        }
        let field = ["for", "keep_firing_for"]
            .into_iter()
            .find_map(|f| Some((f, trimmed.strip_prefix(f)?.strip_prefix(':')?)));
        if let Some((field, value)) = field {
            let value = value.trim().trim_matches('"');
            let ms = duration_ms(value)
                .unwrap_or_else(|| panic!("cannot parse `{field}: {value}` of alert {alert}"));
            assert_eq!(
                ms % SCALE,
                0,
                "`{field}: {value}` of {alert} is not a whole number of ms once divided by {SCALE}"
            );
            let scaled = ms / SCALE;
            write!(out, "{indent}{field}: {scaled}ms{ending}").unwrap();
            fors.push(ScaledFor {
                alert: alert.clone(),
                field,
                original: value.to_string(),
                scaled: Duration::from_millis(scaled),
            });
        } else {
            out.push_str(line);
        }
    }
    (out, fors)
}
