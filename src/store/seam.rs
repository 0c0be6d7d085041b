//! The seam between deadman's in-memory state and durable storage: the
//! [`Store`] trait and everything that crosses it.

use super::error::StoreError;
use crate::model::failure_ratio::RunBucket;
use crate::model::{CheckState, FailReason, Kind};

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
}

/// What a store held at startup.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub checks: Vec<(String, CheckState)>,
    /// Recent run ids, oldest first.
    pub rids: Vec<RidRow>,
    /// Records reported to checks with a volume expectation, oldest first.
    pub record_events: Vec<RecordEvent>,
    /// Runs per minute of checks with a failure ratio, oldest first.
    pub run_buckets: Vec<RunBucketRow>,
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

/// One remembered run id.
#[derive(Clone, Debug, PartialEq)]
pub struct RidRow {
    pub check: String,
    pub kind: Kind,
    pub rid: String,
    pub at: f64,
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

/// Everything one commit changes.
#[derive(Debug, Default)]
pub struct Batch {
    /// New state of every check the batch touched (whole rows, not deltas:
    /// replaying a batch is harmless).
    pub states: Vec<(String, CheckState)>,
    /// Checks whose retention ran out; delete them and their history.
    pub purged: Vec<String>,
    /// Run ids accepted in this batch.
    pub rids: Vec<RidRow>,
    /// Pings to append to history.
    pub history: Vec<HistoryRow>,
    /// History rows kept per check (from `[storage] history`).
    pub history_limit: usize,
    /// Maintenance: forget rids older than this, except each check's newest
    /// [`crate::model::recent_rids::RID_MIN_COUNT`].
    pub prune_rids_before: Option<f64>,
    /// Records reported in this batch by checks with a volume expectation.
    pub record_events: Vec<RecordEvent>,
    /// Maintenance: forget record events older than this.
    pub prune_record_events_before: Option<f64>,
    /// New totals of the run buckets this batch added to.
    pub run_buckets: Vec<RunBucketRow>,
    /// Maintenance: forget run buckets of minutes before this one.
    pub prune_run_buckets_before: Option<i64>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
            && self.purged.is_empty()
            && self.rids.is_empty()
            && self.history.is_empty()
            && self.prune_rids_before.is_none()
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
