//! `/`: every check, most urgent first, with a summary bar and filters
//! (team, state, label, search) kept in the URL so a view can be
//! bookmarked.

use std::collections::BTreeSet;

use maud::{html, Markup};

use super::{condition_label, condition_text, humanize, time};
use crate::check_report::{CheckReport, Condition, VolumeReport};
use crate::config::{Check, Config};
use crate::docs::plain_schedule;
use crate::state::StateSnapshot;

/// What the list is narrowed to, from the query string.
#[derive(Debug, Default, PartialEq)]
pub struct Filter {
    pub team: Option<String>,
    /// Any of these conditions (empty: all).
    pub states: Vec<Condition>,
    /// Every one of these labels, exactly.
    pub labels: Vec<(String, String)>,
    /// Case-insensitive text in the name, description, owner, source or
    /// destination.
    pub search: Option<String>,
}

const PARAMETERS: &str = "team, state, label (key=value, or label.key=value), q";

impl Filter {
    /// Reads `?team=&state=&label=k=v&label.k=v&q=`; anything else is
    /// refused with a sentence, never ignored.
    pub fn parse(query: Option<&str>) -> Result<Filter, String> {
        let mut filter = Filter::default();
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let value = value.trim().to_string();
            match key.as_ref() {
                // Empty values are what a form sends for "any".
                _ if value.is_empty() => {}
                "team" if filter.team.is_some() => return Err("team is given twice".into()),
                "team" => filter.team = Some(value),
                "state" => filter.states.push(Condition::parse(&value).ok_or_else(|| {
                    let all: Vec<&str> = Condition::ALL.iter().map(|c| c.as_str()).collect();
                    format!("state {value:?} is not one of {}", all.join(", "))
                })?),
                "label" => match value.split_once('=') {
                    Some((k, v)) => filter.labels.push((k.trim().into(), v.trim().into())),
                    None => return Err(format!("label {value:?} is not key=value")),
                },
                "q" if filter.search.is_some() => return Err("q is given twice".into()),
                "q" => filter.search = Some(value.to_lowercase()),
                other => match other.strip_prefix("label.") {
                    Some(k) if !k.is_empty() => filter.labels.push((k.into(), value)),
                    _ => {
                        let shown: String = other.chars().take(64).collect();
                        return Err(format!(
                            "unknown parameter {shown:?}; the parameters are {PARAMETERS}"
                        ));
                    }
                },
            }
        }
        Ok(filter)
    }

    fn matches_check(&self, check: &Check) -> bool {
        self.team.as_ref().is_none_or(|team| check.team == *team)
            && self
                .labels
                .iter()
                .all(|(k, v)| check.labels.get(k).is_some_and(|have| have == v))
            && self.search.as_ref().is_none_or(|needle| {
                [
                    &check.name,
                    &check.description,
                    &check.owner,
                    &check.source,
                    &check.destination,
                ]
                .iter()
                .any(|field| field.to_lowercase().contains(needle))
            })
    }

    fn matches_state(&self, report: &CheckReport) -> bool {
        self.states.is_empty() || report.conditions.iter().any(|c| self.states.contains(c))
    }
}

/// One row: the check and what it means now.
struct Row<'a> {
    check: &'a Check,
    report: CheckReport,
}

