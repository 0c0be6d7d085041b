//! Expectations beyond freshness: how many records a check should move in a
//! window (`[check.volume]`), and what expires when (`[[check.expiry]]`).
//! Validation of their config and the window arithmetic live here; both are
//! pure (time comes in as an argument).

use std::collections::VecDeque;
use std::time::Duration;

use chrono::DateTime;
use chrono_tz::Tz;
use serde::Deserialize;

use crate::schedule::CronSchedule;

/// The longest rolling window, and the longest calendar period accepted.
pub const MAX_WINDOW: Duration = Duration::from_secs(35 * 24 * 3600);
/// How long stored record counts are kept: longer than any window, with
/// room for the sampling in `longest_period`.
pub const RECORD_RETENTION: Duration = Duration::from_secs(45 * 24 * 3600);
const DEFAULT_WARN_BEFORE: Duration = Duration::from_secs(14 * 24 * 3600);

/// `[check.volume]` as written.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawVolume {
    min_records: Option<i64>,
    max_records: Option<i64>,
    window: Option<String>,
    since: Option<String>,
    due: Option<String>,
}

/// `[[check.expiry]]` as written.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawExpiry {
    name: Option<String>,
    kind: Option<String>,
    at: Option<String>,
    warn_before: Option<String>,
}

/// How many records a check should move per window.
#[derive(Clone, Debug)]
pub struct Volume {
    /// Fewer than this by the due time is an incident (0 when only a maximum is set).
    pub min_records: u64,
    /// More than this is suspicious: duplicates, a replayed batch.
    pub max_records: Option<u64>,
    pub window: Window,
}

#[derive(Clone, Debug)]
pub enum Window {
    /// The last `Duration`, sliding.
    Rolling(Duration),
    /// From each fire of `since` (in the check's time zone) to the next;
    /// the minimum must be met by the period's first fire of `due`.
    Calendar {
        since: Box<CronSchedule>,
        due: Box<CronSchedule>,
    },
}

/// What a window looks like at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowView {
    /// Records counted since `start`.
    pub records: u64,
    pub start: f64,
    /// When `min_records` must have been met.
    pub due: f64,
}

impl Volume {
    /// The window at `now` for a check first configured at `first_configured`,
    /// counting `events` (time, records), oldest first.
    pub fn view(
        &self,
        events: &VecDeque<(f64, u64)>,
        first_configured: f64,
        now: f64,
    ) -> WindowView {
        let (start, due) = match &self.window {
            Window::Rolling(length) => {
                // Due once a whole window has been observed, so that a new
                // check is not "low" for lack of history.
                (
                    now - length.as_secs_f64(),
                    first_configured + length.as_secs_f64(),
                )
            }
            Window::Calendar { since, due } => {
                let start = since
                    .last_fire_at_or_before(now)
                    .unwrap_or(f64::NEG_INFINITY);
                let due_after = |period_start: f64| due.next_fire_after(period_start);
                let mut due_at = due_after(start);
                // A period that began before the check existed was not fully
                // observed: expect the minimum only from the next one.
                if first_configured > start {
                    due_at = since.next_fire_after(start).and_then(due_after);
                }
                (start, due_at.unwrap_or(f64::INFINITY))
            }
        };
        let records = events
            .iter()
            .rev()
            .take_while(|(at, _)| *at >= start)
            .map(|(_, n)| n)
            .sum();
        WindowView {
            records,
            start,
            due,
        }
    }

    /// How far back events must be kept at `now`.
    pub fn horizon(&self, now: f64) -> f64 {
        match &self.window {
            Window::Rolling(length) => now - length.as_secs_f64(),
            Window::Calendar { since, .. } => since
                .last_fire_at_or_before(now)
                .unwrap_or(now - RECORD_RETENTION.as_secs_f64()),
        }
    }
}

/// Drops events older than `horizon`.
pub fn prune_events(events: &mut VecDeque<(f64, u64)>, horizon: f64) {
    while events.front().is_some_and(|(at, _)| *at < horizon) {
        events.pop_front();
    }
}

