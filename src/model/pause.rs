//! A check's pause (`paused`, `paused_until`, `pause_reason`): the check
//! stays configured, exported and documented and its pings are still
//! recorded, but `deadman_check_paused` tells the rules to page no one for
//! it. A pause with an end lifts itself at that instant, without a reload.
//! Pure: "now" comes in as an argument.

/// A configured pause.
#[derive(Clone, Debug, PartialEq)]
pub struct Pause {
    /// When it ends by itself (Unix seconds); `None` lasts until the config
    /// says otherwise.
    pub until: Option<f64>,
    /// Why, for the pages, the API and `deadman docs`; "" when not given.
    pub reason: String,
}

impl Pause {
    /// Whether the pause holds at `now`; it ends exactly at `until`.
    pub fn active(&self, now: f64) -> bool {
        self.until.is_none_or(|until| now < until)
    }
}

/// Whether `pause` (if any) holds at `now`.
pub fn is_paused(pause: Option<&Pause>, now: f64) -> bool {
    pause.is_some_and(|p| p.active(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_with_an_end_lifts_itself_exactly_then() {
        let until = Pause {
            until: Some(1000.0),
            reason: "migration".into(),
        };
        assert!(until.active(999.9));
        assert!(!until.active(1000.0));
        let open_ended = Pause {
            until: None,
            reason: String::new(),
        };
        assert!(open_ended.active(f64::MAX));
        assert!(is_paused(Some(&until), 10.0));
        assert!(!is_paused(None, 10.0));
    }
}
