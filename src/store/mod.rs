//! Durable storage: the [`Store`] seam, its SQLite implementation, and the
//! group-commit writer that is its only user.
//!
//! Memory is the serving copy (scrapes and the landing page read only the
//! published state, so they keep working while storage is failing); the
//! store is the record. The single writer thread ([`writer`]) is the only
//! caller: it loads a [`Snapshot`] once at startup and then commits one
//! [`Batch`] per group of pings, publishing a change to memory only after
//! the store has made it durable.
//!
//! * [`seam`] — the [`Store`] trait and what crosses it ([`Batch`],
//!   [`Snapshot`], rows), with [`MemoryStore`] for tests.
//! * [`error`] — [`StoreError`], variants callers can match.
//! * [`sqlite`] — the durable store.
//! * [`working_set`] — the writer's in-memory copy: pings → batches (pure),
//!   one file each for planning pings, checkpoints, reconcile and restore;
//!   [`rid_index`] — its exact memory of run ids, about a byte each,
//!   the older part on disk in [`rid_spill`]; [`sorted_merge`] — two
//!   sorted streams as one.
//! * [`writer`] — the thread, and the [`WriterHandle`] handlers talk to;
//!   [`loading`] — reading the stored state while the config is parsed.

pub mod error;
pub mod loading;
pub mod rid_index;
pub mod rid_spill;
pub mod seam;
pub mod sorted_merge;
pub mod sqlite;
pub mod working_set;
pub mod writer;

// Re-exports for users of the crate. Files inside `store/` import from
// each other directly (`super::seam::Batch`), never through this file, so
// the module graph has no cycles.
pub use error::StoreError;
pub use loading::{Loading, Opened};
pub use rid_index::RidKey;
pub use seam::{
    Batch, HistoryRow, JournalRow, JournalRows, MemoryStore, RecordEvent, RidRow, RunBucketRow,
    Snapshot, Store,
};
pub use sqlite::SqliteStore;
pub use writer::WriterHandle;
