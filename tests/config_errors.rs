//! Every `tests/testdata/invalid-*.toml` is rejected with exactly the message
//! paired with it here, and `deadman check-config` prints it with the file
//! name and exits 1. A new invalid fixture without a row fails the test.

use std::path::Path;
use std::process::Command;

use deadman::config::{Config, ConfigError};

const CASES: &[(&str, &str)] = &[
    (
        "invalid-badges-no-secret.toml",
        "[badges]: secret: missing; set exactly one of \"secret\", \"secret_file\" and \"secret_env\", or remove [badges] to keep badges behind basic auth",
    ),
    (
        "invalid-badges-short-secret.toml",
        "[badges]: secret: the secret is shorter than 16 characters; badge URLs are public, and anyone who sees one can test guesses of a short secret offline, then make the URL of every badge; generate one with `openssl rand -hex 32`",
    ),
    (
        "invalid-badges-two-secrets.toml",
        "[badges]: secret: set exactly one of \"secret\", \"secret_file\" and \"secret_env\"",
    ),
    (
        "invalid-badges-unknown-key.toml",
        "[badges]: secrets: unknown key; valid keys are secret, secret_file, secret_env",
    ),
    (
        "invalid-badges-unreadable-secret-file.toml",
        "[badges]: secret_file: cannot read tests/testdata/does-not-exist/badge-secret: No such file or directory (os error 2)",
    ),
    (
        "invalid-badges-wrong-type.toml",
        "[badges]: secret: must be a string",
    ),
    (
        "invalid-bad-cron.toml",
        "check \"orders\" (line 1): cron: \"61 * * * *\" is not a valid cron expression: Component error: Number out of bounds.",
    ),
    (
        "invalid-bad-rate-limit.toml",
        "check \"orders\" (line 1): rate_limit: \"lots\" is not a rate; write pings per second, minute or hour as \"50/s\", \"600/m\" or \"1000/h\", or \"none\" for no limit",
    ),
    (
        "invalid-bad-default.toml",
        "[defaults] (line 1): grace: \"five minutes\" is not a valid duration (expected number at 0); write it like \"90s\", \"15m\" or \"1h 30m\"",
    ),
    (
        "invalid-bad-duration.toml",
        "check \"orders\" (line 1): every: \"15 minutess\" is not a valid duration (unknown time unit \"minutess\", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations)); write it like \"90s\", \"15m\" or \"1h 30m\"",
    ),
    (
        "invalid-bad-label-name.toml",
        "check \"orders\" (line 1): labels: \"1system\" is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)",
    ),
    (
        "invalid-bad-method.toml",
        "check \"orders\" (line 1): methods: \"PUT\" is not supported; use GET, HEAD and/or POST",
    ),
    (
        "invalid-bad-runbook.toml",
        "check \"orders\" (line 1): runbook: \"wiki/orders\" is not an absolute http(s) URL",
    ),
    (
        "invalid-bad-severity.toml",
        "check \"orders\" (line 1): severity: \"urgent\" is not one of critical, warning, info",
    ),
    (
        "invalid-both-every-and-cron.toml",
        "check \"orders\" (line 1): every: set exactly one of \"every\" and \"cron\", not both",
    ),
    (
        "invalid-cron-never-fires.toml",
        "check \"orders\" (line 1): cron: \"0 0 30 2 *\" is not a valid cron expression: never fires",
    ),
    (
        "invalid-cron-six-fields.toml",
        "check \"orders\" (line 1): cron: \"0 0 9 * * *\" is not a valid cron expression: has 6 fields; deadman takes the standard 5 (minute hour day-of-month month day-of-week)",
    ),
    (
        "invalid-duplicate-name.toml",
        "check \"orders\" (line 6): name: \"orders\" is already used by the check at line 1; names must be unique",
    ),
    (
        "invalid-every-too-short.toml",
        "check \"orders\" (line 1): every: \"500ms\" is shorter than the minimum of 1s",
    ),
    (
        "invalid-malformed-name.toml",
        "check #1 (line 1): name: \"Shopify Orders\" is not a valid check name; use 1 to 64 characters of a-z, 0-9, '_', '.' and '-', starting with a letter or digit",
    ),
    (
        "invalid-missing-name.toml",
        "check #1 (line 1): name: missing; every check needs a unique name",
    ),
    (
        "invalid-missing-owner.toml",
        "check \"orders\" (line 1): owner: missing; every check needs a named owner (a person, team or address) so that its alerts reach someone",
    ),
    (
        "invalid-no-checks.toml",
        "no checks are configured (the file has no [[check]]), so nothing would be watched; if that is intended, put allow_no_checks = true at the top of the file",
    ),
    (
        "invalid-no-schedule.toml",
        "check \"orders\" (line 1): every: missing; set exactly one of \"every\" (e.g. \"15m\") or \"cron\" (e.g. \"0 9 * * 1-5\")",
    ),
    (
        "invalid-reserved-label.toml",
        "check \"orders\" (line 1): labels: \"owner\" is reserved (deadman or Prometheus sets it); choose another name",
    ),
    (
        "invalid-storage-history.toml",
        "[storage]: history: -1 is out of range; keep between 0 and 100000 pings per check",
    ),
    (
        "invalid-syntax.toml",
        "TOML parse error at line 2, column 15\n  |\n2 | name = \"orders\n  |               ^\ninvalid basic string, expected `\"`",
    ),
    (
        "invalid-two-token-sources.toml",
        "check \"orders\" (line 1): token: set at most one of \"token\", \"token_file\" and \"token_env\"",
    ),
    (
        "invalid-unknown-key.toml",
        "check \"orders\" (line 1): evry: unknown key; valid keys are name, description, owner, team, runbook, severity, every, cron, timezone, grace, max_runtime, rate_limit, methods, token, token_file, token_env, labels, source, destination, account, recovery, volume, expiry, value, failure_threshold, max_failure_ratio, failure_ratio_window, min_runtime, paused, paused_until, pause_reason",
    ),
    (
        "invalid-unknown-section.toml",
        "TOML parse error at line 1, column 2\n  |\n1 | [defualts]\n  |  ^^^^^^^^\nunknown field `defualts`, expected one of `allow_no_checks`, `defaults`, `storage`, `badges`, `check`",
    ),
    (
        "invalid-unknown-timezone.toml",
        "check \"orders\" (line 1): timezone: \"Europe/Lundon\" is not a known IANA time zone (for example \"Europe/London\", \"America/New_York\" or \"UTC\")",
    ),
    (
        "invalid-unreadable-token-file.toml",
        "check \"orders\" (line 1): token_file: cannot read tests/testdata/does-not-exist/token: No such file or directory (os error 2)",
    ),
    (
        "invalid-wrong-type.toml",
        "check \"orders\" (line 1): grace: invalid type: integer `300`, expected a string",
    ),
    (
        "invalid-volume-both-windows.toml",
        "check \"orders\" (line 1): volume.window: set either a rolling \"window\" or a calendar \"since\", not both",
    ),
    (
        "invalid-volume-max-below-min.toml",
        "check \"orders\" (line 1): volume.max_records: 100 is below min_records (200)",
    ),
    (
        "invalid-volume-bad-due.toml",
        "check \"orders\" (line 1): volume.due: \"9am\" is not a valid cron expression: has 1 field; deadman takes the standard 5 (minute hour day-of-month month day-of-week)",
    ),
    (
        "invalid-expiry-bad-kind.toml",
        "check \"orders\" (line 1): expiry[0].kind: \"password\" is not one of credential, api_version, certificate, contract, review",
    ),
    (
        "invalid-expiry-bad-time.toml",
        "check \"orders\" (line 1): expiry[0].at: \"15/01/2027\" is not an RFC 3339 time such as \"2027-01-15T00:00:00Z\"",
    ),
    (
        "invalid-value-bad-name.toml",
        "check \"orders\" (line 1): value[0].name: \"Unmatched-Invoices\" is not a valid value name; use 1 to 64 characters of a-z, 0-9 and '_', starting with a letter",
    ),
    (
        "invalid-value-bound-too-large.toml",
        "check \"orders\" (line 1): value[0].max: 10000000000000000 is out of range; a bound is a finite number at most 1e15 (1000000000000000) either side of 0",
    ),
    (
        "invalid-value-duplicate-name.toml",
        "check \"orders\" (line 1): value[1].name: \"unmatched\" is declared twice; value names must be unique within a check",
    ),
    (
        "invalid-value-for-without-bounds.toml",
        "check \"orders\" (line 1): value[0].for: applies only to a value with min or max; without bounds it is never out of range",
    ),
    (
        "invalid-value-max-below-min.toml",
        "check \"orders\" (line 1): value[0].max: 5 is below min (10)",
    ),
    (
        "invalid-value-unknown-key.toml",
        "check \"orders\" (line 1): value[0].maximum: unknown key; valid keys are name, description, min, max, for",
    ),
    (
        "invalid-failure-ratio-out-of-range.toml",
        "check \"orders\" (line 1): max_failure_ratio: 20 is out of range; the share of failed runs allowed is above 0 and at most 1 (0.2 is one run in five)",
    ),
    (
        "invalid-failure-ratio-without-window.toml",
        "check \"orders\" (line 1): failure_ratio_window: missing; max_failure_ratio needs the window it is counted over, e.g. failure_ratio_window = \"24h\"",
    ),
    (
        "invalid-failure-threshold-zero.toml",
        "check \"orders\" (line 1): failure_threshold: 0 is out of range; it is the number of failed runs in a row that pages, from 1 (the default: the first failure pages) to 100",
    ),
    (
        "invalid-failure-threshold-too-large.toml",
        "check \"orders\" (line 1): failure_threshold: 101 is out of range; it is the number of failed runs in a row that pages, from 1 (the default: the first failure pages) to 100",
    ),
    (
        "invalid-min-runtime-not-below-max.toml",
        "check \"orders\" (line 1): min_runtime: \"15m\" is not shorter than max_runtime (10m); no run could satisfy both",
    ),
    (
        "invalid-pause-reason-without-pause.toml",
        "check \"orders\" (line 1): pause_reason: is set but the check is not paused; set paused = true or paused_until, or remove the reason",
    ),
    (
        "invalid-paused-false-with-until.toml",
        "check \"orders\" (line 1): paused_until: is set but paused = false; remove one of them (paused_until alone pauses the check until then)",
    ),
    (
        "invalid-paused-until-bad-time.toml",
        "check \"orders\" (line 1): paused_until: \"after the migration\" is not an RFC 3339 time such as \"2026-12-27T09:00:00Z\"",
    ),
    (
        "invalid-reserved-label-url.toml",
        "check \"orders\" (line 1): labels: \"url\" is reserved (deadman or Prometheus sets it); choose another name",
    ),
];

