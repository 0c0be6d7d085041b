//! `/checks/<name>`: everything deadman knows about one check — what it
//! is, who owns it and how to recover it, its deadline, runs, volume and
//! expiries, the last runs as charts, the event log, and how to ping it.

use maud::{html, Markup};

use super::list::{deadline, volume_meter};
use super::{chart, condition_label, humanize, multiline, snippets, time};
use crate::check_report::{CheckReport, Condition, RatioReport};
use crate::config::Check;
use crate::docs::plain_schedule;
use crate::model::expectations::ExpiryKind;
use crate::model::kind::Kind;
use crate::store::HistoryRow;

/// Messages longer than this are collapsed in the event log.
const LONG_MESSAGE: usize = 160;

/// `?kind=`: which pings the event log shows (`None`: all).
pub fn parse_kind(query: Option<&str>) -> Result<Option<Kind>, String> {
    let mut kind = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let all: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        match key.as_ref() {
            "kind" if value.is_empty() => {}
            "kind" if kind.is_some() => return Err("kind is given twice".into()),
            "kind" => {
                kind =
                    Some(Kind::parse(&value).ok_or_else(|| {
                        format!("kind {value:?} is not one of {}", all.join(", "))
                    })?)
            }
            other => {
                let shown: String = other.chars().take(64).collect();
                return Err(format!(
                    "unknown parameter {shown:?}; the only parameter is kind ({})",
                    all.join(", ")
                ));
            }
        }
    }
    Ok(kind)
}

/// What the check page shows.
pub struct CheckPage<'a> {
    pub check: &'a Check,
    /// `None` while stored state is loading.
    pub report: Option<CheckReport>,
    /// The stored history, newest first.
    pub history: &'a [HistoryRow],
    pub kind: Option<Kind>,
    pub now: f64,
    pub base: &'a str,
    /// Where pings go, for the snippets (external URL or this host).
    pub ping_base: &'a str,
    /// The check's badge image URL (with its key when badges are public).
    pub badge: Option<String>,
}

