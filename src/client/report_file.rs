//! The `DEADMAN_REPORT` file a job may write: `records=N` and
//! `expires.<name>=<RFC 3339>` lines, sent with the finish ping. Pure: the
//! text in, what to send and what was wrong with which line out. A bad
//! line never stops the finish ping; it is reported and skipped.

use std::fmt;

use crate::model::expectations::parse_rfc3339;
use crate::model::ping_params::parse_records;

/// What a job reported.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// `records=N`; a later line replaces an earlier one, so a job may
    /// write its running total as it goes.
    pub records: Option<u64>,
    /// `expires.<name>=<time>` as (name, time as written), in first-seen
    /// order; a later line for the same name replaces the time.
    pub expiries: Vec<(String, String)>,
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
            "{line:?} is not KEY=VALUE; write records=N or expires.<name>=<RFC 3339 time>"
        ));
    };
    let (key, value) = (key.trim(), value.trim());
    if key == "records" {
        report.records = Some(parse_records(value).map_err(|e| e.to_string())?);
        return Ok(());
    }
    let Some(name) = key.strip_prefix("expires.") else {
        return Err(format!(
            "unknown key {key:?}; the keys are records and expires.<name>"
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
    match report.expiries.iter_mut().find(|(n, _)| n == name) {
        Some((_, time)) => *time = value.to_string(),
        None => report.expiries.push((name.to_string(), value.to_string())),
    }
    Ok(())
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
    fn empty_file_reports_nothing() {
        assert_eq!(parse(""), (Report::default(), vec![]));
    }
}
