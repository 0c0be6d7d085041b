//! Writing: one [`Batch`] as one immediate transaction, step by step, and
//! the checkpoint that copies committed transactions from the WAL into
//! `deadman.db` itself.
//!
//! A batch of pings is appends to `journal` only. A state checkpoint
//! (`batch.through`) also rewrites the rows of the checks it names, adds
//! the record events and run buckets since the last one, and trims the
//! journal of checks with more entries than `[storage] history` keeps (the
//! rids of trimmed entries move to `rid_log`).

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::{Head, Heads};
use crate::model::values::ReportedValues;
use crate::model::{FailReason, Run};
use crate::store::error::StoreError;
use crate::store::seam::{Batch, JournalRows};

/// Most journal rows one trim (in a checkpoint, or a slice of its own when
/// the writer is idle) reads along checks' chains to find where each one's
/// kept history ends, or trims one by one (quiet checks); and most sequence
/// numbers its range deletes span (busy checks). Each row costs about 20 µs
/// (measured at 10,000 checks with 1.3 million journal rows: 10,000 rows
/// made checkpoints of up to 250 ms, 2,500 of at most 50 ms), so a trim
/// after a long burst stays short; the rest waits for the next.
const MAX_TRIM_ROWS: u64 = 1_000;
const MAX_TRIM_SPAN: u64 = 50_000;

/// The rows a check keeps, and how many more it may have before it is
/// trimmed back to that: trimming in bulk, not a row per ping.
fn trim_rule(history_limit: usize) -> (u64, u64) {
    let keep = history_limit as u64;
    (keep, (keep / 2).max(16))
}

/// The journal's size as `heads` count it, under the trim rule.
pub(super) fn journal_rows(heads: &Heads, history_limit: usize) -> JournalRows {
    let (keep, slack) = trim_rule(history_limit);
    heads
        .values()
        .fold(JournalRows::default(), |sum, head| JournalRows {
            stored: sum.stored + head.rows,
            awaiting_trim: sum.awaiting_trim
                + match head.rows > keep.saturating_add(slack) {
                    true => head.rows - keep,
                    false => 0,
                },
        })
}

/// Applies `batch` all-or-nothing; returns once it is durable. `heads` is
/// each check's newest journal entry and entry count, updated only when the
/// transaction commits.
pub(super) fn commit(
    conn: &mut Connection,
    path: &Path,
    heads: &mut Heads,
    batch: &Batch,
) -> Result<(), StoreError> {
    let step = |context: &'static str| move |e: rusqlite::Error| StoreError::sql(context, path, e);
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(step("starting a transaction"))?;
    // Changed heads, applied to `heads` only once committed.
    let mut changed = Heads::default();
    append_journal(&tx, heads, &mut changed, batch).map_err(step("appending to the journal"))?;
    if !batch.states.is_empty() {
        // Without a sequence number, the rows reflect everything so far.
        let through = match batch.through {
            Some(through) => through,
            None => last_seq(&tx).map_err(step("reading the journal"))?,
        };
        save_states(&tx, heads, &mut changed, batch, through).map_err(step("saving checks"))?;
    }
    save_record_events(&tx, batch).map_err(step("saving record counts"))?;
    save_run_buckets(&tx, batch).map_err(step("saving run counts"))?;
    if batch.through.is_some() {
        trim_journal(&tx, heads, &mut changed, batch.history_limit)
            .map_err(step("trimming history"))?;
    }
    purge(&tx, batch).map_err(step("purging a removed check"))?;
    forget_rids(&tx, batch).map_err(step("forgetting run ids"))?;
    if let Some(before) = batch.prune_record_events_before {
        prune_record_events(&tx, before).map_err(step("pruning record counts"))?;
    }
    if let Some(before) = batch.prune_run_buckets_before {
        tx.execute("DELETE FROM run_buckets WHERE minute < ?1", [before])
            .map_err(step("pruning run counts"))?;
    }
    if let Some(at) = batch.maintenance_at {
        // A write on every maintenance pass, so a store that failed is
        // noticed to work again even when no pings arrive.
        tx.execute(
            "INSERT OR REPLACE INTO meta VALUES ('maintenance_at', ?1)",
            [at],
        )
        .map_err(step("recording maintenance"))?;
    }
    tx.commit().map_err(step("committing"))?;
    for name in &batch.purged {
        heads.remove(name);
        changed.remove(name);
    }
    heads.extend(changed);
    Ok(())
}