pub fn render(page: &CheckPage<'_>) -> Markup {
    let check = page.check;
    html! {
        nav.small aria-label="Breadcrumb" { a href={ (page.base) "/" } { "Checks" } " / " (check.name) }
        h1 {
            (check.name) " "
            @if let Some(report) = &page.report {
                @for condition in &report.conditions { (condition_label(*condition)) " " }
            }
        }
        @if !check.description.is_empty() { p { (check.description) } }
        @if page.report.as_ref().is_some_and(|r| r.paused) { (pause_note(check, page.now)) }
        div.columns {
            section.panel aria-labelledby="about" { h2 #about { "About" } (about(check)) }
            @if let Some(report) = &page.report {
                section.panel aria-labelledby="timing" { h2 #timing { "Timing" } (timing(check, report, page.now)) }
            }
        }
        @if !check.recovery.is_empty() {
            section aria-labelledby="recovery" { h2 #recovery { "Recovery steps" } (multiline(&check.recovery)) }
        }
        @if let Some(report) = &page.report { (expectations(report, page.now)) }
        (charts(page.history))
        (event_log(page))
        (ping_snippets(check, page.ping_base))
        @if let Some(badge) = &page.badge { (badge_section(check, badge)) }
    }
}

/// Why no alert fires for the check, and until when.
fn pause_note(check: &Check, now: f64) -> Markup {
    let until = check.pause.as_ref().and_then(|p| p.until);
    let reason = check.pause.as_ref().map_or("", |p| p.reason.as_str());
    html! {
        p.paused-note role="status" {
            (condition_label(Condition::Paused)) " "
            @match until {
                Some(until) => { "until " (time(until, now)) " (" (crate::text::format_timestamp(until)) "): no alert fires for this check until then; pings are still recorded." }
                None => { "no alert fires for this check until the config says otherwise; pings are still recorded." }
            }
            @if !reason.is_empty() { br; strong { "Why: " } (reason) }
        }
    }
}

fn badge_section(check: &Check, url: &str) -> Markup {
    let markdown = format!("![{}]({url})", check.name);
    html! {
        section aria-labelledby="badge" {
            h2 #badge { "Badge" }
            p { img src=(url) alt={ (check.name) " state badge" }; }
            div.snippet {
                pre #snippet-badge { (markdown) }
                button type="button" data-copy="snippet-badge" hidden aria-label="Copy the badge's Markdown" { "Copy" }
            }
        }
    }
}

fn about(check: &Check) -> Markup {
    html! {
        dl.facts {
            @if !check.source.is_empty() || !check.destination.is_empty() {
                dt { "Moves" } dd { (check.source) " → " (check.destination) }
            }
            @if !check.account.is_empty() { dt { "Account" } dd { (check.account) } }
            dt { "Owner" } dd { (check.owner) }
            @if !check.team.is_empty() { dt { "Team" } dd { (check.team) } }
            dt { "Severity" } dd { (check.severity.as_str()) }
            @if !check.labels.is_empty() {
                dt { "Labels" } dd { @for (k, v) in &check.labels { code { (k) "=" (v) } " " } }
            }
            dt { "Runbook" } dd {
                @if check.runbook.is_empty() { span.muted { "none" } } @else { a href=(check.runbook) { (check.runbook) } }
            }
        }
    }
}

fn timing(check: &Check, report: &CheckReport, now: f64) -> Markup {
    html! {
        dl.facts {
            dt { "Schedule" } dd { (plain_schedule(check)) }
            dt { "Next deadline" } dd { (deadline(report.deadline, now)) " " span.small.muted { (crate::text::format_timestamp(report.deadline)) } }
            dt { "Last success" } dd { (time(report.last_success, now)) }
            dt { "Last failure" } dd {
                (time(report.last_failure, now))
                @if let (true, Some(reason)) = (report.last_failure > 0.0, report.last_failure_reason) { " (" (reason.as_str()) ")" }
                @if let (true, Some(status)) = (report.last_failure > 0.0, report.last_failure_exit_status) { ", exit status " (status) }
            }
            @if check.failure_threshold > 1 || report.consecutive_failures > 0 {
                dt { "Failures in a row" } dd { (report.consecutive_failures) span.small.muted { " (pages at " (check.failure_threshold) ")" } }
            }
            dt { "Last start" } dd { (time(report.last_start, now)) }
            @if report.last_duration > 0.0 { dt { "Last run took" } dd { (humanize::run_time(report.last_duration)) } }
            @if let Some(min) = check.min_runtime { dt { "Min runtime" } dd { (min_runtime(min.as_secs_f64(), report)) } }
            @if let Some(max) = check.max_runtime { dt { "Max runtime" } dd { (humanize::span(max.as_secs_f64())) } }
            @if let Some(ratio) = &report.failure_ratio { dt { "Failure rate" } dd { (failure_rate(ratio)) } }
            dt { "Runs in progress" } dd {
                @if report.runs.is_empty() { span.muted { "none" } }
                @for run in &report.runs {
                    (run.rid.as_deref().unwrap_or("(no rid)")) ", for " (humanize::span(run.elapsed)) br;
                }
            }
        }
    }
}

/// `min_runtime`, and how long the most recent success took.
fn min_runtime(min: f64, report: &CheckReport) -> Markup {
    html! {
        (humanize::run_time(min))
        @match report.last_success_duration {
            Some(took) => {
                "; the last success took " (humanize::run_time(took))
                @if took < min { " " strong.state.ran_too_short { "too short" } }
            }
            None => span.small.muted { "; the last success had no start ping to time it from" },
        }
    }
}

/// "1 of 4 runs failed (25%) in the last 1 h; at most 20%".
fn failure_rate(ratio: &RatioReport) -> Markup {
    let percent = crate::docs::percent;
    html! {
        @match ratio.ratio {
            Some(r) => { (ratio.failures) " of " (ratio.runs) " runs failed (" (percent(r)) ")" }
            None => { "no finished runs" }
        }
        " in the last " (humanize::span(ratio.window)) "; at most " (percent(ratio.max_ratio))
        @if ratio.high { " " strong.state.failure_rate_high { "Above the maximum." } }
    }
}

/// Every declared value against its bounds, with its age.
fn values(report: &CheckReport, now: f64) -> Markup {
    let number = |n: Option<f64>| n.map(|n| n.to_string());
    html! {
        section aria-labelledby="values" {
            h2 #values { "Values" }
            div.table-wrap { table.values {
                thead { tr { th scope="col" { "Name" } th scope="col" { "What it counts" } th scope="col" { "Last value" }
                    th scope="col" { "Reported" } th scope="col" { "Allowed" } th scope="col" { "State" } } }
                tbody { @for value in &report.values { tr {
                    td { code { (value.name) } }
                    td { (value.description) }
                    td { @match number(value.value) { Some(n) => strong { (n) }, None => span.muted { "not reported yet" } } }
                    td { @match value.reported { Some(at) => (time(at, now)), None => "—" } }
                    td {
                        @match (number(value.min), number(value.max)) {
                            (Some(min), Some(max)) => { (min) " to " (max) }
                            (Some(min), None) => { "at least " (min) }
                            (None, Some(max)) => { "at most " (max) }
                            (None, None) => span.muted { "any" },
                        }
                        @if let Some(for_seconds) = value.for_seconds { br; span.small.muted { "pages after " (humanize::span(for_seconds)) " out of range" } }
                    }
                    td {
                        @if value.out_of_range { strong.state.value_out_of_range { "out of range" }
                            @if let Some(since) = value.out_of_range_since { " since " (time(since, now)) } }
                        @else if value.stale { span.muted { "stale (older than a run should be)" } }
                        @else if value.value.is_some() { "ok" }
                        @else { "—" }
                    }
                } } }
            } }
        }
    }
}

fn expectations(report: &CheckReport, now: f64) -> Markup {
    html! {
        @if !report.values.is_empty() { (values(report, now)) }
        @if let Some(volume) = &report.volume {
            section aria-labelledby="volume" {
                h2 #volume { "Volume" }
                @let bounds = match volume.max_records {
                    Some(max) => format!("between {} and {max}", volume.min_records),
                    None => format!("at least {}", volume.min_records),
                };
                p { (volume_meter(volume, now)) }
                p { strong { (volume.records) " records" } " since " (time(volume.start, now)) "; expected " (bounds)
                    @if volume.due > now { ", due " (time(volume.due, now)) } "."
                    @if volume.low { " " strong.state.volume_low { "Below the minimum." } }
                    @if volume.high { " " strong.state.volume_high { "Above the maximum." } } }
            }
        }
        @if !report.expiries.is_empty() {
            section aria-labelledby="expiries" {
                h2 #expiries { "Expiries" }
                div.table-wrap { table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Kind" } th scope="col" { "Expires" } th scope="col" { "Days left" } th scope="col" { "State" } } }
                    tbody { @for expiry in &report.expiries { tr {
                        td { (expiry.name) } td { (expiry.kind.as_str()) }
                        td { @match expiry.at { Some(at) => (time(at, now)), None => span.muted { "not reported yet" } } }
                        td { @match expiry.remaining(now) { Some(left) => (format!("{:.0}", (left / 86_400.0).floor())), None => "—" } }
                        td { @if expiry.expired { (if expiry.kind == ExpiryKind::Review { "review overdue" } else { "expired" }) }
                             @else if expiry.expiring { (if expiry.kind == ExpiryKind::Review { "review due soon" } else { "expiring" }) } @else { "ok" } }
                    } } }
                } }
            }
        }
    }
}

fn charts(history: &[HistoryRow]) -> Markup {
    let runs = chart::runs(history);
    html! {
        section aria-labelledby="runs" {
            h2 #runs { "Last runs" }
            @if runs.is_empty() { p.muted { "No finished run in the stored history yet." } } @else {
                figure { (chart::bars("Duration", "s", &runs, |p| p.duration)) figcaption.small.muted { "Duration per run (from its start ping with the same rid)" } }
                figure { (chart::bars("Records", "records", &runs, |p| p.records.map(|r| r as f64))) figcaption.small.muted { "Records per run; failures in red" } }
            }
        }
    }
}

fn event_log(page: &CheckPage<'_>) -> Markup {
    let path = format!("{}/checks/{}", page.base, page.check.name);
    html! {
        section aria-labelledby="events" {
            h2 #events { "Event log" }
            p.small { "Show: "
                a href=(path) aria-current=[page.kind.is_none().then_some("true")] { "all" }
                @for kind in Kind::ALL { " · " a href={ (path) "?kind=" (kind.as_str()) } aria-current=[(page.kind == Some(kind)).then_some("true")] { (kind.as_str()) } }
            }
            @let rows: Vec<&HistoryRow> = page.history.iter().filter(|row| page.kind.is_none_or(|k| row.kind == k)).collect();
            @if rows.is_empty() { p.muted { "No pings stored." } } @else {
                div.table-wrap { table.events {
                    thead { tr { th scope="col" { "Time" } th scope="col" { "Kind" } th scope="col" { "rid" } th scope="col" { "Records" }
                        th scope="col" { "Reason / exit" } th scope="col" { "Message" } th scope="col" { "From" } } }
                    tbody { @for row in rows { tr data-kind=(row.kind.as_str()) {
                        td { (time(row.at, page.now)) }
                        td { (row.kind.as_str()) }
                        td { (row.rid.as_deref().unwrap_or("")) }
                        td { @if let Some(records) = row.records { (records) } }
                        td { (row.reason.map(|r| r.as_str()).unwrap_or(""))
                             @if let Some(status) = row.exit_status { " (exit " (status) ")" } }
                        td { @if let Some(message) = &row.message { (message_cell(message)) } }
                        td.small { (row.remote_addr) @if let Some(agent) = &row.user_agent { br; span.muted { (agent) } } }
                    } } }
                } }
            }
        }
    }
}

fn message_cell(message: &str) -> Markup {
    if message.chars().count() <= LONG_MESSAGE {
        return html! { (message) };
    }
    let head: String = message.chars().take(LONG_MESSAGE).collect();
    html! { details { summary { (head) "…" } pre { (message) } } }
}

fn ping_snippets(check: &Check, ping_base: &str) -> Markup {
    html! {
        section aria-labelledby="ping" {
            h2 #ping { "How to ping it" }
            @if check.token.is_some() {
                p { "This check needs its token; the snippets show where it goes, never the token itself. Ask the check's owner (" (check.owner) ") for it." }
            }
            @for snippet in snippets::all(check, ping_base) {
                h3.small { (snippet.title) }
                div.snippet {
                    pre id=(snippet.id) { (snippet.text) }
                    button type="button" data-copy=(snippet.id) hidden aria-label={ "Copy the " (snippet.title) " snippet" } { "Copy" }
                }
            }
        }
    }
}
