//! Per-field parsers and validators: each turns one raw value into a typed
//! one, or an error sentence naming the field and what is wrong.

use std::time::Duration;

use chrono_tz::Tz;

use super::check::{Methods, Severity};
use super::error::{invalid, ConfigError};
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
    "url",
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
