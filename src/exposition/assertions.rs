//! The series of what a run must do beyond arriving on time: consecutive
//! failures against `failure_threshold`, the failure-ratio window,
//! `min_runtime` against the last success's duration, declared values and
//! their bounds, and the pause. Apart from the few every check has
//! (consecutive failures, threshold, paused), a series exists only for what
//! the check declares, so the exposition of a check that uses none of this
//! grows by three lines.

use super::row::Row;
use super::sink::Sink;

pub(super) fn consecutive_failures(s: &mut Sink<'_>, r: &Row<'_>) {
    s.sample(r.labels.id(), r.state().consecutive_failures as f64);
}

pub(super) fn failure_threshold(s: &mut Sink<'_>, r: &Row<'_>) {
    s.sample(r.labels.id(), r.check.failure_threshold as f64);
}

/// The newest `failure_threshold` failures since the last success, so
/// that the rules can count, across replicas, those newer than the newest
/// success any replica saw. A check that pages at its first failure needs
/// only its last failure's timestamp, so it has none of these.
pub(super) fn recent_failures(s: &mut Sink<'_>, r: &Row<'_>) {
    let threshold = r.check.failure_threshold;
    if threshold <= 1 {
        return;
    }
    let newest_first = r.state().recent_failures.iter().rev();
    let mut nth = itoa::Buffer::new();
    for (i, at) in newest_first.take(threshold as usize).enumerate() {
        s.sample_with(r.labels.id(), "nth", nth.format(i + 1), *at);
    }
}

pub(super) fn max_failure_ratio(s: &mut Sink<'_>, r: &Row<'_>) {
    if let Some(ratio) = &r.check.failure_ratio {
        s.sample(r.labels.id(), ratio.max_ratio);
    }
}

pub(super) fn failure_ratio_window(s: &mut Sink<'_>, r: &Row<'_>) {
    if let Some(ratio) = &r.check.failure_ratio {
        s.sample(r.labels.id(), ratio.window.as_secs_f64());
    }
}

pub(super) fn failure_ratio_window_runs(s: &mut Sink<'_>, r: &Row<'_>) {
    if let Some(view) = &r.ratio {
        s.sample(r.labels.id(), view.runs as f64);
    }
}

pub(super) fn failure_ratio_window_failures(s: &mut Sink<'_>, r: &Row<'_>) {
    if let Some(view) = &r.ratio {
        s.sample(r.labels.id(), view.failures as f64);
    }
}

pub(super) fn min_runtime(s: &mut Sink<'_>, r: &Row<'_>) {
    if let Some(min_runtime) = r.check.min_runtime {
        s.sample(r.labels.id(), min_runtime.as_secs_f64());
    }
}

pub(super) fn last_success_duration(s: &mut Sink<'_>, r: &Row<'_>) {
    if r.check.min_runtime.is_some() {
        if let Some(duration) = r.state().last_success_duration {
            s.sample(r.labels.id(), duration);
        }
    }
}

pub(super) fn paused(s: &mut Sink<'_>, r: &Row<'_>) {
    let paused = if r.check.paused(s.now) { 1.0 } else { 0.0 };
    s.sample(r.labels.id(), paused);
}

pub(super) fn paused_until(s: &mut Sink<'_>, r: &Row<'_>) {
    if let Some(until) = r.check.pause.as_ref().and_then(|p| p.until) {
        s.sample(r.labels.id(), until);
    }
}

/// Every declared value's description, always.
pub(super) fn value_info(s: &mut Sink<'_>, r: &Row<'_>) {
    for i in 0..r.check.values.len() {
        s.sample(r.labels.value_info(i), 1.0);
    }
}

/// The last report of each declared value, once there is one.
pub(super) fn value(s: &mut Sink<'_>, r: &Row<'_>) {
    for (i, declared) in r.check.values.iter().enumerate() {
        if let Some(reported) = r.state().values.get(&declared.name) {
            s.sample(r.labels.value(i), reported.value);
        }
    }
}

pub(super) fn value_timestamp(s: &mut Sink<'_>, r: &Row<'_>) {
    for (i, declared) in r.check.values.iter().enumerate() {
        if let Some(reported) = r.state().values.get(&declared.name) {
            s.sample(r.labels.value(i), reported.at);
        }
    }
}

pub(super) fn value_stale(s: &mut Sink<'_>, r: &Row<'_>) {
    for (i, declared) in r.check.values.iter().enumerate() {
        if let Some(reported) = r.state().values.get(&declared.name) {
            // As if the run that reported it had succeeded then: once that
            // deadline passes, the report is older than a run should be.
            let stale = r.check.schedule.deadline(reported.at, r.check.grace);
            s.sample(r.labels.value(i), stale);
        }
    }
}

pub(super) fn value_out_of_range_since(s: &mut Sink<'_>, r: &Row<'_>) {
    for (i, declared) in r.check.values.iter().enumerate() {
        let reported = r.state().values.get(&declared.name);
        if let Some(since) = reported.and_then(|v| v.out_of_range_since(declared)) {
            s.sample(r.labels.value(i), since);
        }
    }
}

pub(super) fn value_min(s: &mut Sink<'_>, r: &Row<'_>) {
    for (i, declared) in r.check.values.iter().enumerate() {
        if let Some(min) = declared.min {
            s.sample(r.labels.value(i), min);
        }
    }
}

pub(super) fn value_max(s: &mut Sink<'_>, r: &Row<'_>) {
    for (i, declared) in r.check.values.iter().enumerate() {
        if let Some(max) = declared.max {
            s.sample(r.labels.value(i), max);
        }
    }
}

pub(super) fn value_for(s: &mut Sink<'_>, r: &Row<'_>) {
    for (i, declared) in r.check.values.iter().enumerate() {
        if let Some(for_duration) = declared.for_duration {
            s.sample(r.labels.value(i), for_duration.as_secs_f64());
        }
    }
}
