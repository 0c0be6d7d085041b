//! `/checks/<name>`: everything deadman knows about one check — what it
//! is, who owns it and how to recover it, its deadline, runs, volume and
//! expiries, the last runs as charts, the event log, and how to ping it.

use maud::{html, Markup};

use super::list::{deadline, volume_meter};
use super::{chart, condition_label, humanize, multiline, snippets, time};
use crate::check_report::CheckReport;
use crate::config::Check;
use crate::docs::plain_schedule;
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
            }
            dt { "Last start" } dd { (time(report.last_start, now)) }
            @if report.last_duration > 0.0 { dt { "Last run took" } dd { (humanize::span(report.last_duration)) } }
            @if let Some(max) = check.max_runtime { dt { "Max runtime" } dd { (humanize::span(max.as_secs_f64())) } }
            dt { "Runs in progress" } dd {
                @if report.runs.is_empty() { span.muted { "none" } }
                @for run in &report.runs {
                    (run.rid.as_deref().unwrap_or("(no rid)")) ", for " (humanize::span(run.elapsed)) br;
                }
            }
        }
    }
}

fn expectations(report: &CheckReport, now: f64) -> Markup {
    html! {
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
                        td { @if expiry.expired { "expired" } @else if expiry.expiring { "expiring" } @else { "ok" } }
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
