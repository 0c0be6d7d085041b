//! The writer's in-memory copy of all check state, and how pings and config
//! changes become [`Batch`]es. Pure: no I/O, no clock, no threads, so group
//! commit's rules (duplicates, volume events, reconcile) are unit-tested
//! here and the writer thread only sequences plan → commit → apply.
//!
//! Planning never changes anything; only a batch the store has committed is
//! applied. So a failed commit leaves memory exactly as it was.

use std::collections::{HashMap, HashSet};

use super::seam::{Batch, HistoryRow, RecordEvent, RidRow, RunBucketRow, Snapshot};
use crate::clock::Stamp;
use crate::config::{Check, Config};
use crate::model::expectations::RECORD_RETENTION;
use crate::model::failure_ratio::{minute_of, RunBucket, MAX_RATIO_WINDOW};
use crate::model::recent_rids::{RecentRids, RID_MIN_AGE};
use crate::model::{CheckState, Kind, Ping};
use crate::state::StateSnapshot;

/// A ping that passed lookup, auth and parsing.
#[derive(Debug)]
pub struct PingJob {
    pub check: String,
    pub ping: Ping,
    /// When the request arrived (not when it was committed).
    pub at: Stamp,
    /// Who sent it, for the history.
    pub remote_addr: String,
    pub user_agent: Option<String>,
}

/// What happened to a ping that reached the writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Applied and durable.
    Accepted,
    /// Same (check, kind, rid) as one already accepted: nothing changed.
    Duplicate,
}

/// All check state as the writer holds it.
#[derive(Default)]
pub struct WorkingSet {
    /// What readers will see at the next publish; shares structure with
    /// every snapshot already published.
    checks: StateSnapshot,
    /// Run ids per check. Only the writer reads them (duplicate detection
    /// happens where state changes), so they are never published.
    rids: HashMap<String, RecentRids>,
}

impl WorkingSet {
    /// The state a store held at startup.
    pub fn restore(snapshot: Snapshot) -> WorkingSet {
        let mut set = WorkingSet::default();
        for (name, state) in snapshot.checks {
            set.checks.entry(&name).state = state;
        }
        for row in snapshot.rids {
            if set.checks.get(&row.check).is_some() {
                set.rids
                    .entry(row.check)
                    .or_default()
                    .insert(row.kind, &row.rid, row.at);
            }
        }
        for event in snapshot.record_events {
            if let Some(view) = set.checks.get_mut(&event.check) {
                view.record_events.push(event.at, event.records);
            }
        }
        for row in snapshot.run_buckets {
            if let Some(view) = set.checks.get_mut(&row.check) {
                view.run_buckets.set(row.bucket);
            }
        }
        set
    }

    /// What to publish: O(1), shares everything with the working copy.
    pub fn snapshot(&self) -> StateSnapshot {
        self.checks.clone()
    }

