//! The durable [`Store`]: SQLite in WAL mode with `synchronous=FULL`, so a
//! committed transaction survives power loss, not just a process crash.
//!
//! One file, `deadman.db`, under `--storage.path`, guarded by an exclusive
//! lock on the directory itself (and on `lock` beside the file) so that two
//! exporters can never write the same state. The schema version is
//! `PRAGMA user_version`; migrations run in order on open, and a file from
//! a newer deadman, or one that existed with no schema, is refused.
//!
//! This file opens; `lock` locks; `create` builds a new database
//! atomically; `schema` migrates and refuses files that are not ours;
//! `read` loads and decodes; `write` commits a batch and checkpoints.

mod create;
mod lock;
mod read;
mod schema;
mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::error::StoreError;
use super::rid_index::RidKey;
use super::seam::{Batch, HistoryRow, JournalRows, RidRow, Snapshot, Store};

/// The database file's name under `--storage.path`.
pub const DB_FILE: &str = "deadman.db";
/// The lock file's name under `--storage.path`: locked as well as the
/// directory, because it is all that deadman versions before the
/// directory lock take.
pub const LOCK_FILE: &str = "lock";

/// How long a statement waits for another connection's lock (someone's
/// `sqlite3` shell) before failing; checkpoints never wait (see `write`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A check's place in the journal: its newest entry (where its history
/// chain starts) and how many entries it has there.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Head {
    pub(crate) seq: Option<u64>,
    pub(crate) rows: u64,
    /// Its oldest entry (or an earlier sequence number), where a trim's
    /// range starts.
    pub(crate) tail: Option<u64>,
    /// The last entry its `checks` row reflects: a trim keeps every newer one.
    pub(crate) checkpointed: u64,
}

/// Each check's [`Head`], by name.
pub(crate) type Heads = HashMap<String, Head, crate::name_hash::NameHash>;

pub struct SqliteStore {
    conn: Connection,
    /// Where the database is, for error messages.
    path: PathBuf,
    /// Each check's journal head, kept here (and in `checks` at each
    /// checkpoint) so appending needs no read.
    heads: Heads,
    /// `[storage] history` as the last batch said: reads never show more,
    /// even while the journal of a check waits to be trimmed.
    history_limit: usize,
    /// Held for the store's lifetime: the OS releases the locks when the
    /// process dies, however it dies.
    _locks: lock::Locks,
}

impl SqliteStore {
    /// Locks `dir`, opens the database (creating it atomically if there is
    /// none) and brings its schema up to date. Fails with a sentence saying
    /// what to do if the directory is in use by another deadman, or the file
    /// is corrupt, has no schema, or is from a newer version.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(StoreError::io(format!(
            "cannot create storage path {}",
            dir.display()
        )))?;
        let locks = lock::acquire(dir)?;
        let path = dir.join(DB_FILE);
        let len = match std::fs::metadata(&path) {
            Ok(metadata) => metadata.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                create::atomically(&path, &locks.dir)?;
                tracing::info!(file = %path.display(), "created a new, empty database");
                std::fs::metadata(&path)
                    .map_err(StoreError::io(format!("cannot read {}", path.display())))?
                    .len()
            }
            Err(e) => return Err(StoreError::io(format!("cannot read {}", path.display()))(e)),
        };
        schema::check_file_size(&path)?;
        // No CREATE: the file exists, and if it vanished meanwhile, starting
        // empty is exactly what must not happen.
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::sql("cannot open the database", &path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| StoreError::sql("setting the busy timeout", &path, e))?;
        let mut store = SqliteStore {
            conn,
            path,
            heads: Heads::default(),
            history_limit: usize::MAX,
            _locks: locks,
        };
        schema::check_ours(&store.conn, &store.path, len)?;
        schema::configure(&store.conn, &store.path)?;
        schema::migrate(&mut store.conn, &store.path)?;
        Ok(store)
    }

    /// Whether `dir` holds a database of the current schema, so that
    /// [`Self::open`] would change nothing in it (no create, no migration).
    /// Startup opens such a store, and reads it, before the config is known
    /// to be valid; any other store only after. A peek: errors say false
    /// and are reported by the real open.
    pub fn is_current(dir: &Path) -> bool {
        open_current_read_only(dir).is_ok()
    }

    /// Reads the stored state without locking or writing, for tools such as
    /// `deadman docs` that run beside a live exporter (WAL allows readers):
    /// each check's checkpoint with the journal entries after it applied.
    pub fn read_snapshot(dir: &Path) -> Result<Snapshot, StoreError> {
        let (conn, path) = open_current_read_only(dir)?;
        let (mut snapshot, _) = read::load_snapshot(&conn, &path)?;
        // What the journal holds past the last checkpoint is part of the
        // current state too (the exporter applies it the same way at start;
        // only declared values' bounds, which need the config, are not
        // judged here).
        let mut index: HashMap<String, usize> = (snapshot.checks.iter().enumerate())
            .map(|(i, (name, _))| (name.clone(), i))
            .collect();
        for row in std::mem::take(&mut snapshot.replay) {
            let i = *index.entry(row.check.clone()).or_insert_with(|| {
                let state = crate::model::CheckState::new(row.at);
                snapshot.checks.push((row.check.clone(), state));
                snapshot.checks.len() - 1
            });
            let at = crate::clock::Stamp {
                wall: row.at,
                mono: Duration::from_secs_f64(row.at.max(0.0)),
            };
            snapshot.checks[i].1.apply(&row.ping, at, &[]);
        }
        Ok(snapshot)
    }
}

