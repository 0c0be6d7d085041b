//! `GET /api/v1/checks/{check}/history?limit=N`: the check's most recent
//! pings, newest first, as JSON — what on-call reads to see why a run failed.

use hyper::StatusCode;

use super::response::{json, not_ready, text, HttpResponse};
use crate::live_config::LiveConfig;
use crate::store::writer::WriterHandle;
use crate::text::format_timestamp;

pub async fn handle(
    config: &LiveConfig,
    writer: &WriterHandle,
    name: &str,
    query: Option<&str>,
) -> HttpResponse {
    if !writer.is_ready() {
        return not_ready();
    }
    let config = config.current();
    let Some(check) = config.check(name) else {
        let shown: String = name.chars().take(64).collect();
        return text(StatusCode::NOT_FOUND, format!("unknown check {shown:?}"));
    };
    let kept = config.storage.history;
    let mut limit = kept.min(20);
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match (key.as_ref(), value.parse::<usize>()) {
            ("limit", Ok(n)) if n >= 1 => limit = n.min(kept),
            _ => {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!("the only parameter is limit, a whole number from 1 to {kept}"),
                )
            }
        }
    }
    let rows = match writer.history(&check.name, limit).await {
        Ok(rows) => rows,
        Err(err) => {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("storage unavailable: {err}"),
            )
        }
    };
    let pings: Vec<serde_json::Value> = rows
        .iter()
        .map(|h| {
            serde_json::json!({
                "at": format_timestamp(h.at),
                "at_seconds": h.at,
                "kind": h.kind.as_str(),
                "rid": h.rid,
                "records": h.records,
                "reason": h.reason.map(|r| r.as_str()),
                "exit_status": h.exit_status,
                "message": h.message,
                "remote_addr": h.remote_addr,
                "user_agent": h.user_agent,
            })
        })
        .collect();
    json(&serde_json::json!({ "check": check.name, "pings": pings }))
}
