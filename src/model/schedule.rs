//! When a check is expected to run, and so when its silence becomes an
//! incident. Pure: every function takes the instants it needs.
//!
//! # Cron and daylight saving time
//!
//! Cron expressions are matched against the *wall clock* of the check's time
//! zone (what a person in that zone reads on a clock), then each matching wall
//! time is turned into an instant:
//!
//! * A wall time that does not exist (the hour skipped when clocks go forward)
//!   fires at the first instant after the gap. `30 2 * * *` in New York on the
//!   spring-forward day fires at 03:00 EDT, which is also when cron daemons
//!   run such a job.
//! * A wall time that happens twice (the hour repeated when clocks go back)
//!   fires once, at its first occurrence.
//!
//! Both rules err towards a later deadline, never an earlier one: a job that a
//! cron daemon runs at either reading of the repeated hour is on time, so DST
//! can delay an alert by at most the size of the shift and never cause one.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// How often a check is expected to succeed.
#[derive(Clone, Debug)]
pub enum Schedule {
    /// At least once per this period.
    Every(Duration),
    /// At every fire time of a 5-field cron expression in a time zone.
    Cron(Box<CronSchedule>),
}

/// A parsed cron expression bound to the time zone it is read in.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    /// The expression as written, for labels and messages.
    pub expression: String,
    /// The parsed pattern, matched against wall-clock time.
    cron: Cron,
    /// The zone whose wall clock the pattern is read on.
    pub timezone: Tz,
}

impl CronSchedule {
    /// Parses a standard 5-field expression (minute hour day-of-month month
    /// day-of-week; day-of-week 0 or 7 is Sunday; when both day fields are
    /// restricted either may match, as in Vixie cron).
    pub fn parse(expression: &str, timezone: Tz) -> Result<Self, String> {
        let fields = expression.split_whitespace().count();
        if fields != 5 && !expression.trim_start().starts_with('@') {
            let noun = if fields == 1 { "field" } else { "fields" };
            return Err(format!(
                "has {fields} {noun}; deadman takes the standard 5 \
                 (minute hour day-of-month month day-of-week)"
            ));
        }
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build();
        let cron = parser.parse(expression).map_err(|e| e.to_string())?;
        let schedule = CronSchedule {
            expression: expression.to_string(),
            cron,
            timezone,
        };
        // An expression such as "0 0 30 2 *" parses but never fires; a check
        // on it could never be late, which is worse than an error.
        let probe = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .map(|t| t.timestamp() as f64)
            .unwrap_or(0.0);
        if schedule.next_fire_after(probe).is_none() {
            return Err("never fires".to_string());
        }
        Ok(schedule)
    }

    /// The first fire time strictly after `after` (Unix seconds).
    pub fn next_fire_after(&self, after: f64) -> Option<f64> {
        // Fire times are whole minutes, so matching strictly after the whole
        // second that contains `after` cannot skip a fire.
        let start = self.wall_clock(after)?;
        self.search(start, Cron::find_next_occurrence, |t| t > after)
    }

    /// The last fire time at or before `at` (Unix seconds).
    pub fn last_fire_at_or_before(&self, at: f64) -> Option<f64> {
        // Start just after `at`'s minute so a fire at exactly `at` counts.
        let start = self.wall_clock(at)? + chrono::Duration::minutes(1);
        self.search(start, Cron::find_previous_occurrence, |t| t <= at)
    }

    fn wall_clock(&self, seconds: f64) -> Option<NaiveDateTime> {
        Some(
            utc_from_seconds(seconds)?
                .with_timezone(&self.timezone)
                .naive_local(),
        )
    }

    /// Steps from `cursor` through matching wall times (forwards or
    /// backwards, by `step`) until one resolves to an instant `accept`s.
    /// Only DST can make a wall time resolve on the wrong side (the repeated
    /// hour, or a gap's jump); 2 days of minutes is far more than that skips.
    fn search(
        &self,
        mut cursor: NaiveDateTime,
        step: fn(&Cron, &NaiveDateTime, bool) -> Result<NaiveDateTime, croner::errors::CronError>,
        accept: impl Fn(f64) -> bool,
    ) -> Option<f64> {
        for _ in 0..2880 {
            let wall = step(&self.cron, &cursor, false).ok()?;
            let seconds = resolve_wall_time(&self.timezone, wall)?.timestamp() as f64;
            if accept(seconds) {
                return Some(seconds);
            }
            cursor = wall;
        }
        None
    }

    /// The expression in plain English, e.g. "At 09:00 on Monday through Friday".
    pub fn describe(&self) -> String {
        self.cron.describe().trim_end_matches('.').to_string()
    }
}

