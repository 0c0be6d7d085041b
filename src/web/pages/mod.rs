//! The status pages people open instead of Prometheus: the check list
//! ([`list`]), one check ([`check`]) and the live inventory
//! ([`inventory`]). Server-rendered with maud, which escapes every value;
//! the few lines of JavaScript (auto-refresh, copy buttons) are optional.
//!
//! * [`assets`] — the embedded stylesheet, script and icon;
//! * [`humanize`] — "3 min ago"; [`chart`] — the runs chart (SVG);
//! * [`snippets`] — ready-to-copy ping commands.

pub mod assets;
pub mod chart;
pub mod check;
pub mod humanize;
pub mod inventory;
pub mod list;
pub mod snippets;

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::check_report::Condition;
use crate::text::format_timestamp;

/// Seconds between automatic refreshes of the list and check pages.
pub const REFRESH_SECONDS: u32 = 15;

/// What every page has around its content.
pub struct Frame<'a> {
    pub title: &'a str,
    /// `--web.external-url` without its trailing slash, or "".
    pub base: &'a str,
    pub telemetry_path: &'a str,
    /// Seconds between refreshes of `#content`; `None` for a static page.
    pub refresh: Option<u32>,
    /// Shown above the content (not ready, storage failing).
    pub notices: Vec<String>,
}

/// A whole page: head, navigation, notices, then `content` in `#content`
/// (what auto-refresh swaps).
pub fn page(frame: &Frame<'_>, content: Markup) -> Markup {
    let base = frame.base;
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (frame.title) " · deadman" }
                link rel="stylesheet" href=(assets::CSS.href(base));
                link rel="icon" type="image/svg+xml" href=(assets::FAVICON.href(base));
                script src=(assets::JS.href(base)) defer {}
            }
            body data-refresh=[frame.refresh] {
                header.top {
                    a.brand href={ (base) "/" } { "deadman" }
                    nav aria-label="Main" {
                        a href={ (base) "/" } { "Checks" }
                        a href={ (base) "/inventory" } { "Inventory" }
                        a href={ (base) (frame.telemetry_path) } { "Metrics" }
                        a href={ (base) "/-/healthy" } { "Health" }
                    }
                    @if frame.refresh.is_some() {
                        span.refresh #refresh-status aria-live="polite" {
                            "Refreshes every " (REFRESH_SECONDS) " s"
                        }
                    }
                }
                main {
                    @for notice in &frame.notices {
                        p.notice role="alert" { (notice) }
                    }
                    div #content { (content) }
                }
            }
        }
    }
}

/// The words a condition is shown with.
pub fn condition_text(condition: Condition) -> &'static str {
    match condition {
        Condition::Failing => "failing",
        Condition::Late => "late",
        Condition::RunningTooLong => "running too long",
        Condition::RanTooShort => "ran too short",
        Condition::ValueOutOfRange => "value out of range",
        Condition::FailureRateHigh => "failure rate high",
        Condition::Expired => "expired",
        Condition::VolumeLow => "volume low",
        Condition::VolumeHigh => "volume high",
        Condition::Expiring => "expiring",
        Condition::Paused => "paused",
        Condition::Running => "running",
        Condition::New => "new",
        Condition::Up => "up",
    }
}

/// A condition as icon **and** text, coloured (never colour alone).
pub fn condition_label(condition: Condition) -> Markup {
    html! {
        span class={ "state " (condition.as_str()) } {
            (icon(condition))
            (condition_text(condition))
        }
    }
}

/// A 16×16 inline icon; the shapes differ as well as the colours.
fn icon(condition: Condition) -> Markup {
    let path = match condition {
        // A cross in a circle.
        Condition::Failing => "M8 1a7 7 0 1 0 0 14A7 7 0 0 0 8 1zm2.8 4.2L9 8l1.8 2.8-1 1L8 9.2l-2.8 2.6-1-1L6.9 8 5.2 5.2l1-1L8 6.8l2.8-2.6z",
        // A clock.
        Condition::Late => "M8 1a7 7 0 1 0 0 14A7 7 0 0 0 8 1zm0 2a5 5 0 1 1 0 10A5 5 0 0 1 8 3zm-.8 1.5v4.1l3 1.8.8-1.2-2.4-1.4V4.5z",
        // A warning triangle.
        Condition::RunningTooLong | Condition::Expired => "M8 1 .5 14.5h15zm-.9 4.5h1.8v4.5H7.1zm0 5.5h1.8v1.8H7.1z",
        // A stopwatch with a short hand.
        Condition::RanTooShort => "M6 0h4v1.5H6zM8 2.5a6.5 6.5 0 1 0 0 13 6.5 6.5 0 0 0 0-13zm0 2a4.5 4.5 0 1 1 0 9 4.5 4.5 0 0 1 0-9zM7.2 6v3h1.6V6z",
        // A gauge whose needle is past the end of its scale.
        Condition::ValueOutOfRange => "M8 3a7 7 0 0 0-7 7v2h2v-2a5 5 0 0 1 9.4-2.4L9 10.2a1.5 1.5 0 1 0 1.2 1.2l3.4-2.6c.3.7.4 1.4.4 2.2v1h2v-2a7 7 0 0 0-7-7z",
        // A zig-zag: up and down.
        Condition::FailureRateHigh => "M1 12l4-7 3 5 3-6 4 8-1.7 1-2.3-4.6-3 6-3-5-2.3 3.6z",
        // Arrows down and up.
        Condition::VolumeLow => "M7 2h2v8h3l-4 4.5L4 10h3z",
        Condition::VolumeHigh => "M7 14h2V6h3L8 1.5 4 6h3z",
        // An hourglass.
        Condition::Expiring => "M3 1h10v2c0 2-2 3.5-3.2 5C11 9.5 13 11 13 13v2H3v-2c0-2 2-3.5 3.2-5C5 6.5 3 5 3 3z",
        // Two bars: pause.
        Condition::Paused => "M4 2h3v12H4zm5 0h3v12H9z",
        // A play triangle.
        Condition::Running => "M4 2v12l10-6z",
        // An empty circle.
        Condition::New => "M8 1a7 7 0 1 0 0 14A7 7 0 0 0 8 1zm0 2a5 5 0 1 1 0 10A5 5 0 0 1 8 3z",
        // A tick in a circle.
        Condition::Up => "M8 1a7 7 0 1 0 0 14A7 7 0 0 0 8 1zm3.3 4 1.1 1.1L7 11.5 3.8 8.3l1.1-1.1L7 9.3z",
    };
    html! {
        svg viewBox="0 0 16 16" aria-hidden="true" focusable="false" {
            path fill="currentColor" d=(path) {}
        }
    }
}

/// A time as people read it ("3 min ago"), with the exact UTC time on
/// hover and for machines.
pub fn time(at: f64, now: f64) -> Markup {
    if at <= 0.0 {
        return html! { span.muted { "never" } };
    }
    let exact = format_timestamp(at);
    html! {
        time datetime=(exact) title=(exact) { (humanize::relative(at, now)) }
    }
}

/// Text that may hold line breaks (recovery steps), escaped, breaks kept
/// by CSS (`white-space: pre-wrap`).
pub fn multiline(text: &str) -> Markup {
    html! { div.recovery { (text) } }
}

/// Marks a string as already-escaped markup; only for markup this module
/// built itself (the inventory's HTML, made by `deadman docs`).
pub fn trusted(markup: String) -> PreEscaped<String> {
    PreEscaped(markup)
}
