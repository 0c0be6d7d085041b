//! Writing: one [`Batch`] as one immediate transaction, step by step, and
//! the checkpoint that copies committed transactions from the WAL into
//! `deadman.db` itself.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::model::recent_rids::{RID_MAX_COUNT, RID_MIN_COUNT};
use crate::model::values::ReportedValues;
use crate::model::{FailReason, Run};
use crate::store::error::StoreError;
use crate::store::seam::Batch;

/// Applies `batch` all-or-nothing; returns once it is durable.
pub(super) fn commit(conn: &mut Connection, path: &Path, batch: &Batch) -> Result<(), StoreError> {
    let step = |context: &'static str| move |e: rusqlite::Error| StoreError::sql(context, path, e);
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(step("starting a transaction"))?;
    save_states(&tx, batch).map_err(step("saving checks"))?;
    purge(&tx, batch).map_err(step("purging a removed check"))?;
    save_rids(&tx, batch).map_err(step("saving run ids"))?;
    save_history(&tx, batch).map_err(step("saving history"))?;
    trim_history(&tx, batch).map_err(step("trimming history"))?;
    save_record_events(&tx, batch).map_err(step("saving record counts"))?;
    if let Some(before) = batch.prune_record_events_before {
        tx.execute("DELETE FROM record_events WHERE at < ?1", [before])
            .map_err(step("pruning record counts"))?;
    }
    save_run_buckets(&tx, batch).map_err(step("saving run counts"))?;
    if let Some(before) = batch.prune_run_buckets_before {
        tx.execute("DELETE FROM run_buckets WHERE minute < ?1", [before])
            .map_err(step("pruning run counts"))?;
    }
    if let Some(before) = batch.prune_rids_before {
        prune_rids(&tx, before).map_err(step("pruning run ids"))?;
        // A write on every maintenance pass, so a store that failed is
        // noticed to work again even when no pings arrive.
        tx.execute(
            "INSERT OR REPLACE INTO meta VALUES ('maintenance_at', ?1)",
            [before],
        )
        .map_err(step("recording maintenance"))?;
    }
    tx.commit().map_err(step("committing"))
}

