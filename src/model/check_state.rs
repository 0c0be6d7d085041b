//! Per-check state and how a ping changes it. Pure: time comes in as a
//! [`Stamp`], so every transition is unit-tested without a clock.

use std::collections::BTreeMap;
use std::time::Duration;

use super::kind::{FailReason, Kind};
use super::ping::Ping;
use super::schedule::Schedule;
use super::values::{self, DeclaredValue, ReportedValues};
use crate::clock::Stamp;

/// Unfinished runs kept per check; a job that only ever pings `/start`
/// (crashing before it finishes) must not grow memory without bound.
pub const MAX_RUNS_IN_PROGRESS: usize = 64;

/// Failure times kept per check, newest last: as many as the largest
/// `failure_threshold` allowed, so that raising a check's threshold by a
/// reload never leaves it short of the failures it must count.
pub const MAX_RECENT_FAILURES: usize = 100;

/// Everything deadman knows about one check. Timestamps are Unix seconds;
/// 0 means "never", which is also what the metrics export.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct CheckState {
    /// When the check first appeared in the config; the deadline of a check
    /// that never succeeded counts from here, so it still becomes late.
    pub first_configured: f64,
    /// When the check left the config; its state is kept for the retention
    /// period in case it comes back. `None` while configured.
    pub removed_at: Option<f64>,
    pub last_success: f64,
    pub last_failure: f64,
    /// Reason of the most recent failure, for alert descriptions.
    pub last_failure_reason: Option<FailReason>,
    /// Exit status of the most recent failure, when it was reported as one
    /// (`/ping/<check>/3`), so the alert can say "exit status 3".
    pub last_failure_exit_status: Option<u8>,
    /// Failed runs since the last success: `failure_threshold` pages only
    /// once it is reached, and one success resets it.
    pub consecutive_failures: u64,
    /// When the failures since the last success happened, oldest first, at
    /// most [`MAX_RECENT_FAILURES`]. Exported for checks with a
    /// `failure_threshold`, so that with several replicas the rules can
    /// count the failures newer than the newest success any replica saw:
    /// each replica's own count includes failures before a success that
    /// reached another replica, and would page early.
    pub recent_failures: Vec<f64>,
    pub last_start: f64,
    /// Seconds between the last finished run's start and its finish; 0 when
    /// no finished run had a start.
    pub last_duration: f64,
    /// How long the most recent success ran, from its start ping; `None`
    /// when that success had no start to pair with, so `min_runtime` judges
    /// only runs whose duration is known.
    pub last_success_duration: Option<f64>,
    /// Started runs not yet finished, oldest first.
    pub runs: Vec<Run>,
    /// Accepted pings by [`Kind::index`]; never reset, so they are counters.
    pub pings: [u64; Kind::COUNT],
    /// Records reported by success and fail pings.
    pub records: u64,
    /// Failures by [`FailReason::index`].
    pub failures: [u64; FailReason::COUNT],
    /// Expiries reported by the integration (name → Unix seconds); they
    /// override the configured `at`.
    pub expiries: BTreeMap<String, f64>,
    /// The latest report of each declared value (`value.<name>=N`).
    pub values: ReportedValues,
}

/// A started, unfinished run.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The start ping's rid, which a finish ping may name to pair with it.
    pub rid: Option<String>,
    /// Wall-clock start, for metrics and for runs restored after a restart.
    pub started: f64,
    /// Monotonic start, when the start was seen by this process.
    pub started_mono: Option<Duration>,
}

impl CheckState {
    pub fn new(first_configured: f64) -> Self {
        CheckState {
            first_configured,
            ..Default::default()
        }
    }

