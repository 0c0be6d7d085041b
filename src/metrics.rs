//! The exporter's own metrics, in a registry with the standard process
//! collector, grouped by the subsystem that updates them: each subsystem is
//! handed only its group ([`Rejections`] to the ping handler,
//! [`ReloadGauges`] to the live config, [`StorageMetrics`] to the writer,
//! [`ScrapeMetrics`] to the scrape renders).
//! The per-check families are not here: [`crate::exposition`] writes them
//! at scrape time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prometheus::core::Collector;
use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

crate::string_enum! {
    /// Why a ping request was refused; the `reason` label of
    /// `deadman_pings_rejected_total`.
    pub enum Rejection {
        NotFound = "not_found",
        MethodNotAllowed = "method_not_allowed",
        Unauthorized = "unauthorized",
        BadRequest = "bad_request",
        PayloadTooLarge = "payload_too_large",
        /// Over the check's rate limit, or too many failed tokens (429).
        RateLimited = "rate_limited",
        /// Not ready yet, or storage failing (503).
        Unavailable = "unavailable",
    }
}

/// Refused pings, for the ping handler. Cheap to clone.
#[derive(Clone)]
pub struct Rejections {
    /// `deadman_pings_rejected_total{reason}`: every refusal, including
    /// those for names that are not configured checks.
    counter: IntCounterVec,
    /// Refusals of configured checks, by check and reason, for
    /// `deadman_check_pings_rejected_total`. Keyed only by names found in
    /// the config, so input can never create series.
    per_check: Arc<Mutex<HashMap<String, [u64; Rejection::COUNT]>>>,
}

impl Rejections {
    /// Counts one refusal; `check` is the configured check it was for.
    pub fn count(&self, why: Rejection, check: Option<&str>) {
        self.counter.with_label_values(&[why.as_str()]).inc();
        if let Some(check) = check {
            let mut per_check = self.per_check.lock().unwrap_or_else(|e| e.into_inner());
            match per_check.get_mut(check) {
                Some(counts) => counts[why.index()] += 1,
                None => {
                    let mut counts = [0; Rejection::COUNT];
                    counts[why.index()] = 1;
                    per_check.insert(check.to_string(), counts);
                }
            }
        }
    }

    /// A copy of the per-check counts, for a scrape (the lock is not held
    /// while rendering).
    pub fn per_check(&self) -> HashMap<String, [u64; Rejection::COUNT]> {
        self.per_check
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The reload gauges, for the live config: the one place that sets them.
#[derive(Clone)]
pub struct ReloadGauges {
    /// `deadman_config_last_reload_successful`: 0 pages via the rules.
    pub successful: IntGauge,
    /// `deadman_config_last_reload_success_timestamp_seconds`.
    pub success_timestamp: prometheus::Gauge,
}

/// What the writer reports about storage.
#[derive(Clone)]
pub struct StorageMetrics {
    /// How long a durable commit (fsync included) takes.
    pub commit_duration: Histogram,
    /// How many pings share a commit: group commit at work.
    pub commit_batch_size: Histogram,
    /// Failed commits; each answered its pings with 503.
    pub errors: IntCounter,
    /// Checks loaded from the store at startup.
    pub restored_checks: IntGauge,
    /// Run ids forgotten before they were a day old, because a check had
    /// more than the per-check cap: retries of those would count twice.
    pub rids_forgotten: IntCounter,
    /// Pings in the journal, as of the last state checkpoint or trim: the
    /// database's growth, which trimming bounds.
    pub journal_rows: IntGauge,
    /// Journal rows trimming will delete: a backlog that grows only while
    /// a flood leaves the writer no idle time.
    pub journal_rows_awaiting_trim: IntGauge,
}

/// The `encoding` label values of `deadman_scrape_renders_total`, indexed
/// by whether the body is gzipped.
const ENCODINGS: [&str; 2] = ["identity", "gzip"];

/// What the scrape endpoint reports about its own renders.
#[derive(Clone)]
pub struct ScrapeMetrics {
    /// Renders of the metrics body, identity then gzip (index
    /// `usize::from(gzip)`): fewer than scrapes when concurrent scrapes
    /// share one, which is what bounds their memory.
    pub renders: [IntCounter; 2],
    /// Scrapes answered 503 because every `--web.max-scrape-bodies` slot
    /// was held by clients that had not read their body.
    pub refused: IntCounter,
}

/// Exporter self-metrics. Registered once; the handles are cheap clones.
pub struct Metrics {
    /// What `/metrics` gathers: these metrics and the process metrics.
    pub registry: Registry,
    /// For the ping handler.
    pub rejections: Rejections,
    /// For the live config.
    pub reload: ReloadGauges,
    /// For the writer.
    pub storage: StorageMetrics,
    /// For the scrape renders.
    pub scrape: ScrapeMetrics,
}

impl Rejections {
    fn new(registry: &Registry) -> Self {
        let counter = counter_vec(
            registry,
            "deadman_pings_rejected_total",
            "Ping requests refused, by reason (not_found, unauthorized, ...).",
            "reason",
            Rejection::ALL.map(Rejection::as_str),
        );
        Rejections {
            counter,
            per_check: Arc::default(),
        }
    }
}

impl ReloadGauges {
    fn new(registry: &Registry) -> Self {
        ReloadGauges {
            successful: registered(
                registry,
                defined(IntGauge::new(
                    "deadman_config_last_reload_successful",
                    "Whether the last configuration load or reload succeeded (1) or failed (0).",
                )),
            ),
            success_timestamp: registered(
                registry,
                defined(prometheus::Gauge::new(
                    "deadman_config_last_reload_success_timestamp_seconds",
                    "When the configuration was last loaded successfully.",
                )),
            ),
        }
    }
}

impl StorageMetrics {
    fn new(registry: &Registry) -> Self {
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            registered(
                registry,
                defined(Histogram::with_opts(
                    HistogramOpts::new(name, help).buckets(buckets),
                )),
            )
        };
        let gauge =
            |name: &str, help: &str| registered(registry, defined(IntGauge::new(name, help)));
        StorageMetrics {
            commit_duration: histogram(
                "deadman_storage_commit_duration_seconds",
                "Time to durably commit one batch of pings, including fsync.",
                vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ],
            ),
            commit_batch_size: histogram(
                "deadman_storage_commit_batch_size",
                "Pings committed together in one transaction (group commit).",
                vec![
                    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0, 4096.0,
                ],
            ),
            errors: counter(
                registry,
                "deadman_storage_errors_total",
                "Storage commits that failed; the pings in them were answered 503.",
            ),
            restored_checks: gauge(
                "deadman_state_restored_checks",
                "Checks whose state was loaded from storage at startup.",
            ),
            rids_forgotten: counter(
                registry,
                "deadman_rids_forgotten_total",
                "Run ids forgotten before they were a day old because a check had \
                 more than 100,000.",
            ),
            journal_rows: gauge(
                "deadman_storage_journal_rows",
                "Pings stored in the journal (every check's history), as of the last state \
                 checkpoint or trim.",
            ),
            journal_rows_awaiting_trim: gauge(
                "deadman_storage_journal_rows_awaiting_trim",
                "Journal rows beyond [storage] history that trimming will delete; grows only \
                 while a flood leaves the writer no idle time.",
            ),
        }
    }
}

