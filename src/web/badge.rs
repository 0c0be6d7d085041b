//! Badges (#11): a check's or a team's state as an SVG in the shields.io
//! look, or as shields.io's endpoint JSON for users who restyle it there.
//!
//! * Without `[badges]`: `/badge/<check>.svg`, `/badge/team/<team>.svg`
//!   (and `.json`), behind basic auth like every page.
//! * With `[badges]`: `/badge/<key>/<check>.svg`, `/badge/<key>/team/<team>.svg`
//!   (and `.json`), served without basic auth. The key
//!   ([`crate::badge_key`]) is made from the configured secret, so a URL
//!   can only be one the operator published, and it answers with nothing
//!   but the state of what it names.
//!
//! A wrong key, an unknown check and an unknown team all get the router's
//! own 404, and the key is verified before any name is looked up, so no
//! answer (nor its timing) tells which names exist.
//! `GET /api/v1/badges` (behind basic auth) lists every badge's URLs.

use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::StatusCode;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

use super::badge_svg::{self, Colour};
use super::response::{json, not_ready, respond, text, HttpResponse};
use crate::badge_key::{hex, is_key, BadgeKeys, Subject};
use crate::check_report::{CheckReport, Condition};
use crate::clock::Clock;
use crate::config::{valid_check_name, Check, Config};
use crate::live_config::LiveConfig;
use crate::state::{StateHandle, StateSnapshot};
use crate::store::writer::WriterHandle;

/// What a team name keeps of itself in a URL path segment: RFC 3986's
/// unreserved characters; everything else is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Badges are fetched through caches (GitHub's camo proxy among them),
/// which honour this and revalidate, so a README shows the state now.
const CACHE_CONTROL: &str = "no-cache, max-age=0";

/// Which of the two renderings a URL asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Svg,
    /// shields.io's endpoint format: `{"schemaVersion":1,"label":…}`.
    Json,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Svg => "svg",
            Format::Json => "json",
        }
    }
}

/// A well-formed badge path.
#[derive(Debug, PartialEq, Eq)]
pub struct BadgePath {
    /// Present exactly when the path was parsed as keyed.
    pub key: Option<String>,
    pub subject: Subject,
    pub format: Format,
}

impl BadgePath {
    /// Parses `rest`, the path after `/badge/`: `[<key>/]<check>.<ext>` or
    /// `[<key>/]team/<team>.<ext>`, with the key when `keyed`. The two
    /// shapes never overlap (a key is 16 hex digits, never "team", and a
    /// keyless path has one segment fewer), so a path read under one
    /// config is never taken for the other kind under the next.
    pub fn parse(rest: &str, keyed: bool) -> Option<BadgePath> {
        let (key, rest) = match keyed {
            true => {
                let (key, rest) = rest.split_once('/')?;
                if !is_key(key) {
                    return None;
                }
                (Some(key.to_string()), rest)
            }
            false => (None, rest),
        };
        let (stem, extension) = rest.rsplit_once('.')?;
        let format = match extension {
            "svg" => Format::Svg,
            "json" => Format::Json,
            _ => return None,
        };
        let subject = match stem.split_once('/') {
            None if valid_check_name(stem) => Subject::Check(stem.to_string()),
            Some(("team", team)) if !team.is_empty() && !team.contains('/') => {
                let team = percent_decode_str(team).decode_utf8().ok()?;
                Subject::Team(team.into_owned())
            }
            _ => return None,
        };
        Some(BadgePath {
            key,
            subject,
            format,
        })
    }
}

/// Whether `path` is a well-formed keyed badge path: what basic auth lets
/// through when `[badges]` is configured. Only the shape is checked here;
/// the handler verifies the key.
pub fn is_public_path(path: &str) -> bool {
    path.strip_prefix("/badge/")
        .and_then(|rest| BadgePath::parse(rest, true))
        .is_some()
}

/// The handles a badge is drawn from.
pub struct BadgeDeps<'a> {
    pub config: &'a LiveConfig,
    pub state: &'a StateHandle,
    pub writer: &'a WriterHandle,
    pub clock: &'a dyn Clock,
}

