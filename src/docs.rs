//! `deadman docs`: the integration inventory a new owner reads on day one —
//! what connects to what, who owns it, when it runs, what it should move,
//! what expires, how to recover, and (when the store is readable) how it is
//! doing now.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::config::{Check, Config};
use crate::model::expectations::{ExpiryKind, Window};
use crate::model::schedule::Schedule;
use crate::model::{CheckState, Status};
use crate::text::{escape_html, format_timestamp};

/// "1 hour 30 minutes", "14 days", "45 seconds".
pub fn plain_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "no".into();
    }
    let mut parts = Vec::new();
    for (unit, size) in [
        ("day", 86_400),
        ("hour", 3600),
        ("minute", 60),
        ("second", 1),
    ] {
        let n = secs / size;
        if n > 0 {
            parts.push(format!("{n} {unit}{}", if n == 1 { "" } else { "s" }));
            secs %= size;
        }
    }
    parts.join(" ")
}

/// A share as a percentage to at most two decimals: "20%", "12.5%".
pub fn percent(share: f64) -> String {
    let text = format!("{:.2}", share * 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

/// "every 15 minutes, 10 minutes grace" or
/// "At 09:00 on Monday through Friday (Europe/London), 15 minutes grace".
pub fn plain_schedule(check: &Check) -> String {
    let when = match &check.schedule {
        Schedule::Every(period) => format!("every {}", plain_duration(*period)),
        Schedule::Cron(cron) => format!("{} ({})", cron.describe(), cron.timezone),
    };
    format!("{when}, {} grace", plain_duration(check.grace))
}

fn plain_volume(check: &Check) -> Option<String> {
    let volume = check.volume.as_ref()?;
    let amount = match (volume.min_records, volume.max_records) {
        (0, Some(max)) => format!("at most {max} records"),
        (min, Some(max)) => format!("at least {min} and at most {max} records"),
        (min, None) => format!("at least {min} records"),
    };
    Some(match &volume.window {
        Window::Rolling(length) => format!("{amount} in any {}", plain_duration(*length)),
        Window::Calendar { since, due } => format!(
            "{amount} per period starting {} ({}), reached by: {}",
            since.describe(),
            since.timezone,
            due.describe()
        ),
    })
}

/// Each expiry as a row: "Expiry" for what breaks, "Review" for an
/// owner review date.
fn plain_expiries(
    check: &Check,
    state: Option<&CheckState>,
    now: f64,
) -> Vec<(&'static str, String)> {
    check
        .expiries
        .iter()
        .map(|e| {
            let at = state
                .and_then(|s| s.expiries.get(&e.name).copied())
                .or(e.at);
            let review = e.kind == ExpiryKind::Review;
            let when = match at {
                None if review => "review date not known until the integration reports it".into(),
                None => "expiry not known until the integration reports it".to_string(),
                Some(at) if at <= now && review => {
                    format!("REVIEW OVERDUE since {}", format_timestamp(at))
                }
                Some(at) if at <= now => format!("EXPIRED {}", format_timestamp(at)),
                Some(at) => format!(
                    "{} {} (in {})",
                    if review { "review due" } else { "expires" },
                    format_timestamp(at),
                    plain_duration(Duration::from_secs((at - now) as u64))
                ),
            };
            let text = format!(
                "{} ({}): {when}; warn {} before",
                e.name,
                e.kind.as_str(),
                plain_duration(e.warn_before)
            );
            (if review { "Review" } else { "Expiry" }, text)
        })
        .collect()
}

/// The pause, in words; `None` without one.
fn plain_pause(check: &Check, now: f64) -> Option<String> {
    let pause = check.pause.as_ref()?;
    let when = match pause.until {
        Some(until) if until <= now => format!("ended {}", format_timestamp(until)),
        Some(until) => format!(
            "until {} (no alert fires until then)",
            format_timestamp(until)
        ),
        None => "yes, with no end set (no alert fires)".to_string(),
    };
    Some(match pause.reason.trim() {
        "" => when,
        reason => format!("{when}: {reason}"),
    })
}

/// What a run must do besides arriving on time, as rows.
fn plain_assertions(check: &Check, state: Option<&CheckState>) -> Vec<(&'static str, String)> {
    let mut rows = Vec::new();
    if check.failure_threshold > 1 {
        let text = format!(
            "pages after {} failed runs in a row",
            check.failure_threshold
        );
        rows.push(("Failures", text));
    }
    if let Some(ratio) = &check.failure_ratio {
        let text = format!(
            "at most {} of runs may fail in any {}",
            percent(ratio.max_ratio),
            plain_duration(ratio.window)
        );
        rows.push(("Failure rate", text));
    }
    if let Some(min) = check.min_runtime {
        let text = format!(
            "a success faster than {} is suspicious",
            plain_duration(min)
        );
        rows.push(("Min runtime", text));
    }
    for value in &check.values {
        let bounds = match (value.min, value.max) {
            (Some(min), Some(max)) => format!("{min} to {max}"),
            (Some(min), None) => format!("at least {min}"),
            (None, Some(max)) => format!("at most {max}"),
            (None, None) => "any number".to_string(),
        };
        let mut text = match value.description.trim() {
            "" => format!("{}: {bounds}", value.name),
            description => format!("{} ({description}): {bounds}", value.name),
        };
        if let Some(for_duration) = value.for_duration {
            text.push_str(&format!(
                ", paging after {} out of range",
                plain_duration(for_duration)
            ));
        }
        if let Some(reported) = state.and_then(|s| s.values.get(&value.name)) {
            let at = format_timestamp(reported.at);
            text.push_str(&format!("; last reported {} at {at}", reported.value));
        }
        rows.push(("Value", text));
    }
    rows
}

/// One check's facts as (label, value) rows, shared by both formats.
fn rows(check: &Check, state: Option<&CheckState>, now: f64) -> Vec<(&'static str, String)> {
    let or_unset = |s: &str| {
        if s.trim().is_empty() {
            "(not set)".to_string()
        } else {
            s.to_string()
        }
    };
    let mut rows = vec![
        (
            "Connects",
            format!(
                "{} → {}",
                or_unset(&check.source),
                or_unset(&check.destination)
            ),
        ),
        ("Account", or_unset(&check.account)),
        ("Owner", check.owner.clone()),
        ("Team", or_unset(&check.team)),
        ("Severity", check.severity.as_str().to_string()),
        ("Schedule", plain_schedule(check)),
    ];
    if let Some(max_runtime) = check.max_runtime {
        rows.push(("Max runtime", plain_duration(max_runtime)));
    }
    if let Some(volume) = plain_volume(check) {
        rows.push(("Volume", volume));
    }
    rows.extend(plain_assertions(check, state));
    rows.extend(plain_expiries(check, state, now));
    if let Some(pause) = plain_pause(check, now) {
        rows.push(("Paused", pause));
    }
    rows.push(("Runbook", or_unset(&check.runbook)));
    rows.push(("Ping URL", format!("/ping/{}", check.name)));
    if let Some(s) = state {
        let deadline = check.deadline(s);
        rows.push(("State now", state_now(check, s, now)));
        rows.push(("Last success", format_timestamp(s.last_success)));
        rows.push(("Deadline", format_timestamp(deadline)));
    }
    rows
}

/// The base status, "paused (…)" while a pause holds.
fn state_now(check: &Check, state: &CheckState, now: f64) -> String {
    let status = state.status(check.deadline(state), now);
    let in_a_row = state.consecutive_failures.max(1);
    // Below failure_threshold a failing check does not page: say so, as
    // the status pages do ("2 in a row; pages at 3").
    let status = if status == Status::Failing && in_a_row < check.failure_threshold {
        format!(
            "failing ({in_a_row} in a row; pages at {})",
            check.failure_threshold
        )
    } else {
        status.as_str().to_string()
    };
    match check.paused(now) {
        true => format!("paused ({status})"),
        false => status,
    }
}

/// Every owner review date, soonest first, as (check, expiry name, when);
/// `None` for a date not known yet.
fn reviews<'a>(
    config: &'a Config,
    states: Option<&HashMap<String, CheckState>>,
) -> Vec<(&'a str, &'a str, Option<f64>)> {
    let mut found: Vec<(&str, &str, Option<f64>)> = (config.checks.iter())
        .flat_map(|check| {
            let state = states.and_then(|s| s.get(&check.name));
            (check.expiries.iter())
                .filter(|e| e.kind == ExpiryKind::Review)
                .map(move |e| {
                    let at = state
                        .and_then(|s| s.expiries.get(&e.name).copied())
                        .or(e.at);
                    (check.name.as_str(), e.name.as_str(), at)
                })
        })
        .collect();
    found.sort_by(|a, b| {
        let key = |at: Option<f64>| at.unwrap_or(f64::INFINITY);
        key(a.2).total_cmp(&key(b.2)).then(a.0.cmp(b.0))
    });
    found
}

/// A review's date in words.
fn review_when(at: Option<f64>, now: f64) -> String {
    match at {
        None => "not known yet".into(),
        Some(at) if at <= now => format!("OVERDUE since {}", format_timestamp(at)),
        Some(at) => format!("due {}", format_timestamp(at)),
    }
}

/// The inventory as Markdown. `states` is `None` when the store could not be read.
pub fn markdown(config: &Config, states: Option<&HashMap<String, CheckState>>, now: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Integration inventory\n");
    let _ = writeln!(
        out,
        "{} integrations, generated {}{}.\n",
        config.checks.len(),
        format_timestamp(now),
        if states.is_some() {
            ""
        } else {
            " (current state unavailable: storage not readable)"
        }
    );
    let _ = writeln!(
        out,
        "| Check | Connects | Owner | Schedule | State |\n| --- | --- | --- | --- | --- |"
    );
    for check in &config.checks {
        let state = states.and_then(|s| s.get(&check.name));
        let status = state.map_or("unknown".to_string(), |s| state_now(check, s, now));
        let _ = writeln!(
            out,
            "| [{0}](#{0}) | {1} → {2} | {3} | {4} | {status} |",
            check.name,
            check.source,
            check.destination,
            check.owner,
            plain_schedule(check)
        );
    }
    let reviews = reviews(config, states);
    if !reviews.is_empty() {
        let _ = writeln!(out, "\n## Reviews\n");
        for (check, name, at) in reviews {
            let _ = writeln!(
                out,
                "- [{check}](#{check}) {name}: {}",
                review_when(at, now)
            );
        }
    }
    for check in &config.checks {
        let state = states.and_then(|s| s.get(&check.name));
        let _ = writeln!(out, "\n## {}\n", check.name);
        if !check.description.is_empty() {
            let _ = writeln!(out, "{}\n", check.description);
        }
        for (label, value) in rows(check, state, now) {
            let _ = writeln!(out, "- **{label}:** {value}");
        }
        if !check.recovery.trim().is_empty() {
            let _ = writeln!(out, "\n### Recovery\n\n{}", check.recovery.trim_end());
        }
    }
    out
}

/// The inventory as a standalone HTML page.
pub fn html(config: &Config, states: Option<&HashMap<String, CheckState>>, now: f64) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Integration inventory</title><style>body{font-family:sans-serif;margin:2em;max-width:60em}\
         th{text-align:left;padding-right:1em;vertical-align:top}pre{background:#f4f4f4;padding:.5em}</style>\
         </head><body>\n<h1>Integration inventory</h1>\n",
    );
    let _ = writeln!(
        out,
        "<p>{} integrations, generated {}.</p>",
        config.checks.len(),
        format_timestamp(now)
    );
    let reviews = reviews(config, states);
    if !reviews.is_empty() {
        out.push_str("<h2>Reviews</h2>\n<ul>\n");
        for (check, name, at) in reviews {
            let _ = writeln!(
                out,
                "<li><a href=\"#{0}\">{0}</a> {1}: {2}</li>",
                escape_html(check),
                escape_html(name),
                escape_html(&review_when(at, now))
            );
        }
        out.push_str("</ul>\n");
    }
    for check in &config.checks {
        let state = states.and_then(|s| s.get(&check.name));
        let _ = writeln!(
            out,
            "<h2 id=\"{0}\">{0}</h2>\n<p>{1}</p>\n<table>",
            escape_html(&check.name),
            escape_html(&check.description)
        );
        for (label, value) in rows(check, state, now) {
            let value = if label == "Runbook" && check.runbook.starts_with("http") {
                format!("<a href=\"{0}\">{0}</a>", escape_html(&value))
            } else {
                escape_html(&value)
            };
            let _ = writeln!(out, "<tr><th>{label}</th><td>{value}</td></tr>");
        }
        out.push_str("</table>\n");
        if !check.recovery.trim().is_empty() {
            let _ = writeln!(
                out,
                "<h3>Recovery</h3>\n<pre>{}</pre>",
                escape_html(check.recovery.trim_end())
            );
        }
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_words() {
        assert_eq!(plain_duration(Duration::from_secs(900)), "15 minutes");
        assert_eq!(
            plain_duration(Duration::from_secs(5400)),
            "1 hour 30 minutes"
        );
        assert_eq!(plain_duration(Duration::from_secs(14 * 86_400)), "14 days");
        assert_eq!(plain_duration(Duration::ZERO), "no");
    }

    #[test]
    fn reviews_are_listed_soonest_first_and_pauses_say_when_they_end() {
        let config = Config::parse(
            "[[check]]\nname = \"b\"\nowner = \"o\"\nevery = \"1h\"\n\
             paused_until = \"2027-01-01T00:00:00Z\"\npause_reason = \"migration\"\n\
             [[check.expiry]]\nname = \"review\"\nkind = \"review\"\nat = \"2027-06-01T00:00:00Z\"\n\
             [[check]]\nname = \"a\"\nowner = \"o\"\nevery = \"1h\"\n\
             [[check.expiry]]\nname = \"review\"\nkind = \"review\"\nat = \"2026-01-01T00:00:00Z\"\n",
            std::path::Path::new("."),
        )
        .expect("valid");
        let now = 1_780_000_000.0; // 2026-05-28
        let md = markdown(&config, None, now);
        let reviews = "## Reviews\n\n\
                       - [a](#a) review: OVERDUE since 2026-01-01T00:00:00Z\n\
                       - [b](#b) review: due 2027-06-01T00:00:00Z\n";
        assert!(md.contains(reviews), "{md}");
        assert!(
            md.contains(
                "- **Paused:** until 2027-01-01T00:00:00Z (no alert fires until then): migration"
            ),
            "{md}"
        );
        assert!(
            md.contains("- **Review:** review (review): REVIEW OVERDUE since 2026-01-01T00:00:00Z"),
            "{md}"
        );
        let later = markdown(&config, None, 1_800_000_000.0);
        assert!(
            later.contains("- **Paused:** ended 2027-01-01T00:00:00Z: migration"),
            "{later}"
        );
    }

    #[test]
    fn percentages() {
        assert_eq!(percent(0.2), "20%");
        assert_eq!(percent(0.07), "7%");
        assert_eq!(percent(0.125), "12.5%");
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(1.0 / 3.0), "33.33%");
    }
}
