//! Reading: the startup snapshot and a check's history. Every encoded
//! value is decoded or refused with the check and column it failed in;
//! nothing is read as empty.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{params, Connection};

use crate::model::failure_ratio::RunBucket;
use crate::model::values::{ReportedValue, ReportedValues};
use crate::model::{CheckState, FailReason, Kind, Run};
use crate::store::error::StoreError;
use crate::store::seam::{HistoryRow, RecordEvent, RidRow, RunBucketRow, Snapshot};

/// Decodes one stored value, or names the check and column it failed in.
struct Decoder<'a> {
    path: &'a Path,
    check: &'a str,
}

impl Decoder<'_> {
    fn fail(&self, column: &'static str, why: impl Into<String>) -> StoreError {
        StoreError::Undecodable {
            path: self.path.to_path_buf(),
            check: self.check.to_string(),
            column,
            why: why.into(),
        }
    }

    fn runs(&self, text: &str) -> Result<Vec<Run>, StoreError> {
        if text == "[]" {
            return Ok(Vec::new());
        }
        let parsed: Vec<(Option<String>, f64)> =
            serde_json::from_str(text).map_err(|e| self.fail("checks.runs", e.to_string()))?;
        Ok(parsed
            .into_iter()
            .map(|(rid, started)| Run {
                rid,
                started,
                // Started by an earlier process: only wall-clock time is comparable.
                started_mono: None,
            })
            .collect())
    }

    fn expiries(&self, text: &str) -> Result<BTreeMap<String, f64>, StoreError> {
        serde_json::from_str(text).map_err(|e| self.fail("checks.expiries", e.to_string()))
    }

    fn values(&self, text: &str) -> Result<ReportedValues, StoreError> {
        let parsed: BTreeMap<String, (f64, f64, Option<f64>)> = serde_json::from_str(text)
            .map_err(|e| self.fail("checks.reported_values", e.to_string()))?;
        Ok(parsed
            .into_iter()
            .map(|(name, (value, at, out_of_range_since))| {
                let value = ReportedValue {
                    value,
                    at,
                    out_of_range_since,
                };
                (name, value)
            })
            .collect())
    }

    fn reason(
        &self,
        column: &'static str,
        text: Option<&str>,
    ) -> Result<Option<FailReason>, StoreError> {
        text.map(|text| {
            FailReason::parse(text)
                .ok_or_else(|| self.fail(column, format!("unknown failure reason {text:?}")))
        })
        .transpose()
    }

    fn kind(&self, column: &'static str, text: &str) -> Result<Kind, StoreError> {
        Kind::parse(text).ok_or_else(|| self.fail(column, format!("unknown ping kind {text:?}")))
    }
}

/// A `checks` row with its encoded columns not yet decoded.
struct RawCheckRow {
    name: String,
    state: CheckState,
    last_failure_reason: Option<String>,
    runs: String,
    expiries: String,
    values: String,
}

/// Reads every check, rid and record event. A value that does not decode
/// refuses the whole load, naming the check and column.
pub(super) fn load_snapshot(conn: &Connection, path: &Path) -> Result<Snapshot, StoreError> {
    Ok(Snapshot {
        checks: load_checks(conn, path)?,
        rids: load_rids(conn, path)?,
        record_events: load_record_events(conn, path)?,
        run_buckets: load_run_buckets(conn, path)?,
    })
}

