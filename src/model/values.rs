//! Declared values (`[[check.value]]`): numbers a run reports as
//! `value.<name>=N` (the 37 unmatched invoices, the dead letters left in a
//! queue) and the bounds they must stay within. Only declared names are
//! accepted, so input can never create series. Pure: times come in as
//! arguments.

use std::collections::BTreeMap;
use std::time::Duration;

/// The largest magnitude a reported value or a bound may have: 10^15.
/// Every integer up to it is exact in a Prometheus sample (a float64, exact
/// to 2^53), and a decimal of up to 15 significant digits reads back as
/// written, so what a job sends is what the alert shows.
pub const MAX_ABS_VALUE: f64 = 1e15;

/// How [`MAX_ABS_VALUE`] is written in messages.
pub const MAX_ABS_VALUE_TEXT: &str = "1e15 (1000000000000000)";

/// One `[[check.value]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct DeclaredValue {
    /// `^[a-z][a-z0-9_]{0,63}$`, unique within the check: the `name` label
    /// and the `value.<name>` ping parameter.
    pub name: String,
    /// What the number counts, for the alert's description and the page.
    pub description: String,
    /// Less than this is an incident.
    pub min: Option<f64>,
    /// More than this is an incident.
    pub max: Option<f64>,
    /// How long the value may stay out of range before it pages; `None`
    /// pages at once.
    pub for_duration: Option<Duration>,
}

impl DeclaredValue {
    /// Whether `value` is outside the bounds (a bound is inclusive: `max = 0`
    /// admits 0).
    pub fn out_of_range(&self, value: f64) -> bool {
        self.min.is_some_and(|min| value < min) || self.max.is_some_and(|max| value > max)
    }

    /// Whether it has a bound to be out of.
    pub fn has_bounds(&self) -> bool {
        self.min.is_some() || self.max.is_some()
    }
}

/// `^[a-z][a-z0-9_]{0,63}$`: a value's name is a label value and a
/// parameter suffix, and must read well in PromQL.
pub fn valid_value_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_lowercase()
        && (bytes.iter()).all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

/// The latest report of one value.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportedValue {
    pub value: f64,
    /// When it was reported (Unix seconds, the ping's arrival).
    pub at: f64,
    /// When the current run of out-of-range reports began, each judged
    /// against the bounds in force when it arrived; `None` while the latest
    /// report was in range. This is what a value's `for` counts from.
    pub out_of_range_since: Option<f64>,
}

impl ReportedValue {
    /// When the value went out of range, judged against `declared` as
    /// configured now: the start of the run of out-of-range reports, or,
    /// when a reload narrowed the bounds since, the report itself; `None`
    /// while it is in range.
    pub fn out_of_range_since(&self, declared: &DeclaredValue) -> Option<f64> {
        declared
            .out_of_range(self.value)
            .then(|| self.out_of_range_since.unwrap_or(self.at))
    }
}

/// Reported values by name, as a check's state keeps them.
pub type ReportedValues = BTreeMap<String, ReportedValue>;

/// Records `value`, reported at `at`, judged against `declared` (`None`
/// for a name no longer declared: kept, but never out of range). A report
/// stamped before the one kept (stamped on arrival, committed in a later
/// batch) changes nothing: the latest report wins.
pub fn record(
    values: &mut ReportedValues,
    name: &str,
    value: f64,
    at: f64,
    declared: Option<&DeclaredValue>,
) {
    let out = declared.is_some_and(|d| d.out_of_range(value));
    let since = |previous: Option<f64>| if out { previous.or(Some(at)) } else { None };
    match values.get_mut(name) {
        Some(kept) if at < kept.at => {}
        Some(kept) => {
            kept.out_of_range_since = since(kept.out_of_range_since);
            kept.value = value;
            kept.at = at;
        }
        None => {
            values.insert(
                name.to_string(),
                ReportedValue {
                    value,
                    at,
                    out_of_range_since: since(None),
                },
            );
        }
    }
}

/// A value's text from a query string, a form, a JSON string or the report
/// file: an optional `-`, digits, and an optional `.` with digits (`37`,
/// `-2.5`); nothing else (no `NaN`, `inf`, exponents or thousands
/// separators), and at most [`MAX_ABS_VALUE`] in magnitude. `Err` is the
/// sentence after `value.<name> `.
pub fn parse_value(text: &str) -> Result<f64, String> {
    let trimmed = text.trim();
    let digits = trimmed.strip_prefix('-').unwrap_or(trimmed);
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !is_digits(whole) || !fraction.is_none_or(is_digits) {
        return Err(format!("must be a number such as 37 or -2.5, not {text:?}"));
    }
    let value: f64 = trimmed
        .parse()
        .map_err(|_| format!("must be a number such as 37 or -2.5, not {text:?}"))?;
    check_bound(value, trimmed)
}