/// Something a check depends on that expires.
#[derive(Clone, Debug)]
pub struct Expiry {
    /// Unique within the check; the `name` label and the ping parameter
    /// `expires.<name>`.
    pub name: String,
    pub kind: ExpiryKind,
    /// Known expiry from the config; a value the integration reports wins.
    pub at: Option<f64>,
    /// How long before expiry to warn.
    pub warn_before: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryKind {
    Credential,
    ApiVersion,
    Certificate,
    Contract,
}

impl ExpiryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ExpiryKind::Credential => "credential",
            ExpiryKind::ApiVersion => "api_version",
            ExpiryKind::Certificate => "certificate",
            ExpiryKind::Contract => "contract",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            ExpiryKind::Credential,
            ExpiryKind::ApiVersion,
            ExpiryKind::Certificate,
            ExpiryKind::Contract,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// RFC 3339 → Unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<f64> {
    let t = DateTime::parse_from_rfc3339(text).ok()?;
    Some(t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9)
}

/// A validation failure: (field, message); the caller adds the location.
pub type Invalid = (String, String);

fn invalid(field: &str, message: impl Into<String>) -> Invalid {
    (field.to_string(), message.into())
}

fn duration(field: &str, text: &str) -> Result<Duration, Invalid> {
    humantime::parse_duration(text).map_err(|e| {
        invalid(
            field,
            format!("{text:?} is not a valid duration ({e}); write it like \"24h\" or \"7d\""),
        )
    })
}

fn cron(field: &str, expr: &str, tz: Tz) -> Result<Box<CronSchedule>, Invalid> {
    CronSchedule::parse(expr, tz).map(Box::new).map_err(|why| {
        invalid(
            field,
            format!("{expr:?} is not a valid cron expression: {why}"),
        )
    })
}

fn count(field: &str, value: Option<i64>) -> Result<Option<u64>, Invalid> {
    match value {
        None => Ok(None),
        Some(n) if n >= 0 => Ok(Some(n as u64)),
        Some(n) => Err(invalid(field, format!("{n} is negative"))),
    }
}

