//! `[check.volume]` and `[[check.expiry]]`: raw → validated, with the same
//! field parsers and error sentences as the rest of the config.

use std::collections::HashSet;
use std::time::Duration;

use chrono_tz::Tz;
use serde::Deserialize;

use super::error::{invalid, ConfigError, ErrorList};
use super::fields::{parse_cron, parse_duration, valid_check_name};
use crate::model::expectations::{parse_rfc3339, Expiry, ExpiryKind, Volume, Window, MAX_WINDOW};
use crate::model::schedule::CronSchedule;

const DEFAULT_WARN_BEFORE: Duration = Duration::from_secs(14 * 24 * 3600);

/// `[check.volume]` as written.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVolume {
    min_records: Option<i64>,
    max_records: Option<i64>,
    window: Option<String>,
    since: Option<String>,
    due: Option<String>,
}

/// `[[check.expiry]]` as written.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpiry {
    name: Option<String>,
    kind: Option<String>,
    at: Option<String>,
    warn_before: Option<String>,
}

fn count(location: &str, field: &str, value: Option<i64>) -> Result<Option<u64>, ConfigError> {
    match value {
        None => Ok(None),
        Some(n) if n >= 0 => Ok(Some(n as u64)),
        Some(n) => Err(invalid(location, field, format!("{n} is negative"))),
    }
}

/// About the longest gap between consecutive fires: the longest wait for
/// the next fire from weekly samples over two years (104 look-ups whatever
/// the expression). A gap of G days shows as at least G - 7, so rejecting
/// waits over 35 days admits no period longer than 42 days, within
/// [`crate::model::expectations::RECORD_RETENTION`].
fn longest_period(cron: &CronSchedule) -> f64 {
    let start = parse_rfc3339("2026-01-01T00:00:00Z").unwrap_or(0.0);
    (0..104)
        .map(|week| {
            let t = start + f64::from(week) * 7.0 * 86_400.0;
            cron.next_fire_after(t).unwrap_or(f64::INFINITY) - t
        })
        .fold(0.0, f64::max)
}

/// Validates `[check.volume]`; cron windows are read in `tz`.
pub(super) fn validate_volume(
    raw: RawVolume,
    tz: Tz,
    location: &str,
) -> Result<Volume, ConfigError> {
    let min = count(location, "volume.min_records", raw.min_records)?;
    let max = count(location, "volume.max_records", raw.max_records)?;
    if min.is_none() && max.is_none() {
        return Err(invalid(
            location,
            "volume",
            "set min_records, max_records or both; an empty expectation checks nothing",
        ));
    }
    if let (Some(min), Some(max)) = (min, max) {
        if max < min {
            return Err(invalid(
                location,
                "volume.max_records",
                format!("{max} is below min_records ({min})"),
            ));
        }
    }
    let window = match (raw.window, raw.since) {
        (Some(_), Some(_)) => {
            return Err(invalid(location, "volume.window",
                "set either a rolling \"window\" or a calendar \"since\", not both",
            ))
        }
        (None, None) => {
            return Err(invalid(location, "volume.window",
                "missing; set a rolling \"window\" (e.g. \"24h\") or a calendar \"since\" (e.g. \"0 0 * * *\")",
            ))
        }
        (Some(text), None) => {
            if raw.due.is_some() {
                return Err(invalid(location, "volume.due",
                    "only applies to a calendar window (\"since\"); a rolling window is due once it has been observed in full",
                ));
            }
            let length = parse_duration(location, "volume.window", &text)?;
            if length < Duration::from_secs(60) || length > MAX_WINDOW {
                return Err(invalid(location, "volume.window",
                    format!("{text:?} is out of range; use 1m to 35d"),
                ));
            }
            Window::Rolling(length)
        }
        (None, Some(since)) => {
            // Without a due, the shortfall would only be known at the very
            // moment the window restarts, when there is nothing left to
            // alert on; a rolling window is the way to say "N per week".
            let Some(due) = raw.due else {
                return Err(invalid(location, "volume.due",
                    "missing; a calendar window needs the time its minimum is due, e.g. \
                     due = \"0 9 * * *\" (or use a rolling \"window\" instead of \"since\")",
                ));
            };
            let since = Box::new(parse_cron(location, "volume.since", &since, tz)?);
            // Record counts are kept for MAX_WINDOW: a longer period (say,
            // yearly) would silently lose its early records.
            let longest = longest_period(&since);
            if longest > MAX_WINDOW.as_secs_f64() {
                return Err(invalid(location, "volume.since",
                    format!(
                        "{:?} starts a new window only every {} days; calendar windows may be \
                         at most 35 days long",
                        since.expression,
                        (longest / 86_400.0).round()
                    ),
                ));
            }
            Window::Calendar {
                since,
                due: Box::new(parse_cron(location, "volume.due", &due, tz)?),
            }
        }
    };
    Ok(Volume {
        min_records: min.unwrap_or(0),
        max_records: max,
        window,
    })
}

