//! The per-check metric families: their names, help and types, and the
//! buffers a scrape's samples are appended to, one per family, so that
//! each family is written in one piece whatever order checks are visited
//! in.

use std::fmt::Write as _;

/// The per-check families, in the order they are written.
#[derive(Clone, Copy)]
pub(super) enum Family {
    Checks,
    Info,
    FirstConfigured,
    LastSuccess,
    LastFailure,
    LastFailureInfo,
    LastFailureExitStatus,
    LastStart,
    LastDuration,
    LastSuccessDuration,
    MinRuntime,
    Deadline,
    RunsInProgress,
    OldestRunStart,
    MaxRuntime,
    Pings,
    Records,
    Failures,
    ConsecutiveFailures,
    FailureThreshold,
    MaxFailureRatio,
    FailureRatioWindow,
    FailureRatioWindowRuns,
    FailureRatioWindowFailures,
    WindowRecords,
    WindowMin,
    WindowMax,
    WindowDue,
    ExpiryAt,
    ExpiryWarnBefore,
    ValueInfo,
    Value,
    ValueTimestamp,
    ValueStale,
    ValueMin,
    ValueMax,
    ValueFor,
    ValueOutOfRangeSince,
    Paused,
    PausedUntil,
    PingsRejected,
}

impl Family {
    pub(super) const ALL: [Family; 41] = [
        Family::Checks,
        Family::Info,
        Family::FirstConfigured,
        Family::LastSuccess,
        Family::LastFailure,
        Family::LastFailureInfo,
        Family::LastFailureExitStatus,
        Family::LastStart,
        Family::LastDuration,
        Family::LastSuccessDuration,
        Family::MinRuntime,
        Family::Deadline,
        Family::RunsInProgress,
        Family::OldestRunStart,
        Family::MaxRuntime,
        Family::Pings,
        Family::Records,
        Family::Failures,
        Family::ConsecutiveFailures,
        Family::FailureThreshold,
        Family::MaxFailureRatio,
        Family::FailureRatioWindow,
        Family::FailureRatioWindowRuns,
        Family::FailureRatioWindowFailures,
        Family::WindowRecords,
        Family::WindowMin,
        Family::WindowMax,
        Family::WindowDue,
        Family::ExpiryAt,
        Family::ExpiryWarnBefore,
        Family::ValueInfo,
        Family::Value,
        Family::ValueTimestamp,
        Family::ValueStale,
        Family::ValueMin,
        Family::ValueMax,
        Family::ValueFor,
        Family::ValueOutOfRangeSince,
        Family::Paused,
        Family::PausedUntil,
        Family::PingsRejected,
    ];

    /// (name, help, type)
    fn describe(self) -> (&'static str, &'static str, &'static str) {
        DESCRIPTIONS[self as usize]
    }
}

