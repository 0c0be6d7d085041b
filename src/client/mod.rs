//! The client side: `deadman run -- CMD` (wrap a job: start and finish
//! pings, exit status, output tail, timeout, signals, the job's report)
//! and `deadman ping` (one ping from a script).
//!
//! * [`target`] — URL, check and token from flags and the environment;
//! * [`http`] — one POST over hyper and rustls; [`retry`] — which answers
//!   are retried and when, pure; [`pinger`] — a ping with its retries;
//! * [`output`] — the tail of the job's output, pure;
//!   [`report_file`] — the `DEADMAN_REPORT` lines, pure;
//! * [`job`] — the command as a process group; [`run`] — `deadman run`;
//!   [`ping`] — `deadman ping`.

pub mod http;
pub mod job;
pub mod output;
pub mod ping;
pub mod pinger;
pub mod report_file;
pub mod retry;
pub mod run;
pub mod target;
