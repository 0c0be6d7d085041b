//! The seam between deadman's in-memory state and durable storage: the
//! [`Store`] trait and everything that crosses it.

use super::error::StoreError;
use super::rid_index::{Forgotten, RidKey};
use crate::model::failure_ratio::RunBucket;
use crate::model::{CheckState, FailReason, Kind, Ping};

/// Durable storage for check state. Implementations must make [`Store::commit`]
/// atomic and durable: when it returns `Ok`, the batch survives a crash.
pub trait Store: Send + 'static {
    /// Reads everything stored (once, at startup).
    fn load(&mut self) -> Result<Snapshot, StoreError>;
    /// Applies a batch all-or-nothing and syncs it.
    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError>;
    /// A check's most recent pings, newest first, at most `limit`.
    fn history(&mut self, check: &str, limit: usize) -> Result<Vec<HistoryRow>, StoreError>;
    /// Folds what is committed into the store's main file, for stores that
    /// keep a log beside it (SQLite's WAL), so that file alone is a recent
    /// copy. Called by the writer on every maintenance pass and on clean
    /// shutdown; a failure is logged, never fails a commit. Stores without
    /// such a log need not implement it.
    fn checkpoint(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Trims history past its limit one bounded slice at a time, in a
    /// transaction of its own, for stores whose checkpoints trim only a
    /// bounded share; returns whether more remains. The writer calls it
    /// when nothing else waits. Stores that trim as they commit need not
    /// implement it.
    fn trim_history(&mut self) -> Result<bool, StoreError> {
        Ok(false)
    }
    /// Whether [`Store::rid_at`] answers. When it does, the writer keeps
    /// only a hash of each remembered rid and confirms a match by reading
    /// the rid back; otherwise it keeps the rids themselves.
    fn reads_rids_back(&self) -> bool {
        false
    }
    /// The (check, kind, rid) of journal entry `seq`, if it carried a rid
    /// that is still stored.
    fn rid_at(&mut self, _seq: u64) -> Result<Option<RidKey>, StoreError> {
        Ok(None)
    }
    /// Hands `each` every remembered run id, oldest first, one at a time
    /// (after [`Store::load`]; there can be millions).
    fn each_rid(&mut self, _each: &mut dyn FnMut(RidRow)) -> Result<(), StoreError> {
        Ok(())
    }
    /// How many journal rows the store holds, for stores with a journal
    /// (`deadman_storage_journal_rows*`).
    fn journal_rows(&self) -> Option<JournalRows> {
        None
    }
    /// A directory for the writer's scratch files (the older part of its
    /// rid index, rebuilt at every start), for stores that read rids back.
    fn scratch_dir(&self) -> Option<std::path::PathBuf> {
        None
    }
}

/// What a store held at startup.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Each check's state as of its last checkpoint.
    pub checks: Vec<(String, CheckState)>,
    /// Records reported to checks with a volume expectation, oldest first,
    /// as of the last checkpoint.
    pub record_events: Vec<RecordEvent>,
    /// Runs per minute of checks with a failure ratio, oldest first, as of
    /// the last checkpoint.
    pub run_buckets: Vec<RunBucketRow>,
    /// Journal entries newer than their check's checkpoint, in order: the
    /// writer applies them again (recovery after a crash).
    pub replay: Vec<JournalRow>,
    /// The highest journal sequence number ever used.
    pub last_seq: u64,
}

/// One minute's finished runs of one check, whole (not a delta: writing a
/// row again is harmless).
#[derive(Clone, Debug, PartialEq)]
pub struct RunBucketRow {
    pub check: String,
    pub bucket: RunBucket,
}

/// Records one ping reported, for exact volume windows.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordEvent {
    pub check: String,
    pub at: f64,
    pub records: u64,
}

/// The journal's size, for the storage gauges: whether trimming keeps up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalRows {
    /// Every check's stored pings (its history, and the slack above it
    /// that is trimmed in bulk).
    pub stored: u64,
    /// What trimming will delete: of each check over its history by more
    /// than the slack, the rows beyond its history. Grows while a flood
    /// leaves the writer no idle time, and falls back to 0 once it has.
    pub awaiting_trim: u64,
}

