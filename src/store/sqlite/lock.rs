//! The single-process guard: an exclusive `flock` on the storage directory
//! itself, which a stray `rm` cannot remove, plus one on the `lock` file
//! inside it, so that a deadman from before the directory lock (which takes
//! only the file's) is kept out too.
//!
//! `flock` locks are independent of the `fcntl` locks SQLite takes on
//! `deadman.db`, so they coexist, and read-only readers such as
//! `deadman docs` (which take neither) keep working beside a live exporter.
//! The OS releases both however the process ends.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use super::LOCK_FILE;
use crate::store::error::StoreError;

/// Held for the store's lifetime; dropping it releases the locks.
pub(super) struct Locks {
    /// The storage directory, locked; also what a new database's rename is
    /// fsynced through.
    pub(super) dir: File,
    /// `<storage>/lock`, locked, for older deadman versions.
    _file: File,
}

/// Locks `dir` (which must exist) or says which other deadman holds it.
pub(super) fn acquire(dir: &Path) -> Result<Locks, StoreError> {
    let dir_file = File::open(dir).map_err(StoreError::io(format!(
        "cannot open storage path {} to lock it",
        dir.display()
    )))?;
    try_lock(&dir_file, dir, dir)?;
    let lock_path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(StoreError::io(format!(
            "cannot open {}",
            lock_path.display()
        )))?;
    try_lock(&file, dir, &lock_path)?;
    Ok(Locks {
        dir: dir_file,
        _file: file,
    })
}

fn try_lock(file: &File, dir: &Path, held: &Path) -> Result<(), StoreError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(StoreError::Locked {
            dir: dir.to_path_buf(),
            held: held.to_path_buf(),
        }),
        Err(TryLockError::Error(e)) => {
            Err(StoreError::io(format!("cannot lock {}", held.display()))(e))
        }
    }
}
