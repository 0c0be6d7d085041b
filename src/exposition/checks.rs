//! One check's freshness, runs, counters, volume, expiries and refusals:
//! a function per family (see [`super::families::FAMILIES`]).
//!
//! Which series a check has, beyond the ones every check has:
//! * run series (last start, last duration, runs in progress, oldest run
//!   start) once the check has reported a start: before that they are all
//!   0 and say nothing;
//! * `deadman_check_pings_total`: `success` always, other kinds once they
//!   occurred;
//! * `deadman_check_failures_total`: `auth` always (the rules ask for it by
//!   name, with `increase()`), other reasons once they occurred.
//!
//! A counter that first appears at 1 loses that first increment to
//! `rate()` and `increase()`, so the series the rules read are always
//! there; what is lost is the first ping of a kind, or failure of a
//! reason, in dashboard rates. `--web.exposition.all-series` writes every
//! series, zeros included.

use super::row::Row;
use super::sink::Sink;
use crate::metrics::Rejection;
use crate::model::{CheckState, FailReason, Kind};

pub(super) fn info(s: &mut Sink<'_>, r: &Row<'_>) {
    s.sample(r.labels.info(), 1.0);
}

pub(super) fn first_configured(s: &mut Sink<'_>, r: &Row<'_>) {
    s.sample(r.labels.id(), r.state().first_configured);
}

pub(super) fn last_success(s: &mut Sink<'_>, r: &Row<'_>) {
    s.sample(r.labels.id(), r.state().last_success);
}

pub(super) fn last_failure(s: &mut Sink<'_>, r: &Row<'_>) {
    s.sample(r.labels.id(), r.state().last_failure);
}

pub(super) fn last_failure_info(s: &mut Sink<'_>, r: &Row<'_>) {
    if let Some(reason) = r.state().last_failure_reason {
        s.sample_with(r.labels.id(), "reason", reason.as_str(), 1.0);
    }
}

pub(super) fn last_failure_exit_status(s: &mut Sink<'_>, r: &Row<'_>) {
    if let Some(status) = r.state().last_failure_exit_status {
        s.sample(r.labels.id(), f64::from(status));
    }
}

/// Whether the run series are written: once a start was reported.
fn reports_runs(s: &Sink<'_>, state: &CheckState) -> bool {
    s.all_series || state.last_start > 0.0 || !state.runs.is_empty()
}

pub(super) fn last_start(s: &mut Sink<'_>, r: &Row<'_>) {
    if reports_runs(s, r.state()) {
        s.sample(r.labels.id(), r.state().last_start);
    }
}

pub(super) fn last_duration(s: &mut Sink<'_>, r: &Row<'_>) {
    if reports_runs(s, r.state()) {
        s.sample(r.labels.id(), r.state().last_duration);
    }
}

pub(super) fn deadline(s: &mut Sink<'_>, r: &Row<'_>) {
    s.sample(r.labels.id(), r.check.deadline(r.state()));
}

pub(super) fn runs_in_progress(s: &mut Sink<'_>, r: &Row<'_>) {
    if reports_runs(s, r.state()) {
        s.sample(r.labels.id(), r.state().runs.len() as f64);
    }
}

pub(super) fn oldest_run_start(s: &mut Sink<'_>, r: &Row<'_>) {
    if reports_runs(s, r.state()) {
        s.sample(r.labels.id(), r.state().oldest_run_start());
    }
}

pub(super) fn max_runtime(s: &mut Sink<'_>, r: &Row<'_>) {
    if let Some(max_runtime) = r.check.max_runtime {
        s.sample(r.labels.id(), max_runtime.as_secs_f64());
    }
}

pub(super) fn pings(s: &mut Sink<'_>, r: &Row<'_>) {
    for kind in KINDS {
        let count = r.state().pings[kind.index()];
        if s.all_series || kind == Kind::Success || count > 0 {
            s.sample_with(r.labels.id(), "kind", kind.as_str(), count as f64);
        }
    }
}

