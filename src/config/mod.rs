//! The config file: raw TOML (serde, unknown keys rejected) turned into a
//! validated [`Config`], with errors that name the check, the field and what
//! was wrong in a plain sentence.
//!
//! * this file — the file's structure, `[defaults]`, and assembling checks;
//! * [`check`] — the validated [`Check`] and its value types;
//! * `fields` — one parser per field; `expectations` — `[check.volume]`
//!   and `[[check.expiry]]`;
//! * [`error`] — [`ConfigError`].

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;
use serde::Deserialize;

use crate::auth::Token;
use crate::model::schedule::Schedule;

mod check;
mod error;
mod expectations;
mod fields;
mod rate_limit;
// Re-exports for users of the module. The files inside `config/` import
// from each other directly, never through this file, so the module graph
// has no cycles.
pub use check::{Check, Methods, Severity, StorageSettings};
pub use error::ConfigError;
pub use fields::valid_check_name;
use rate_limit::parse_rate_limit;
pub use rate_limit::{RateLimit, DEFAULT_RATE_LIMIT};

use error::invalid;
use expectations::{validate_expiries, validate_volume, RawExpiry, RawVolume};
use fields::{
    load_token, parse_cron, parse_duration, parse_max_runtime, parse_methods, parse_severity,
    parse_timezone, validate_label, validate_owner,
};

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
    index: HashMap<String, usize>,
    /// Positions in `checks` in name order, for scrapes.
    by_name: Vec<usize>,
    /// How much history is kept, and for how long removed checks are kept.
    pub storage: StorageSettings,
}

/// The file as written. Checks and `[defaults]` stay as spanned tables here
/// so their errors can name the check and its line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    defaults: Option<toml::Spanned<toml::Table>>,
    storage: Option<RawStorage>,
    #[serde(default)]
    check: Vec<toml::Spanned<toml::Table>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    history: Option<i64>,
    retention: Option<String>,
}

/// Keys allowed in `[defaults]`: the ones that make sense for many checks.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    owner: Option<String>,
    team: Option<String>,
    severity: Option<String>,
    grace: Option<String>,
    max_runtime: Option<String>,
    rate_limit: Option<String>,
    timezone: Option<String>,
    methods: Option<Vec<String>>,
    token: Option<String>,
    token_file: Option<String>,
    token_env: Option<String>,
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
}

impl Config {
    /// Reads and validates a config file. Relative `token_file` paths are
    /// resolved against the config file's directory, as Prometheus does.
    /// Files over [`MAX_CONFIG_BYTES`] are refused before they are read
    /// whole, so a path to an endless file (`/dev/zero`, a FIFO) cannot
    /// exhaust memory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = read_bounded(path)?;
        let base_dir = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, base_dir)
    }

    /// Validates config text; `base_dir` anchors relative file paths.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Config, ConfigError> {
        let raw: RawFile = toml::from_str(text)
            .map_err(|e| ConfigError::Syntax(redact_token_lines(&e.to_string())))?;
        let lines = LineIndex::new(text);

        let storage = validate_storage(raw.storage)?;
        let defaults = match raw.defaults {
            Some(table) => {
                let location = format!("[defaults] (line {})", lines.line_of(table.span().start));
                let raw = deserialize_table::<RawDefaults>(table.into_inner(), &location)?;
                Defaults::validate(raw, &location, base_dir)?
            }
            None => Defaults::validate(RawDefaults::default(), "[defaults]", base_dir)?,
        };

        let mut checks: Vec<Arc<Check>> = Vec::with_capacity(raw.check.len());
        let mut index = HashMap::with_capacity(raw.check.len());
        let mut first_line: HashMap<String, usize> = HashMap::new();
        for (position, table) in raw.check.into_iter().enumerate() {
            let line = lines.line_of(table.span().start);
            let table = table.into_inner();
            let location = match table.get("name").and_then(|v| v.as_str()) {
                Some(name) if valid_check_name(name) => format!("check {name:?} (line {line})"),
                _ => format!("check #{} (line {line})", position + 1),
            };
            let raw = deserialize_table::<RawCheck>(table, &location)?;
            let check = validate_check(raw, &defaults, &location, base_dir)?;
            if let Some(previous) = first_line.get(&check.name) {
                return Err(invalid(
                    &location,
                    "name",
                    format!(
                        "{:?} is already used by the check at line {previous}; names must be unique",
                        check.name
                    ),
                ));
            }
            first_line.insert(check.name.clone(), line);
            index.insert(check.name.clone(), checks.len());
            checks.push(Arc::new(check));
        }
        let mut by_name: Vec<usize> = (0..checks.len()).collect();
        by_name.sort_by(|&a, &b| checks[a].name.cmp(&checks[b].name));
        Ok(Config {
            checks,
            index,
            by_name,
            storage,
        })
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

