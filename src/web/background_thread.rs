//! CPU work that must yield to pings: a scrape render runs on a thread of
//! its own that the kernel runs only when nothing else wants the CPU, and
//! that still finishes in bounded time when something always does.
//!
//! A render of 50,000 checks is a sixth of a second of CPU. Under Linux's
//! EEVDF scheduler a thread that is merely niced keeps the core it holds
//! until its slice ends (milliseconds), so every ping worker that wakes up
//! behind it waits: at niceness 10, back-to-back scrapes still cost pings
//! about a fifth of their throughput. A `SCHED_IDLE` thread is preempted
//! the moment any normal thread wakes, so a render then only fills the
//! gaps between pings.
//!
//! The cost of `SCHED_IDLE` is starvation: on a host whose cores are busy
//! all the time it gets almost nothing, and a scrape would time out (a
//! false "exporter down" page). So a job runs in two attempts. The first is
//! idle; if it has not finished after the caller's patience, it is told to stop and
//! a second attempt starts at niceness 10 (about a tenth of a busy core,
//! which is what the scrape got before). An unprivileged thread cannot
//! leave `SCHED_IDLE` again, which is also why each attempt gets a fresh
//! thread (renders are single-flighted, so there are at most two, and a
//! thread costs microseconds against a render's milliseconds).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

/// How much lower than the ping path the second attempt runs (0 = same,
/// 19 = lowest). 10 weighs about a tenth of a normal thread.
const NICENESS: libc::c_int = 10;

/// What a job's attempt can ask about itself.
pub struct Attempt {
    /// Set when the attempt has been replaced: its result is thrown away,
    /// so it should stop as soon as it can.
    abandoned: Arc<AtomicBool>,
    /// Whether this is the first, `SCHED_IDLE`, attempt.
    pub idle: bool,
}

impl Attempt {
    pub fn abandoned(&self) -> bool {
        self.abandoned.load(Ordering::Relaxed)
    }
}

/// Runs `job` off the reactor below the ping path's priority, first at
/// idle priority, then (after `patience`) niced, and waits for its result.
/// `Err` when a thread could not start or the job panicked.
pub async fn run<T, F>(name: &str, patience: Duration, job: F) -> Result<T, String>
where
    T: Send + 'static,
    F: Fn(&Attempt) -> T + Send + Sync + 'static,
{
    let job = Arc::new(job);
    let idle_abandoned = Arc::new(AtomicBool::new(false));
    let mut idle = spawn(
        name,
        Priority::Idle,
        Arc::clone(&idle_abandoned),
        Arc::clone(&job),
    )?;
    if let Ok(result) = tokio::time::timeout(patience, &mut idle).await {
        return result.map_err(|_| stopped(name));
    }
    idle_abandoned.store(true, Ordering::Relaxed);
    drop(idle);
    let niced = spawn(name, Priority::Niced, Arc::default(), job)?;
    niced.await.map_err(|_| stopped(name))
}

fn stopped(name: &str) -> String {
    format!("the {name} thread stopped before it finished")
}

#[derive(Clone, Copy, PartialEq)]
enum Priority {
    Idle,
    Niced,
}

fn spawn<T, F>(
    name: &str,
    priority: Priority,
    abandoned: Arc<AtomicBool>,
    job: Arc<F>,
) -> Result<oneshot::Receiver<T>, String>
where
    T: Send + 'static,
    F: Fn(&Attempt) -> T + Send + Sync + 'static,
{
    let (done, result) = oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            lower_priority(priority);
            let attempt = Attempt {
                abandoned,
                idle: priority == Priority::Idle,
            };
            // The receiver is gone when the attempt was replaced or the
            // scrape abandoned.
            let _ = done.send(job(&attempt));
        })
        .map_err(|err| format!("starting the {name} thread failed: {err}"))?;
    Ok(result)
}

/// Lowers the calling thread's priority by [`NICENESS`] from where the
/// process runs (so `nice deadman` stays below a plain one), and for
/// [`Priority::Idle`] also moves it to `SCHED_IDLE`. On Linux
/// `PRIO_PROCESS` with a thread id, and `sched_setscheduler` with 0,
/// change the calling thread alone. Failure is harmless (the job just runs
/// at a higher priority), so it is ignored.
fn lower_priority(priority: Priority) {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid has no preconditions; getpriority and setpriority
    // only read their integer arguments; sched_setscheduler reads the
    // sched_param it is given, which lives across the call.
    unsafe {
        let tid = libc::gettid() as libc::id_t;
        let current = libc::getpriority(libc::PRIO_PROCESS, tid);
        libc::setpriority(libc::PRIO_PROCESS, tid, (current + NICENESS).min(19));
        if priority == Priority::Idle {
            let param = libc::sched_param { sched_priority: 0 };
            libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = priority;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calling thread's niceness and whether it is `SCHED_IDLE`.
    #[cfg(target_os = "linux")]
    fn priority() -> (libc::c_int, bool) {
        // SAFETY: both only read the calling thread's scheduling settings.
        unsafe {
            let nice = libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t);
            (nice, libc::sched_getscheduler(0) == libc::SCHED_IDLE)
        }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_job_runs_idle_and_returns_its_result() {
        let (ours, _) = priority();
        let patience = Duration::from_secs(30);
        let (nice, idle) = run("test-job", patience, |_: &Attempt| priority())
            .await
            .unwrap();
        assert_eq!(nice, (ours + NICENESS).min(19));
        assert!(idle, "the first attempt is SCHED_IDLE");
        assert_eq!(
            priority(),
            (ours, false),
            "only the job's thread is lowered"
        );
    }

    /// A starved idle attempt is simulated by one that waits until it is
    /// told it has been replaced: the niced attempt's result is returned,
    /// and the idle one learns to stop.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_starved_job_is_replaced_by_a_niced_one() {
        let (ours, _) = priority();
        let (gave_up, learned) = std::sync::mpsc::channel();
        let job = move |attempt: &Attempt| {
            if attempt.idle {
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while !attempt.abandoned() && std::time::Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
                let _ = gave_up.clone().send(attempt.abandoned());
                return None;
            }
            Some(priority())
        };
        let patience = Duration::from_millis(50);
        let result = run("test-starved", patience, job).await.unwrap();
        assert_eq!(result, Some(((ours + NICENESS).min(19), false)));
        let abandoned = learned.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(abandoned, "the idle attempt was told to stop");
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_not_a_hang() {
        let patience = Duration::from_secs(30);
        let result: Result<(), String> =
            run("test-panic", patience, |_: &Attempt| panic!("boom")).await;
        assert_eq!(
            result.unwrap_err(),
            "the test-panic thread stopped before it finished"
        );
    }
}
