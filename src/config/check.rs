//! A validated check and the value types its fields become.

use std::collections::BTreeMap;
use std::time::Duration;

use super::rate_limit::RateLimit;
use crate::auth::Token;
use crate::model::expectations::{Expiry, Volume};
use crate::model::schedule::Schedule;

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
    /// Credentials, API versions, certificates, contracts that expire.
    pub expiries: Vec<Expiry>,
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