/// The database in `dir`, opened read-only (no lock, no write), if it
/// exists and has the current schema.
fn open_current_read_only(dir: &Path) -> Result<(Connection, PathBuf), StoreError> {
    let path = dir.join(DB_FILE);
    if !path.exists() {
        return Err(StoreError::Missing { path });
    }
    let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| StoreError::sql("cannot open the database", &path, e))?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| StoreError::sql("reading the schema version", &path, e))?;
    if version != schema::MIGRATIONS.len() as i64 {
        return Err(StoreError::SchemaMismatch {
            path,
            version,
            expected: schema::MIGRATIONS.len() as i64,
        });
    }
    Ok((conn, path))
}

impl Store for SqliteStore {
    fn load(&mut self) -> Result<Snapshot, StoreError> {
        let (snapshot, heads) = read::load_snapshot(&self.conn, &self.path)?;
        self.heads = heads;
        Ok(snapshot)
    }

    fn history(&mut self, check: &str, limit: usize) -> Result<Vec<HistoryRow>, StoreError> {
        let head = self.heads.get(check).and_then(|head| head.seq);
        read::history(&self.conn, &self.path, head, limit.min(self.history_limit))
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        write::commit(&mut self.conn, &self.path, &mut self.heads, batch)?;
        self.history_limit = batch.history_limit;
        Ok(())
    }

    fn reads_rids_back(&self) -> bool {
        true
    }

    fn journal_rows(&self) -> Option<JournalRows> {
        Some(write::journal_rows(&self.heads, self.history_limit))
    }

    fn each_rid(&mut self, each: &mut dyn FnMut(RidRow)) -> Result<(), StoreError> {
        read::each_rid(&self.conn, &self.path, each)
    }

    fn scratch_dir(&self) -> Option<PathBuf> {
        self.path.parent().map(Path::to_path_buf)
    }

    fn rid_at(&mut self, seq: u64) -> Result<Option<RidKey>, StoreError> {
        read::rid_at(&self.conn, &self.path, seq)
    }

    fn checkpoint(&mut self) -> Result<(), StoreError> {
        write::checkpoint(&self.conn, &self.path, BUSY_TIMEOUT)
    }

    fn trim_history(&mut self) -> Result<bool, StoreError> {
        write::trim(
            &mut self.conn,
            &self.path,
            &mut self.heads,
            self.history_limit,
        )
    }
}

#[cfg(test)]
mod tests;
