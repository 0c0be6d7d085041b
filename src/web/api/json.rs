//! The v1 API's JSON: a check (its config and its [`CheckReport`]), the
//! summary of a list, and a stored ping. Pure; every value a check shows
//! comes from the report, so the API says what the pages and badges say.
//!
//! Naming: an instant is written twice, `<name>` in RFC 3339 UTC to the
//! whole second (as the pages show it, for people) and `<name>_seconds` in
//! Unix seconds (exact, for programs); both are `null` for never or
//! unknown. A duration is `<name>_seconds` alone. Whole numbers of seconds
//! are written as integers.

use serde_json::{json, Map, Value};

use crate::check_report::{
    CheckReport, Condition, ExpiryReport, RatioReport, RunReport, ValueReport, VolumeReport,
};
use crate::config::Check;
use crate::docs::plain_schedule;
use crate::model::schedule::Schedule;
use crate::store::HistoryRow;
use crate::text::format_timestamp;

/// Seconds as a JSON number: an integer when whole, `null` when not finite
/// (JSON has no infinity; an unbounded window end is "unknown").
pub fn number(seconds: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if !seconds.is_finite() {
        Value::Null
    } else if seconds.fract() == 0.0 && seconds.abs() < EXACT {
        Value::from(seconds as i64)
    } else {
        Value::from(seconds)
    }
}

/// Adds `<name>` and `<name>_seconds` for an instant; `None`, 0 (deadman's
/// "never") and non-finite instants are both `null`.
pub fn put_time(out: &mut Map<String, Value>, name: &str, seconds: Option<f64>) {
    let known = seconds.filter(|s| s.is_finite() && *s > 0.0);
    out.insert(
        name.to_string(),
        known.map_or(Value::Null, |s| format_timestamp(s).into()),
    );
    out.insert(format!("{name}_seconds"), known.map_or(Value::Null, number));
}

/// One check: who and what it is, its schedule, and what its report says.
pub fn check(check: &Check, report: &CheckReport, now: f64) -> Map<String, Value> {
    let mut out = Map::new();
    let text_fields = [
        ("name", &check.name),
        ("description", &check.description),
        ("owner", &check.owner),
        ("team", &check.team),
        ("runbook", &check.runbook),
        ("source", &check.source),
        ("destination", &check.destination),
        ("account", &check.account),
        ("recovery", &check.recovery),
    ];
    for (key, value) in text_fields {
        out.insert(key.into(), value.as_str().into());
    }
    out.insert("severity".into(), check.severity.as_str().into());
    out.insert("labels".into(), json!(check.labels));
    out.insert("schedule".into(), schedule(check));
    out.insert("grace_seconds".into(), number(check.grace.as_secs_f64()));
    out.insert(
        "max_runtime_seconds".into(),
        check
            .max_runtime
            .map_or(Value::Null, |d| number(d.as_secs_f64())),
    );
    put_pause_and_limits(&mut out, check, report);
    out.insert("condition".into(), report.primary().as_str().into());
    out.insert("conditions".into(), conditions(&report.conditions));
    out.insert("status".into(), report.status.as_str().into());
    put_time(&mut out, "deadline", Some(report.deadline));
    put_time(&mut out, "last_success", Some(report.last_success));
    put_time(&mut out, "last_failure", Some(report.last_failure));
    put_time(&mut out, "last_start", Some(report.last_start));
    out.insert(
        "last_failure_reason".into(),
        report.last_failure_reason.map(|r| r.as_str()).into(),
    );
    put_failures_and_durations(&mut out, report);
    out.insert(
        "runs".into(),
        report.runs.iter().map(run).collect::<Vec<_>>().into(),
    );
    out.insert(
        "volume".into(),
        report.volume.as_ref().map_or(Value::Null, volume),
    );
    let expiries: Vec<Value> = report.expiries.iter().map(|e| expiry(e, now)).collect();
    out.insert("expiries".into(), expiries.into());
    out.insert(
        "failure_ratio".into(),
        report
            .failure_ratio
            .as_ref()
            .map_or(Value::Null, failure_ratio),
    );
    let values: Vec<Value> = report.values.iter().map(value).collect();
    out.insert("values".into(), values.into());
    out
}

/// `min_runtime_seconds`, `failure_threshold` and the pause: `paused`
/// (now), `paused_until` (an instant, or null) and `pause_reason` ("").
fn put_pause_and_limits(out: &mut Map<String, Value>, check: &Check, report: &CheckReport) {
    out.insert(
        "min_runtime_seconds".into(),
        (check.min_runtime).map_or(Value::Null, |d| number(d.as_secs_f64())),
    );
    out.insert("failure_threshold".into(), check.failure_threshold.into());
    out.insert("paused".into(), report.paused.into());
    put_time(
        out,
        "paused_until",
        check.pause.as_ref().and_then(|p| p.until),
    );
    let reason = check.pause.as_ref().map_or("", |p| p.reason.as_str());
    out.insert("pause_reason".into(), reason.into());
}

