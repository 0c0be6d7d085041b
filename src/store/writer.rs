//! Group commit: one thread owns the [`Store`]. Handlers send it their ping
//! and wait; it takes everything that has queued, plans one batch from its
//! [`WorkingSet`], commits it in one transaction, and only then applies it,
//! publishes the new state and answers every waiting handler. Throughput
//! comes from batching, never from weakening durability: a 2xx is sent only
//! for a ping that is on disk.
//!
//! The writer is also the only thing that changes the state, so the
//! duplicate-rid check and the state it guards can never race, and the one
//! that knows whether storage is loaded and healthy: [`WriterHandle`]
//! answers `/-/ready`, `/-/healthy` and the 503s.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::error::StoreError;
use super::loading::Opened;
use super::seam::{Batch, HistoryRow, Store};
use super::working_set::{Outcome, PingJob, Unconfigured, WorkingSet};
use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::StorageMetrics;
use crate::state::StatePublisher;

/// Most requests folded into one transaction; bounds commit latency.
const MAX_BATCH: usize = 4096;
/// How often retention and rid pruning run.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(60);
/// How often a failing store is probed when no pings arrive, so that
/// `/-/healthy` recovers when the fault clears.
const FAULT_PROBE_INTERVAL: Duration = Duration::from_secs(5);
/// How often the state of checks changed since the last checkpoint is
/// written; a crash is recovered by applying the journal entries of at most
/// about this long again.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(10);
/// ...or once this many pings were journaled since the last one, so a
/// recovery never has much more to apply again.
const CHECKPOINT_PINGS: u64 = 100_000;

/// How long the writer must have had nothing to do before it trims a slice
/// of history (one slice is a few milliseconds; a ping that arrives
/// meanwhile waits for it). Under a steady flood it never pauses that long,
/// and checkpoints trim their bounded share alone.
const TRIM_AFTER_IDLE: Duration = Duration::from_millis(20);
/// Once idle, the next slice follows after this much more quiet, so a
/// backlog left by a flood is trimmed at about 30,000 rows/s (measured
/// after a flood at 10,000 checks) rather than one slice per 20 ms; any
/// request ends that until the next long pause.
const TRIM_AGAIN_AFTER: Duration = Duration::from_millis(2);
/// How often trim slices, hot checkpoints and the parts of a checkpoint
/// round update the journal gauges: a count walks every check, and each of
/// those takes only a few milliseconds.
const JOURNAL_ROWS_EVERY: Duration = Duration::from_secs(1);

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

enum Request {
    Ping(PingJob, Reply<Outcome>),
    /// Make `config` the writer's: record new checks' first-configured
    /// time, mark removed ones, publish.
    Apply(Arc<Config>, Reply<()>),
    /// Read a check's recent pings (the writer owns the store).
    History(String, usize, Reply<Vec<HistoryRow>>),
    Stop,
}

/// What the writer knows about storage that handlers ask about.
#[derive(Default)]
struct StorageStatus {
    /// False until the store is loaded and the config applied; until then
    /// `/-/ready` and pings answer 503 rather than act on missing state.
    ready: AtomicBool,
    /// The last storage error, until a commit succeeds again; reported by
    /// `/-/healthy` and in 503 bodies.
    fault: Mutex<Option<String>>,
}

impl StorageStatus {
    fn fault(&self) -> Option<String> {
        self.fault.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_fault(&self, fault: Option<String>) {
        *self.fault.lock().unwrap_or_else(|e| e.into_inner()) = fault;
    }
}

/// The handlers' end of the writer. Cheap to clone.
#[derive(Clone)]
pub struct WriterHandle {
    /// Requests to the writer thread, answered in order.
    tx: mpsc::Sender<Request>,
    /// Readiness and the current fault, written by the thread.
    status: Arc<StorageStatus>,
}

impl WriterHandle {
    /// Whether stored state is loaded: until then nothing may act on state.
    pub fn is_ready(&self) -> bool {
        self.status.ready.load(Ordering::Acquire)
    }

