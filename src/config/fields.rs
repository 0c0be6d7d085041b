//! Per-field parsers and validators: each turns one raw value into a typed
//! one, or an error sentence naming the field and what is wrong.

use std::path::Path;
use std::time::Duration;

use chrono_tz::Tz;

use super::check::{Methods, Severity};
use super::error::{invalid, ConfigError};
use crate::auth::Token;
use crate::model::schedule::CronSchedule;

/// Label names deadman sets itself (or Prometheus attaches), so a check's
/// static `labels` may not use them.
const RESERVED_LABELS: &[&str] = &[
    "check",
    "owner",
    "team",
    "severity",
    "runbook_url",
    "schedule",
    "description",
    "kind",
    "reason",
    "name",
    "job",
    "instance",
];

/// `^[a-z0-9][a-z0-9_.-]{0,63}$`: safe in URLs, labels and file names.
pub fn valid_check_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        })
}

pub(super) fn validate_owner(location: &str, owner: String) -> Result<String, ConfigError> {
    if owner.trim().is_empty() {
        return Err(invalid(
            location,
            "owner",
            "is empty; every check needs a named owner (a person, team or address)",
        ));
    }
    Ok(owner)
}

pub(super) fn validate_label(location: &str, label: &str, value: &str) -> Result<(), ConfigError> {
    let mut chars = label.chars();
    let well_formed = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !well_formed {
        return Err(invalid(
            location,
            "labels",
            format!("{label:?} is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)"),
        ));
    }
    if label.starts_with("__") || RESERVED_LABELS.contains(&label) {
        return Err(invalid(
            location,
            "labels",
            format!("{label:?} is reserved (deadman or Prometheus sets it); choose another name"),
        ));
    }
    if value.is_empty() {
        return Err(invalid(
            location,
            "labels",
            format!("{label:?} has an empty value, which Prometheus treats as no label"),
        ));
    }
    Ok(())
}

pub(super) fn parse_duration(
    location: &str,
    field: &str,
    text: &str,
) -> Result<Duration, ConfigError> {
    humantime::parse_duration(text).map_err(|e| {
        invalid(
            location,
            field,
            format!("{text:?} is not a valid duration ({e}); write it like \"90s\", \"15m\" or \"1h 30m\""),
        )
    })
}

pub(super) fn parse_max_runtime(location: &str, text: &str) -> Result<Duration, ConfigError> {
    let d = parse_duration(location, "max_runtime", text)?;
    if d.is_zero() {
        return Err(invalid(location, "max_runtime", "must be longer than 0s"));
    }
    Ok(d)
}

pub(super) fn parse_severity(location: &str, text: &str) -> Result<Severity, ConfigError> {
    Severity::parse(text).ok_or_else(|| {
        invalid(
            location,
            "severity",
            format!("{text:?} is not one of critical, warning, info"),
        )
    })
}

pub(super) fn parse_timezone(location: &str, text: &str) -> Result<Tz, ConfigError> {
    text.parse::<Tz>().map_err(|_| {
        invalid(
            location,
            "timezone",
            format!(
                "{text:?} is not a known IANA time zone (for example \"Europe/London\", \
                 \"America/New_York\" or \"UTC\")"
            ),
        )
    })
}

pub(super) fn parse_methods(location: &str, names: &[String]) -> Result<Methods, ConfigError> {
    if names.is_empty() {
        return Err(invalid(
            location,
            "methods",
            "is empty; list at least one of GET, HEAD, POST",
        ));
    }
    let mut methods = Methods {
        get: false,
        head: false,
        post: false,
    };
    for name in names {
        match name.to_ascii_uppercase().as_str() {
            "GET" => methods.get = true,
            "HEAD" => methods.head = true,
            "POST" => methods.post = true,
            _ => {
                return Err(invalid(
                    location,
                    "methods",
                    format!("{name:?} is not supported; use GET, HEAD and/or POST"),
                ))
            }
        }
    }
    Ok(methods)
}

/// Loads a secret from exactly one of `token`, `token_file`, `token_env`.
/// Error messages name the source, never the secret.
/// The largest token file read: a token is a line, so this is generous; a
/// `token_file` pointing at `/dev/zero` or a log must not exhaust memory.
const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;

fn read_token_file(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_TOKEN_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_TOKEN_FILE_BYTES {
        return Err("it is larger than 64 KiB; a token file holds one line".into());
    }
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".into())
}

pub(super) fn load_token(
    location: &str,
    inline: Option<String>,
    file: Option<String>,
    env: Option<String>,
    base_dir: &Path,
) -> Result<Option<Token>, ConfigError> {
    let secret = match (inline, file, env) {
        (None, None, None) => return Ok(None),
        (Some(secret), None, None) => secret,
        (None, Some(file), None) => {
            let path = base_dir.join(&file);
            let text = read_token_file(&path).map_err(|why| {
                invalid(
                    location,
                    "token_file",
                    format!("cannot read {}: {why}", path.display()),
                )
            })?;
            // Secret files usually end in a newline that is not part of the secret.
            let secret = text.trim_end_matches(['\r', '\n']).to_string();
            if secret.is_empty() {
                return Err(invalid(
                    location,
                    "token_file",
                    format!("{} is empty", path.display()),
                ));
            }
            secret
        }
        (None, None, Some(var)) => match std::env::var(&var) {
            Ok(secret) if !secret.is_empty() => secret,
            Ok(_) => {
                return Err(invalid(
                    location,
                    "token_env",
                    format!("environment variable {var} is empty"),
                ))
            }
            Err(_) => {
                return Err(invalid(
                    location,
                    "token_env",
                    format!("environment variable {var} is not set"),
                ))
            }
        },
        _ => {
            return Err(invalid(
                location,
                "token",
                "set at most one of \"token\", \"token_file\" and \"token_env\"",
            ))
        }
    };
    if secret.is_empty() {
        return Err(invalid(location, "token", "is empty"));
    }
    Ok(Some(Token::new(&secret)))
}

/// A 5-field cron expression read in `tz`.
pub(super) fn parse_cron(
    location: &str,
    field: &str,
    expr: &str,
    tz: Tz,
) -> Result<CronSchedule, ConfigError> {
    CronSchedule::parse(expr, tz).map_err(|why| {
        invalid(
            location,
            field,
            format!("{expr:?} is not a valid cron expression: {why}"),
        )
    })
}