/// The list's content (inside the page frame).
pub fn render(
    config: &Config,
    state: Option<&StateSnapshot>,
    now: f64,
    filter: &Filter,
    base: &str,
) -> Markup {
    let mut rows: Vec<Row<'_>> = config
        .checks
        .iter()
        .filter(|check| filter.matches_check(check))
        .filter_map(|check| {
            let view = state?.get(&check.name)?;
            Some(Row {
                check,
                report: CheckReport::new(check, view, now),
            })
        })
        .collect();
    // Counted before the state filter, so the bar shows what there is to pick.
    let mut counts = [0usize; Condition::COUNT];
    for row in &rows {
        for condition in &row.report.conditions {
            counts[condition.index()] += 1;
        }
    }
    rows.retain(|row| filter.matches_state(&row.report));
    rows.sort_by(|a, b| {
        (a.report.primary().index(), &a.check.name)
            .cmp(&(b.report.primary().index(), &b.check.name))
    });
    let teams: BTreeSet<&str> = config
        .checks
        .iter()
        .map(|c| c.team.as_str())
        .filter(|t| !t.is_empty())
        .collect();
    html! {
        h1 { "Checks" }
        (summary(&counts, filter, base))
        (filters(filter, &teams))
        @if rows.is_empty() {
            p { "No check matches this filter." }
        } @else {
            div.table-wrap {
                table.checks {
                    caption.muted.small { (rows.len()) " of " (config.checks.len()) " checks, most urgent first" }
                    thead { tr {
                        th scope="col" { "State" } th scope="col" { "Check" } th scope="col" { "Last success" }
                        th scope="col" { "Deadline" } th scope="col" { "Schedule" } th scope="col" { "Owner" }
                        th scope="col" { "Last failure" } th scope="col" { "Volume" } th scope="col" { "Expiry" }
                    } }
                    tbody {
                        @for row in &rows { (render_row(row, now, base)) }
                    }
                }
            }
        }
    }
}

fn summary(counts: &[usize; Condition::COUNT], filter: &Filter, base: &str) -> Markup {
    html! {
        ul.summary aria-label="Checks by state" {
            @for condition in Condition::ALL {
                @let count = counts[condition.index()];
                @if count > 0 || !(condition.is_problem() || condition == Condition::Paused) {
                    li { a href={ (base) "/?state=" (condition.as_str()) }
                        aria-current=[filter.states.contains(&condition).then_some("true")] {
                        (condition_label(condition)) span.count { (count) }
                    } }
                }
            }
        }
    }
}

fn filters(filter: &Filter, teams: &BTreeSet<&str>) -> Markup {
    let label_text: Vec<String> = filter
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    html! {
        form.filters method="get" action="" role="search" {
            label { "Search" input type="search" name="q" value=[filter.search.as_deref()] placeholder="name, owner, system…"; }
            label { "Team"
                select name="team" {
                    option value="" { "any" }
                    @for team in teams {
                        option value=(team) selected[filter.team.as_deref() == Some(*team)] { (team) }
                    }
                }
            }
            label { "State"
                select name="state" {
                    option value="" { "any" }
                    @for condition in Condition::ALL {
                        option value=(condition.as_str()) selected[filter.states.first() == Some(&condition)] { (condition_text(condition)) }
                    }
                }
            }
            label { "Label" input type="text" name="label" value=[label_text.first()] placeholder="key=value"; }
            button type="submit" { "Filter" }
            a.button href="?" { "Clear" }
        }
    }
}

