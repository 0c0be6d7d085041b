//! The failure ratio (`max_failure_ratio` over `failure_ratio_window`): for
//! the flaky integration that fails one run in three but never twice in a
//! row. Finished runs and failures are counted per minute, so a window of
//! any length costs at most one bucket a minute, whatever the ping rate;
//! the window is counted in whole minutes. Pure: times come in as
//! arguments.

use std::time::Duration;

/// Width of one bucket, in seconds.
pub const BUCKET_SECONDS: f64 = 60.0;
/// The shortest window: a few buckets.
pub const MIN_RATIO_WINDOW: Duration = Duration::from_secs(10 * 60);
/// The longest window, as for volume windows.
pub const MAX_RATIO_WINDOW: Duration = super::expectations::MAX_WINDOW;

/// A check's failure-ratio expectation.
#[derive(Clone, Debug, PartialEq)]
pub struct FailureRatio {
    /// More than this share of finished runs failing is an incident
    /// (0 < ratio <= 1).
    pub max_ratio: f64,
    /// Over how long the share is counted.
    pub window: Duration,
}

/// Failures a window needs before its ratio counts as high.
pub const MIN_FAILURES: u64 = 2;

/// Runs and failures in the window at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RatioView {
    /// Finished runs: success and fail pings.
    pub runs: u64,
    pub failures: u64,
}

impl RatioView {
    /// failures / runs; `None` without runs.
    pub fn ratio(&self) -> Option<f64> {
        (self.runs > 0).then(|| self.failures as f64 / self.runs as f64)
    }
}

impl FailureRatio {
    /// The window ending at `now`.
    pub fn view(&self, buckets: &RunBuckets, now: f64) -> RatioView {
        buckets.since(self.horizon(now))
    }

    /// Where the window starts at `now`; older buckets are not needed.
    pub fn horizon(&self, now: f64) -> f64 {
        now - self.window.as_secs_f64()
    }

    /// Whether more than `max_ratio` of the window's runs failed, with at
    /// least [`MIN_FAILURES`] failures: one failed run is a failing check,
    /// not a rate (the rule `DeadmanCheckFailureRateHigh` says the same).
    pub fn exceeded(&self, view: &RatioView) -> bool {
        view.failures >= MIN_FAILURES && view.ratio().is_some_and(|ratio| ratio > self.max_ratio)
    }
}

/// One minute's finished runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunBucket {
    /// Unix minutes (seconds / 60, floored).
    pub minute: i64,
    pub runs: u64,
    pub failures: u64,
}

/// The minute `at` falls in.
pub fn minute_of(at: f64) -> i64 {
    (at / BUCKET_SECONDS).floor() as i64
}

/// A check's buckets, oldest first. A persistent vector, as
/// [`super::expectations::RecordEvents`] is: cloning a published snapshot
/// is O(1).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunBuckets {
    buckets: imbl::Vector<RunBucket>,
}

impl RunBuckets {
    /// The bucket of `minute`, if any runs finished in it. Buckets are
    /// searched from the newest: runs almost always land in the last one.
    pub fn get(&self, minute: i64) -> Option<RunBucket> {
        (self.buckets.iter().rev())
            .take_while(|b| b.minute >= minute)
            .find(|b| b.minute == minute)
            .copied()
    }

    /// Sets a bucket's totals (as a committed batch carries them), keeping
    /// the order.
    pub fn set(&mut self, bucket: RunBucket) {
        let after = (self.buckets.iter().rev())
            .take_while(|b| b.minute >= bucket.minute)
            .count();
        let index = self.buckets.len() - after;
        match self.buckets.get_mut(index) {
            Some(kept) if kept.minute == bucket.minute => *kept = bucket,
            _ => self.buckets.insert(index, bucket),
        }
    }

    /// Runs and failures in the buckets from the minute of `start` on.
    pub fn since(&self, start: f64) -> RatioView {
        let first = minute_of(start);
        (self.buckets.iter().rev())
            .take_while(|b| b.minute >= first)
            .fold(
                RatioView {
                    runs: 0,
                    failures: 0,
                },
                |sum, b| RatioView {
                    runs: sum.runs.saturating_add(b.runs),
                    failures: sum.failures.saturating_add(b.failures),
                },
            )
    }

    /// Drops the buckets of minutes before the one `horizon` falls in.
    pub fn prune(&mut self, horizon: f64) {
        let first = minute_of(horizon);
        while self.buckets.front().is_some_and(|b| b.minute < first) {
            self.buckets.pop_front();
        }
    }

    /// The oldest bucket's minute.
    pub fn oldest(&self) -> Option<i64> {
        self.buckets.front().map(|b| b.minute)
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(minute: i64, runs: u64, failures: u64) -> RunBucket {
        RunBucket {
            minute,
            runs,
            failures,
        }
    }

    #[test]
    fn buckets_stay_ordered_and_count_whole_minutes() {
        let mut b = RunBuckets::default();
        b.set(bucket(10, 1, 0));
        b.set(bucket(12, 2, 1));
        b.set(bucket(11, 1, 1)); // committed late, lands in order
        b.set(bucket(12, 3, 2)); // new totals replace the old
        assert_eq!(b.len(), 3);
        assert_eq!(b.get(12), Some(bucket(12, 3, 2)));
        assert_eq!(b.get(13), None);
        assert_eq!(
            b.since(11.0 * 60.0 + 59.0),
            RatioView {
                runs: 4,
                failures: 3
            }
        );
        assert_eq!(
            b.since(0.0),
            RatioView {
                runs: 5,
                failures: 3
            }
        );
        b.prune(11.5 * 60.0);
        assert_eq!(b.oldest(), Some(11));
        assert_eq!(minute_of(-0.5), -1);
    }

    #[test]
    fn the_ratio_is_exceeded_only_above_the_maximum() {
        let ratio = FailureRatio {
            max_ratio: 0.25,
            window: Duration::from_secs(3600),
        };
        let mut b = RunBuckets::default();
        assert_eq!(ratio.view(&b, 7200.0).ratio(), None);
        assert!(!ratio.exceeded(&ratio.view(&b, 7200.0)));
        b.set(bucket(100, 4, 1));
        let view = ratio.view(&b, 100.0 * 60.0 + 30.0);
        assert_eq!(view.ratio(), Some(0.25));
        assert!(!ratio.exceeded(&view), "exactly the maximum is allowed");
        b.set(bucket(101, 1, 1));
        assert!(ratio.exceeded(&ratio.view(&b, 101.0 * 60.0)));
        // An hour later both buckets are outside the window.
        assert_eq!(ratio.view(&b, 101.0 * 60.0 + 3600.0 + 60.0).runs, 0);
    }

    #[test]
    fn one_failed_run_is_not_a_high_rate() {
        let ratio = FailureRatio {
            max_ratio: 0.5,
            window: Duration::from_secs(3600),
        };
        let mut b = RunBuckets::default();
        b.set(bucket(100, 1, 1));
        let view = ratio.view(&b, 100.0 * 60.0);
        assert_eq!(view.ratio(), Some(1.0));
        assert!(
            !ratio.exceeded(&view),
            "a single failure is DeadmanCheckFailing's"
        );
        b.set(bucket(101, 1, 1));
        assert!(ratio.exceeded(&ratio.view(&b, 101.0 * 60.0)));
    }
}
