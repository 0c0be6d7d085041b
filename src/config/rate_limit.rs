//! `rate_limit = "50/s"`: how many pings a check accepts, so that a flood
//! on one check (a retry loop, a replayed queue, an attack on a check
//! without a token) cannot grow memory and disk without bound or slow the
//! pings of every other check.

use super::error::{invalid, ConfigError};

/// Pings per check per second when neither the check nor `[defaults]` says.
pub const DEFAULT_RATE_LIMIT: RateLimit = RateLimit {
    per_second: 50.0,
    burst: 50.0,
};

/// A token bucket: `burst` pings at once, refilled at `per_second`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    /// As many pings as one unit of the written rate ("600/m" bursts 600).
    pub burst: f64,
}

impl RateLimit {
    /// The rate in words: "5 pings per second (bursts of 600)".
    pub fn describe(&self) -> String {
        let rate = format!("{} pings per second", self.per_second);
        if self.burst > self.per_second {
            format!("{rate} (bursts of {})", self.burst)
        } else {
            rate
        }
    }
}

/// `"N/s"`, `"N/m"`, `"N/h"`, or `"none"` for no limit.
pub(super) fn parse_rate_limit(
    location: &str,
    text: &str,
) -> Result<Option<RateLimit>, ConfigError> {
    if text == "none" {
        return Ok(None);
    }
    let wrong = || {
        invalid(
            location,
            "rate_limit",
            format!(
                "{text:?} is not a rate; write pings per second, minute or hour as \"50/s\", \
                 \"600/m\" or \"1000/h\", or \"none\" for no limit"
            ),
        )
    };
    let (count, unit) = text.split_once('/').ok_or_else(wrong)?;
    let count: u32 = count.trim().parse().map_err(|_| wrong())?;
    let seconds = match unit.trim() {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(wrong()),
    };
    if count == 0 {
        return Err(invalid(
            location,
            "rate_limit",
            "0 pings would refuse every ping; write \"none\" for no limit",
        ));
    }
    Ok(Some(RateLimit {
        per_second: f64::from(count) / seconds,
        burst: f64::from(count),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        let parse = |t: &str| parse_rate_limit("check \"a\"", t).map_err(|e| e.to_string());
        assert_eq!(
            parse("600/m"),
            Ok(Some(RateLimit {
                per_second: 10.0,
                burst: 600.0
            }))
        );
        assert_eq!(parse("none"), Ok(None));
        assert!(parse("fast").is_err_and(|e| e.contains("is not a rate")));
        assert!(parse("0/s").is_err_and(|e| e.contains("write \"none\"")));
        assert!(parse("5/d").is_err());
    }
}
