//! The stack: two deadman replicas, Prometheus, Alertmanager and the
//! webhook, started together and queried by the scenarios.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::thread::{self};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;
use crate::*;

// ---------------------------------------------------------------------------
// The stack

pub(crate) struct Stack {
    t0: Instant,
    pub(crate) prom: String,
    pub(crate) am: String,
    pub(crate) inbox: Inbox,
    pub(crate) pinger: Pinger,
    pub(crate) deadman_addrs: Vec<String>,
    pub(crate) deadman_logs: Vec<Receiver<String>>,
    // Processes: dropped (killed) in this order, before `dir` is removed.
    pub(crate) lint: Option<Proc>,
    pub(crate) deadmans: Vec<Proc>,
    pub(crate) prometheus: Proc,
    pub(crate) alertmanager: Proc,
    pub(crate) prom_log: PathBuf,
    pub(crate) am_log: PathBuf,
    pub(crate) dir: tempfile::TempDir,
}

/// A firing or resolved alert as received in a notification.
pub(crate) struct Received {
    pub(crate) at: Instant,
    pub(crate) status: String,
    pub(crate) labels: serde_json::Map<String, Value>,
    /// What the page says (description, summary, runbook_url).
    pub(crate) annotations: serde_json::Map<String, Value>,
}

impl Stack {
    pub(crate) fn t(&self, at: Instant) -> f64 {
        secs(at.saturating_duration_since(self.t0))
    }

    /// Every alert of every notification, in arrival order.
    pub(crate) fn received(&self) -> Vec<Received> {
        let inbox = self.inbox.lock().unwrap();
        let mut out = Vec::new();
        for n in inbox.iter() {
            for a in n.body["alerts"].as_array().into_iter().flatten() {
                out.push(Received {
                    at: n.at,
                    status: a["status"].as_str().unwrap_or("").to_string(),
                    labels: a["labels"].as_object().cloned().unwrap_or_default(),
                    annotations: a["annotations"].as_object().cloned().unwrap_or_default(),
                });
            }
        }
        out
    }

    pub(crate) fn received_for(
        &self,
        alertname: &str,
        check: Option<&str>,
        status: &str,
    ) -> Vec<Received> {
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

    pub(crate) fn unix_now(&self) -> f64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    }

    /// The Unix time (seconds) at which `at` happened.
    pub(crate) fn unix_at(&self, at: Instant) -> f64 {
        self.unix_now() - secs(Instant::now().saturating_duration_since(at))
    }

    /// The combined deadline (Unix seconds) of `check`, as the rules see it.
    pub(crate) fn deadline_of(&self, check: &str) -> f64 {
        let expr =
            format!(r#"job_check:deadman_check_deadline_timestamp_seconds:max{{check="{check}"}}"#);
        let series = self.query(&expr).unwrap_or_else(|e| self.fail(&e));
        series
            .first()
            .and_then(|s| s["value"][1].as_str())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| self.fail(&format!("no deadline for {check}: {series:?}")))
    }

    pub(crate) fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        self.query_api(expr, "")
    }

    /// `expr` evaluated at Unix time `at`.
    pub(crate) fn query_at(&self, expr: &str, at: f64) -> Result<Vec<Value>, String> {
        self.query_api(expr, &format!("&time={at:.3}"))
    }

    fn query_api(&self, expr: &str, extra: &str) -> Result<Vec<Value>, String> {
        let q: String = form_urlencoded::byte_serialize(expr.as_bytes()).collect();
        let doc = get_json(&self.prom, &format!("/api/v1/query?query={q}{extra}"))?;
        if doc["status"] != "success" {
            return Err(format!("query {expr}: {doc}"));
        }
        Ok(doc["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    pub(crate) fn am_alerts(&self) -> Result<Vec<Value>, String> {
        get_json(&self.am, "/api/v2/alerts").map(|v| v.as_array().cloned().unwrap_or_default())
    }

    /// Everything useful for a failure message.
    pub(crate) fn diagnostics(&self) -> String {
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

    pub(crate) fn fail(&self, message: &str) -> ! {
        panic!(
            "e2e: {message} (at +{:.1}s){}",
            self.t(Instant::now()),
            self.diagnostics()
        )
    }

    pub(crate) fn check(&self, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            self.fail(&message());
        }
    }

    /// Polls `probe` until it returns Some, or fails after `timeout`.
    pub(crate) fn wait_for<T>(
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
    /// Waits for the first `status` notification of `alertname` (for
    /// `check`), and fails unless it arrived within `bound` seconds of
    /// `since`. Returns it with its latency.
    pub(crate) fn expect_notification(
        &self,
        alertname: &str,
        check: Option<&str>,
        status: &str,
        since: Instant,
        bound: f64,
    ) -> (Received, f64) {
        let what = format!("a {status} {alertname} notification for check {check:?}");
        let received = self.wait_for(&what, Duration::from_secs_f64(bound + 30.0), || {
            self.received_for(alertname, check, status)
                .into_iter()
                .next()
        });
        let latency = received.at.saturating_duration_since(since).as_secs_f64();
        self.check(latency <= bound, || {
            format!("{what} took {latency:.2}s, more than {bound:.1}s")
        });
        (received, latency)
    }

    /// Fails unless `received` carries every (label, value) in `wants`.
    pub(crate) fn expect_labels(&self, received: &Received, wants: &[(&str, &str)]) {
        for (label, want) in wants {
            let got = received.labels.get(*label).and_then(Value::as_str);
            self.check(got == Some(*want), || {
                format!(
                    "notification {:?}: label {label} is {got:?}, want {want:?}",
                    received.labels
                )
            });
        }
    }
}

pub(crate) fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// The `inhibit_rules:` block of examples/alertmanager.yml, verbatim.
pub(crate) fn example_inhibit_rules(example: &str) -> String {
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

pub(crate) fn run_tool(program: &str, args: &[&str]) {
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

pub(crate) fn start_stack(t0: Instant) -> (Stack, HashMap<String, Duration>) {
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
            "e2e: rules copy: {} {}: {} -> {}ms",
            f.alert,
            f.field,
            f.original,
            f.scaled.as_millis()
        );
    }
    let fors: HashMap<String, Duration> = fors
        .into_iter()
        .filter(|f| f.field == "for")
        .map(|f| (f.alert, f.scaled))
        .collect();
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
