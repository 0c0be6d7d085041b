//! Expectations beyond freshness: how many records a check should move in a
//! window (`[check.volume]`), and what expires when (`[[check.expiry]]`).
//! The types and the window arithmetic live here, pure (time comes in as an
//! argument); their config is validated in `config::expectations`.

use std::time::Duration;

use chrono::DateTime;

use super::schedule::CronSchedule;

/// The longest rolling window, and the longest calendar period accepted.
pub const MAX_WINDOW: Duration = Duration::from_secs(35 * 24 * 3600);
/// How long stored record counts are kept: longer than any window, with
/// room for the sampling in `longest_period`.
pub const RECORD_RETENTION: Duration = Duration::from_secs(45 * 24 * 3600);

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
    pub fn view(&self, events: &RecordEvents, first_configured: f64, now: f64) -> WindowView {
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
        let records = events.since(start);
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

/// (time, records) of the pings of one check that reported records, oldest
/// first, kept for as long as its volume window needs them.
///
/// A persistent vector: the writer publishes a new snapshot of every check
/// after each commit, and cloning this is O(1) whatever its length, so
/// readers keep their copy while the writer appends to its own.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordEvents {
    events: imbl::Vector<(f64, u64)>,
}

impl RecordEvents {
    pub fn push(&mut self, at: f64, records: u64) {
        self.events.push_back((at, records));
    }

    /// Records reported at or after `start`.
    pub fn since(&self, start: f64) -> u64 {
        self.events
            .iter()
            .rev()
            .take_while(|(at, _)| *at >= start)
            .fold(0u64, |sum, (_, n)| sum.saturating_add(*n))
    }

    /// Drops events older than `horizon`.
    pub fn prune(&mut self, horizon: f64) {
        while self.events.front().is_some_and(|(at, _)| *at < horizon) {
            self.events.pop_front();
        }
    }

    /// When the oldest kept event was reported.
    pub fn oldest(&self) -> Option<f64> {
        self.events.front().map(|(at, _)| *at)
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

impl FromIterator<(f64, u64)> for RecordEvents {
    fn from_iter<I: IntoIterator<Item = (f64, u64)>>(events: I) -> Self {
        RecordEvents {
            events: events.into_iter().collect(),
        }
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

crate::string_enum! {
    /// What kind of thing expires; the `kind` label of the expiry series.
    pub enum ExpiryKind {
        Credential = "credential",
        ApiVersion = "api_version",
        Certificate = "certificate",
        Contract = "contract",
        /// Not something that breaks: the date by which the owner reviews
        /// the integration (re-reads the runbook, rotates what needs
        /// rotating, confirms ownership).
        Review = "review",
    }
}

impl ExpiryKind {
    /// Every kind, as messages list them.
    pub fn names() -> String {
        let names: Vec<&str> = ExpiryKind::ALL.iter().map(|k| k.as_str()).collect();
        names.join(", ")
    }
}

/// RFC 3339 → Unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<f64> {
    let t = DateTime::parse_from_rfc3339(text).ok()?;
    Some(t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Tz;

    fn utc(text: &str) -> f64 {
        parse_rfc3339(text).expect("test time")
    }

    fn calendar(since: &str, due: &str, tz: Tz) -> Volume {
        let cron = |expr: &str| Box::new(CronSchedule::parse(expr, tz).expect("test cron"));
        Volume {
            min_records: 200,
            max_records: None,
            window: Window::Calendar {
                since: cron(since),
                due: cron(due),
            },
        }
    }

    #[test]
    fn two_hundred_orders_by_nine_am() {
        let v = calendar("0 0 * * *", "0 9 * * *", Tz::Europe__London);
        let events: RecordEvents = [
            (utc("2026-06-09T22:00:00Z"), 500), // yesterday (23:00 BST)
            (utc("2026-06-10T05:00:00Z"), 120),
            (utc("2026-06-10T07:30:00Z"), 30),
        ]
        .into_iter()
        .collect();
        let view = v.view(&events, 0.0, utc("2026-06-10T08:30:00Z"));
        assert_eq!(view.records, 150);
        assert_eq!(view.start, utc("2026-06-09T23:00:00Z")); // local midnight, BST
        assert_eq!(view.due, utc("2026-06-10T08:00:00Z")); // 09:00 BST
    }

    #[test]
    fn calendar_window_across_spring_forward() {
        // 2026-03-29, London: local midnight is 00:00 GMT, 09:00 is 08:00 UTC.
        let v = calendar("0 0 * * *", "0 9 * * *", Tz::Europe__London);
        let view = v.view(&RecordEvents::default(), 0.0, utc("2026-03-29T12:00:00Z"));
        assert_eq!(view.start, utc("2026-03-29T00:00:00Z"));
        assert_eq!(view.due, utc("2026-03-29T08:00:00Z"));
        // The day before, 09:00 GMT.
        let view = v.view(&RecordEvents::default(), 0.0, utc("2026-03-28T12:00:00Z"));
        assert_eq!(view.due, utc("2026-03-28T09:00:00Z"));
    }

    #[test]
    fn new_check_is_due_from_the_next_full_period() {
        let v = calendar("0 0 * * *", "0 9 * * *", Tz::UTC);
        let configured = utc("2026-06-10T10:00:00Z");
        let view = v.view(
            &RecordEvents::default(),
            configured,
            utc("2026-06-10T11:00:00Z"),
        );
        assert_eq!(view.due, utc("2026-06-11T09:00:00Z"));
    }

    #[test]
    fn weekly_calendar_window_is_due_mid_period() {
        let v = calendar("0 0 * * 1", "0 12 * * 5", Tz::UTC); // Monday to Friday noon
        let view = v.view(&RecordEvents::default(), 0.0, utc("2026-06-10T11:00:00Z")); // a Wednesday
        assert_eq!(view.start, utc("2026-06-08T00:00:00Z"));
        assert_eq!(view.due, utc("2026-06-12T12:00:00Z"));
    }

    #[test]
    fn rolling_window_counts_the_last_stretch_and_is_due_after_one_full_window() {
        let v = Volume {
            min_records: 10,
            max_records: Some(100),
            window: Window::Rolling(Duration::from_secs(3600)),
        };
        let events: RecordEvents = [(100.0, 5), (4000.0, 7), (7000.0, 1)].into_iter().collect();
        let view = v.view(&events, 50.0, 7200.0);
        assert_eq!(view.records, 8);
        assert_eq!(view.due, 3650.0);
        let mut events = events;
        events.prune(v.horizon(7200.0));
        assert_eq!(events.len(), 2);
    }
}