/// Copies the whole WAL into the database and truncates it, so that a copy
/// of `deadman.db` alone (a careless backup, a restore without its `-wal`)
/// is no further behind than the last checkpoint. It does not wait for
/// readers, which would stall every ping queued behind the writer: with one
/// reading, it copies what it can and reports [`StoreError::CheckpointBusy`]
/// so the next pass tries again. `busy_timeout` is restored afterwards.
pub(super) fn checkpoint(
    conn: &Connection,
    path: &Path,
    busy_timeout: std::time::Duration,
) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::ZERO)
        .map_err(|e| StoreError::sql("checkpointing the WAL", path, e))?;
    // (busy, frames in the WAL, frames checkpointed); busy = 1 when a
    // reader or writer kept it from finishing.
    let busy = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
        row.get::<_, i64>(0)
    });
    let restored = conn.busy_timeout(busy_timeout);
    let busy = busy.map_err(|e| StoreError::sql("checkpointing the WAL", path, e))?;
    restored.map_err(|e| StoreError::sql("restoring the busy timeout", path, e))?;
    if busy != 0 {
        return Err(StoreError::CheckpointBusy {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Whole rows, not deltas: replaying a batch is harmless.
fn save_states(tx: &Transaction<'_>, batch: &Batch) -> rusqlite::Result<()> {
    let mut upsert = tx.prepare_cached(
        "INSERT OR REPLACE INTO checks VALUES
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,
          ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)",
    )?;
    for (name, s) in &batch.states {
        upsert.execute(params![
            name,
            s.first_configured,
            s.removed_at,
            s.last_success,
            s.last_failure,
            s.last_failure_reason.map(FailReason::as_str),
            s.last_start,
            s.last_duration,
            s.pings[0] as i64,
            s.pings[1] as i64,
            s.pings[2] as i64,
            s.pings[3] as i64,
            s.records as i64,
            s.failures[0] as i64,
            s.failures[1] as i64,
            s.failures[2] as i64,
            s.failures[3] as i64,
            s.failures[4] as i64,
            s.failures[5] as i64,
            s.failures[6] as i64,
            runs_to_json(&s.runs),
            expiries_to_json(&s.expiries),
            s.consecutive_failures as i64,
            s.last_failure_exit_status,
            s.last_success_duration,
            values_to_json(&s.values),
        ])?;
    }
    Ok(())
}

fn purge(tx: &Transaction<'_>, batch: &Batch) -> rusqlite::Result<()> {
    for name in &batch.purged {
        for sql in [
            "DELETE FROM checks WHERE name = ?1",
            "DELETE FROM rids WHERE check_name = ?1",
            "DELETE FROM history WHERE check_name = ?1",
            "DELETE FROM record_events WHERE check_name = ?1",
            "DELETE FROM run_buckets WHERE check_name = ?1",
        ] {
            tx.prepare_cached(sql)?.execute([name])?;
        }
    }
    Ok(())
}

fn save_rids(tx: &Transaction<'_>, batch: &Batch) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached("INSERT OR IGNORE INTO rids VALUES (?1, ?2, ?3, ?4)")?;
    for row in &batch.rids {
        insert.execute(params![row.check, row.kind.as_str(), row.rid, row.at])?;
    }
    Ok(())
}

fn save_history(tx: &Transaction<'_>, batch: &Batch) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO history (check_name, at, kind, rid, records, reason, exit_status,
                              message, remote_addr, user_agent)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for h in &batch.history {
        insert.execute(params![
            h.check,
            h.at,
            h.kind.as_str(),
            h.rid,
            h.records.map(|n| n as i64),
            h.reason.map(FailReason::as_str),
            h.exit_status,
            h.message,
            h.remote_addr,
            h.user_agent,
        ])?;
    }
    Ok(())
}

/// Keeps the newest `history_limit` rows of every check the batch added to.
fn trim_history(tx: &Transaction<'_>, batch: &Batch) -> rusqlite::Result<()> {
    let mut touched: Vec<&str> = Vec::new();
    for h in &batch.history {
        if !touched.contains(&h.check.as_str()) {
            touched.push(&h.check);
        }
    }
    let mut trim = tx.prepare_cached(
        "DELETE FROM history WHERE check_name = ?1 AND id <= (
             SELECT id FROM history WHERE check_name = ?1
             ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    )?;
    for check in touched {
        trim.execute(params![check, batch.history_limit as i64])?;
    }
    Ok(())
}

fn save_record_events(tx: &Transaction<'_>, batch: &Batch) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached("INSERT INTO record_events VALUES (?1, ?2, ?3)")?;
    for e in &batch.record_events {
        insert.execute(params![e.check, e.at, e.records as i64])?;
    }
    Ok(())
}

fn save_run_buckets(tx: &Transaction<'_>, batch: &Batch) -> rusqlite::Result<()> {
    let mut upsert =
        tx.prepare_cached("INSERT OR REPLACE INTO run_buckets VALUES (?1, ?2, ?3, ?4)")?;
    for row in &batch.run_buckets {
        let b = &row.bucket;
        upsert.execute(params![
            row.check,
            b.minute,
            b.runs as i64,
            b.failures as i64
        ])?;
    }
    Ok(())
}

/// `{"name": [value, at, out_of_range_since or null]}`.
fn values_to_json(values: &ReportedValues) -> String {
    if values.is_empty() {
        return "{}".into();
    }
    let map: serde_json::Map<String, serde_json::Value> = (values.iter())
        .map(|(name, v)| {
            let row = serde_json::json!([v.value, v.at, v.out_of_range_since]);
            (name.clone(), row)
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

fn runs_to_json(runs: &[Run]) -> String {
    if runs.is_empty() {
        return "[]".into();
    }
    let list: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| serde_json::json!([r.rid, r.started]))
        .collect();
    serde_json::Value::Array(list).to_string()
}

fn expiries_to_json(expiries: &BTreeMap<String, f64>) -> String {
    if expiries.is_empty() {
        return "{}".into();
    }
    serde_json::to_string(expiries).unwrap_or_else(|_| "{}".into())
}

/// Forgets rids older than `before`, except each check's newest
/// [`RID_MIN_COUNT`], and any beyond each check's newest [`RID_MAX_COUNT`];
/// only checks with more than [`RID_MIN_COUNT`] need work.
fn prune_rids(tx: &Transaction<'_>, before: f64) -> rusqlite::Result<()> {
    let crowded: Vec<String> = tx
        .prepare_cached("SELECT check_name FROM rids GROUP BY check_name HAVING count(*) > ?1")?
        .query_map([RID_MIN_COUNT as i64], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for check in crowded {
        // Older than `before` and beyond the newest RID_MIN_COUNT...
        if let Some(cutoff) = nth_newest_rid_at(tx, &check, RID_MIN_COUNT)? {
            tx.execute(
                "DELETE FROM rids WHERE check_name = ?1 AND at < ?2 AND at < ?3",
                params![check, before, cutoff],
            )?;
        }
        // ...and beyond the newest RID_MAX_COUNT whatever their age, as in memory.
        if let Some(cap) = nth_newest_rid_at(tx, &check, RID_MAX_COUNT)? {
            tx.execute(
                "DELETE FROM rids WHERE check_name = ?1 AND at < ?2",
                params![check, cap],
            )?;
        }
    }
    Ok(())
}

/// When `check`'s `n`-th newest rid was accepted, if it has that many.
fn nth_newest_rid_at(tx: &Transaction<'_>, check: &str, n: usize) -> rusqlite::Result<Option<f64>> {
    tx.query_row(
        "SELECT at FROM rids WHERE check_name = ?1 ORDER BY at DESC LIMIT 1 OFFSET ?2",
        params![check, n as i64 - 1],
        |row| row.get(0),
    )
    .optional()
}
