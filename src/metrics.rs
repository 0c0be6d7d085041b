//! Metrics: exporter self-metrics in a registry, plus a [`Collector`] that
//! builds every per-check family from config and state at scrape time, so a
//! check removed by a reload disappears from the very next scrape and no
//! input can ever create a series for an unconfigured check.

use std::io::Write;
use std::sync::Weak;

use flate2::write::GzEncoder;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::ping::{FailReason, Kind};
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

/// Builds the per-check families at scrape time.
pub struct CheckCollector {
    /// Weak: the registry that owns this collector lives inside `Shared`.
    shared: Weak<Shared>,
    /// One per family, for the registry's duplicate detection.
    descs: Vec<Desc>,
}

/// Per-check families: (name, help, type).
const FAMILIES: &[(&str, &str, MetricType)] = &[
    (
        "deadman_checks",
        "Number of configured checks.",
        MetricType::GAUGE,
    ),
    (
        "deadman_check_info",
        "Check metadata to join on `check`; the value is always 1.",
        MetricType::GAUGE,
    ),
    (
        "deadman_check_first_configured_timestamp_seconds",
        "When the check first appeared in the configuration.",
        MetricType::GAUGE,
    ),
    (
        "deadman_check_last_success_timestamp_seconds",
        "Last successful run (0 = never).",
        MetricType::GAUGE,
    ),
    (
        "deadman_check_last_failure_timestamp_seconds",
        "Last failed run (0 = never).",
        MetricType::GAUGE,
    ),
    (
        "deadman_check_last_failure_info",
        "Reason of the most recent failure; the value is always 1.",
        MetricType::GAUGE,
    ),
    (
        "deadman_check_last_start_timestamp_seconds",
        "Last run start (0 = never).",
        MetricType::GAUGE,
    ),
    (
        "deadman_check_last_duration_seconds",
        "Duration of the last finished run that reported its start (0 = unknown).",
        MetricType::GAUGE,
    ),
    (
        "deadman_check_deadline_timestamp_seconds",
        "Instant after which the check's silence is an incident.",
        MetricType::GAUGE,
    ),
    (
        "deadman_check_runs_in_progress",
        "Started runs that have not finished.",
        MetricType::GAUGE,
    ),
    (
        "deadman_check_oldest_run_start_timestamp_seconds",
        "Start of the oldest unfinished run (0 = none).",
        MetricType::GAUGE,
    ),
    (
        "deadman_check_max_runtime_seconds",
        "Configured max_runtime, for checks that set one.",
        MetricType::GAUGE,
    ),
    (
        "deadman_check_pings_total",
        "Accepted pings by kind (success, fail, start, log).",
        MetricType::COUNTER,
    ),
    (
        "deadman_check_records_total",
        "Records reported by success and fail pings.",
        MetricType::COUNTER,
    ),
    (
        "deadman_check_failures_total",
        "Failed runs by reason.",
        MetricType::COUNTER,
    ),
    (
        "deadman_check_window_records",
        "Records counted in the current volume window.",
        MetricType::GAUGE,
    ),
    (
        "deadman_check_window_min_records",
        "Records the window must reach by its due time.",
        MetricType::GAUGE,
    ),
    (
        "deadman_check_window_max_records",
        "Records above which the window is suspicious.",
        MetricType::GAUGE,
    ),
    (
        "deadman_check_window_due_timestamp_seconds",
        "When the window's minimum must have been met.",
        MetricType::GAUGE,
    ),
    (
        "deadman_expiry_timestamp_seconds",
        "When a credential, API version, certificate or contract expires.",
        MetricType::GAUGE,
    ),
    (
        "deadman_expiry_warn_before_seconds",
        "How long before an expiry to warn.",
        MetricType::GAUGE,
    ),
];

impl CheckCollector {
    pub fn new(shared: Weak<Shared>) -> Self {
        let descs = FAMILIES
            .iter()
            .map(|(name, help, _)| {
                Desc::new(
                    name.to_string(),
                    help.to_string(),
                    vec![],
                    Default::default(),
                )
                .expect("static metric definition is valid")
            })
            .collect();
        CheckCollector { shared, descs }
    }
}

fn label(name: &str, value: &str) -> LabelPair {
    let mut pair = LabelPair::default();
    pair.set_name(name.to_string());
    pair.set_value(value.to_string());
    pair
}

fn gauge(labels: Vec<LabelPair>, value: f64) -> Metric {
    let mut g = Gauge::default();
    g.set_value(value);
    let mut m = Metric::from_label(labels);
    m.set_gauge(g);
    m
}

