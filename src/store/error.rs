//! [`StoreError`]: why storage failed, as variants callers can match (the
//! writer turns faults into 503s; tests match the variant, not the words)
//! and as the sentences users read in logs, `/-/healthy` and 503 bodies,
//! each carrying its own advice (what to do about a lock, a newer schema).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// A storage failure. Cheap to clone: one failed commit answers every ping
/// that was waiting on it.
#[derive(Clone, Debug)]
pub enum StoreError {
    /// Another deadman holds the lock on this storage path.
    Locked {
        /// The storage directory.
        dir: PathBuf,
        /// What is locked: the directory itself, or the `lock` file inside
        /// it that deadman versions before the directory lock used.
        held: PathBuf,
    },
    /// The file is damaged, truncated or not a deadman database.
    Corrupt {
        path: PathBuf,
        /// What gave it away, e.g. "it looks truncated".
        why: String,
    },
    /// `deadman.db` existed before this start but holds no deadman schema
    /// (zero bytes, or an SQLite database without our tables). deadman
    /// creates its database atomically, so such a file is not one it was
    /// building: starting empty on it could hide lost state.
    Uninitialised {
        path: PathBuf,
        /// What it holds instead, e.g. "it is empty (0 bytes)".
        why: String,
    },
    /// A checkpoint could not copy the whole WAL into the database because
    /// another connection (a backup, `deadman docs`) was reading it. Not a
    /// failed commit: everything is still durable in the WAL.
    CheckpointBusy { path: PathBuf },
    /// Written by a newer deadman whose schema this one does not know.
    NewerSchema {
        path: PathBuf,
        version: i64,
        /// The newest version this build understands.
        known: i64,
    },
    /// A read-only reader (`deadman docs`) found a schema other than its own.
    SchemaMismatch {
        path: PathBuf,
        version: i64,
        expected: i64,
    },
    /// A read-only reader (`deadman docs`) found no database.
    Missing { path: PathBuf },
    /// The file system cannot do SQLite's WAL mode (some network file
    /// systems), without which a commit is not durable the way we promise.
    WalUnsupported {
        path: PathBuf,
        /// The journal mode SQLite fell back to.
        mode: String,
    },
    /// A stored value this build cannot decode. Refused rather than read as
    /// empty, so that no state is silently lost.
    Undecodable {
        path: PathBuf,
        /// The check the row belongs to.
        check: String,
        /// The table and column, e.g. `checks.runs`.
        column: &'static str,
        why: String,
    },
    /// A file-system operation failed (creating the directory, the lock).
    Io {
        /// What was being done, e.g. "cannot create storage path data/".
        context: String,
        source: Arc<std::io::Error>,
    },
    /// SQLite reported an error.
    Sql {
        /// What was being done, e.g. "saving history".
        context: String,
        path: PathBuf,
        source: Arc<rusqlite::Error>,
    },
    /// A store without a more specific variant reported this failure
    /// (stores other than SQLite, and tests that stand in for a full disk).
    Backend(String),
    /// The writer thread is gone (shutting down, or it panicked).
    WriterStopped,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Locked { dir, held } => {
                let held = if held == dir {
                    "the directory itself".to_string()
                } else {
                    held.display().to_string()
                };
                write!(
                    f,
                    "storage path {} is in use by another deadman process (it holds the lock \
                     on {held}); stop that one first, or give this one its own --storage.path",
                    dir.display()
                )
            }
            StoreError::Corrupt { path, why } => write!(
                f,
                "{} is corrupt or not a deadman database ({why}); deadman will not start on it so \
                 that no state is silently lost: stop deadman, move the file (and any -wal/-shm \
                 files) aside, then restore it from a backup or start without it to begin with \
                 empty state",
                path.display()
            ),
            StoreError::Uninitialised { path, why } => write!(
                f,
                "{} exists but holds no deadman state ({why}); deadman will not start on it, \
                 because starting empty from a file that was already there could hide lost \
                 state (a failed restore, a bad copy). Stop deadman, then either restore the \
                 file from a backup, or move it (and any -wal/-shm files) aside or delete it \
                 to start with empty state",
                path.display()
            ),
            StoreError::CheckpointBusy { path } => write!(
                f,
                "{}: the WAL could not be checkpointed completely because another connection \
                 (a backup, `deadman docs`) was reading it; the file alone lags behind its \
                 -wal file until a later checkpoint succeeds",
                path.display()
            ),
            StoreError::NewerSchema {
                path,
                version,
                known,
            } => write!(
                f,
                "{} has schema version {version}, written by a newer deadman; this version \
                 understands up to {known}. Upgrade deadman, or restore a backup made by this version",
                path.display()
            ),
            StoreError::SchemaMismatch {
                path,
                version,
                expected,
            } => write!(
                f,
                "{} has schema version {version}; this deadman reads version {expected}",
                path.display()
            ),
            StoreError::Missing { path } => write!(f, "{} does not exist", path.display()),
            StoreError::WalUnsupported { path, mode } => write!(
                f,
                "{}: the file system does not support SQLite's WAL mode (got {mode})",
                path.display()
            ),
            StoreError::Undecodable {
                path,
                check,
                column,
                why,
            } => write!(
                f,
                "{}: the stored {column} of check {check:?} cannot be read ({why}); deadman \
                 will not start on it so that no state is silently lost: restore the file from \
                 a backup, or start a deadman version that wrote it",
                path.display()
            ),
            StoreError::Io { context, source } => write!(f, "{context}: {source}"),
            StoreError::Sql {
                context,
                path,
                source,
            } => write!(f, "{context} ({}): {source}", path.display()),
            StoreError::Backend(message) => f.write_str(message),
            StoreError::WriterStopped => f.write_str("the storage writer has stopped"),
        }
    }
}

impl StoreError {
    /// An SQLite error while doing `context` on the file at `path`; a
    /// corrupt page or a file that is not a database is [`StoreError::Corrupt`].
    pub fn sql(context: &str, path: &std::path::Path, err: rusqlite::Error) -> StoreError {
        let corrupt = matches!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
        );
        if corrupt {
            StoreError::corrupt(path, &err.to_string())
        } else {
            StoreError::Sql {
                context: context.to_string(),
                path: path.to_path_buf(),
                source: Arc::new(err),
            }
        }
    }

    pub fn corrupt(path: &std::path::Path, why: &str) -> StoreError {
        StoreError::Corrupt {
            path: path.to_path_buf(),
            why: why.to_string(),
        }
    }

    /// Wraps a file-system error in `context`, for `map_err`.
    pub fn io(context: String) -> impl FnOnce(std::io::Error) -> StoreError {
        move |source| StoreError::Io {
            context,
            source: Arc::new(source),
        }
    }
}

/// The sentence already ends with the underlying error's own text (as it
/// did when these were plain strings), so `source()` stays empty rather than
/// have `main` print that text twice in its cause chain.
impl std::error::Error for StoreError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopped_writer_error_is_a_sentence() {
        assert_eq!(
            StoreError::WriterStopped.to_string(),
            "the storage writer has stopped"
        );
    }
}
