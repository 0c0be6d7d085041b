//! End to end: the real `deadman` binary (two replicas), the real Prometheus
//! evaluating a copy of `alerts/deadman.rules.yml`, the real Alertmanager
//! with the inhibit rules of `examples/alertmanager.yml`, and a webhook
//! receiver inside this test that records every notification and when it
//! arrived. Everything listens on 127.0.0.1 only, on free ports, with its
//! state in a temp dir; every process is killed by its PID when the test ends,
//! also when it fails.
//!
//! Needs `prometheus`, `promtool` (Debian package `prometheus`) and
//! `prometheus-alertmanager` (Debian package `prometheus-alertmanager`) on
//! PATH; `scripts/test`, the test command in the README, installs them. This
//! test installs nothing and fails (it does not skip) when they are missing.
//!
//! One stack serves every scenario; each scenario has its own check, so they
//! do not interfere:
//!
//! | check         | scenario                                                   |
//! | ------------- | ---------------------------------------------------------- |
//! | `e2e-late`    | 1. silence -> DeadmanCheckLate; 2. ping -> resolved        |
//! | `e2e-auth`    | 3. fail with reason=auth -> DeadmanCheckAuthFailing        |
//! | `e2e-ha`      | 4. pinged on replica A only: not late; silence -> one page |
//! | `e2e-inhibit` | 5. exporter killed -> DeadmanExporterDown, checks inhibited|
//! | `e2e-volume`  | 7. pinged on time with too few records -> VolumeLow (#5)   |
//!
//! and 6., `scripts/lint-dashboards --prometheus-url`, runs against the same
//! Prometheus once it has data.
//!
//! Time scale: the rules' `for:` durations are minutes. The copy of the rules
//! given to Prometheus has every `for:` divided by [`SCALE`] (written in
//! milliseconds) and nothing else changed, byte for byte. See [`SCALE`] for
//! why 60.

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Every `for:` in the rules copy is the original divided by this.
///
/// The rules file relies on one ordering: the per-check alerts' `for` (10m)
/// is deliberately longer than DeadmanExporterDown/DeadmanExporterAbsent's
/// (5m), so that when the exporter dies the exporter alert is firing in
/// Alertmanager (and inhibits) before any per-check alert can fire. Dividing
/// every `for` by one factor keeps that order, but the head start must also
/// survive the two delays that are *not* scaled here: the exporter alert
/// cannot even become pending before a scrape fails (up to one scrape
/// interval, 1s) and the rule group evaluates (up to one evaluation interval,
/// 1s). In the worst case a check's deadline passes at the very moment the
/// exporter dies, so the scaled gap (5m / SCALE) must exceed those 2s with
/// room to spare on a loaded 2-core machine:
///   * 200 (the obvious "minutes to ~seconds") gives 10m -> 3s, 5m -> 1.5s: a
///     1.5s gap, less than the 2s detection delay, so a per-check page could
///     race the exporter page;
///   * 100 gives a 3s gap, 1s of slack;
///   * 60 (one real minute is one test second) gives 5m -> 5s, 10m -> 10s,
///     15m -> 15s: a 5s gap, 3s of slack, and every scenario still takes
///     under 20s.
///
/// Every `for` in the file is a whole number of minutes, so the scaled values
/// are exact (whole seconds, written as ms).
const SCALE: u64 = 60;

/// The fast checks: `every` and `grace` (must match [`DEADMAN_TOML`]).
const EVERY: f64 = 2.0;
const GRACE: f64 = 1.0;
/// Prometheus scrape and evaluation interval, Alertmanager group_wait and
/// group_interval (must match the configs below).
const SCRAPE: f64 = 1.0;
const EVAL: f64 = 1.0;
const GROUP_WAIT: f64 = 1.0;
const GROUP_INTERVAL: f64 = 1.0;
/// Slack on every latency bound.
const MARGIN: f64 = 3.0;
/// How often the background pinger pings the checks that must stay fresh.
const PING_EVERY: Duration = Duration::from_millis(300);

const DEADMAN_TOML: &str = r#"# deadman e2e test config (tests/e2e.rs); both replicas load this.
[[check]]
name = "e2e-late"
description = "e2e: goes quiet, then pings again"
owner = "alice@example.com"
team = "finance"
severity = "critical"
runbook = "https://runbooks.example.com/e2e-late"
every = "2s"
grace = "1s"

[[check]]
name = "e2e-auth"
description = "e2e: fails with reason=auth"
owner = "bob@example.com"
team = "platform"
severity = "warning"
runbook = "https://runbooks.example.com/e2e-auth"
# Long period: this check must only page for the auth failure.
every = "1h"
grace = "1s"

[[check]]
name = "e2e-ha"
description = "e2e: pinged on one replica only"
owner = "carol@example.com"
team = "ops"
severity = "critical"
runbook = "https://runbooks.example.com/e2e-ha"
every = "2s"
grace = "1s"