    /// The batch that records `jobs` (in arrival order), and each job's
    /// outcome. Changes nothing: [`Self::apply`] does, once committed.
    pub fn plan_pings<'a>(
        &self,
        jobs: impl IntoIterator<Item = &'a PingJob>,
        config: &Config,
    ) -> (Batch, Vec<Outcome>) {
        let mut batch = Batch {
            history_limit: config.storage.history,
            ..Batch::default()
        };
        let mut work: HashMap<&str, CheckState> = HashMap::new();
        let mut buckets: HashMap<(&str, i64), RunBucket> = HashMap::new();
        let mut batch_rids: HashSet<(&str, Kind, &str)> = HashSet::new();
        let mut outcomes = Vec::new();
        for job in jobs {
            let check = job.check.as_str();
            if let Some(rid) = job.ping.rid.as_deref() {
                let seen_before = self
                    .rids
                    .get(check)
                    .is_some_and(|rids| rids.contains(job.ping.kind, rid));
                if seen_before || !batch_rids.insert((check, job.ping.kind, rid)) {
                    outcomes.push(Outcome::Duplicate);
                    continue;
                }
                batch.rids.push(RidRow {
                    check: job.check.clone(),
                    kind: job.ping.kind,
                    rid: rid.to_string(),
                    at: job.at.wall,
                });
            }
            let configured = config.check(check).map(|c| c.as_ref());
            let declared = configured.map_or(&[][..], |c| c.values.as_slice());
            work.entry(check)
                .or_insert_with(|| match self.checks.get(check) {
                    Some(view) => view.state.clone(),
                    None => CheckState::new(job.at.wall),
                })
                .apply(&job.ping, job.at, declared);
            self.count_run(&mut buckets, job, configured);
            let counts_volume = matches!(job.ping.kind, Kind::Success | Kind::Fail)
                && configured.is_some_and(|c| c.volume.is_some());
            if let (true, Some(records)) = (counts_volume, job.ping.records) {
                batch.record_events.push(RecordEvent {
                    check: job.check.clone(),
                    at: job.at.wall,
                    records,
                });
            }
            batch.history.push(history_row(job));
            outcomes.push(Outcome::Accepted);
        }
        batch.states = work
            .into_iter()
            .map(|(name, state)| (name.to_string(), state))
            .collect();
        batch.run_buckets = (buckets.into_iter())
            .map(|((check, _), bucket)| RunBucketRow {
                check: check.to_string(),
                bucket,
            })
            .collect();
        (batch, outcomes)
    }

    /// Counts a finished run (success or fail ping) into its minute's
    /// bucket, for checks with a failure ratio: the totals the batch will
    /// write, starting from what the working copy holds.
    fn count_run<'a>(
        &self,
        buckets: &mut HashMap<(&'a str, i64), RunBucket>,
        job: &'a PingJob,
        configured: Option<&Check>,
    ) {
        let failed = match job.ping.kind {
            Kind::Success => false,
            Kind::Fail => true,
            Kind::Start | Kind::Log => return,
        };
        if configured.is_none_or(|c| c.failure_ratio.is_none()) {
            return;
        }
        let minute = minute_of(job.at.wall);
        let bucket = buckets.entry((&job.check, minute)).or_insert_with(|| {
            (self.checks.get(&job.check))
                .and_then(|view| view.run_buckets.get(minute))
                .unwrap_or(RunBucket {
                    minute,
                    runs: 0,
                    failures: 0,
                })
        });
        bucket.runs = bucket.runs.saturating_add(1);
        bucket.failures = bucket.failures.saturating_add(u64::from(failed));
    }

    /// Makes a committed batch part of the working copy. Returns how many
    /// run ids younger than a day had to be forgotten to respect the cap.
    pub fn apply(&mut self, batch: &Batch, config: &Config, now: f64) -> usize {
        for (name, state) in &batch.states {
            self.checks.entry(name).state = state.clone();
        }
        for event in &batch.record_events {
            if let Some(view) = self.checks.get_mut(&event.check) {
                view.record_events.push(event.at, event.records);
                if let Some(volume) = config.check(&event.check).and_then(|c| c.volume.as_ref()) {
                    view.record_events.prune(volume.horizon(now));
                }
            }
        }
        for row in &batch.run_buckets {
            if let Some(view) = self.checks.get_mut(&row.check) {
                view.run_buckets.set(row.bucket);
                if let Some(ratio) = config
                    .check(&row.check)
                    .and_then(|c| c.failure_ratio.as_ref())
                {
                    view.run_buckets.prune(ratio.horizon(now));
                }
            }
        }
        for name in &batch.purged {
            self.checks.remove(name);
            self.rids.remove(name);
        }
        let mut forgotten = 0;
        for row in &batch.rids {
            if self.checks.get(&row.check).is_some() {
                forgotten += self
                    .rids
                    .entry(row.check.clone())
                    .or_default()
                    .insert(row.kind, &row.rid, row.at);
            }
        }
        forgotten
    }

    /// What `config` at `now` changes about the known checks, as a batch:
    /// new checks' first-configured time, returns, removals, and purges
    /// past retention. Changes nothing.
    pub fn reconcile(&self, config: &Config, now: f64) -> Batch {
        let retention = config.storage.retention.as_secs_f64();
        let mut batch = Batch {
            history_limit: config.storage.history,
            ..Batch::default()
        };
        for check in &config.checks {
            match self.checks.get(&check.name) {
                None => batch
                    .states
                    .push((check.name.clone(), CheckState::new(now))),
                Some(view) if view.state.removed_at.is_some() => {
                    let mut state = view.state.clone();
                    state.removed_at = None;
                    batch.states.push((check.name.clone(), state));
                }
                Some(_) => {}
            }
        }
        for (name, view) in self.checks.iter() {
            if config.check(name).is_some() {
                continue;
            }
            match view.state.removed_at {
                None => {
                    let mut state = view.state.clone();
                    state.removed_at = Some(now);
                    batch.states.push((name.to_string(), state));
                }
                Some(removed) if now - removed >= retention => batch.purged.push(name.to_string()),
                Some(_) => {}
            }
        }
        batch
    }

    /// The periodic batch: reconcile (for purges), rid and record pruning.
    pub fn maintenance(&self, config: &Config, now: f64) -> Batch {
        Batch {
            prune_rids_before: Some(now - RID_MIN_AGE),
            // No window needs more; memory prunes per check.
            prune_record_events_before: Some(now - RECORD_RETENTION.as_secs_f64()),
            prune_run_buckets_before: Some(minute_of(now - MAX_RATIO_WINDOW.as_secs_f64())),
            ..self.reconcile(config, now)
        }
    }

    /// Drops record events and run buckets no window needs any more (and
    /// all of them for checks without a volume expectation or a failure
    /// ratio).
    pub fn prune_windows(&mut self, config: &Config, now: f64) {
        self.prune_record_events(config, now);
        self.prune_run_buckets(config, now);
    }

    fn prune_run_buckets(&mut self, config: &Config, now: f64) {
        for name in self.checks.names() {
            let ratio = config.check(&name).and_then(|c| c.failure_ratio.as_ref());
            let Some(view) = self.checks.get(&name) else {
                continue;
            };
            let horizon = ratio.map(|r| minute_of(r.horizon(now)));
            let needs_pruning = match horizon {
                Some(first) => view.run_buckets.oldest().is_some_and(|m| m < first),
                None => !view.run_buckets.is_empty(),
            };
            // Only touched checks are copied out of the published snapshot.
            if !needs_pruning {
                continue;
            }
            if let Some(view) = self.checks.get_mut(&name) {
                match ratio {
                    Some(ratio) => view.run_buckets.prune(ratio.horizon(now)),
                    None => view.run_buckets = Default::default(),
                }
            }
        }
    }

    fn prune_record_events(&mut self, config: &Config, now: f64) {
        for name in self.checks.names() {
            let volume = config.check(&name).and_then(|c| c.volume.as_ref());
            let Some(view) = self.checks.get(&name) else {
                continue;
            };
            let needs_pruning = match volume {
                Some(volume) => view
                    .record_events
                    .oldest()
                    .is_some_and(|at| at < volume.horizon(now)),
                None => !view.record_events.is_empty(),
            };
            // Only touched checks are copied out of the published snapshot.
            if !needs_pruning {
                continue;
            }
            if let Some(view) = self.checks.get_mut(&name) {
                match volume {
                    Some(volume) => view.record_events.prune(volume.horizon(now)),
                    None => view.record_events = Default::default(),
                }
            }
        }
    }
}