fn render_row(row: &Row<'_>, now: f64, base: &str) -> Markup {
    let (check, report) = (row.check, &row.report);
    let primary = report.primary();
    let class = match primary.is_problem() {
        true => format!("problem {}", primary.as_str()),
        false => primary.as_str().to_string(),
    };
    html! {
        tr class=(class) data-check=(check.name) {
            td.state-cell {
                (condition_label(primary))
                @if let Some(until) = check.pause.as_ref().and_then(|p| p.until).filter(|_| report.paused) {
                    br; span.small.muted { "until " (time(until, now)) }
                }
                @for other in report.conditions.iter().skip(1) {
                    br; span.small.muted { "also " (condition_text(*other)) }
                }
            }
            td.name {
                a href={ (base) "/checks/" (check.name) } { (check.name) }
                @if !check.description.is_empty() { br; span.small.muted { (check.description) } }
            }
            td data-label="Last success" { (time(report.last_success, now)) }
            td data-label="Deadline" { (deadline(report.deadline, now)) }
            td data-label="Schedule" { (plain_schedule(check)) }
            td data-label="Owner" {
                (check.owner)
                @if !check.team.is_empty() { br; span.small.muted { "team " (check.team) } }
            }
            td data-label="Last failure" {
                @if report.last_failure > 0.0 {
                    (report.last_failure_reason.map(|r| r.as_str()).unwrap_or("failed"))
                    @if let Some(status) = report.last_failure_exit_status { ", exit status " (status) }
                    " · " (time(report.last_failure, now))
                    @if check.failure_threshold > 1 && report.consecutive_failures > 0 {
                        br; span.small.muted { (report.consecutive_failures) " in a row; pages at " (check.failure_threshold) }
                    }
                } @else { span.muted { "none" } }
            }
            td data-label="Volume" {
                @match &report.volume { Some(volume) => (volume_meter(volume, now)), None => span.muted { "—" } }
            }
            td data-label="Expiry" {
                @match report.nearest_expiry() {
                    Some(expiry) => {
                        (expiry.name) " "
                        @match expiry.at { Some(at) => (time(at, now)), None => span.muted { "unknown" } }
                    }
                    None => span.muted { "—" },
                }
            }
        }
    }
}

/// "due in 9 h" or "late by 3 h", with the exact time on hover.
pub fn deadline(at: f64, now: f64) -> Markup {
    let exact = crate::text::format_timestamp(at);
    let words = if now > at {
        format!("late by {}", humanize::span(now - at))
    } else {
        format!("due in {}", humanize::span(at - now))
    };
    html! { time datetime=(exact) title=(exact) { (words) } }
}

/// Records in the window against min/max, as a meter and in words.
pub fn volume_meter(volume: &VolumeReport, now: f64) -> Markup {
    let top = volume
        .max_records
        .unwrap_or(volume.min_records.max(1) * 2)
        .max(volume.records);
    let bounds = match volume.max_records {
        Some(max) => format!("{}–{max}", volume.min_records),
        None => format!("≥ {}", volume.min_records),
    };
    html! {
        meter min="0" max=(top) low=(volume.min_records) high=[volume.max_records] optimum=(volume.min_records) value=(volume.records)
            title={ (volume.records) " records (expected " (bounds) ")" } {}
        " " (volume.records) span.small.muted { " / " (bounds) }
        @if volume.due > now { br; span.small.muted { "due " (humanize::relative(volume.due, now)) } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_refuse_what_they_do_not_know() {
        let f = Filter::parse(Some(
            "team=finance&state=late&state=failing&label=env%3Dprod&label.tier=1&q=Shop",
        ))
        .expect("valid");
        assert_eq!(f.team.as_deref(), Some("finance"));
        assert_eq!(f.states, [Condition::Late, Condition::Failing]);
        assert_eq!(
            f.labels,
            [
                ("env".to_string(), "prod".to_string()),
                ("tier".to_string(), "1".to_string())
            ]
        );
        assert_eq!(f.search.as_deref(), Some("shop"));
        assert_eq!(
            Filter::parse(Some("team=&state=&q=")).expect("empty is any"),
            Filter::default()
        );
        assert_eq!(
            Filter::parse(Some("state=sideways")).expect_err("bad state"),
            "state \"sideways\" is not one of failing, late, running_too_long, ran_too_short, value_out_of_range, failure_rate_high, expired, volume_low, volume_high, expiring, paused, running, new, up"
        );
        assert_eq!(
            Filter::parse(Some("colour=red")).expect_err("unknown"),
            "unknown parameter \"colour\"; the parameters are team, state, label (key=value, or label.key=value), q"
        );
        assert_eq!(
            Filter::parse(Some("label=env")).expect_err("no ="),
            "label \"env\" is not key=value"
        );
        assert_eq!(
            Filter::parse(Some("team=a&team=b")).expect_err("twice"),
            "team is given twice"
        );
    }
}