/// About the longest gap between consecutive fires: the longest wait for
/// the next fire from weekly samples over two years (104 look-ups whatever
/// the expression). A gap of G days shows as at least G - 7, so rejecting
/// waits over 35 days admits no period longer than 42 days, within
/// [`RECORD_RETENTION`].
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
pub fn validate_volume(raw: RawVolume, tz: Tz) -> Result<Volume, Invalid> {
    let min = count("volume.min_records", raw.min_records)?;
    let max = count("volume.max_records", raw.max_records)?;
    if min.is_none() && max.is_none() {
        return Err(invalid(
            "volume",
            "set min_records, max_records or both; an empty expectation checks nothing",
        ));
    }
    if let (Some(min), Some(max)) = (min, max) {
        if max < min {
            return Err(invalid(
                "volume.max_records",
                format!("{max} is below min_records ({min})"),
            ));
        }
    }
    let window = match (raw.window, raw.since) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "volume.window",
                "set either a rolling \"window\" or a calendar \"since\", not both",
            ))
        }
        (None, None) => {
            return Err(invalid(
                "volume.window",
                "missing; set a rolling \"window\" (e.g. \"24h\") or a calendar \"since\" (e.g. \"0 0 * * *\")",
            ))
        }
        (Some(text), None) => {
            if raw.due.is_some() {
                return Err(invalid(
                    "volume.due",
                    "only applies to a calendar window (\"since\"); a rolling window is due once it has been observed in full",
                ));
            }
            let length = duration("volume.window", &text)?;
            if length < Duration::from_secs(60) || length > MAX_WINDOW {
                return Err(invalid(
                    "volume.window",
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
                return Err(invalid(
                    "volume.due",
                    "missing; a calendar window needs the time its minimum is due, e.g. \
                     due = \"0 9 * * *\" (or use a rolling \"window\" instead of \"since\")",
                ));
            };
            let since = cron("volume.since", &since, tz)?;
            // Record counts are kept for MAX_WINDOW: a longer period (say,
            // yearly) would silently lose its early records.
            let longest = longest_period(&since);
            if longest > MAX_WINDOW.as_secs_f64() {
                return Err(invalid(
                    "volume.since",
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
                due: cron("volume.due", &due, tz)?,
            }
        }
    };
    Ok(Volume {
        min_records: min.unwrap_or(0),
        max_records: max,
        window,
    })
}

/// Validates the `[[check.expiry]]` list.
pub fn validate_expiries(raw: Vec<RawExpiry>) -> Result<Vec<Expiry>, Invalid> {
    let mut out: Vec<Expiry> = Vec::with_capacity(raw.len());
    for (i, e) in raw.into_iter().enumerate() {
        let field = |key: &str| format!("expiry[{i}].{key}");
        let name = match e.name {
            Some(name) if crate::config::valid_check_name(&name) => name,
            Some(name) => {
                return Err(invalid(
                    &field("name"),
                    format!(
                    "{name:?} is not valid; use 1 to 64 characters of a-z, 0-9, '_', '.' and '-'"
                ),
                ))
            }
            None => return Err(invalid(&field("name"), "missing")),
        };
        if out.iter().any(|x| x.name == name) {
            return Err(invalid(
                &field("name"),
                format!("{name:?} is declared twice"),
            ));
        }
        let kind = match e.kind.as_deref() {
            None => {
                return Err(invalid(
                    &field("kind"),
                    "missing; one of credential, api_version, certificate, contract",
                ))
            }
            Some(text) => ExpiryKind::parse(text).ok_or_else(|| {
                invalid(
                    &field("kind"),
                    format!(
                        "{text:?} is not one of credential, api_version, certificate, contract"
                    ),
                )
            })?,
        };
        let at = match e.at {
            None => None,
            Some(text) => Some(parse_rfc3339(&text).ok_or_else(|| {
                invalid(
                    &field("at"),
                    format!("{text:?} is not an RFC 3339 time such as \"2027-01-15T00:00:00Z\""),
                )
            })?),
        };
        let warn_before = match e.warn_before {
            None => DEFAULT_WARN_BEFORE,
            Some(text) => duration(&field("warn_before"), &text)?,
        };
        out.push(Expiry {
            name,
            kind,
            at,
            warn_before,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> f64 {
        parse_rfc3339(text).expect("test time")
    }

    fn calendar(since: &str, due: Option<&str>, tz: Tz) -> Volume {
        // `due` is an Option so tests can also show it is required.
        validate_volume(
            RawVolume {
                min_records: Some(200),
                max_records: None,
                window: None,
                since: Some(since.into()),
                due: due.map(String::from),
            },
            tz,
        )
        .expect("valid")
    }

    #[test]
    fn two_hundred_orders_by_nine_am() {
        let v = calendar("0 0 * * *", Some("0 9 * * *"), Tz::Europe__London);
        let events: VecDeque<(f64, u64)> = [
            (utc("2026-06-09T22:00:00Z"), 500), // yesterday (23:00 BST)
            (utc("2026-06-10T05:00:00Z"), 120),
            (utc("2026-06-10T07:30:00Z"), 30),
        ]
        .into();
        let view = v.view(&events, 0.0, utc("2026-06-10T08:30:00Z"));
        assert_eq!(view.records, 150);
        assert_eq!(view.start, utc("2026-06-09T23:00:00Z")); // local midnight, BST
        assert_eq!(view.due, utc("2026-06-10T08:00:00Z")); // 09:00 BST
    }

    #[test]
    fn calendar_window_across_spring_forward() {
        // 2026-03-29, London: local midnight is 00:00 GMT, 09:00 is 08:00 UTC.
        let v = calendar("0 0 * * *", Some("0 9 * * *"), Tz::Europe__London);
        let view = v.view(&VecDeque::new(), 0.0, utc("2026-03-29T12:00:00Z"));
        assert_eq!(view.start, utc("2026-03-29T00:00:00Z"));
        assert_eq!(view.due, utc("2026-03-29T08:00:00Z"));
        // The day before, 09:00 GMT.
        let view = v.view(&VecDeque::new(), 0.0, utc("2026-03-28T12:00:00Z"));
        assert_eq!(view.due, utc("2026-03-28T09:00:00Z"));
    }

    #[test]
    fn new_check_is_due_from_the_next_full_period() {
        let v = calendar("0 0 * * *", Some("0 9 * * *"), Tz::UTC);
        let configured = utc("2026-06-10T10:00:00Z");
        let view = v.view(&VecDeque::new(), configured, utc("2026-06-10T11:00:00Z"));
        assert_eq!(view.due, utc("2026-06-11T09:00:00Z"));
    }

    #[test]
    fn weekly_calendar_window_is_due_mid_period() {
        let v = calendar("0 0 * * 1", Some("0 12 * * 5"), Tz::UTC); // Monday to Friday noon
        let view = v.view(&VecDeque::new(), 0.0, utc("2026-06-10T11:00:00Z")); // a Wednesday
        assert_eq!(view.start, utc("2026-06-08T00:00:00Z"));
        assert_eq!(view.due, utc("2026-06-12T12:00:00Z"));
    }

    #[test]
    fn rolling_window_counts_the_last_stretch_and_is_due_after_one_full_window() {
        let v = validate_volume(
            RawVolume {
                min_records: Some(10),
                max_records: Some(100),
                window: Some("1h".into()),
                since: None,
                due: None,
            },
            Tz::UTC,
        )
        .expect("valid");
        let events: VecDeque<(f64, u64)> = [(100.0, 5), (4000.0, 7), (7000.0, 1)].into();
        let view = v.view(&events, 50.0, 7200.0);
        assert_eq!(view.records, 8);
        assert_eq!(view.due, 3650.0);
        let mut events = events;
        prune_events(&mut events, v.horizon(7200.0));
        assert_eq!(events.len(), 2);
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
        assert!(validate_volume(raw(None, None, Some("1h"), None), Tz::UTC).is_err());
        assert!(validate_volume(raw(Some(5), Some(1), Some("1h"), None), Tz::UTC).is_err());
        assert!(
            validate_volume(raw(Some(5), None, Some("1h"), Some("0 0 * * *")), Tz::UTC).is_err()
        );
        assert!(validate_volume(raw(Some(5), None, Some("90d"), None), Tz::UTC).is_err());
        let yearly = RawVolume {
            due: Some("0 9 * * *".into()),
            ..raw(Some(5), None, None, Some("0 0 1 1 *"))
        };
        assert_eq!(
            validate_volume(yearly, Tz::UTC)
                .map(|_| ())
                .map_err(|(f, _)| f),
            Err("volume.since".to_string())
        );
        assert_eq!(
            validate_volume(raw(Some(5), None, None, Some("0 0 * * *")), Tz::UTC)
                .map(|_| ())
                .map_err(|(field, _)| field),
            Err("volume.due".to_string())
        );
        let expiry = |name: &str, kind: &str, at: &str| RawExpiry {
            name: Some(name.into()),
            kind: Some(kind.into()),
            at: Some(at.into()),
            warn_before: None,
        };
        assert!(validate_expiries(vec![expiry("t", "token", "2027-01-15T00:00:00Z")]).is_err());
        assert!(validate_expiries(vec![expiry("t", "credential", "next tuesday")]).is_err());
        let ok = validate_expiries(vec![expiry("t", "credential", "2027-01-15T00:00:00Z")])
            .expect("valid");
        assert_eq!(ok[0].at, Some(utc("2027-01-15T00:00:00Z")));
        assert_eq!(ok[0].warn_before, DEFAULT_WARN_BEFORE);
    }
}
