//! A real Prometheus scrapes the real `deadman` binary over TLS with basic
//! auth (issue #10, "Done when"): deadman runs with `--web.config.file`
//! (`tls_server_config` with a certificate from a CA made here at run time,
//! and `basic_auth_users`), Prometheus scrapes it over `https` trusting only
//! that CA, with the right password (`up` is 1 and deadman's series arrive)
//! and, as a second job on the same target, with a wrong one (`up` is 0, the
//! target's last error is a 401, and none of deadman's series arrive), so the
//! credentials are really checked.
//!
//! Needs `prometheus` (Debian package `prometheus`) on PATH; `scripts/test`,
//! the test command in the README, installs it. This test installs nothing
//! and fails (it does not skip) when it is missing. Everything listens on
//! 127.0.0.1 only, with its state in temp dirs; both processes are stopped
//! by their PIDs, also when the test fails; the whole test is bounded by
//! [`DEADLINE`].

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::binary;
use common::pki::Pki;

/// For the whole test, Prometheus's start-up and first scrapes included.
const DEADLINE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(250);

/// bcrypt (cost 4) of "secret".
const HASH: &str = "$2b$04$9v57qvoxmauBiva4O/je/e2XkEvvQDuUf/Wrn4L03Ol6IbaEsnPau";

const CONFIG: &str = "[[check]]\nname = \"orders\"\nowner = \"ops\"\nevery = \"1h\"\n";

/// A child process, killed (SIGKILL, by its PID) and reaped when dropped,
/// so a failing assertion does not leak it.
struct Proc {
    name: &'static str,
    child: Option<Child>,
}

impl Proc {
    fn new(name: &'static str, child: Child) -> Proc {
        Proc {
            name,
            child: Some(child),
        }
    }

    /// The child, no longer killed on drop (for a clean stop by the caller).
    fn take(&mut self) -> Child {
        self.child.take().expect("process not yet taken")
    }

    /// Some(description) if the process has exited.
    fn exited(&mut self) -> Option<String> {
        match self.child.as_mut().map(Child::try_wait) {
            None => Some("stopped by the test".into()),
            Some(Ok(Some(status))) => Some(status.to_string()),
            Some(Ok(None)) => None,
            Some(Err(e)) => Some(format!("try_wait: {e}")),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
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

/// One HTTP/1.0 GET (so Go servers never answer chunked): status and body.
fn get(addr: &str, path: &str) -> Result<(u16, String), String> {
    let sock = addr
        .parse()
        .map_err(|e| format!("bad address {addr}: {e}"))?;
    let mut stream = TcpStream::connect_timeout(&sock, Duration::from_secs(2))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")
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
        .ok_or_else(|| format!("no status from {addr}{path}: {head:?}"))?;
    Ok((status, body.to_string()))
}

/// `data` of a successful Prometheus API answer.
fn api(addr: &str, path: &str) -> Result<Value, String> {
    let (status, body) = get(addr, path)?;
    if status != 200 {
        return Err(format!("GET {path}: HTTP {status}: {body}"));
    }
    let json: Value =
        serde_json::from_str(&body).map_err(|e| format!("GET {path}: {e}: {body}"))?;
    if json["status"] != "success" {
        return Err(format!("GET {path}: {json}"));
    }
    Ok(json["data"].clone())
}

/// The samples of an instant query.
fn query(addr: &str, promql: &str) -> Result<Vec<Value>, String> {
    let encoded: String = form_urlencoded::byte_serialize(promql.as_bytes()).collect();
    let data = api(addr, &format!("/api/v1/query?query={encoded}"))?;
    data["result"]
        .as_array()
        .cloned()
        .ok_or_else(|| format!("{promql}: no result array in {data}"))
}

/// The value of the only sample of `promql`, if there is exactly one.
fn single_value(addr: &str, promql: &str) -> Result<Option<f64>, String> {
    let samples = query(addr, promql)?;
    Ok(match samples.as_slice() {
        [sample] => sample["value"][1].as_str().and_then(|v| v.parse().ok()),
        _ => None,
    })
}

/// The active target of `job` from `/api/v1/targets`.
fn target(addr: &str, job: &str) -> Result<Value, String> {
    let data = api(addr, "/api/v1/targets?state=active")?;
    data["activeTargets"]
        .as_array()
        .and_then(|targets| targets.iter().find(|t| t["labels"]["job"] == job))
        .cloned()
        .ok_or_else(|| format!("no active target for job {job} in {data}"))
}

/// What Prometheus has scraped so far.
#[derive(Debug)]
struct Observed {
    /// `up{job="deadman"}`
    right_up: Option<f64>,
    /// `up{job="deadman-wrong-password"}`
    wrong_up: Option<f64>,
    /// The samples of `deadman_check_info{check="orders"}`.
    info: Vec<Value>,
}

impl Observed {
    fn done(&self) -> bool {
        self.right_up == Some(1.0)
            && self.wrong_up == Some(0.0)
            && self.info.iter().any(|s| s["metric"]["job"] == "deadman")
    }
}

fn observe(prom: &str) -> Result<Observed, String> {
    Ok(Observed {
        right_up: single_value(prom, "up{job=\"deadman\"}")?,
        wrong_up: single_value(prom, "up{job=\"deadman-wrong-password\"}")?,
        info: query(prom, "deadman_check_info{check=\"orders\"}")?,
    })
}

fn prometheus_config(deadman: &str, ca: &Path) -> String {
    let job = |name: &str, password: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    tls_config:\n      ca_file: '{}'\n    \
             basic_auth:\n      username: prometheus\n      password: {password}\n    \
             static_configs:\n      - targets: ['{deadman}']\n",
            ca.display()
        )
    };
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n{}{}",
        job("deadman", "secret"),
        job("deadman-wrong-password", "wrong"),
    )
}

