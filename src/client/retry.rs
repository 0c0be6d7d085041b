//! When a ping is tried again, and for how long: pure, so the schedule is
//! unit-tested without a network. A ping must never hold a job up for
//! long, so every ping has a total budget that bounds all its tries and
//! the waits between them.

use std::time::Duration;

/// How often and for how long one ping is tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Tries at most, the first included.
    pub tries: u32,
    /// All tries and waits of one ping together end within this.
    pub budget: Duration,
    /// The wait after the first failed try; each later wait is three
    /// times the one before (1 s, 3 s), so a deadman restarting or still
    /// loading its state has time to come back.
    pub first_wait: Duration,
    /// One try (connect, TLS, request, answer) gives up after this.
    pub per_try: Duration,
}

impl Default for Policy {
    /// 3 tries within 30 s, 10 s per try.
    fn default() -> Policy {
        Policy {
            tries: 3,
            budget: Duration::from_secs(30),
            first_wait: Duration::from_secs(1),
            per_try: Duration::from_secs(10),
        }
    }
}

/// What an HTTP status means for the ping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Recorded (or a duplicate rid, which deadman also answers 200).
    Acknowledged,
    /// Worth another try: 408, 429 and 5xx say "later", not "never".
    Retry,
    /// Refused for good: the same request would be refused again (a
    /// wrong token, an unknown check, a malformed parameter).
    Refused,
}

pub fn classify(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Acknowledged,
        408 | 429 | 500..=599 => Verdict::Retry,
        _ => Verdict::Refused,
    }
}

impl Policy {
    /// How long to wait before the next try, after `tries_done` failed
    /// tries that took `elapsed` in all; `None` when no try is left or
    /// the wait (the server's `Retry-After` if it sent one) would end past
    /// the budget.
    pub fn wait_before_next(
        &self,
        tries_done: u32,
        elapsed: Duration,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if tries_done >= self.tries {
            return None;
        }
        let backoff = self
            .first_wait
            .saturating_mul(3u32.saturating_pow(tries_done.saturating_sub(1)));
        let wait = retry_after.unwrap_or(backoff);
        // The next try must have some time of its own left, too.
        let needed = elapsed.saturating_add(wait);
        (needed < self.budget).then_some(wait)
    }

    /// The timeout of a try that starts `elapsed` into the budget: the
    /// per-try timeout, or what is left of the budget if that is less.
    pub fn try_timeout(&self, elapsed: Duration) -> Duration {
        self.per_try.min(self.budget.saturating_sub(elapsed))
    }
}

/// A `Retry-After` header in seconds (the HTTP-date form is not used by
/// deadman and is treated as absent).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn statuses() {
        assert_eq!(classify(200), Verdict::Acknowledged);
        for status in [408, 429, 500, 502, 503, 504] {
            assert_eq!(classify(status), Verdict::Retry, "{status}");
        }
        for status in [400, 401, 403, 404, 405, 413] {
            assert_eq!(classify(status), Verdict::Refused, "{status}");
        }
    }

    #[test]
    fn backoff_is_1s_then_3s_then_stops() {
        let policy = Policy::default();
        assert_eq!(policy.wait_before_next(1, S(0), None), Some(S(1)));
        assert_eq!(policy.wait_before_next(2, S(1), None), Some(S(3)));
        assert_eq!(policy.wait_before_next(3, S(4), None), None);
    }

    #[test]
    fn retry_after_is_honoured_within_the_budget() {
        let policy = Policy::default();
        assert_eq!(policy.wait_before_next(1, S(0), Some(S(5))), Some(S(5)));
        assert_eq!(policy.wait_before_next(1, S(0), Some(S(0))), Some(S(0)));
        // A wait that would end past the budget is not started.
        assert_eq!(policy.wait_before_next(1, S(0), Some(S(60))), None);
        assert_eq!(policy.wait_before_next(1, S(28), Some(S(2))), None);
    }

    #[test]
    fn slow_tries_use_up_the_budget() {
        let policy = Policy::default();
        // Two 10 s timeouts and the 1 s wait: 21 s, then a 3 s wait.
        assert_eq!(policy.wait_before_next(2, S(21), None), Some(S(3)));
        assert_eq!(policy.try_timeout(S(24)), S(6));
        assert_eq!(policy.try_timeout(S(0)), S(10));
        assert_eq!(policy.try_timeout(S(40)), S(0));
    }

    #[test]
    fn retry_after_header() {
        assert_eq!(parse_retry_after(" 7 "), Some(S(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
