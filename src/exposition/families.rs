//! The per-check metric families: their names, help and types, each with
//! the function that writes one check's samples of it. A scrape writes the
//! families one after another, each over every check, straight into the
//! body: no buffer per family, no copy, and no allocation per sample.

use super::row::Row;
use super::sink::Sink;
use super::{assertions, checks};

/// One family: name, help, type, and what one check contributes to it.
pub(super) struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: &'static str,
    pub write: fn(&mut Sink<'_>, &Row<'_>),
}

const fn family(
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    write: fn(&mut Sink<'_>, &Row<'_>),
) -> Family {
    Family {
        name,
        help,
        kind,
        write,
    }
}

/// `deadman_checks`, written before the per-check families.
pub(super) const CHECKS: (&str, &str, &str) =
    ("deadman_checks", "Number of configured checks.", "gauge");

/// The per-check families, in the order they are written.
pub(super) const FAMILIES: [Family; 41] = [
    family("deadman_check_info", "Check metadata to join on `check`; the value is always 1.", "gauge", checks::info),
    family("deadman_check_first_configured_timestamp_seconds", "When the check first appeared in the configuration.", "gauge", checks::first_configured),
    family("deadman_check_last_success_timestamp_seconds", "Last successful run (0 = never).", "gauge", checks::last_success),
    family("deadman_check_last_failure_timestamp_seconds", "Last failed run (0 = never).", "gauge", checks::last_failure),
    family("deadman_check_last_failure_info", "Reason of the most recent failure; the value is always 1.", "gauge", checks::last_failure_info),
    family("deadman_check_last_failure_exit_status", "Exit status of the most recent failure; absent when it was not reported as one.", "gauge", checks::last_failure_exit_status),
    family("deadman_check_last_start_timestamp_seconds", "Last run start (0 = never); present once the check has reported a start.", "gauge", checks::last_start),
    family("deadman_check_last_duration_seconds", "Duration of the last finished run that reported its start (0 = unknown); present once the check has reported a start.", "gauge", checks::last_duration),
    family("deadman_check_last_success_duration_seconds", "Duration of the most recent success, from its start ping; for checks with min_runtime, absent when that success had no start.", "gauge", assertions::last_success_duration),
    family("deadman_check_min_runtime_seconds", "Configured min_runtime, for checks that set one.", "gauge", assertions::min_runtime),
    family("deadman_check_deadline_timestamp_seconds", "Instant after which the check's silence is an incident.", "gauge", checks::deadline),
    family("deadman_check_runs_in_progress", "Started runs that have not finished; present once the check has reported a start.", "gauge", checks::runs_in_progress),
    family("deadman_check_oldest_run_start_timestamp_seconds", "Start of the oldest unfinished run (0 = none); present once the check has reported a start.", "gauge", checks::oldest_run_start),
    family("deadman_check_max_runtime_seconds", "Configured max_runtime, for checks that set one.", "gauge", checks::max_runtime),
    family("deadman_check_pings_total", "Accepted pings by kind (success, fail, start, log); success always, the others once they occurred.", "counter", checks::pings),
    family("deadman_check_records_total", "Records reported by success and fail pings.", "counter", checks::records),
    family("deadman_check_failures_total", "Failed runs by reason; auth always, the others once they occurred.", "counter", checks::failures),
    family("deadman_check_consecutive_failures", "Failed runs since the last success.", "gauge", assertions::consecutive_failures),
    family("deadman_check_failure_threshold", "Failed runs in a row before the check pages (failure_threshold, default 1).", "gauge", assertions::failure_threshold),
    family("deadman_check_recent_failure_timestamp_seconds", "When each failed run since the last success happened, newest first (nth=1), up to failure_threshold of them; for checks whose failure_threshold is above 1.", "gauge", assertions::recent_failures),
    family("deadman_check_max_failure_ratio", "Configured max_failure_ratio: the share of runs in the window that may fail.", "gauge", assertions::max_failure_ratio),
    family("deadman_check_failure_ratio_window_seconds", "Configured failure_ratio_window.", "gauge", assertions::failure_ratio_window),
    family("deadman_check_failure_ratio_window_runs", "Finished runs (success and fail pings) in the failure-ratio window, in whole minutes.", "gauge", assertions::failure_ratio_window_runs),
    family("deadman_check_failure_ratio_window_failures", "Failed runs in the failure-ratio window, in whole minutes.", "gauge", assertions::failure_ratio_window_failures),
    family("deadman_check_window_records", "Records counted in the current volume window.", "gauge", checks::window_records),
    family("deadman_check_window_min_records", "Records the window must reach by its due time.", "gauge", checks::window_min),
    family("deadman_check_window_max_records", "Records above which the window is suspicious.", "gauge", checks::window_max),
    family("deadman_check_window_due_timestamp_seconds", "When the window's minimum must have been met.", "gauge", checks::window_due),
    family("deadman_expiry_timestamp_seconds", "When a credential, API version, certificate or contract expires, or an owner review is due.", "gauge", checks::expiry_at),
    family("deadman_expiry_warn_before_seconds", "How long before an expiry to warn.", "gauge", checks::expiry_warn_before),
    family("deadman_check_value_info", "A declared value and its description; the value is always 1.", "gauge", assertions::value_info),
    family("deadman_check_value", "The last reported value; absent until first reported.", "gauge", assertions::value),
    family("deadman_check_value_timestamp_seconds", "When the value was last reported.", "gauge", assertions::value_timestamp),
    family("deadman_check_value_stale_timestamp_seconds", "When the last report goes stale: its time plus the check's period and grace.", "gauge", assertions::value_stale),
    family("deadman_check_value_min", "Configured min of the value, where set.", "gauge", assertions::value_min),
    family("deadman_check_value_max", "Configured max of the value, where set.", "gauge", assertions::value_max),
    family("deadman_check_value_for_seconds", "How long the value may stay out of range before it pages, where set.", "gauge", assertions::value_for),
    family("deadman_check_value_out_of_range_since_timestamp_seconds", "When the value's current run of out-of-range reports began; present only while the last report is out of range.", "gauge", assertions::value_out_of_range_since),
    family("deadman_check_paused", "1 while the check is paused (no per-check alert fires), else 0.", "gauge", assertions::paused),
    family("deadman_check_paused_until_timestamp_seconds", "When the check's pause ends by itself, where paused_until is set.", "gauge", assertions::paused_until),
    family("deadman_check_pings_rejected_total", "Pings to this check that were refused, by reason; only reasons that occurred.", "counter", checks::pings_rejected),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_a_distinct_name() {
        let mut names: Vec<&str> = FAMILIES.iter().map(|f| f.name).collect();
        names.push(CHECKS.0);
        names.sort();
        names.dedup();
        assert_eq!(names.len(), FAMILIES.len() + 1);
    }
}
