//! Times for people: "3 min ago", "in 9 h", "2 d 4 h", with the absolute
//! RFC 3339 time kept for the hover title and `<time datetime>`.

/// A duration in the largest two units that matter: "45 s", "3 min",
/// "2 h 5 min", "4 d 3 h".
pub fn span(seconds: f64) -> String {
    let s = seconds.abs().round() as u64;
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// How long a run took: tenths of a second under a minute ("0.2 s",
/// "12.5 s"), where a too-short run is told apart; [`span`] above.
pub fn run_time(seconds: f64) -> String {
    if seconds < 60.0 && seconds.fract() != 0.0 {
        format!("{seconds:.1} s")
    } else {
        span(seconds)
    }
}

/// `at` relative to `now`: "3 min ago" or "in 9 h"; "never" for 0.
pub fn relative(at: f64, now: f64) -> String {
    if at <= 0.0 || !at.is_finite() {
        return "never".into();
    }
    let delta = at - now;
    if delta.abs() < 1.0 {
        return "now".into();
    }
    if delta < 0.0 {
        format!("{} ago", span(delta))
    } else {
        format!("in {}", span(delta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_use_the_two_largest_units() {
        assert_eq!(span(45.0), "45 s");
        assert_eq!(span(180.0), "3 min");
        assert_eq!(span(7200.0), "2 h");
        assert_eq!(span(7500.0), "2 h 5 min");
        assert_eq!(span(4.0 * 86_400.0 + 3.0 * 3600.0 + 59.0), "4 d 3 h");
        assert_eq!(span(86_400.0 * 3.0), "3 d");
    }

    #[test]
    fn run_times_keep_tenths_under_a_minute() {
        assert_eq!(run_time(0.2), "0.2 s");
        assert_eq!(run_time(12.5), "12.5 s");
        assert_eq!(run_time(30.0), "30 s");
        assert_eq!(run_time(90.5), "1 min");
    }

    #[test]
    fn relative_times_point_the_right_way() {
        assert_eq!(relative(1000.0, 1180.0), "3 min ago");
        assert_eq!(relative(1000.0 + 9.0 * 3600.0, 1000.0), "in 9 h");
        assert_eq!(relative(0.0, 1000.0), "never");
        assert_eq!(relative(1000.2, 1000.0), "now");
    }
}
