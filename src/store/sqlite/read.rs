//! Reading: the startup snapshot and a check's history. Every encoded
//! value is decoded or refused with the check and column it failed in;
//! nothing is read as empty.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

use super::{Head, Heads};
use crate::model::check_state::MAX_RECENT_FAILURES;
use crate::model::failure_ratio::RunBucket;
use crate::model::values::{ReportedValue, ReportedValues};
use crate::model::{CheckState, FailReason, Kind, Ping, Run};
use crate::name_hash::NameHash;
use crate::store::error::StoreError;
use crate::store::rid_index::RidKey;
use crate::store::seam::{HistoryRow, JournalRow, RecordEvent, RidRow, RunBucketRow, Snapshot};
use crate::store::sorted_merge::merge_by;

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

    fn recent_failures(&self, text: &str) -> Result<Vec<f64>, StoreError> {
        let mut failures: Vec<f64> = serde_json::from_str(text)
            .map_err(|e| self.fail("checks.recent_failures", e.to_string()))?;
        failures.sort_by(f64::total_cmp);
        let excess = failures.len().saturating_sub(MAX_RECENT_FAILURES);
        failures.drain(..excess);
        Ok(failures)
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
    recent_failures: String,
    journal_seq: u64,
    head: Head,
}

/// Reads every check, rid and record event, and the journal entries newer
/// than their check's checkpoint; also returns each check's journal head.
/// A value that does not decode refuses the whole load, naming the check
/// and column.
pub(super) fn load_snapshot(
    conn: &Connection,
    path: &Path,
) -> Result<(Snapshot, Heads), StoreError> {
    let checks = load_checks(conn, path)?;
    let mut heads = Heads::default();
    let mut checkpointed: HashMap<&str, u64, NameHash> = HashMap::default();
    for (name, _, journal_seq, head) in &checks {
        heads.insert(name.clone(), *head);
        checkpointed.insert(name, *journal_seq);
    }
    let since = checkpointed.values().copied().min().unwrap_or(0);
    let mut replay = Vec::new();
    for row in load_journal(conn, path, since)? {
        // Entries a check's row already reflects are not applied again.
        if checkpointed
            .get(row.check.as_str())
            .is_some_and(|seq| row.seq <= *seq)
        {
            continue;
        }
        let head = heads.entry(row.check.clone()).or_default();
        if head.seq.is_none_or(|seq| seq < row.seq) {
            head.seq = Some(row.seq);
            head.rows += 1;
            head.tail.get_or_insert(row.seq);
        }
        replay.push(row);
    }
    let last_seq: i64 = conn
        .query_row(
            "SELECT max(coalesce((SELECT max(seq) FROM journal), 0),
                        coalesce((SELECT max(seq) FROM rid_log), 0))",
            [],
            |row| row.get(0),
        )
        .map_err(|e| StoreError::sql("reading the journal", path, e))?;
    let snapshot = Snapshot {
        checks: checks
            .into_iter()
            .map(|(name, state, _, _)| (name, state))
            .collect(),
        record_events: load_record_events(conn, path)?,
        run_buckets: load_run_buckets(conn, path)?,
        replay,
        last_seq: last_seq as u64,
    };
    Ok((snapshot, heads))
}

type LoadedCheck = (String, CheckState, u64, Head);

fn load_checks(conn: &Connection, path: &Path) -> Result<Vec<LoadedCheck>, StoreError> {
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
                reported_values, journal_seq, head_seq, journal_rows, tail_seq,
                recent_failures
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
                recent_failures: row.get(30)?,
                journal_seq: row.get::<_, i64>(26)? as u64,
                head: Head {
                    seq: row.get::<_, Option<i64>>(27)?.map(|s| s as u64),
                    rows: row.get::<_, i64>(28)? as u64,
                    tail: row.get::<_, Option<i64>>(29)?.map(|s| s as u64),
                    checkpointed: row.get::<_, i64>(26)? as u64,
                },
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
                recent_failures: decode.recent_failures(&raw.recent_failures)?,
                ..raw.state
            };
            Ok((raw.name, state, raw.journal_seq, raw.head))
        })
        .collect()
}

/// Hands `each` the rids still remembered, oldest first: those of journal
/// entries, and those kept in `rid_log` after their entry was trimmed. One
/// row at a time, from both tables read in sequence order side by side (an
/// entry is in one or the other, never both): a busy day's rids are
/// millions of rows, and holding them all at once cost ten times the
/// exporter's running memory at every start.
pub(super) fn each_rid(
    conn: &Connection,
    path: &Path,
    each: &mut dyn FnMut(RidRow),
) -> Result<(), StoreError> {
    let sql = |e| StoreError::sql("loading run ids", path, e);
    let mut in_journal = conn
        .prepare(
            "SELECT seq, check_name, kind, rid, at FROM journal WHERE rid IS NOT NULL ORDER BY seq",
        )
        .map_err(sql)?;
    let mut in_log = conn
        .prepare("SELECT seq, check_name, kind, rid, at FROM rid_log ORDER BY seq")
        .map_err(sql)?;
    type Raw = (i64, String, String, String, f64);
    let raw = |row: &rusqlite::Row<'_>| -> rusqlite::Result<Raw> {
        Ok((
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
        ))
    };
    let journal = in_journal.query_map([], raw).map_err(sql)?;
    let log = in_log.query_map([], raw).map_err(sql)?;
    for row in merge_by(journal, log, |row: &Raw| row.0) {
        let (seq, check, kind, rid, at) = row.map_err(sql)?;
        let kind = Decoder {
            path,
            check: &check,
        }
        .kind("journal.kind", &kind)?;
        each(RidRow {
            seq: seq as u64,
            check,
            kind,
            rid,
            at,
        });
    }
    Ok(())
}

