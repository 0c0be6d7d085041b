//! What a ping says happened, and why a run failed: closed sets, so input
//! can never create new series. State, store, exposition and pages all use
//! these names.

crate::string_enum! {
    /// What a ping says happened. The order is the per-kind counter order
    /// in [`crate::model::CheckState::pings`] and in the store's columns.
    #[derive(PartialOrd, Ord)]
    pub enum Kind {
        Success = "success",
        Fail = "fail",
        Start = "start",
        Log = "log",
    }
}

crate::string_enum! {
    /// Why a run failed. The order is the per-reason counter order in
    /// [`crate::model::CheckState::failures`] and in the store's columns.
    pub enum FailReason {
        Auth = "auth",
        RateLimit = "rate_limit",
        Timeout = "timeout",
        Upstream = "upstream",
        Validation = "validation",
        Other = "other",
        /// Reported through `/ping/{check}/{1-255}`.
        ExitCode = "exit_code",
    }
}

impl FailReason {
    /// The reasons a client may name with `?reason=`.
    pub const REPORTABLE: &'static str = "auth, rate_limit, timeout, upstream, validation, other";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reportable_reasons_are_every_reason_but_exit_code() {
        let reportable: Vec<&str> = FailReason::ALL
            .iter()
            .filter(|r| **r != FailReason::ExitCode)
            .map(|r| r.as_str())
            .collect();
        assert_eq!(reportable.join(", "), FailReason::REPORTABLE);
    }
}
