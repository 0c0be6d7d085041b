//! `GET {telemetry path}`: content negotiation for a scrape; the rendering
//! itself is [`crate::exposition`], run off the reactor on a snapshot, so
//! no lock is held while it runs and pings are never kept waiting.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::StatusCode;

use super::background_thread;
use super::response::{respond, text, HttpResponse};
use super::single_flight::SingleFlight;
use crate::clock::Clock;
use crate::exposition::{self, LabelCache};
use crate::live_config::LiveConfig;
use crate::state::StateHandle;
use crate::store::writer::WriterHandle;

/// `Content-Type` of the Prometheus text exposition format 0.0.4.
pub const EXPOSITION_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a scrape needs, and nothing else.
pub struct ScrapeDeps<'a> {
    /// The exporter's own and process metrics.
    pub registry: &'a prometheus::Registry,
    /// Which checks exist, and their labels.
    pub config: &'a LiveConfig,
    /// Their state.
    pub state: &'a StateHandle,
    /// Refused pings per check.
    pub rejections: &'a crate::metrics::Rejections,
    /// Whether there is state yet: no per-check zeros before the load.
    pub writer: &'a WriterHandle,
    /// "Now" for deadlines and volume windows.
    pub clock: &'a dyn Clock,
    /// Concurrent scrapes share one render.
    pub renders: &'a Renders,
    /// `--web.external-url` without its trailing slash, or "": the check
    /// pages `deadman_check_info`'s `url` label links to.
    pub base: &'a str,
}

/// A finished render, shared by the scrapes that wait for it.
type Rendered = Result<Bytes, String>;

/// At most one render per encoding at a time, shared (see
/// [`SingleFlight`]): memory per scrape is one copy of the body, however
/// many clients scrape at once.
#[derive(Default)]
pub struct Renders {
    plain: SingleFlight<Rendered>,
    gzip: SingleFlight<Rendered>,
    /// The checks' label sets, kept until a reload changes the config.
    labels: Arc<LabelCache>,
    /// Sizes of the last bodies before compression, plain and gzipped
    /// renders apart (they may run at once), to allocate each body once.
    size_hints: Arc<[AtomicUsize; 2]>,
    /// `--web.exposition.all-series`.
    all_series: bool,
}

impl Renders {
    /// `all_series`: write every counter and run series of every check,
    /// zeros included (`--web.exposition.all-series`).
    pub fn new(all_series: bool) -> Renders {
        Renders {
            all_series,
            ..Renders::default()
        }
    }
}

pub async fn handle(deps: ScrapeDeps<'_>, headers: &HeaderMap) -> HttpResponse {
    let gzip = accepts_gzip(headers);
    let flight = if gzip {
        &deps.renders.gzip
    } else {
        &deps.renders.plain
    };
    match flight.run(|| render(&deps, gzip)).await {
        Ok(body) => {
            let mut response = respond(StatusCode::OK, EXPOSITION_CONTENT_TYPE, body);
            if gzip {
                response
                    .headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
                .headers_mut()
                .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            response
        }
        Err(err) => text(StatusCode::INTERNAL_SERVER_ERROR, err),
    }
}

async fn render(deps: &ScrapeDeps<'_>, gzip: bool) -> Rendered {
    let registry = deps.registry.clone();
    let config = deps.config.current();
    // Taken together, before rendering: one consistent view of the state.
    let state = deps.writer.is_ready().then(|| deps.state.snapshot());
    let rejections = deps.rejections.per_check();
    let now = deps.clock.now().wall;
    let base = deps.base.to_string();
    let labels = Arc::clone(&deps.renders.labels);
    let hints = Arc::clone(&deps.renders.size_hints);
    let all_series = deps.renders.all_series;
    // Rendering thousands of checks is CPU work: off the reactor, and
    // below the ping path's priority.
    let rendered = background_thread::run("deadman-render", move || {
        let hint = &hints[usize::from(gzip)];
        let scrape = exposition::Scrape {
            registry: &registry,
            config: &config,
            labels: &labels,
            state: state.as_deref(),
            rejections: &rejections,
            now,
            base: &base,
            all_series,
            size_hint: hint.load(Ordering::Relaxed),
        };
        let rendered = exposition::render(&scrape, gzip);
        if let Ok(exposition) = &rendered {
            hint.store(exposition.text_len, Ordering::Relaxed);
        }
        rendered
    })
    .await;
    match rendered {
        Ok(Ok(exposition)) => Ok(Bytes::from(exposition.body)),
        Ok(Err(err)) => Err(err),
        Err(err) => Err(format!("rendering metrics failed: {err}")),
    }
}

/// Whether `Accept-Encoding` allows gzip (and does not refuse it with q=0).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::super::test_app::{read, TestApp};
    use super::*;

    #[tokio::test]
    async fn renders_from_the_published_snapshot() {
        let app = TestApp::ready().await;
        let deps = ScrapeDeps {
            registry: &app.app.metrics.registry,
            config: &app.app.config,
            state: &app.app.state,
            rejections: &app.app.metrics.rejections,
            writer: &app.app.writer,
            clock: app.clock.as_ref(),
            renders: &app.app.renders,
            base: "",
        };
        let (status, body) = read(handle(deps, &HeaderMap::new()).await).await;
        assert_eq!(status, 200);
        assert!(body.contains("deadman_checks 2\n"), "{body}");
        assert!(
            body.contains("deadman_check_last_success_timestamp_seconds{check=\"orders\"} 0\n"),
            "{body}"
        );
        assert!(body.contains("deadman_config_last_reload_successful 1\n"));
    }

    #[test]
    fn gzip_negotiation() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
            headers
        };
        assert!(!accepts_gzip(&HeaderMap::new()));
        assert!(accepts_gzip(&with("gzip")));
        assert!(accepts_gzip(&with("br, GZIP;q=0.5")));
        assert!(!accepts_gzip(&with("gzip;q=0")));
        assert!(!accepts_gzip(&with("identity")));
    }
}
