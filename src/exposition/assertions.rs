//! The series of what a run must do beyond arriving on time: consecutive
//! failures against `failure_threshold`, the failure-ratio window,
//! `min_runtime` against the last success's duration, declared values and
//! their bounds, and the pause. Apart from the few every check has
//! (consecutive failures, threshold, paused), a series exists only for what
//! the check declares, so the exposition of a check that uses none of this
//! grows by three lines.

use super::families::{Families, Family};
use crate::config::Check;
use crate::model::CheckState;
use crate::state::CheckView;

/// Appends one check's series.
pub(super) fn write(f: &mut Families, check: &Check, entry: &CheckView, now: f64) {
    let s = &entry.state;
    let id = [("check", check.name.as_str())];
    f.sample(
        Family::ConsecutiveFailures,
        &id,
        s.consecutive_failures as f64,
    );
    f.sample(
        Family::FailureThreshold,
        &id,
        check.failure_threshold as f64,
    );
    if let Some(ratio) = &check.failure_ratio {
        let view = ratio.view(&entry.run_buckets, now);
        f.sample(Family::MaxFailureRatio, &id, ratio.max_ratio);
        f.sample(Family::FailureRatioWindow, &id, ratio.window.as_secs_f64());
        f.sample(Family::FailureRatioWindowRuns, &id, view.runs as f64);
        f.sample(
            Family::FailureRatioWindowFailures,
            &id,
            view.failures as f64,
        );
    }
    if let Some(min_runtime) = check.min_runtime {
        f.sample(Family::MinRuntime, &id, min_runtime.as_secs_f64());
        if let Some(duration) = s.last_success_duration {
            f.sample(Family::LastSuccessDuration, &id, duration);
        }
    }
    write_values(f, check, s);
    let paused = if check.paused(now) { 1.0 } else { 0.0 };
    f.sample(Family::Paused, &id, paused);
    if let Some(until) = check.pause.as_ref().and_then(|p| p.until) {
        f.sample(Family::PausedUntil, &id, until);
    }
}

/// Every declared value: its description always, its bounds where set,
/// and the last report once there is one.
fn write_values(f: &mut Families, check: &Check, s: &CheckState) {
    for declared in &check.values {
        let labels = [
            ("check", check.name.as_str()),
            ("name", declared.name.as_str()),
        ];
        let info = [
            labels[0],
            labels[1],
            ("description", declared.description.as_str()),
        ];
        f.sample(Family::ValueInfo, &info, 1.0);
        if let Some(reported) = s.values.get(&declared.name) {
            f.sample(Family::Value, &labels, reported.value);
            f.sample(Family::ValueTimestamp, &labels, reported.at);
            // As if the run that reported it had succeeded then: once that
            // deadline passes, the report is older than a run should be.
            let stale = check.schedule.deadline(reported.at, check.grace);
            f.sample(Family::ValueStale, &labels, stale);
            if let Some(since) = reported.out_of_range_since(declared) {
                f.sample(Family::ValueOutOfRangeSince, &labels, since);
            }
        }
        if let Some(min) = declared.min {
            f.sample(Family::ValueMin, &labels, min);
        }
        if let Some(max) = declared.max {
            f.sample(Family::ValueMax, &labels, max);
        }
        if let Some(for_duration) = declared.for_duration {
            f.sample(Family::ValueFor, &labels, for_duration.as_secs_f64());
        }
    }
}
