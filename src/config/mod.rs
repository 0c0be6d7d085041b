//! The config file: raw TOML (serde, unknown keys rejected) turned into a
//! validated [`Config`], with errors that name the check, the field and what
//! was wrong in a plain sentence.
//!
//! Validation goes on past an error, so one run reports every error it can
//! find (a TOML syntax error stops it: nothing after it can be read).
//!
//! * this file — the file's structure, `[storage]`, and assembling checks;
//! * [`check`] — the validated [`Check`] and its value types;
//! * `defaults` — `[defaults]`; `fields` — one parser per field;
//!   `expectations` — `[check.volume]` and `[[check.expiry]]`;
//!   `assertions` — `[[check.value]]`, failure thresholds and ratios,
//!   `min_runtime`, and pauses;
//! * [`secrets`] — a check's token, and whether secrets are read;
//!   `badges` — `[badges]`, the secret public badge keys come from;
//! * [`error`] — [`ConfigError`], and the list that gathers them.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;
use serde::Deserialize;

use crate::auth::Token;
use crate::model::schedule::Schedule;

mod assertions;
mod badges;
mod check;
mod defaults;
mod error;
mod expectations;
mod fields;
mod inputs;
mod pieces;
mod rate_limit;
mod secrets;
mod source;
// Re-exports for users of the module. The files inside `config/` import
// from each other directly, never through this file, so the module graph
// has no cycles.
pub use check::{Check, Methods, Severity, StorageSettings};
pub use error::ConfigError;
pub use fields::valid_check_name;
use rate_limit::parse_rate_limit;
pub use rate_limit::{RateLimit, DEFAULT_RATE_LIMIT};
pub use secrets::Secrets;

use assertions::{validate_assertions, RawAssertions, RawValue};
use badges::{validate_badges, RawBadges};
use defaults::{Defaults, InheritedOwner, RawDefaults};
use error::{invalid, ErrorList};
use expectations::{validate_expiries, validate_volume, RawExpiry, RawVolume};
use fields::{
    parse_cron, parse_duration, parse_max_runtime, parse_methods, parse_severity, parse_timezone,
    validate_label, validate_owner,
};
pub use inputs::Inputs;
use secrets::TokenLoader;
pub use source::MAX_CONFIG_BYTES;
use source::{read_bounded, redact_token_lines, LineIndex};

const DEFAULT_GRACE: Duration = Duration::from_secs(5 * 60);
const DEFAULT_HISTORY: usize = 100;
const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// A validated configuration. Cheap to share: handlers hold an `Arc<Config>`
/// for the duration of one request, so a reload never changes a config under
/// a request that is using it.
#[derive(Debug)]
pub struct Config {
    /// Checks in file order (the order the landing page and docs use).
    pub checks: Vec<Arc<Check>>,
    /// Name → position in `checks`, for O(1) lookup on every ping.
    index: HashMap<String, usize, crate::name_hash::NameHash>,
    /// Positions in `checks` in name order, for scrapes.
    by_name: Vec<usize>,
    /// How much history is kept, and for how long removed checks are kept.
    pub storage: StorageSettings,
    /// `[badges]`: with it, badge URLs carry a key made with its secret and
    /// are served without basic auth; without it, badges need basic auth
    /// like every page.
    pub badges: Option<crate::badge_key::BadgeKeys>,
    /// Digests of the file and token files this was read from.
    pub inputs: Inputs,
}

/// The file as written. Checks and `[defaults]` stay as spanned tables here
/// so their errors can name the check and its line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
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
    #[serde(default)]
    check: Vec<toml::Spanned<toml::Table>>,
}

/// The file's parts, its checks as read.
struct RawFile {
    allow_no_checks: bool,
    defaults: Option<toml::Spanned<toml::Table>>,
    storage: Option<RawStorage>,
    badges: Option<toml::Table>,
    /// Where each check starts in the text, and the check.
    check: Vec<(usize, CheckSource)>,
}