/// `value` if it is finite and within [`MAX_ABS_VALUE`]; `shown` is how the
/// sender wrote it.
pub fn check_bound(value: f64, shown: &str) -> Result<f64, String> {
    if value.is_finite() && value.abs() <= MAX_ABS_VALUE {
        // -0 and 0 are one value; "-0" must not export as "-0".
        Ok(value + 0.0)
    } else {
        Err(format!(
            "is {shown}, out of range; a value may be at most {MAX_ABS_VALUE_TEXT} either side of 0"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(min: Option<f64>, max: Option<f64>) -> DeclaredValue {
        DeclaredValue {
            name: "unmatched".into(),
            description: String::new(),
            min,
            max,
            for_duration: None,
        }
    }

    #[test]
    fn names() {
        assert!(valid_value_name("unmatched_invoices"));
        assert!(valid_value_name("a1"));
        assert!(valid_value_name(&"a".repeat(64)));
        assert!(!valid_value_name(&"a".repeat(65)));
        assert!(!valid_value_name("1a"));
        assert!(!valid_value_name("_a"));
        assert!(!valid_value_name("dead-letters"));
        assert!(!valid_value_name("Dead"));
        assert!(!valid_value_name(""));
    }

    #[test]
    fn bounds_are_inclusive() {
        let max_zero = declared(None, Some(0.0));
        assert!(!max_zero.out_of_range(0.0));
        assert!(max_zero.out_of_range(37.0));
        let between = declared(Some(1.0), Some(10.0));
        assert!(between.out_of_range(0.5) && !between.out_of_range(1.0));
        assert!(!declared(None, None).out_of_range(1e15));
    }

    #[test]
    fn numbers_are_integers_and_decimals_only() {
        assert_eq!(parse_value("37"), Ok(37.0));
        assert_eq!(parse_value(" -2.5 "), Ok(-2.5));
        assert_eq!(parse_value("0.001"), Ok(0.001));
        assert_eq!(parse_value("-0").map(|v| v.to_string()), Ok("0".into()));
        assert_eq!(parse_value("1000000000000000"), Ok(1e15));
        for bad in [
            "", "-", "NaN", "inf", "-inf", "1e3", "1,000", ".5", "5.", "+3", "0x10", "3 4",
        ] {
            assert_eq!(
                parse_value(bad),
                Err(format!("must be a number such as 37 or -2.5, not {bad:?}")),
                "{bad}"
            );
        }
        assert_eq!(
            parse_value("1000000000000001"),
            Err("is 1000000000000001, out of range; a value may be at most 1e15 (1000000000000000) either side of 0".into())
        );
        assert!(check_bound(f64::NAN, "NaN").is_err());
        assert!(check_bound(f64::INFINITY, "inf").is_err());
    }

    #[test]
    fn out_of_range_since_counts_from_the_first_report_of_a_run() {
        let d = declared(None, Some(0.0));
        let mut values = ReportedValues::new();
        record(&mut values, "unmatched", 0.0, 100.0, Some(&d));
        assert_eq!(values["unmatched"].out_of_range_since, None);
        record(&mut values, "unmatched", 37.0, 200.0, Some(&d));
        record(&mut values, "unmatched", 12.0, 300.0, Some(&d));
        assert_eq!(values["unmatched"].out_of_range_since, Some(200.0));
        assert_eq!(
            (values["unmatched"].value, values["unmatched"].at),
            (12.0, 300.0)
        );
        // An earlier stamp committed later does not replace the latest report.
        record(&mut values, "unmatched", 0.0, 250.0, Some(&d));
        assert_eq!(values["unmatched"].value, 12.0);
        record(&mut values, "unmatched", 0.0, 400.0, Some(&d));
        assert_eq!(values["unmatched"].out_of_range_since, None);
        // Judged again against the bounds in force now.
        record(&mut values, "unmatched", 5.0, 410.0, Some(&d));
        assert_eq!(values["unmatched"].out_of_range_since(&d), Some(410.0));
        let wider = declared(None, Some(10.0));
        assert_eq!(values["unmatched"].out_of_range_since(&wider), None);
        let narrower = declared(None, Some(-1.0));
        assert_eq!(
            values["unmatched"].out_of_range_since(&narrower),
            Some(410.0)
        );
        record(&mut values, "unmatched", 0.0, 420.0, Some(&d));
        assert_eq!(
            values["unmatched"].out_of_range_since(&narrower),
            Some(420.0),
            "since the report"
        );
        // A name no longer declared is kept but never out of range.
        record(&mut values, "gone", 99.0, 500.0, None);
        assert_eq!(values["gone"].out_of_range_since, None);
    }
}
