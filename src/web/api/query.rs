//! The v1 API's query strings, parsed and validated: which checks a list
//! keeps ([`Filter`]) and how many pings a check shows ([`parse_limit`]).
//! Pure; a mistake comes back as the sentence of its 400 body, naming the
//! parameter and what it accepts, so a typo never silently widens a list.

use std::collections::BTreeMap;

use crate::check_report::Condition;
use crate::config::Check;

/// The parameters of `GET /api/v1/checks`, for the "unknown parameter"
/// sentence.
const LIST_PARAMETERS: &str = "the parameters are team, state, label.<name> and q";

/// The parameters of the one-check endpoints.
const CHECK_PARAMETERS: &str = "the only parameter is limit";

/// What `GET /api/v1/checks` keeps: a check must match every filter given.
#[derive(Debug, Default, PartialEq)]
pub struct Filter {
    /// `team=`, exact; an empty value keeps the checks without a team, so
    /// "who owns nothing" is one query.
    pub team: Option<String>,
    /// `state=`, repeatable: a check is kept when it holds any of these
    /// (among all its conditions, not only the primary one — the same
    /// counting as the summary, so `?state=late` lists `summary.late`
    /// checks).
    pub states: Vec<Condition>,
    /// `label.<name>=<value>`, one per label name: every one must match.
    pub labels: BTreeMap<String, String>,
    /// `q=`, lowercased: a case-insensitive substring of the name,
    /// description or owner, for a search box.
    pub q: Option<String>,
}

impl Filter {
    /// Parses the query string of `GET /api/v1/checks`.
    pub fn parse(query: Option<&str>) -> Result<Filter, String> {
        let mut filter = Filter::default();
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match key.as_ref() {
                "team" => set_once(&mut filter.team, "team", value.into_owned())?,
                "q" => set_once(&mut filter.q, "q", value.to_lowercase())?,
                "state" => filter.states.push(condition(&value)?),
                other => match other.strip_prefix("label.") {
                    Some("") => {
                        return Err("parameter \"label.\" names no label; \
                                    write label.<name>=<value>"
                            .to_string())
                    }
                    Some(name) => {
                        if filter.labels.insert(name.into(), value.into()).is_some() {
                            return Err(repeated(other));
                        }
                    }
                    None => return Err(unknown(other, LIST_PARAMETERS)),
                },
            }
        }
        Ok(filter)
    }

    /// Whether the check's config passes the team, label and search
    /// filters: asked before its report is built, so a narrow query does
    /// not pay for every check's report.
    pub fn admits(&self, check: &Check) -> bool {
        let fields = [&check.name, &check.description, &check.owner];
        self.team.as_ref().is_none_or(|team| *team == check.team)
            && self
                .labels
                .iter()
                .all(|(name, value)| check.labels.get(name) == Some(value))
            && self.q.as_ref().is_none_or(|q| {
                fields
                    .iter()
                    .any(|field| field.to_lowercase().contains(q.as_str()))
            })
    }

    /// Whether a check holding `conditions` passes the `state` filter.
    pub fn admits_conditions(&self, conditions: &[Condition]) -> bool {
        self.states.is_empty() || self.states.iter().any(|s| conditions.contains(s))
    }
}

/// The `limit` of the one-check endpoints: how many recent pings to show,
/// from 1 to `kept` (the `[storage] history` kept per check, so a limit is
/// never silently cut short); `min(20, kept)` when not given.
pub fn parse_limit(query: Option<&str>, kept: usize) -> Result<usize, String> {
    let mut limit = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if key != "limit" {
            return Err(unknown(&key, CHECK_PARAMETERS));
        }
        if kept == 0 {
            return Err("limit cannot be given: no history is kept ([storage] history = 0)".into());
        }
        let n = match value.parse::<usize>() {
            Ok(n) if (1..=kept).contains(&n) => n,
            _ => {
                return Err(format!(
                    "limit must be a whole number from 1 to {kept} (the [storage] history \
                     kept per check), not {}",
                    shown(&value)
                ))
            }
        };
        set_once(&mut limit, "limit", n)?;
    }
    Ok(limit.unwrap_or(kept.min(20)))
}

/// Text from a request, quoted and cut to 64 characters: enough to
/// recognise, never a way to make a response large.
pub fn shown(text: &str) -> String {
    let cut: String = text.chars().take(64).collect();
    format!("{cut:?}")
}

fn condition(value: &str) -> Result<Condition, String> {
    Condition::parse(value).ok_or_else(|| {
        let names: Vec<&str> = Condition::ALL.iter().map(|c| c.as_str()).collect();
        format!("state {} is not one of {}", shown(value), names.join(", "))
    })
}

/// Sets a single-valued parameter; a second value is refused rather than
/// one of them silently winning.
fn set_once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), String> {
    match slot {
        Some(_) => Err(repeated(name)),
        None => {
            *slot = Some(value);
            Ok(())
        }
    }
}

