//! Pings into a batch (duplicates found, record events and run buckets
//! counted), and a committed batch into the working copy.

use std::collections::{HashMap, HashSet};

use crate::config::{Check, Config};
use crate::model::failure_ratio::{minute_of, RunBucket};
use crate::model::{CheckState, Kind};
use crate::name_hash::NameHash;
use crate::store::error::StoreError;
use crate::store::rid_index::RidKey;
use crate::store::seam::{Batch, JournalRow, RecordEvent, RunBucketRow};

use super::{Confirm, Effects, Outcome, PingJob, Seen, WorkingSet, HOT_CHECK_PINGS};

impl WorkingSet {
    /// The batch that records `jobs` (in arrival order), each job's outcome,
    /// and what applying it changes. Changes nothing: [`Self::apply_pings`]
    /// does, once committed. `confirm` reads a stored rid back when its
    /// hash matches (unused when the index keeps keys).
    pub fn plan_pings<'a>(
        &self,
        jobs: impl IntoIterator<Item = &'a PingJob>,
        config: &Config,
        confirm: &mut Confirm<'_>,
    ) -> Result<(Batch, Vec<Outcome>, Effects), StoreError> {
        let jobs: Vec<&PingJob> = jobs.into_iter().collect();
        let mut seen = |hash: u64, check: &str, kind: Kind, rid: &str| {
            let candidates = self
                .rids
                .candidates(hash)
                .map_err(|source| StoreError::Io {
                    context: "cannot read the run ids kept on disk".into(),
                    source: source.into(),
                })?;
            for seq in candidates {
                let matches = match self.rids.key_at(seq) {
                    Some(stored) => stored.is(check, kind, rid),
                    None if self.rids.keeps_keys() => false,
                    None => confirm(seq)?.is_some_and(|stored| stored.is(check, kind, rid)),
                };
                if matches {
                    return Ok(true);
                }
            }
            Ok(false)
        };
        self.plan_refs(&jobs, config, Some(&mut seen))
    }

    pub(super) fn plan(
        &self,
        jobs: &[PingJob],
        config: &Config,
        seen: Seen<'_>,
    ) -> (Batch, Vec<Outcome>, Effects) {
        let refs: Vec<&PingJob> = jobs.iter().collect();
        self.plan_refs(&refs, config, seen)
            .unwrap_or_else(|_| (Batch::default(), Vec::new(), Effects::default()))
    }

    fn plan_refs(
        &self,
        jobs: &[&PingJob],
        config: &Config,
        mut seen: Seen<'_>,
    ) -> Result<(Batch, Vec<Outcome>, Effects), StoreError> {
        let mut batch = Batch {
            history_limit: config.storage.history,
            ..Batch::default()
        };
        let mut effects = Effects::default();
        // Each check's state after the batch, and its entries in it.
        let mut work: HashMap<&str, (CheckState, u64), NameHash> = HashMap::default();
        let mut buckets: HashMap<(&str, i64), RunBucket, NameHash> = HashMap::default();
        let mut batch_rids: HashSet<(&str, Kind, &str)> = HashSet::new();
        let mut outcomes = Vec::with_capacity(jobs.len());
        let mut seq = self.last_seq;
        for job in jobs {
            let check = job.check.as_str();
            if let (Some(rid), Some(seen)) = (job.ping.rid.as_deref(), seen.as_mut()) {
                let kind = job.ping.kind;
                let hash = self.rids.hash(check, kind, rid);
                if batch_rids.contains(&(check, kind, rid)) || seen(hash, check, kind, rid)? {
                    outcomes.push(Outcome::Duplicate);
                    continue;
                }
                batch_rids.insert((check, kind, rid));
                let key = self.rids.keeps_keys().then(|| RidKey {
                    check: job.check.clone(),
                    kind,
                    rid: rid.to_string(),
                });
                effects
                    .rids
                    .push((job.check.clone(), hash, seq + 1, job.at.wall, key));
            }
            seq += 1;
            let configured = config.check(check).map(|c| c.as_ref());
            let declared = configured.map_or(&[][..], |c| c.values.as_slice());
            let (state, entries) = work.entry(check).or_insert_with(|| {
                let state = match self.checks.get(check) {
                    Some(view) => view.state.clone(),
                    None => CheckState::new(job.at.wall),
                };
                (state, 0)
            });
            state.apply(&job.ping, job.at, declared);
            *entries += 1;
            self.count_run(&mut buckets, job, configured);
            let counts_volume = matches!(job.ping.kind, Kind::Success | Kind::Fail)
                && configured.is_some_and(|c| c.volume.is_some());
            if let (true, Some(records)) = (counts_volume, job.ping.records) {
                effects.record_events.push(RecordEvent {
                    check: job.check.clone(),
                    at: job.at.wall,
                    records,
                });
            }
            batch.journal.push(JournalRow {
                seq,
                check: job.check.clone(),
                at: job.at.wall,
                ping: job.ping.clone(),
                remote_addr: job.remote_addr.clone(),
                user_agent: job.user_agent.clone(),
            });
            effects.last = Some((seq, job.at.wall));
            outcomes.push(Outcome::Accepted);
        }
        effects.states = work
            .into_iter()
            .map(|(name, (state, entries))| (name.to_string(), state, entries))
            .collect();
        effects.run_buckets = (buckets.into_iter())
            .map(|((check, _), bucket)| RunBucketRow {
                check: check.to_string(),
                bucket,
            })
            .collect();
        Ok((batch, outcomes, effects))
    }

    /// Counts a finished run (success or fail ping) into its minute's
    /// bucket, for checks with a failure ratio: the totals the batch will
    /// write, starting from what the working copy holds.
    fn count_run<'a>(
        &self,
        buckets: &mut HashMap<(&'a str, i64), RunBucket, NameHash>,
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

    /// Makes a committed batch of pings part of the working copy. Returns
    /// how many run ids younger than a day had to be forgotten to respect
    /// the cap.
    pub fn apply_pings(&mut self, effects: Effects, config: &Config, now: f64) -> usize {
        for (name, state, entries) in effects.states {
            self.checks.set_state(&name, state);
            let since = self.dirty.entry(name).or_insert(0);
            let was_hot = *since >= HOT_CHECK_PINGS;
            *since += entries;
            self.hot += usize::from(!was_hot && *since >= HOT_CHECK_PINGS);
        }
        for event in effects.record_events {
            if let Some(view) = self.checks.get_mut(&event.check) {
                view.record_events.push(event.at, event.records);
                if let Some(volume) = config.check(&event.check).and_then(|c| c.volume.as_ref()) {
                    view.record_events.prune(volume.horizon(now));
                }
                self.pending_events.push(event);
            }
        }
        for row in effects.run_buckets {
            if let Some(view) = self.checks.get_mut(&row.check) {
                view.run_buckets.set(row.bucket);
                if let Some(ratio) = config
                    .check(&row.check)
                    .and_then(|c| c.failure_ratio.as_ref())
                {
                    view.run_buckets.prune(ratio.horizon(now));
                }
                self.pending_buckets.insert((row.check, row.bucket.minute));
            }
        }
        if let Some((seq, at)) = effects.last {
            // The sample is the batch's *first* entry: every entry from it
            // on counts as arriving by `at`, so none is taken for older
            // than it is (taking the last would age the rest of the batch
            // by a minute, and a check's first batch by a day).
            self.rids.advance(self.last_seq + 1, at);
            self.last_seq = seq;
        }
        let mut forgotten_early = 0;
        for (check, hash, seq, at, key) in effects.rids {
            if self.checks.get(&check).is_some() {
                let (forgotten, early) = self.rids.insert(&check, key, hash, seq, at);
                forgotten_early += early;
                self.pending_forget.extend(forgotten);
            }
        }
        forgotten_early
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn duplicates_within_a_batch_and_across_batches_change_nothing() {
        let config = config(CONFIG);
        let mut set = started(&config, 1000.0);
        let jobs = [
            job("orders", Some("r1"), Some(5), 1001.0),
            job("orders", Some("r1"), Some(5), 1002.0),
        ];
        let (batch, outcomes, effects) = plan(&set, &jobs, &config);
        assert_eq!(outcomes, [Outcome::Accepted, Outcome::Duplicate]);
        assert_eq!(batch.journal.len(), 1);
        assert_eq!(effects.record_events.len(), 1);
        set.apply_pings(effects, &config, 1002.0);

        let (batch, outcomes, _) = plan(&set, &jobs[..1], &config);
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
        let (_, _, batch) = plan(&set, &[job("orders", Some("r"), Some(3), 1001.0)], &config);
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
        let (_, _, batch) = plan(&set, &jobs, &config);
        assert_eq!(batch.record_events.len(), 1);
        set.apply_pings(batch, &config, 1001.0);
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
        let (_, _, batch) = plan(&set, &jobs, &config);
        assert_eq!(batch.run_buckets.len(), 1, "one minute of one check");
        assert_eq!(
            (
                batch.run_buckets[0].bucket.runs,
                batch.run_buckets[0].bucket.failures
            ),
            (2, 1),
            "the start is no finished run"
        );
        set.apply_pings(batch, &config, 6020.0);
        // The next batch starts from the totals already kept.
        let (_, _, batch) = plan(&set, &[job("flaky", None, None, 6030.0)], &config);
        assert_eq!(batch.run_buckets[0].bucket.runs, 3);
        set.apply_pings(batch, &config, 6030.0);
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
