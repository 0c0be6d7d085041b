//! HTTP: the accept loops ([`server`]), one connection with its TLS
//! ([`connection`]), routing ([`router`]), and one file
//! per endpoint group. Handlers are given only the handles they use; the
//! router is the one place that holds them all.
//!
//! * [`ping`] — `/ping/...` (reading its body: [`ping_body`]; limits:
//!   [`rate_limit`]); [`scrape`] — the metrics endpoint;
//!   [`ui`] — the status pages (`/`, `/checks/…`, `/inventory`),
//!   rendered by [`pages`]; [`api`] — the JSON API under `/api/v1/`;
//!   [`admin`] — `/-/healthy`, `/-/ready`, `/-/reload`;
//!   [`badge`] — `/badge/...` and `/api/v1/badges` (drawn by [`badge_svg`]).
//! * [`access`] — basic auth from the web config, on all but pings (and
//!   public badges);
//! * [`response`] — the one response builder and [`response::Refusal`];
//!   [`single_flight`] — concurrent scrapes share one render, on a
//!   [`background_thread`] below the ping path's priority;
//!   [`write_timeout`] — connections to clients that stop reading are closed;
//!   [`framing`] — requests with both `Content-Length` and
//!   `Transfer-Encoding` are found, to be refused.

pub mod access;
pub mod admin;
pub mod api;
pub mod background_thread;
pub mod badge;
pub mod badge_svg;
pub mod connection;
pub mod framing;
pub mod limits;
pub mod pages;
pub mod ping;
pub mod ping_body;
pub mod rate_limit;
pub mod response;
pub mod router;
pub mod scrape;
pub mod server;
pub mod single_flight;
#[cfg(test)]
mod test_app;
pub mod ui;
pub mod write_timeout;
