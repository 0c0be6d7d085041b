//! The binary: flags, exit codes, signals (issue #2).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_deadman");

const CONFIG: &str = "[[check]]\nname = \"orders\"\nowner = \"ops\"\nevery = \"15m\"\n";

/// Starts `deadman` on a free port; returns the child and its address.
/// The caller waits for the child (clippy cannot see that across functions).
#[allow(clippy::zombie_processes)]
fn start(
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

fn http(address: &str, request: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .write_all(request.replace('\n', "\r\n").as_bytes())
        .expect("send");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

fn wait(child: &mut Child) -> Option<i32> {
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

#[test]
fn version_names_version_and_revision() {
    let out = Command::new(BIN).arg("--version").output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("deadman {} (revision ", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
}

#[test]
fn usage_errors_exit_1() {
    let out = Command::new(BIN)
        .arg("--no-such-flag")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let out = Command::new(BIN)
        .args(["--log.level", "loud", "check-config"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn invalid_config_at_startup_exits_1_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("deadman.toml"),
        "[[check]]\nname = \"x\"\nevery = \"1m\"\n",
    )
    .expect("write");
    let out = Command::new(BIN)
        .args(["--web.listen-address", "127.0.0.1:0", "--config.file"])
        .arg(dir.path().join("deadman.toml"))
        .arg("--storage.path")
        .arg(dir.path().join("data"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("check \"x\" (line 1): owner: missing"),
        "{stderr}"
    );
}

#[test]
fn missing_config_file_exits_1() {
    let out = Command::new(BIN)
        .args(["check-config", "--config.file", "/nonexistent/deadman.toml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("cannot read /nonexistent/deadman.toml: No such file or directory"));
}

#[test]
fn sigterm_is_a_clean_exit_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("deadman.toml"), CONFIG).expect("write");
    let (mut child, address, logs) = start(dir.path(), &[]);
    let response = http(
        &address,
        "GET /ping/orders HTTP/1.1\nHost: x\nConnection: close\n\n",
    );
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    signal(&child, "TERM");
    assert_eq!(wait(&mut child), Some(0));
    let rest: Vec<String> = logs.try_iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("deadman stopped")),
        "{rest:?}"
    );
    assert!(!rest.iter().any(|l| l.contains("level=error")), "{rest:?}");
}

#[test]
fn sighup_reloads_the_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("deadman.toml"), CONFIG).expect("write");
    let (mut child, address, _logs) = start(dir.path(), &["--log.format", "json"]);
    std::fs::write(
        dir.path().join("deadman.toml"),
        format!("{CONFIG}\n[[check]]\nname = \"refunds\"\nowner = \"ops\"\nevery = \"1h\"\n"),
    )
    .expect("write");
    signal(&child, "HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut response = String::new();
    while Instant::now() < deadline {
        response = http(
            &address,
            "GET /ping/refunds HTTP/1.1\nHost: x\nConnection: close\n\n",
        );
        if response.starts_with("HTTP/1.1 200") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    signal(&child, "INT");
    assert_eq!(wait(&mut child), Some(0));
}

#[test]
fn port_in_use_is_a_runtime_error_exit_2() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("deadman.toml"), CONFIG).expect("write");
    let out = Command::new(BIN)
        .args(["--web.listen-address", &address, "--config.file"])
        .arg(dir.path().join("deadman.toml"))
        .arg("--storage.path")
        .arg(dir.path().join("data"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("error: listening on {address}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("caused by") || stderr.contains("Address already in use"),
        "{stderr}"
    );
}
