//! Token buckets for the ping handler: pings per check (a flood on one
//! check is answered 429 instead of growing memory and disk), and failed
//! token attempts per client address (tokens cannot be guessed at 100k/s).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use crate::config::RateLimit;

/// Failed token attempts an address may make at once...
const AUTH_FAILURE_BURST: f64 = 10.0;
/// ...and per second after that.
const AUTH_FAILURES_PER_SECOND: f64 = 1.0;
/// Addresses tracked for failures at most; past this, full buckets (of
/// addresses that have not failed lately) are forgotten first.
const MAX_TRACKED_ADDRESSES: usize = 10_000;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    /// Monotonic time of the last refill.
    at: Duration,
}

/// Buckets by key, each with the same or its own rate.
struct Buckets<K> {
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Eq + Hash + Clone> Buckets<K> {
    fn new() -> Self {
        Buckets {
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from `key`'s bucket, or says how long until one is
    /// there. `take: false` only looks.
    /// Looked up by a borrowed key, so the per-ping path allocates only
    /// for a check's first ping.
    fn take<Q>(&self, key: &Q, limit: RateLimit, now: Duration, take: bool) -> Result<(), Duration>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if !buckets.contains_key(key) {
            buckets.insert(
                key.to_owned(),
                Bucket {
                    tokens: limit.burst,
                    at: now,
                },
            );
        }
        let Some(bucket) = buckets.get_mut(key) else {
            return Ok(());
        };
        let elapsed = now.saturating_sub(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.per_second).min(limit.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            if take {
                bucket.tokens -= 1.0;
            }
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / limit.per_second,
            ))
        }
    }

    /// Forgets buckets that are full again at `now` once there are too many.
    fn trim(&self, limit: RateLimit, now: Duration, max: usize) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > max {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_sub(b.at).as_secs_f64() * limit.per_second < limit.burst
            });
        }
    }
}

/// "ping rejected" log lines at info at most this many a second; a flood
/// of refusals must not become a flood of log lines (the metrics count
/// every one).
const REJECTION_LOG_LINES_PER_SECOND: f64 = 10.0;
const REJECTION_LOG: RateLimit = RateLimit {
    per_second: REJECTION_LOG_LINES_PER_SECOND,
    burst: REJECTION_LOG_LINES_PER_SECOND,
};

/// The ping handler's limits.
pub struct RateLimits {
    /// Pings per configured check (names come from the config only).
    pings: Buckets<String>,
    /// Failed token attempts per client address.
    auth_failures: Buckets<IpAddr>,
    /// Budget for rejection log lines (one bucket, key `()`).
    rejection_log: Buckets<()>,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            pings: Buckets::new(),
            auth_failures: Buckets::new(),
            rejection_log: Buckets::new(),
        }
    }
}

const AUTH_FAILURES: RateLimit = RateLimit {
    per_second: AUTH_FAILURES_PER_SECOND,
    burst: AUTH_FAILURE_BURST,
};

impl RateLimits {
    /// Admits one ping to `check`, or says when to retry.
    pub fn admit_ping(
        &self,
        check: &str,
        limit: Option<RateLimit>,
        now: Duration,
    ) -> Result<(), Duration> {
        match limit {
            None => Ok(()),
            Some(limit) => self.pings.take(check, limit, now, true),
        }
    }

    /// Whether `address` may try a token now (it has failure budget left).
    pub fn may_try_token(&self, address: IpAddr, now: Duration) -> Result<(), Duration> {
        self.auth_failures.take(&address, AUTH_FAILURES, now, false)
    }

    /// Whether a rejection may be logged at info now (else at debug).
    pub fn may_log_rejection(&self, now: Duration) -> bool {
        self.rejection_log
            .take(&(), REJECTION_LOG, now, true)
            .is_ok()
    }

    /// Spends failure budget after a wrong or missing token.
    pub fn token_failed(&self, address: IpAddr, now: Duration) {
        let _ = self.auth_failures.take(&address, AUTH_FAILURES, now, true);
        self.auth_failures
            .trim(AUTH_FAILURES, now, MAX_TRACKED_ADDRESSES);
    }
}

/// How long a 429 is held before it is sent. A client that respects
/// `Retry-After` waits longer than this anyway; a flood is slowed to a few
/// requests a second per connection (and connections per address are
/// capped), so it cannot starve the pings of other checks of CPU.
pub const REFUSAL_DELAY: std::time::Duration = std::time::Duration::from_millis(250);

/// Whole seconds for `Retry-After`, never 0.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let limits = RateLimits::default();
        let limit = Some(RateLimit {
            per_second: 2.0,
            burst: 4.0,
        });
        let t0 = Duration::from_secs(100);
        for _ in 0..4 {
            assert_eq!(limits.admit_ping("a", limit, t0), Ok(()));
        }
        let wait = limits.admit_ping("a", limit, t0).expect_err("empty");
        assert_eq!(retry_after_seconds(wait), 1);
        assert_eq!(limits.admit_ping("b", limit, t0), Ok(()), "per check");
        assert_eq!(
            limits.admit_ping("a", limit, t0 + Duration::from_millis(500)),
            Ok(())
        );
        assert_eq!(limits.admit_ping("a", None, t0), Ok(()), "no limit");
    }

    #[test]
    fn failed_tokens_run_out_per_address() {
        let limits = RateLimits::default();
        let t0 = Duration::from_secs(100);
        let a: IpAddr = "127.0.0.1".parse().expect("ip");
        let b: IpAddr = "127.0.0.2".parse().expect("ip");
        for _ in 0..10 {
            assert!(limits.may_try_token(a, t0).is_ok());
            limits.token_failed(a, t0);
        }
        assert!(limits.may_try_token(a, t0).is_err());
        assert!(limits.may_try_token(b, t0).is_ok());
        assert!(limits.may_try_token(a, t0 + Duration::from_secs(1)).is_ok());
    }
}