fn load_checks(conn: &Connection, path: &Path) -> Result<Vec<(String, CheckState)>, StoreError> {
    let rows = query_all(
        conn,
        path,
        "loading checks",
        "SELECT name, first_configured, removed_at, last_success, last_failure,
                last_failure_reason, last_start, last_duration,
                pings_success, pings_fail, pings_start, pings_log, records,
                failures_auth, failures_rate_limit, failures_timeout, failures_upstream,
                failures_validation, failures_other, failures_exit_code, runs, expiries,
                consecutive_failures, last_failure_exit_status, last_success_duration,
                reported_values
         FROM checks",
        [],
        |row| {
            let mut pings = [0u64; Kind::COUNT];
            for (i, slot) in pings.iter_mut().enumerate() {
                *slot = row.get::<_, i64>(8 + i)? as u64;
            }
            let mut failures = [0u64; FailReason::COUNT];
            for (i, slot) in failures.iter_mut().enumerate() {
                *slot = row.get::<_, i64>(13 + i)? as u64;
            }
            Ok(RawCheckRow {
                name: row.get(0)?,
                state: CheckState {
                    first_configured: row.get(1)?,
                    removed_at: row.get(2)?,
                    last_success: row.get(3)?,
                    last_failure: row.get(4)?,
                    last_start: row.get(6)?,
                    last_duration: row.get(7)?,
                    pings,
                    records: row.get::<_, i64>(12)? as u64,
                    failures,
                    consecutive_failures: row.get::<_, i64>(22)? as u64,
                    last_failure_exit_status: row.get(23)?,
                    last_success_duration: row.get(24)?,
                    ..CheckState::default()
                },
                last_failure_reason: row.get(5)?,
                runs: row.get(20)?,
                expiries: row.get(21)?,
                values: row.get(25)?,
            })
        },
    )?;
    rows.into_iter()
        .map(|raw| {
            let decode = Decoder {
                path,
                check: &raw.name,
            };
            let state = CheckState {
                last_failure_reason: decode.reason(
                    "checks.last_failure_reason",
                    raw.last_failure_reason.as_deref(),
                )?,
                runs: decode.runs(&raw.runs)?,
                expiries: decode.expiries(&raw.expiries)?,
                values: decode.values(&raw.values)?,
                ..raw.state
            };
            Ok((raw.name, state))
        })
        .collect()
}

fn load_rids(conn: &Connection, path: &Path) -> Result<Vec<RidRow>, StoreError> {
    query_all(
        conn,
        path,
        "loading run ids",
        "SELECT check_name, kind, rid, at FROM rids ORDER BY at",
        [],
        |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get(2)?,
                row.get(3)?,
            ))
        },
    )?
    .into_iter()
    .map(|(check, kind, rid, at)| {
        let kind = Decoder {
            path,
            check: &check,
        }
        .kind("rids.kind", &kind)?;
        Ok(RidRow {
            check,
            kind,
            rid,
            at,
        })
    })
    .collect()
}

fn load_record_events(conn: &Connection, path: &Path) -> Result<Vec<RecordEvent>, StoreError> {
    query_all(
        conn,
        path,
        "loading record counts",
        "SELECT check_name, at, records FROM record_events ORDER BY at",
        [],
        |row| {
            Ok(RecordEvent {
                check: row.get(0)?,
                at: row.get(1)?,
                records: row.get::<_, i64>(2)? as u64,
            })
        },
    )
}

fn load_run_buckets(conn: &Connection, path: &Path) -> Result<Vec<RunBucketRow>, StoreError> {
    query_all(
        conn,
        path,
        "loading run counts",
        "SELECT check_name, minute, runs, failures FROM run_buckets ORDER BY minute",
        [],
        |row| {
            Ok(RunBucketRow {
                check: row.get(0)?,
                bucket: RunBucket {
                    minute: row.get(1)?,
                    runs: row.get::<_, i64>(2)? as u64,
                    failures: row.get::<_, i64>(3)? as u64,
                },
            })
        },
    )
}

/// Runs a query and maps every row, naming `context` and the file in errors
/// (a corrupt page surfaces here as a corruption error).
fn query_all<T>(
    conn: &Connection,
    path: &Path,
    context: &str,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_map(params, map)?.collect())
        .map_err(|e| StoreError::sql(context, path, e))
}

pub(super) fn history(
    conn: &Connection,
    path: &Path,
    check: &str,
    limit: usize,
) -> Result<Vec<HistoryRow>, StoreError> {
    let rows = query_all(
        conn,
        path,
        "reading history",
        "SELECT at, kind, rid, records, reason, exit_status, message, remote_addr, user_agent
         FROM history WHERE check_name = ?1 ORDER BY id DESC LIMIT ?2",
        params![check, limit as i64],
        |row| {
            Ok((
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(4)?,
                HistoryRow {
                    check: check.to_string(),
                    at: row.get(0)?,
                    kind: Kind::Log, // decoded below
                    rid: row.get(2)?,
                    records: row.get::<_, Option<i64>>(3)?.map(|n| n as u64),
                    reason: None, // decoded below
                    exit_status: row.get(5)?,
                    message: row.get(6)?,
                    remote_addr: row.get(7)?,
                    user_agent: row.get(8)?,
                },
            ))
        },
    )?;
    let decode = Decoder { path, check };
    rows.into_iter()
        .map(|(kind, reason, mut row)| {
            row.kind = decode.kind("history.kind", &kind)?;
            row.reason = decode.reason("history.reason", reason.as_deref())?;
            Ok(row)
        })
        .collect()
}
