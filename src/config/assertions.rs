//! What a run must do beyond arriving on time — declared values
//! (`[[check.value]]`), `failure_threshold`, `max_failure_ratio` over
//! `failure_ratio_window`, `min_runtime` — and the check's pause
//! (`paused`, `paused_until`, `pause_reason`): raw → validated, with the
//! same error sentences as the rest of the config.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::check::Check;
use super::error::{invalid, ConfigError, ErrorList};
use super::fields::parse_duration;
use crate::model::check_state::MAX_RECENT_FAILURES;
use crate::model::expectations::parse_rfc3339;
use crate::model::failure_ratio::{FailureRatio, MAX_RATIO_WINDOW, MIN_RATIO_WINDOW};
use crate::model::pause::Pause;
use crate::model::values::{valid_value_name, DeclaredValue, MAX_ABS_VALUE, MAX_ABS_VALUE_TEXT};

/// `[[check.value]]` as written.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawValue {
    name: Option<String>,
    description: Option<String>,
    min: Option<f64>,
    max: Option<f64>,
    #[serde(rename = "for")]
    for_duration: Option<String>,
}

/// A check's keys that this file validates, taken out of the raw check.
#[derive(Default)]
pub(super) struct RawAssertions {
    pub value: Vec<RawValue>,
    pub failure_threshold: Option<i64>,
    pub max_failure_ratio: Option<f64>,
    pub failure_ratio_window: Option<String>,
    pub min_runtime: Option<String>,
    pub paused: Option<bool>,
    pub paused_until: Option<String>,
    pub pause_reason: Option<String>,
}

/// The validated keys; a key whose error was recorded is at its default.
pub(super) struct Assertions {
    pub values: Vec<DeclaredValue>,
    pub failure_threshold: Option<u64>,
    pub failure_ratio: Option<FailureRatio>,
    pub min_runtime: Option<Duration>,
    pub pause: Option<Pause>,
}

/// Validates every key, recording each error in `errors`. `max_runtime`
/// (the check's or the default) bounds `min_runtime`.
pub(super) fn validate_assertions(
    raw: RawAssertions,
    max_runtime: Option<Duration>,
    location: &str,
    errors: &mut ErrorList,
) -> Assertions {
    let failure_threshold = errors.optional(raw.failure_threshold, |n| {
        parse_failure_threshold(location, n)
    });
    let failure_ratio = errors.take(validate_failure_ratio(
        raw.max_failure_ratio,
        raw.failure_ratio_window,
        location,
    ));
    let min_runtime = errors.optional(raw.min_runtime, |text| {
        validate_min_runtime(location, &text, max_runtime)
    });
    let pause = errors.take(validate_pause(
        raw.paused,
        raw.paused_until,
        raw.pause_reason,
        location,
    ));
    // Tables after keys, as a file lists them.
    let values = errors.take(validate_values(raw.value, location));
    Assertions {
        values: values.unwrap_or_default(),
        failure_threshold,
        failure_ratio: failure_ratio.flatten(),
        min_runtime,
        pause: pause.flatten(),
    }
}

/// A warning for each check whose `paused_until` is at or before `now`.
pub(super) fn ended_pauses(checks: &[Arc<Check>], now: f64) -> Vec<String> {
    (checks.iter())
        .filter_map(|check| {
            let until = check.pause.as_ref()?.until.filter(|until| *until <= now)?;
            Some(format!(
                "check {:?}: paused_until {} has passed, so the check is no longer paused; \
                 remove paused_until (and pause_reason)",
                check.name,
                crate::text::format_timestamp(until)
            ))
        })
        .collect()
}

/// `failure_threshold`: failed runs in a row before the check pages; at
/// most the failures each check remembers.
pub(super) fn parse_failure_threshold(location: &str, n: i64) -> Result<u64, ConfigError> {
    match u64::try_from(n) {
        Ok(n) if (1..=MAX_RECENT_FAILURES as u64).contains(&n) => Ok(n),
        _ => Err(invalid(
            location,
            "failure_threshold",
            format!(
                "{n} is out of range; it is the number of failed runs in a row that pages, \
                 from 1 (the default: the first failure pages) to {MAX_RECENT_FAILURES}"
            ),
        )),
    }
}