impl From<TableFile> for RawFile {
    fn from(file: TableFile) -> RawFile {
        RawFile {
            allow_no_checks: file.allow_no_checks,
            defaults: file.defaults,
            storage: file.storage,
            badges: file.badges,
            check: (file.check.into_iter())
                .map(|c| (c.span().start, CheckSource::Table(c.into_inner())))
                .collect(),
        }
    }
}

impl From<ReadFile> for RawFile {
    fn from(file: ReadFile) -> RawFile {
        RawFile {
            allow_no_checks: file.allow_no_checks,
            defaults: file.defaults,
            storage: file.storage,
            badges: file.badges,
            check: (file.check.into_iter())
                .map(|c| (c.span().start, CheckSource::Read(c.into_inner())))
                .collect(),
        }
    }
}

/// [`TableFile`] with its checks read straight into [`RawCheck`]s: one pass
/// over the text instead of a table per check read again, for a file
/// whose checks all deserialize (the usual case). When any does not, the
/// file is read again as a [`TableFile`], whose errors name the check.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadFile {
    #[serde(default)]
    allow_no_checks: bool,
    defaults: Option<toml::Spanned<toml::Table>>,
    storage: Option<RawStorage>,
    badges: Option<toml::Table>,
    #[serde(default)]
    check: Vec<toml::Spanned<Box<RawCheck>>>,
}

/// A `[[check]]` as read: a table still to deserialize (with its errors),
/// or already deserialized.
enum CheckSource {
    Table(toml::Table),
    Read(Box<RawCheck>),
}

impl CheckSource {
    fn name(&self) -> Option<&str> {
        match self {
            CheckSource::Table(table) => table.get("name").and_then(|v| v.as_str()),
            CheckSource::Read(raw) => raw.name.as_deref(),
        }
    }