[[check]]
name = "e2e-inhibit"
description = "e2e: pinged until the exporter is killed"
owner = "dave@example.com"
team = "finance"
severity = "warning"
runbook = "https://runbooks.example.com/e2e-inhibit"
every = "2s"
grace = "1s"

[[check]]
name = "e2e-volume"
description = "e2e: on time, but moves too few records"
owner = "erin@example.com"
team = "finance"
severity = "critical"
runbook = "https://runbooks.example.com/e2e-volume"
every = "2s"
grace = "1s"

[check.volume]
# Pinged every 0.3s with records=1: about 200 a minute, far below 1000.
min_records = 1000
window = "1m"
"#;

/// The rolling volume window of `e2e-volume` (must match [`DEADMAN_TOML`]):
/// it is due one window after the check was first configured.
const VOLUME_WINDOW: f64 = 60.0;

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

// ---------------------------------------------------------------------------
// Processes

/// A child process, killed (SIGKILL, by its PID) and reaped when dropped.
struct Proc {
    name: String,
    child: Option<Child>,
}

impl Proc {
    fn new(name: &str, child: Child) -> Proc {
        Proc {
            name: name.to_string(),
            child: Some(child),
        }
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills and reaps the process (idempotent).
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Some(description) if the process has exited.
    fn exited(&mut self) -> Option<String> {
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

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn require_tools() {
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
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local addr")
        .port()
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("(unreadable: {e})"));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---------------------------------------------------------------------------
// HTTP (HTTP/1.0, so Go servers never answer chunked)

fn http(addr: &str, method: &str, path: &str) -> Result<(u16, String), String> {
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

fn get_json(addr: &str, path: &str) -> Result<Value, String> {
    let (status, body) = http(addr, "GET", path)?;
    if status != 200 {
        return Err(format!("GET {addr}{path}: HTTP {status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("GET {addr}{path}: {e}: {body}"))
}

fn wait_http_ready(proc: &mut Proc, addr: &str, path: &str, log: &Path) {
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

struct Notification {
    at: Instant,
    body: Value,
}

type Inbox = Arc<Mutex<Vec<Notification>>>;

/// Accepts Alertmanager's webhook POSTs (one per connection) and records
/// each JSON body with its arrival time. The thread lives until the test
/// process exits; it holds no child process.
fn start_webhook() -> (String, Inbox) {
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

fn receive(stream: TcpStream, sink: &Mutex<Vec<Notification>>) {
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
struct PingState {
    enabled: HashMap<String, bool>,
    last_ok: HashMap<String, Instant>,
    errors: Vec<String>,
}

/// Pings the enabled checks on one replica every [`PING_EVERY`]. A whole
/// round runs under the lock, so once `disable` returns no ping of that check
/// is in flight and `last_ok` is exactly when its silence began.
struct Pinger {
    state: Arc<Mutex<PingState>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Pinger {
    fn start(addr: String, checks: &[&str]) -> Pinger {
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
    fn disable(&self, check: &str) -> Instant {
        let mut s = self.state.lock().unwrap();
        s.enabled.insert(check.to_string(), false);
        *s.last_ok
            .get(check)
            .unwrap_or_else(|| panic!("{check} was never pinged successfully: {:?}", s.errors))
    }

    fn enable(&self, check: &str) {
        self.state
            .lock()
            .unwrap()
            .enabled
            .insert(check.to_string(), true);
    }

    fn errors(&self) -> Vec<String> {
        self.state.lock().unwrap().errors.clone()
    }

    /// Stops the thread; returns each check's last accepted ping.
    fn stop(&mut self) -> HashMap<String, Instant> {
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
fn duration_ms(text: &str) -> Option<u64> {
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

/// One alerting rule's `for`, before and after scaling.
struct ScaledFor {
    alert: String,
    original: String,
    scaled: Duration,
}

/// The rules text with every `for:` divided by [`SCALE`]; every other byte is
/// unchanged (line endings included).
fn scale_rules(original: &str) -> (String, Vec<ScaledFor>) {
    let mut out = String::with_capacity(original.len());
    let mut fors = Vec::new();
    let mut alert = String::new();
    for line in original.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        let trimmed = body.trim_start();
        let indent = &body[..body.len() - trimmed.len()];
        if let Some(name) = trimmed.strip_prefix("- alert:") {
            alert = name.trim().to_string();
        }
        if let Some(value) = trimmed.strip_prefix("for:") {
            let value = value.trim();
            let ms = duration_ms(value)
                .unwrap_or_else(|| panic!("cannot parse `for: {value}` of alert {alert}"));
            assert_eq!(
                ms % SCALE,
                0,
                "`for: {value}` of {alert} is not a whole number of ms once divided by {SCALE}"
            );
            let scaled = ms / SCALE;
            write!(out, "{indent}for: {scaled}ms{ending}").unwrap();
            fors.push(ScaledFor {
                alert: alert.clone(),
                original: value.to_string(),
                scaled: Duration::from_millis(scaled),
            });
        } else {
            out.push_str(line);
        }
    }
    (out, fors)
}

// ---------------------------------------------------------------------------
// The stack

struct Stack {
    t0: Instant,
    prom: String,
    am: String,
    inbox: Inbox,
    pinger: Pinger,
    deadman_addrs: Vec<String>,
    deadman_logs: Vec<Receiver<String>>,
    // Processes: dropped (killed) in this order, before `dir` is removed.
    lint: Option<Proc>,
    deadmans: Vec<Proc>,
    prometheus: Proc,
    alertmanager: Proc,
    prom_log: PathBuf,
    am_log: PathBuf,
    dir: tempfile::TempDir,
}

/// A firing or resolved alert as received in a notification.
struct Received {
    at: Instant,
    status: String,
    labels: serde_json::Map<String, Value>,
}

impl Stack {
    fn t(&self, at: Instant) -> f64 {
        secs(at.saturating_duration_since(self.t0))
    }

    /// Every alert of every notification, in arrival order.
    fn received(&self) -> Vec<Received> {
        let inbox = self.inbox.lock().unwrap();
        let mut out = Vec::new();
        for n in inbox.iter() {
            for a in n.body["alerts"].as_array().into_iter().flatten() {
                out.push(Received {
                    at: n.at,
                    status: a["status"].as_str().unwrap_or("").to_string(),
                    labels: a["labels"].as_object().cloned().unwrap_or_default(),
                });
            }
        }
        out
    }

    fn received_for(&self, alertname: &str, check: Option<&str>, status: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| {
                r.status == status
                    && r.labels.get("alertname").and_then(Value::as_str) == Some(alertname)
                    && check
                        .is_none_or(|c| r.labels.get("check").and_then(Value::as_str) == Some(c))
            })
            .collect()
    }

    fn unix_now(&self) -> f64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    }

    fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let q: String = form_urlencoded::byte_serialize(expr.as_bytes()).collect();
        let doc = get_json(&self.prom, &format!("/api/v1/query?query={q}"))?;
        if doc["status"] != "success" {
            return Err(format!("query {expr}: {doc}"));
        }
        Ok(doc["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    fn am_alerts(&self) -> Result<Vec<Value>, String> {
        get_json(&self.am, "/api/v2/alerts").map(|v| v.as_array().cloned().unwrap_or_default())
    }

    /// Everything useful for a failure message.
    fn diagnostics(&self) -> String {
        let mut d = String::new();
        let _ = writeln!(
            d,
            "\n===== processes: prometheus {} pid {:?}, alertmanager {} pid {:?}, deadman {:?} \
             (pids {:?}), work dir {} =====",
            self.prom,
            self.prometheus.pid(),
            self.am,
            self.alertmanager.pid(),
            self.deadman_addrs,
            self.deadmans.iter().map(Proc::pid).collect::<Vec<_>>(),
            self.dir.path().display()
        );
        let _ = writeln!(d, "===== notifications received by the webhook =====");
        for n in self.inbox.lock().unwrap().iter() {
            let _ = writeln!(
                d,
                "+{:.1}s status={} {}",
                self.t(n.at),
                n.body["status"].as_str().unwrap_or("?"),
                n.body["alerts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| format!("[{} {}]", a["status"], a["labels"]))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        let _ = writeln!(d, "===== Alertmanager /api/v2/alerts =====");
        match self.am_alerts() {
            Ok(alerts) => {
                for a in alerts {
                    let _ = writeln!(
                        d,
                        "{} status={} startsAt={} fingerprint={}",
                        a["labels"], a["status"], a["startsAt"], a["fingerprint"]
                    );
                }
            }
            Err(e) => {
                let _ = writeln!(d, "({e})");
            }
        }
        let _ = writeln!(d, "===== Prometheus ALERTS =====");
        match self.query("ALERTS") {
            Ok(series) => {
                for s in series {
                    let _ = writeln!(d, "{}", s["metric"]);
                }
            }
            Err(e) => {
                let _ = writeln!(d, "({e})");
            }
        }
        let _ = writeln!(d, "===== pinger errors =====\n{:?}", self.pinger.errors());
        let _ = writeln!(
            d,
            "===== prometheus log (tail) =====\n{}",
            tail(&self.prom_log, 15)
        );
        let _ = writeln!(
            d,
            "===== alertmanager log (tail) =====\n{}",
            tail(&self.am_log, 15)
        );
        for (i, rx) in self.deadman_logs.iter().enumerate() {
            let lines: Vec<String> = rx.try_iter().collect();
            let from = lines.len().saturating_sub(10);
            let _ = writeln!(
                d,
                "===== deadman {} log (tail) =====\n{}",
                i,
                lines[from..].join("\n")
            );
        }
        d
    }

    fn fail(&self, message: &str) -> ! {
        panic!(
            "e2e: {message} (at +{:.1}s){}",
            self.t(Instant::now()),
            self.diagnostics()
        )
    }

    fn check(&self, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            self.fail(&message());
        }
    }

    /// Polls `probe` until it returns Some, or fails after `timeout`.
    fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut() -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = probe() {
                return v;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("timed out after {timeout:?} waiting for {what}"));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the first notification of `alertname` (for `check`) with
    /// `status`; returns its arrival time.
    fn wait_notification(
        &self,
        alertname: &str,
        check: Option<&str>,
        status: &str,
        timeout: Duration,
    ) -> Received {
        let what = format!("a {status} {alertname} notification for check {check:?}");
        self.wait_for(&what, timeout, || {
            self.received_for(alertname, check, status)
                .into_iter()
                .next()
        })
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// The `inhibit_rules:` block of examples/alertmanager.yml, verbatim.
fn example_inhibit_rules(example: &str) -> String {
    let mut block = String::new();
    let mut inside = false;
    for line in example.lines() {
        if line.starts_with("inhibit_rules:") {
            inside = true;
        } else if inside && !line.is_empty() && !line.starts_with([' ', '#']) {
            break;
        }
        if inside {
            block.push_str(line);
            block.push('\n');
        }
    }
    assert!(
        block.contains("source_matchers"),
        "no inhibit_rules block found in examples/alertmanager.yml"
    );
    block
}

fn run_tool(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start_stack(t0: Instant) -> (Stack, HashMap<String, Duration>) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_path_buf();

    // Two deadman replicas: same config, separate storage.
    let mut deadmans = Vec::new();
    let mut deadman_addrs = Vec::new();
    let mut deadman_logs = Vec::new();
    for name in ["a", "b"] {
        let d = root.join(format!("deadman-{name}"));
        std::fs::create_dir_all(&d).expect("mkdir");
        write(&d.join("deadman.toml"), DEADMAN_TOML);
        let (child, addr, log) = common::binary::start(&d, &[]);
        deadmans.push(Proc::new(&format!("deadman {name}"), child));
        common::binary::wait_ready(&addr);
        deadman_addrs.push(addr);
        deadman_logs.push(log);
    }
    // Pings go to replica A only. e2e-auth is never pinged by the pinger.
    let pinger = Pinger::start(
        deadman_addrs[0].clone(),
        &["e2e-late", "e2e-ha", "e2e-inhibit", "e2e-volume"],
    );

    let (webhook, inbox) = start_webhook();

    // The rules copy, `for:` scaled.
    let original = std::fs::read_to_string(repo.join("alerts/deadman.rules.yml"))
        .expect("read alerts/deadman.rules.yml");
    let (rules, fors) = scale_rules(&original);
    let rules_path = root.join("deadman.rules.yml");
    write(&rules_path, &rules);
    for f in &fors {
        println!(
            "e2e: rules copy: {} for: {} -> {}ms",
            f.alert,
            f.original,
            f.scaled.as_millis()
        );
    }
    let fors: HashMap<String, Duration> = fors.into_iter().map(|f| (f.alert, f.scaled)).collect();
    run_tool(
        "promtool",
        &["check", "rules", rules_path.to_str().unwrap()],
    );

    // Alertmanager: one webhook receiver, the example's inhibit rules.
    let am_port = free_port();
    let am = format!("127.0.0.1:{am_port}");
    let example = std::fs::read_to_string(repo.join("examples/alertmanager.yml"))
        .expect("read examples/alertmanager.yml");
    let am_config = format!(
        "route:\n  receiver: webhook\n  group_by: [team, alertname, check]\n  \
         group_wait: {GROUP_WAIT}s\n  group_interval: {GROUP_INTERVAL}s\n  repeat_interval: 1h\n\
         receivers:\n  - name: webhook\n    webhook_configs:\n      - url: http://{webhook}/\n        \
         send_resolved: true\n\n{}",
        example_inhibit_rules(&example)
    );
    let am_config_path = root.join("alertmanager.yml");
    write(&am_config_path, &am_config);
    let am_data = root.join("alertmanager-data");
    let am_log = root.join("alertmanager.log");
    let log = std::fs::File::create(&am_log).expect("create alertmanager.log");
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", am_config_path.display()))
        .arg(format!("--storage.path={}", am_data.display()))
        .arg(format!("--web.listen-address={am}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start prometheus-alertmanager");
    let mut alertmanager = Proc::new("alertmanager", child);
    wait_http_ready(&mut alertmanager, &am, "/-/ready", &am_log);

    // Prometheus: both replicas in job "deadman".
    let prom_port = free_port();
    let prom = format!("127.0.0.1:{prom_port}");
    let prom_config = format!(
        "global:\n  scrape_interval: {SCRAPE}s\n  scrape_timeout: {SCRAPE}s\n  \
         evaluation_interval: {EVAL}s\n\
         rule_files:\n  - {}\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am}']\n\
         scrape_configs:\n  - job_name: deadman\n    static_configs:\n      \
         - targets: ['{}', '{}']\n",
        rules_path.display(),
        deadman_addrs[0],
        deadman_addrs[1]
    );
    let prom_config_path = root.join("prometheus.yml");
    write(&prom_config_path, &prom_config);
    run_tool(
        "promtool",
        &["check", "config", prom_config_path.to_str().unwrap()],
    );
    let prom_log = root.join("prometheus.log");
    let log = std::fs::File::create(&prom_log).expect("create prometheus.log");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", prom_config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            root.join("prometheus-data").display()
        ))
        .arg(format!("--web.listen-address={prom}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start prometheus");
    let mut prometheus = Proc::new("prometheus", child);
    wait_http_ready(&mut prometheus, &prom, "/-/ready", &prom_log);

    println!(
        "e2e: started in {:.1}s: deadman A {} (pid {:?}), deadman B {} (pid {:?}), \
         prometheus {prom} (pid {:?}), alertmanager {am} (pid {:?}), webhook {webhook}",
        secs(t0.elapsed()),
        deadman_addrs[0],
        deadmans[0].pid(),
        deadman_addrs[1],
        deadmans[1].pid(),
        prometheus.pid(),
        alertmanager.pid()
    );
    let stack = Stack {
        t0,
        prom,
        am,
        inbox,
        pinger,
        deadman_addrs,
        deadman_logs,
        lint: None,
        deadmans,
        prometheus,
        alertmanager,
        prom_log,
        am_log,
        dir,
    };
    (stack, fors)
}

#[test]
fn end_to_end_with_prometheus_and_alertmanager() {
    require_tools();
    let t0 = Instant::now();
    let (mut stack, fors) = start_stack(t0);
    let for_of = |alert: &str| {
        *fors
            .get(alert)
            .unwrap_or_else(|| panic!("alert {alert} has no `for` in alerts/deadman.rules.yml"))
    };
    let late_for = secs(for_of("DeadmanCheckLate"));
    let auth_for = secs(for_of("DeadmanCheckAuthFailing"));
    let down_for = secs(for_of("DeadmanExporterDown"));
    // The ordering the inhibition relies on, after scaling: the exporter
    // alert fires (detection delay included) before a per-check one can.
    assert!(
        down_for + SCRAPE + EVAL < late_for,
        "scaled `for`s no longer let DeadmanExporterDown ({down_for}s + {SCRAPE}s scrape + \
         {EVAL}s evaluation) fire before DeadmanCheckLate ({late_for}s)"
    );

    // ---- Prometheus has scraped both replicas and the rules see A's pings.
    stack.wait_for(
        "both replicas up and the recording rules producing data",
        Duration::from_secs(30),
        || {
            let up = stack.query(r#"up{job="deadman"} == 1"#).ok()?;
            let fresh = stack
                .query(
                    r#"job_check:deadman_check_last_success_timestamp_seconds:max{check=~"e2e-late|e2e-ha|e2e-inhibit"} > 0"#,
                )
                .ok()?;
            (up.len() == 2 && fresh.len() == 3).then_some(())
        },
    );
    let data_ready = Instant::now();
    println!("e2e: Prometheus has data at +{:.1}s", stack.t(data_ready));

    // ---- 1. silence -> DeadmanCheckLate; 3. fail reason=auth -> AuthFailing
    let silence = stack.pinger.disable("e2e-late");
    let (status, body) = http(
        &stack.deadman_addrs[0],
        "POST",
        "/ping/e2e-auth/fail?reason=auth",
    )
    .unwrap_or_else(|e| stack.fail(&e));
    stack.check(status == 200, || {
        format!("auth fail ping: HTTP {status}: {body}")
    });
    let auth_sent = Instant::now();

    let late_bound = EVERY + GRACE + SCRAPE + EVAL + late_for + GROUP_WAIT + MARGIN;
    let late = stack.wait_notification(
        "DeadmanCheckLate",
        Some("e2e-late"),
        "firing",
        Duration::from_secs_f64(late_bound + 30.0),
    );
    let late_latency = secs(late.at - silence);
    println!(
        "e2e: [1] DeadmanCheckLate e2e-late arrived {late_latency:.2}s after the silence began \
         (bound {late_bound:.1}s = every {EVERY} + grace {GRACE} + scrape {SCRAPE} + eval {EVAL} \
         + for {late_for} + group_wait {GROUP_WAIT} + margin {MARGIN})"
    );
    stack.check(late_latency <= late_bound, || {
        format!("DeadmanCheckLate took {late_latency:.2}s, more than {late_bound:.1}s")
    });
    for (label, want) in [
        ("owner", "alice@example.com"),
        ("team", "finance"),
        ("severity", "critical"),
        ("runbook_url", "https://runbooks.example.com/e2e-late"),
        ("job", "deadman"),
    ] {
        let got = late.labels.get(label).and_then(Value::as_str);
        stack.check(got == Some(want), || {
            format!("DeadmanCheckLate e2e-late label {label} is {got:?}, want {want:?}")
        });
    }

    let auth_bound = SCRAPE + EVAL + auth_for + GROUP_WAIT + MARGIN;
    let auth = stack.wait_notification(
        "DeadmanCheckAuthFailing",
        Some("e2e-auth"),
        "firing",
        Duration::from_secs_f64(auth_bound + 30.0),
    );
    let auth_latency = secs(auth.at - auth_sent);
    println!(
        "e2e: [3] DeadmanCheckAuthFailing e2e-auth arrived {auth_latency:.2}s after the fail ping \
         (bound {auth_bound:.1}s)"
    );
    stack.check(auth_latency <= auth_bound, || {
        format!("DeadmanCheckAuthFailing took {auth_latency:.2}s, more than {auth_bound:.1}s")
    });
    for (label, want) in [
        ("owner", "bob@example.com"),
        ("team", "platform"),
        ("severity", "warning"),
        ("runbook_url", "https://runbooks.example.com/e2e-auth"),
    ] {
        let got = auth.labels.get(label).and_then(Value::as_str);
        stack.check(got == Some(want), || {
            format!("DeadmanCheckAuthFailing e2e-auth label {label} is {got:?}, want {want:?}")
        });
    }

    // ---- 4a. e2e-ha, pinged on replica A only all along, is not late: long
    // enough for a late alert to have fired if replica B's "never succeeded"
    // deadline counted.
    let ha_window = EVERY + GRACE + SCRAPE + EVAL + late_for + GROUP_WAIT + MARGIN;
    let until = data_ready + Duration::from_secs_f64(ha_window);
    if let Some(wait) = until.checked_duration_since(Instant::now()) {
        thread::sleep(wait);
    }
    let ha_firing = stack
        .query(r#"count_over_time(ALERTS{check="e2e-ha",alertstate="firing"}[1h])"#)
        .unwrap_or_else(|e| stack.fail(&e));
    stack.check(ha_firing.is_empty(), || {
        format!("e2e-ha is pinged on replica A but had firing alerts: {ha_firing:?}")
    });
    let ha_notified: Vec<_> = stack
        .received()
        .into_iter()
        .filter(|r| r.labels.get("check").and_then(Value::as_str) == Some("e2e-ha"))
        .collect();
    stack.check(ha_notified.is_empty(), || {
        "e2e-ha is pinged on replica A but was notified".into()
    });
    // Pending (not firing) is harmless; report it, for the record.
    let ha_pending: Vec<String> = stack
        .query(r#"ALERTS{check="e2e-ha"}[1h]"#)
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let values = s["values"].as_array().cloned().unwrap_or_default();
            let ts = |v: Option<&Value>| v.and_then(|v| v[0].as_f64()).unwrap_or(0.0);
            format!(
                "{} {} pending for {} evaluations, {:.1}s..{:.1}s before now",
                s["metric"]["alertname"],
                s["metric"]["alertstate"],
                values.len(),
                stack.unix_now() - ts(values.first()),
                stack.unix_now() - ts(values.last())
            )
        })
        .collect();
    println!(
        "e2e: [4] e2e-ha pinged on replica A only: no late alert after {:.1}s of data \
         (pending ever: {ha_pending:?})",
        secs(data_ready.elapsed()),
    );

    // ---- 2. ping again -> resolved; 4b. silence e2e-ha -> exactly one page;
    // 6. the dashboards' queries run against this Prometheus.
    let lint_out = stack.dir.path().join("lint-dashboards.out");
    let out = std::fs::File::create(&lint_out).expect("create lint output");
    let child = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lint-dashboards"))
        .arg("--prometheus-url")
        .arg(format!("http://{}", stack.prom))
        .args(["--var", "check=e2e-late"])
        .stdout(out.try_clone().expect("clone file"))
        .stderr(out)
        .spawn()
        .expect("start scripts/lint-dashboards");
    stack.lint = Some(Proc::new("lint-dashboards", child));

    let (status, body) =
        http(&stack.deadman_addrs[0], "POST", "/ping/e2e-late").unwrap_or_else(|e| stack.fail(&e));
    stack.check(status == 200, || {
        format!("ping e2e-late: HTTP {status}: {body}")
    });
    let resumed = Instant::now();
    stack.pinger.enable("e2e-late");
    let ha_silence = stack.pinger.disable("e2e-ha");

    let resolve_bound = SCRAPE + EVAL + GROUP_INTERVAL + MARGIN;
    let resolved = stack.wait_notification(
        "DeadmanCheckLate",
        Some("e2e-late"),
        "resolved",
        Duration::from_secs_f64(resolve_bound + 30.0),
    );
    let resolve_latency = secs(resolved.at - resumed);
    println!(
        "e2e: [2] resolved DeadmanCheckLate e2e-late arrived {resolve_latency:.2}s after the ping \
         (bound {resolve_bound:.1}s)"
    );
    stack.check(resolve_latency <= resolve_bound, || {
        format!(
            "the resolved notification took {resolve_latency:.2}s, more than {resolve_bound:.1}s"
        )
    });

    // 6. lint-dashboards (started above) must have finished by now or soon.
    let mut lint = stack.lint.take().expect("lint running");
    let lint_status = stack.wait_for(
        "scripts/lint-dashboards to finish",
        Duration::from_secs(60),
        || lint.exited(),
    );
    let lint_text = std::fs::read_to_string(&lint_out).unwrap_or_default();
    println!(
        "e2e: [6] scripts/lint-dashboards: {lint_status}\n{}",
        lint_text.trim_end()
    );
    stack.check(lint_status == "exit status: 0", || {
        format!("scripts/lint-dashboards against Prometheus failed ({lint_status}):\n{lint_text}")
    });

    let ha = stack.wait_notification(
        "DeadmanCheckLate",
        Some("e2e-ha"),
        "firing",
        Duration::from_secs_f64(late_bound + 30.0),
    );
    let ha_latency = secs(ha.at - ha_silence);
    println!(
        "e2e: [4] DeadmanCheckLate e2e-ha arrived {ha_latency:.2}s after its pings stopped \
         (bound {late_bound:.1}s)"
    );
    stack.check(ha_latency <= late_bound, || {
        format!("DeadmanCheckLate e2e-ha took {ha_latency:.2}s, more than {late_bound:.1}s")
    });
    // A second alert for the other replica would be in the same group (or
    // its own) within a group_interval and an evaluation or two.
    thread::sleep(Duration::from_secs_f64(GROUP_INTERVAL + 2.0 * EVAL + 1.0));
    let ha_pages = stack.received_for("DeadmanCheckLate", Some("e2e-ha"), "firing");
    stack.check(ha_pages.len() == 1, || {
        format!(
            "want exactly one DeadmanCheckLate notification for e2e-ha (not one per replica), got {}",
            ha_pages.len()
        )
    });
    stack.check(!ha_pages[0].labels.contains_key("instance"), || {
        format!(
            "the e2e-ha alert has an instance label: {:?}",
            ha_pages[0].labels
        )
    });
    // The auth failure is the specific cause: Alertmanager must not also page
    // for e2e-auth failing or late (inhibit rule of the example config).
    for alertname in ["DeadmanCheckFailing", "DeadmanCheckLate"] {
        let extra = stack.received_for(alertname, Some("e2e-auth"), "firing");
        stack.check(extra.is_empty(), || {
            format!(
                "{alertname} e2e-auth was notified although DeadmanCheckAuthFailing inhibits it"
            )
        });
    }

    // ---- 7. (#5) pinged on time, too few records -> DeadmanCheckVolumeLow.
    // The window is due VOLUME_WINDOW after the replicas first saw the check.
    let volume_for = secs(for_of("DeadmanCheckVolumeLow"));
    let volume_bound = VOLUME_WINDOW + SCRAPE + EVAL + volume_for + GROUP_WAIT + MARGIN;
    let volume = stack.wait_notification(
        "DeadmanCheckVolumeLow",
        Some("e2e-volume"),
        "firing",
        Duration::from_secs_f64(volume_bound + 30.0),
    );
    let volume_latency = secs(volume.at - t0);
    println!(
        "e2e: [7] DeadmanCheckVolumeLow e2e-volume arrived +{volume_latency:.2}s after the stack \
         started (bound {volume_bound:.1}s = window {VOLUME_WINDOW} + scrape + eval + for \
         {volume_for} + group_wait + margin)"
    );
    stack.check(volume_latency <= volume_bound, || {
        format!("DeadmanCheckVolumeLow took {volume_latency:.2}s, more than {volume_bound:.1}s")
    });
    for (label, want) in [
        ("owner", "erin@example.com"),
        ("team", "finance"),
        ("severity", "critical"),
        ("runbook_url", "https://runbooks.example.com/e2e-volume"),
    ] {
        let got = volume.labels.get(label).and_then(Value::as_str);
        stack.check(got == Some(want), || {
            format!("DeadmanCheckVolumeLow e2e-volume label {label} is {got:?}, want {want:?}")
        });
    }
    let volume_late: Vec<String> = stack
        .received()
        .into_iter()
        .filter(|r| r.labels.get("check").and_then(Value::as_str) == Some("e2e-volume"))
        .filter(|r| {
            r.labels.get("alertname").and_then(Value::as_str) != Some("DeadmanCheckVolumeLow")
        })
        .map(|r| format!("{} {:?}", r.status, r.labels))
        .collect();
    stack.check(volume_late.is_empty(), || {
        format!("e2e-volume pinged on time, yet other alerts arrived: {volume_late:?}")
    });

    // ---- 5. kill every replica -> DeadmanExporterDown (targets still exist,
    // so not Absent); the per-check alerts that follow are inhibited.
    let last_pings = stack.pinger.stop();
    for p in &mut stack.deadmans {
        p.kill();
    }
    let killed = Instant::now();
    let inhibit_silence = last_pings["e2e-inhibit"];
    println!(
        "e2e: [5] killed both replicas at +{:.1}s ({:.2}s after the last e2e-inhibit ping)",
        stack.t(killed),
        secs(killed - inhibit_silence)
    );
    let down_bound = SCRAPE + EVAL + down_for + GROUP_WAIT + MARGIN;
    let down = stack.wait_notification(
        "DeadmanExporterDown",
        None,
        "firing",
        Duration::from_secs_f64(down_bound + 30.0),
    );
    let down_latency = secs(down.at - killed);
    println!(
        "e2e: [5] DeadmanExporterDown arrived {down_latency:.2}s after the kill (bound {down_bound:.1}s)"
    );
    stack.check(down_latency <= down_bound, || {
        format!("DeadmanExporterDown took {down_latency:.2}s, more than {down_bound:.1}s")
    });
    stack.check(
        down.labels.get("job").and_then(Value::as_str) == Some("deadman"),
        || format!("DeadmanExporterDown labels: {:?}", down.labels),
    );

    // The per-check alerts that the dead exporter causes (its checks go late)
    // must reach Alertmanager and be inhibited by DeadmanExporterDown.
    let newly_late = ["e2e-late", "e2e-inhibit", "e2e-volume"];
    let inhibited = stack.wait_for(
        "DeadmanCheckLate for e2e-late and e2e-inhibit active in Alertmanager and inhibited",
        Duration::from_secs_f64(EVERY + GRACE + EVAL + late_for + GROUP_WAIT + MARGIN + 30.0),
        || {
            let alerts = stack.am_alerts().ok()?;
            let down_fps: Vec<&str> = alerts
                .iter()
                .filter(|a| a["labels"]["alertname"] == "DeadmanExporterDown")
                .filter_map(|a| a["fingerprint"].as_str())
                .collect();
            let mut found = Vec::new();
            for check in newly_late {
                let a = alerts.iter().find(|a| {
                    a["labels"]["alertname"] == "DeadmanCheckLate" && a["labels"]["check"] == check
                })?;
                let by: Vec<&str> = a["status"]["inhibitedBy"]
                    .as_array()?
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                if a["status"]["state"] != "suppressed"
                    || by.is_empty()
                    || !by.iter().any(|fp| down_fps.contains(fp))
                {
                    return None;
                }
                found.push(format!("{check} inhibitedBy {by:?}"));
            }
            Some(found)
        },
    );
    let inhibited_at = Instant::now();
    println!(
        "e2e: [5] {:.1}s after the kill, Alertmanager holds the per-check alerts, inhibited by \
         DeadmanExporterDown: {}",
        secs(inhibited_at - killed),
        inhibited.join("; ")
    );
    // Give any (wrong) notification for them time to arrive.
    thread::sleep(Duration::from_secs_f64(
        GROUP_WAIT + GROUP_INTERVAL + 2.0 * EVAL + 1.0,
    ));
    let leaked: Vec<String> = stack
        .received()
        .into_iter()
        .filter(|r| r.at > killed)
        .filter(|r| {
            r.labels
                .get("alertname")
                .and_then(Value::as_str)
                .is_some_and(|n| n.starts_with("DeadmanCheck"))
        })
        .map(|r| format!("+{:.1}s {} {:?}", stack.t(r.at), r.status, r.labels))
        .collect();
    stack.check(leaked.is_empty(), || {
        format!(
            "per-check notifications arrived after the exporter was killed (DeadmanExporterDown \
             should inhibit them): {leaked:?}"
        )
    });
    // Every per-check alert still active is inhibited, not only the new ones.
    let alerts = stack.am_alerts().unwrap_or_else(|e| stack.fail(&e));
    let active_per_check: Vec<String> = alerts
        .iter()
        .filter(|a| {
            a["labels"]["alertname"]
                .as_str()
                .is_some_and(|n| n.starts_with("DeadmanCheck"))
                && a["status"]["state"] != "suppressed"
        })
        .map(|a| a["labels"].to_string())
        .collect();
    stack.check(active_per_check.is_empty(), || {
        format!("per-check alerts not inhibited while the exporter is down: {active_per_check:?}")
    });

    println!("e2e: every alert notified, in arrival order:");
    for r in stack.received() {
        println!(
            "e2e:   +{:.1}s {} {} {}",
            stack.t(r.at),
            r.status,
            r.labels["alertname"].as_str().unwrap_or("?"),
            r.labels
                .get("check")
                .or_else(|| r.labels.get("instance"))
                .and_then(Value::as_str)
                .unwrap_or("")
        );
    }
    println!(
        "e2e: all scenarios passed in {:.1}s (latencies: late {late_latency:.2}s, auth \
         {auth_latency:.2}s, resolved {resolve_latency:.2}s, HA late {ha_latency:.2}s, exporter \
         down {down_latency:.2}s, volume low at +{volume_latency:.2}s)",
        secs(t0.elapsed())
    );
}