/// Maps a wall-clock time to an instant with the DST rules in the module docs.
fn resolve_wall_time(tz: &Tz, wall: NaiveDateTime) -> Option<DateTime<Tz>> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => Some(t),
        LocalResult::Ambiguous(first, second) => Some(first.min(second)),
        LocalResult::None => {
            // In a gap: the first wall time after it that exists is the
            // moment the clock jumped. Real gaps are at most a few hours and
            // start on a whole minute.
            (1..=24 * 60).find_map(|minutes| {
                tz.from_local_datetime(&(wall + chrono::Duration::minutes(minutes)))
                    .earliest()
            })
        }
    }
}

fn utc_from_seconds(seconds: f64) -> Option<DateTime<Utc>> {
    if !seconds.is_finite() {
        return None;
    }
    let whole = seconds.floor();
    DateTime::from_timestamp(whole as i64, ((seconds - whole) * 1e9) as u32)
}

impl Schedule {
    /// The instant after which silence is an incident, counting from `base`
    /// (the last success, or when the check was first configured).
    pub fn deadline(&self, base: f64, grace: Duration) -> f64 {
        let next = match self {
            Schedule::Every(period) => Some(base + period.as_secs_f64()),
            Schedule::Cron(cron) => cron.next_fire_after(base),
        };
        // A cron that stops firing (its last year passed) is never late; the
        // config check rejects expressions that never fire at all.
        next.map_or(f64::INFINITY, |t| t + grace.as_secs_f64())
    }
}

impl fmt::Display for Schedule {
    /// The compact form used in the `schedule` label: `every 15m` or
    /// `cron 0 9 * * 1-5 Europe/London`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Every(period) => write!(f, "every {}", humantime::format_duration(*period)),
            Schedule::Cron(cron) => write!(f, "cron {} {}", cron.expression, cron.timezone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> f64 {
        tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .earliest()
            .expect("test instant exists")
            .timestamp() as f64
    }

    fn utc(rfc3339: &str) -> f64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .expect("test time parses")
            .timestamp() as f64
    }

    fn cron(expr: &str, tz: Tz) -> CronSchedule {
        CronSchedule::parse(expr, tz).expect("test cron parses")
    }

    #[test]
    fn every_adds_period_and_grace() {
        let s = Schedule::Every(Duration::from_secs(900));
        assert_eq!(s.deadline(1000.5, Duration::from_secs(600)), 2500.5);
    }

    #[test]
    fn cron_fires_strictly_after_base() {
        let c = cron("0 9 * * *", Tz::UTC);
        let nine = utc("2026-03-02T09:00:00Z");
        assert_eq!(c.next_fire_after(nine - 0.5), Some(nine));
        assert_eq!(c.next_fire_after(nine), Some(nine + 86400.0));
        assert_eq!(c.next_fire_after(nine + 0.25), Some(nine + 86400.0));
    }

    #[test]
    fn weekdays_use_standard_numbering() {
        // 2026-03-06 is a Friday: the next weekday fire is Monday the 9th.
        let c = cron("0 9 * * 1-5", Tz::Europe__London);
        let friday_ten = utc("2026-03-06T10:00:00Z");
        assert_eq!(
            c.next_fire_after(friday_ten),
            Some(utc("2026-03-09T09:00:00Z"))
        );
    }

    #[test]
    fn london_spring_forward_2026_gap_fires_at_jump() {
        // 2026-03-29 01:00 GMT the clocks jump to 02:00 BST; 01:30 does not exist.
        let c = cron("30 1 * * *", Tz::Europe__London);
        let before = utc("2026-03-28T12:00:00Z");
        assert_eq!(c.next_fire_after(before), Some(utc("2026-03-29T01:00:00Z")));
        // The day after, 01:30 BST exists again.
        assert_eq!(
            c.next_fire_after(utc("2026-03-29T01:00:00Z")),
            Some(utc("2026-03-30T00:30:00Z"))
        );
    }

    #[test]
    fn london_fall_back_2026_repeated_time_fires_once() {
        // 2026-10-25 02:00 BST the clocks go back to 01:00 GMT; 01:30 happens twice.
        let c = cron("30 1 * * *", Tz::Europe__London);
        let first = utc("2026-10-25T00:30:00Z"); // 01:30 BST
        assert_eq!(c.next_fire_after(utc("2026-10-24T12:00:00Z")), Some(first));
        // Not again at 01:30 GMT (01:30Z): the next fire is the next day.
        assert_eq!(c.next_fire_after(first), Some(utc("2026-10-26T01:30:00Z")));
    }

    #[test]
    fn london_2027_transitions() {
        // 2027-03-28 and 2027-10-31.
        let c = cron("30 1 * * *", Tz::Europe__London);
        assert_eq!(
            c.next_fire_after(utc("2027-03-27T12:00:00Z")),
            Some(utc("2027-03-28T01:00:00Z"))
        );
        assert_eq!(
            c.next_fire_after(utc("2027-10-30T12:00:00Z")),
            Some(utc("2027-10-31T00:30:00Z"))
        );
        assert_eq!(
            c.next_fire_after(utc("2027-10-31T00:30:00Z")),
            Some(utc("2027-11-01T01:30:00Z"))
        );
    }