fn validate_failure_ratio(
    ratio: Option<f64>,
    window: Option<String>,
    location: &str,
) -> Result<Option<FailureRatio>, ConfigError> {
    let (ratio, window) = match (ratio, window) {
        (None, None) => return Ok(None),
        (Some(ratio), Some(window)) => (ratio, window),
        (Some(_), None) => {
            return Err(invalid(
                location,
                "failure_ratio_window",
                "missing; max_failure_ratio needs the window it is counted over, e.g. \
                 failure_ratio_window = \"24h\"",
            ))
        }
        (None, Some(_)) => {
            return Err(invalid(
                location,
                "max_failure_ratio",
                "missing; failure_ratio_window counts nothing without a max_failure_ratio \
                 (e.g. 0.2: more than one failed run in five is an incident)",
            ))
        }
    };
    if !(ratio > 0.0 && ratio <= 1.0) {
        return Err(invalid(
            location,
            "max_failure_ratio",
            format!(
                "{ratio} is out of range; the share of failed runs allowed is above 0 and at \
                 most 1 (0.2 is one run in five)"
            ),
        ));
    }
    let length = parse_duration(location, "failure_ratio_window", &window)?;
    if length < MIN_RATIO_WINDOW || length > MAX_RATIO_WINDOW {
        return Err(invalid(
            location,
            "failure_ratio_window",
            format!("{window:?} is out of range; use 10m to 35d"),
        ));
    }
    Ok(Some(FailureRatio {
        max_ratio: ratio,
        window: length,
    }))
}

fn validate_min_runtime(
    location: &str,
    text: &str,
    max_runtime: Option<Duration>,
) -> Result<Duration, ConfigError> {
    let d = parse_duration(location, "min_runtime", text)?;
    if d.is_zero() {
        return Err(invalid(location, "min_runtime", "must be longer than 0s"));
    }
    if let Some(max) = max_runtime.filter(|max| d >= *max) {
        return Err(invalid(
            location,
            "min_runtime",
            format!(
                "{text:?} is not shorter than max_runtime ({}); no run could satisfy both",
                humantime::format_duration(max)
            ),
        ));
    }
    Ok(d)
}

fn validate_pause(
    paused: Option<bool>,
    until: Option<String>,
    reason: Option<String>,
    location: &str,
) -> Result<Option<Pause>, ConfigError> {
    let until = match until {
        None => None,
        Some(text) => Some(parse_rfc3339(&text).ok_or_else(|| {
            invalid(
                location,
                "paused_until",
                format!("{text:?} is not an RFC 3339 time such as \"2026-12-27T09:00:00Z\""),
            )
        })?),
    };
    match (paused, until, reason) {
        (Some(false), Some(_), _) => Err(invalid(
            location,
            "paused_until",
            "is set but paused = false; remove one of them (paused_until alone pauses the \
             check until then)",
        )),
        (Some(true), until, reason) | (None, until @ Some(_), reason) => Ok(Some(Pause {
            until,
            reason: reason.unwrap_or_default(),
        })),
        (_, None, Some(_)) => Err(invalid(
            location,
            "pause_reason",
            "is set but the check is not paused; set paused = true or paused_until, or \
             remove the reason",
        )),
        (_, None, None) => Ok(None),
    }
}

/// Validates the `[[check.value]]` list, reporting every entry that is
/// wrong (the first error of each).
fn validate_values(raw: Vec<RawValue>, location: &str) -> Result<Vec<DeclaredValue>, ConfigError> {
    let mut errors = ErrorList::default();
    let mut out = Vec::with_capacity(raw.len());
    let mut names = HashSet::with_capacity(raw.len());
    for (i, v) in raw.into_iter().enumerate() {
        let field = |key: &str| format!("value[{i}].{key}");
        let name = match v.name.clone() {
            Some(name) if valid_value_name(&name) => name,
            Some(name) => {
                errors.push(invalid(
                    location,
                    &field("name"),
                    format!(
                        "{name:?} is not a valid value name; use 1 to 64 characters of a-z, 0-9 \
                         and '_', starting with a letter"
                    ),
                ));
                continue;
            }
            None => {
                errors.push(invalid(
                    location,
                    &field("name"),
                    "missing; every value needs a name, e.g. name = \"unmatched_invoices\"",
                ));
                continue;
            }
        };
        if !names.insert(name.clone()) {
            errors.push(invalid(
                location,
                &field("name"),
                format!("{name:?} is declared twice; value names must be unique within a check"),
            ));
            continue;
        }
        if let Some(value) = errors.take(validate_value(name, v, &field, location)) {
            out.push(value);
        }
    }
    errors.finish(out)
}