    /// The storage error that is making commits fail, if any.
    pub fn storage_fault(&self) -> Option<String> {
        self.status.fault()
    }

    /// Queues a ping and waits until it is durable (or the store failed).
    pub async fn ping(&self, job: PingJob) -> Result<Outcome, StoreError> {
        self.ask(|reply| Request::Ping(job, reply)).await
    }

    /// Makes `config` the writer's once its changes to the state are
    /// durable and published.
    pub async fn apply_config(&self, config: Arc<Config>) -> Result<(), StoreError> {
        self.ask(|reply| Request::Apply(config, reply)).await
    }

    /// A check's most recent pings, newest first, including every ping
    /// acknowledged before this call.
    pub async fn history(&self, check: &str, limit: usize) -> Result<Vec<HistoryRow>, StoreError> {
        let check = check.to_string();
        self.ask(|reply| Request::History(check, limit, reply))
            .await
    }

    /// Asks the writer to finish what is queued and exit.
    pub fn stop(&self) {
        let _ = self.tx.send(Request::Stop);
    }

    async fn ask<T>(&self, request: impl FnOnce(Reply<T>) -> Request) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(request(reply))
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

/// Everything the writer thread needs, and nothing else.
pub struct WriterParts {
    /// The durable store, perhaps with its state being read already; the
    /// writer thread is its only user.
    pub store: Opened,
    /// The config in force at startup; later ones arrive by `apply_config`.
    pub config: Arc<Config>,
    /// Where committed state becomes visible to readers.
    pub publisher: StatePublisher,
    /// Commit durations, batch sizes, errors, restored checks.
    pub metrics: StorageMetrics,
    /// For the first-configured time of new checks and for pruning.
    pub clock: Arc<dyn Clock>,
}

/// The running writer: its handle, its thread (joined on shutdown so the
/// last batch is on disk), and the outcome of loading the store.
pub struct Spawned {
    /// For handlers: pings, history, readiness, health.
    pub handle: WriterHandle,
    /// Joined on shutdown, so the last batch is on disk before exit.
    pub thread: JoinHandle<()>,
    /// The outcome of loading the store, so startup can fail loudly.
    pub loaded: oneshot::Receiver<Result<(), StoreError>>,
}

/// Starts the writer: it loads the store, applies the initial config,
/// publishes, marks itself ready and then serves requests.
pub fn spawn(parts: WriterParts) -> std::io::Result<Spawned> {
    let (tx, rx) = mpsc::channel();
    let status = Arc::new(StorageStatus::default());
    let (loaded_tx, loaded) = oneshot::channel();
    let writer_status = Arc::clone(&status);
    let thread = std::thread::Builder::new()
        .name("deadman-writer".into())
        .spawn(move || {
            let started = Instant::now();
            let (store, read) = match parts.store.finish() {
                Ok(loaded) => loaded,
                Err(err) => {
                    let _ = loaded_tx.send(Err(err));
                    return;
                }
            };
            let mut writer = Writer {
                store,
                set: WorkingSet::default(),
                config: parts.config,
                publisher: parts.publisher,
                metrics: parts.metrics,
                clock: parts.clock,
                status: writer_status,
                checkpoint_failing: false,
                last_state_checkpoint: Instant::now(),
                checkpoint_round: false,
                trim_pending: false,
                idle: false,
                journal_rows_counted: Instant::now(),
            };
            let startup = writer.startup(read, started);
            let failed = startup.is_err();
            let _ = loaded_tx.send(startup);
            if !failed {
                writer.serve(&rx);
            }
        })?;
    Ok(Spawned {
        handle: WriterHandle { tx, status },
        thread,
        loaded,
    })
}

struct Writer {
    /// The durable record.
    store: Box<dyn Store>,
    /// The in-memory copy; changed only by committed batches.
    set: WorkingSet,
    /// The config pings are recorded under (history limit, volume checks).
    config: Arc<Config>,
    /// Where each committed batch becomes visible.
    publisher: StatePublisher,
    /// Commit durations, batch sizes, errors.
    metrics: StorageMetrics,
    /// For reconcile and pruning.
    clock: Arc<dyn Clock>,
    /// What handlers ask about: ready, and the current fault.
    status: Arc<StorageStatus>,
    /// Whether the last checkpoint failed, so a lasting failure is logged
    /// once as a warning and its recovery once.
    checkpoint_failing: bool,
    /// When check state was last checkpointed completely.
    last_state_checkpoint: Instant,
    /// A round of checkpoints is under way: more changed checks than one
    /// checkpoint writes.
    checkpoint_round: bool,
    /// A checkpoint was written since history was last trimmed to its
    /// limit: the checkpoint trims only a bounded share, and the rest is
    /// trimmed in slices while no request waits.
    trim_pending: bool,
    /// The last wait ended in a slice of trimming and no request has
    /// arrived since, so the next slice needs only [`TRIM_AGAIN_AFTER`].
    idle: bool,
    /// When the journal gauges were last counted: a trim slice counts
    /// again only after [`JOURNAL_ROWS_EVERY`], since counting walks every
    /// check and slices follow each other every few milliseconds.
    journal_rows_counted: Instant,
}

impl Writer {
    /// Makes the stored state (read since `started`) the working set under
    /// the initial config, then marks the writer ready.
    fn startup(&mut self, read: Unconfigured, started: Instant) -> Result<(), StoreError> {
        let restored = read.restored_checks();
        self.metrics.restored_checks.set(restored as i64);
        self.set = read.configure(&self.config, self.clock.now().wall);
        // Also the first checkpoint: what the replay changed is written.
        self.apply_config(Arc::clone(&self.config))?;
        self.publish_journal_rows();
        self.status.ready.store(true, Ordering::Release);
        tracing::info!(
            restored_checks = restored,
            seconds = started.elapsed().as_secs_f64(),
            "stored state loaded; ready"
        );
        Ok(())
    }