fn counter(labels: Vec<LabelPair>, value: u64) -> Metric {
    let mut c = Counter::default();
    c.set_value(value as f64);
    let mut m = Metric::from_label(labels);
    m.set_counter(c);
    m
}

impl Collector for CheckCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Some(shared) = self.shared.upgrade() else {
            return Vec::new();
        };
        let config = shared.config();
        let mut families: Vec<Vec<Metric>> = vec![Vec::new(); FAMILIES.len()];
        families[0].push(gauge(vec![], config.checks.len() as f64));
        // Before the store is loaded there is no state to report; exporting
        // zeros would look like "never succeeded".
        if shared.is_ready() {
            let now = shared.now().wall;
            let state = shared.state();
            // In name order: the registry sorts each family by label values,
            // and already-sorted input makes that sort linear.
            for check in config.checks_by_name() {
                let Some(entry) = state.checks.get(&check.name) else {
                    continue;
                };
                let s = &entry.state;
                let id = || vec![label("check", &check.name)];
                let mut info = vec![
                    label("check", &check.name),
                    label("owner", &check.owner),
                    label("team", &check.team),
                    label("severity", check.severity.as_str()),
                    label("runbook_url", &check.runbook),
                    label("schedule", &check.schedule.to_string()),
                    label("description", &check.description),
                ];
                info.extend(check.labels.iter().map(|(k, v)| label(k, v)));
                families[1].push(gauge(info, 1.0));
                families[2].push(gauge(id(), s.first_configured));
                families[3].push(gauge(id(), s.last_success));
                families[4].push(gauge(id(), s.last_failure));
                if let Some(reason) = s.last_failure_reason {
                    let mut labels = id();
                    labels.push(label("reason", reason.as_str()));
                    families[5].push(gauge(labels, 1.0));
                }
                families[6].push(gauge(id(), s.last_start));
                families[7].push(gauge(id(), s.last_duration));
                families[8].push(gauge(
                    id(),
                    check.schedule.deadline(s.deadline_base(), check.grace),
                ));
                families[9].push(gauge(id(), s.runs.len() as f64));
                families[10].push(gauge(id(), s.oldest_run_start()));
                if let Some(max_runtime) = check.max_runtime {
                    families[11].push(gauge(id(), max_runtime.as_secs_f64()));
                }
                for kind in Kind::ALL {
                    let mut labels = id();
                    labels.push(label("kind", kind.as_str()));
                    families[12].push(counter(labels, s.pings[kind.index()]));
                }
                families[13].push(counter(id(), s.records));
                for reason in FailReason::ALL {
                    let mut labels = id();
                    labels.push(label("reason", reason.as_str()));
                    families[14].push(counter(labels, s.failures[reason.index()]));
                }
                if let Some(volume) = &check.volume {
                    let view = volume.view(&entry.record_events, s.first_configured, now);
                    families[15].push(gauge(id(), view.records as f64));
                    families[16].push(gauge(id(), volume.min_records as f64));
                    if let Some(max) = volume.max_records {
                        families[17].push(gauge(id(), max as f64));
                    }
                    families[18].push(gauge(id(), view.due));
                }
                for expiry in &check.expiries {
                    let labels = || {
                        vec![
                            label("check", &check.name),
                            label("name", &expiry.name),
                            label("kind", expiry.kind.as_str()),
                        ]
                    };
                    // A reported value wins over the configured one; unknown
                    // expiries are not exported (0 would read as "expired").
                    if let Some(at) = s.expiries.get(&expiry.name).copied().or(expiry.at) {
                        families[19].push(gauge(labels(), at));
                    }
                    families[20].push(gauge(labels(), expiry.warn_before.as_secs_f64()));
                }
            }
        }
        FAMILIES
            .iter()
            .zip(families)
            .filter(|(_, metrics)| !metrics.is_empty())
            .map(|((name, help, kind), metrics)| {
                let mut family = MetricFamily::default();
                family.set_name(name.to_string());
                family.set_help(help.to_string());
                family.set_field_type(*kind);
                family.set_metric(metrics);
                family
            })
            .collect()
    }
}

/// A rendered scrape.
pub struct Exposition {
    pub body: Vec<u8>,
    pub gzipped: bool,
}

/// Renders the text exposition format (0.0.4), gzipped when asked.
pub fn render(registry: &Registry, gzip: bool) -> Result<Exposition, String> {
    let families = registry.gather();
    let mut text = Vec::with_capacity(64 * 1024);
    TextEncoder::new()
        .encode(&families, &mut text)
        .map_err(|e| format!("encoding metrics: {e}"))?;
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