    #[test]
    fn new_york_spring_forward_2026_and_2027() {
        // 2026-03-08 and 2027-03-14, 02:00 EST -> 03:00 EDT.
        let c = cron("30 2 * * *", Tz::America__New_York);
        assert_eq!(
            c.next_fire_after(utc("2026-03-07T12:00:00Z")),
            Some(at(Tz::America__New_York, 2026, 3, 7, 2, 30) + 86400.0 - 1800.0)
        );
        assert_eq!(
            c.next_fire_after(utc("2026-03-07T12:00:00Z")),
            Some(utc("2026-03-08T07:00:00Z"))
        );
        assert_eq!(
            c.next_fire_after(utc("2027-03-13T12:00:00Z")),
            Some(utc("2027-03-14T07:00:00Z"))
        );
        // The day after the gap the job is back at 02:30 EDT.
        assert_eq!(
            c.next_fire_after(utc("2026-03-08T07:00:00Z")),
            Some(utc("2026-03-09T06:30:00Z"))
        );
    }

    #[test]
    fn new_york_fall_back_2026_and_2027() {
        // 2026-11-01 and 2027-11-07, 02:00 EDT -> 01:00 EST; 01:30 twice.
        let c = cron("30 1 * * *", Tz::America__New_York);
        assert_eq!(
            c.next_fire_after(utc("2026-10-31T12:00:00Z")),
            Some(utc("2026-11-01T05:30:00Z"))
        );
        assert_eq!(
            c.next_fire_after(utc("2026-11-01T05:30:00Z")),
            Some(utc("2026-11-02T06:30:00Z"))
        );
        assert_eq!(
            c.next_fire_after(utc("2027-11-06T12:00:00Z")),
            Some(utc("2027-11-07T05:30:00Z"))
        );
    }

    #[test]
    fn fall_back_hourly_job_in_second_pass_waits_for_next_new_wall_time() {
        // A success during the repeated hour (01:10 EST, second pass) has its
        // next expected run at 02:00 EST, not at an 01:xx that already passed.
        let c = cron("0,30 * * * *", Tz::America__New_York);
        let second_pass = utc("2026-11-01T06:10:00Z"); // 01:10 EST
        assert_eq!(
            c.next_fire_after(second_pass),
            Some(utc("2026-11-01T07:00:00Z"))
        );
    }

    #[test]
    fn every_minute_across_spring_gap_has_no_duplicates() {
        let c = cron("* * * * *", Tz::America__New_York);
        let before_gap = utc("2026-03-08T06:59:00Z"); // 01:59 EST
        assert_eq!(
            c.next_fire_after(before_gap),
            Some(utc("2026-03-08T07:00:00Z"))
        );
        assert_eq!(
            c.next_fire_after(utc("2026-03-08T07:00:00Z")),
            Some(utc("2026-03-08T07:01:00Z"))
        );
    }

    #[test]
    fn cron_deadline_adds_grace() {
        let s = Schedule::Cron(Box::new(cron("0 9 * * *", Tz::UTC)));
        let base = utc("2026-03-02T09:00:05Z");
        assert_eq!(
            s.deadline(base, Duration::from_secs(600)),
            utc("2026-03-03T09:10:00Z")
        );
    }

    #[test]
    fn rejects_wrong_field_counts_and_never_firing() {
        assert!(CronSchedule::parse("0 0 9 * * *", Tz::UTC)
            .unwrap_err()
            .contains("has 6 fields"));
        assert_eq!(
            CronSchedule::parse("0 0 30 2 *", Tz::UTC).unwrap_err(),
            "never fires"
        );
        assert!(CronSchedule::parse("61 * * * *", Tz::UTC).is_err());
    }

    #[test]
    fn last_fire_at_or_before() {
        let c = cron("0 0 * * *", Tz::Europe__London);
        let midnight = utc("2026-06-09T23:00:00Z"); // 00:00 BST
        assert_eq!(c.last_fire_at_or_before(midnight), Some(midnight));
        assert_eq!(c.last_fire_at_or_before(midnight + 3600.0), Some(midnight));
        assert_eq!(
            c.last_fire_at_or_before(midnight - 1.0),
            Some(utc("2026-06-08T23:00:00Z"))
        );
        // Across the 2026-10-25 fall back: 25 hours in that day.
        assert_eq!(
            c.last_fire_at_or_before(utc("2026-10-25T23:30:00Z")),
            Some(utc("2026-10-24T23:00:00Z"))
        );
        assert_eq!(
            c.last_fire_at_or_before(utc("2026-10-26T00:30:00Z")),
            Some(utc("2026-10-26T00:00:00Z"))
        );
    }

    #[test]
    fn schedule_label() {
        assert_eq!(
            Schedule::Every(Duration::from_secs(900)).to_string(),
            "every 15m"
        );
        assert_eq!(
            Schedule::Cron(Box::new(cron("0 9 * * 1-5", Tz::Europe__London))).to_string(),
            "cron 0 9 * * 1-5 Europe/London"
        );
    }
}
