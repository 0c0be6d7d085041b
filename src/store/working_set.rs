//! The writer's in-memory copy of all check state, and how pings and config
//! changes become [`Batch`]es. No store I/O, no clock, no threads, so group
//! commit's rules (duplicates, volume events, reconcile, checkpoints) are
//! unit-tested here and the writer thread only sequences plan → commit →
//! apply. The one read it needs, confirming a rid whose hash matched, is
//! handed in as a function (the rid index's own scratch files, see
//! [`super::rid_spill`], are its only other I/O).
//!
//! Planning never changes anything; only a batch the store has committed is
//! applied. So a failed commit leaves memory exactly as it was.
//!
//! A batch of pings is only journal entries. What they changed (state,
//! record events, run buckets) is written later, in a checkpoint of every
//! check changed since the last one; until then a crash is recovered by
//! applying the journal entries again ([`WorkingSet::read`], then
//! [`Unconfigured::configure`]).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::error::StoreError;
use super::rid_index::{Forgotten, RidIndex, RidKey};
use super::seam::{Batch, JournalRow, RecordEvent, RidRow, RunBucketRow, Snapshot};
use crate::clock::Stamp;
use crate::config::{Check, Config};
use crate::model::expectations::RECORD_RETENTION;
use crate::model::failure_ratio::{minute_of, RunBucket, MAX_RATIO_WINDOW};
use crate::model::{CheckState, Kind, Ping};
use crate::name_hash::NameHash;
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

/// Most check rows one checkpoint writes, so that one stays short (about
/// 50 ms) however many checks changed; a round of checkpoints writes the
/// rest between the next batches of pings.
pub const CHECKPOINT_MAX_STATES: usize = 5_000;

/// A check journaled this many times since its last checkpoint is
/// checkpointed on its own at once, so that the trim of its history moves
/// a few thousand journal rows in one transaction rather than everything
/// it took in between two regular checkpoints (measured with one check
/// taking 68,000 pings/s: ping p99 5 ms instead of 110 ms).
pub const HOT_CHECK_PINGS: u64 = 4_096;

/// Reads back the rid of a journal entry, to confirm a hash match.
pub type Confirm<'a> = dyn FnMut(u64) -> Result<Option<RidKey>, StoreError> + 'a;

/// Whether a rid (its hash, check, kind and rid) was accepted before;
/// `None` in a replay.
type Seen<'a> = Option<&'a mut dyn FnMut(u64, &str, Kind, &str) -> Result<bool, StoreError>>;

/// What a committed batch of pings changes in memory.
#[derive(Debug, Default)]
pub struct Effects {
    /// Each changed check's new state, and how many journal entries the
    /// batch adds for it.
    states: Vec<(String, CheckState, u64)>,
    record_events: Vec<RecordEvent>,
    run_buckets: Vec<RunBucketRow>,
    /// (check, hash, seq, at, key) of each accepted rid; the key only for
    /// an index that keeps keys (most stores read rids back instead).
    rids: Vec<(String, u64, u64, f64, Option<RidKey>)>,
    /// The last sequence number used, and when.
    last: Option<(u64, f64)>,
}

/// A working set read from a store, before the config is known: the
/// journal entries after the checkpoint are applied under the config
/// ([`Unconfigured::configure`]), since what a ping changes depends on it.
pub struct Unconfigured {
    /// The checkpoint as stored, rids included.
    set: WorkingSet,
    /// Journal entries newer than the checkpoint, oldest first.
    replay: Vec<JournalRow>,
    /// How many checks the store held, for the startup log and metric.
    restored_checks: usize,
}

impl Unconfigured {
    /// How many checks the store held.
    pub fn restored_checks(&self) -> usize {
        self.restored_checks
    }

    /// Remembers a stored rid; call with every one, oldest first
    /// ([`super::seam::Store::each_rid`]).
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

/// All check state as the writer holds it.
#[derive(Default)]
pub struct WorkingSet {
    /// What readers will see at the next publish; shares structure with
    /// every snapshot already published.
    checks: StateSnapshot,
    /// Run ids of every check. Only the writer reads them (duplicate
    /// detection happens where state changes), so they are never published.
    rids: RidIndex,
    /// The last journal sequence number used.
    last_seq: u64,
    /// Checks changed since the last checkpoint, with how many journal
    /// entries each has had since its own.
    dirty: HashMap<String, u64, NameHash>,
    /// How many of `dirty` have had [`HOT_CHECK_PINGS`] entries or more.
    hot: usize,
    /// Record events and run buckets since the last checkpoint.
    pending_events: Vec<RecordEvent>,
    pending_buckets: HashSet<(String, i64), NameHash>,
    /// Rids forgotten by retention, to delete from the store.
    pending_forget: Vec<Forgotten>,
    /// The last sequence number the last checkpoint reflected.
    checkpointed_seq: u64,
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