/// The largest config file read: far beyond any real one (100,000 checks
/// take about 7 MB).
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024 * 1024;

fn read_bounded(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read as _;
    let read_error = |e| ConfigError::Read(path.to_path_buf(), e);
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge(path.to_path_buf()));
    }
    String::from_utf8(bytes).map_err(|_| {
        read_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })
}

/// The TOML parser's message quotes the offending source line; where that
/// line sets `token`, its value is replaced (line and column stay), so a
/// syntax error never echoes a secret into a log or a `/-/reload` body.
fn redact_token_lines(message: &str) -> String {
    message
        .lines()
        .map(|line| match line.split_once(" | ") {
            Some((gutter, source))
                if gutter.trim().chars().all(|c| c.is_ascii_digit()) && is_token_line(source) =>
            {
                let key = source.split('=').next().unwrap_or_default();
                format!("{gutter} | {key}= <redacted>")
            }
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_token_line(source: &str) -> bool {
    source
        .split_once('=')
        .is_some_and(|(key, _)| matches!(key.trim().trim_matches('"'), "token"))
}

/// Byte offset → 1-based line number.
struct LineIndex {
    newlines: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        LineIndex {
            newlines: text.match_indices('\n').map(|(i, _)| i).collect(),
        }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.newlines.partition_point(|&nl| nl < offset) + 1
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
                let key = rest.split('`').next().unwrap_or_default().to_string();
                let expected = rest.split_once("expected ").map_or("", |(_, e)| e);
                let expected = expected.strip_prefix("one of ").unwrap_or(expected);
                (
                    key,
                    format!("unknown key; valid keys are {}", expected.replace('`', "")),
                )
            }
            None if path == "." => ("(table)".to_string(), inner),
            // The parser quotes the value it rejected; a token's must not
            // reach a log or a /-/reload body.
            None if path == "token" => (path, "must be a string".to_string()),
            None => (path, inner),
        };
        invalid(location, &field, message.trim_end().to_string())
    })
}

fn validate_storage(raw: Option<RawStorage>) -> Result<StorageSettings, ConfigError> {
    let Some(raw) = raw else {
        return Ok(StorageSettings {
            history: DEFAULT_HISTORY,
            retention: DEFAULT_RETENTION,
        });
    };
    let history = match raw.history {
        None => DEFAULT_HISTORY,
        Some(n) if (0..=100_000).contains(&n) => n as usize,
        Some(n) => {
            return Err(invalid(
                "[storage]",
                "history",
                format!("{n} is out of range; keep between 0 and 100000 pings per check"),
            ))
        }
    };
    let retention = match raw.retention {
        None => DEFAULT_RETENTION,
        Some(text) => {
            let d = parse_duration("[storage]", "retention", &text)?;
            if d < Duration::from_secs(3600) {
                return Err(invalid(
                    "[storage]",
                    "retention",
                    format!("{text:?} is shorter than the minimum of 1h"),
                ));
            }
            d
        }
    };
    Ok(StorageSettings { history, retention })
}