    /// Applies an accepted (non-duplicate) ping received at `at`; its
    /// values are judged against `declared`, the check's `[[check.value]]`.
    pub fn apply(&mut self, ping: &Ping, at: Stamp, declared: &[DeclaredValue]) {
        self.pings[ping.kind.index()] = self.pings[ping.kind.index()].saturating_add(1);
        for (name, expires) in &ping.expiries {
            self.expiries.insert(name.clone(), *expires);
        }
        for (name, value) in &ping.values {
            let spec = declared.iter().find(|d| d.name == *name);
            values::record(&mut self.values, name, *value, at.wall, spec);
        }
        match ping.kind {
            Kind::Success => {
                // Pings are stamped on arrival and committed in batches, so
                // one stamped earlier can be applied later: the newest
                // event decides what "last" means.
                let newest = at.wall >= self.last_success;
                if at.wall >= self.last_failure {
                    self.consecutive_failures = 0;
                }
                self.recent_failures.retain(|&failed| failed > at.wall);
                self.last_success = self.last_success.max(at.wall);
                // Saturating: a counter must never wrap (Prometheus would read a reset).
                self.records = self.records.saturating_add(ping.records.unwrap_or(0));
                let duration = self.finish_run(ping.rid.as_deref(), at);
                if newest {
                    self.last_success_duration = duration;
                }
            }
            Kind::Fail => {
                let reason = ping.reason.unwrap_or(FailReason::Other);
                if at.wall >= self.last_failure {
                    self.last_failure = at.wall;
                    self.last_failure_reason = Some(reason);
                    self.last_failure_exit_status = ping.exit_status;
                }
                if at.wall >= self.last_success {
                    self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                    self.remember_failure(at.wall);
                }
                self.failures[reason.index()] = self.failures[reason.index()].saturating_add(1);
                // Saturating: a counter must never wrap (Prometheus would read a reset).
                self.records = self.records.saturating_add(ping.records.unwrap_or(0));
                self.finish_run(ping.rid.as_deref(), at);
            }
            Kind::Start => {
                self.last_start = self.last_start.max(at.wall);
                if self.runs.len() >= MAX_RUNS_IN_PROGRESS {
                    self.runs.remove(0);
                }
                self.runs.push(Run {
                    rid: ping.rid.clone(),
                    started: at.wall,
                    started_mono: Some(at.mono),
                });
            }
            Kind::Log => {}
        }
    }

    /// Adds a failure to `recent_failures` in time order (one stamped
    /// earlier can be applied later), forgetting the oldest past the cap.
    fn remember_failure(&mut self, at: f64) {
        let position = self.recent_failures.partition_point(|&failed| failed <= at);
        self.recent_failures.insert(position, at);
        if self.recent_failures.len() > MAX_RECENT_FAILURES {
            self.recent_failures.remove(0);
        }
    }

    /// Pairs a finish with its start: the run with the same rid, else the
    /// most recent run without a rid (a finish with no rid takes the most
    /// recent run of any kind). Unpaired finishes leave the duration alone.
    /// Returns the run's duration when it was paired.
    fn finish_run(&mut self, rid: Option<&str>, at: Stamp) -> Option<f64> {
        let position = match rid {
            Some(rid) => self
                .runs
                .iter()
                .rposition(|r| r.rid.as_deref() == Some(rid))
                .or_else(|| self.runs.iter().rposition(|r| r.rid.is_none())),
            None => self.runs.len().checked_sub(1),
        };
        let run = self.runs.remove(position?);
        let seconds = match run.started_mono {
            Some(start) => at.mono.saturating_sub(start).as_secs_f64(),
            None => (at.wall - run.started).max(0.0),
        };
        self.last_duration = seconds;
        Some(seconds)
    }

    /// Start of the oldest unfinished run, or 0.
    pub fn oldest_run_start(&self) -> f64 {
        self.runs
            .iter()
            .map(|r| r.started)
            .min_by(f64::total_cmp)
            .unwrap_or(0.0)
    }