/// Fixtures with several errors: every one is reported, in this order
/// (`[defaults]`, `[storage]`, then the checks in file order).
const SEVERAL: &[(&str, &[&str])] = &[
(
    "invalid-several-errors.toml",
    &[
        "[defaults] (line 2): grace: \"five minutes\" is not a valid duration (expected number at 0); write it like \"90s\", \"15m\" or \"1h 30m\"",
        "[storage]: history: -1 is out of range; keep between 0 and 100000 pings per check",
        "[storage]: retention: \"10m\" is shorter than the minimum of 1h",
        "check \"orders\" (line 9): severity: \"urgent\" is not one of critical, warning, info",
        "check \"orders\" (line 9): every: \"15 minutess\" is not a valid duration (unknown time unit \"minutess\", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations)); write it like \"90s\", \"15m\" or \"1h 30m\"",
        "check \"orders\" (line 9): labels: \"owner\" is reserved (deadman or Prometheus sets it); choose another name",
        "check \"orders\" (line 16): name: \"orders\" is already used by the check at line 9; names must be unique",
        "check #3 (line 21): name: missing; every check needs a unique name",
        "check #3 (line 21): timezone: \"Europe/Lundon\" is not a known IANA time zone (for example \"Europe/London\", \"America/New_York\" or \"UTC\")",
        "check \"refunds\" (line 26): evry: unknown key; valid keys are name, description, owner, team, runbook, severity, every, cron, timezone, grace, max_runtime, rate_limit, methods, token, token_file, token_env, labels, source, destination, account, recovery, volume, expiry, value, failure_threshold, max_failure_ratio, failure_ratio_window, min_runtime, paused, paused_until, pause_reason",
        "check \"payouts\" (line 32): owner: missing; every check needs a named owner (a person, team or address) so that its alerts reach someone",
        "check \"payouts\" (line 32): token_file: cannot read tests/testdata/does-not-exist/token: No such file or directory (os error 2)",
        "check \"payouts\" (line 32): expiry[0].kind: \"password\" is not one of credential, api_version, certificate, contract, review",
        "check \"payouts\" (line 32): expiry[1].at: \"next tuesday\" is not an RFC 3339 time such as \"2027-01-15T00:00:00Z\"",
    ],
),
(
    "invalid-run-assertions.toml",
    &[
        "check \"reconcile\" (line 2): expiry[0].kind: \"reveiw\" is not one of credential, api_version, certificate, contract, review",
        "check \"reconcile\" (line 2): failure_threshold: -2 is out of range; it is the number of failed runs in a row that pages, from 1 (the default: the first failure pages) to 100",
        "check \"reconcile\" (line 2): max_failure_ratio: 0 is out of range; the share of failed runs allowed is above 0 and at most 1 (0.2 is one run in five)",
        "check \"reconcile\" (line 2): min_runtime: \"2h\" is not shorter than max_runtime (1h); no run could satisfy both",
        "check \"reconcile\" (line 2): pause_reason: is set but the check is not paused; set paused = true or paused_until, or remove the reason",
        "check \"reconcile\" (line 2): value[0].for: \"forever\" is not a valid duration (expected number at 0); write it like \"90s\", \"15m\" or \"1h 30m\"",
        "check \"reconcile\" (line 2): value[1].name: \"2nd_value\" is not a valid value name; use 1 to 64 characters of a-z, 0-9 and '_', starting with a letter",
    ],
)];