    /// Forgets rids past retention in checks that were not pinged since.
    pub fn prune_rids(&mut self, now: f64) {
        let forgotten = self.rids.prune(now);
        self.pending_forget.extend(forgotten);
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

    /// What to publish: O(1), shares everything with the working copy.
    pub fn snapshot(&self) -> StateSnapshot {
        self.checks.clone()
    }

    /// Checks changed since the last checkpoint.
    pub fn dirty(&self) -> usize {
        self.dirty.len()
    }

    /// Whether a check has had [`HOT_CHECK_PINGS`] journal entries since
    /// its last checkpoint ([`Self::checkpoint_hot`]).
    pub fn has_hot_check(&self) -> bool {
        self.hot > 0
    }

    /// Pings journaled since the last checkpoint.
    pub fn journaled_since_checkpoint(&self) -> u64 {
        self.last_seq - self.checkpointed_seq
    }

    /// Rids remembered, of every check.
    #[cfg(test)]
    pub fn rids_remembered(&self) -> usize {
        self.rids.len()
    }

    /// Entries of the rid index kept on disk rather than in memory.
    #[cfg(test)]
    pub fn rids_on_disk(&self) -> u64 {
        self.rids.on_disk()
    }

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

    fn plan(
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

    /// A checkpoint: the state of checks changed since the last one (at
    /// most [`CHECKPOINT_MAX_STATES`], the first by name; the rest go in
    /// the next), with `changes` (from [`Self::reconcile`]) on top, and the
    /// record events and run buckets those checks added meanwhile. Each
    /// check's row says up to which journal entry it is current, so a
    /// checkpoint of some checks is as valid as one of all. Changes
    /// nothing: [`Self::apply_checkpoint`] does, once committed.
    pub fn checkpoint(&self, changes: Batch, config: &Config) -> Batch {
        let written: HashSet<&str, NameHash> = changes
            .states
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        let purged: HashSet<&str, NameHash> = changes.purged.iter().map(String::as_str).collect();
        let mut due: Vec<&String> = (self.dirty.keys())
            .filter(|name| !written.contains(name.as_str()) && !purged.contains(name.as_str()))
            .collect();
        // The first names in key order, not any: `checks` is a b-tree on
        // the name, so a part of a large round then rewrites a run of
        // neighbouring leaf pages instead of a page per check (measured at
        // 100,000 checks under load: 2.5 times fewer bytes written, and
        // ping p99 halved, as each part's transaction is shorter).
        let room = CHECKPOINT_MAX_STATES.saturating_sub(changes.states.len());
        if due.len() > room {
            due.select_nth_unstable(room);
            due.truncate(room);
        }
        due.sort_unstable();
        self.checkpoint_of(changes, due, config)
    }

    /// A checkpoint of only the checks with [`HOT_CHECK_PINGS`] journal
    /// entries or more since their last one; the others wait for the next
    /// regular checkpoint. Changes nothing.
    pub fn checkpoint_hot(&self, config: &Config) -> Batch {
        let mut due: Vec<&String> = (self.dirty.iter())
            .filter(|(_, &entries)| entries >= HOT_CHECK_PINGS)
            .map(|(name, _)| name)
            .collect();
        due.sort_unstable();
        self.checkpoint_of(Batch::default(), due, config)
    }

    /// `changes` with the state of the checks `due`, and the record events
    /// and run buckets of every check it writes.
    fn checkpoint_of(&self, changes: Batch, due: Vec<&String>, config: &Config) -> Batch {
        let mut states = changes.states;
        let mut written: HashSet<String, NameHash> =
            states.iter().map(|(name, _)| name.clone()).collect();
        for name in due {
            if let Some(view) = self.checks.get(name) {
                states.push((name.clone(), view.state.clone()));
                written.insert(name.clone());
            }
        }
        let record_events = (self.pending_events.iter())
            .filter(|event| written.contains(&event.check))
            .cloned()
            .collect();
        let run_buckets = (self.pending_buckets.iter())
            .filter(|(check, _)| written.contains(check))
            .filter_map(|(check, minute)| {
                let bucket = self.checks.get(check)?.run_buckets.get(*minute)?;
                Some(RunBucketRow {
                    check: check.clone(),
                    bucket,
                })
            })
            .collect();
        Batch {
            states,
            through: Some(self.last_seq),
            history_limit: config.storage.history,
            record_events,
            run_buckets,
            forget_rids: self.pending_forget.clone(),
            ..changes
        }
    }

    /// Makes a committed checkpoint part of the working copy.
    pub fn apply_checkpoint(&mut self, batch: &Batch) {
        for (name, state) in &batch.states {
            // Most are the working copy's own state, written as it is.
            if self.checks.get(name).map(|view| &view.state) != Some(state) {
                self.checks.set_state(name, state.clone());
            }
        }
        for name in &batch.purged {
            self.checks.remove(name);
            self.rids.remove_check(name);
        }
        let written: HashSet<&str, NameHash> = (batch.states.iter().map(|(name, _)| name.as_str()))
            .chain(batch.purged.iter().map(String::as_str))
            .collect();
        self.dirty
            .retain(|name, _| !written.contains(name.as_str()));
        self.hot = (self.dirty.values())
            .filter(|&&entries| entries >= HOT_CHECK_PINGS)
            .count();
        let checks = &self.checks;
        self.pending_events.retain(|event| {
            !written.contains(event.check.as_str()) && checks.get(&event.check).is_some()
        });
        self.pending_buckets
            .retain(|(check, _)| !written.contains(check.as_str()) && checks.get(check).is_some());
        self.pending_forget.clear();
        if self.dirty.is_empty() {
            self.checkpointed_seq = batch.through.unwrap_or(self.checkpointed_seq);
        }
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

    /// The periodic batch: reconcile (for purges), record and bucket
    /// pruning, and a write that proves the store works.
    pub fn maintenance(&self, config: &Config, now: f64) -> Batch {
        Batch {
            maintenance_at: Some(now),
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
        let mut set =
            WorkingSet::read(Snapshot::default(), RidIndex::keeping_keys()).configure(config, now);
        let batch = set.checkpoint(set.reconcile(config, now), config);
        set.apply_checkpoint(&batch);
        set
    }

    /// Plans over an index that keeps its keys: nothing to read back.
    fn plan(set: &WorkingSet, jobs: &[PingJob], config: &Config) -> (Batch, Vec<Outcome>, Effects) {
        set.plan_pings(jobs, config, &mut |_| Ok(None))
            .expect("no reads to fail")
    }

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
        let batch = set.checkpoint(batch, &only_orders);
        set.apply_checkpoint(&batch);

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

    #[test]
    fn a_checkpoint_writes_at_most_its_share_and_the_next_the_rest() {
        let mut text = String::new();
        let n = CHECKPOINT_MAX_STATES + 10;
        for i in 0..n {
            text.push_str(&format!(
                "[[check]]\nname = \"c{i}\"\nowner = \"ops\"\nevery = \"1h\"\n\
                 [check.volume]\nmin_records = 1\nwindow = \"1h\"\n"
            ));
        }
        let config = config(&text);
        let mut set = started(&config, 1000.0);
        let jobs: Vec<PingJob> = (0..n)
            .map(|i| job(&format!("c{i}"), None, Some(1), 1001.0))
            .collect();
        let (_, _, effects) = plan(&set, &jobs, &config);
        set.apply_pings(effects, &config, 1001.0);
        assert_eq!(set.dirty(), n);
        let first = set.checkpoint(Batch::default(), &config);
        assert_eq!(first.states.len(), CHECKPOINT_MAX_STATES);
        assert_eq!(
            first.record_events.len(),
            CHECKPOINT_MAX_STATES,
            "only theirs"
        );
        // The first names in key order, written in that order, so the
        // part rewrites neighbouring rows of the `checks` b-tree.
        let mut names: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
        names.sort_unstable();
        let written: Vec<&str> = first.states.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(written, names[..CHECKPOINT_MAX_STATES]);
        set.apply_checkpoint(&first);
        assert_eq!(set.dirty(), 10);
        assert_eq!(
            set.journaled_since_checkpoint(),
            n as u64,
            "the round is not over"
        );
        let second = set.checkpoint(Batch::default(), &config);
        assert_eq!(second.states.len(), 10);
        assert_eq!(second.record_events.len(), 10);
        set.apply_checkpoint(&second);
        assert_eq!(set.dirty(), 0);
        assert_eq!(set.journaled_since_checkpoint(), 0);
    }

    #[test]
    fn a_check_pinged_past_the_hot_mark_is_checkpointed_on_its_own() {
        let config = config(
            "[[check]]\nname = \"busy\"\nowner = \"ops\"\nevery = \"1h\"\n\
             [[check]]\nname = \"quiet\"\nowner = \"ops\"\nevery = \"1h\"\n",
        );
        let mut set = started(&config, 1000.0);
        let quiet = [job("quiet", None, None, 1001.0)];
        let (_, _, effects) = plan(&set, &quiet, &config);
        set.apply_pings(effects, &config, 1001.0);
        // Below the mark across batches, then past it.
        let busy: Vec<PingJob> = (0..HOT_CHECK_PINGS - 1)
            .map(|_| job("busy", None, None, 1002.0))
            .collect();
        let (_, _, effects) = plan(&set, &busy, &config);
        set.apply_pings(effects, &config, 1002.0);
        assert!(!set.has_hot_check());
        let (_, _, effects) = plan(&set, &busy[..1], &config);
        set.apply_pings(effects, &config, 1003.0);
        assert!(set.has_hot_check());
        let hot = set.checkpoint_hot(&config);
        let written: Vec<&str> = hot.states.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            written,
            ["busy"],
            "the quiet check waits for the next checkpoint"
        );
        assert_eq!(hot.through, Some(HOT_CHECK_PINGS + 1));
        set.apply_checkpoint(&hot);
        assert!(!set.has_hot_check());
        assert_eq!(set.dirty(), 1);
        let rest = set.checkpoint(Batch::default(), &config);
        let written: Vec<&str> = rest.states.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(written, ["quiet"]);
    }
}