/// The last failure's exit status, the failures in a row, and the run
/// durations (`last_success_duration_seconds` is null when unknown).
fn put_failures_and_durations(out: &mut Map<String, Value>, report: &CheckReport) {
    out.insert(
        "last_failure_exit_status".into(),
        report.last_failure_exit_status.into(),
    );
    out.insert(
        "consecutive_failures".into(),
        report.consecutive_failures.into(),
    );
    out.insert("last_duration_seconds".into(), number(report.last_duration));
    out.insert(
        "last_success_duration_seconds".into(),
        report.last_success_duration.map_or(Value::Null, number),
    );
}

fn failure_ratio(ratio: &RatioReport) -> Value {
    json!({
        "max_failure_ratio": number(ratio.max_ratio),
        "window_seconds": number(ratio.window),
        "runs": ratio.runs,
        "failures": ratio.failures,
        "ratio": ratio.ratio.map_or(Value::Null, number),
        "high": ratio.high,
    })
}

fn value(value: &ValueReport) -> Value {
    let optional = |n: Option<f64>| n.map_or(Value::Null, number);
    let mut out = Map::new();
    out.insert("name".into(), value.name.as_str().into());
    out.insert("description".into(), value.description.as_str().into());
    out.insert("min".into(), optional(value.min));
    out.insert("max".into(), optional(value.max));
    out.insert("for_seconds".into(), optional(value.for_seconds));
    out.insert("value".into(), optional(value.value));
    put_time(&mut out, "reported", value.reported);
    put_time(&mut out, "stale_at", value.stale_at);
    out.insert("stale".into(), value.stale.into());
    out.insert("out_of_range".into(), value.out_of_range.into());
    put_time(&mut out, "out_of_range_since", value.out_of_range_since);
    out.into()
}

/// The schedule as configured (`every` in the `schedule` label's spelling,
/// or `cron` with its `timezone`), and in words.
fn schedule(check: &Check) -> Value {
    let mut out = match &check.schedule {
        Schedule::Every(period) => json!({
            "every": humantime::format_duration(*period).to_string(),
            "every_seconds": number(period.as_secs_f64()),
        }),
        Schedule::Cron(cron) => json!({
            "cron": cron.expression,
            "timezone": cron.timezone.name(),
        }),
    };
    out["text"] = plain_schedule(check).into();
    out
}

fn conditions(conditions: &[Condition]) -> Value {
    conditions
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .into()
}

fn run(run: &RunReport) -> Value {
    let mut out = Map::new();
    out.insert("rid".into(), run.rid.clone().into());
    put_time(&mut out, "started", Some(run.started));
    out.insert("elapsed_seconds".into(), number(run.elapsed));
    out.into()
}

fn volume(volume: &VolumeReport) -> Value {
    let mut out = Map::new();
    out.insert("records".into(), volume.records.into());
    out.insert("min_records".into(), volume.min_records.into());
    out.insert("max_records".into(), volume.max_records.into());
    put_time(&mut out, "window_start", Some(volume.start));
    put_time(&mut out, "due", Some(volume.due));
    out.insert("low".into(), volume.low.into());
    out.insert("high".into(), volume.high.into());
    out.into()
}

fn expiry(expiry: &ExpiryReport, now: f64) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), expiry.name.as_str().into());
    out.insert("kind".into(), expiry.kind.as_str().into());
    put_time(&mut out, "at", expiry.at);
    out.insert("warn_before_seconds".into(), number(expiry.warn_before));
    out.insert("expiring".into(), expiry.expiring.into());
    out.insert("expired".into(), expiry.expired.into());
    out.insert(
        "remaining_seconds".into(),
        expiry.remaining(now).map_or(Value::Null, number),
    );
    out.into()
}

/// How many checks hold each condition (a check counts under every one it
/// holds, so the numbers can add up to more than `total`), with every
/// condition present so a dashboard never has to treat a missing key as 0.
pub fn summary<'a>(checks: impl IntoIterator<Item = &'a [Condition]>) -> Value {
    let mut counts = [0u64; Condition::COUNT];
    let mut total = 0u64;
    for conditions in checks {
        total += 1;
        for condition in conditions {
            counts[condition.index()] += 1;
        }
    }
    let mut out = Map::new();
    out.insert("total".into(), total.into());
    for condition in Condition::ALL {
        out.insert(condition.as_str().into(), counts[condition.index()].into());
    }
    out.into()
}