#[test]
fn each_invalid_config_has_its_exact_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata");
    for (file, expected) in CASES {
        let err = Config::load(&dir.join(file)).expect_err(file);
        let message = err
            .to_string()
            .replace(&format!("{}/", dir.display()), "tests/testdata/");
        assert_eq!(message, *expected, "{file}");
    }
}

#[test]
fn every_invalid_fixture_is_in_the_table() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata");
    let mut fixtures: Vec<String> = std::fs::read_dir(&dir)
        .expect("testdata exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("invalid-") && name.ends_with(".toml"))
        .collect();
    fixtures.sort();
    let mut listed: Vec<String> = (CASES.iter().map(|(f, _)| f.to_string()))
        .chain(SEVERAL.iter().map(|(f, _)| f.to_string()))
        .collect();
    listed.sort();
    assert_eq!(fixtures, listed);
}

/// `deadman check-config` on a fixture: its exit code and stderr.
fn check_config(path: &str) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_deadman"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["check-config", "--config.file", path])
        .output()
        .expect("deadman runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), stderr)
}

#[test]
fn check_config_names_the_file_and_exits_1() {
    for (file, expected) in CASES {
        let path = format!("tests/testdata/{file}");
        let (code, stderr) = check_config(&path);
        assert_eq!(code, Some(1), "{file}");
        assert_eq!(
            stderr.trim_end(),
            format!("FAILED: config file {path}: {expected}"),
            "{file}"
        );
    }
}

#[test]
fn every_error_is_reported_and_check_config_prints_each_on_its_own_line() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata");
    for (file, expected) in SEVERAL {
        let err = Config::load(&dir.join(file)).expect_err(file);
        assert!(matches!(err, ConfigError::Many(_)), "{file}");
        let messages: Vec<String> = (err.each().iter())
            .map(|e| {
                e.to_string()
                    .replace(&format!("{}/", dir.display()), "tests/testdata/")
            })
            .collect();
        assert_eq!(messages, *expected, "{file}");

        let path = format!("tests/testdata/{file}");
        let lines: Vec<String> = (expected.iter())
            .map(|e| format!("FAILED: config file {path}: {e}\n"))
            .collect();
        assert_eq!(check_config(&path), (Some(1), lines.concat()), "{file}");
    }
}

#[test]
fn example_config_is_valid() {
    let out = Command::new(env!("CARGO_BIN_EXE_deadman"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["check-config", "--config.file", "examples/deadman.toml"])
        .output()
        .expect("deadman runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "SUCCESS: 5 checks\n");
    assert_eq!(out.status.code(), Some(0));
}
