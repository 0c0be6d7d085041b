//! [`PingError`]: why a ping request was refused, as the sentence the
//! client reads.

use std::fmt;

/// Why a ping request was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum PingError {
    /// The path after the check name is not a ping action (404).
    UnknownAction(String),
    /// Malformed parameters (400); the text is the one-line reason.
    BadRequest(String),
}

impl fmt::Display for PingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PingError::UnknownAction(action) => write!(
                f,
                "unknown ping action {action:?}; use /start, /fail, /log or an exit status /0 to /255"
            ),
            PingError::BadRequest(why) => f.write_str(why),
        }
    }
}

/// A 400 with this sentence.
pub fn bad(why: impl Into<String>) -> PingError {
    PingError::BadRequest(why.into())
}