    /// Where the deadline counts from: the last success (or the first
    /// configuration), or the end of a pause if that is later.
    pub fn deadline_base(&self, paused_until: Option<f64>) -> f64 {
        let base = if self.last_success > 0.0 {
            self.last_success
        } else {
            self.first_configured
        };
        base.max(paused_until.unwrap_or(0.0))
    }

    /// The instant after which the check's silence is an incident: the one
    /// place a deadline is derived from state, for scrapes, pages and docs.
    /// After a pause with an end (`paused_until`), the check gets a whole
    /// period and its grace from that end, as if it had succeeded then: a
    /// job that resumes on schedule after planned downtime is not late the
    /// moment the pause lifts.
    pub fn deadline(&self, schedule: &Schedule, grace: Duration, paused_until: Option<f64>) -> f64 {
        schedule.deadline(self.deadline_base(paused_until), grace)
    }
}

crate::string_enum! {
    /// A check's condition at a moment, as the landing page shows it. The
    /// alert rules compute the same from the exported gauges.
    pub enum Status {
        /// Never succeeded, and not yet past its first deadline.
        New = "new",
        /// Last run succeeded and the deadline has not passed.
        Up = "up",
        /// Past its deadline.
        Late = "late",
        /// The most recent run failed.
        Failing = "failing",
        /// A run is in progress (and nothing worse is true).
        Running = "running",
    }
}

