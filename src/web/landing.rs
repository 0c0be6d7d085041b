//! `GET /`: a small page for humans — where the metrics are, and every
//! check with its state, owner and runbook.

use std::fmt::Write as _;

use super::response::{html, HttpResponse};
use crate::clock::Clock;
use crate::config::Config;
use crate::live_config::LiveConfig;
use crate::state::{StateHandle, StateSnapshot};
use crate::store::writer::WriterHandle;
use crate::text::{escape_html, format_timestamp};
use crate::version::{REVISION, VERSION};

/// `GET /`.
pub fn handle(
    config: &LiveConfig,
    state: &StateHandle,
    writer: &WriterHandle,
    clock: &dyn Clock,
    telemetry_path: &str,
    base: &str,
) -> HttpResponse {
    let ready = writer.is_ready();
    let snapshot = state.snapshot();
    let config = config.current();
    let fault = writer.storage_fault();
    let page = Page {
        config: &config,
        state: ready.then_some(snapshot.as_ref()),
        storage_fault: fault.as_deref(),
        telemetry_path,
        base,
        now: clock.now().wall,
    };
    html(render(&page))
}

/// What the page shows.
struct Page<'a> {
    config: &'a Config,
    /// `None` while stored state is still loading.
    state: Option<&'a StateSnapshot>,
    storage_fault: Option<&'a str>,
    telemetry_path: &'a str,
    /// Prefix of every link: `--web.external-url` without its trailing
    /// slash, or empty for links relative to this host.
    base: &'a str,
    now: f64,
}

fn render(page: &Page<'_>) -> String {
    let config = page.config;
    let now = page.now;
    let base = escape_html(page.base);
    let metrics_path = escape_html(page.telemetry_path);
    let mut html = String::with_capacity(4096 + config.checks.len() * 400);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>deadman</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}\
         .late,.failing{{background:#fdd}}.running{{background:#ffd}}.up{{background:#dfd}}</style>\
         </head><body>\n<h1>deadman</h1>\n<p>A dead-man's-switch exporter, version {} ({}). \
         <a href=\"{base}{metrics_path}\">Metrics</a> · <a href=\"{base}/-/healthy\">Health</a> · \
         <a href=\"{base}/-/ready\">Readiness</a></p>\n",
        VERSION, REVISION
    );
    if page.state.is_none() {
        let _ = writeln!(
            html,
            "<p><strong>{}</strong></p>",
            escape_html(super::response::NOT_READY)
        );
    }
    if let Some(fault) = page.storage_fault {
        let _ = writeln!(
            html,
            "<p><strong>Storage is failing; pings are refused with 503:</strong> {}</p>",
            escape_html(fault)
        );
    }
    let _ = writeln!(
        html,
        "<h2>Checks ({})</h2>\n<table><tr><th>Check</th><th>State</th><th>Owner</th><th>Team</th>\
         <th>Schedule</th><th>Last success</th><th>Deadline</th><th>Runbook</th></tr>",
        config.checks.len()
    );
    for check in &config.checks {
        let Some(entry) = page.state.and_then(|state| state.get(&check.name)) else {
            continue;
        };
        let deadline = entry.state.deadline(&check.schedule, check.grace);
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
            "<tr class=\"{status}\"><td title=\"{}\"><a href=\"{base}/api/v1/checks/{name}/history\">{name}</a>\
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
