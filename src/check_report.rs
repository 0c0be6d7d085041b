//! [`CheckReport`]: what a check's config and state mean at one moment,
//! for people — the status pages, the JSON API and the badges all read it,
//! so they can never disagree with each other. Pure; unit-tested here.
//!
//! The conditions follow the shipped alert rules: failing once the last
//! `failure_threshold` runs in a row failed; late once the deadline (last
//! success or first configuration, plus period and grace) has passed;
//! running too long once the oldest run in progress is older than
//! `max_runtime`; ran too short when the most recent success, timed from
//! its start, took less than `min_runtime`; a value out of range as soon as
//! its latest report, not yet stale, is outside its bounds; failure rate high
//! when more than `max_failure_ratio` of the window's runs failed; volume low
//! once the window's due has passed with fewer than `min_records`; volume
//! high as soon as it holds more than `max_records`; expiring from
//! `warn_before` ahead of an expiry, expired from the moment itself. A
//! paused check shows every condition that holds, but `paused` first: no
//! alert fires for it.

use crate::config::Check;
use crate::model::check_state::{CheckState, Status};
use crate::model::expectations::ExpiryKind;
use crate::model::kind::FailReason;
use crate::state::CheckView;

mod assertions;

use assertions::{ratio_report, value_report};
pub use assertions::{RatioReport, ValueReport};

crate::string_enum! {
    /// One thing that can be true of a check, most urgent first: the order
    /// of [`Condition::ALL`] is the order pages sort and summarise by.
    pub enum Condition {
        /// The most recent run failed.
        Failing = "failing",
        /// Past its deadline without a success.
        Late = "late",
        /// A run has been in progress for longer than `max_runtime`.
        RunningTooLong = "running_too_long",
        /// The most recent success took less than `min_runtime`.
        RanTooShort = "ran_too_short",
        /// A declared value's latest report is outside its bounds.
        ValueOutOfRange = "value_out_of_range",
        /// More than `max_failure_ratio` of the window's runs failed.
        FailureRateHigh = "failure_rate_high",
        /// A declared expiry has passed.
        Expired = "expired",
        /// The volume window's due passed with fewer than `min_records`.
        VolumeLow = "volume_low",
        /// The volume window holds more than `max_records`.
        VolumeHigh = "volume_high",
        /// A declared expiry is within its `warn_before`.
        Expiring = "expiring",
        /// Paused (`paused`, `paused_until`): no alert fires for it. When it
        /// holds it comes first in a check's conditions, whatever else holds.
        Paused = "paused",
        /// A run is in progress (within `max_runtime`, if one is set).
        Running = "running",
        /// Never succeeded, and not yet past its first deadline.
        New = "new",
        /// Nothing above: the last run succeeded in time.
        Up = "up",
    }
}

impl Condition {
    /// Whether this condition pages (through the shipped rules) or warns,
    /// as opposed to an informational one (paused, running, new, up).
    pub fn is_problem(self) -> bool {
        !matches!(
            self,
            Condition::Paused | Condition::Running | Condition::New | Condition::Up
        )
    }
}

/// A run in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    pub rid: Option<String>,
    /// Unix seconds.
    pub started: f64,
    /// Seconds since it started.
    pub elapsed: f64,
}

/// The current volume window against its bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeReport {
    pub records: u64,
    pub min_records: u64,
    pub max_records: Option<u64>,
    /// Unix seconds: where the window starts, and when `min_records` must
    /// have been reached.
    pub start: f64,
    pub due: f64,
    pub low: bool,
    pub high: bool,
}

/// One declared expiry.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpiryReport {
    pub name: String,
    pub kind: ExpiryKind,
    /// Unix seconds; `None` until configured or reported.
    pub at: Option<f64>,
    /// Seconds before `at` that it counts as expiring.
    pub warn_before: f64,
    pub expiring: bool,
    pub expired: bool,
}

impl ExpiryReport {
    /// Seconds until it expires (negative once expired).
    pub fn remaining(&self, now: f64) -> Option<f64> {
        self.at.map(|at| at - now)
    }
}