/// One remembered run id: the journal entry that carried it.
#[derive(Clone, Debug, PartialEq)]
pub struct RidRow {
    pub seq: u64,
    pub check: String,
    pub kind: Kind,
    pub rid: String,
    pub at: f64,
}

/// One accepted ping, as the journal keeps it: everything needed to apply
/// it again, and to show it in the check's history.
#[derive(Clone, Debug, PartialEq)]
pub struct JournalRow {
    /// Position in the journal: the order pings were applied in.
    pub seq: u64,
    pub check: String,
    /// Arrival time.
    pub at: f64,
    pub ping: Ping,
    pub remote_addr: String,
    pub user_agent: Option<String>,
}

impl JournalRow {
    pub fn history(&self) -> HistoryRow {
        HistoryRow {
            check: self.check.clone(),
            at: self.at,
            kind: self.ping.kind,
            rid: self.ping.rid.clone(),
            records: self.ping.records,
            reason: self.ping.reason,
            exit_status: self.ping.exit_status,
            message: self.ping.message.clone(),
            remote_addr: self.remote_addr.clone(),
            user_agent: self.user_agent.clone(),
        }
    }
}

/// One ping, as kept in a check's history.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryRow {
    pub check: String,
    pub at: f64,
    pub kind: Kind,
    pub rid: Option<String>,
    pub records: Option<u64>,
    pub reason: Option<FailReason>,
    pub exit_status: Option<u8>,
    pub message: Option<String>,
    pub remote_addr: String,
    pub user_agent: Option<String>,
}

/// Everything one commit changes. A batch of pings is only journal
/// entries; a checkpoint also carries the state those entries led to.
#[derive(Debug, Default)]
pub struct Batch {
    /// Accepted pings, appended to the journal in this order.
    pub journal: Vec<JournalRow>,
    /// Checkpoint: the new state of every check changed since the last one
    /// (whole rows, not deltas: writing one again is harmless)...
    pub states: Vec<(String, CheckState)>,
    /// ...which reflects every journal entry up to this sequence number;
    /// `None` for a batch that is not a checkpoint.
    pub through: Option<u64>,
    /// Checks whose retention ran out; delete them and their history.
    pub purged: Vec<String>,
    /// History rows kept per check (from `[storage] history`); a checkpoint
    /// trims the journal of checks that have more.
    pub history_limit: usize,
    /// Rids forgotten by retention: per check, those carried by journal
    /// entries before a sequence number.
    pub forget_rids: Vec<Forgotten>,
    /// Maintenance: a write that proves the store works (and the time).
    pub maintenance_at: Option<f64>,
    /// Records reported since the last checkpoint by checks with a volume
    /// expectation.
    pub record_events: Vec<RecordEvent>,
    /// Maintenance: forget record events older than this.
    pub prune_record_events_before: Option<f64>,
    /// New totals of the run buckets added to since the last checkpoint.
    pub run_buckets: Vec<RunBucketRow>,
    /// Maintenance: forget run buckets of minutes before this one.
    pub prune_run_buckets_before: Option<i64>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.journal.is_empty()
            && self.states.is_empty()
            && self.purged.is_empty()
            && self.forget_rids.is_empty()
            && self.maintenance_at.is_none()
            && self.record_events.is_empty()
            && self.prune_record_events_before.is_none()
            && self.run_buckets.is_empty()
            && self.prune_run_buckets_before.is_none()
    }
}

/// Keeps nothing: state lives only as long as the process. For tests and
/// for `--storage.path=""`-style ephemeral runs.
#[derive(Debug, Default)]
pub struct MemoryStore;

impl Store for MemoryStore {
    fn load(&mut self) -> Result<Snapshot, StoreError> {
        Ok(Snapshot::default())
    }

    fn commit(&mut self, _batch: &Batch) -> Result<(), StoreError> {
        Ok(())
    }

    fn history(&mut self, _check: &str, _limit: usize) -> Result<Vec<HistoryRow>, StoreError> {
        Ok(Vec::new())
    }
}