impl ScrapeMetrics {
    fn new(registry: &Registry) -> Self {
        let renders = counter_vec(
            registry,
            "deadman_scrape_renders_total",
            "Renders of the metrics body, by encoding (identity, gzip); scrapes that arrive \
             during a render share it.",
            "encoding",
            ENCODINGS,
        );
        ScrapeMetrics {
            renders: ENCODINGS.map(|encoding| renders.with_label_values(&[encoding])),
            refused: counter(
                registry,
                "deadman_scrapes_refused_total",
                "Scrapes answered 503 because every --web.max-scrape-bodies body was still held \
                 by clients that had not read it.",
            ),
        }
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let rejections = Rejections::new(&registry);
        let reload = ReloadGauges::new(&registry);
        let storage = StorageMetrics::new(&registry);
        let scrape = ScrapeMetrics::new(&registry);
        let build_info = registered(
            &registry,
            defined(IntGaugeVec::new(
                Opts::new(
                    "deadman_build_info",
                    "Build information; the value is always 1.",
                ),
                &["version", "revision"],
            )),
        );
        build_info
            .with_label_values(&[crate::version::VERSION, crate::version::REVISION])
            .set(1);
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("the process collector is registered once");
        Metrics {
            registry,
            rejections,
            reload,
            storage,
            scrape,
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A metric from its static definition (a constant name, help and
/// labels): an error here is a programming error that every test hits.
fn defined<T>(metric: prometheus::Result<T>) -> T {
    metric.expect("static metric definition is valid")
}

/// An unlabelled counter, registered.
fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    registered(registry, defined(IntCounter::new(name, help)))
}

/// A counter with one label, registered, with a series for each of
/// `values` from the start so that `rate()` works from the first increment.
fn counter_vec<const N: usize>(
    registry: &Registry,
    name: &str,
    help: &str,
    label: &str,
    values: [&str; N],
) -> IntCounterVec {
    let counter = registered(
        registry,
        defined(IntCounterVec::new(Opts::new(name, help), &[label])),
    );
    for value in values {
        counter.with_label_values(&[value]);
    }
    counter
}

/// `collector`, registered in `registry`; the handle is returned for the
/// subsystem that updates it.
fn registered<C: Collector + Clone + 'static>(registry: &Registry, collector: C) -> C {
    registry
        .register(Box::new(collector.clone()))
        .expect("each static metric is registered once");
    collector
}
