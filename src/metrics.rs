//! The exporter's own metrics, in a registry with the standard process
//! collector, grouped by the subsystem that updates them: each subsystem is
//! handed only its group ([`Rejections`] to the ping handler,
//! [`ReloadGauges`] to the live config, [`StorageMetrics`] to the writer).
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
        let rids_forgotten = IntCounter::new(
            "deadman_rids_forgotten_total",
            "Run ids forgotten before they were a day old because a check had more than 100,000.",
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
            .with_label_values(&[crate::version::VERSION, crate::version::REVISION])
            .set(1);

        let collectors: Vec<Box<dyn Collector>> = vec![
            Box::new(pings_rejected.clone()),
            Box::new(reload_successful.clone()),
            Box::new(reload_success_timestamp.clone()),
            Box::new(storage_commit_duration.clone()),
            Box::new(storage_commit_batch_size.clone()),
            Box::new(storage_errors.clone()),
            Box::new(restored_checks.clone()),
            Box::new(rids_forgotten.clone()),
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
            rejections: Rejections {
                counter: pings_rejected,
                per_check: Arc::default(),
            },
            reload: ReloadGauges {
                successful: reload_successful,
                success_timestamp: reload_success_timestamp,
            },
            storage: StorageMetrics {
                commit_duration: storage_commit_duration,
                commit_batch_size: storage_commit_batch_size,
                errors: storage_errors,
                restored_checks,
                rids_forgotten,
            },
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