    /// The writer's loop: waits for a request no longer than the next
    /// timed duty (maintenance, a fault probe, a state checkpoint, an idle
    /// trim slice), does the duty that is due, then serves the requests
    /// queued. Returns after the last commit and checkpoint on stop.
    fn serve(&mut self, inbox: &mpsc::Receiver<Request>) {
        let mut last_maintenance = Instant::now();
        loop {
            let mut wait = if self.status.fault().is_some() {
                FAULT_PROBE_INTERVAL
            } else {
                MAINTENANCE_INTERVAL.saturating_sub(last_maintenance.elapsed())
            };
            if self.set.dirty() > 0 {
                let due = match self.checkpoint_round {
                    true => Duration::ZERO,
                    false => {
                        CHECKPOINT_INTERVAL.saturating_sub(self.last_state_checkpoint.elapsed())
                    }
                };
                wait = wait.min(due);
            }
            let trim_when_idle = self.trim_pending && self.status.fault().is_none();
            let quiet = if self.idle {
                TRIM_AGAIN_AFTER
            } else {
                TRIM_AFTER_IDLE
            };
            if trim_when_idle {
                wait = wait.min(quiet);
            }
            let first = match inbox.recv_timeout(wait) {
                Ok(request) => {
                    self.idle = false;
                    Some(request)
                }
                Err(RecvTimeoutError::Timeout) => {
                    // Only after a real pause: a slice started whenever the
                    // queue is empty for a moment starves a steady load.
                    if trim_when_idle && wait == quiet {
                        self.trim_slice();
                        self.idle = true;
                    }
                    None
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.checkpoint_all();
                    self.checkpoint();
                    return;
                }
            };
            let maintenance_due = last_maintenance.elapsed() >= MAINTENANCE_INTERVAL
                || (first.is_none() && self.status.fault().is_some());
            if maintenance_due {
                self.maintenance();
                last_maintenance = Instant::now();
            } else if self.state_checkpoint_due() {
                self.checkpoint_state();
            }
            let Some(first) = first else { continue };
            if !self.serve_group(first, inbox) {
                return;
            }
        }
    }