fn repeated(name: &str) -> String {
    format!(
        "parameter {} is given more than once; it takes one value",
        shown(name)
    )
}

fn unknown(name: &str, allowed: &str) -> String {
    format!("unknown parameter {}; {allowed}", shown(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_with_repeats_where_they_make_sense() {
        let filter = Filter::parse(Some(
            "team=finance&state=late&state=failing&label.env=prod&label.system=x%20y&q=Xero",
        ))
        .expect("valid");
        assert_eq!(filter.team.as_deref(), Some("finance"));
        assert_eq!(filter.states, [Condition::Late, Condition::Failing]);
        assert_eq!(filter.labels.get("system").map(String::as_str), Some("x y"));
        assert_eq!(filter.labels.len(), 2);
        assert_eq!(filter.q.as_deref(), Some("xero"));
        assert_eq!(Filter::parse(None), Ok(Filter::default()));
        assert_eq!(
            Filter::parse(Some("team=")).expect("valid").team.as_deref(),
            Some("")
        );
    }

    #[test]
    fn filter_mistakes_name_the_parameter_and_what_it_takes() {
        let cases = [
            (
                "teams=a",
                "unknown parameter \"teams\"; the parameters are team, state, label.<name> and q",
            ),
            (
                "team=a&team=b",
                "parameter \"team\" is given more than once; it takes one value",
            ),
            (
                "q=a&q=b",
                "parameter \"q\" is given more than once; it takes one value",
            ),
            (
                "label.env=a&label.env=b",
                "parameter \"label.env\" is given more than once; it takes one value",
            ),
            (
                "label.=a",
                "parameter \"label.\" names no label; write label.<name>=<value>",
            ),
            (
                "state=Late",
                "state \"Late\" is not one of failing, late, running_too_long, ran_too_short, \
                 value_out_of_range, failure_rate_high, expired, volume_low, volume_high, \
                 expiring, paused, running, new, up",
            ),
        ];
        for (query, message) in cases {
            assert_eq!(
                Filter::parse(Some(query)),
                Err(message.to_string()),
                "{query}"
            );
        }
        let long = format!("{}=1", "x".repeat(100));
        let message = Filter::parse(Some(&long)).expect_err("unknown");
        assert!(message.starts_with(&format!("unknown parameter \"{}\";", "x".repeat(64))));
    }

    #[test]
    fn a_limit_is_within_the_history_kept_or_refused() {
        assert_eq!(parse_limit(None, 100), Ok(20));
        assert_eq!(parse_limit(None, 3), Ok(3));
        assert_eq!(parse_limit(Some("limit=100"), 100), Ok(100));
        assert_eq!(parse_limit(Some("limit=1"), 100), Ok(1));
        let range = "limit must be a whole number from 1 to 100 (the [storage] history kept per check), not";
        for (value, shown) in [
            ("0", "\"0\""),
            ("101", "\"101\""),
            ("-1", "\"-1\""),
            ("ten", "\"ten\""),
        ] {
            assert_eq!(
                parse_limit(Some(&format!("limit={value}")), 100),
                Err(format!("{range} {shown}"))
            );
        }
        assert_eq!(
            parse_limit(Some("limit=1&limit=2"), 100),
            Err("parameter \"limit\" is given more than once; it takes one value".into())
        );
        assert_eq!(
            parse_limit(Some("since=1"), 100),
            Err("unknown parameter \"since\"; the only parameter is limit".into())
        );
        assert_eq!(parse_limit(None, 0), Ok(0));
        assert_eq!(
            parse_limit(Some("limit=1"), 0),
            Err("limit cannot be given: no history is kept ([storage] history = 0)".into())
        );
    }

    #[test]
    fn filters_match_config_and_conditions() {
        let config = crate::config::Config::parse(
            "[[check]]\nname = \"a\"\ndescription = \"Shopify to Xero\"\nowner = \"ops\"\n\
             team = \"finance\"\nevery = \"1h\"\nlabels = { env = \"prod\" }\n",
            std::path::Path::new("."),
        )
        .expect("valid");
        let check = &config.checks[0];
        let admits = |query: &str| Filter::parse(Some(query)).expect("valid").admits(check);
        assert!(admits("team=finance&label.env=prod&q=XERO"));
        assert!(admits("q=ops") && admits("q=a") && admits(""));
        assert!(!admits("team=") && !admits("team=Finance"));
        assert!(!admits("label.env=dev") && !admits("label.region=eu"));
        assert!(!admits("q=stripe"));
        let states = Filter::parse(Some("state=late&state=failing")).expect("valid");
        assert!(states.admits_conditions(&[Condition::Failing, Condition::Late]));
        assert!(states.admits_conditions(&[Condition::Late]));
        assert!(!states.admits_conditions(&[Condition::Up]));
        assert!(Filter::default().admits_conditions(&[Condition::Up]));
    }
}
