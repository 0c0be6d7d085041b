//! [`SingleFlight`]: one run of an expensive job at a time, shared by
//! everyone who asked while it could still answer them.
//!
//! Used for scrapes: 32 Prometheus servers (or 32 retries of one) scraping
//! 20,000 checks at once used to render 32 copies, 2.4 GB. Now a scrape
//! waits for the render in progress only if that render started after the
//! scrape arrived; otherwise it waits for the next one, which it then
//! shares. So every answer is at least as fresh as the request, and at most
//! one render (and one copy of its output) exists at a time. The result is
//! kept only while someone is still waiting: a scrape's body is not held
//! between scrapes.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use tokio::sync::Semaphore;

pub struct SingleFlight<T> {
    /// One job at a time. A semaphore, not a mutex around the result, so no
    /// lock on data is held while the job runs.
    turn: Semaphore,
    /// Jobs started so far; a caller notes it on arrival.
    started: AtomicU64,
    /// The last finished job's number and result, while anyone is in
    /// [`SingleFlight::run`]: only a caller already waiting can use it.
    last: Mutex<Option<(u64, T)>>,
    /// Callers in [`SingleFlight::run`].
    waiting: AtomicUsize,
}

impl<T: Clone> Default for SingleFlight<T> {
    fn default() -> Self {
        SingleFlight {
            turn: Semaphore::new(1),
            started: AtomicU64::new(0),
            last: Mutex::new(None),
            waiting: AtomicUsize::new(0),
        }
    }
}

impl<T: Clone> SingleFlight<T> {
    /// The result of a run of `job` that started after this call did:
    /// someone else's if one finished meanwhile, else this caller's own.
    pub async fn run<F, Fut>(&self, job: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        // Counted before `arrived` is read: a result this caller can use
        // (a job that started after this) is never dropped under it.
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _leave = Leave(self);
        let arrived = self.started.load(Ordering::SeqCst);
        // The semaphore is never closed; without a permit we would only
        // lose the sharing, never correctness.
        let _turn = self.turn.acquire().await.ok();
        if let Some(shared) = self.fresh_since(arrived) {
            return shared;
        }
        let number = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        let value = job().await;
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((number, value.clone()));
        value
    }

    fn forget_unless_waited_for(&self) {
        if self.waiting.fetch_sub(1, Ordering::SeqCst) == 1 {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if self.waiting.load(Ordering::SeqCst) == 0 {
                *last = None;
            }
        }
    }

    fn fresh_since(&self, arrived: u64) -> Option<T> {
        match &*self.last.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((number, value)) if *number > arrived => Some(value.clone()),
            _ => None,
        }
    }
}

/// Leaves [`SingleFlight::run`], also when the caller is dropped (a client
/// that went away): the last caller out drops the result.
struct Leave<'a, T: Clone>(&'a SingleFlight<T>);

impl<T: Clone> Drop for Leave<'_, T> {
    fn drop(&mut self) {
        self.0.forget_unless_waited_for();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn concurrent_callers_share_at_most_two_runs_and_later_ones_run_again() {
        let flight = Arc::new(SingleFlight::<usize>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (flight, runs) = (Arc::clone(&flight), Arc::clone(&runs));
            tasks.push(tokio::spawn(async move {
                flight
                    .run(|| async {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        runs.fetch_add(1, Ordering::SeqCst) + 1
                    })
                    .await
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        let concurrent = runs.load(Ordering::SeqCst);
        assert!(
            concurrent <= 2,
            "{concurrent} runs for 32 concurrent callers"
        );
        // A caller that arrives after everything finished gets a new run.
        let again = flight
            .run(|| async { runs.fetch_add(1, Ordering::SeqCst) + 1 })
            .await;
        assert_eq!(again, concurrent + 1);
    }

    #[tokio::test]
    async fn the_result_is_not_kept_once_nobody_waits() {
        let flight = SingleFlight::<Arc<Vec<u8>>>::default();
        let body = flight.run(|| async { Arc::new(vec![0; 1024]) }).await;
        assert_eq!(Arc::strong_count(&body), 1, "the flight kept a copy");
        assert!(flight.last.lock().unwrap().is_none());
    }
}
