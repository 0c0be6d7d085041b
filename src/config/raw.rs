//! The config file as written: the shapes serde reads the TOML into
//! (unknown keys rejected), before any value is validated. A `[[check]]`
//! is read straight into a [`RawCheck`] when the whole file deserializes,
//! and kept as a table otherwise, so that its errors can name the check.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::assertions::{RawAssertions, RawValue};
use super::error::{invalid, ConfigError};
use super::expectations::{RawExpiry, RawVolume};
use super::source::redact_token_lines;

/// The file's parts from its text: read once with every check
/// deserialized, and, when any check does not deserialize, again with
/// checks as tables (their errors are then reported per check). A syntax
/// error stops here, with any token on the quoted line redacted.
pub(super) fn read_file(text: &str) -> Result<RawFile, ConfigError> {
    match toml::from_str::<FileAs<Box<RawCheck>>>(text) {
        Ok(read) => Ok(read.into_raw(CheckSource::Read)),
        Err(_) => toml::from_str::<FileAs<toml::Table>>(text)
            .map(|file| file.into_raw(CheckSource::Table))
            .map_err(|e| ConfigError::Syntax(redact_token_lines(&e.to_string()))),
    }
}

/// The file as written, its checks read as `C`: straight into
/// [`RawCheck`]s (one pass over the text, for a file whose checks all
/// deserialize: the usual case), or, when any does not, as tables read
/// again one by one, so that their errors can name the check and its line.
/// `[defaults]` stays a spanned table for the same reason.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAs<C> {
    /// The file is meant to have no checks. Without it an empty file is an
    /// error: reloading a truncated file, or starting with the wrong path,
    /// would otherwise silently stop every alert.
    #[serde(default)]
    allow_no_checks: bool,
    defaults: Option<toml::Spanned<toml::Table>>,
    storage: Option<RawStorage>,
    /// A table, not `RawBadges`, so that its errors (a mistyped inline
    /// secret included) are reported like a check's, without the value.
    badges: Option<toml::Table>,
    #[serde(default = "Vec::new")]
    check: Vec<toml::Spanned<C>>,
}

impl<C> FileAs<C> {
    fn into_raw(self, source: fn(C) -> CheckSource) -> RawFile {
        RawFile {
            allow_no_checks: self.allow_no_checks,
            defaults: self.defaults,
            storage: self.storage,
            badges: self.badges,
            check: (self.check.into_iter())
                .map(|c| (c.span().start, source(c.into_inner())))
                .collect(),
        }
    }
}

/// The file's parts, its checks as read.
pub(super) struct RawFile {
    pub(super) allow_no_checks: bool,
    pub(super) defaults: Option<toml::Spanned<toml::Table>>,
    pub(super) storage: Option<RawStorage>,
    pub(super) badges: Option<toml::Table>,
    /// Where each check starts in the text, and the check.
    pub(super) check: Vec<(usize, CheckSource)>,
}

/// A `[[check]]` as read: a table still to deserialize (with its errors),
/// or already deserialized.
pub(super) enum CheckSource {
    Table(toml::Table),
    Read(Box<RawCheck>),
}

impl CheckSource {
    pub(super) fn name(&self) -> Option<&str> {
        match self {
            CheckSource::Table(table) => table.get("name").and_then(|v| v.as_str()),
            CheckSource::Read(raw) => raw.name.as_deref(),
        }
    }

    pub(super) fn into_raw(self, location: &str) -> Result<Box<RawCheck>, ConfigError> {
        match self {
            CheckSource::Table(table) => deserialize_table::<Box<RawCheck>>(table, location),
            CheckSource::Read(raw) => Ok(raw),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStorage {
    pub(super) history: Option<i64>,
    pub(super) retention: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCheck {
    pub(super) name: Option<String>,
    pub(super) description: Option<String>,
    pub(super) owner: Option<String>,
    pub(super) team: Option<String>,
    pub(super) runbook: Option<String>,
    pub(super) severity: Option<String>,
    pub(super) every: Option<String>,
    pub(super) cron: Option<String>,
    pub(super) timezone: Option<String>,
    pub(super) grace: Option<String>,
    pub(super) max_runtime: Option<String>,
    pub(super) rate_limit: Option<String>,
    pub(super) methods: Option<Vec<String>>,
    pub(super) token: Option<String>,
    pub(super) token_file: Option<String>,
    pub(super) token_env: Option<String>,
    #[serde(default)]
    pub(super) labels: BTreeMap<String, String>,
    pub(super) source: Option<String>,
    pub(super) destination: Option<String>,
    pub(super) account: Option<String>,
    pub(super) recovery: Option<String>,
    pub(super) volume: Option<RawVolume>,
    #[serde(default)]
    pub(super) expiry: Vec<RawExpiry>,
    #[serde(default)]
    pub(super) value: Vec<RawValue>,
    pub(super) failure_threshold: Option<i64>,
    pub(super) max_failure_ratio: Option<f64>,
    pub(super) failure_ratio_window: Option<String>,
    pub(super) min_runtime: Option<String>,
    pub(super) paused: Option<bool>,
    pub(super) paused_until: Option<String>,
    pub(super) pause_reason: Option<String>,
}

impl RawCheck {
    /// The keys `assertions` validates, taken out.
    pub(super) fn take_assertions(&mut self) -> RawAssertions {
        RawAssertions {
            value: std::mem::take(&mut self.value),
            failure_threshold: self.failure_threshold.take(),
            max_failure_ratio: self.max_failure_ratio.take(),
            failure_ratio_window: self.failure_ratio_window.take(),
            min_runtime: self.min_runtime.take(),
            paused: self.paused.take(),
            paused_until: self.paused_until.take(),
            pause_reason: self.pause_reason.take(),
        }
    }
}

/// Deserializes one table, reporting the path of the key that failed.
pub(super) fn deserialize_table<T: for<'de> Deserialize<'de>>(
    table: toml::Table,
    location: &str,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|err| {
        let path = err.path().to_string();
        // toml appends "in `key`" on a second line; the path already says it.
        let inner = err
            .into_inner()
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        // serde reports unknown keys at the table itself; name the key.
        let (field, message) = match inner.strip_prefix("unknown field `") {
            Some(rest) => {
                // The path ends with the key; inside a nested table it
                // names the table too: value[0].maximum.
                let key = match path.as_str() {
                    "." => rest.split('`').next().unwrap_or_default().to_string(),
                    path => path.to_string(),
                };
                let expected = rest.split_once("expected ").map_or("", |(_, e)| e);
                let expected = expected.strip_prefix("one of ").unwrap_or(expected);
                (
                    key,
                    format!("unknown key; valid keys are {}", expected.replace('`', "")),
                )
            }
            None if path == "." => ("(table)".to_string(), inner),
            // The parser quotes the value it rejected; a token's (or the
            // badge secret's) must not reach a log or a /-/reload body.
            None if path == "token" || path == "secret" => (path, "must be a string".to_string()),
            None => (path, inner),
        };
        invalid(location, &field, message.trim_end().to_string())
    })
}
