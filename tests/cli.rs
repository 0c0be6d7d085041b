//! The binary: flags, exit codes, signals (issue #2).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::binary::{
    dir_with_config, run_once, send, signal, start, stop_cleanly, wait_ready, BIN,
};

const CONFIG: &str = "[[check]]\nname = \"orders\"\nowner = \"ops\"\nevery = \"15m\"\n";

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
    let dir = dir_with_config("[[check]]\nname = \"x\"\nevery = \"1m\"\n");
    let out = run_once(dir.path(), "127.0.0.1:0");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("check \"x\" (line 1): owner: missing"),
        "{stderr}"
    );
}

/// The store is read while the config is parsed, but only one that exists
/// already: an invalid config creates no storage, and beside a running
/// exporter (which holds the store) it is still the config that is reported.
#[test]
fn an_invalid_config_creates_no_storage_and_is_reported_first() {
    let dir = dir_with_config("[[check]]\nname = \"x\"\nevery = \"1m\"\n");
    let out = run_once(dir.path(), "127.0.0.1:0");
    assert_eq!(out.status.code(), Some(1));
    assert!(!dir.path().join("data").exists(), "storage was created");

    std::fs::write(dir.path().join("deadman.toml"), CONFIG).expect("config");
    let (mut child, address, _logs) = start(dir.path(), &[]);
    wait_ready(&address);
    let response = send(&address, "GET", "/ping/orders");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    std::fs::write(dir.path().join("deadman.toml"), "[[check]]\nname = \"x\"\n").expect("config");
    let out = run_once(dir.path(), "127.0.0.1:0");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("check \"x\" (line 1)"), "{stderr}");
    stop_cleanly(&mut child, "TERM");

    std::fs::write(dir.path().join("deadman.toml"), CONFIG).expect("config");
    let (mut child, address, _logs) = start(dir.path(), &[]);
    wait_ready(&address);
    let metrics = send(&address, "GET", "/metrics");
    assert!(
        metrics.contains("deadman_check_pings_total{check=\"orders\",kind=\"success\"} 1\n"),
        "{metrics}"
    );
    stop_cleanly(&mut child, "TERM");
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
    let dir = dir_with_config(CONFIG);
    let (mut child, address, logs) = start(dir.path(), &[]);
    wait_ready(&address);
    let response = send(&address, "GET", "/ping/orders");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    stop_cleanly(&mut child, "TERM");
    let rest: Vec<String> = logs.try_iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("deadman stopped")),
        "{rest:?}"
    );
    assert!(!rest.iter().any(|l| l.contains("level=error")), "{rest:?}");
}

/// Also a regression test (#2): the SIGHUP is sent right after the
/// "started" line, and once arrived before the handler was installed,
/// which killed the exporter (SIGHUP's default action).
#[test]
fn sighup_reloads_the_config() {
    let dir = dir_with_config(CONFIG);
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
        response = send(&address, "GET", "/ping/refunds");
        if response.starts_with("HTTP/1.1 200") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    stop_cleanly(&mut child, "INT");
}

#[test]
fn port_in_use_is_a_runtime_error_exit_2() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("addr").to_string();
    let dir = dir_with_config(CONFIG);
    let out = run_once(dir.path(), &address);
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

/// `deadman check-config [flags] --config.file <dir>/deadman.toml`.
fn check_config(dir: &std::path::Path, flags: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN)
        .arg("check-config")
        .args(flags)
        .arg("--config.file")
        .arg(dir.join("deadman.toml"))
        .output()
        .expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The shipped example is the model of a complete config, so it passes
/// the strictest check as cloned (its token file is in the repository).
#[test]
fn the_example_config_passes_check_config_strict() {
    let out = Command::new(BIN)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "check-config",
            "--strict",
            "--config.file",
            "examples/deadman.toml",
        ])
        .output()
        .expect("runs");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "SUCCESS: 5 checks\n");
    assert_eq!(out.status.code(), Some(0));
}

/// A pause whose end has passed is valid (the check is watched again), but
/// the keys were probably left behind: a warning, not an error (#14).
#[test]
fn check_config_warns_about_a_pause_that_has_ended() {
    let dir = dir_with_config(
        "[[check]]\nname = \"orders\"\nowner = \"ops\"\nevery = \"1h\"\n\
         paused_until = \"2020-01-01T00:00:00Z\"\npause_reason = \"migration\"\n",
    );
    let path = dir.path().join("deadman.toml");
    assert_eq!(
        check_config(dir.path(), &[]),
        (
            Some(0),
            "SUCCESS: 1 check\n".to_string(),
            format!(
                "WARNING: config file {}: check \"orders\": paused_until 2020-01-01T00:00:00Z has \
                 passed, so the check is no longer paused; remove paused_until (and pause_reason)\n",
                path.display()
            )
        )
    );
}