/// `GET /badge/...`; `rest` is the path after `/badge/`.
pub fn handle(deps: BadgeDeps<'_>, rest: &str, headers: &HeaderMap) -> HttpResponse {
    let config = deps.config.current();
    let Some(path) = BadgePath::parse(rest, config.badges.is_some()) else {
        return not_found();
    };
    // Before any lookup, so that a wrong key costs the same whether the
    // name exists or not.
    if let Some(keys) = &config.badges {
        let key = path.key.as_deref().unwrap_or_default();
        if !keys.verify(&path.subject, key) {
            return not_found();
        }
    }
    if !deps.writer.is_ready() {
        return not_ready();
    }
    let snapshot = deps.state.snapshot();
    let now = deps.clock.now().wall;
    let badge = match &path.subject {
        Subject::Check(name) => {
            (config.check(name)).map(|check| check_badge(check, &snapshot, now))
        }
        Subject::Team(team) => team_badge(&config, &snapshot, team, now),
    };
    let Some(badge) = badge else {
        return not_found();
    };
    match path.format {
        Format::Svg => {
            let svg = badge_svg::render(&badge.label, &badge.message, badge.colour);
            revalidated(svg, "image/svg+xml", headers)
        }
        Format::Json => {
            let endpoint = serde_json::json!({
                "schemaVersion": 1,
                "label": badge.label,
                "message": badge.message,
                "color": badge.colour.name(),
            });
            revalidated(endpoint.to_string() + "\n", "application/json", headers)
        }
    }
}

/// The router's 404, word for word: a badge URL that names nothing (or
/// has the wrong key) looks like any other unknown path.
fn not_found() -> HttpResponse {
    text(StatusCode::NOT_FOUND, "Not found.")
}

/// What a badge shows: nothing but a name and a state.
#[derive(Debug, PartialEq, Eq)]
struct Badge {
    label: String,
    message: String,
    colour: Colour,
}

/// The badge text and colour of a condition: the pages' word for it, the
/// alerts' urgency for its colour.
fn look(condition: Condition) -> (String, Colour) {
    let colour = match condition {
        Condition::Failing | Condition::Expired => Colour::Red,
        Condition::Late
        | Condition::RunningTooLong
        | Condition::RanTooShort
        | Condition::ValueOutOfRange
        | Condition::FailureRateHigh
        | Condition::VolumeLow
        | Condition::VolumeHigh => Colour::Orange,
        Condition::Expiring => Colour::Yellow,
        Condition::Running => Colour::Blue,
        Condition::Paused | Condition::New => Colour::LightGrey,
        Condition::Up => Colour::BrightGreen,
    };
    (condition.as_str().replace('_', " "), colour)
}

/// The check's most urgent condition, as its page and the API show it. A
/// check whose state the writer has not published yet (added by a reload
/// a moment ago) is new.
fn primary(check: &Check, snapshot: &StateSnapshot, now: f64) -> Condition {
    snapshot.get(&check.name).map_or(Condition::New, |view| {
        CheckReport::new(check, view, now).primary()
    })
}

fn check_badge(check: &Check, snapshot: &StateSnapshot, now: f64) -> Badge {
    let (message, colour) = look(primary(check, snapshot, now));
    Badge {
        label: check.name.clone(),
        message,
        colour,
    }
}

/// A team's badge: its worst check's condition, with how many of its
/// checks are in it when that is a problem ("2 failing"), or `None` for a
/// team no check has.
fn team_badge(config: &Config, snapshot: &StateSnapshot, team: &str, now: f64) -> Option<Badge> {
    // Checks without a team are not a team called "".
    if team.is_empty() {
        return None;
    }
    let conditions: Vec<Condition> = (config.checks.iter())
        .filter(|check| check.team == team)
        .map(|check| primary(check, snapshot, now))
        .collect();
    let worst = conditions.iter().copied().min_by_key(|c| c.index())?;
    let (text, colour) = look(worst);
    let message = match worst.is_problem() {
        true => {
            let count = conditions.iter().filter(|&&c| c == worst).count();
            format!("{count} {text}")
        }
        false => text,
    };
    Some(Badge {
        label: team.to_string(),
        message,
        colour,
    })
}

/// A 200 with an `ETag`, or a 304 when the client already holds this
/// body: camo and browsers revalidate on every view (`no-cache`).
fn revalidated(body: String, content_type: &'static str, request: &HeaderMap) -> HttpResponse {
    let etag = format!("\"{}\"", hex(&Sha256::digest(body.as_bytes())[..8]));
    let held = (request.get(header::IF_NONE_MATCH))
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .map(|tag| tag.trim().trim_start_matches("W/"))
                .any(|tag| tag == etag || tag == "*")
        });
    let mut response = match held {
        true => respond(StatusCode::NOT_MODIFIED, content_type, Bytes::new()),
        false => respond(StatusCode::OK, content_type, Bytes::from(body)),
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    response
}

/// One badge's URLs.
#[derive(Debug, PartialEq, Eq)]
pub struct BadgeLinks {
    pub subject: Subject,
    pub svg: String,
    pub json: String,
}