/// `[defaults]`, validated once and applied to every check.
struct Defaults {
    owner: Option<String>,
    team: Option<String>,
    severity: Option<Severity>,
    grace: Option<Duration>,
    max_runtime: Option<Duration>,
    /// `Some(None)` is `rate_limit = "none"`.
    rate_limit: Option<Option<RateLimit>>,
    timezone: Option<Tz>,
    methods: Option<Methods>,
    token: Option<Token>,
}

impl Defaults {
    fn validate(raw: RawDefaults, location: &str, base_dir: &Path) -> Result<Self, ConfigError> {
        Ok(Defaults {
            owner: raw.owner.map(|o| validate_owner(location, o)).transpose()?,
            team: raw.team,
            severity: raw
                .severity
                .map(|s| parse_severity(location, &s))
                .transpose()?,
            grace: raw
                .grace
                .map(|g| parse_duration(location, "grace", &g))
                .transpose()?,
            max_runtime: raw
                .max_runtime
                .map(|m| parse_max_runtime(location, &m))
                .transpose()?,
            rate_limit: raw
                .rate_limit
                .map(|r| parse_rate_limit(location, &r))
                .transpose()?,
            timezone: raw
                .timezone
                .map(|tz| parse_timezone(location, &tz))
                .transpose()?,
            methods: raw
                .methods
                .map(|m| parse_methods(location, &m))
                .transpose()?,
            token: load_token(location, raw.token, raw.token_file, raw.token_env, base_dir)?,
        })
    }
}

