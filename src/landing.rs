//! `GET /`: a small page for humans — where the metrics are, and every
//! check with its state, owner and runbook.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat};

use crate::shared::Shared;

/// Escapes text for HTML element content and double-quoted attributes.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// RFC 3339 UTC, or "never" for 0.
pub fn format_timestamp(seconds: f64) -> String {
    if seconds <= 0.0 {
        return "never".into();
    }
    if !seconds.is_finite() {
        return "none".into();
    }
    DateTime::from_timestamp(seconds as i64, 0)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| "invalid".into())
}

pub fn render(shared: &Shared) -> String {
    let config = shared.config();
    let now = shared.now().wall;
    let metrics_path = escape_html(&shared.telemetry_path);
    let mut html = String::with_capacity(4096 + config.checks.len() * 400);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>deadman</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}\
         .late,.failing{{background:#fdd}}.running{{background:#ffd}}.up{{background:#dfd}}</style>\
         </head><body>\n<h1>deadman</h1>\n<p>A dead-man's-switch exporter, version {} ({}). \
         <a href=\"{metrics_path}\">Metrics</a> · <a href=\"/-/healthy\">Health</a> · \
         <a href=\"/-/ready\">Readiness</a></p>\n",
        crate::VERSION,
        crate::REVISION
    );
    if !shared.is_ready() {
        html.push_str("<p><strong>Loading stored state…</strong></p>\n");
    }
    if let Some(fault) = shared.storage_fault() {
        let _ = writeln!(
            html,
            "<p><strong>Storage is failing; pings are refused with 503:</strong> {}</p>",
            escape_html(&fault)
        );
    }
    let _ = writeln!(
        html,
        "<h2>Checks ({})</h2>\n<table><tr><th>Check</th><th>State</th><th>Owner</th><th>Team</th>\
         <th>Schedule</th><th>Last success</th><th>Deadline</th><th>Runbook</th></tr>",
        config.checks.len()
    );
    let state = shared.state();
    for check in &config.checks {
        let Some(entry) = state.checks.get(&check.name) else {
            continue;
        };
        let deadline = check.deadline(&entry.state);
        let status = entry.state.status(deadline, now).as_str();
        let name = escape_html(&check.name);
        let runbook = if check.runbook.is_empty() {
            String::new()
        } else {
            let url = escape_html(&check.runbook);
            format!("<a href=\"{url}\">runbook</a>")
        };
        let _ = writeln!(
            html,
            "<tr class=\"{status}\"><td title=\"{}\"><a href=\"/api/v1/checks/{name}/history\">{name}</a>\
             </td><td>{status}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{runbook}</td></tr>",
            escape_html(&check.description),
            escape_html(&check.owner),
            escape_html(&check.team),
            escape_html(&check.schedule.to_string()),
            format_timestamp(entry.state.last_success),
            format_timestamp(deadline),
        );
    }
    html.push_str("</table>\n</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape_html(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(format_timestamp(0.0), "never");
        assert_eq!(format_timestamp(1_800_000_000.5), "2027-01-15T08:00:00Z");
    }
}