/// The URLs of every check's badge (in file order), then every team's (in
/// name order), under `base` (`--web.external-url` without its trailing
/// slash, or empty for paths). Empty when the secret was not read.
pub fn links(config: &Config, base: &str) -> Vec<BadgeLinks> {
    let mut teams: Vec<&str> = (config.checks.iter())
        .map(|check| check.team.as_str())
        .filter(|team| !team.is_empty())
        .collect();
    teams.sort_unstable();
    teams.dedup();
    let subjects = (config.checks.iter())
        .map(|check| Subject::Check(check.name.clone()))
        .chain(
            teams
                .into_iter()
                .map(|team| Subject::Team(team.to_string())),
        );
    subjects
        .filter_map(|subject| {
            let prefix = prefix(config.badges.as_ref(), &subject, base)?;
            Some(BadgeLinks {
                svg: format!("{prefix}.{}", Format::Svg.extension()),
                json: format!("{prefix}.{}", Format::Json.extension()),
                subject,
            })
        })
        .collect()
}

/// A badge's URL without its extension; `None` when the secret was not
/// read, so the key is unknown.
fn prefix(keys: Option<&BadgeKeys>, subject: &Subject, base: &str) -> Option<String> {
    let key = match keys {
        Some(keys) => format!("{}/", keys.key(subject)?),
        None => String::new(),
    };
    Some(match subject {
        Subject::Check(name) => format!("{base}/badge/{key}{name}"),
        Subject::Team(team) => {
            format!(
                "{base}/badge/{key}team/{}",
                utf8_percent_encode(team, SEGMENT)
            )
        }
    })
}

/// `deadman badges`: one line a badge, tab-separated: `check` or `team`,
/// its name, the SVG URL and the JSON URL.
pub fn table(config: &Config, base: &str) -> String {
    links(config, base)
        .into_iter()
        .map(|link| {
            let kind = match link.subject {
                Subject::Check(_) => "check",
                Subject::Team(_) => "team",
            };
            format!(
                "{kind}\t{}\t{}\t{}\n",
                link.subject.name(),
                link.svg,
                link.json
            )
        })
        .collect()
}

/// `GET /api/v1/badges`: every badge's URLs, for whoever may read the
/// other pages to copy into a README. Whether the URLs work without basic
/// auth is `public`.
pub fn listing(config: &LiveConfig, base: &str) -> HttpResponse {
    let config = config.current();
    let (mut checks, mut teams) = (Vec::new(), Vec::new());
    for link in links(&config, base) {
        let markdown = format!("![{}]({})", markdown_text(link.subject.name()), link.svg);
        let entry = |kind: &str| {
            serde_json::json!({
                kind: link.subject.name(),
                "svg": link.svg,
                "json": link.json,
                "markdown": markdown,
            })
        };
        match &link.subject {
            Subject::Check(_) => checks.push(entry("check")),
            Subject::Team(_) => teams.push(entry("team")),
        }
    }
    json(&serde_json::json!({
        "public": config.badges.is_some(),
        "checks": checks,
        "teams": teams,
    }))
}