pub(super) fn records(s: &mut Sink<'_>, r: &Row<'_>) {
    s.sample(r.labels.id(), r.state().records as f64);
}

pub(super) fn failures(s: &mut Sink<'_>, r: &Row<'_>) {
    for reason in REASONS {
        let count = r.state().failures[reason.index()];
        if s.all_series || reason == FailReason::Auth || count > 0 {
            s.sample_with(r.labels.id(), "reason", reason.as_str(), count as f64);
        }
    }
}

pub(super) fn window_records(s: &mut Sink<'_>, r: &Row<'_>) {
    if let Some(view) = &r.volume {
        s.sample(r.labels.id(), view.records as f64);
    }
}

pub(super) fn window_min(s: &mut Sink<'_>, r: &Row<'_>) {
    if let Some(volume) = &r.check.volume {
        s.sample(r.labels.id(), volume.min_records as f64);
    }
}

pub(super) fn window_max(s: &mut Sink<'_>, r: &Row<'_>) {
    if let Some(max) = r.check.volume.as_ref().and_then(|v| v.max_records) {
        s.sample(r.labels.id(), max as f64);
    }
}

pub(super) fn window_due(s: &mut Sink<'_>, r: &Row<'_>) {
    if let Some(view) = &r.volume {
        s.sample(r.labels.id(), view.due);
    }
}

pub(super) fn expiry_at(s: &mut Sink<'_>, r: &Row<'_>) {
    for (i, expiry) in r.check.expiries.iter().enumerate() {
        // A reported value wins over the configured one; an unknown
        // expiry is not exported (0 would read as "long expired").
        if let Some(at) = r.state().expiries.get(&expiry.name).copied().or(expiry.at) {
            s.sample(r.labels.expiry(i), at);
        }
    }
}

pub(super) fn expiry_warn_before(s: &mut Sink<'_>, r: &Row<'_>) {
    for (i, expiry) in r.check.expiries.iter().enumerate() {
        s.sample(r.labels.expiry(i), expiry.warn_before.as_secs_f64());
    }
}

pub(super) fn pings_rejected(s: &mut Sink<'_>, r: &Row<'_>) {
    if let Some(counts) = r.rejected {
        for reason in REJECTIONS {
            let count = counts[reason.index()];
            if count > 0 {
                s.sample_with(r.labels.id(), "reason", reason.as_str(), count as f64);
            }
        }
    }
}

/// Kinds and reasons in label-value order, as a sorted exposition has them.
const KINDS: [Kind; 4] = [Kind::Fail, Kind::Log, Kind::Start, Kind::Success];
const REASONS: [FailReason; 7] = [
    FailReason::Auth,
    FailReason::ExitCode,
    FailReason::Other,
    FailReason::RateLimit,
    FailReason::Timeout,
    FailReason::Upstream,
    FailReason::Validation,
];

/// Rejection reasons in label-value order.
const REJECTIONS: [Rejection; Rejection::COUNT] = [
    Rejection::BadRequest,
    Rejection::MethodNotAllowed,
    Rejection::NotFound,
    Rejection::PayloadTooLarge,
    Rejection::RateLimited,
    Rejection::Unauthorized,
    Rejection::Unavailable,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_reasons_are_complete_and_sorted() {
        let kinds: Vec<&str> = KINDS.iter().map(|k| k.as_str()).collect();
        let mut sorted = kinds.clone();
        sorted.sort();
        assert_eq!(kinds, sorted);
        assert_eq!(kinds.len(), Kind::ALL.len());
        let reasons: Vec<&str> = REASONS.iter().map(|r| r.as_str()).collect();
        let mut sorted = reasons.clone();
        sorted.sort();
        assert_eq!(reasons, sorted);
        assert_eq!(reasons.len(), FailReason::ALL.len());
        let rejections: Vec<&str> = REJECTIONS.iter().map(|r| r.as_str()).collect();
        let mut sorted = rejections.clone();
        sorted.sort();
        assert_eq!(rejections, sorted);
    }
}
