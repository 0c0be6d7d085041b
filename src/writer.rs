//! Group commit: one thread owns the [`Store`]. Handlers send it their ping
//! and wait; it takes everything that has queued, applies it to copies of the
//! touched checks, commits the lot in one transaction, and only then
//! publishes the new state to memory and answers every waiting handler.
//! Throughput comes from batching, never from weakening durability: a 2xx is
//! sent only for a ping that is on disk.
//!
//! The writer is also the only thing that changes the state map, so the
//! duplicate-rid check and the state it guards can never race.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::clock::Stamp;
use crate::config::Config;
use crate::expect::{prune_events, RECORD_RETENTION};
use crate::ping::{Kind, Ping};
use crate::shared::Shared;
use crate::state::{CheckState, Reconcile, RID_MIN_AGE};
use crate::store::{Batch, HistoryRow, RecordEvent, RidRow, Store, StoreError};

/// Most requests folded into one transaction; bounds commit latency.
const MAX_BATCH: usize = 4096;
/// How often retention and rid pruning run.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(60);
/// How often a failing store is probed when no pings arrive, so that
/// `/-/healthy` recovers when the fault clears.
const FAULT_PROBE_INTERVAL: Duration = Duration::from_secs(5);

/// A ping that passed lookup, auth and parsing.
#[derive(Debug)]
pub struct PingJob {
    pub check: String,
    pub ping: Ping,
    /// When the request arrived (not when it was committed).
    pub at: Stamp,
    pub remote_addr: String,
    pub user_agent: Option<String>,
}

/// What happened to a ping that reached the writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Applied and durable.
    Accepted,
    /// Same (check, kind, rid) as one already accepted: nothing changed.
    Duplicate,
}

enum Request {
    Ping(PingJob, oneshot::Sender<Result<Outcome, StoreError>>),
    /// Make `config` current: record new checks' first-configured time, mark
    /// removed ones, then swap it in.
    Apply(Arc<Config>, oneshot::Sender<Result<(), StoreError>>),
    /// Read a check's recent pings (the writer owns the store).
    History(
        String,
        usize,
        oneshot::Sender<Result<Vec<HistoryRow>, StoreError>>,
    ),
    Stop,
}

/// The handlers' end of the writer. Cheap to clone.
#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Request>,
}

impl WriterHandle {
    /// Queues a ping and waits until it is durable (or the store failed).
    pub async fn ping(&self, job: PingJob) -> Result<Outcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request::Ping(job, reply))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Makes `config` current once its changes to the state are durable.
    pub async fn apply_config(&self, config: Arc<Config>) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request::Apply(config, reply))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// A check's most recent pings, newest first, including every ping
    /// acknowledged before this call.
    pub async fn history(&self, check: &str, limit: usize) -> Result<Vec<HistoryRow>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request::History(check.to_string(), limit, reply))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Asks the writer to finish what is queued and exit.
    pub fn stop(&self) {
        let _ = self.tx.send(Request::Stop);
    }
}

fn stopped() -> StoreError {
    StoreError("the storage writer has stopped".into())
}

/// Creates the channel; the thread is started by [`spawn`] once the shared
/// state (which owns the handle) exists.
pub fn channel() -> (WriterHandle, WriterInbox) {
    let (tx, rx) = mpsc::channel();
    (WriterHandle { tx }, WriterInbox { rx })
}

/// The writer's end of the channel.
pub struct WriterInbox {
    rx: mpsc::Receiver<Request>,
}

/// Starts the writer: it loads the store into memory, applies the initial
/// config, marks the exporter ready and then serves requests. `loaded`
/// receives the outcome of the load so that startup can fail loudly.
pub fn spawn(
    shared: Weak<Shared>,
    mut store: Box<dyn Store>,
    inbox: WriterInbox,
    loaded: oneshot::Sender<Result<(), StoreError>>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("deadman-writer".into())
        .spawn(move || {
            let startup = match shared.upgrade() {
                Some(shared) => startup(&shared, store.as_mut()),
                None => return,
            };
            let failed = startup.is_err();
            let _ = loaded.send(startup);
            if !failed {
                serve(&shared, store.as_mut(), inbox);
            }
        })
}