/// A check at one moment.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// Every condition that holds, most urgent first; never empty.
    pub conditions: Vec<Condition>,
    /// The base status (failing, late, running, new, up), as in the
    /// landing page's first version and the dashboards.
    pub status: Status,
    /// Unix seconds by which the next success is expected (grace included).
    pub deadline: f64,
    /// Unix seconds; 0 for never.
    pub last_success: f64,
    pub last_failure: f64,
    pub last_start: f64,
    pub last_failure_reason: Option<FailReason>,
    /// The most recent failure's exit status, when it had one.
    pub last_failure_exit_status: Option<u8>,
    /// Failed runs since the last success, against `failure_threshold`.
    pub consecutive_failures: u64,
    /// Seconds the last completed (paired) run took; 0 if unknown.
    pub last_duration: f64,
    /// Seconds the most recent success took from its start; `None` if it
    /// had no start.
    pub last_success_duration: Option<f64>,
    pub runs: Vec<RunReport>,
    pub volume: Option<VolumeReport>,
    pub expiries: Vec<ExpiryReport>,
    pub failure_ratio: Option<RatioReport>,
    pub values: Vec<ValueReport>,
    /// Whether the check is paused now.
    pub paused: bool,
}

impl CheckReport {
    /// What `check` with state `view` means at `now` (Unix seconds).
    pub fn new(check: &Check, view: &CheckView, now: f64) -> CheckReport {
        let state = &view.state;
        let deadline = check.deadline(state);
        let status = state.status(deadline, now);
        let runs: Vec<RunReport> = state
            .runs
            .iter()
            .map(|run| RunReport {
                rid: run.rid.clone(),
                started: run.started,
                elapsed: (now - run.started).max(0.0),
            })
            .collect();
        let too_long = check.max_runtime.is_some_and(|max| {
            !state.runs.is_empty() && now - state.oldest_run_start() > max.as_secs_f64()
        });
        let volume = check.volume.as_ref().map(|volume| {
            let window = volume.view(&view.record_events, state.first_configured, now);
            VolumeReport {
                records: window.records,
                min_records: volume.min_records,
                max_records: volume.max_records,
                start: window.start,
                due: window.due,
                low: window.records < volume.min_records && now >= window.due,
                high: volume.max_records.is_some_and(|max| window.records > max),
            }
        });
        let expiries: Vec<ExpiryReport> = check
            .expiries
            .iter()
            .map(|expiry| {
                let at = state.expiries.get(&expiry.name).copied().or(expiry.at);
                let warn_before = expiry.warn_before.as_secs_f64();
                ExpiryReport {
                    name: expiry.name.clone(),
                    kind: expiry.kind,
                    at,
                    warn_before,
                    expiring: at.is_some_and(|at| now < at && at - warn_before <= now),
                    expired: at.is_some_and(|at| now >= at),
                }
            })
            .collect();
        let mut report = CheckReport {
            conditions: Vec::new(),
            status,
            deadline,
            last_success: state.last_success,
            last_failure: state.last_failure,
            last_start: state.last_start,
            last_failure_reason: state.last_failure_reason,
            last_failure_exit_status: state.last_failure_exit_status,
            consecutive_failures: state.consecutive_failures,
            last_duration: state.last_duration,
            last_success_duration: state.last_success_duration,
            runs,
            volume,
            expiries,
            failure_ratio: ratio_report(check, view, now),
            values: (check.values.iter())
                .map(|declared| value_report(check, declared, state, now))
                .collect(),
            paused: check.paused(now),
        };
        let late = now > deadline;
        report.conditions = conditions(check, state, &report, late, too_long);
        report
    }

    /// The most urgent condition: what a list sorts by and a badge shows.
    pub fn primary(&self) -> Condition {
        self.conditions.first().copied().unwrap_or(Condition::Up)
    }

    /// The nearest expiry that has a time, if any.
    pub fn nearest_expiry(&self) -> Option<&ExpiryReport> {
        self.expiries
            .iter()
            .filter(|e| e.at.is_some())
            .min_by(|a, b| a.at.partial_cmp(&b.at).unwrap_or(std::cmp::Ordering::Equal))
    }
}