fn history_row(job: &PingJob) -> HistoryRow {
    HistoryRow {
        check: job.check.clone(),
        at: job.at.wall,
        kind: job.ping.kind,
        rid: job.ping.rid.clone(),
        records: job.ping.records,
        reason: job.ping.reason,
        exit_status: job.ping.exit_status,
        message: job.ping.message.clone(),
        remote_addr: job.remote_addr.clone(),
        user_agent: job.user_agent.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;

    const CONFIG: &str = r#"
[[check]]
name = "orders"
owner = "ops"
every = "1h"
[check.volume]
min_records = 10
window = "1h"

[[check]]
name = "plain"
owner = "ops"
every = "1h"
"#;

    fn config(text: &str) -> Config {
        Config::parse(text, Path::new(".")).expect("test config")
    }

    fn job(check: &str, rid: Option<&str>, records: Option<u64>, wall: f64) -> PingJob {
        PingJob {
            check: check.into(),
            ping: Ping {
                kind: Kind::Success,
                reason: None,
                exit_status: None,
                records,
                rid: rid.map(String::from),
                message: None,
                expiries: Vec::new(),
                values: Vec::new(),
            },
            at: Stamp {
                wall,
                mono: Duration::from_secs_f64(wall),
            },
            remote_addr: "127.0.0.1".into(),
            user_agent: None,
        }
    }

    fn started(config: &Config, now: f64) -> WorkingSet {
        let mut set = WorkingSet::default();
        let batch = set.reconcile(config, now);
        set.apply(&batch, config, now);
        set
    }

    #[test]
    fn duplicates_within_a_batch_and_across_batches_change_nothing() {
        let config = config(CONFIG);
        let mut set = started(&config, 1000.0);
        let jobs = [
            job("orders", Some("r1"), Some(5), 1001.0),
            job("orders", Some("r1"), Some(5), 1002.0),
        ];
        let (batch, outcomes) = set.plan_pings(&jobs, &config);
        assert_eq!(outcomes, [Outcome::Accepted, Outcome::Duplicate]);
        assert_eq!(batch.history.len(), 1);
        assert_eq!(batch.record_events.len(), 1);
        set.apply(&batch, &config, 1002.0);

        let (batch, outcomes) = set.plan_pings(&jobs[..1], &config);
        assert_eq!(outcomes, [Outcome::Duplicate]);
        assert!(batch.is_empty());
        let view = set.snapshot();
        assert_eq!(view.get("orders").map(|v| v.state.records), Some(5));
    }

    #[test]
    fn planning_changes_nothing_until_applied() {
        let config = config(CONFIG);
        let set = started(&config, 1000.0);
        let before = set.snapshot();
        let (batch, _) = set.plan_pings(&[job("orders", Some("r"), Some(3), 1001.0)], &config);
        assert_eq!(batch.states.len(), 1);
        let after = set.snapshot();
        assert_eq!(after.get("orders"), before.get("orders"));
        assert_eq!(after.get("orders").map(|v| v.state.last_success), Some(0.0));
    }

    #[test]
    fn only_checks_with_a_volume_expectation_keep_record_events() {
        let config = config(CONFIG);
        let mut set = started(&config, 1000.0);
        let jobs = [
            job("orders", None, Some(7), 1001.0),
            job("plain", None, Some(7), 1001.0),
        ];
        let (batch, _) = set.plan_pings(&jobs, &config);
        assert_eq!(batch.record_events.len(), 1);
        set.apply(&batch, &config, 1001.0);
        let view = set.snapshot();
        assert_eq!(view.get("orders").map(|v| v.record_events.len()), Some(1));
        assert_eq!(view.get("plain").map(|v| v.record_events.len()), Some(0));
        assert_eq!(view.get("plain").map(|v| v.state.records), Some(7));

        // An hour later the event is outside the window.
        set.prune_windows(&config, 1001.0 + 3601.0);
        let view = set.snapshot();
        assert_eq!(view.get("orders").map(|v| v.record_events.len()), Some(0));
    }

    #[test]
    fn reconcile_marks_removals_restores_returns_and_purges_after_retention() {
        let both = config(CONFIG);
        let mut set = started(&both, 1000.0);
        let only_orders = config(
            "[storage]\nretention = \"1h\"\n[[check]]\nname = \"orders\"\nowner = \"ops\"\nevery = \"1h\"\n",
        );
        let batch = set.reconcile(&only_orders, 2000.0);
        assert_eq!(batch.states.len(), 1);
        assert_eq!(batch.states[0].0, "plain");
        assert_eq!(batch.states[0].1.removed_at, Some(2000.0));
        set.apply(&batch, &only_orders, 2000.0);

        assert!(set.reconcile(&only_orders, 2000.0 + 3599.0).is_empty());
        let batch = set.reconcile(&only_orders, 2000.0 + 3600.0);
        assert_eq!(batch.purged, ["plain"]);

        let batch = set.reconcile(&both, 2500.0);
        assert_eq!(batch.states.len(), 1);
        assert_eq!(batch.states[0].1.removed_at, None, "came back");
        assert_eq!(batch.states[0].1.first_configured, 1000.0, "kept its state");
    }
    #[test]
    fn finished_runs_of_checks_with_a_failure_ratio_are_counted_per_minute() {
        let config = config(
            "[[check]]\nname = \"flaky\"\nowner = \"ops\"\nevery = \"1h\"\n\
             max_failure_ratio = 0.2\nfailure_ratio_window = \"1h\"\n\n\
             [[check]]\nname = \"plain\"\nowner = \"ops\"\nevery = \"1h\"\n",
        );
        let mut set = started(&config, 6000.0);
        let mut fail = job("flaky", None, None, 6010.0);
        fail.ping.kind = Kind::Fail;
        let mut start = job("flaky", None, None, 6011.0);
        start.ping.kind = Kind::Start;
        let jobs = [
            job("flaky", None, None, 6001.0),
            fail,
            start,
            job("plain", None, None, 6002.0),
        ];
        let (batch, _) = set.plan_pings(&jobs, &config);
        assert_eq!(batch.run_buckets.len(), 1, "one minute of one check");
        assert_eq!(
            (
                batch.run_buckets[0].bucket.runs,
                batch.run_buckets[0].bucket.failures
            ),
            (2, 1),
            "the start is no finished run"
        );
        set.apply(&batch, &config, 6020.0);
        // The next batch starts from the totals already kept.
        let (batch, _) = set.plan_pings(&[job("flaky", None, None, 6030.0)], &config);
        assert_eq!(batch.run_buckets[0].bucket.runs, 3);
        set.apply(&batch, &config, 6030.0);
        let view = set.snapshot();
        let flaky = view.get("flaky").expect("flaky");
        assert_eq!(flaky.run_buckets.since(0.0).runs, 3);
        assert!(view.get("plain").is_some_and(|v| v.run_buckets.is_empty()));
        // An hour and a minute later the window no longer needs the bucket.
        set.prune_windows(&config, 6030.0 + 3660.0);
        assert!(set
            .snapshot()
            .get("flaky")
            .is_some_and(|v| v.run_buckets.is_empty()));
    }
}