#[test]
fn a_real_prometheus_scrapes_deadman_over_tls_with_basic_auth() {
    let started = Instant::now();
    let deadline = started + DEADLINE;
    assert!(
        find_on_path("prometheus").is_some(),
        "this test needs `prometheus` on PATH, and does not install anything itself. \
         The README's test command, scripts/test, installs it (Debian package `prometheus`); \
         or run: apt-get install prometheus"
    );

    // deadman with TLS (a certificate from our own CA) and basic auth.
    let dir = binary::dir_with_config(CONFIG);
    let pki = Pki::new("deadman test CA");
    pki.write_server(dir.path(), "deadman");
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, pki.ca_pem()).expect("write ca.crt");
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             basic_auth_users:\n  prometheus: '{HASH}'\n"
        ),
    )
    .expect("write web.yml");
    let web_arg = web.to_str().expect("utf-8 temp path");
    let (child, deadman, deadman_log) = binary::start(dir.path(), &["--web.config.file", web_arg]);
    let mut deadman_proc = Proc::new("deadman", child);
    assert!(
        deadman.starts_with("127.0.0.1:") && deadman.len() > "127.0.0.1:".len(),
        "deadman's address was not parsed from its log: {deadman:?}"
    );

    // A real Prometheus scraping it every second, with the right and a wrong password.
    let prom_dir = tempfile::tempdir().expect("tempdir");
    let prom_config = prom_dir.path().join("prometheus.yml");
    std::fs::write(&prom_config, prometheus_config(&deadman, &ca)).expect("write prometheus.yml");
    let prom_log = prom_dir.path().join("prometheus.log");
    let prom = format!("127.0.0.1:{}", free_port());
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", prom_config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            prom_dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={prom}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&prom_log).expect("create prometheus.log"))
        .spawn()
        .expect("start prometheus");
    let mut prometheus = Proc::new("prometheus", child);

    // Poll until both jobs have been scraped with the expected outcome.
    let samples = loop {
        let last = match observe(&prom) {
            Ok(seen) if seen.done() => break seen.info,
            Ok(seen) => format!("{seen:?}"),
            Err(e) => e,
        };
        for proc in [&mut prometheus, &mut deadman_proc] {
            if let Some(status) = proc.exited() {
                panic!(
                    "{} exited ({status}); prometheus log:\n{}\ndeadman log:\n{}",
                    proc.name,
                    tail(&prom_log, 40),
                    deadman_log.try_iter().collect::<Vec<_>>().join("\n")
                );
            }
        }
        if Instant::now() >= deadline {
            panic!(
                "after {DEADLINE:?}, Prometheus at {prom} has not scraped deadman at {deadman} as \
                 expected; last: {last}\ntargets: {:?}\nprometheus log:\n{}\ndeadman log:\n{}",
                api(&prom, "/api/v1/targets"),
                tail(&prom_log, 40),
                deadman_log.try_iter().collect::<Vec<_>>().join("\n")
            );
        }
        std::thread::sleep(POLL);
    };

    // deadman's series carry the check's labels and the scrape's.
    let sample = &samples
        .iter()
        .find(|s| s["metric"]["job"] == "deadman")
        .expect("deadman_check_info from the job with the right password")["metric"];
    assert_eq!(sample["instance"], deadman.as_str(), "{sample}");
    assert_eq!(sample["owner"], "ops", "{sample}");

    // The wrong password got a 401 on every scrape, and none of deadman's series.
    let wrong = target(&prom, "deadman-wrong-password").expect("wrong-password target");
    let error = wrong["lastError"].as_str().unwrap_or_default();
    assert!(error.contains("401"), "lastError: {error:?} in {wrong}");
    assert_eq!(wrong["health"], "down", "{wrong}");
    assert_eq!(
        wrong["scrapeUrl"],
        format!("https://{deadman}/metrics"),
        "{wrong}"
    );
    let leaked = query(
        &prom,
        "{job=\"deadman-wrong-password\",__name__=~\"deadman_.*\"}",
    )
    .expect("query the wrong job's series");
    assert!(
        leaked.is_empty(),
        "series scraped with a wrong password: {leaked:?}"
    );

    // The right one scraped over https without an error.
    let right = target(&prom, "deadman").expect("deadman target");
    assert_eq!(right["health"], "up", "{right}");
    assert_eq!(right["lastError"], "", "{right}");
    assert_eq!(
        right["scrapeUrl"],
        format!("https://{deadman}/metrics"),
        "{right}"
    );

    drop(prometheus);
    binary::stop_cleanly(&mut deadman_proc.take(), "TERM");
    eprintln!(
        "Prometheus scraped deadman over TLS with basic auth in {:?}",
        started.elapsed()
    );
}