/// One bounded slice of history trimming, in a transaction of its own.
/// Returns whether more may remain.
pub(super) fn trim(
    conn: &mut Connection,
    path: &Path,
    heads: &mut Heads,
    history_limit: usize,
) -> Result<bool, StoreError> {
    let step = |context: &'static str| move |e: rusqlite::Error| StoreError::sql(context, path, e);
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(step("starting a transaction"))?;
    let mut changed = Heads::default();
    let more =
        trim_journal(&tx, heads, &mut changed, history_limit).map_err(step("trimming history"))?;
    tx.commit().map_err(step("committing"))?;
    heads.extend(changed);
    Ok(more)
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

fn last_seq(tx: &Transaction<'_>) -> rusqlite::Result<u64> {
    tx.query_row("SELECT coalesce(max(seq), 0) FROM journal", [], |row| {
        row.get::<_, i64>(0)
    })
    .map(|seq| seq as u64)
}

fn append_journal(
    tx: &Transaction<'_>,
    heads: &Heads,
    changed: &mut Heads,
    batch: &Batch,
) -> rusqlite::Result<()> {
    if batch.journal.is_empty() {
        return Ok(());
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO journal (seq, check_name, prev, at, kind, rid, records, reason,
                              exit_status, message, remote_addr, user_agent, expiries,
                              reported_values)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    for row in &batch.journal {
        if !changed.contains_key(&row.check) {
            let head = heads.get(&row.check).copied().unwrap_or_default();
            changed.insert(row.check.clone(), head);
        }
        let Some(head) = changed.get_mut(&row.check) else {
            continue;
        };
        let p = &row.ping;
        insert.execute(params![
            row.seq as i64,
            row.check,
            head.seq.map(|s| s as i64),
            row.at,
            p.kind.as_str(),
            p.rid,
            p.records.map(|n| n as i64),
            p.reason.map(FailReason::as_str),
            p.exit_status,
            p.message,
            row.remote_addr,
            row.user_agent,
            pairs_to_json(&p.expiries),
            pairs_to_json(&p.values),
        ])?;
        head.seq = Some(row.seq);
        head.rows += 1;
        head.tail.get_or_insert(row.seq);
    }
    Ok(())
}

/// `[[name, number], ...]`, or NULL for none.
fn pairs_to_json(pairs: &[(String, f64)]) -> Option<String> {
    if pairs.is_empty() {
        return None;
    }
    serde_json::to_string(pairs).ok()
}

/// Whole rows, not deltas: writing one again is harmless.
fn save_states(
    tx: &Transaction<'_>,
    heads: &Heads,
    changed: &mut Heads,
    batch: &Batch,
    through: u64,
) -> rusqlite::Result<()> {
    let mut upsert = tx.prepare_cached(
        "INSERT OR REPLACE INTO checks (name, first_configured, removed_at, last_success,
             last_failure, last_failure_reason, last_start, last_duration, pings_success,
             pings_fail, pings_start, pings_log, records, failures_auth, failures_rate_limit,
             failures_timeout, failures_upstream, failures_validation, failures_other,
             failures_exit_code, runs, expiries, consecutive_failures,
             last_failure_exit_status, last_success_duration, reported_values, journal_seq,
             head_seq, journal_rows, tail_seq, recent_failures)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,
          ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30,
          ?31)",
    )?;
    for (name, s) in &batch.states {
        let mut head = (changed.get(name).or_else(|| heads.get(name)))
            .copied()
            .unwrap_or_default();
        head.checkpointed = through;
        changed.insert(name.clone(), head);
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
            through as i64,
            head.seq.map(|s| s as i64),
            head.rows as i64,
            head.tail.map(|s| s as i64),
            failures_to_json(&s.recent_failures),
        ])?;
    }
    Ok(())
}

