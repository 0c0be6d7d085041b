//! The `DEADMAN_REPORT` file a job may write: `records=N`,
//! `expires.<name>=<RFC 3339>` and `value.<name>=N` lines, sent with the
//! finish ping. Pure: the
//! text in, what to send and what was wrong with which line out. A bad
//! line never stops the finish ping; it is reported and skipped.

use std::fmt;

use crate::model::expectations::parse_rfc3339;
use crate::model::ping_params::parse_records;
use crate::model::values::parse_value;

/// What a job reported.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// `records=N`; a later line replaces an earlier one, so a job may
    /// write its running total as it goes.
    pub records: Option<u64>,
    /// `expires.<name>=<time>` as (name, time as written), in first-seen
    /// order; a later line for the same name replaces the time.
    pub expiries: Vec<(String, String)>,
    /// `value.<name>=N` as (name, number as written), in first-seen order;
    /// a later line for the same name replaces the number, so a job may
    /// write a running count.
    pub values: Vec<(String, String)>,
}

/// A line that was skipped, and why.
#[derive(Debug, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based, as editors count.
    pub line: usize,
    pub why: String,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.why)
    }
}

/// Parses the file's text. Blank lines and lines starting with `#` are
/// ignored, so a job can annotate what it writes.
pub fn parse(text: &str) -> (Report, Vec<BadLine>) {
    let mut report = Report::default();
    let mut bad = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Err(why) = parse_line(line, &mut report) {
            bad.push(BadLine {
                line: index + 1,
                why,
            });
        }
    }
    (report, bad)
}

fn parse_line(line: &str, report: &mut Report) -> Result<(), String> {
    let Some((key, value)) = line.split_once('=') else {
        return Err(format!(
            "{line:?} is not KEY=VALUE; write records=N, expires.<name>=<RFC 3339 time> or \
             value.<name>=N"
        ));
    };
    let (key, value) = (key.trim(), value.trim());
    if key == "records" {
        report.records = Some(parse_records(value).map_err(|e| e.to_string())?);
        return Ok(());
    }
    if let Some(name) = key.strip_prefix("value.") {
        if name.is_empty() {
            return Err("value. needs the value's name, as in value.unmatched_invoices=37".into());
        }
        parse_value(value).map_err(|why| format!("value.{name} {why}"))?;
        replace_or_push(&mut report.values, name, value);
        return Ok(());
    }
    let Some(name) = key.strip_prefix("expires.") else {
        return Err(format!(
            "unknown key {key:?}; the keys are records, expires.<name> and value.<name>"
        ));
    };
    if name.is_empty() {
        return Err("expires. needs the expiry's name, as in expires.api-token=…".into());
    }
    if parse_rfc3339(value).is_none() {
        return Err(format!(
            "expires.{name} must be an RFC 3339 time such as 2027-01-15T00:00:00Z, not {value:?}"
        ));
    }
    replace_or_push(&mut report.expiries, name, value);
    Ok(())
}

/// A later line for a name replaces the earlier one, keeping its place.
fn replace_or_push(entries: &mut Vec<(String, String)>, name: &str, value: &str) {
    match entries.iter_mut().find(|(n, _)| n == name) {
        Some((_, kept)) => *kept = value.to_string(),
        None => entries.push((name.to_string(), value.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_expiries() {
        let (report, bad) = parse(
            "# written by etl\nrecords=5\n\nexpires.token = 2027-01-15T00:00:00Z\nrecords=200\n",
        );
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(report.records, Some(200));
        assert_eq!(
            report.expiries,
            vec![("token".into(), "2027-01-15T00:00:00Z".into())]
        );
    }

    #[test]
    fn later_expiry_replaces_earlier() {
        let (report, _) =
            parse("expires.a=2027-01-01T00:00:00Z\nexpires.b=2027-02-01T00:00:00Z\nexpires.a=2028-01-01T00:00:00+01:00");
        assert_eq!(
            report.expiries,
            vec![
                ("a".into(), "2028-01-01T00:00:00+01:00".into()),
                ("b".into(), "2027-02-01T00:00:00Z".into())
            ]
        );
    }

    #[test]
    fn bad_lines_are_named_and_skipped() {
        let (report, bad) = parse(
            "records=-1\nrecord=5\nexpires.x=tomorrow\nexpires.=2027-01-01T00:00:00Z\njust text\nrecords=7",
        );
        assert_eq!(report.records, Some(7));
        assert!(report.expiries.is_empty());
        let lines: Vec<usize> = bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, [1, 2, 3, 4, 5]);
        assert_eq!(
            bad[0].to_string(),
            "line 1: records must be a non-negative integer, not \"-1\""
        );
        assert!(bad[1].why.contains("unknown key \"record\""), "{}", bad[1]);
        assert!(bad[2].why.contains("RFC 3339"), "{}", bad[2]);
        assert!(bad[4].why.contains("not KEY=VALUE"), "{}", bad[4]);
    }

    #[test]
    fn values_are_checked_numbers_and_a_later_line_wins() {
        let (report, bad) = parse(
            "value.unmatched_invoices=3\nvalue.lag = -2.5\nvalue.unmatched_invoices=37\n\
             value.x=NaN\nvalue.=1\nvalue.y=1e16\n",
        );
        assert_eq!(
            report.values,
            vec![
                ("unmatched_invoices".into(), "37".into()),
                ("lag".into(), "-2.5".into())
            ]
        );
        let why: Vec<String> = bad.iter().map(ToString::to_string).collect();
        assert_eq!(
            why,
            [
                "line 4: value.x must be a number such as 37 or -2.5, not \"NaN\"",
                "line 5: value. needs the value's name, as in value.unmatched_invoices=37",
                "line 6: value.y must be a number such as 37 or -2.5, not \"1e16\"",
            ]
        );
    }

    #[test]
    fn empty_file_reports_nothing() {
        assert_eq!(parse(""), (Report::default(), vec![]));
    }
}