/// One `[[check.value]]`, its valid `name` given; `field` names its keys.
fn validate_value(
    name: String,
    v: RawValue,
    field: &dyn Fn(&str) -> String,
    location: &str,
) -> Result<DeclaredValue, ConfigError> {
    for (key, bound) in [("min", v.min), ("max", v.max)] {
        if let Some(bound) = bound.filter(|b| !(b.is_finite() && b.abs() <= MAX_ABS_VALUE)) {
            return Err(invalid(
                location,
                &field(key),
                format!(
                    "{bound} is out of range; a bound is a finite number at most \
                     {MAX_ABS_VALUE_TEXT} either side of 0"
                ),
            ));
        }
    }
    if let (Some(min), Some(max)) = (v.min, v.max) {
        if max < min {
            return Err(invalid(
                location,
                &field("max"),
                format!("{max} is below min ({min})"),
            ));
        }
    }
    let for_duration = match v.for_duration {
        None => None,
        Some(_) if v.min.is_none() && v.max.is_none() => {
            return Err(invalid(
                location,
                &field("for"),
                "applies only to a value with min or max; without bounds it is never out of \
                 range",
            ))
        }
        Some(text) => {
            let d = parse_duration(location, &field("for"), &text)?;
            if d.is_zero() {
                return Err(invalid(
                    location,
                    &field("for"),
                    "must be longer than 0s; leave it out to page as soon as the value is out \
                     of range",
                ));
            }
            Some(d)
        }
    };
    Ok(DeclaredValue {
        name,
        description: v.description.unwrap_or_default(),
        min: v.min,
        max: v.max,
        for_duration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: &str = "check \"t\" (line 1)";

    fn value(name: &str, min: Option<f64>, max: Option<f64>, for_: Option<&str>) -> RawValue {
        RawValue {
            name: Some(name.into()),
            description: Some("what it counts".into()),
            min,
            max,
            for_duration: for_.map(String::from),
        }
    }

    fn messages(result: Result<Vec<DeclaredValue>, ConfigError>) -> Vec<String> {
        match result {
            Ok(_) => vec![],
            Err(err) => err.each().iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn values_are_validated_entry_by_entry() {
        let ok = validate_values(
            vec![
                value("unmatched_invoices", None, Some(0.0), Some("30m")),
                value("lag", Some(-1.5), Some(1.5), None),
                value("plain", None, None, None),
            ],
            L,
        )
        .expect("valid");
        assert_eq!(ok[0].for_duration, Some(Duration::from_secs(1800)));
        assert_eq!(ok[0].description, "what it counts");
        assert_eq!((ok[1].min, ok[1].max), (Some(-1.5), Some(1.5)));
        assert_eq!(
            messages(validate_values(
                vec![
                    value("Bad-Name", None, None, None),
                    value("a", None, None, None),
                    value("a", None, None, None),
                    value("b", Some(2.0), Some(1.0), None),
                    value("c", None, Some(f64::INFINITY), None),
                    value("d", None, None, Some("5m")),
                    value("e", Some(1.0), None, Some("0s")),
                    value("f", Some(-2e15), None, None),
                    RawValue::default(),
                ],
                L,
            )),
            [
                "check \"t\" (line 1): value[0].name: \"Bad-Name\" is not a valid value name; use 1 to 64 characters of a-z, 0-9 and '_', starting with a letter",
                "check \"t\" (line 1): value[2].name: \"a\" is declared twice; value names must be unique within a check",
                "check \"t\" (line 1): value[3].max: 1 is below min (2)",
                "check \"t\" (line 1): value[4].max: inf is out of range; a bound is a finite number at most 1e15 (1000000000000000) either side of 0",
                "check \"t\" (line 1): value[5].for: applies only to a value with min or max; without bounds it is never out of range",
                "check \"t\" (line 1): value[6].for: must be longer than 0s; leave it out to page as soon as the value is out of range",
                "check \"t\" (line 1): value[7].min: -2000000000000000 is out of range; a bound is a finite number at most 1e15 (1000000000000000) either side of 0",
                "check \"t\" (line 1): value[8].name: missing; every value needs a name, e.g. name = \"unmatched_invoices\"",
            ]
        );
    }

    fn one_error(raw: RawAssertions, max_runtime: Option<Duration>) -> String {
        let mut errors = ErrorList::default();
        validate_assertions(raw, max_runtime, L, &mut errors);
        match errors.finish(()) {
            Ok(()) => String::new(),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn thresholds_ratios_and_runtimes() {
        let threshold = RawAssertions {
            failure_threshold: Some(0),
            ..Default::default()
        };
        assert_eq!(
            one_error(threshold, None),
            "check \"t\" (line 1): failure_threshold: 0 is out of range; it is the number of failed runs in a row that pages, from 1 (the default: the first failure pages) to 100"
        );
        let ratio_alone = RawAssertions {
            max_failure_ratio: Some(0.2),
            ..Default::default()
        };
        assert_eq!(
            one_error(ratio_alone, None),
            "check \"t\" (line 1): failure_ratio_window: missing; max_failure_ratio needs the window it is counted over, e.g. failure_ratio_window = \"24h\""
        );
        let window_alone = RawAssertions {
            failure_ratio_window: Some("1d".into()),
            ..Default::default()
        };
        assert_eq!(
            one_error(window_alone, None),
            "check \"t\" (line 1): max_failure_ratio: missing; failure_ratio_window counts nothing without a max_failure_ratio (e.g. 0.2: more than one failed run in five is an incident)"
        );
        let ratio = |r: f64, w: &str| {
            let raw = RawAssertions {
                max_failure_ratio: Some(r),
                failure_ratio_window: Some(w.into()),
                ..Default::default()
            };
            one_error(raw, None)
        };
        assert_eq!(ratio(0.2, "24h"), "");
        assert_eq!(ratio(1.0, "10m"), "");
        assert!(ratio(0.0, "24h").contains("0 is out of range"));
        assert!(ratio(1.5, "24h").contains("1.5 is out of range"));
        assert!(ratio(f64::NAN, "24h").contains("NaN is out of range"));
        assert_eq!(
            ratio(0.2, "5m"),
            "check \"t\" (line 1): failure_ratio_window: \"5m\" is out of range; use 10m to 35d"
        );
        assert!(ratio(0.2, "90d").contains("out of range"));
        let min_runtime = |text: &str, max: Option<u64>| {
            let raw = RawAssertions {
                min_runtime: Some(text.into()),
                ..Default::default()
            };
            one_error(raw, max.map(Duration::from_secs))
        };
        assert_eq!(min_runtime("30s", Some(1800)), "");
        assert_eq!(
            min_runtime("0s", None),
            "check \"t\" (line 1): min_runtime: must be longer than 0s"
        );
        assert_eq!(
            min_runtime("1h", Some(1800)),
            "check \"t\" (line 1): min_runtime: \"1h\" is not shorter than max_runtime (30m); no run could satisfy both"
        );
    }

    #[test]
    fn pauses() {
        let pause = |paused: Option<bool>, until: Option<&str>, reason: Option<&str>| {
            validate_pause(paused, until.map(String::from), reason.map(String::from), L)
                .map_err(|e| e.to_string())
        };
        assert_eq!(pause(None, None, None), Ok(None));
        assert_eq!(pause(Some(false), None, None), Ok(None));
        assert_eq!(
            pause(Some(true), None, Some("migration")),
            Ok(Some(Pause {
                until: None,
                reason: "migration".into()
            }))
        );
        let until = parse_rfc3339("2026-12-27T09:00:00Z");
        assert_eq!(
            pause(None, Some("2026-12-27T09:00:00Z"), None),
            Ok(Some(Pause {
                until,
                reason: String::new()
            }))
        );
        assert_eq!(
            pause(Some(true), Some("2026-12-27T09:00:00Z"), None).map(|p| p.and_then(|p| p.until)),
            Ok(until)
        );
        assert_eq!(
            pause(Some(false), Some("2026-12-27T09:00:00Z"), None),
            Err("check \"t\" (line 1): paused_until: is set but paused = false; remove one of them (paused_until alone pauses the check until then)".into())
        );
        assert_eq!(
            pause(None, None, Some("why")),
            Err("check \"t\" (line 1): pause_reason: is set but the check is not paused; set paused = true or paused_until, or remove the reason".into())
        );
        assert_eq!(
            pause(Some(false), None, Some("why")).map(|_| ()),
            pause(None, None, Some("why")).map(|_| ())
        );
        assert_eq!(
            pause(None, Some("after Christmas"), None),
            Err("check \"t\" (line 1): paused_until: \"after Christmas\" is not an RFC 3339 time such as \"2026-12-27T09:00:00Z\"".into())
        );
    }
}
