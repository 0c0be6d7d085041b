//! `deadman run -- CMD` and `deadman ping` (issue #12): the real binary
//! wrapping shell jobs against the real server in-process on 127.0.0.1:0,
//! plus a tiny fake server for retry counting. Every job and wait is
//! bounded; the tests signal only processes they started, by PID.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::binary::BIN;
use common::pki::Pki;
use common::{TestServer, T0};

const TOKEN: &str = "etl-token-0123456789abcdef";

const CONFIG: &str = r#"
[[check]]
name = "etl"
owner = "ops"
every = "1h"
token = "etl-token-0123456789abcdef"

[[check.expiry]]
name = "api-token"
kind = "credential"

[[check.value]]
name = "unmatched_invoices"
max = 0
"#;

/// The wrapper or the one-shot, with only the environment a test gives.
fn deadman(args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs to the end, within 60 s.
async fn output(mut command: tokio::process::Command) -> (Output, Duration) {
    let started = Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("deadman finished within 60 s")
        .expect("deadman runs");
    (out, started.elapsed())
}

/// `deadman run` against `server` for check etl with the right token.
async fn run(server: &TestServer, flags: &[&str], job: &[&str]) -> (Output, Duration) {
    let url = format!("http://{}", server.addr);
    let mut args = vec!["run", "--check", "etl"];
    args.extend_from_slice(flags);
    args.push("--");
    args.extend_from_slice(job);
    output(deadman(
        &args,
        &[("DEADMAN_URL", &url), ("DEADMAN_TOKEN", TOKEN)],
    ))
    .await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The check's history, newest first, from the JSON API.
async fn history(server: &TestServer) -> Vec<serde_json::Value> {
    let reply = server.get("/api/v1/checks/etl").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let json: serde_json::Value = serde_json::from_str(&reply.text()).expect("JSON");
    json["history"].as_array().cloned().unwrap_or_default()
}

fn series(kind: &str) -> String {
    format!("deadman_check_pings_total{{check=\"etl\",kind=\"{kind}\"}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_sends_start_and_finish_with_one_rid() {
    let server = TestServer::start(CONFIG).await;
    let (out, _) = run(&server, &[], &["sh", "-c", "echo hello; echo oops >&2"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Passed through unchanged, and nothing of deadman's own.
    assert_eq!(text(&out.stdout), "hello\n");
    assert_eq!(text(&out.stderr), "oops\n");
    let metrics = server.scrape().await;
    assert_eq!(metrics.value(&series("start")), 1.0);
    assert_eq!(metrics.value(&series("success")), 1.0);
    let history = history(&server).await;
    let (finish, start) = (&history[0], &history[1]);
    assert_eq!(start["kind"], "start");
    assert_eq!(finish["kind"], "success");
    assert_eq!(finish["exit_status"], 0);
    assert_eq!(finish["rid"], start["rid"]);
    assert_eq!(finish["message"], "hello\noops\n");
    assert_eq!(
        finish["user_agent"],
        concat!("deadman/", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_zero_exit_is_a_failure_and_passes_through() {
    let server = TestServer::start(CONFIG).await;
    let (out, _) = run(
        &server,
        &["--rid", "run-7", "--no-start"],
        &["sh", "-c", "exit 3"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3));
    let metrics = server.scrape().await;
    // No start was sent: a kind appears once it has occurred.
    assert_eq!(metrics.get(&series("start")), None, "--no-start");
    assert_eq!(
        metrics.value("deadman_check_failures_total{check=\"etl\",reason=\"exit_code\"}"),
        1.0
    );
    let history = history(&server).await;
    assert_eq!(history.len(), 1);
    assert_eq!(
        (
            history[0]["exit_status"].as_u64(),
            history[0]["rid"].as_str()
        ),
        (Some(3), Some("run-7"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_by_a_signal_is_128_plus_the_signal() {
    let server = TestServer::start(CONFIG).await;
    let (out, _) = run(&server, &[], &["sh", "-c", "echo before; kill -9 $$"]).await;
    assert_eq!(out.status.code(), Some(137));
    let finish = &history(&server).await[0];
    assert_eq!(finish["kind"], "fail");
    assert_eq!(finish["exit_status"], 137);
    assert_eq!(
        finish["message"],
        "deadman run: the command was killed by signal 9 (SIGKILL)\nbefore\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_cannot_start_is_127_or_126() {
    let server = TestServer::start(CONFIG).await;
    let (out, _) = run(&server, &[], &["/nonexistent/etl"]).await;
    assert_eq!(out.status.code(), Some(127));
    assert!(
        text(&out.stderr).contains("cannot start \"/nonexistent/etl\""),
        "{}",
        text(&out.stderr)
    );
    let finish = &history(&server).await[0];
    assert_eq!(finish["exit_status"], 127);
    let message = finish["message"].as_str().unwrap_or_default();
    assert!(message.contains("No such file or directory"), "{message}");

    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("etl.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").expect("write");
    let script = script.to_string_lossy().into_owned();
    let (out, _) = run(&server, &[], &[&script]).await;
    assert_eq!(out.status.code(), Some(126), "not executable");
    let finish = &history(&server).await[0];
    assert_eq!(finish["exit_status"], 126);
    let message = finish["message"].as_str().unwrap_or_default();
    assert!(message.contains("ermission denied"), "{message}");
}

/// Asserts that the process whose pid the job wrote to `pidfile` is gone
/// within 5 s.
fn assert_gone_soon(pidfile: &std::path::Path, what: &str) {
    let child = std::fs::read_to_string(pidfile).expect("pid written");
    let child = child.trim();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(child) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(child), "{what} {child} survived");
}

/// Whether `pid` is still a live process (a zombie is not).
fn alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or_default()
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// The leader dies of the timeout's SIGTERM, but a member that ignores
/// it and has let go of the output pipes lives on: it still gets SIGKILL
/// at `--kill-after`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_kills_a_member_that_let_go_of_the_output() {
    let server = TestServer::start(CONFIG).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("child.pid");
    let job = format!(
        "sh -c 'trap \"\" TERM; exec sleep 30' >/dev/null 2>&1 & echo $! > {}; sleep 30",
        pidfile.display()
    );
    let (out, took) = run(
        &server,
        &["--timeout", "1s", "--kill-after", "1s"],
        &["sh", "-c", &job],
    )
    .await;
    assert_eq!(out.status.code(), Some(124), "{}", text(&out.stderr));
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_gone_soon(&pidfile, "the detached member");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_kills_the_whole_group_and_reports_timeout() {
    let server = TestServer::start(CONFIG).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("child.pid");
    // Both the shell and its background child ignore SIGTERM.
    let job = format!(
        "trap '' TERM; sleep 30 & echo $! > {}; echo started; wait; wait",
        pidfile.display()
    );
    let (out, took) = run(
        &server,
        &["--timeout", "1s", "--kill-after", "1s"],
        &["sh", "-c", &job],
    )
    .await;
    assert_eq!(out.status.code(), Some(124), "{}", text(&out.stderr));
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_gone_soon(&pidfile, "the background child");
    let metrics = server.scrape().await;
    assert_eq!(
        metrics.value("deadman_check_failures_total{check=\"etl\",reason=\"timeout\"}"),
        1.0
    );
    let message = history(&server).await[0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.starts_with("deadman run: timed out after 1s"),
        "{message}"
    );
    assert!(message.contains("then SIGKILL"), "{message}");
    assert!(message.ends_with("started\n"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_sigint_and_sighup_to_the_wrapper_reach_the_job() {
    let server = TestServer::start(CONFIG).await;
    for (signal, code) in [("TERM", 7), ("INT", 8), ("HUP", 9)] {
        forwards(&server, signal, code).await;
    }
}

/// Sends SIG`signal` to a running wrapper and checks that the job's trap
/// ran (it exits with `code`) and that the run is recorded with it.
async fn forwards(server: &TestServer, signal: &str, code: i32) {
    use tokio::io::AsyncBufReadExt;
    let url = format!("http://{}", server.addr);
    let job = format!(
        "trap 'echo got {signal}; exit {code}' {signal}; echo ready; while :; do sleep 0.1; done"
    );
    let mut child = deadman(
        &["run", "--check", "etl", "--", "sh", "-c", &job],
        &[("DEADMAN_URL", &url), ("DEADMAN_TOKEN", TOKEN)],
    )
    .spawn()
    .expect("starts");
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = tokio::time::timeout(Duration::from_secs(10), stdout.next_line()).await;
    assert_eq!(
        first.expect("ready in time").expect("read").as_deref(),
        Some("ready")
    );
    let pid = child.id().expect("pid").to_string();
    let kill = std::process::Command::new("kill")
        .args(["-s", signal, &pid])
        .status();
    assert!(kill.expect("kill runs").success());
    let next = tokio::time::timeout(Duration::from_secs(10), stdout.next_line()).await;
    let got = format!("got {signal}");
    assert_eq!(
        next.expect("in time").expect("read").as_deref(),
        Some(got.as_str())
    );
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
    assert_eq!(status.expect("exits").expect("wait").code(), Some(code));
    assert_eq!(history(server).await[0]["exit_status"], code);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_tail_keeps_order_and_notes_truncation() {
    let server = TestServer::start(CONFIG).await;
    // Writes moments apart on the two streams keep their order.
    let job = "echo out1; sleep 0.2; echo err1 >&2; sleep 0.2; echo out2; sleep 0.2; echo err2 >&2";
    let (out, _) = run(&server, &[], &["sh", "-c", job]).await;
    assert_eq!(text(&out.stdout), "out1\nout2\n");
    assert_eq!(text(&out.stderr), "err1\nerr2\n");
    assert_eq!(
        history(&server).await[0]["message"],
        "out1\nerr1\nout2\nerr2\n"
    );

    let job = "printf '%0200d' 0; sleep 0.2; echo; echo END >&2";
    let (out, _) = run(&server, &["--output-limit", "20"], &["sh", "-c", job]).await;
    assert_eq!(
        out.stdout.len(),
        201,
        "the whole output still passes through"
    );
    let message = history(&server).await[0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        message,
        "[output truncated: the first 185 bytes are not included; the last 20 follow]\n\
         000000000000000\nEND\n"
    );

    let (_, _) = run(&server, &["--no-output"], &["sh", "-c", "echo secret"]).await;
    assert!(
        history(&server).await[0]["message"].is_null(),
        "--no-output"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadman_report_reaches_the_metrics() {
    let server = TestServer::start(CONFIG).await;
    let job = "echo records=42 >> \"$DEADMAN_REPORT\"; \
               echo expires.api-token=2027-01-15T00:00:00Z >> \"$DEADMAN_REPORT\"; \
               echo value.unmatched_invoices=37 >> \"$DEADMAN_REPORT\"; \
               echo recods=1 >> \"$DEADMAN_REPORT\"; echo \"$DEADMAN_REPORT\"";
    let (out, _) = run(&server, &[], &["sh", "-c", job]).await;
    assert_eq!(out.status.code(), Some(0));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("DEADMAN_REPORT line 4: unknown key \"recods\""),
        "{stderr}"
    );
    let metrics = server.scrape().await;
    assert_eq!(
        metrics.value("deadman_check_records_total{check=\"etl\"}"),
        42.0
    );
    let expiry =
        "deadman_expiry_timestamp_seconds{check=\"etl\",name=\"api-token\",kind=\"credential\"}";
    assert_eq!(metrics.value(expiry), 1_799_971_200.0);
    let value = "deadman_check_value{check=\"etl\",name=\"unmatched_invoices\"}";
    assert_eq!(metrics.value(value), 37.0);
    let path = text(&out.stdout);
    assert!(
        !Path::new(path.trim()).exists(),
        "the report file is removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_report_does_not_lose_the_run() {
    let server = TestServer::start(CONFIG).await;
    // A typo in a value's name: deadman refuses the whole ping (400), so
    // the wrapper sends the outcome again without the report.
    let job = "echo records=42 >> \"$DEADMAN_REPORT\"; \
               echo value.unmatched_invoice=37 >> \"$DEADMAN_REPORT\"";
    let (out, _) = run(&server, &[], &["sh", "-c", job]).await;
    assert_eq!(out.status.code(), Some(0));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("deadman refused the report") && stderr.contains("unmatched_invoice"),
        "{stderr}"
    );
    let metrics = server.scrape().await;
    assert_eq!(
        metrics.value(&series("success")),
        1.0,
        "the run is recorded"
    );
    assert_eq!(
        metrics.value("deadman_check_records_total{check=\"etl\"}"),
        0.0,
        "nothing of the refused report is"
    );
    let message = history(&server).await[0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.starts_with("deadman refused this run's report: "),
        "{message}"
    );
}

/// A port with nothing listening on it.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadman_down_still_runs_the_job_within_a_bounded_delay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("ran");
    let url = format!("http://127.0.0.1:{}", closed_port());
    let job = format!("touch {}; exit 5", marker.display());
    let (out, took) = output(deadman(
        &[
            "run",
            "--check",
            "etl",
            "--ping-timeout",
            "1s",
            "--",
            "sh",
            "-c",
            &job,
        ],
        &[("DEADMAN_URL", &url)],
    ))
    .await;
    assert!(marker.exists(), "the job ran");
    assert_eq!(out.status.code(), Some(5));
    // Start and finish: 3 tries each, 1 s then 3 s apart.
    assert!(took < Duration::from_secs(15), "took {took:?}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the finish ping for check \"etl\" failed: gave up after 3 tries"),
        "{stderr}"
    );
    assert!(stderr.contains("Connection refused"), "{stderr}");

    // Not configured at all: the job runs, with a warning.
    let (out, _) = output(deadman(&["run", "--", "sh", "-c", "exit 4"], &[])).await;
    assert_eq!(out.status.code(), Some(4));
    assert!(text(&out.stderr).contains("no deadman URL: give --url or set DEADMAN_URL"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_not_retried_and_say_what_deadman_answered() {
    let server = TestServer::start(CONFIG).await;
    let url = format!("http://{}", server.addr);
    let (out, took) = output(deadman(
        &["run", "--check", "etl", "--", "true"],
        &[("DEADMAN_URL", &url), ("DEADMAN_TOKEN", "wrong-token")],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0));
    assert!(took < Duration::from_secs(1), "no retry: took {took:?}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the start ping failed: deadman answered 401: wrong token"),
        "{stderr}"
    );

    let (out, took) = output(deadman(
        &["ping", "nightly", "--url", &url],
        &[("DEADMAN_TOKEN", TOKEN)],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(took < Duration::from_secs(1), "no retry: took {took:?}");
    assert_eq!(
        text(&out.stderr),
        "deadman ping: deadman answered 404: unknown check \"nightly\"; it must be configured before it can be pinged\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadman_ping_sends_one_ping() {
    let server = TestServer::start(CONFIG).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write");
    let url = format!("http://{}", server.addr);
    let token_file = token_file.to_string_lossy().into_owned();
    let mut command = deadman(
        &[
            "ping",
            "etl",
            "2",
            "--rid",
            "r1",
            "--message",
            "-",
            "--records",
            "9",
            "--expires",
            "api-token=2027-01-15T00:00:00Z",
            "--value",
            "unmatched_invoices=3",
        ],
        &[("DEADMAN_URL", &url), ("DEADMAN_TOKEN_FILE", &token_file)],
    );
    command.stdin(Stdio::piped());
    let mut child = command.spawn().expect("starts");
    let mut stdin = child.stdin.take().expect("stdin");
    tokio::io::AsyncWriteExt::write_all(&mut stdin, b"from stdin")
        .await
        .expect("write");
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("in time")
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "OK: fail recorded (records=9, rid=r1, exit_status=2, expires.api-token, \
         value.unmatched_invoices=3, message of 10 bytes).\n"
    );
    assert_eq!(history(&server).await[0]["message"], "from stdin");
}

/// A fake deadman that answers 503 (with `Retry-After: 0`) to the first
/// `unavailable` requests and 200 after; counts the requests.
fn flaky_server(unavailable: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("addr").to_string();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            // Headers, then the Content-Length body.
            while let Ok(n @ 1..) = stream.read(&mut buffer) {
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request).to_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let answer = if n < unavailable {
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Length: 37\r\nConnection: close\r\n\r\nnot ready: still loading stored state"
            } else {
                "HTTP/1.1 200 OK\r\nContent-Length: 20\r\nConnection: close\r\n\r\nOK: success recorded"
            };
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (format!("http://{address}"), count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_is_retried_then_given_up() {
    let (url, count) = flaky_server(2);
    let (out, _) = output(deadman(&["ping", "etl", "--url", &url], &[])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "OK: success recorded\n");
    assert_eq!(count.load(Ordering::SeqCst), 3, "two 503s, then 200");

    let (url, count) = flaky_server(usize::MAX);
    let (out, took) = output(deadman(&["ping", "etl", "--url", &url], &[])).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(count.load(Ordering::SeqCst), 3, "3 tries at most");
    assert!(
        took < Duration::from_secs(5),
        "Retry-After: 0 honoured: {took:?}"
    );
    assert_eq!(
        text(&out.stderr).split(" in ").next(),
        Some("deadman ping: gave up after 3 tries")
    );
    assert!(text(&out.stderr).contains("deadman answered 503: not ready"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_private_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new("deadman test CA");
    pki.write_server(dir.path(), "deadman");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pki.ca_pem()).expect("write CA");
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    )
    .expect("write web config");
    let loaded = deadman::web_config::WebConfig::load(&web).expect("valid web config");
    let watch =
        Arc::new(deadman::web_config::watch::WebConfigWatch::new(web, loaded).expect("web"));
    let clock = Arc::new(deadman::clock::ManualClock::new(T0));
    let server = TestServer::start_customized(dir, CONFIG, clock, common::sqlite, |options| {
        options.web = watch;
    })
    .await;
    let url = format!("https://127.0.0.1:{}", server.addr.port());
    let ca = ca.to_string_lossy().into_owned();
    let (out, _) = output(deadman(
        &["run", "--check", "etl", "--ca-file", &ca, "--", "true"],
        &[("DEADMAN_URL", &url), ("DEADMAN_TOKEN", TOKEN)],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stderr), "", "no warnings");
    let (out, _) = output(deadman(
        &["ping", "etl", "--ca-file", &ca],
        &[("DEADMAN_URL", &url), ("DEADMAN_TOKEN", TOKEN)],
    ))
    .await;
    assert_eq!(text(&out.stdout), "OK: success recorded.\n");
    let (out, took) = output(deadman(
        &["ping", "etl", "--ping-timeout", "2s"],
        &[("DEADMAN_URL", &url), ("DEADMAN_TOKEN", TOKEN)],
    ))
    .await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "the system roots do not trust the test CA"
    );
    assert!(
        took < Duration::from_secs(1),
        "a bad certificate is not retried: {took:?}"
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("TLS with 127.0.0.1"), "{stderr}");
}
