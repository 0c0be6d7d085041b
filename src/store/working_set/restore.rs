//! The state a store held at startup: the checkpoint, the rids, and the
//! journal entries after the checkpoint applied again under the config.

use std::time::Duration;

use crate::clock::Stamp;
use crate::config::Config;
use crate::store::rid_index::{RidIndex, RidKey};
use crate::store::seam::{JournalRow, RidRow, Snapshot};

use super::{Effects, PingJob, Unconfigured, WorkingSet};

impl Unconfigured {
    /// How many checks the store held.
    pub fn restored_checks(&self) -> usize {
        self.restored_checks
    }

    /// Remembers a stored rid; call with every one, oldest first
    /// ([`crate::store::seam::Store::each_rid`]).
    pub fn remember_stored_rid(&mut self, row: RidRow) {
        self.set.restore_rid(row);
    }

    /// Applies the journal entries after the checkpoint under `config`,
    /// then forgets rids past retention.
    pub fn configure(self, config: &Config, now: f64) -> WorkingSet {
        let mut set = self.set;
        set.replay(self.replay, config, now);
        set.prune_rids(now);
        set
    }
}

impl WorkingSet {
    /// The state a store held at startup, as far as it goes without the
    /// config, so it can run while the config is parsed: the checkpoint as
    /// stored, and the journal entries after it, not yet applied. `rids`
    /// is an empty index for the stored rids
    /// ([`Unconfigured::remember_stored_rid`]).
    pub fn read(snapshot: Snapshot, rids: RidIndex) -> Unconfigured {
        let mut set = WorkingSet {
            rids,
            last_seq: snapshot.last_seq,
            ..WorkingSet::default()
        };
        let restored_checks = snapshot.checks.len();
        for (name, state) in snapshot.checks {
            set.checks.entry(&name).state = state;
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
        Unconfigured {
            set,
            replay: snapshot.replay,
            restored_checks,
        }
    }

    /// A rid as stored; rows come oldest first. The same key twice (stored
    /// again after it was forgotten) is remembered once.
    fn restore_rid(&mut self, row: RidRow) {
        if self.checks.get(&row.check).is_none() {
            return;
        }
        let keep_keys = self.rids.keeps_keys();
        let hash = self.rids.hash(&row.check, row.kind, &row.rid);
        let key = RidKey {
            check: row.check,
            kind: row.kind,
            rid: row.rid,
        };
        // A candidate here needs no read: only an identical key is a
        // duplicate, and stored keys are compared below.
        if !self.loaded_twice(hash, &key) {
            self.rids.advance(row.seq, row.at);
            let (forgotten, _) = self.rids.insert(
                &key.check.clone(),
                keep_keys.then_some(key),
                hash,
                row.seq,
                row.at,
            );
            self.pending_forget.extend(forgotten);
        }
    }

    /// Whether `key` is already remembered, during restore. Only an index
    /// that keeps keys can say for sure; otherwise the answer is no,
    /// without a read (the store never holds one key twice in its live
    /// window, and remembering a rid once more is harmless either way).
    fn loaded_twice(&self, hash: u64, key: &RidKey) -> bool {
        self.rids.keeps_keys()
            && self.rids.candidates(hash).is_ok_and(|candidates| {
                candidates
                    .iter()
                    .any(|seq| self.rids.key_at(*seq) == Some(key))
            })
    }

    /// Applies journal entries again after a crash, in order, without
    /// duplicate checks (they were accepted once already).
    fn replay(&mut self, rows: Vec<JournalRow>, config: &Config, now: f64) {
        if rows.is_empty() {
            return;
        }
        let replayed = rows.len();
        let jobs: Vec<PingJob> = rows
            .into_iter()
            .map(|row| {
                self.last_seq = self.last_seq.max(row.seq);
                PingJob {
                    check: row.check,
                    ping: row.ping,
                    // Monotonic time of another process means nothing here:
                    // durations of runs within the replay use wall time.
                    at: Stamp {
                        wall: row.at,
                        mono: Duration::from_secs_f64(row.at.max(0.0)),
                    },
                    remote_addr: row.remote_addr,
                    user_agent: row.user_agent,
                }
            })
            .collect();
        let last_seq = self.last_seq;
        for chunk in jobs.chunks(4096) {
            let (_, _, effects) = self.plan(chunk, config, None);
            let effects = Effects {
                rids: Vec::new(),
                last: None,
                ..effects
            };
            self.apply_pings(effects, config, now);
        }
        self.last_seq = last_seq;
        // Runs started in the replay were started by an earlier process.
        for name in self.dirty.keys() {
            if let Some(view) = self.checks.get_mut(name) {
                for run in &mut view.state.runs {
                    run.started_mono = None;
                }
            }
        }
        tracing::info!(
            pings = replayed,
            "applied journal entries newer than the last checkpoint again"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::Outcome;
    use super::*;
    use crate::model::{CheckState, Kind};
    use crate::store::rid_index::Forgotten;
    use crate::store::seam::{Batch, RecordEvent};

    /// A working set restored from `snapshot` and the stored `rids`.
    fn restored(snapshot: Snapshot, rids: Vec<RidRow>, config: &Config, now: f64) -> WorkingSet {
        let mut read = WorkingSet::read(snapshot, RidIndex::keeping_keys());
        for row in rids {
            read.remember_stored_rid(row);
        }
        read.configure(config, now)
    }

    #[test]
    fn crowded_rids_are_pruned_a_block_at_a_time_beyond_the_newest_ten_thousand() {
        use crate::model::recent_rids::{RID_FORGET_BLOCK, RID_MIN_COUNT};
        let config = config(CONFIG);
        let rid = |seq: u64, check: &str, rid: String, at: f64| RidRow {
            seq,
            check: check.into(),
            kind: Kind::Success,
            rid,
            at,
        };
        let crowd = RID_MIN_COUNT + RID_FORGET_BLOCK + 50;
        let mut rids: Vec<RidRow> = (0..crowd)
            .map(|i| rid(i as u64 + 1, "orders", format!("r{i}"), i as f64))
            .collect();
        rids.push(rid(crowd as u64 + 1, "plain", "old".into(), 0.0));
        let snapshot = Snapshot {
            checks: vec![
                ("orders".into(), CheckState::new(0.0)),
                ("plain".into(), CheckState::new(0.0)),
            ],
            last_seq: crowd as u64 + 1,
            ..Snapshot::default()
        };
        let set = restored(snapshot, rids, &config, 1e9);
        assert_eq!(set.rids.check_len("orders"), RID_MIN_COUNT + 50);
        assert_eq!(
            set.rids.check_len("plain"),
            1,
            "uncrowded check keeps its rids"
        );
        assert_eq!(
            set.pending_forget,
            [Forgotten {
                check: "orders".into(),
                before: RID_FORGET_BLOCK as u64 + 1
            }],
            "deleted with the next checkpoint"
        );
        let last_forgotten = format!("r{}", RID_FORGET_BLOCK - 1);
        let first_kept = format!("r{RID_FORGET_BLOCK}");
        for (rid, outcome) in [
            ("r0", Outcome::Accepted),
            (last_forgotten.as_str(), Outcome::Accepted),
            (first_kept.as_str(), Outcome::Duplicate),
        ] {
            let (_, outcomes, _) = plan(&set, &[job("orders", Some(rid), None, 1e9)], &config);
            assert_eq!(outcomes, [outcome], "{rid}");
        }
    }

    #[test]
    fn a_restore_applies_the_journal_after_the_checkpoint_again() {
        let config = config(CONFIG);
        let mut checkpointed = CheckState::new(1000.0);
        checkpointed.records = 5;
        checkpointed.pings[Kind::Success.index()] = 1;
        checkpointed.last_success = 1001.0;
        let row = |seq: u64, rid: &str, records: u64, at: f64| {
            let job = job("orders", Some(rid), Some(records), at);
            JournalRow {
                seq,
                check: job.check,
                at,
                ping: job.ping,
                remote_addr: job.remote_addr,
                user_agent: None,
            }
        };
        let mut start = row(3, "run", 0, 1003.0);
        start.ping.kind = Kind::Start;
        start.ping.records = None;
        let snapshot = Snapshot {
            checks: vec![("orders".into(), checkpointed)],
            record_events: vec![RecordEvent {
                check: "orders".into(),
                at: 1001.0,
                records: 5,
            }],
            replay: vec![row(2, "b", 7, 1002.0), start],
            last_seq: 3,
            ..Snapshot::default()
        };
        let rid = |seq: u64, rid: &str, at: f64| RidRow {
            seq,
            check: "orders".into(),
            kind: Kind::Success,
            rid: rid.into(),
            at,
        };
        let rids = vec![rid(1, "a", 1001.0), rid(2, "b", 1002.0)];
        let set = restored(snapshot, rids, &config, 1004.0);
        let view = set.snapshot();
        let orders = view.get("orders").expect("orders");
        assert_eq!(orders.state.records, 12);
        assert_eq!(orders.state.pings[Kind::Success.index()], 2);
        assert_eq!(orders.state.last_success, 1002.0);
        assert_eq!(orders.record_events.since(0.0), 12);
        assert_eq!(orders.state.runs.len(), 1);
        assert_eq!(
            orders.state.runs[0].started_mono, None,
            "another process's run"
        );
        assert_eq!(set.dirty(), 1, "written with the next checkpoint");
        assert_eq!(set.last_seq, 3);
        // Both rids stay duplicates; the next ping continues the journal.
        let jobs = [
            job("orders", Some("a"), Some(1), 1005.0),
            job("orders", Some("b"), Some(1), 1005.0),
            job("orders", Some("c"), Some(1), 1005.0),
        ];
        let (batch, outcomes, _) = plan(&set, &jobs, &config);
        assert_eq!(
            outcomes,
            [Outcome::Duplicate, Outcome::Duplicate, Outcome::Accepted]
        );
        assert_eq!(batch.journal[0].seq, 4);
        let checkpoint = set.checkpoint(Batch::default(), &config);
        assert_eq!(checkpoint.through, Some(3));
        assert_eq!(checkpoint.states.len(), 1);
        assert_eq!(checkpoint.record_events.len(), 1, "the replayed event");
    }
}