#[test]
fn check_config_strict_fails_on_undocumented_checks() {
    let dir = dir_with_config(CONFIG);
    let path = dir.path().join("deadman.toml");
    assert_eq!(check_config(dir.path(), &[]).0, Some(0));
    assert_eq!(
        check_config(dir.path(), &["--strict"]),
        (
            Some(1),
            String::new(),
            format!(
                "FAILED: config file {}: check \"orders\": missing description, runbook, \
                 recovery (--strict)\n",
                path.display()
            )
        )
    );
}

/// CI can lint a config whose secret files it does not have: with
/// `--no-secrets` the sources are checked but not read, and it says so.
#[test]
fn a_missing_token_file_fails_unless_no_secrets() {
    let dir = dir_with_config(&format!("{CONFIG}token_file = \"secrets/orders-token\"\n"));
    let path = dir.path().join("deadman.toml");
    let (code, stdout, stderr) = check_config(dir.path(), &[]);
    assert_eq!((code, stdout.as_str()), (Some(1), ""));
    assert_eq!(
        stderr,
        format!(
            "FAILED: config file {}: check \"orders\" (line 1): token_file: cannot read {}: \
             No such file or directory (os error 2)\n",
            path.display(),
            dir.path().join("secrets/orders-token").display()
        )
    );
    assert_eq!(
        check_config(dir.path(), &["--no-secrets"]),
        (
            Some(0),
            "SUCCESS: 1 check\n".to_string(),
            format!(
                "NOTE: config file {}: --no-secrets: the tokens of 1 check were not read \
                 (token_file, token_env), so their length was not checked\n",
                path.display()
            )
        )
    );

    // How a source is written is still checked.
    let dir = dir_with_config(&format!("{CONFIG}token_file = \"\"\n"));
    let (code, _, stderr) = check_config(dir.path(), &["--no-secrets"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.ends_with(
            ": check \"orders\" (line 1): token_file: is empty; give the path of the file \
             that holds the token\n"
        ),
        "{stderr}"
    );
}

#[test]
fn docs_with_no_secrets_need_no_token_file() {
    let dir = dir_with_config(&format!("{CONFIG}token_file = \"secrets/orders-token\"\n"));
    let docs = |flags: &[&str]| {
        Command::new(BIN)
            .arg("docs")
            .args(flags)
            .arg("--config.file")
            .arg(dir.path().join("deadman.toml"))
            .arg("--storage.path")
            .arg(dir.path().join("data"))
            .output()
            .expect("runs")
    };
    let out = docs(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("token_file: cannot read"));
    let out = docs(&["--no-secrets"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("# Integration inventory"));
}

/// An empty file is refused (a truncated file or a wrong path would stop
/// every alert), unless the file itself says it is meant to be empty.
#[test]
fn a_config_without_checks_must_say_so() {
    let dir = dir_with_config("# nothing here yet\n");
    let (code, _, stderr) = check_config(dir.path(), &[]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        format!(
            "FAILED: config file {}: no checks are configured (the file has no [[check]]), so \
             nothing would be watched; if that is intended, put allow_no_checks = true at the \
             top of the file\n",
            dir.path().join("deadman.toml").display()
        )
    );
    let out = run_once(dir.path(), "127.0.0.1:0");
    assert_eq!(out.status.code(), Some(1), "the exporter does not start");

    let dir = dir_with_config("allow_no_checks = true\n");
    let (code, stdout, _) = check_config(dir.path(), &["--strict"]);
    assert_eq!((code, stdout.as_str()), (Some(0), "SUCCESS: 0 checks\n"));
}

#[test]
fn docs_write_the_inventory_with_current_state() {
    let config = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/deadman.toml"
    ))
    .expect("example config");
    let dir = dir_with_config(&config);
    std::fs::create_dir_all(dir.path().join("secrets")).expect("mkdir");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/secrets/stripe-quickbooks-token"
        ),
        dir.path().join("secrets/stripe-quickbooks-token"),
    )
    .expect("copy secret");
    let (mut child, address, _logs) = start(dir.path(), &[]);
    wait_ready(&address);
    let ok = send(&address, "POST", "/ping/shopify-orders-to-xero?records=5");
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");

    // While the exporter runs (it holds the lock), docs read the store.
    let docs = |format: &str| {
        let out = Command::new(BIN)
            .arg("docs")
            .args(["--format", format, "--config.file"])
            .arg(dir.path().join("deadman.toml"))
            .arg("--storage.path")
            .arg(dir.path().join("data"))
            .output()
            .expect("runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let md = docs("markdown");
    for expected in [
        "# Integration inventory",
        "| [shopify-orders-to-xero](#shopify-orders-to-xero) | Shopify → Xero | finance-ops@acme.example | every 15 minutes, 10 minutes grace | up |",
        "- **Account:** Xero app 'Shopify sync' (finance-ops@acme.example)",
        "- **Schedule:** At 09:00, on Monday, Tuesday, Wednesday, Thursday, and Friday (Europe/London), 15 minutes grace",
        "- **Volume:** at least 200 and at most 5000 records per period starting At 00:00 (UTC), reached by: At 09:00",
        "- **Expiry:** xero-refresh-token (credential): expires 2027-01-15T00:00:00Z",
        "warn 14 days before",
        "### Recovery\n\n1. Check the Zap's task history",
        "- **State now:** up",
        "- **Runbook:** https://wiki.acme.example/runbooks/shopify-xero",
        "- **Failures:** pages after 3 failed runs in a row",
        "- **Failure rate:** at most 20% of runs may fail in any 1 day",
        "- **Min runtime:** a success faster than 30 seconds is suspicious",
        "- **Value:** unmatched_invoices (invoices in Xero with no matching Shopify order): at most 0, paging after 30 minutes out of range",
        "- **Value:** dead_letters (messages left in the reconciliation dead-letter queue): 0 to 10",
        "## Reviews\n\n- [xero-invoice-reconciliation](#xero-invoice-reconciliation) owner-review: due 2027-06-30T00:00:00Z",
        "- **Review:** owner-review (review): review due 2027-06-30T00:00:00Z",
        "- **Paused:** yes, with no end set (no alert fires): Replaced by stripe-payouts-to-quickbooks",
        "- **State now:** paused (new)",
    ] {
        assert!(md.contains(expected), "missing {expected:?} in:\n{md}");
    }
    let html = docs("html");
    assert!(html.contains("<h2 id=\"shopify-orders-to-xero\">shopify-orders-to-xero</h2>"));
    assert!(html.contains("<a href=\"https://wiki.acme.example/runbooks/shopify-xero\">"));
    assert!(html.contains("Xero app &#39;Shopify sync&#39;"));
    stop_cleanly(&mut child, "TERM");
}

/// `--web.listen-address` twice serves on both; `POST /-/reload` needs
/// `--web.enable-lifecycle` (issue #10).
#[test]
fn two_listen_addresses_and_the_lifecycle_flag() {
    let dir = dir_with_config(CONFIG);
    let (mut child, first, logs) = start(dir.path(), &["--web.listen-address", "127.0.0.1:0"]);
    let second = logs
        .recv_timeout(Duration::from_secs(5))
        .ok()
        .and_then(|line| {
            let rest = line.split("address=").nth(1)?;
            Some(rest.split_whitespace().next()?.to_string())
        })
        .expect("a second 'listening' line");
    assert_ne!(first, second);
    for address in [&first, &second] {
        wait_ready(address);
        assert!(send(address, "POST", "/ping/orders").starts_with("HTTP/1.1 200"));
    }
    let refused = send(&first, "POST", "/-/reload");
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    assert!(refused.contains("--web.enable-lifecycle"), "{refused}");
    stop_cleanly(&mut child, "TERM");

    let (mut child, address, _logs) = start(dir.path(), &["--web.enable-lifecycle"]);
    wait_ready(&address);
    let reloaded = send(&address, "POST", "/-/reload");
    assert!(reloaded.starts_with("HTTP/1.1 200"), "{reloaded}");
    stop_cleanly(&mut child, "TERM");
}

#[test]
fn a_bad_external_url_or_web_config_stops_startup_with_exit_1() {
    let dir = dir_with_config(CONFIG);
    let out = Command::new(BIN)
        .args(["--web.external-url", "deadman.example", "--config.file"])
        .arg(dir.path().join("deadman.toml"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "--web.external-url \"deadman.example\" must be an absolute http:// or https:// URL"
        ),
        "{stderr}"
    );

    std::fs::write(
        dir.path().join("web.yml"),
        "basic_auth_users:\n  prom: hunter2\n",
    )
    .expect("write");
    let out = Command::new(BIN)
        .args(["--config.file"])
        .arg(dir.path().join("deadman.toml"))
        .arg("--web.config.file")
        .arg(dir.path().join("web.yml"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("basic_auth_users.prom: is not a bcrypt hash"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

/// `check-config --web.config.file` validates the web config too; with
/// `--no-secrets` the certificate files need not exist.
#[test]
fn check_config_validates_the_web_config() {
    let dir = dir_with_config(CONFIG);
    let web = dir.path().join("web.yml");
    let run = |extra: &[&str]| {
        Command::new(BIN)
            .arg("check-config")
            .args(extra)
            .arg("--config.file")
            .arg(dir.path().join("deadman.toml"))
            .arg("--web.config.file")
            .arg(&web)
            .output()
            .expect("runs")
    };
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: absent.crt\n  key_file: absent.key\n",
    )
    .expect("write");
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("FAILED: web config file"), "{stderr}");
    assert!(stderr.contains("cannot read the certificate"), "{stderr}");
    let out = run(&["--no-secrets"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("SUCCESS: web config file"), "{stdout}");
    assert!(stdout.contains("TLS, 0 basic auth users"), "{stdout}");

    std::fs::write(&web, "tls_server_config:\n  min_version: TLS10\n").expect("write");
    let out = run(&["--no-secrets"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("tls_server_config.cert_file: is required")
    );
}

#[test]
fn the_example_web_config_passes_check_config() {
    let out = Command::new(BIN)
        .args([
            "check-config",
            "--no-secrets",
            "--config.file",
            "examples/deadman.toml",
        ])
        .args(["--web.config.file", "examples/web-config.yml"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("TLS, 1 basic auth user"), "{stdout}");
}
