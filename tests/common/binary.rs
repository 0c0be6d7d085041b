//! Driving the real `deadman` binary: start it on a free port, talk to it,
//! signal it, wait for it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_deadman");

/// Starts `deadman` on a free port; returns the child and its address.
/// The caller waits for the child (clippy cannot see that across functions).
#[allow(clippy::zombie_processes)]
pub fn start(
    dir: &std::path::Path,
    extra: &[&str],
) -> (Child, String, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(BIN)
        .args(["--web.listen-address", "127.0.0.1:0", "--storage.path"])
        .arg(dir.join("data"))
        .arg("--config.file")
        .arg(dir.join("deadman.toml"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("deadman starts");
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            // logfmt: address=127.0.0.1:N; json: "address":"127.0.0.1:N"
            let rest = line
                .split("address=")
                .nth(1)
                .or_else(|| line.split("\"address\":\"").nth(1));
            if let Some(rest) = rest {
                let address: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                    .collect();
                return (child, address, rx);
            }
        }
    }
    let _ = child.kill();
    panic!("deadman did not log its address");
}

pub fn http(address: &str, request: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .write_all(request.replace('\n', "\r\n").as_bytes())
        .expect("send");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

pub fn wait(child: &mut Child) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    panic!("deadman did not exit");
}

/// Runs `deadman` on `dir/deadman.toml` and `dir/data` until it exits
/// (for startups that must fail).
pub fn run_once(dir: &std::path::Path, listen: &str) -> std::process::Output {
    Command::new(BIN)
        .args(["--web.listen-address", listen, "--config.file"])
        .arg(dir.join("deadman.toml"))
        .arg("--storage.path")
        .arg(dir.join("data"))
        .output()
        .expect("deadman runs")
}

/// A temp dir holding `deadman.toml` with `config`.
pub fn dir_with_config(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("deadman.toml"), config).expect("write config");
    dir
}

/// One request without a body; returns the raw response.
pub fn send(address: &str, method: &str, path: &str) -> String {
    http(
        address,
        &format!("{method} {path} HTTP/1.1\nHost: x\nConnection: close\nContent-Length: 0\n\n"),
    )
}

/// Sends `signal_name` and asserts a clean exit 0.
pub fn stop_cleanly(child: &mut Child, signal_name: &str) {
    signal(child, signal_name);
    assert_eq!(wait(child), Some(0), "deadman did not exit cleanly");
}

/// Polls `/-/ready` until it answers 200.
pub fn wait_ready(address: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if http(
            address,
            "GET /-/ready HTTP/1.1\nHost: x\nConnection: close\n\n",
        )
        .starts_with("HTTP/1.1 200")
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("deadman at {address} did not become ready");
}

/// One metric value from a scrape, e.g. `deadman_check_records_total{check="a"}`.
pub fn metric(address: &str, series: &str) -> f64 {
    let response = http(
        address,
        "GET /metrics HTTP/1.1\nHost: x\nConnection: close\n\n",
    );
    response
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in scrape"))
}
