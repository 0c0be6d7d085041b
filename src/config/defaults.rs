//! `[defaults]`: values every check inherits unless it sets its own.

use std::time::Duration;

use chrono_tz::Tz;
use serde::Deserialize;

use super::assertions::parse_failure_threshold;
use super::check::{Methods, Severity};
use super::error::ErrorList;
use super::fields::{
    parse_duration, parse_max_runtime, parse_methods, parse_severity, parse_timezone,
    validate_owner,
};
use super::rate_limit::{parse_rate_limit, RateLimit};
use super::secrets::TokenLoader;
use crate::auth::Token;

/// Keys allowed in `[defaults]`: the ones that make sense for many checks.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
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
    failure_threshold: Option<i64>,
}

/// `[defaults]`, validated once and applied to every check. A value that
/// is invalid is `None` here (its error is recorded), so checks fall back
/// to the built-in default and are still validated.
#[derive(Default)]
pub(super) struct Defaults {
    pub owner: InheritedOwner,
    pub team: Option<String>,
    pub severity: Option<Severity>,
    pub grace: Option<Duration>,
    pub max_runtime: Option<Duration>,
    /// `Some(None)` is `rate_limit = "none"`.
    pub rate_limit: Option<Option<RateLimit>>,
    pub timezone: Option<Tz>,
    pub methods: Option<Methods>,
    pub token: Option<Token>,
    pub failure_threshold: Option<u64>,
}

/// What a check without an `owner` of its own inherits. Unlike the other
/// defaults, an invalid one cannot just be treated as unset: every check
/// relying on it would then also be reported as missing an owner.
#[derive(Default)]
pub(super) enum InheritedOwner {
    /// `[defaults]` sets none: a check without its own lacks an owner.
    #[default]
    Unset,
    Set(String),
    /// `[defaults]` sets one that is invalid, or could not be read at all;
    /// that is reported once, at `[defaults]`.
    Invalid,
}

impl Defaults {
    /// What a `[defaults]` table that could not be read provides.
    pub(super) fn unreadable() -> Defaults {
        Defaults {
            owner: InheritedOwner::Invalid,
            ..Defaults::default()
        }
    }

    /// Validates `[defaults]` at `location`, recording every error.
    pub(super) fn validate(
        raw: RawDefaults,
        location: &str,
        tokens: TokenLoader,
        errors: &mut ErrorList,
    ) -> Defaults {
        let owner = match raw.owner.map(|o| validate_owner(location, o)) {
            None => InheritedOwner::Unset,
            Some(result) => errors
                .take(result)
                .map_or(InheritedOwner::Invalid, InheritedOwner::Set),
        };
        Defaults {
            owner,
            team: raw.team,
            severity: errors.optional(raw.severity, |s| parse_severity(location, &s)),
            grace: errors.optional(raw.grace, |g| parse_duration(location, "grace", &g)),
            max_runtime: errors.optional(raw.max_runtime, |m| parse_max_runtime(location, &m)),
            rate_limit: errors.optional(raw.rate_limit, |r| parse_rate_limit(location, &r)),
            timezone: errors.optional(raw.timezone, |tz| parse_timezone(location, &tz)),
            methods: errors.optional(raw.methods, |m| parse_methods(location, &m)),
            token: errors
                .take(tokens.load(location, raw.token, raw.token_file, raw.token_env))
                .flatten(),
            failure_threshold: errors.optional(raw.failure_threshold, |n| {
                parse_failure_threshold(location, n)
            }),
        }
    }
}