/// Keeps the newest `history_limit` journal entries of every check with
/// more than that and half as many again (so each check is trimmed in
/// runs, not on every checkpoint), within the budgets of [`MAX_TRIM_ROWS`]
/// and [`MAX_TRIM_SPAN`] per call; returns whether a budget ran out. The
/// newest entries are found through the check's chain of `prev` links; the
/// older ones are deleted as a range of sequence numbers when they are most
/// of that range (a busy check), else one by one along the chain. The rid
/// of a trimmed entry moves to `rid_log`. Only checks with no entry newer
/// than their checkpoint are trimmed, so every trimmed entry is already
/// reflected in its check's row; the new counts and oldest entries are
/// written to the rows of the checks trimmed.
fn trim_journal(
    tx: &Transaction<'_>,
    heads: &Heads,
    changed: &mut Heads,
    history_limit: usize,
) -> rusqlite::Result<bool> {
    let (keep, slack) = trim_rule(history_limit);
    let mut over: Vec<(String, Head)> = heads
        .iter()
        .filter(|(name, _)| !changed.contains_key(*name))
        .chain(changed.iter())
        .filter(|(_, head)| head.rows > keep + slack)
        // Only checks with nothing newer than their checkpoint, whose kept
        // history is then found in `keep` reads: the others keep all those
        // newer entries anyway, and are trimmed after their own checkpoint.
        .filter(|(_, head)| head.seq.is_none_or(|seq| seq <= head.checkpointed))
        .map(|(name, head)| (name.clone(), *head))
        .collect();
    if over.is_empty() {
        return Ok(false);
    }
    over.sort_by_key(|(_, head)| std::cmp::Reverse(head.rows));
    let mut read = tx.prepare_cached("SELECT prev, kind, rid, at FROM journal WHERE seq = ?1")?;
    let mut delete = tx.prepare_cached("DELETE FROM journal WHERE seq = ?1")?;
    let mut keep_rid = tx.prepare_cached(
        "INSERT OR IGNORE INTO rid_log (seq, check_name, kind, rid, at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut keep_rids = tx.prepare_cached(
        "INSERT OR IGNORE INTO rid_log (seq, check_name, kind, rid, at)
         SELECT seq, check_name, kind, rid, at FROM journal
         WHERE seq BETWEEN ?2 AND ?3 AND check_name = ?1 AND rid IS NOT NULL",
    )?;
    let mut delete_range =
        tx.prepare_cached("DELETE FROM journal WHERE seq BETWEEN ?2 AND ?3 AND check_name = ?1")?;
    let mut save =
        tx.prepare_cached("UPDATE checks SET journal_rows = ?2, tail_seq = ?3 WHERE name = ?1")?;
    let mut relink = tx.prepare_cached("UPDATE journal SET prev = ?2 WHERE seq = ?1")?;
    type Entry = (Option<i64>, String, Option<String>, f64);
    // Enough for one check's walk and some of its trim, whatever its
    // history, so every call makes progress.
    let mut budget = MAX_TRIM_ROWS.max(keep + slack);
    let mut span_budget = MAX_TRIM_SPAN;
    'checks: for (name, mut head) in over {
        // The newest `keep` entries stay; `oldest_kept` is the last of them.
        let mut cursor = head.seq;
        let mut oldest_kept = None;
        let mut kept = 0;
        while let Some(seq) = cursor {
            // Entries newer than the check's checkpoint are kept too: a
            // recovery applies them again.
            if kept >= keep && seq <= head.checkpointed {
                break;
            }
            if budget == 0 {
                // This check and the rest wait for the next checkpoint.
                break 'checks;
            }
            budget -= 1;
            let prev: Option<Option<i64>> =
                read.query_row([seq as i64], |row| row.get(0)).optional()?;
            let Some(prev) = prev else { break };
            oldest_kept = Some(seq);
            cursor = prev.map(|s| s as u64);
            kept += 1;
        }
        let Some(newest_trimmed) = cursor else {
            head.rows = kept;
            head.tail = oldest_kept;
            save.execute(params![name, head.rows as i64, head.tail.map(|s| s as i64)])?;
            changed.insert(name, head);
            continue;
        };
        let tail = head.tail.unwrap_or(newest_trimmed).min(newest_trimmed);
        let span = newest_trimmed - tail + 1;
        let trimmed = head.rows.saturating_sub(kept);
        if trimmed * 4 >= span && span_budget > 0 {
            // A busy check: most of the range is its own entries. A span
            // past the budget is trimmed from its old end.
            let end = newest_trimmed.min(tail + span_budget - 1);
            let bounds = params![name, tail as i64, end as i64];
            keep_rids.execute(bounds)?;
            let deleted = delete_range.execute(bounds)? as u64;
            span_budget -= end - tail + 1;
            if end == newest_trimmed {
                head.rows = kept;
                head.tail = oldest_kept;
            } else {
                head.rows = head.rows.saturating_sub(deleted).max(kept);
                head.tail = Some(end + 1);
            }
        } else {
            let mut ended = false;
            let mut trimmed = 0u64;
            while let Some(seq) = cursor {
                if budget == 0 {
                    break;
                }
                let entry: Option<Entry> = read
                    .query_row([seq as i64], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                    })
                    .optional()?;
                let Some((prev, kind, rid, at)) = entry else {
                    ended = true; // trimmed before: the chain ends here
                    break;
                };
                if let Some(rid) = rid {
                    keep_rid.execute(params![seq as i64, name, kind, rid, at])?;
                }
                delete.execute([seq as i64])?;
                trimmed += 1;
                budget -= 1;
                cursor = prev.map(|s| s as u64);
                ended = cursor.is_none();
            }
            // Once the walk reached the end of the chain, its count is the truth.
            if ended {
                head.rows = kept;
                head.tail = oldest_kept;
            } else {
                // Cut short by the budget: the entries kept are linked to
                // the older ones left, so the next trim goes on from there
                // instead of finding the chain ended at what it deleted.
                if let (Some(oldest_kept), Some(next)) = (oldest_kept, cursor) {
                    relink.execute(params![oldest_kept as i64, next as i64])?;
                }
                head.rows = head.rows.saturating_sub(trimmed).max(kept);
                // `tail` stays: it is still at or before the oldest entry.
            }
        }
        save.execute(params![name, head.rows as i64, head.tail.map(|s| s as i64)])?;
        changed.insert(name, head);
    }
    // A budget used up may have left work; a slice that finds none ends it.
    Ok(budget == 0 || span_budget == 0)
}