/// Alt text for Markdown: brackets and backslashes escaped, so a team
/// name cannot end the image early.
fn markdown_text(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '[' | ']' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CheckState;

    const KEY: &str = "0123456789abcdef";

    fn parse(rest: &str, keyed: bool) -> Option<(Option<String>, Subject, Format)> {
        BadgePath::parse(rest, keyed).map(|p| (p.key, p.subject, p.format))
    }

    #[test]
    fn paths_name_a_check_or_a_team_with_a_key_only_when_keyed() {
        let check = |name: &str| Subject::Check(name.into());
        let team = |name: &str| Subject::Team(name.into());
        assert_eq!(
            parse("orders.svg", false),
            Some((None, check("orders"), Format::Svg))
        );
        assert_eq!(
            parse("0.a_b-c.json", false),
            Some((None, check("0.a_b-c"), Format::Json))
        );
        // A check may be called "team"; a team is one segment further.
        assert_eq!(
            parse("team.svg", false),
            Some((None, check("team"), Format::Svg))
        );
        assert_eq!(
            parse("team/ops%20eu%2F1.svg", false),
            Some((None, team("ops eu/1"), Format::Svg))
        );
        assert_eq!(
            parse(&format!("{KEY}/orders.svg"), true),
            Some((Some(KEY.into()), check("orders"), Format::Svg))
        );
        assert_eq!(
            parse(&format!("{KEY}/team/finance.json"), true),
            Some((Some(KEY.into()), team("finance"), Format::Json))
        );
        for (rest, keyed) in [
            ("orders.svg", true),
            (&format!("{KEY}/orders.svg") as &str, false),
            ("team/finance.svg", true),
            ("orders.png", false),
            ("orders", false),
            ("Orders.svg", false),
            ("team/.svg", false),
            ("team/a/b.svg", false),
            ("team/%FF.svg", false),
            ("a/b.svg", false),
        ] {
            assert_eq!(parse(rest, keyed), None, "{rest} keyed={keyed}");
        }
    }

    fn config(text: &str) -> Config {
        Config::parse(text, std::path::Path::new(".")).expect("valid")
    }

    const TEAMS: &str = "[[check]]\nname = \"a\"\nowner = \"o\"\nevery = \"1h\"\nteam = \"ops eu\"\n\
                         [[check]]\nname = \"b\"\nowner = \"o\"\nevery = \"1h\"\nteam = \"ops eu\"\n\
                         [[check]]\nname = \"c\"\nowner = \"o\"\nevery = \"1h\"\nteam = \"ops eu\"\n\
                         [[check]]\nname = \"d\"\nowner = \"o\"\nevery = \"1h\"\n";

    #[test]
    fn a_team_shows_its_worst_condition_and_how_many_checks_are_in_it() {
        let config = config(TEAMS);
        let now = 1_800_000_000.0;
        let mut snapshot = StateSnapshot::default();
        for name in ["a", "b", "c", "d"] {
            snapshot.entry(name).state = CheckState::new(now - 60.0);
            snapshot.entry(name).state.last_success = now - 30.0;
        }
        let up = team_badge(&config, &snapshot, "ops eu", now).expect("a team");
        assert_eq!((up.label.as_str(), up.message.as_str()), ("ops eu", "up"));
        assert_eq!(up.colour, Colour::BrightGreen);
        for name in ["a", "b"] {
            snapshot.entry(name).state.last_failure = now - 10.0;
        }
        let failing = team_badge(&config, &snapshot, "ops eu", now).expect("a team");
        assert_eq!(
            (failing.message.as_str(), failing.colour),
            ("2 failing", Colour::Red)
        );
        // Two hours on, "c" is late as well; the worst still wins.
        let later = team_badge(&config, &snapshot, "ops eu", now + 7200.0).expect("a team");
        assert_eq!(later.message, "2 failing");
        assert_eq!(team_badge(&config, &snapshot, "nobody", now), None);
        assert_eq!(
            team_badge(&config, &snapshot, "", now),
            None,
            "\"d\" has no team"
        );
    }

    #[test]
    fn every_condition_has_a_word_and_a_colour() {
        assert_eq!(
            look(Condition::RunningTooLong),
            ("running too long".into(), Colour::Orange)
        );
        assert_eq!(look(Condition::Expiring).1, Colour::Yellow);
        assert_eq!(look(Condition::Running).1, Colour::Blue);
        assert_eq!(look(Condition::New).1, Colour::LightGrey);
        assert_eq!(
            look(Condition::Paused),
            ("paused".into(), Colour::LightGrey)
        );
        assert_eq!(
            look(Condition::ValueOutOfRange),
            ("value out of range".into(), Colour::Orange)
        );
        for condition in Condition::ALL {
            let (text, _) = look(condition);
            assert!(!text.contains('_'), "{text}");
        }
    }

    #[test]
    fn links_carry_keys_only_with_badges_and_encode_teams() {
        let keyless = links(&config(TEAMS), "https://deadman.example");
        let paths: Vec<&str> = keyless.iter().map(|l| l.svg.as_str()).collect();
        assert_eq!(
            paths,
            [
                "https://deadman.example/badge/a.svg",
                "https://deadman.example/badge/b.svg",
                "https://deadman.example/badge/c.svg",
                "https://deadman.example/badge/d.svg",
                "https://deadman.example/badge/team/ops%20eu.svg",
            ]
        );
        let keyed_config = config(&format!("[badges]\nsecret = \"0123456789abcdef\"\n{TEAMS}"));
        let keyed = links(&keyed_config, "");
        let team = keyed.last().expect("the team");
        let keys = keyed_config.badges.as_ref().expect("keys");
        let key = keys.key(&team.subject).expect("read");
        assert_eq!(team.json, format!("/badge/{key}/team/ops%20eu.json"));
        let rest = team.svg.strip_prefix("/badge/").expect("a badge path");
        let path = BadgePath::parse(rest, true).expect("its own links parse");
        assert!(keys.verify(&path.subject, &key));
        assert_eq!(markdown_text("a[b]\\"), "a\\[b\\]\\\\");
    }
}