    fn into_raw(self, location: &str) -> Result<Box<RawCheck>, ConfigError> {
        match self {
            CheckSource::Table(table) => deserialize_table::<Box<RawCheck>>(table, location),
            CheckSource::Read(raw) => Ok(raw),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    history: Option<i64>,
    retention: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    name: Option<String>,
    description: Option<String>,
    owner: Option<String>,
    team: Option<String>,
    runbook: Option<String>,
    severity: Option<String>,
    every: Option<String>,
    cron: Option<String>,
    timezone: Option<String>,
    grace: Option<String>,
    max_runtime: Option<String>,
    rate_limit: Option<String>,
    methods: Option<Vec<String>>,
    token: Option<String>,
    token_file: Option<String>,
    token_env: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    source: Option<String>,
    destination: Option<String>,
    account: Option<String>,
    recovery: Option<String>,
    volume: Option<RawVolume>,
    #[serde(default)]
    expiry: Vec<RawExpiry>,
    #[serde(default)]
    value: Vec<RawValue>,
    failure_threshold: Option<i64>,
    max_failure_ratio: Option<f64>,
    failure_ratio_window: Option<String>,
    min_runtime: Option<String>,
    paused: Option<bool>,
    paused_until: Option<String>,
    pause_reason: Option<String>,
}

impl RawCheck {
    /// The keys `assertions` validates, taken out.
    fn take_assertions(&mut self) -> RawAssertions {
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

impl Config {
    /// Reads and validates a config file, reading the secrets it names.
    /// Relative `token_file` paths are resolved against the config file's
    /// directory, as Prometheus does. Files over [`MAX_CONFIG_BYTES`] are
    /// refused before they are read whole, so a path to an endless file
    /// (`/dev/zero`, a FIFO) cannot exhaust memory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with(path, Secrets::Read)
    }

    /// [`Config::load`], reading token files and variables or not.
    pub fn load_with(path: &Path, secrets: Secrets) -> Result<Config, ConfigError> {
        let text = read_bounded(path)?;
        let base_dir = path.parent().unwrap_or(Path::new("."));
        Config::parse_with(&text, base_dir, secrets)
    }

    /// Validates config text; `base_dir` anchors relative file paths.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Config, ConfigError> {
        Config::parse_with(text, base_dir, Secrets::Read)
    }

    /// [`Config::parse`], reading token files and variables or not. Every
    /// error found is returned, as a [`ConfigError::Many`] when there are
    /// several.
    pub fn parse_with(
        text: &str,
        base_dir: &Path,
        secrets: Secrets,
    ) -> Result<Config, ConfigError> {
        match pieces::read(text, base_dir, secrets) {
            Some(config) => Ok(config),
            None => Config::parse_whole(text, base_dir, secrets),
        }
    }

    /// [`Config::parse_with`] on the whole text at once, on one thread:
    /// what every file with an error (and every small one) goes through.
    fn parse_whole(text: &str, base_dir: &Path, secrets: Secrets) -> Result<Config, ConfigError> {
        let raw: RawFile = match toml::from_str::<ReadFile>(text) {
            Ok(read) => read.into(),
            Err(_) => toml::from_str::<TableFile>(text)
                .map_err(|e| ConfigError::Syntax(redact_token_lines(&e.to_string())))?
                .into(),
        };
        let lines = LineIndex::new(text);
        let read = std::cell::RefCell::new(Vec::new());
        let tokens = TokenLoader {
            base_dir,
            secrets,
            read: &read,
        };
        let mut errors = ErrorList::default();
        let (defaults, storage, badges) = validate_tables(
            raw.defaults,
            raw.storage,
            raw.badges,
            &lines,
            tokens,
            &mut errors,
        );
        if raw.check.is_empty() && !raw.allow_no_checks {
            errors.push(ConfigError::NoChecks);
        }
        let checks = validate_checks(raw.check, &lines, &defaults, tokens, &mut errors);
        errors.finish(())?;
        Ok(Config::assemble(
            checks,
            storage,
            badges,
            text,
            read.into_inner(),
        ))
    }

    /// A config of validated parts; `text` and `token_files` are what it
    /// was read from.
    fn assemble(
        checks: Vec<Arc<Check>>,
        storage: StorageSettings,
        badges: Option<crate::badge_key::BadgeKeys>,
        text: &str,
        token_files: Vec<(std::path::PathBuf, [u8; 32])>,
    ) -> Config {
        let index = (checks.iter().enumerate())
            .map(|(i, check)| (check.name.clone(), i))
            .collect();
        let mut by_name: Vec<usize> = (0..checks.len()).collect();
        by_name.sort_by(|&a, &b| checks[a].name.cmp(&checks[b].name));
        Config {
            checks,
            index,
            by_name,
            storage,
            badges,
            inputs: Inputs::new(text, token_files),
        }
    }

    /// Re-reads `path` for a reload: `None` if the file and every token
    /// file `previous` was read from are unchanged (nothing to parse).
    pub fn load_if_changed(path: &Path, previous: &Config) -> Result<Option<Config>, ConfigError> {
        let text = read_bounded(path)?;
        if previous.inputs.unchanged(&text) {
            return Ok(None);
        }
        let base_dir = path.parent().unwrap_or(Path::new("."));
        Config::parse_with(&text, base_dir, Secrets::Read).map(Some)
    }

    /// Checks in name order.
    pub fn checks_by_name(&self) -> impl Iterator<Item = &Arc<Check>> {
        self.by_name.iter().map(|&i| &self.checks[i])
    }

    /// The configured check with this name.
    pub fn check(&self, name: &str) -> Option<&Arc<Check>> {
        self.index.get(name).map(|&i| &self.checks[i])
    }

    /// Checks whose token is shorter than [`crate::auth::MIN_TOKEN_CHARS`]:
    /// `check-config` warns, `--strict` fails. Names only, never tokens.
    pub fn weak_tokens(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|check| check.token.as_ref().is_some_and(Token::is_short))
            .map(|check| {
                format!(
                    "check {:?}: its token is shorter than {} characters and can be guessed; \
                     generate one with `openssl rand -hex 32`",
                    check.name,
                    crate::auth::MIN_TOKEN_CHARS
                )
            })
            .collect()
    }

    /// Checks whose `paused_until` has passed at `now`. That is valid (the
    /// pause is over and the check is watched again) but the keys were
    /// probably left behind: `check-config` and every load warn about them.
    pub fn ended_pauses(&self, now: f64) -> Vec<String> {
        assertions::ended_pauses(&self.checks, now)
    }

    /// How many checks have a token that was not read (loaded with
    /// [`Secrets::Skip`]), so [`Config::weak_tokens`] cannot judge them.
    pub fn unread_tokens(&self) -> usize {
        (self.checks.iter())
            .filter(|check| check.token.as_ref().is_some_and(Token::is_unread))
            .count()
    }

    /// What `check-config --strict` rejects: checks a new owner could not
    /// act on, because they lack a description, a runbook or recovery steps.
    pub fn documentation_gaps(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter_map(|check| {
                let missing: Vec<&str> = [
                    ("description", &check.description),
                    ("runbook", &check.runbook),
                    ("recovery", &check.recovery),
                ]
                .into_iter()
                .filter(|(_, value)| value.trim().is_empty())
                .map(|(key, _)| key)
                .collect();
                (!missing.is_empty())
                    .then(|| format!("check {:?}: missing {}", check.name, missing.join(", ")))
            })
            .collect()
    }
}

/// Deserializes one table, reporting the path of the key that failed.
fn deserialize_table<T: for<'de> Deserialize<'de>>(
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

/// The tables around the checks (`[defaults]`, `[storage]`, `[badges]`),
/// validated the same way whether the file is read whole or in pieces.
fn validate_tables(
    defaults: Option<toml::Spanned<toml::Table>>,
    storage: Option<RawStorage>,
    badges: Option<toml::Table>,
    lines: &LineIndex,
    tokens: TokenLoader,
    errors: &mut ErrorList,
) -> (
    Defaults,
    StorageSettings,
    Option<crate::badge_key::BadgeKeys>,
) {
    let defaults = validate_defaults(defaults, lines, tokens, errors);
    let storage = validate_storage(storage, errors);
    let badges = badges
        .and_then(|table| errors.take(deserialize_table::<RawBadges>(table, "[badges]")))
        .and_then(|raw| validate_badges(raw, tokens, errors));
    (defaults, storage, badges)
}

/// `[defaults]`, every error recorded; what is valid in it still applies,
/// so the checks are validated as they would be with it fixed.
fn validate_defaults(
    table: Option<toml::Spanned<toml::Table>>,
    lines: &LineIndex,
    tokens: TokenLoader,
    errors: &mut ErrorList,
) -> Defaults {
    let Some(table) = table else {
        return Defaults::default();
    };
    let location = format!("[defaults] (line {})", lines.line_of(table.span().start));
    match errors.take(deserialize_table::<RawDefaults>(
        table.into_inner(),
        &location,
    )) {
        Some(raw) => Defaults::validate(raw, &location, tokens, errors),
        None => Defaults::unreadable(),
    }
}

/// `[storage]`, every error recorded; an invalid value is replaced by its
/// default so that the rest of the file is still validated.
fn validate_storage(raw: Option<RawStorage>, errors: &mut ErrorList) -> StorageSettings {
    let raw = raw.unwrap_or_default();
    let history = errors.optional(raw.history, |n| match n {
        0..=100_000 => Ok(n as usize),
        _ => Err(invalid(
            "[storage]",
            "history",
            format!("{n} is out of range; keep between 0 and 100000 pings per check"),
        )),
    });
    let retention = errors.optional(raw.retention, |text| {
        let d = parse_duration("[storage]", "retention", &text)?;
        if d < Duration::from_secs(3600) {
            return Err(invalid(
                "[storage]",
                "retention",
                format!("{text:?} is shorter than the minimum of 1h"),
            ));
        }
        Ok(d)
    });
    StorageSettings {
        history: history.unwrap_or(DEFAULT_HISTORY),
        retention: retention.unwrap_or(DEFAULT_RETENTION),
    }
}

/// Every `[[check]]` in file order, each validated whatever the others'
/// errors; a check with any error is recorded and left out.
fn validate_checks(
    sources: Vec<(usize, CheckSource)>,
    lines: &LineIndex,
    defaults: &Defaults,
    tokens: TokenLoader,
    errors: &mut ErrorList,
) -> Vec<Arc<Check>> {
    let mut checks = Vec::with_capacity(sources.len());
    let mut first_line: HashMap<String, usize> = HashMap::with_capacity(sources.len());
    for (position, (start, source)) in sources.into_iter().enumerate() {
        let line = lines.line_of(start);
        // Read before the table is: a check with a wrong key still claims
        // its name, and a later check of the same name is still reported.
        let name = source.name().filter(|n| valid_check_name(n));
        let location = match name {
            Some(name) => format!("check {name:?} (line {line})"),
            None => format!("check #{} (line {line})", position + 1),
        };
        if let Some(name) = name {
            match first_line.entry(name.to_string()) {
                Entry::Occupied(previous) => errors.push(invalid(
                    &location,
                    "name",
                    format!(
                        "{name:?} is already used by the check at line {}; names must be unique",
                        previous.get()
                    ),
                )),
                Entry::Vacant(slot) => {
                    slot.insert(line);
                }
            }
        }
        let check = source
            .into_raw(&location)
            .and_then(|raw| validate_check(raw, defaults, &location, tokens));
        if let Some(check) = errors.take(check) {
            checks.push(Arc::new(check));
        }
    }
    checks
}

/// Validates one check, reporting every field that is wrong. A field whose
/// error is recorded gets a stand-in value, so the fields after it are
/// still validated; the check is then rejected.
fn validate_check(
    mut raw: Box<RawCheck>,
    defaults: &Defaults,
    location: &str,
    tokens: TokenLoader,
) -> Result<Check, ConfigError> {
    let mut errors = ErrorList::default();
    let asserted = raw.take_assertions();
    let name = errors.take(validate_name(raw.name, location));
    let owner = match (raw.owner, &defaults.owner) {
        (Some(owner), _) => errors.take(validate_owner(location, owner)),
        (None, InheritedOwner::Set(owner)) => Some(owner.clone()),
        // Reported at [defaults], which rejects the config; "missing" here
        // would only say it again for every check.
        (None, InheritedOwner::Invalid) => None,
        (None, InheritedOwner::Unset) => errors.take(Err(invalid(
            location,
            "owner",
            "missing; every check needs a named owner (a person, team or address) \
             so that its alerts reach someone",
        ))),
    };
    let runbook = errors.optional(raw.runbook, |url| validate_runbook(location, url));
    let severity = errors.optional(raw.severity, |s| parse_severity(location, &s));
    // A zone that is invalid stands in as UTC: whether a cron expression is
    // valid does not depend on the zone it is read in.
    let timezone = (errors.optional(raw.timezone, |tz| parse_timezone(location, &tz)))
        .or(defaults.timezone)
        .unwrap_or(Tz::UTC);
    let schedule = errors.take(validate_schedule(raw.every, raw.cron, timezone, location));
    let grace = errors.optional(raw.grace, |g| parse_duration(location, "grace", &g));
    let max_runtime = errors.optional(raw.max_runtime, |m| parse_max_runtime(location, &m));
    let rate_limit = errors.optional(raw.rate_limit, |r| parse_rate_limit(location, &r));
    let methods = errors.optional(raw.methods, |m| parse_methods(location, &m));
    let token = errors.take(tokens.load(location, raw.token, raw.token_file, raw.token_env));
    for (label, value) in &raw.labels {
        errors.take(validate_label(location, label, value));
    }
    let volume = errors.optional(raw.volume, |v| validate_volume(v, timezone, location));
    let expiries = errors.take(validate_expiries(raw.expiry, location));
    let max_runtime = max_runtime.or(defaults.max_runtime);
    let asserted = validate_assertions(asserted, max_runtime, location, &mut errors);

    errors.finish(Check {
        name: name.unwrap_or_default(),
        description: raw.description.unwrap_or_default(),
        owner: owner.unwrap_or_default(),
        team: (raw.team.or_else(|| defaults.team.clone())).unwrap_or_default(),
        runbook: runbook.unwrap_or_default(),
        severity: (severity.or(defaults.severity)).unwrap_or(Severity::Warning),
        // Only a stand-in when the schedule is invalid, and then rejected.
        schedule: schedule.unwrap_or(Schedule::Every(DEFAULT_GRACE)),
        grace: (grace.or(defaults.grace)).unwrap_or(DEFAULT_GRACE),
        max_runtime,
        rate_limit: (rate_limit.or(defaults.rate_limit)).unwrap_or(Some(DEFAULT_RATE_LIMIT)),
        methods: (methods.or(defaults.methods)).unwrap_or(Methods::ALL),
        token: token.flatten().or_else(|| defaults.token.clone()),
        labels: raw.labels,
        source: raw.source.unwrap_or_default(),
        destination: raw.destination.unwrap_or_default(),
        account: raw.account.unwrap_or_default(),
        recovery: raw.recovery.unwrap_or_default(),
        volume,
        expiries: expiries.unwrap_or_default(),
        values: asserted.values,
        failure_threshold: (asserted.failure_threshold.or(defaults.failure_threshold)).unwrap_or(1),
        failure_ratio: asserted.failure_ratio,
        min_runtime: asserted.min_runtime,
        pause: asserted.pause,
    })
}

/// A runbook is a link a person opens from an alert.
fn validate_runbook(location: &str, url: String) -> Result<String, ConfigError> {
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(url);
    }
    Err(invalid(
        location,
        "runbook",
        format!("{url:?} is not an absolute http(s) URL"),
    ))
}

/// A check's `name`: present and URL-safe.
fn validate_name(name: Option<String>, location: &str) -> Result<String, ConfigError> {
    match name {
        None => Err(invalid(
            location,
            "name",
            "missing; every check needs a unique name",
        )),
        Some(name) if !valid_check_name(&name) => Err(invalid(
            location,
            "name",
            format!(
                "{name:?} is not a valid check name; use 1 to 64 characters of a-z, 0-9, \
                     '_', '.' and '-', starting with a letter or digit"
            ),
        )),
        Some(name) => Ok(name),
    }
}

/// Exactly one of `every` and `cron` (read in `timezone`).
fn validate_schedule(
    every: Option<String>,
    cron: Option<String>,
    timezone: Tz,
    location: &str,
) -> Result<Schedule, ConfigError> {
    match (every, cron) {
        (Some(_), Some(_)) => Err(invalid(
            location,
            "every",
            "set exactly one of \"every\" and \"cron\", not both",
        )),
        (None, None) => Err(invalid(
                location,
                "every",
                "missing; set exactly one of \"every\" (e.g. \"15m\") or \"cron\" (e.g. \"0 9 * * 1-5\")",
            )),
        (Some(every), None) => {
            let period = parse_duration(location, "every", &every)?;
            if period < Duration::from_secs(1) {
                return Err(invalid(
                    location,
                    "every",
                    format!("{every:?} is shorter than the minimum of 1s"),
                ));
            }
            Ok(Schedule::Every(period))
        }
        (None, Some(expr)) => {
            Ok(Schedule::Cron(Box::new(parse_cron(
                location, "cron", &expr, timezone,
            )?)))
        }
    }
}

#[cfg(test)]
mod tests;