fn startup(shared: &Shared, store: &mut dyn Store) -> Result<(), StoreError> {
    let started = Instant::now();
    let snapshot = store.load()?;
    let restored = snapshot.checks.len();
    shared
        .metrics
        .restored_checks
        .set(snapshot.checks.len() as i64);
    {
        let mut state = shared.state_mut();
        for (name, check_state) in snapshot.checks {
            state.checks.entry(name).or_default().state = check_state;
        }
        for row in snapshot.rids {
            if let Some(entry) = state.checks.get_mut(&row.check) {
                entry.rids.insert(row.kind, &row.rid, row.at);
            }
        }
        for event in snapshot.record_events {
            if let Some(entry) = state.checks.get_mut(&event.check) {
                entry.record_events.push_back((event.at, event.records));
            }
        }
    }
    apply_config(shared, store, shared.config())?;
    shared.set_ready();
    tracing::info!(
        restored_checks = restored,
        seconds = started.elapsed().as_secs_f64(),
        "stored state loaded; ready"
    );
    Ok(())
}

fn serve(shared: &Weak<Shared>, store: &mut dyn Store, inbox: WriterInbox) {
    let mut last_maintenance = Instant::now();
    loop {
        let faulted = shared
            .upgrade()
            .is_some_and(|s| s.storage_fault().is_some());
        let wait = if faulted {
            FAULT_PROBE_INTERVAL
        } else {
            MAINTENANCE_INTERVAL.saturating_sub(last_maintenance.elapsed())
        };
        let first = match inbox.rx.recv_timeout(wait) {
            Ok(request) => Some(request),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if first.is_none() || last_maintenance.elapsed() >= MAINTENANCE_INTERVAL {
            maintenance(&shared, store);
            last_maintenance = Instant::now();
        }
        let Some(first) = first else { continue };

        let mut pings = Vec::new();
        let mut pending = Some(first);
        while let Some(request) = pending.take() {
            match request {
                Request::Ping(job, reply) => pings.push((job, reply)),
                Request::Apply(config, reply) => {
                    // Keep order: pings queued before a reload commit first.
                    commit_pings(&shared, store, std::mem::take(&mut pings));
                    let _ = reply.send(apply_config(&shared, store, config));
                }
                Request::History(check, limit, reply) => {
                    commit_pings(&shared, store, std::mem::take(&mut pings));
                    let _ = reply.send(store.history(&check, limit));
                }
                Request::Stop => {
                    commit_pings(&shared, store, pings);
                    return;
                }
            }
            if pings.len() < MAX_BATCH {
                pending = inbox.rx.try_recv().ok();
            }
        }
        commit_pings(&shared, store, pings);
    }
}

/// Applies a group of pings to copies of their checks, commits, publishes.
fn commit_pings(
    shared: &Shared,
    store: &mut dyn Store,
    pings: Vec<(PingJob, oneshot::Sender<Result<Outcome, StoreError>>)>,
) {
    if pings.is_empty() {
        return;
    }
    let config = shared.config();
    let mut batch = Batch {
        history_limit: config.storage.history,
        ..Batch::default()
    };
    let mut work: HashMap<&str, CheckState> = HashMap::new();
    let mut batch_rids: HashSet<(&str, Kind, &str)> = HashSet::new();
    let mut outcomes = Vec::with_capacity(pings.len());
    {
        let state = shared.state();
        for (job, _) in &pings {
            let check = job.check.as_str();
            let entry = state.checks.get(check);
            if let Some(rid) = job.ping.rid.as_deref() {
                let seen_before = entry.is_some_and(|e| e.rids.contains(job.ping.kind, rid));
                if seen_before || !batch_rids.insert((check, job.ping.kind, rid)) {
                    outcomes.push(Outcome::Duplicate);
                    continue;
                }
                batch.rids.push(RidRow {
                    check: job.check.clone(),
                    kind: job.ping.kind,
                    rid: rid.to_string(),
                    at: job.at.wall,
                });
            }
            work.entry(check)
                .or_insert_with(|| {
                    entry.map_or_else(|| CheckState::new(job.at.wall), |e| e.state.clone())
                })
                .apply(&job.ping, job.at);
            let counts_volume = matches!(job.ping.kind, Kind::Success | Kind::Fail)
                && config.check(check).is_some_and(|c| c.volume.is_some());
            if let (true, Some(records)) = (counts_volume, job.ping.records) {
                batch.record_events.push(RecordEvent {
                    check: job.check.clone(),
                    at: job.at.wall,
                    records,
                });
            }
            batch.history.push(history_row(job));
            outcomes.push(Outcome::Accepted);
        }
    }
    batch.states = work
        .into_iter()
        .map(|(name, state)| (name.to_string(), state))
        .collect();

    let result = if batch.is_empty() {
        Ok(())
    } else {
        commit(shared, store, &batch, pings.len())
    };
    match result {
        Ok(()) => {
            publish(shared, &batch);
            for ((_, reply), outcome) in pings.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(err) => {
            for (_, reply) in pings {
                let _ = reply.send(Err(err.clone()));
            }
        }
    }
}

fn history_row(job: &PingJob) -> HistoryRow {
    HistoryRow {
        check: job.check.clone(),
        at: job.at.wall,
        kind: job.ping.kind,
        rid: job.ping.rid.clone(),
        records: job.ping.records,
        reason: job.ping.reason,
        exit_status: job.ping.exit_status,
        message: job.ping.message.clone(),
        remote_addr: job.remote_addr.clone(),
        user_agent: job.user_agent.clone(),
    }
}

/// Commits with metrics and fault tracking.
fn commit(
    shared: &Shared,
    store: &mut dyn Store,
    batch: &Batch,
    requests: usize,
) -> Result<(), StoreError> {
    let started = Instant::now();
    let result = store.commit(batch);
    match &result {
        Ok(()) => {
            shared
                .metrics
                .storage_commit_duration
                .observe(started.elapsed().as_secs_f64());
            shared
                .metrics
                .storage_commit_batch_size
                .observe(requests as f64);
            if shared.storage_fault().is_some() {
                tracing::info!("storage recovered; writes resumed");
            }
            shared.set_storage_fault(None);
        }
        Err(err) => {
            shared.metrics.storage_errors.inc();
            if shared.storage_fault().is_none() {
                tracing::error!(error = %err, "storage commit failed; pings get 503 until it recovers");
            }
            shared.set_storage_fault(Some(err.to_string()));
        }
    }
    result
}

/// Makes a committed batch visible to scrapes and later pings.
fn publish(shared: &Shared, batch: &Batch) {
    let config = shared.config();
    let now = shared.now().wall;
    let mut state = shared.state_mut();
    for event in &batch.record_events {
        if let Some(entry) = state.checks.get_mut(&event.check) {
            entry.record_events.push_back((event.at, event.records));
            if let Some(volume) = config.check(&event.check).and_then(|c| c.volume.as_ref()) {
                prune_events(&mut entry.record_events, volume.horizon(now));
            }
        }
    }
    for (name, check_state) in &batch.states {
        state.checks.entry(name.clone()).or_default().state = check_state.clone();
    }
    for name in &batch.purged {
        state.checks.remove(name);
    }
    for row in &batch.rids {
        if let Some(entry) = state.checks.get_mut(&row.check) {
            entry.rids.insert(row.kind, &row.rid, row.at);
        }
    }
}

/// Records what a config changes about the state, then swaps it in.
fn apply_config(
    shared: &Shared,
    store: &mut dyn Store,
    config: Arc<Config>,
) -> Result<(), StoreError> {
    let batch = reconcile_batch(shared, &config, shared.now().wall);
    if !batch.is_empty() {
        commit(shared, store, &batch, 0)?;
        publish(shared, &batch);
    }
    shared.swap_config(config);
    Ok(())
}

/// What `config` changes about the known checks, as a batch: new checks'
/// first-configured time, removals, and purges past retention.
fn reconcile_batch(shared: &Shared, config: &Config, now: f64) -> Batch {
    let Reconcile { upserts, purged } =
        shared
            .state()
            .reconcile(config, now, config.storage.retention.as_secs_f64());
    Batch {
        states: upserts,
        purged,
        history_limit: config.storage.history,
        ..Batch::default()
    }
}

/// Retention, rid pruning, and a write that proves the store works again
/// after a fault.
fn maintenance(shared: &Shared, store: &mut dyn Store) {
    let config = shared.config();
    let now = shared.now().wall;
    let batch = Batch {
        prune_rids_before: Some(now - RID_MIN_AGE),
        // No window needs more; memory prunes per check.
        prune_record_events_before: Some(now - RECORD_RETENTION.as_secs_f64()),
        ..reconcile_batch(shared, &config, now)
    };
    if commit(shared, store, &batch, 0).is_ok() {
        publish(shared, &batch);
        let mut state = shared.state_mut();
        for (name, entry) in state.checks.iter_mut() {
            match config.check(name).and_then(|c| c.volume.as_ref()) {
                Some(volume) => prune_events(&mut entry.record_events, volume.horizon(now)),
                None => entry.record_events.clear(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopped_writer_error_is_a_sentence() {
        assert_eq!(stopped().to_string(), "the storage writer has stopped");
    }
}
