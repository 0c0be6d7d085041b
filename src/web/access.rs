//! Who may use which endpoint: basic auth (`basic_auth_users` in the web
//! config) on everything except pings, which keep their per-check tokens
//! (a Zapier step or a cron job must not hold an admin password), except
//! the health endpoints when `--web.health-without-auth` says so, and
//! except keyed badge URLs while `[badges]` makes them public.

use std::net::IpAddr;
use std::time::Duration;

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::StatusCode;

use super::rate_limit::{retry_after_seconds, RateLimits, REFUSAL_DELAY};
use super::response::{text, HttpResponse};
use crate::web_config::basic_auth::{BasicAuth, Check};

/// Which paths basic auth covers.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    /// `/-/healthy` and `/-/ready` are open, for probes that cannot send
    /// credentials.
    pub health_without_auth: bool,
}

impl Scope {
    /// Whether `path` needs credentials when basic auth is configured.
    /// `public_badges`: the config in force has `[badges]`, so well-formed
    /// keyed badge paths are open (their key is their credential).
    pub fn covers(self, path: &str, public_badges: bool) -> bool {
        if path.starts_with("/ping/") {
            return false;
        }
        if public_badges && super::badge::is_public_path(path) {
            return false;
        }
        !(self.health_without_auth && matches!(path, "/-/healthy" | "/-/ready"))
    }
}

/// Lets the request through, or answers 401 (or 429 once this address has
/// used up its failure budget, which wrong ping tokens share).
pub async fn admit(
    auth: &BasicAuth,
    headers: &HeaderMap,
    remote: IpAddr,
    limits: &RateLimits,
    now: Duration,
) -> Result<(), HttpResponse> {
    let credentials = headers.get(header::AUTHORIZATION);
    if auth.cached(credentials) {
        return Ok(());
    }
    if let Err(wait) = limits.may_try_token(remote, now) {
        tokio::time::sleep(REFUSAL_DELAY).await;
        let mut response = text(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed logins from this address; wait and retry.",
        );
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(retry_after_seconds(wait)),
        );
        return Err(response);
    }
    let message = match auth.verify(credentials).await {
        Check::Allowed => return Ok(()),
        Check::Missing => {
            "Unauthorized: this endpoint needs basic auth (the web config's basic_auth_users)."
        }
        Check::Wrong => {
            limits.token_failed(remote, now);
            tracing::info!(%remote, "basic auth failed: wrong user or password");
            "Unauthorized: wrong user or password."
        }
    };
    let mut response = text(StatusCode::UNAUTHORIZED, message);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"deadman\", charset=\"UTF-8\""),
    );
    Err(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_are_never_covered_and_health_only_when_asked() {
        let strict = Scope {
            health_without_auth: false,
        };
        let probes = Scope {
            health_without_auth: true,
        };
        for path in ["/", "/metrics", "/-/reload", "/api/v1/checks/a/history"] {
            assert!(
                strict.covers(path, false) && probes.covers(path, true),
                "{path}"
            );
        }
        assert!(
            !strict.covers("/ping/orders", false) && !probes.covers("/ping/orders/start", false)
        );
        assert!(strict.covers("/-/healthy", false) && strict.covers("/-/ready", true));
        assert!(!probes.covers("/-/healthy", false) && !probes.covers("/-/ready", false));
    }

    #[test]
    fn only_well_formed_keyed_badge_paths_are_open_and_only_when_public() {
        let scope = Scope {
            health_without_auth: false,
        };
        let keyed = "/badge/0123456789abcdef/orders.svg";
        assert!(!scope.covers(keyed, true));
        assert!(!scope.covers("/badge/0123456789abcdef/team/ops%20eu.json", true));
        assert!(scope.covers(keyed, false), "without [badges]");
        for path in [
            "/badge/orders.svg",
            "/badge/team/ops.svg",
            "/badge/0123456789abcdef/orders.png",
            "/badge/0123456789ABCDEF/orders.svg",
            "/badge/0123456789abcde/orders.svg",
            "/badge/0123456789abcdef/Orders.svg",
            "/badge/0123456789abcdef/a/b.svg",
            "/badge/0123456789abcdef/../metrics",
            "/api/v1/badges",
        ] {
            assert!(scope.covers(path, true), "{path}");
        }
    }
}
