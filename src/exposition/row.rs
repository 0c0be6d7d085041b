//! One check as its families are written.

use super::labels::CheckLabels;
use crate::config::Check;
use crate::metrics::Rejection;
use crate::model::expectations::WindowView;
use crate::model::failure_ratio::RatioView;
use crate::model::CheckState;
use crate::state::CheckView;

/// One check as its families are written: config, state, label sets and
/// what is computed from them once per scrape.
pub(super) struct Row<'a> {
    pub check: &'a Check,
    pub view: &'a CheckView,
    pub labels: CheckLabels<'a>,
    pub rejected: Option<&'a [u64; Rejection::COUNT]>,
    /// The volume window now, for checks with `[check.volume]`.
    pub volume: Option<WindowView>,
    /// The failure-ratio window now, for checks with `max_failure_ratio`.
    pub ratio: Option<RatioView>,
}

impl Row<'_> {
    pub fn state(&self) -> &CheckState {
        &self.view.state
    }
}
