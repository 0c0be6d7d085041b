//! The parts of a [`super::CheckReport`] that say what a run must do
//! beyond arriving on time: the failure-ratio window and the declared
//! values, each against its bounds.

use crate::config::Check;
use crate::model::check_state::CheckState;
use crate::model::values::DeclaredValue;
use crate::state::CheckView;

/// The failure-ratio window against its maximum.
#[derive(Debug, Clone, PartialEq)]
pub struct RatioReport {
    pub max_ratio: f64,
    /// Seconds the window spans.
    pub window: f64,
    /// Finished runs and failures in it.
    pub runs: u64,
    pub failures: u64,
    /// failures / runs; `None` without runs.
    pub ratio: Option<f64>,
    pub high: bool,
}

/// One declared value and its latest report.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueReport {
    pub name: String,
    pub description: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Seconds it may stay out of range before it pages.
    pub for_seconds: Option<f64>,
    /// The latest report; `None` until the first.
    pub value: Option<f64>,
    /// Unix seconds of the latest report.
    pub reported: Option<f64>,
    /// When the latest report goes stale (its time plus the check's period
    /// and grace); a stale value no longer counts as out of range.
    pub stale_at: Option<f64>,
    pub stale: bool,
    /// Outside its bounds and not stale.
    pub out_of_range: bool,
    /// When the current run of out-of-range reports began.
    pub out_of_range_since: Option<f64>,
}

pub(super) fn ratio_report(check: &Check, view: &CheckView, now: f64) -> Option<RatioReport> {
    let ratio = check.failure_ratio.as_ref()?;
    let window = ratio.view(&view.run_buckets, now);
    Some(RatioReport {
        max_ratio: ratio.max_ratio,
        window: ratio.window.as_secs_f64(),
        runs: window.runs,
        failures: window.failures,
        ratio: window.ratio(),
        high: ratio.exceeded(&window),
    })
}

pub(super) fn value_report(
    check: &Check,
    declared: &DeclaredValue,
    state: &CheckState,
    now: f64,
) -> ValueReport {
    let reported = state.values.get(&declared.name);
    let stale_at = reported.map(|r| check.schedule.deadline(r.at, check.grace));
    let stale = stale_at.is_some_and(|at| now >= at);
    let since = reported.and_then(|r| r.out_of_range_since(declared));
    ValueReport {
        name: declared.name.clone(),
        description: declared.description.clone(),
        min: declared.min,
        max: declared.max,
        for_seconds: declared.for_duration.map(|d| d.as_secs_f64()),
        value: reported.map(|r| r.value),
        reported: reported.map(|r| r.at),
        stale_at,
        stale,
        out_of_range: since.is_some() && !stale,
        out_of_range_since: since,
    }
}