/// Every condition that holds, in [`Condition::ALL`] order, except that
/// `paused` comes first when it holds.
fn conditions(
    check: &Check,
    state: &CheckState,
    report: &CheckReport,
    late: bool,
    too_long: bool,
) -> Vec<Condition> {
    let status = report.status;
    let volume = report.volume.as_ref();
    let expiries = &report.expiries;
    let holds = |condition: Condition| match condition {
        // A failing check has failed at least once in a row, whatever a
        // state stored before the count existed says.
        Condition::Failing => {
            status == Status::Failing
                && state.consecutive_failures.max(1) >= check.failure_threshold
        }
        // A failing check can be late too (nothing succeeded since); the
        // alerts page only for the failure, but a page shows both.
        Condition::Late => late,
        Condition::RunningTooLong => too_long,
        // Only while the newest run is that success: a later failure is
        // the check failing (as the rule DeadmanCheckRanTooShort says).
        Condition::RanTooShort => {
            report.last_success > report.last_failure
                && check.min_runtime.is_some_and(|min| {
                    (report.last_success_duration).is_some_and(|took| took < min.as_secs_f64())
                })
        }
        Condition::ValueOutOfRange => report.values.iter().any(|v| v.out_of_range),
        Condition::FailureRateHigh => report.failure_ratio.as_ref().is_some_and(|r| r.high),
        Condition::Expired => expiries.iter().any(|e| e.expired),
        Condition::VolumeLow => volume.is_some_and(|v| v.low),
        Condition::VolumeHigh => volume.is_some_and(|v| v.high),
        Condition::Expiring => expiries.iter().any(|e| e.expiring),
        Condition::Paused => report.paused,
        Condition::Running => !state.runs.is_empty() && !too_long,
        Condition::New => status == Status::New,
        Condition::Up => status == Status::Up,
    };
    let mut found: Vec<Condition> = Condition::ALL
        .iter()
        .copied()
        .filter(|c| holds(*c))
        .collect();
    // "Up" only when nothing else holds: an up check with a token about to
    // expire is expiring, not up.
    if found.len() > 1 {
        found.retain(|c| *c != Condition::Up);
    }
    if found.is_empty() {
        found.push(Condition::Up);
    }
    // A paused check is shown as paused, whatever else holds: that is why
    // nothing pages for it.
    if let Some(at) = found.iter().position(|c| *c == Condition::Paused) {
        found.remove(at);
        found.insert(0, Condition::Paused);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::model::check_state::Run;

    const NOW: f64 = 1_800_000_000.0;

    fn check(extra: &str) -> std::sync::Arc<Check> {
        let text = format!(
            "[[check]]\nname = \"a\"\nowner = \"ops\"\nevery = \"1h\"\ngrace = \"10m\"\n{extra}"
        );
        let config = Config::parse(&text, std::path::Path::new(".")).expect("valid");
        std::sync::Arc::clone(&config.checks[0])
    }

    fn view(state: CheckState) -> CheckView {
        CheckView {
            state,
            ..Default::default()
        }
    }

    fn conditions(check: &Check, state: CheckState, now: f64) -> Vec<Condition> {
        CheckReport::new(check, &view(state), now).conditions
    }

    #[test]
    fn a_check_is_new_then_late_then_up() {
        let check = check("");
        let fresh = CheckState::new(NOW);
        assert_eq!(
            conditions(&check, fresh.clone(), NOW + 60.0),
            [Condition::New]
        );
        // 1h period + 10m grace.
        assert_eq!(conditions(&check, fresh, NOW + 4201.0), [Condition::Late]);
        let mut ok = CheckState::new(NOW);
        ok.last_success = NOW + 100.0;
        assert_eq!(conditions(&check, ok, NOW + 200.0), [Condition::Up]);
    }

    #[test]
    fn a_failing_check_that_is_also_late_shows_both_failure_first() {
        let check = check("");
        let mut state = CheckState::new(NOW);
        state.last_success = NOW;
        state.last_failure = NOW + 10.0;
        state.last_failure_reason = Some(FailReason::Auth);
        let report = CheckReport::new(&check, &view(state), NOW + 5000.0);
        assert_eq!(report.conditions, [Condition::Failing, Condition::Late]);
        assert_eq!(report.primary(), Condition::Failing);
        assert_eq!(report.last_failure_reason, Some(FailReason::Auth));
    }

    #[test]
    fn a_run_is_running_until_it_passes_max_runtime() {
        let check = check("max_runtime = \"30m\"\n");
        let mut state = CheckState::new(NOW);
        state.last_success = NOW;
        state.runs.push(Run {
            rid: Some("r1".into()),
            started: NOW + 60.0,
            started_mono: None,
        });
        assert_eq!(
            conditions(&check, state.clone(), NOW + 120.0),
            [Condition::Running]
        );
        let report = CheckReport::new(&check, &view(state), NOW + 60.0 + 1801.0);
        assert_eq!(report.conditions, [Condition::RunningTooLong]);
        assert_eq!(report.runs[0].elapsed, 1801.0);
    }

    #[test]
    fn expiries_warn_ahead_and_expire_on_time() {
        let check = check(
            "[[check.expiry]]\nname = \"token\"\nkind = \"credential\"\nwarn_before = \"14d\"\n",
        );
        let mut state = CheckState::new(NOW);
        state.last_success = NOW;
        state.expiries.insert("token".into(), NOW + 10.0 * 86400.0);
        let report = CheckReport::new(&check, &view(state.clone()), NOW + 60.0);
        assert_eq!(report.conditions, [Condition::Expiring]);
        assert_eq!(
            report.nearest_expiry().and_then(|e| e.remaining(NOW)),
            Some(864000.0)
        );
        state.expiries.insert("token".into(), NOW + 30.0);
        let report = CheckReport::new(&check, &view(state), NOW + 60.0);
        assert_eq!(report.conditions, [Condition::Expired]);
        assert!(Condition::Expired.is_problem() && !Condition::Running.is_problem());
    }

    #[test]
    fn volume_is_low_only_after_its_due_and_high_at_once() {
        let check = check("[check.volume]\nmin_records = 10\nmax_records = 20\nwindow = \"1h\"\n");
        let mut state = CheckState::new(NOW);
        state.last_success = NOW + 10.0;
        let mut events = crate::model::expectations::RecordEvents::default();
        events.push(NOW + 10.0, 5);
        let early = CheckView {
            state: state.clone(),
            record_events: events.clone(),
            ..Default::default()
        };
        assert_eq!(
            CheckReport::new(&check, &early, NOW + 60.0).conditions,
            [Condition::Up]
        );
        let late = CheckReport::new(&check, &early, NOW + 3601.0);
        let volume = late.volume.expect("volume");
        assert!(volume.low && !volume.high && volume.min_records == 10);
        events.push(NOW + 20.0, 30);
        let high = CheckView {
            state,
            record_events: events,
            ..Default::default()
        };
        assert!(CheckReport::new(&check, &high, NOW + 60.0)
            .conditions
            .contains(&Condition::VolumeHigh));
    }
    #[test]
    fn failing_waits_for_the_threshold() {
        let check = check("failure_threshold = 3\n");
        let mut state = CheckState::new(NOW);
        state.last_success = NOW;
        state.last_failure = NOW + 10.0;
        state.consecutive_failures = 2;
        let report = CheckReport::new(&check, &view(state.clone()), NOW + 20.0);
        assert_eq!(report.conditions, [Condition::Up]);
        assert_eq!(
            report.status,
            Status::Failing,
            "the base status is the last run's"
        );
        state.consecutive_failures = 3;
        assert_eq!(conditions(&check, state, NOW + 20.0), [Condition::Failing]);
    }

    #[test]
    fn a_success_shorter_than_min_runtime_ran_too_short() {
        let check = check("min_runtime = \"30s\"\n");
        let mut state = CheckState::new(NOW);
        state.last_success = NOW + 10.0;
        state.last_success_duration = Some(0.2);
        assert_eq!(
            conditions(&check, state.clone(), NOW + 20.0),
            [Condition::RanTooShort]
        );
        state.last_success_duration = None;
        assert_eq!(
            conditions(&check, state.clone(), NOW + 20.0),
            [Condition::Up],
            "unknown is not short"
        );
        state.last_success_duration = Some(30.0);
        assert_eq!(
            conditions(&check, state.clone(), NOW + 20.0),
            [Condition::Up]
        );
        // A failure after the short success: failing, not also too short.
        state.last_success_duration = Some(0.2);
        state.last_failure = NOW + 15.0;
        state.consecutive_failures = 1;
        assert_eq!(conditions(&check, state, NOW + 20.0), [Condition::Failing]);
    }

    #[test]
    fn a_value_out_of_range_counts_until_it_is_stale() {
        let check = check("[[check.value]]\nname = \"unmatched\"\ndescription = \"invoices\"\nmax = 0\nfor = \"30m\"\n");
        let mut state = CheckState::new(NOW);
        state.last_success = NOW + 10.0;
        let report = CheckReport::new(&check, &view(state.clone()), NOW + 20.0);
        assert_eq!(report.values[0].value, None);
        assert_eq!(report.conditions, [Condition::Up]);
        let declared = check.values.clone();
        crate::model::values::record(
            &mut state.values,
            "unmatched",
            37.0,
            NOW + 10.0,
            declared.first(),
        );
        let report = CheckReport::new(&check, &view(state.clone()), NOW + 20.0);
        let value = &report.values[0];
        assert_eq!(
            (value.value, value.reported),
            (Some(37.0), Some(NOW + 10.0))
        );
        assert_eq!(value.for_seconds, Some(1800.0));
        assert_eq!(value.out_of_range_since, Some(NOW + 10.0));
        // Stale one period and grace (1h 10m) after the report.
        assert_eq!(value.stale_at, Some(NOW + 10.0 + 4200.0));
        assert_eq!(report.conditions, [Condition::ValueOutOfRange]);
        let stale = CheckReport::new(&check, &view(state), NOW + 10.0 + 4200.0);
        assert!(stale.values[0].stale && !stale.values[0].out_of_range);
        assert!(!stale.conditions.contains(&Condition::ValueOutOfRange));
    }

    #[test]
    fn a_high_failure_rate_is_reported_with_its_window() {
        use crate::model::failure_ratio::{minute_of, RunBucket};
        let check = check("max_failure_ratio = 0.2\nfailure_ratio_window = \"1h\"\n");
        let mut state = CheckState::new(NOW);
        state.last_success = NOW + 100.0;
        let mut view = view(state);
        view.run_buckets.set(RunBucket {
            minute: minute_of(NOW + 100.0),
            runs: 8,
            failures: 2,
        });
        let report = CheckReport::new(&check, &view, NOW + 200.0);
        let ratio = report.failure_ratio.clone().expect("declared");
        assert_eq!(
            (ratio.runs, ratio.failures, ratio.ratio, ratio.high),
            (8, 2, Some(0.25), true)
        );
        assert_eq!(ratio.window, 3600.0);
        assert_eq!(report.conditions, [Condition::FailureRateHigh]);
        assert_eq!(
            CheckReport::new(&check, &view, NOW + 3800.0).conditions,
            [Condition::Up]
        );
    }

    #[test]
    fn a_paused_check_shows_paused_first_until_its_pause_ends() {
        let check =
            check("paused_until = \"2027-01-15T09:00:00Z\"\npause_reason = \"migration\"\n");
        let end = 1_800_003_600.0;
        let mut state = CheckState::new(NOW);
        state.last_success = NOW;
        state.last_failure = NOW + 10.0;
        state.consecutive_failures = 1;
        let report = CheckReport::new(&check, &view(state.clone()), NOW + 60.0);
        assert!(report.paused);
        assert_eq!(report.conditions, [Condition::Paused, Condition::Failing]);
        assert_eq!(report.primary(), Condition::Paused);
        // The deadline counts from the end of the pause: 1h + 10m after it.
        assert_eq!(report.deadline, end + 4200.0);
        let after = CheckReport::new(&check, &view(state), end);
        assert!(!after.paused);
        assert_eq!(after.conditions, [Condition::Failing]);
        let fresh = CheckReport::new(&check, &view(CheckState::new(NOW)), NOW + 1.0);
        assert_eq!(fresh.conditions, [Condition::Paused, Condition::New]);
        assert!(!Condition::Paused.is_problem());
    }
}