fn purge(tx: &Transaction<'_>, batch: &Batch) -> rusqlite::Result<()> {
    for name in &batch.purged {
        for sql in [
            "DELETE FROM checks WHERE name = ?1",
            "DELETE FROM journal WHERE check_name = ?1",
            "DELETE FROM rid_log WHERE check_name = ?1",
            "DELETE FROM record_events WHERE check_name = ?1",
            "DELETE FROM run_buckets WHERE check_name = ?1",
        ] {
            tx.prepare_cached(sql)?.execute([name])?;
        }
    }
    Ok(())
}

/// Rids the writer forgot: their `rid_log` rows (an entry still in the
/// journal keeps its rid, as history). A range per check, so that rows a
/// trim moved there after their rid was forgotten go too.
fn forget_rids(tx: &Transaction<'_>, batch: &Batch) -> rusqlite::Result<()> {
    let mut delete = tx.prepare_cached("DELETE FROM rid_log WHERE check_name = ?1 AND seq < ?2")?;
    for forgotten in &batch.forget_rids {
        let before = i64::try_from(forgotten.before).unwrap_or(i64::MAX);
        delete.execute(params![forgotten.check, before])?;
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

/// Record events are appended in arrival order, so the old ones are a
/// prefix of the table: found from its start, deleted as a range.
fn prune_record_events(tx: &Transaction<'_>, before: f64) -> rusqlite::Result<()> {
    let first_young: Option<i64> = tx
        .query_row(
            "SELECT rowid FROM record_events WHERE at >= ?1 ORDER BY rowid LIMIT 1",
            [before],
            |row| row.get(0),
        )
        .optional()?;
    match first_young {
        Some(rowid) => tx.execute("DELETE FROM record_events WHERE rowid < ?1", [rowid])?,
        None => tx.execute("DELETE FROM record_events", [])?,
    };
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

fn failures_to_json(failures: &[f64]) -> String {
    serde_json::to_string(failures).unwrap_or_else(|_| "[]".into())
}

fn expiries_to_json(expiries: &BTreeMap<String, f64>) -> String {
    if expiries.is_empty() {
        return "{}".into();
    }
    serde_json::to_string(expiries).unwrap_or_else(|_| "{}".into())
}
