//! The writer's in-memory copy of all check state, and how pings and config
//! changes become [`Batch`](super::seam::Batch)es. No store I/O, no clock, no threads, so group
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
//!
//! # Layout
//! - [`plan`]: pings into a batch, and a committed batch into memory;
//! - [`checkpoint`]: which checks a checkpoint writes, and what it settles;
//! - [`reconcile`]: what the config and the clock change without a ping;
//! - [`restore`]: the state a store held at startup, journal replayed.

use std::collections::{HashMap, HashSet};

use super::error::StoreError;
use super::rid_index::{Forgotten, RidIndex, RidKey};
use super::seam::{JournalRow, RecordEvent, RunBucketRow};
use crate::clock::Stamp;
use crate::model::{CheckState, Kind, Ping};
use crate::name_hash::NameHash;
use crate::state::StateSnapshot;

mod checkpoint;
mod plan;
mod reconcile;
mod restore;
#[cfg(test)]
mod test_support;

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
    /// Forgets rids past retention in checks that were not pinged since.
    pub fn prune_rids(&mut self, now: f64) {
        let forgotten = self.rids.prune(now);
        self.pending_forget.extend(forgotten);
    }

    /// What to publish: O(1), shares everything with the working copy.
    pub fn snapshot(&self) -> StateSnapshot {
        self.checks.clone()
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
}
