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

// Layout: `harness` has processes, HTTP, the webhook receiver, the pinger
// and the scaled rules copy; `stack` starts and queries the whole stack;
// this file holds the config, the time scale and the scenarios.
#[path = "../common/mod.rs"]
mod common;
mod harness;
mod stack;

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use harness::*;
use stack::*;

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
    let (late, late_latency) = stack.expect_notification(
        "DeadmanCheckLate",
        Some("e2e-late"),
        "firing",
        silence,
        late_bound,
    );
    println!(
        "e2e: [1] DeadmanCheckLate e2e-late arrived {late_latency:.2}s after the silence began \
         (bound {late_bound:.1}s = every {EVERY} + grace {GRACE} + scrape {SCRAPE} + eval {EVAL} \
         + for {late_for} + group_wait {GROUP_WAIT} + margin {MARGIN})"
    );
    stack.expect_labels(
        &late,
        &[
            ("owner", "alice@example.com"),
            ("team", "finance"),
            ("severity", "critical"),
            ("runbook_url", "https://runbooks.example.com/e2e-late"),
            ("job", "deadman"),
        ],
    );

    let auth_bound = SCRAPE + EVAL + auth_for + GROUP_WAIT + MARGIN;
    let (auth, auth_latency) = stack.expect_notification(
        "DeadmanCheckAuthFailing",
        Some("e2e-auth"),
        "firing",
        auth_sent,
        auth_bound,
    );
    println!(
        "e2e: [3] DeadmanCheckAuthFailing e2e-auth arrived {auth_latency:.2}s after the fail ping \
         (bound {auth_bound:.1}s)"
    );
    stack.expect_labels(
        &auth,
        &[
            ("owner", "bob@example.com"),
            ("team", "platform"),
            ("severity", "warning"),
            ("runbook_url", "https://runbooks.example.com/e2e-auth"),
        ],
    );

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
    let (_, resolve_latency) = stack.expect_notification(
        "DeadmanCheckLate",
        Some("e2e-late"),
        "resolved",
        resumed,
        resolve_bound,
    );
    println!(
        "e2e: [2] resolved DeadmanCheckLate e2e-late arrived {resolve_latency:.2}s after the ping \
         (bound {resolve_bound:.1}s)"
    );

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

    let (_, ha_latency) = stack.expect_notification(
        "DeadmanCheckLate",
        Some("e2e-ha"),
        "firing",
        ha_silence,
        late_bound,
    );
    println!(
        "e2e: [4] DeadmanCheckLate e2e-ha arrived {ha_latency:.2}s after its pings stopped \
         (bound {late_bound:.1}s)"
    );
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
    let (volume, volume_latency) = stack.expect_notification(
        "DeadmanCheckVolumeLow",
        Some("e2e-volume"),
        "firing",
        t0,
        volume_bound,
    );
    println!(
        "e2e: [7] DeadmanCheckVolumeLow e2e-volume arrived +{volume_latency:.2}s after the stack \
         started (bound {volume_bound:.1}s = window {VOLUME_WINDOW} + scrape + eval + for \
         {volume_for} + group_wait + margin)"
    );
    stack.expect_labels(
        &volume,
        &[
            ("owner", "erin@example.com"),
            ("team", "finance"),
            ("severity", "critical"),
            ("runbook_url", "https://runbooks.example.com/e2e-volume"),
        ],
    );
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
    let (down, down_latency) =
        stack.expect_notification("DeadmanExporterDown", None, "firing", killed, down_bound);
    println!(
        "e2e: [5] DeadmanExporterDown arrived {down_latency:.2}s after the kill (bound {down_bound:.1}s)"
    );
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