fn validate_check(
    raw: RawCheck,
    defaults: &Defaults,
    location: &str,
    base_dir: &Path,
) -> Result<Check, ConfigError> {
    let name = validate_name(raw.name, location)?;
    let owner = match raw.owner.or_else(|| defaults.owner.clone()) {
        Some(owner) => validate_owner(location, owner)?,
        None => {
            return Err(invalid(
                location,
                "owner",
                "missing; every check needs a named owner (a person, team or address) \
                 so that its alerts reach someone",
            ))
        }
    };

    let runbook = match raw.runbook {
        None => String::new(),
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => url,
        Some(url) => {
            return Err(invalid(
                location,
                "runbook",
                format!("{url:?} is not an absolute http(s) URL"),
            ))
        }
    };

    let severity = match raw.severity {
        Some(s) => parse_severity(location, &s)?,
        None => defaults.severity.unwrap_or(Severity::Warning),
    };

    let timezone = match raw.timezone {
        Some(tz) => parse_timezone(location, &tz)?,
        None => defaults.timezone.unwrap_or(Tz::UTC),
    };

    let schedule = validate_schedule(raw.every, raw.cron, timezone, location)?;

    let grace = match raw.grace {
        Some(g) => parse_duration(location, "grace", &g)?,
        None => defaults.grace.unwrap_or(DEFAULT_GRACE),
    };
    let max_runtime = match raw.max_runtime {
        Some(m) => Some(parse_max_runtime(location, &m)?),
        None => defaults.max_runtime,
    };
    let rate_limit = match raw.rate_limit {
        Some(r) => parse_rate_limit(location, &r)?,
        None => defaults.rate_limit.unwrap_or(Some(DEFAULT_RATE_LIMIT)),
    };
    let methods = match raw.methods {
        Some(m) => parse_methods(location, &m)?,
        None => defaults.methods.unwrap_or(Methods::ALL),
    };
    let token = match load_token(location, raw.token, raw.token_file, raw.token_env, base_dir)? {
        Some(token) => Some(token),
        None => defaults.token.clone(),
    };

    for (label, value) in &raw.labels {
        validate_label(location, label, value)?;
    }
    let volume = raw
        .volume
        .map(|v| validate_volume(v, timezone, location))
        .transpose()?;
    let expiries = validate_expiries(raw.expiry, location)?;

    Ok(Check {
        name,
        description: raw.description.unwrap_or_default(),
        owner,
        team: raw
            .team
            .or_else(|| defaults.team.clone())
            .unwrap_or_default(),
        runbook,
        severity,
        schedule,
        grace,
        max_runtime,
        rate_limit,
        methods,
        token,
        labels: raw.labels,
        source: raw.source.unwrap_or_default(),
        destination: raw.destination.unwrap_or_default(),
        account: raw.account.unwrap_or_default(),
        recovery: raw.recovery.unwrap_or_default(),
        volume,
        expiries,
    })
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
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new(".")).map_err(|e| e.to_string())
    }

    #[test]
    fn minimal_check_gets_defaults() {
        let config =
            parse("[[check]]\nname = \"a\"\nowner = \"ops\"\nevery = \"15m\"\n").expect("valid");
        let check = config.check("a").expect("present");
        assert_eq!(check.grace, DEFAULT_GRACE);
        assert_eq!(check.severity, Severity::Warning);
        assert_eq!(check.methods, Methods::ALL);
        assert!(check.token.is_none());
        assert_eq!(config.storage.history, 100);
    }

    #[test]
    fn defaults_apply_and_checks_override() {
        let config = parse(
            r#"
[defaults]
grace = "1m"
severity = "critical"
team = "finance"
token = "s3cret"

[[check]]
name = "a"
owner = "ops"
every = "15m"

[[check]]
name = "b"
owner = "ops"
every = "1h"
grace = "2m"
severity = "info"
token = "other"
"#,
        )
        .expect("valid");
        let a = config.check("a").expect("a");
        assert_eq!(a.grace, Duration::from_secs(60));
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.team, "finance");
        assert!(a.token.as_ref().is_some_and(|t| t.matches("s3cret")));
        let b = config.check("b").expect("b");
        assert_eq!(b.grace, Duration::from_secs(120));
        assert_eq!(b.severity, Severity::Info);
        assert!(b
            .token
            .as_ref()
            .is_some_and(|t| t.matches("other") && !t.matches("s3cret")));
    }

    #[test]
    fn check_names() {
        assert!(valid_check_name("shopify-orders-to-xero"));
        assert!(valid_check_name("0.a_b-c"));
        assert!(!valid_check_name(""));
        assert!(!valid_check_name("-a"));
        assert!(!valid_check_name("A"));
        assert!(!valid_check_name(&"a".repeat(65)));
        assert!(valid_check_name(&"a".repeat(64)));
    }

    #[test]
    fn syntax_errors_never_echo_a_token() {
        let text = "[[check]]\nname = \"a\"\nowner = \"ops\"\nevery = \"1h\"\ntoken = \"INLINE-TOKEN-abc123\n";
        let err = parse(text).expect_err("unterminated string");
        assert!(!err.contains("INLINE-TOKEN-abc123"), "{err}");
        assert!(err.contains("line 5"), "{err}");
        assert!(err.contains("token = <redacted>"), "{err}");
        let err = parse(
            "[[check]]\nname = \"a\"\nowner = \"ops\"\nevery = \"1h\"\ntoken = 1234567890123\n",
        )
        .expect_err("wrong type");
        assert!(!err.contains("1234567890123"), "{err}");
        assert!(err.ends_with("token: must be a string"), "{err}");
    }

    #[test]
    fn endless_files_are_refused_without_reading_them_whole() {
        let err = Config::load(Path::new("/dev/zero")).expect_err("refused");
        assert!(matches!(err, ConfigError::TooLarge(_)), "{err}");
        assert_eq!(
            err.to_string(),
            "/dev/zero is larger than 64 MiB, the most deadman reads as a config; is it the right file?"
        );
    }

    #[test]
    fn an_endless_token_file_is_refused() {
        let err = parse("[[check]]\nname = \"a\"\nowner = \"ops\"\nevery = \"1h\"\ntoken_file = \"/dev/zero\"\n")
            .expect_err("refused");
        assert_eq!(
            err,
            "check \"a\" (line 1): token_file: cannot read /dev/zero: it is larger than 64 KiB; a token file holds one line"
        );
    }

    #[test]
    fn line_index() {
        let idx = LineIndex::new("a\nb\nc");
        assert_eq!(idx.line_of(0), 1);
        assert_eq!(idx.line_of(2), 2);
        assert_eq!(idx.line_of(4), 3);
    }
}
