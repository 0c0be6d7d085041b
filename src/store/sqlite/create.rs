//! Creating a database atomically, so that a `deadman.db` that exists was
//! always complete: it is built under a temporary name in the same
//! directory, migrated, fsynced, and only then renamed into place (and the
//! directory fsynced). A crash part-way leaves only the temporary file,
//! which the next start (holding the lock, so nobody else is building it)
//! deletes and builds again.
//!
//! That is what lets `open` refuse a zero-byte or schema-less `deadman.db`
//! without exception: deadman never leaves one behind itself.

use std::fs::File;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::schema;
use crate::store::error::StoreError;

/// Builds a fresh, fully migrated database at `path`. `dir` is the open
/// storage directory, fsynced after the rename so the new name is durable.
pub(super) fn atomically(path: &Path, dir: &File) -> Result<(), StoreError> {
    let temp = temp_path(path);
    remove_leftovers(&temp)?;
    build(&temp)?;
    File::open(&temp)
        .and_then(|f| f.sync_all())
        .map_err(StoreError::io(format!("cannot fsync {}", temp.display())))?;
    std::fs::rename(&temp, path).map_err(StoreError::io(format!(
        "cannot rename {} to {}",
        temp.display(),
        path.display()
    )))?;
    dir.sync_all().map_err(StoreError::io(format!(
        "cannot fsync the storage directory after creating {}",
        path.display()
    )))
}

/// `deadman.db.new`, beside the database.
pub(super) fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".new");
    path.with_file_name(name)
}

/// A previous creation that crashed: its file and rollback journal.
fn remove_leftovers(temp: &Path) -> Result<(), StoreError> {
    let mut journal = temp.as_os_str().to_os_string();
    journal.push("-journal");
    for leftover in [temp.to_path_buf(), PathBuf::from(journal)] {
        match std::fs::remove_file(&leftover) {
            Ok(()) => tracing::info!(
                file = %leftover.display(),
                "removed the leftover of an interrupted database creation"
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StoreError::io(format!(
                    "cannot remove {}",
                    leftover.display()
                ))(e))
            }
        }
    }
    Ok(())
}

/// Rollback-journal mode while building, so that closing leaves one
/// self-contained file to rename; `open` switches it to WAL afterwards.
fn build(temp: &Path) -> Result<(), StoreError> {
    let mut conn = Connection::open_with_flags(
        temp,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::sql("cannot create the database", temp, e))?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| StoreError::sql("setting synchronous=FULL", temp, e))?;
    schema::migrate(&mut conn, temp)?;
    conn.close()
        .map_err(|(_, e)| StoreError::sql("closing the new database", temp, e))
}
