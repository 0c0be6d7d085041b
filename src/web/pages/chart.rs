//! The last runs as small inline SVG bar charts: duration and records per
//! finished run, failures in red. Built from the stored history, where a
//! finish and the start with the same rid give a run its duration.

use std::collections::HashMap;

use maud::{html, Markup};

use crate::model::kind::Kind;
use crate::store::HistoryRow;

/// Runs shown at most.
const MAX_RUNS: usize = 30;
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 120.0;
/// Room for the axis labels.
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 16.0;

/// One finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPoint {
    /// Unix seconds of the finish.
    pub at: f64,
    /// Seconds from the start with the same rid, if the history holds it.
    pub duration: Option<f64>,
    pub records: Option<u64>,
    pub failed: bool,
}

/// Finished runs, oldest first, from history rows in any order.
pub fn runs(history: &[HistoryRow]) -> Vec<RunPoint> {
    let starts: HashMap<&str, f64> = history
        .iter()
        .filter(|row| row.kind == Kind::Start)
        .filter_map(|row| Some((row.rid.as_deref()?, row.at)))
        .collect();
    let mut points: Vec<RunPoint> = history
        .iter()
        .filter(|row| matches!(row.kind, Kind::Success | Kind::Fail))
        .map(|row| RunPoint {
            at: row.at,
            duration: row
                .rid
                .as_deref()
                .and_then(|rid| starts.get(rid))
                .map(|started| (row.at - started).max(0.0)),
            records: row.records,
            failed: row.kind == Kind::Fail,
        })
        .collect();
    points.sort_by(|a, b| a.at.partial_cmp(&b.at).unwrap_or(std::cmp::Ordering::Equal));
    let skip = points.len().saturating_sub(MAX_RUNS);
    points.split_off(skip)
}

/// A bar chart of `value` per run; runs without a value leave a gap.
pub fn bars(
    title: &str,
    unit: &str,
    points: &[RunPoint],
    value: impl Fn(&RunPoint) -> Option<f64>,
) -> Markup {
    let top = points.iter().filter_map(&value).fold(0.0_f64, f64::max);
    let slot = (WIDTH - LEFT) / MAX_RUNS as f64;
    let plot = HEIGHT - BOTTOM;
    let id = format!("chart-{}", title.to_lowercase().replace(' ', "-"));
    html! {
        svg.chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-labelledby=(id) {
            title id=(id) { (title) " of the last " (points.len()) " runs; failures in red" }
            line x1=(LEFT) y1=(plot) x2=(WIDTH) y2=(plot) stroke="#d0d7de" {}
            text x="0" y="10" { (axis(top, unit)) }
            text x="0" y=(plot) { "0" }
            @for (i, point) in points.iter().enumerate() {
                @if point.failed && value(point).is_none() {
                    // A failure without the value still shows, at the baseline.
                    rect class="bar fail" x=(format!("{:.1}", LEFT + i as f64 * slot + 1.0)) y=(format!("{:.1}", plot - 3.0))
                        width=(format!("{:.1}", (slot - 2.0).max(1.0))) height="3" {
                        title { (crate::text::format_timestamp(point.at)) ": failed" }
                    }
                }
                @if let Some(v) = value(point) {
                    @let height = if top > 0.0 { (v / top * (plot - 4.0)).max(1.0) } else { 1.0 };
                    rect class=(if point.failed { "bar fail" } else { "bar" })
                        x=(format!("{:.1}", LEFT + i as f64 * slot + 1.0)) y=(format!("{:.1}", plot - height))
                        width=(format!("{:.1}", (slot - 2.0).max(1.0))) height=(format!("{height:.1}")) {
                        title { (crate::text::format_timestamp(point.at)) ": " (axis(v, unit)) @if point.failed { " (failed)" } }
                    }
                }
            }
        }
    }
}

/// "42 s", "3.5 min", "1,200 records".
fn axis(value: f64, unit: &str) -> String {
    match unit {
        "s" if value >= 120.0 => format!("{:.1} min", value / 60.0),
        "s" => format!("{value:.0} s"),
        _ => format!("{value:.0} {unit}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(at: f64, kind: Kind, rid: &str, records: Option<u64>) -> HistoryRow {
        HistoryRow {
            check: "a".into(),
            at,
            kind,
            rid: Some(rid.into()),
            records,
            reason: None,
            exit_status: None,
            message: None,
            remote_addr: "127.0.0.1".into(),
            user_agent: None,
        }
    }

    #[test]
    fn runs_pair_finishes_with_their_starts() {
        let history = vec![
            row(300.0, Kind::Fail, "r2", None),
            row(250.0, Kind::Start, "r2", None),
            row(200.0, Kind::Log, "r1", None),
            row(160.0, Kind::Success, "r1", Some(40)),
            row(100.0, Kind::Start, "r1", None),
            row(50.0, Kind::Success, "r0", Some(7)),
        ];
        let points = runs(&history);
        assert_eq!(points.len(), 3);
        assert_eq!((points[0].duration, points[0].records), (None, Some(7)));
        assert_eq!((points[1].duration, points[1].failed), (Some(60.0), false));
        assert_eq!((points[2].duration, points[2].failed), (Some(50.0), true));
    }

    #[test]
    fn the_chart_is_svg_with_a_bar_per_value_and_failures_marked() {
        let points = runs(&[
            row(160.0, Kind::Success, "r1", Some(40)),
            row(300.0, Kind::Fail, "r2", Some(0)),
            row(400.0, Kind::Fail, "r3", None),
        ]);
        let svg = bars("Records", "records", &points, |p| {
            p.records.map(|r| r as f64)
        })
        .into_string();
        assert!(svg.starts_with("<svg class=\"chart\""), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 3);
        assert_eq!(svg.matches("bar fail").count(), 2);
        assert!(svg.contains("40 records"));
    }
}