/// (name, help, type) of each family, in [`Family::ALL`] order.
const DESCRIPTIONS: [(&str, &str, &str); Family::ALL.len()] = [
    // Checks
    ("deadman_checks", "Number of configured checks.", "gauge"),
    // Info
    ("deadman_check_info", "Check metadata to join on `check`; the value is always 1.", "gauge"),
    // FirstConfigured
    ("deadman_check_first_configured_timestamp_seconds", "When the check first appeared in the configuration.", "gauge"),
    // LastSuccess
    ("deadman_check_last_success_timestamp_seconds", "Last successful run (0 = never).", "gauge"),
    // LastFailure
    ("deadman_check_last_failure_timestamp_seconds", "Last failed run (0 = never).", "gauge"),
    // LastFailureInfo
    ("deadman_check_last_failure_info", "Reason of the most recent failure; the value is always 1.", "gauge"),
    // LastFailureExitStatus
    ("deadman_check_last_failure_exit_status", "Exit status of the most recent failure; absent when it was not reported as one.", "gauge"),
    // LastStart
    ("deadman_check_last_start_timestamp_seconds", "Last run start (0 = never).", "gauge"),
    // LastDuration
    ("deadman_check_last_duration_seconds", "Duration of the last finished run that reported its start (0 = unknown).", "gauge"),
    // LastSuccessDuration
    ("deadman_check_last_success_duration_seconds", "Duration of the most recent success, from its start ping; for checks with min_runtime, absent when that success had no start.", "gauge"),
    // MinRuntime
    ("deadman_check_min_runtime_seconds", "Configured min_runtime, for checks that set one.", "gauge"),
    // Deadline
    ("deadman_check_deadline_timestamp_seconds", "Instant after which the check's silence is an incident.", "gauge"),
    // RunsInProgress
    ("deadman_check_runs_in_progress", "Started runs that have not finished.", "gauge"),
    // OldestRunStart
    ("deadman_check_oldest_run_start_timestamp_seconds", "Start of the oldest unfinished run (0 = none).", "gauge"),
    // MaxRuntime
    ("deadman_check_max_runtime_seconds", "Configured max_runtime, for checks that set one.", "gauge"),
    // Pings
    ("deadman_check_pings_total", "Accepted pings by kind (success, fail, start, log).", "counter"),
    // Records
    ("deadman_check_records_total", "Records reported by success and fail pings.", "counter"),
    // Failures
    ("deadman_check_failures_total", "Failed runs by reason.", "counter"),
    // ConsecutiveFailures
    ("deadman_check_consecutive_failures", "Failed runs since the last success.", "gauge"),
    // FailureThreshold
    ("deadman_check_failure_threshold", "Failed runs in a row before the check pages (failure_threshold, default 1).", "gauge"),
    // MaxFailureRatio
    ("deadman_check_max_failure_ratio", "Configured max_failure_ratio: the share of runs in the window that may fail.", "gauge"),
    // FailureRatioWindow
    ("deadman_check_failure_ratio_window_seconds", "Configured failure_ratio_window.", "gauge"),
    // FailureRatioWindowRuns
    ("deadman_check_failure_ratio_window_runs", "Finished runs (success and fail pings) in the failure-ratio window, in whole minutes.", "gauge"),
    // FailureRatioWindowFailures
    ("deadman_check_failure_ratio_window_failures", "Failed runs in the failure-ratio window, in whole minutes.", "gauge"),
    // WindowRecords
    ("deadman_check_window_records", "Records counted in the current volume window.", "gauge"),
    // WindowMin
    ("deadman_check_window_min_records", "Records the window must reach by its due time.", "gauge"),
    // WindowMax
    ("deadman_check_window_max_records", "Records above which the window is suspicious.", "gauge"),
    // WindowDue
    ("deadman_check_window_due_timestamp_seconds", "When the window's minimum must have been met.", "gauge"),
    // ExpiryAt
    ("deadman_expiry_timestamp_seconds", "When a credential, API version, certificate or contract expires, or an owner review is due.", "gauge"),
    // ExpiryWarnBefore
    ("deadman_expiry_warn_before_seconds", "How long before an expiry to warn.", "gauge"),
    // ValueInfo
    ("deadman_check_value_info", "A declared value and its description; the value is always 1.", "gauge"),
    // Value
    ("deadman_check_value", "The last reported value; absent until first reported.", "gauge"),
    // ValueTimestamp
    ("deadman_check_value_timestamp_seconds", "When the value was last reported.", "gauge"),
    // ValueStale
    ("deadman_check_value_stale_timestamp_seconds", "When the last report goes stale: its time plus the check's period and grace.", "gauge"),
    // ValueMin
    ("deadman_check_value_min", "Configured min of the value, where set.", "gauge"),
    // ValueMax
    ("deadman_check_value_max", "Configured max of the value, where set.", "gauge"),
    // ValueFor
    ("deadman_check_value_for_seconds", "How long the value may stay out of range before it pages, where set.", "gauge"),
    // ValueOutOfRangeSince
    ("deadman_check_value_out_of_range_since_timestamp_seconds", "When the value's current run of out-of-range reports began; present only while the last report is out of range.", "gauge"),
    // Paused
    ("deadman_check_paused", "1 while the check is paused (no per-check alert fires), else 0.", "gauge"),
    // PausedUntil
    ("deadman_check_paused_until_timestamp_seconds", "When the check's pause ends by itself, where paused_until is set.", "gauge"),
    // PingsRejected
    ("deadman_check_pings_rejected_total", "Pings to this check that were refused, by reason; only reasons that occurred.", "counter"),
];

/// One text buffer per family; samples are appended check by check and the
/// buffers are joined family by family at the end.
pub(super) struct Families {
    buffers: Vec<String>,
}

impl Families {
    pub(super) fn new() -> Self {
        Families {
            buffers: vec![String::new(); Family::ALL.len()],
        }
    }

    /// Appends `name{labels} value`.
    pub(super) fn sample(&mut self, family: Family, labels: &[(&str, &str)], value: f64) {
        let (name, _, _) = family.describe();
        let out = &mut self.buffers[family as usize];
        out.push_str(name);
        if !labels.is_empty() {
            out.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(label);
                out.push_str("=\"");
                escape_label_value(out, value);
                out.push('"');
            }
            out.push('}');
        }
        // f64's Display is what the text encoder of the prometheus crate
        // writes for the exporter's own metrics: same format throughout.
        let _ = writeln!(out, " {value}");
    }

    pub(super) fn finish(self, out: &mut String) {
        for (family, samples) in Family::ALL.iter().zip(self.buffers) {
            if samples.is_empty() {
                continue;
            }
            let (name, help, kind) = family.describe();
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            out.push_str(&samples);
        }
    }
}

/// Label values escape backslash, double quote and newline.
pub(super) fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        escape_label_value(&mut out, "a\\b\"c\nd");
        assert_eq!(out, "a\\\\b\\\"c\\nd");
    }

    #[test]
    fn families_are_described_in_order() {
        for (i, family) in Family::ALL.iter().enumerate() {
            assert_eq!(*family as usize, i);
        }
        assert_eq!(Family::Checks.describe().0, "deadman_checks");
        assert_eq!(
            Family::PingsRejected.describe().0,
            "deadman_check_pings_rejected_total"
        );
    }

    #[test]
    fn every_family_has_a_distinct_name() {
        let mut names: Vec<&str> = Family::ALL.iter().map(|f| f.describe().0).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Family::ALL.len());
    }
}