/// The columns of a journal entry, as read.
const JOURNAL_COLUMNS: &str = "seq, check_name, prev, at, kind, rid, records, reason, \
                               exit_status, message, remote_addr, user_agent, expiries, \
                               reported_values";

/// A journal entry with its encoded columns not yet decoded.
struct RawEntry {
    row: JournalRow,
    prev: Option<u64>,
    kind: String,
    reason: Option<String>,
    expiries: Option<String>,
    values: Option<String>,
}

fn raw_entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawEntry> {
    Ok(RawEntry {
        row: JournalRow {
            seq: row.get::<_, i64>(0)? as u64,
            check: row.get(1)?,
            at: row.get(3)?,
            ping: Ping {
                kind: Kind::Log, // decoded below
                reason: None,    // decoded below
                exit_status: row.get(8)?,
                records: row.get::<_, Option<i64>>(6)?.map(|n| n as u64),
                rid: row.get(5)?,
                message: row.get(9)?,
                expiries: Vec::new(), // decoded below
                values: Vec::new(),   // decoded below
            },
            remote_addr: row.get(10)?,
            user_agent: row.get(11)?,
        },
        prev: row.get::<_, Option<i64>>(2)?.map(|s| s as u64),
        kind: row.get(4)?,
        reason: row.get(7)?,
        expiries: row.get(12)?,
        values: row.get(13)?,
    })
}

fn decode_entry(path: &Path, raw: RawEntry) -> Result<(JournalRow, Option<u64>), StoreError> {
    let mut row = raw.row;
    let decode = Decoder {
        path,
        check: &row.check,
    };
    let pairs = |column: &'static str, text: Option<&str>| match text {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str::<Vec<(String, f64)>>(text)
            .map_err(|e| decode.fail(column, e.to_string())),
    };
    let kind = decode.kind("journal.kind", &raw.kind)?;
    let reason = decode.reason("journal.reason", raw.reason.as_deref())?;
    let expiries = pairs("journal.expiries", raw.expiries.as_deref())?;
    let values = pairs("journal.reported_values", raw.values.as_deref())?;
    row.ping.kind = kind;
    row.ping.reason = reason;
    row.ping.expiries = expiries;
    row.ping.values = values;
    Ok((row, raw.prev))
}

/// Journal entries after `since`, in order.
fn load_journal(conn: &Connection, path: &Path, since: u64) -> Result<Vec<JournalRow>, StoreError> {
    let sql = format!("SELECT {JOURNAL_COLUMNS} FROM journal WHERE seq > ?1 ORDER BY seq");
    query_all(
        conn,
        path,
        "reading the journal",
        &sql,
        [since as i64],
        raw_entry,
    )?
    .into_iter()
    .map(|raw| decode_entry(path, raw).map(|(row, _)| row))
    .collect()
}

/// The (check, kind, rid) of the entry `seq`, in the journal or `rid_log`.
pub(super) fn rid_at(
    conn: &Connection,
    path: &Path,
    seq: u64,
) -> Result<Option<RidKey>, StoreError> {
    let rows = query_all(
        conn,
        path,
        "reading a run id",
        "SELECT check_name, kind, rid FROM journal WHERE seq = ?1 AND rid IS NOT NULL
         UNION ALL
         SELECT check_name, kind, rid FROM rid_log WHERE seq = ?1",
        [seq as i64],
        |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        },
    )?;
    let Some((check, kind, rid)) = rows.into_iter().next() else {
        return Ok(None);
    };
    let kind = Decoder {
        path,
        check: &check,
    }
    .kind("journal.kind", &kind)?;
    Ok(Some(RidKey { check, kind, rid }))
}

fn load_record_events(conn: &Connection, path: &Path) -> Result<Vec<RecordEvent>, StoreError> {
    query_all(
        conn,
        path,
        "loading record counts",
        "SELECT check_name, at, records FROM record_events ORDER BY rowid",
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

/// The newest `limit` entries of a check's chain, from its `head`.
pub(super) fn history(
    conn: &Connection,
    path: &Path,
    head: Option<u64>,
    limit: usize,
) -> Result<Vec<HistoryRow>, StoreError> {
    let sql = format!("SELECT {JOURNAL_COLUMNS} FROM journal WHERE seq = ?1");
    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(|e| StoreError::sql("reading history", path, e))?;
    let mut rows = Vec::new();
    let mut cursor = head;
    while let (Some(seq), true) = (cursor, rows.len() < limit) {
        let raw = stmt
            .query_row([seq as i64], raw_entry)
            .optional()
            .map_err(|e| StoreError::sql("reading history", path, e))?;
        let Some(raw) = raw else { break };
        let (row, prev) = decode_entry(path, raw)?;
        rows.push(row.history());
        cursor = prev;
    }
    Ok(rows)
}
