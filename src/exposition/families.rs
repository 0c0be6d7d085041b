//! The per-check metric families: their names, help and types, each with
//! the function that writes one check's samples of it, and the [`Sink`]
//! those samples go to. A scrape writes the families one after another,
//! each over every check, straight into the body: no buffer per family, no
//! copy, and no allocation per sample.

use std::io::Write as _;

use super::{assertions, checks, Row};

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
pub(super) const CHECKS: (&str, &str) = ("deadman_checks", "Number of configured checks.");

/// The per-check families, in the order they are written.
pub(super) const FAMILIES: [Family; 40] = [
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

/// Where one family's samples are written: its `# HELP` and `# TYPE`
/// lines come before its first sample, so a family without samples is not
/// written at all.
pub(super) struct Sink<'a> {
    out: &'a mut Vec<u8>,
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    started: bool,
    /// "Now", for deadlines, windows and pauses.
    pub now: f64,
    /// `--web.exposition.all-series`: every counter and run series of
    /// every check, zeros included.
    pub all_series: bool,
}

impl<'a> Sink<'a> {
    pub(super) fn new(out: &'a mut Vec<u8>, family: &Family, now: f64, all_series: bool) -> Self {
        Sink {
            out,
            name: family.name,
            help: family.help,
            kind: family.kind,
            started: false,
            now,
            all_series,
        }
    }

    /// The `deadman_checks` family.
    pub(super) fn unlabelled(
        out: &'a mut Vec<u8>,
        (name, help): (&'static str, &'static str),
    ) -> Self {
        Sink {
            out,
            name,
            help,
            kind: "gauge",
            started: false,
            now: 0.0,
            all_series: false,
        }
    }

    fn start(&mut self) {
        if !self.started {
            self.started = true;
            for part in [
                "# HELP ",
                self.name,
                " ",
                self.help,
                "\n# TYPE ",
                self.name,
                " ",
                self.kind,
                "\n",
            ] {
                self.out.extend_from_slice(part.as_bytes());
            }
        }
        self.out.extend_from_slice(self.name.as_bytes());
    }

    fn end(&mut self, value: f64) {
        self.out.push(b' ');
        push_value(self.out, value);
        self.out.push(b'\n');
    }

    /// `name{labels} value`; `labels` is a rendered set, braces included
    /// (or "").
    pub(super) fn sample(&mut self, labels: &str, value: f64) {
        self.start();
        self.out.extend_from_slice(labels.as_bytes());
        self.end(value);
    }

    /// `name{labels,key="text"} value`: a rendered set and one more label
    /// whose value needs no escaping (a kind or a reason).
    pub(super) fn sample_with(&mut self, labels: &str, key: &str, text: &str, value: f64) {
        self.start();
        let open = labels.strip_suffix('}').unwrap_or(labels);
        for part in [open, ",", key, "=\"", text, "\"}"] {
            self.out.extend_from_slice(part.as_bytes());
        }
        self.end(value);
    }
}

/// A sample value as the text format wants it, and as `{value}` (f64's
/// Display, which the prometheus crate's encoder uses for the exporter's
/// own metrics) writes it, but without going through `fmt`: whole numbers
/// (counters, most gauges) by integer formatting, fractions (timestamps)
/// by shortest round-trip formatting, plain decimals both. Display is
/// shortest round-trip too, so the digits are the same, except that when
/// two shortest forms are equally near (a value exactly halfway) the last
/// digit may differ: it reads back as the same float either way.
/// Non-finite values get the text format's spelling.
pub(super) fn push_value(out: &mut Vec<u8>, value: f64) {
    // Beyond 2^53 not every integer is a float; Display prints those.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if value.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if value.fract() == 0.0
        && value.abs() < EXACT
        && !(value == 0.0 && value.is_sign_negative())
    {
        out.extend_from_slice(itoa::Buffer::new().format(value as i64).as_bytes());
    } else if (1e-5..1e15).contains(&value.abs()) {
        // zmij writes plain decimals in this range, exponents outside it.
        out.extend_from_slice(zmij::Buffer::new().format_finite(value).as_bytes());
    } else {
        let _ = write!(out, "{value}");
    }
}

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

    #[test]
    fn values_are_written_as_display_writes_them_and_read_back_exactly() {
        let mut values = vec![
            0.0,
            1.0,
            -1.0,
            5.0,
            12.25,
            0.5,
            0.1,
            0.3,
            1e-5,
            1.5e-5,
            9.99e-6,
            1e-7,
            123456.789,
            1e14,
            1e15,
            1e16,
            1.5e15,
            1e21,
            -0.0,
            f64::MAX,
            f64::MIN_POSITIVE,
            2f64.powi(53),
            2f64.powi(53) + 2.0,
            -2f64.powi(53),
            1772442013.25,
            1796195185.0863864,
        ];
        // Timestamps, durations and ratios of every shape, deterministic.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
            values.push(1.7e9 + unit * 1e8);
            values.push(unit * 86_400.0);
            values.push(unit);
            values.push(-unit * 1e6);
            values.push(f64::from_bits(x));
        }
        for value in values {
            let mut out = Vec::new();
            push_value(&mut out, value);
            let out = String::from_utf8(out).expect("ascii");
            if value.is_finite() {
                let display = format!("{value}");
                assert_eq!(out.parse::<f64>(), Ok(value), "{out} for {display}");
                assert_eq!(out.len(), display.len(), "{out} for {display}");
                assert!(!out.contains(['e', 'E']), "{out} for {display}");
                if value.fract() == 0.0 {
                    assert_eq!(out, display);
                }
            } else {
                assert!(["NaN", "+Inf", "-Inf"].contains(&out.as_str()), "{out}");
            }
        }
    }

    #[test]
    fn headers_come_before_the_first_sample_only() {
        let mut out = Vec::new();
        let mut sink = Sink::new(&mut out, &FAMILIES[14], 0.0, false);
        sink.sample_with("{check=\"a\"}", "kind", "success", 3.0);
        sink.sample_with("{check=\"b\"}", "kind", "fail", 0.5);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# HELP deadman_check_pings_total Accepted pings by kind (success, fail, start, log); \
             success always, the others once they occurred.\n\
             # TYPE deadman_check_pings_total counter\n\
             deadman_check_pings_total{check=\"a\",kind=\"success\"} 3\n\
             deadman_check_pings_total{check=\"b\",kind=\"fail\"} 0.5\n"
        );
        let mut out = Vec::new();
        drop(Sink::new(&mut out, &FAMILIES[0], 0.0, false));
        assert!(out.is_empty());
    }
}
