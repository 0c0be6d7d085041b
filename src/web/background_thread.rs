//! CPU work that must yield to pings: a scrape render runs on a thread of
//! its own at a lower scheduling priority.
//!
//! On a host whose cores are busy answering pings, a render of 50,000
//! checks (a third of a second of CPU) would otherwise take its full share
//! from the ping workers and the writer every time Prometheus scrapes; at
//! niceness 10 the kernel gives it about a tenth of a busy core, so
//! acknowledgements keep their pace and the scrape merely takes longer.
//! On an idle host niceness changes nothing. The thread is fresh per job
//! (renders are single-flighted, so there is at most one at a time, and a
//! thread costs microseconds against a render's milliseconds): a pooled
//! thread could not raise its priority back without CAP_SYS_NICE, and
//! would slow whatever ran on it next.

use tokio::sync::oneshot;

/// How much lower than the ping path a background job runs (0 = same,
/// 19 = lowest). 10 weighs about a tenth of a normal thread.
const NICENESS: libc::c_int = 10;

/// Runs `job` on a new low-priority thread and waits for its result
/// without blocking the reactor. `Err` when the thread could not start or
/// the job panicked.
pub async fn run<T, F>(name: &str, job: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (done, result) = oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            lower_priority();
            // The receiver is gone only when the scrape was abandoned.
            let _ = done.send(job());
        })
        .map_err(|err| format!("starting the {name} thread failed: {err}"))?;
    result
        .await
        .map_err(|_| format!("the {name} thread stopped before it finished"))
}

/// Lowers the calling thread's priority by [`NICENESS`] from where the
/// process runs (so `nice deadman` stays below a plain one); on Linux
/// `PRIO_PROCESS` with a thread id changes that thread alone. Failure is
/// harmless (the job just runs at normal priority), so it is ignored.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid has no preconditions; getpriority and setpriority
    // only read their integer arguments.
    unsafe {
        let tid = libc::gettid() as libc::id_t;
        let current = libc::getpriority(libc::PRIO_PROCESS, tid);
        libc::setpriority(libc::PRIO_PROCESS, tid, (current + NICENESS).min(19));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calling thread's niceness.
    #[cfg(target_os = "linux")]
    fn niceness() -> libc::c_int {
        // SAFETY: getpriority reads the calling thread's niceness.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_job_runs_at_lower_priority_and_returns_its_result() {
        let ours = niceness();
        let job = run("test-job", niceness).await.unwrap();
        assert_eq!(job, (ours + NICENESS).min(19));
        assert_eq!(niceness(), ours, "only the job's thread is lowered");
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_not_a_hang() {
        let result: Result<(), String> = run("test-panic", || panic!("boom")).await;
        assert_eq!(
            result.unwrap_err(),
            "the test-panic thread stopped before it finished"
        );
    }
}
