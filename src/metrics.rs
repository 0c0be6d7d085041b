//! Metrics: the exporter's own metrics in a registry (with the standard
//! process collector), and [`render`], which writes them followed by the
//! per-check families that [`crate::exposition`] builds at scrape time.

use std::io::Write;

use flate2::write::GzEncoder;
use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::shared::Shared;

/// Why a ping request was refused; the `reason` label of
/// `deadman_pings_rejected_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    NotFound,
    MethodNotAllowed,
    Unauthorized,
    BadRequest,
    PayloadTooLarge,
    /// Not ready yet, or storage failing (503).
    Unavailable,
}

impl Rejection {
    const ALL: [Rejection; 6] = [
        Rejection::NotFound,
        Rejection::MethodNotAllowed,
        Rejection::Unauthorized,
        Rejection::BadRequest,
        Rejection::PayloadTooLarge,
        Rejection::Unavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::NotFound => "not_found",
            Rejection::MethodNotAllowed => "method_not_allowed",
            Rejection::Unauthorized => "unauthorized",
            Rejection::BadRequest => "bad_request",
            Rejection::PayloadTooLarge => "payload_too_large",
            Rejection::Unavailable => "unavailable",
        }
    }
}

/// Exporter self-metrics. Registered once; the handles are cheap clones.
pub struct Metrics {
    /// What `/metrics` gathers: these metrics, process metrics, and the
    /// per-check collector.
    pub registry: Registry,
    pub pings_rejected: IntCounterVec,
    pub reload_successful: IntGauge,
    pub reload_success_timestamp: prometheus::Gauge,
    pub storage_commit_duration: Histogram,
    pub storage_commit_batch_size: Histogram,
    pub storage_errors: IntCounter,
    pub restored_checks: IntGauge,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let pings_rejected = IntCounterVec::new(
            Opts::new(
                "deadman_pings_rejected_total",
                "Ping requests refused, by reason (not_found, unauthorized, ...).",
            ),
            &["reason"],
        )
        .expect("static metric definition is valid");
        // Pre-initialised so rate() works from the first rejection.
        for reason in Rejection::ALL {
            pings_rejected.with_label_values(&[reason.as_str()]);
        }
        let reload_successful = IntGauge::new(
            "deadman_config_last_reload_successful",
            "Whether the last configuration load or reload succeeded (1) or failed (0).",
        )
        .expect("static metric definition is valid");
        let reload_success_timestamp = prometheus::Gauge::new(
            "deadman_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully.",
        )
        .expect("static metric definition is valid");
        let storage_commit_duration = Histogram::with_opts(
            HistogramOpts::new(
                "deadman_storage_commit_duration_seconds",
                "Time to durably commit one batch of pings, including fsync.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
        )
        .expect("static metric definition is valid");
        let storage_commit_batch_size = Histogram::with_opts(
            HistogramOpts::new(
                "deadman_storage_commit_batch_size",
                "Pings committed together in one transaction (group commit).",
            )
            .buckets(vec![
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0, 4096.0,
            ]),
        )
        .expect("static metric definition is valid");
        let storage_errors = IntCounter::new(
            "deadman_storage_errors_total",
            "Storage commits that failed; the pings in them were answered 503.",
        )
        .expect("static metric definition is valid");
        let restored_checks = IntGauge::new(
            "deadman_state_restored_checks",
            "Checks whose state was loaded from storage at startup.",
        )
        .expect("static metric definition is valid");
        let build_info = IntGaugeVec::new(
            Opts::new(
                "deadman_build_info",
                "Build information; the value is always 1.",
            ),
            &["version", "revision"],
        )
        .expect("static metric definition is valid");
        build_info
            .with_label_values(&[crate::VERSION, crate::REVISION])
            .set(1);

        let collectors: Vec<Box<dyn Collector>> = vec![
            Box::new(pings_rejected.clone()),
            Box::new(reload_successful.clone()),
            Box::new(reload_success_timestamp.clone()),
            Box::new(storage_commit_duration.clone()),
            Box::new(storage_commit_batch_size.clone()),
            Box::new(storage_errors.clone()),
            Box::new(restored_checks.clone()),
            Box::new(build_info),
            Box::new(prometheus::process_collector::ProcessCollector::for_self()),
        ];
        for collector in collectors {
            registry
                .register(collector)
                .expect("each static metric is registered once");
        }
        Metrics {
            registry,
            pings_rejected,
            reload_successful,
            reload_success_timestamp,
            storage_commit_duration,
            storage_commit_batch_size,
            storage_errors,
            restored_checks,
        }
    }

    pub fn reject(&self, why: Rejection) {
        self.pings_rejected.with_label_values(&[why.as_str()]).inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A rendered scrape.
pub struct Exposition {
    pub body: Vec<u8>,
    pub gzipped: bool,
}

/// Renders the text exposition format (0.0.4): the exporter's own and
/// process metrics from the registry, then every per-check family; gzipped
/// when asked.
pub fn render(shared: &Shared, gzip: bool) -> Result<Exposition, String> {
    let families = shared.metrics.registry.gather();
    let mut own = Vec::with_capacity(16 * 1024);
    TextEncoder::new()
        .encode(&families, &mut own)
        .map_err(|e| format!("encoding metrics: {e}"))?;
    let mut checks = String::with_capacity(64 * 1024);
    crate::exposition::write_checks(shared, &mut checks);
    let mut text = own;
    text.extend_from_slice(checks.as_bytes());
    if !gzip {
        return Ok(Exposition {
            body: text,
            gzipped: false,
        });
    }
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(text.len() / 4),
        flate2::Compression::fast(),
    );
    encoder
        .write_all(&text)
        .and_then(|_| encoder.finish())
        .map(|body| Exposition {
            body,
            gzipped: true,
        })
        .map_err(|e| format!("compressing metrics: {e}"))
}
