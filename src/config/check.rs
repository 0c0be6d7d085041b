//! A validated check and the value types its fields become.

use std::collections::BTreeMap;
use std::time::Duration;

use super::rate_limit::RateLimit;
use crate::auth::Token;
use crate::model::check_state::CheckState;
use crate::model::expectations::{Expiry, Volume};
use crate::model::failure_ratio::FailureRatio;
use crate::model::pause::Pause;
use crate::model::schedule::Schedule;
use crate::model::values::DeclaredValue;

/// `[storage]`: retention of what the store keeps.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageSettings {
    /// Pings kept per check in the history table.
    pub history: usize,
    /// How long a check removed from the config keeps its stored state, so
    /// that re-adding it (e.g. after a botched edit) restores everything.
    pub retention: Duration,
}

/// One validated check.
#[derive(Debug)]
pub struct Check {
    /// Unique, URL-safe name used in ping URLs and the `check` label.
    pub name: String,
    /// What the integration does, for people reading alerts.
    pub description: String,
    /// Who is paged: every check has a named owner.
    pub owner: String,
    /// Team for Alertmanager routing; empty when unset.
    pub team: String,
    /// Runbook URL; empty when unset.
    pub runbook: String,
    /// Routing severity carried into alerts.
    pub severity: Severity,
    /// When the check is expected to succeed.
    pub schedule: Schedule,
    /// Slack after the expected time before silence is an incident.
    pub grace: Duration,
    /// A started run must finish within this, if set.
    pub max_runtime: Option<Duration>,
    /// Pings accepted per second (a token bucket); `None` is no limit.
    pub rate_limit: Option<RateLimit>,
    /// HTTP methods accepted on this check's ping URLs.
    pub methods: Methods,
    /// Secret a ping must present, if any.
    pub token: Option<Token>,
    /// Static labels exported on `deadman_check_info`.
    pub labels: BTreeMap<String, String>,
    /// The system data comes from, e.g. "Shopify" (for the inventory).
    pub source: String,
    /// The system data goes to, e.g. "Xero".
    pub destination: String,
    /// Which account or app owns the connection: who can reconnect it.
    pub account: String,
    /// Steps to recover, for whoever is paged.
    pub recovery: String,
    /// Expected records per window, if any.
    pub volume: Option<Volume>,
    /// Credentials, API versions, certificates, contracts (and owner
    /// reviews) that expire.
    pub expiries: Vec<Expiry>,
    /// Numbers a run reports (`value.<name>=N`) and their bounds: the only
    /// names a ping may report, so input never creates series.
    pub values: Vec<DeclaredValue>,
    /// Failed runs in a row before the failure pages (1: the first does);
    /// a flaky job that recovers on its own should not wake anyone.
    pub failure_threshold: u64,
    /// At most this share of runs may fail over a window, for the job that
    /// fails often but never `failure_threshold` times in a row.
    pub failure_ratio: Option<FailureRatio>,
    /// A successful run that took less than this (start to finish) did
    /// suspiciously little: the backup that finished in 2 seconds.
    pub min_runtime: Option<Duration>,
    /// While it holds, no per-check alert fires (planned downtime, a
    /// migration); pings are still recorded.
    pub pause: Option<Pause>,
}

impl Check {
    /// The check's deadline given its state: the one place the schedule,
    /// grace and pause are put together.
    pub fn deadline(&self, state: &CheckState) -> f64 {
        let paused_until = self.pause.as_ref().and_then(|p| p.until);
        state.deadline(&self.schedule, self.grace, paused_until)
    }

    /// Whether the check is paused at `now` (a pause with an end lifts
    /// itself then, without a reload).
    pub fn paused(&self, now: f64) -> bool {
        crate::model::pause::is_paused(self.pause.as_ref(), now)
    }

    /// The declared value of this name.
    pub fn value(&self, name: &str) -> Option<&DeclaredValue> {
        self.values.iter().find(|v| v.name == name)
    }
}

crate::string_enum! {
    /// Routing severity carried into alerts.
    pub enum Severity {
        Critical = "critical",
        Warning = "warning",
        Info = "info",
    }
}

/// The set of accepted HTTP methods (GET, HEAD, POST).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Methods {
    pub get: bool,
    pub head: bool,
    pub post: bool,
}

impl Methods {
    pub const ALL: Methods = Methods {
        get: true,
        head: true,
        post: true,
    };

    pub fn allows(&self, method: &hyper::Method) -> bool {
        match *method {
            hyper::Method::GET => self.get,
            hyper::Method::HEAD => self.head,
            hyper::Method::POST => self.post,
            _ => false,
        }
    }

    /// The value of an `Allow` header.
    pub fn allow_header(&self) -> String {
        let mut names = Vec::new();
        if self.get {
            names.push("GET");
        }
        if self.head {
            names.push("HEAD");
        }
        if self.post {
            names.push("POST");
        }
        names.join(", ")
    }
}
