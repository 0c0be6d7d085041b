//! `GET {telemetry path}`: content negotiation for a scrape; the rendering
//! itself is [`crate::exposition`], run off the reactor on a snapshot, so
//! no lock is held while it runs and pings are never kept waiting.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

/// How long a render may run at idle priority before it starts again
/// niced (see [`background_thread`]). A render of 100,000 checks takes
/// about 0.9 s on an idle core, and Prometheus's default scrape timeout is
/// 10 s: two seconds leaves the niced attempt most of that.
const RENDER_PATIENCE: Duration = Duration::from_secs(2);

/// A finished render, shared by the scrapes that wait for it.
type Rendered = Result<Bytes, NotRendered>;

/// Why a scrape has no body.
#[derive(Clone, Debug)]
enum NotRendered {
    /// Every body slot is taken (503).
    Busy,
    /// The render itself failed (500).
    Failed(String),
}

/// How many bodies may exist at once when `--web.max-scrape-bodies` is
/// not given: Prometheus in pairs, a federation, a person with curl, and
/// some slack for slow readers.
pub const DEFAULT_MAX_BODIES: usize = 8;

/// At most one render per encoding at a time, shared (see
/// [`SingleFlight`]): memory per scrape is one copy of the body, however
/// many clients scrape at once. And at most `max_bodies` bodies at once,
/// rendering or still being sent: a client that asks and never reads holds
/// its body until the write timeout, and a new one arriving every moment
/// would otherwise hold a new copy each (at 50,000 checks, 37 MB a copy,
/// and with the default 30 s timeout, 150 of them: 5 GB).
pub struct Renders {
    plain: SingleFlight<Rendered>,
    gzip: SingleFlight<Rendered>,
    /// One permit per body that exists: taken when a render starts,
    /// returned when the last response sending the body has dropped it.
    bodies: Arc<Semaphore>,
    /// `--web.max-scrape-bodies`, for the refusal's sentence.
    max_bodies: usize,
    /// Monotonic seconds of the last "scrape refused" log line, so that a
    /// client hammering the endpoint cannot flood the log.
    last_logged: AtomicU64,
    /// The checks' label sets, kept until a reload changes the config.
    labels: Arc<LabelCache>,
    /// Sizes of the last bodies before compression, plain and gzipped
    /// renders apart (they may run at once), to allocate each body once.
    size_hints: Arc<[AtomicUsize; 2]>,
    /// `--web.exposition.all-series`.
    all_series: bool,
    /// Renders started and scrapes refused, for the exporter's own metrics.
    metrics: crate::metrics::ScrapeMetrics,
}

impl Renders {
    /// `all_series`: write every counter and run series of every check,
    /// zeros included (`--web.exposition.all-series`); `max_bodies`: how
    /// many bodies may exist at once (`--web.max-scrape-bodies`, at least 1).
    pub fn new(
        all_series: bool,
        max_bodies: usize,
        metrics: crate::metrics::ScrapeMetrics,
    ) -> Renders {
        let max_bodies = max_bodies.max(1);
        Renders {
            plain: SingleFlight::default(),
            gzip: SingleFlight::default(),
            bodies: Arc::new(Semaphore::new(max_bodies)),
            max_bodies,
            last_logged: AtomicU64::new(0),
            labels: Arc::default(),
            size_hints: Arc::default(),
            all_series,
            metrics,
        }
    }

    /// A permit for a new body, or `None` when all are taken.
    fn body_slot(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.bodies).try_acquire_owned().ok()
    }

    /// The 503 for a scrape that found every body slot taken.
    fn refuse(&self, now_mono: Duration) -> HttpResponse {
        self.metrics.refused.inc();
        let second = now_mono.as_secs();
        if self.last_logged.swap(second, Ordering::Relaxed) != second {
            tracing::warn!(
                max_bodies = self.max_bodies,
                "scrape refused: every scrape body is still held by clients that have not read it"
            );
        }
        // `Retry-After` comes with every 503 (see `respond`).
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} earlier scrape bodies are still being sent to clients that have not read \
                 them (--web.max-scrape-bodies); retry in a few seconds",
                self.max_bodies
            ),
        )
    }
}

/// A body's bytes with the permit it holds: the permit goes back when the
/// last response sending the body drops it.
struct OwnedBody {
    bytes: Vec<u8>,
    _slot: OwnedSemaphorePermit,
}

impl AsRef<[u8]> for OwnedBody {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
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
        Err(NotRendered::Busy) => deps.renders.refuse(deps.clock.now().mono),
        Err(NotRendered::Failed(err)) => text(StatusCode::INTERNAL_SERVER_ERROR, err),
    }
}

async fn render(deps: &ScrapeDeps<'_>, gzip: bool) -> Rendered {
    let slot = deps.renders.body_slot().ok_or(NotRendered::Busy)?;
    deps.renders.metrics.renders[usize::from(gzip)].inc();
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
    let rendered = background_thread::run("deadman-render", RENDER_PATIENCE, move |attempt| {
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
            abandoned: &|| attempt.abandoned(),
        };
        let rendered = exposition::render(&scrape, gzip);
        if let Ok(exposition) = &rendered {
            hint.store(exposition.text_len, Ordering::Relaxed);
        }
        rendered
    })
    .await;
    match rendered {
        Ok(Ok(exposition)) => Ok(Bytes::from_owner(OwnedBody {
            bytes: exposition.body,
            _slot: slot,
        })),
        Ok(Err(err)) => Err(NotRendered::Failed(err)),
        Err(err) => Err(NotRendered::Failed(format!(
            "rendering metrics failed: {err}"
        ))),
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