/// Validates the `[[check.expiry]]` list, reporting every entry that is
/// wrong (the first error of each).
pub(super) fn validate_expiries(
    raw: Vec<RawExpiry>,
    location: &str,
) -> Result<Vec<Expiry>, ConfigError> {
    let mut errors = ErrorList::default();
    let mut out: Vec<Expiry> = Vec::with_capacity(raw.len());
    let mut names = HashSet::with_capacity(raw.len());
    for (i, mut e) in raw.into_iter().enumerate() {
        let field = |key: &str| format!("expiry[{i}].{key}");
        let name = match e.name.take() {
            Some(name) if valid_check_name(&name) => name,
            Some(name) => {
                errors.push(invalid(
                    location,
                    &field("name"),
                    format!(
                        "{name:?} is not valid; use 1 to 64 characters of a-z, 0-9, '_', '.' and '-'"
                    ),
                ));
                continue;
            }
            None => {
                errors.push(invalid(location, &field("name"), "missing"));
                continue;
            }
        };
        if !names.insert(name.clone()) {
            errors.push(invalid(
                location,
                &field("name"),
                format!("{name:?} is declared twice"),
            ));
            continue;
        }
        if let Some(expiry) = errors.take(validate_expiry(name, e, &field, location)) {
            out.push(expiry);
        }
    }
    errors.finish(out)
}

/// One `[[check.expiry]]`, its valid `name` taken out; `field` names its keys.
fn validate_expiry(
    name: String,
    e: RawExpiry,
    field: &dyn Fn(&str) -> String,
    location: &str,
) -> Result<Expiry, ConfigError> {
    let kind = match e.kind.as_deref() {
        None => {
            return Err(invalid(
                location,
                &field("kind"),
                format!("missing; one of {}", ExpiryKind::names()),
            ))
        }
        Some(text) => ExpiryKind::parse(text).ok_or_else(|| {
            invalid(
                location,
                &field("kind"),
                format!("{text:?} is not one of {}", ExpiryKind::names()),
            )
        })?,
    };
    let at = match e.at {
        None => None,
        Some(text) => Some(parse_rfc3339(&text).ok_or_else(|| {
            invalid(
                location,
                &field("at"),
                format!("{text:?} is not an RFC 3339 time such as \"2027-01-15T00:00:00Z\""),
            )
        })?),
    };
    let warn_before = match e.warn_before {
        None => DEFAULT_WARN_BEFORE,
        Some(text) => parse_duration(location, &field("warn_before"), &text)?,
    };
    Ok(Expiry {
        name,
        kind,
        at,
        warn_before,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: &str = "check \"t\" (line 1)";

    fn field_of(err: ConfigError) -> String {
        match err {
            ConfigError::Invalid { field, .. } => field,
            other => panic!("not a field error: {other}"),
        }
    }

    #[test]
    fn invalid_volume_and_expiry() {
        let raw = |min: Option<i64>,
                   max: Option<i64>,
                   window: Option<&str>,
                   since: Option<&str>| RawVolume {
            min_records: min,
            max_records: max,
            window: window.map(String::from),
            since: since.map(String::from),
            due: None,
        };
        assert!(validate_volume(raw(None, None, Some("1h"), None), Tz::UTC, L).is_err());
        assert!(validate_volume(raw(Some(5), Some(1), Some("1h"), None), Tz::UTC, L).is_err());
        assert!(validate_volume(
            raw(Some(5), None, Some("1h"), Some("0 0 * * *")),
            Tz::UTC,
            L
        )
        .is_err());
        assert!(validate_volume(raw(Some(5), None, Some("90d"), None), Tz::UTC, L).is_err());
        let yearly = RawVolume {
            due: Some("0 9 * * *".into()),
            ..raw(Some(5), None, None, Some("0 0 1 1 *"))
        };
        assert_eq!(
            validate_volume(yearly, Tz::UTC, L)
                .map(|_| ())
                .map_err(field_of),
            Err("volume.since".to_string())
        );
        assert_eq!(
            validate_volume(raw(Some(5), None, None, Some("0 0 * * *")), Tz::UTC, L)
                .map(|_| ())
                .map_err(field_of),
            Err("volume.due".to_string())
        );
        let expiry = |name: &str, kind: &str, at: &str| RawExpiry {
            name: Some(name.into()),
            kind: Some(kind.into()),
            at: Some(at.into()),
            warn_before: None,
        };
        assert!(validate_expiries(vec![expiry("t", "token", "2027-01-15T00:00:00Z")], L).is_err());
        assert!(validate_expiries(vec![expiry("t", "credential", "next tuesday")], L).is_err());
        let ok = validate_expiries(vec![expiry("t", "credential", "2027-01-15T00:00:00Z")], L)
            .expect("valid");
        assert_eq!(ok[0].at, parse_rfc3339("2027-01-15T00:00:00Z"));
        assert_eq!(ok[0].warn_before, DEFAULT_WARN_BEFORE);
    }
}