    /// Serves `first` and what is queued behind it, its pings (up to
    /// [`MAX_BATCH`]) committed as one group; `false` once told to stop.
    fn serve_group(&mut self, first: Request, inbox: &mpsc::Receiver<Request>) -> bool {
        let mut pings = Vec::new();
        let mut pending = Some(first);
        while let Some(request) = pending.take() {
            match request {
                Request::Ping(job, reply) => pings.push((job, reply)),
                Request::Apply(config, reply) => {
                    // Keep order: pings queued before a reload commit first.
                    self.commit_pings(std::mem::take(&mut pings));
                    let _ = reply.send(self.apply_config(config));
                }
                Request::History(check, limit, reply) => {
                    self.commit_pings(std::mem::take(&mut pings));
                    let _ = reply.send(self.store.history(&check, limit));
                }
                Request::Stop => {
                    self.commit_pings(pings);
                    self.checkpoint_all();
                    self.checkpoint();
                    return false;
                }
            }
            if pings.len() < MAX_BATCH {
                pending = inbox.try_recv().ok();
            }
        }
        self.commit_pings(pings);
        true
    }

    /// Plans, commits, applies and publishes a group of pings, then answers
    /// each with its outcome (or the commit's error).
    fn commit_pings(&mut self, pings: Vec<(PingJob, Reply<Outcome>)>) {
        if pings.is_empty() {
            return;
        }
        let store = &mut self.store;
        let planned =
            self.set
                .plan_pings(pings.iter().map(|(job, _)| job), &self.config, &mut |seq| {
                    store.rid_at(seq)
                });
        let result = planned.and_then(|(batch, outcomes, effects)| {
            if !batch.is_empty() {
                self.commit(&batch, pings.len())?;
                let now = self.clock.now().wall;
                let forgotten = self.set.apply_pings(effects, &self.config, now);
                self.metrics.rids_forgotten.inc_by(forgotten as u64);
                self.publisher.publish(self.set.snapshot());
            }
            Ok(outcomes)
        });
        match result {
            Ok(outcomes) => {
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
        if self.state_checkpoint_due() {
            self.checkpoint_state();
        } else if self.set.has_hot_check() && self.status.fault().is_none() {
            self.checkpoint_hot();
        }
    }

    fn state_checkpoint_due(&self) -> bool {
        self.set.dirty() > 0
            && self.status.fault().is_none()
            && (self.checkpoint_round
                || self.last_state_checkpoint.elapsed() >= CHECKPOINT_INTERVAL
                || self.set.journaled_since_checkpoint() >= CHECKPOINT_PINGS)
    }

    /// Commits with metrics and fault tracking.
    fn commit(&mut self, batch: &Batch, requests: usize) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.store.commit(batch);
        match &result {
            Ok(()) => {
                self.metrics
                    .commit_duration
                    .observe(started.elapsed().as_secs_f64());
                self.metrics.commit_batch_size.observe(requests as f64);
                if self.status.fault().is_some() {
                    tracing::info!("storage recovered; writes resumed");
                }
                self.status.set_fault(None);
            }
            Err(err) => {
                self.metrics.errors.inc();
                if self.status.fault().is_none() {
                    tracing::error!(error = %err, "storage commit failed; pings get 503 until it recovers");
                }
                self.status.set_fault(Some(err.to_string()));
            }
        }
        result
    }

    /// Commits `changes` as part of a checkpoint of every check changed
    /// since the last one; on success applies it and publishes.
    fn commit_checkpoint(&mut self, changes: Batch) -> Result<(), StoreError> {
        let batch = self.set.checkpoint(changes, &self.config);
        if !batch.is_empty() {
            self.commit(&batch, 0)?;
            self.set.apply_checkpoint(&batch);
            self.trim_pending = true;
        }
        self.checkpoint_round = self.set.dirty() > 0;
        // Counting walks every check: once a round, not once a part of it.
        if !batch.is_empty()
            && (!self.checkpoint_round || self.journal_rows_counted.elapsed() >= JOURNAL_ROWS_EVERY)
        {
            self.publish_journal_rows();
        }
        if !self.checkpoint_round {
            self.last_state_checkpoint = Instant::now();
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.publisher.publish(self.set.snapshot());
        drop(batch);
        if !self.checkpoint_round {
            release_free_memory();
        }
        Ok(())
    }

    /// Writes the state of the checks changed since the last checkpoint. A
    /// failure is a storage fault like any failed commit; the journal still
    /// has every acknowledged ping.
    fn checkpoint_state(&mut self) {
        let _ = self.commit_checkpoint(Batch::default());
    }

    /// Writes the state of the checks pinged most since their checkpoint,
    /// on their own: short, and unlike a regular checkpoint nothing that
    /// readers see changes, so nothing is published.
    fn checkpoint_hot(&mut self) {
        let batch = self.set.checkpoint_hot(&self.config);
        if !batch.is_empty() && self.commit(&batch, 0).is_ok() {
            self.set.apply_checkpoint(&batch);
            self.trim_pending = true;
            if self.journal_rows_counted.elapsed() >= JOURNAL_ROWS_EVERY {
                self.publish_journal_rows();
            }
        }
    }

    /// One slice of history trimming. A failure is logged and the rest
    /// waits for the next checkpoint: every ping is still stored, only the
    /// history is longer than its limit for a while.
    fn trim_slice(&mut self) {
        self.trim_pending = match self.store.trim_history() {
            Ok(more) => more,
            Err(err) => {
                tracing::warn!(error = %err, "trimming history failed; retried after the next checkpoint");
                false
            }
        };
        if !self.trim_pending || self.journal_rows_counted.elapsed() >= JOURNAL_ROWS_EVERY {
            self.publish_journal_rows();
        }
    }

    /// Sets the journal gauges after what changes them (a state checkpoint,
    /// which trims, or a trim slice), not per commit: counting walks every
    /// check.
    fn publish_journal_rows(&mut self) {
        self.journal_rows_counted = Instant::now();
        if let Some(rows) = self.store.journal_rows() {
            let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            self.metrics.journal_rows.set(gauge(rows.stored));
            (self.metrics.journal_rows_awaiting_trim).set(gauge(rows.awaiting_trim));
        }
    }

    /// Checkpoints until every changed check is written (on shutdown).
    fn checkpoint_all(&mut self) {
        while self.set.dirty() > 0 {
            if self.commit_checkpoint(Batch::default()).is_err() {
                return;
            }
        }
    }

    /// Records what a config changes about the state, then adopts it.
    fn apply_config(&mut self, config: Arc<Config>) -> Result<(), StoreError> {
        let changes = self.set.reconcile(&config, self.clock.now().wall);
        // On failure the previous config stays, in memory as on disk.
        let previous = std::mem::replace(&mut self.config, Arc::clone(&config));
        if let Err(err) = self.commit_checkpoint(changes) {
            self.config = previous;
            return Err(err);
        }
        // Still publish: the first publish is what readers start from.
        self.publisher.publish(self.set.snapshot());
        Ok(())
    }

    /// Retention, pruning, a write that proves the store works again after
    /// a fault, a checkpoint of check state, and one of the WAL so the
    /// database file alone is never more than a maintenance interval
    /// behind.
    fn maintenance(&mut self) {
        let now = self.clock.now().wall;
        let changes = self.set.maintenance(&self.config, now);
        if self.commit_checkpoint(changes).is_ok() {
            self.set.prune_windows(&self.config, now);
            // Forgotten here, deleted from the store with the next checkpoint.
            self.set.prune_rids(now);
            self.publisher.publish(self.set.snapshot());
            self.checkpoint();
        }
    }

    /// Checkpoints the store. A failure is only logged: every commit is
    /// still durable in the WAL, so pings and health are unaffected, and
    /// the next pass (or shutdown) tries again.
    fn checkpoint(&mut self) {
        match self.store.checkpoint() {
            Ok(()) => {
                if self.checkpoint_failing {
                    tracing::info!("storage checkpoint succeeded again");
                }
                self.checkpoint_failing = false;
            }
            Err(err) => {
                if self.checkpoint_failing {
                    tracing::debug!(error = %err, "storage checkpoint still failing");
                } else {
                    tracing::warn!(error = %err, "storage checkpoint failed; retried every minute");
                }
                self.checkpoint_failing = true;
            }
        }
    }
}

/// Returns the allocator's free pages to the OS. Every batch copies the
/// checks it changes (the published snapshot keeps the old copies until
/// readers drop them), so the writer's heap is full of small free holes
/// after a burst; without this they would count as resident memory for
/// good. Called after each state checkpoint, every few seconds at most.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory glibc holds free; it has no
    // preconditions and may be called from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::clock::ManualClock;
    use crate::store::seam::{MemoryStore, Snapshot};

    /// Counts checkpoints; fails them while `failing`.
    struct Counting {
        checkpoints: Arc<AtomicUsize>,
        failing: bool,
    }

    impl Store for Counting {
        fn load(&mut self) -> Result<Snapshot, StoreError> {
            MemoryStore.load()
        }

        fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
            MemoryStore.commit(batch)
        }

        fn history(&mut self, check: &str, limit: usize) -> Result<Vec<HistoryRow>, StoreError> {
            MemoryStore.history(check, limit)
        }

        fn checkpoint(&mut self) -> Result<(), StoreError> {
            self.checkpoints.fetch_add(1, Ordering::SeqCst);
            if self.failing {
                return Err(StoreError::Backend("checkpoint failed".into()));
            }
            Ok(())
        }
    }