/// One stored ping, as the history endpoint has always shown it.
pub fn ping(row: &HistoryRow) -> Value {
    let mut out = Map::new();
    put_time(&mut out, "at", Some(row.at));
    out.insert("kind".into(), row.kind.as_str().into());
    out.insert("rid".into(), row.rid.clone().into());
    out.insert("records".into(), row.records.into());
    out.insert("reason".into(), row.reason.map(|r| r.as_str()).into());
    out.insert("exit_status".into(), row.exit_status.into());
    out.insert("message".into(), row.message.clone().into());
    out.insert("remote_addr".into(), row.remote_addr.as_str().into());
    out.insert("user_agent".into(), row.user_agent.clone().into());
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::model::check_state::{CheckState, Run};
    use crate::state::CheckView;

    /// 2027-01-15T08:00:00Z.
    const NOW: f64 = 1_800_000_000.0;

    fn parse(text: &str) -> Config {
        Config::parse(text, std::path::Path::new(".")).expect("valid")
    }

    #[test]
    fn seconds_are_integers_when_whole_and_null_when_unbounded() {
        assert_eq!(number(600.0), json!(600));
        assert_eq!(number(42.5), json!(42.5));
        assert_eq!(number(f64::INFINITY), Value::Null);
        assert_eq!(number(f64::NEG_INFINITY), Value::Null);
        let mut out = Map::new();
        put_time(&mut out, "deadline", Some(NOW + 0.75));
        put_time(&mut out, "last_success", Some(0.0));
        put_time(&mut out, "at", None);
        assert_eq!(
            Value::from(out),
            json!({
                "deadline": "2027-01-15T08:00:00Z",
                "deadline_seconds": NOW + 0.75,
                "last_success": null,
                "last_success_seconds": null,
                "at": null,
                "at_seconds": null,
            })
        );
    }

    #[test]
    fn a_check_shows_its_config_and_its_report() {
        let config = parse(
            "[[check]]\nname = \"a\"\nowner = \"ops\"\nevery = \"1h 30m\"\ngrace = \"10m\"\n\
             token = \"a-long-enough-secret-token\"\nlabels = { env = \"prod\" }\n",
        );
        let check = &config.checks[0];
        let mut state = CheckState::new(NOW);
        state.runs.push(Run {
            rid: None,
            started: NOW + 10.0,
            started_mono: None,
        });
        let view = CheckView {
            state,
            ..Default::default()
        };
        let report = CheckReport::new(check, &view, NOW + 70.0);
        let value = Value::from(super::check(check, &report, NOW + 70.0));
        assert_eq!(
            value["schedule"],
            json!({"every": "1h 30m", "every_seconds": 5400, "text": "every 1 hour 30 minutes, 10 minutes grace"})
        );
        assert_eq!(value["labels"], json!({"env": "prod"}));
        assert_eq!(value["conditions"], json!(["running"]));
        assert_eq!(value["condition"], "running");
        assert_eq!(value["status"], "running");
        assert_eq!(value["deadline_seconds"], json!(1_800_006_000));
        assert_eq!(value["max_runtime_seconds"], Value::Null);
        assert_eq!(value["volume"], Value::Null);
        assert_eq!(
            value["runs"],
            json!([{"rid": null, "started": "2027-01-15T08:00:10Z", "started_seconds": 1_800_000_010, "elapsed_seconds": 60}])
        );
        assert_eq!(value["last_success"], Value::Null);
        assert!(!value.to_string().contains("secret"), "{value}");
    }

    #[test]
    fn a_cron_schedule_keeps_its_expression_and_zone() {
        let config = parse(
            "[[check]]\nname = \"a\"\nowner = \"ops\"\ncron = \"0 3 * * *\"\n\
             timezone = \"Europe/London\"\ngrace = \"30m\"\n",
        );
        assert_eq!(
            schedule(&config.checks[0]),
            json!({"cron": "0 3 * * *", "timezone": "Europe/London", "text": "At 03:00 (Europe/London), 30 minutes grace"})
        );
    }

    #[test]
    fn the_summary_counts_every_condition_held_and_lists_them_all() {
        let checks: [&[Condition]; 3] = [
            &[Condition::Failing, Condition::Late],
            &[Condition::Late],
            &[Condition::Up],
        ];
        let summary = summary(checks);
        assert_eq!(summary["total"], 3);
        assert_eq!(summary["late"], 2);
        assert_eq!(summary["failing"], 1);
        assert_eq!(summary["up"], 1);
        assert_eq!(summary["expired"], 0);
        assert_eq!(
            summary.as_object().map(Map::len),
            Some(Condition::COUNT + 1)
        );
    }
}