impl CheckState {
    /// Most telling first: failing (it names a cause, and the Failing alert
    /// inhibits Late), then late, running, new, up — the same order as the
    /// dashboards.
    pub fn status(&self, deadline: f64, now: f64) -> Status {
        if self.last_failure > self.last_success {
            Status::Failing
        } else if now > deadline {
            Status::Late
        } else if !self.runs.is_empty() {
            Status::Running
        } else if self.last_success == 0.0 {
            Status::New
        } else {
            Status::Up
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(wall: f64) -> Stamp {
        Stamp {
            wall,
            mono: Duration::from_secs_f64(wall - 1000.0),
        }
    }

    fn ping(kind: Kind, rid: Option<&str>, records: Option<u64>) -> Ping {
        Ping {
            kind,
            reason: (kind == Kind::Fail).then_some(FailReason::Auth),
            exit_status: None,
            records,
            rid: rid.map(String::from),
            message: None,
            expiries: Vec::new(),
            values: Vec::new(),
        }
    }

    #[test]
    fn success_moves_freshness_and_counts_records() {
        let mut s = CheckState::new(1000.0);
        assert_eq!(s.deadline_base(None), 1000.0);
        s.apply(&ping(Kind::Success, None, Some(5)), stamp(1010.0), &[]);
        assert_eq!(s.last_success, 1010.0);
        assert_eq!(s.records, 5);
        assert_eq!(s.pings, [1, 0, 0, 0]);
        assert_eq!(s.deadline_base(None), 1010.0);
    }

    #[test]
    fn failures_and_logs_do_not_move_freshness() {
        let mut s = CheckState::new(1000.0);
        s.apply(&ping(Kind::Fail, None, Some(2)), stamp(1010.0), &[]);
        s.apply(&ping(Kind::Log, None, Some(99)), stamp(1011.0), &[]);
        assert_eq!(s.last_success, 0.0);
        assert_eq!(s.last_failure, 1010.0);
        assert_eq!(s.last_failure_reason, Some(FailReason::Auth));
        assert_eq!(s.failures[FailReason::Auth.index()], 1);
        assert_eq!(s.records, 2, "log records are not counted");
        assert_eq!(s.deadline_base(None), 1000.0);
    }

    #[test]
    fn late_arriving_stamp_does_not_move_time_backwards() {
        let mut s = CheckState::new(1000.0);
        s.apply(&ping(Kind::Success, None, None), stamp(1020.0), &[]);
        s.apply(&ping(Kind::Success, None, None), stamp(1019.0), &[]);
        assert_eq!(s.last_success, 1020.0);
    }

    #[test]
    fn duration_pairs_by_rid_then_most_recent() {
        let mut s = CheckState::new(1000.0);
        s.apply(&ping(Kind::Start, Some("a"), None), stamp(1100.0), &[]);
        s.apply(&ping(Kind::Start, Some("b"), None), stamp(1105.0), &[]);
        assert_eq!(s.runs.len(), 2);
        assert_eq!(s.oldest_run_start(), 1100.0);
        s.apply(&ping(Kind::Success, Some("a"), None), stamp(1130.0), &[]);
        assert_eq!(s.last_duration, 30.0);
        assert_eq!(s.runs.len(), 1);
        s.apply(&ping(Kind::Fail, None, None), stamp(1110.0 + 15.0), &[]);
        assert_eq!(s.last_duration, 20.0, "b ran 1105..1125");
        assert!(s.runs.is_empty());
        assert_eq!(s.oldest_run_start(), 0.0);
    }

    #[test]
    fn restored_run_uses_wall_clock() {
        let mut s = CheckState::new(1000.0);
        s.runs.push(Run {
            rid: None,
            started: 1200.0,
            started_mono: None,
        });
        s.apply(&ping(Kind::Success, None, None), stamp(1290.0), &[]);
        assert_eq!(s.last_duration, 90.0);
    }

    #[test]
    fn runs_in_progress_are_bounded() {
        let mut s = CheckState::new(1000.0);
        for i in 0..(MAX_RUNS_IN_PROGRESS + 10) {
            s.apply(
                &ping(Kind::Start, None, None),
                stamp(1000.0 + i as f64),
                &[],
            );
        }
        assert_eq!(s.runs.len(), MAX_RUNS_IN_PROGRESS);
        assert_eq!(s.oldest_run_start(), 1010.0);
    }

    #[test]
    fn status_worst_first() {
        let mut s = CheckState::new(1000.0);
        assert_eq!(s.status(2000.0, 1500.0), Status::New);
        assert_eq!(s.status(2000.0, 2000.5), Status::Late);
        s.apply(&ping(Kind::Start, None, None), stamp(1100.0), &[]);
        assert_eq!(s.status(2000.0, 1500.0), Status::Running);
        s.apply(&ping(Kind::Success, None, None), stamp(1200.0), &[]);
        assert_eq!(s.status(2000.0, 1500.0), Status::Up);
        s.apply(&ping(Kind::Fail, None, None), stamp(1300.0), &[]);
        assert_eq!(s.status(2000.0, 1500.0), Status::Failing);
        assert_eq!(
            s.status(2000.0, 2500.0),
            Status::Failing,
            "failing wins over late"
        );
    }
    #[test]
    fn consecutive_failures_count_until_a_success_and_keep_the_exit_status() {
        let mut s = CheckState::new(1000.0);
        let mut exit = ping(Kind::Fail, None, None);
        exit.reason = Some(FailReason::ExitCode);
        exit.exit_status = Some(3);
        s.apply(&exit, stamp(1010.0), &[]);
        s.apply(&ping(Kind::Log, None, None), stamp(1011.0), &[]);
        s.apply(&ping(Kind::Fail, None, None), stamp(1020.0), &[]);
        assert_eq!(s.consecutive_failures, 2, "logs do not count");
        assert_eq!(
            s.last_failure_exit_status, None,
            "the last failure had none"
        );
        s.apply(&exit, stamp(1030.0), &[]);
        assert_eq!(s.last_failure_exit_status, Some(3));
        // A failure stamped before the last one keeps the newest's status.
        s.apply(&ping(Kind::Fail, None, None), stamp(1025.0), &[]);
        assert_eq!(s.last_failure_exit_status, Some(3));
        assert_eq!(s.consecutive_failures, 4);
        s.apply(&ping(Kind::Success, None, None), stamp(1040.0), &[]);
        assert_eq!(s.consecutive_failures, 0);
        // A failure stamped before that success is not part of a new streak.
        s.apply(&ping(Kind::Fail, None, None), stamp(1035.0), &[]);
        assert_eq!(s.consecutive_failures, 0);
        s.apply(&ping(Kind::Fail, None, None), stamp(1050.0), &[]);
        assert_eq!(s.consecutive_failures, 1);
    }

    #[test]
    fn recent_failures_are_those_after_the_last_success_in_time_order() {
        let mut s = CheckState::new(1000.0);
        let fail = ping(Kind::Fail, None, None);
        for at in [1010.0, 1030.0, 1020.0] {
            s.apply(&fail, stamp(at), &[]);
        }
        assert_eq!(s.recent_failures, [1010.0, 1020.0, 1030.0]);
        // A success applied late (stamped before the newest failure) drops
        // only the failures before it.
        s.apply(&ping(Kind::Success, None, None), stamp(1025.0), &[]);
        assert_eq!(s.recent_failures, [1030.0]);
        s.apply(&ping(Kind::Success, None, None), stamp(1040.0), &[]);
        assert!(s.recent_failures.is_empty());
        for i in 0..(MAX_RECENT_FAILURES + 5) {
            s.apply(&fail, stamp(1100.0 + i as f64), &[]);
        }
        assert_eq!(s.recent_failures.len(), MAX_RECENT_FAILURES);
        assert_eq!(s.recent_failures[0], 1105.0, "the oldest are forgotten");
        assert_eq!(s.consecutive_failures, (MAX_RECENT_FAILURES + 5) as u64);
    }

    #[test]
    fn a_success_keeps_its_duration_only_when_it_had_a_start() {
        let mut s = CheckState::new(1000.0);
        s.apply(&ping(Kind::Start, Some("a"), None), stamp(1100.0), &[]);
        s.apply(&ping(Kind::Success, Some("a"), None), stamp(1100.5), &[]);
        assert_eq!(s.last_success_duration, Some(0.5));
        s.apply(&ping(Kind::Success, None, None), stamp(1200.0), &[]);
        assert_eq!(
            s.last_success_duration, None,
            "no start: unknown, not the old one"
        );
        assert_eq!(s.last_duration, 0.5, "the last paired run's duration stays");
        s.apply(&ping(Kind::Start, None, None), stamp(1300.0), &[]);
        s.apply(&ping(Kind::Fail, None, None), stamp(1301.0), &[]);
        assert_eq!(s.last_success_duration, None, "a failure is no success");
        assert_eq!(s.last_duration, 1.0);
    }

    #[test]
    fn values_are_recorded_from_any_ping_and_judged_against_their_bounds() {
        let declared = [DeclaredValue {
            name: "unmatched".into(),
            description: String::new(),
            min: None,
            max: Some(0.0),
            for_duration: None,
        }];
        let mut s = CheckState::new(1000.0);
        let mut start = ping(Kind::Start, None, None);
        start.values = vec![("unmatched".into(), 37.0)];
        s.apply(&start, stamp(1010.0), &declared);
        let kept = &s.values["unmatched"];
        assert_eq!(
            (kept.value, kept.at, kept.out_of_range_since),
            (37.0, 1010.0, Some(1010.0))
        );
        assert_eq!(s.pings[Kind::Start.index()], 1);
    }

    #[test]
    fn a_pause_with_an_end_moves_the_deadline_base_to_it() {
        let mut s = CheckState::new(1000.0);
        let every = Schedule::Every(Duration::from_secs(600));
        let grace = Duration::from_secs(60);
        assert_eq!(s.deadline(&every, grace, None), 1660.0);
        assert_eq!(s.deadline(&every, grace, Some(5000.0)), 5660.0);
        s.apply(&ping(Kind::Success, None, None), stamp(6000.0), &[]);
        assert_eq!(
            s.deadline(&every, grace, Some(5000.0)),
            6660.0,
            "a later success wins"
        );
    }
}