    fn writer(failing: bool) -> (Writer, Arc<AtomicUsize>) {
        let checkpoints = Arc::new(AtomicUsize::new(0));
        let config = Config::parse(
            "[[check]]\nname = \"a\"\nowner = \"ops\"\nevery = \"1h\"\n",
            std::path::Path::new("."),
        )
        .expect("config");
        let writer = Writer {
            store: Box::new(Counting {
                checkpoints: Arc::clone(&checkpoints),
                failing,
            }),
            set: WorkingSet::default(),
            config: Arc::new(config),
            publisher: crate::state::channel().0,
            metrics: crate::metrics::Metrics::new().storage,
            clock: Arc::new(ManualClock::new(1_772_442_000.0)),
            status: Arc::new(StorageStatus::default()),
            checkpoint_failing: false,
            last_state_checkpoint: Instant::now(),
            checkpoint_round: false,
            trim_pending: false,
            idle: false,
            journal_rows_counted: Instant::now(),
        };
        (writer, checkpoints)
    }

    #[test]
    fn maintenance_checkpoints_the_store() {
        let (mut writer, checkpoints) = writer(false);
        writer.maintenance();
        assert_eq!(checkpoints.load(Ordering::SeqCst), 1);
        assert!(!writer.checkpoint_failing);
    }

    #[test]
    fn a_failed_checkpoint_is_no_storage_fault() {
        let (mut writer, checkpoints) = writer(true);
        writer.maintenance();
        writer.maintenance();
        assert_eq!(checkpoints.load(Ordering::SeqCst), 2);
        assert!(writer.checkpoint_failing);
        assert_eq!(writer.status.fault(), None, "health is unaffected");
        assert_eq!(writer.metrics.errors.get(), 0, "no commit failed");
    }

    #[test]
    fn stopping_checkpoints_after_the_last_commit() {
        let (mut writer, checkpoints) = writer(false);
        let (tx, rx) = mpsc::channel();
        tx.send(Request::Stop).expect("send");
        writer.serve(&rx);
        assert_eq!(checkpoints.load(Ordering::SeqCst), 1);
    }
}
