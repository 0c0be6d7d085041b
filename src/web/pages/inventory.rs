//! `/inventory`: the HTML of `deadman docs`, with the current state —
//! every integration, who owns it, what it moves and how to recover it.

use std::collections::HashMap;

use crate::config::Config;
use crate::model::check_state::CheckState;
use crate::state::StateSnapshot;

/// The inventory page; without state (still loading) it says so per check.
pub fn render(config: &Config, state: Option<&StateSnapshot>, now: f64) -> String {
    let states: Option<HashMap<String, CheckState>> = state.map(|snapshot| {
        snapshot
            .iter()
            .map(|(name, view)| (name.to_string(), view.state.clone()))
            .collect()
    });
    crate::docs::html(config, states.as_ref(), now)
}
