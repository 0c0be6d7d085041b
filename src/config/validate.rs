//! The raw file turned into validated parts: `[defaults]`, `[storage]`,
//! `[badges]` and every `[[check]]`, each check validated whatever the
//! others' errors, so one run reports every error it can find. The parts
//! of a check with its own schema (volume, expiries, assertions, tokens)
//! are validated in their own files; this one puts a check together.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;

use crate::badge_key::BadgeKeys;
use crate::model::schedule::Schedule;

use super::assertions::validate_assertions;
use super::badges::{validate_badges, RawBadges};
use super::check::{Check, Methods, Severity, StorageSettings};
use super::defaults::{Defaults, InheritedOwner, RawDefaults};
use super::error::{invalid, ConfigError, ErrorList};
use super::expectations::{validate_expiries, validate_volume};
use super::fields::{
    parse_cron, parse_duration, parse_max_runtime, parse_methods, parse_severity, parse_timezone,
    valid_check_name, validate_label, validate_owner,
};
use super::rate_limit::{parse_rate_limit, DEFAULT_RATE_LIMIT};
use super::raw::{deserialize_table, CheckSource, RawCheck, RawFile, RawStorage};
use super::secrets::{Secrets, TokenLoader};
use super::source::LineIndex;

pub(super) const DEFAULT_GRACE: Duration = Duration::from_secs(5 * 60);
const DEFAULT_HISTORY: usize = 100;
const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// A config's validated parts, before [`super::Config`] indexes them.
pub(super) struct Validated {
    /// Checks in file order.
    pub checks: Vec<Arc<Check>>,
    /// `[storage]`, defaults filled in.
    pub storage: StorageSettings,
    /// `[badges]`, if the file has it.
    pub badges: Option<BadgeKeys>,
    /// Every token file read, with its digest, so a reload can tell
    /// whether anything changed.
    pub token_files: Vec<(PathBuf, [u8; 32])>,
}

/// The whole file validated at once, on one thread: what every file with
/// an error (and every small one) goes through. Every error found is
/// returned, as a [`ConfigError::Many`] when there are several.
pub(super) fn validate_file(
    raw: RawFile,
    text: &str,
    base_dir: &Path,
    secrets: Secrets,
) -> Result<Validated, ConfigError> {
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
    Ok(Validated {
        checks,
        storage,
        badges,
        token_files: read.into_inner(),
    })
}

/// The tables around the checks (`[defaults]`, `[storage]`, `[badges]`),
/// validated the same way whether the file is read whole or in pieces.
pub(super) fn validate_tables(
    defaults: Option<toml::Spanned<toml::Table>>,
    storage: Option<RawStorage>,
    badges: Option<toml::Table>,
    lines: &LineIndex,
    tokens: TokenLoader,
    errors: &mut ErrorList,
) -> (Defaults, StorageSettings, Option<BadgeKeys>) {
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
pub(super) fn validate_check(
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
