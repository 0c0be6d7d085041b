//! The domain, pure: no I/O, no locks, no clock (time comes in as an
//! argument), so every rule is unit-tested beside its code.
//!
//! * [`kind`] — what a ping says happened ([`Kind`]) and why a run failed
//!   ([`FailReason`]).
//! * [`ping`] — the parts of an HTTP request → a [`Ping`] event, with its
//!   parameters ([`ping_params`]), JSON bodies ([`ping_json`]) and errors
//!   ([`ping_error`]).
//! * [`schedule`] — `every` / cron + time zone → next fires and deadlines.
//! * [`check_state`] — one check's state, how a ping changes it, its
//!   deadline and [`Status`].
//! * [`recent_rids`] — how long run ids are remembered, behind idempotency.
//! * [`expectations`] — volume windows and expiries.
//! * [`values`] — declared values a run reports, and their bounds;
//!   [`failure_ratio`] — failed runs per window; [`pause`] — pauses.

pub mod check_state;
pub mod expectations;
pub mod failure_ratio;
pub mod kind;
pub mod pause;
pub mod ping;
pub mod ping_error;
pub mod ping_json;
pub mod ping_params;
pub mod recent_rids;
pub mod schedule;
pub mod values;

pub use check_state::{CheckState, Run, Status};
pub use kind::{FailReason, Kind};
pub use ping::Ping;
