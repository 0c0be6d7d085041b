//! What the config and the clock change without a ping: checks added,
//! removed, returned or purged, the periodic maintenance batch, and
//! record events and run buckets no window needs any more.

use crate::config::Config;
use crate::model::expectations::RECORD_RETENTION;
use crate::model::failure_ratio::{minute_of, MAX_RATIO_WINDOW};
use crate::model::CheckState;
use crate::store::seam::Batch;

use super::WorkingSet;

impl WorkingSet {
    /// What `config` at `now` changes about the known checks, as a batch:
    /// new checks' first-configured time, returns, removals, and purges
    /// past retention. Changes nothing.
    pub fn reconcile(&self, config: &Config, now: f64) -> Batch {
        let retention = config.storage.retention.as_secs_f64();
        let mut batch = Batch {
            history_limit: config.storage.history,
            ..Batch::default()
        };
        for check in &config.checks {
            match self.checks.get(&check.name) {
                None => batch
                    .states
                    .push((check.name.clone(), CheckState::new(now))),
                Some(view) if view.state.removed_at.is_some() => {
                    let mut state = view.state.clone();
                    state.removed_at = None;
                    batch.states.push((check.name.clone(), state));
                }
                Some(_) => {}
            }
        }
        for (name, view) in self.checks.iter() {
            if config.check(name).is_some() {
                continue;
            }
            match view.state.removed_at {
                None => {
                    let mut state = view.state.clone();
                    state.removed_at = Some(now);
                    batch.states.push((name.to_string(), state));
                }
                Some(removed) if now - removed >= retention => batch.purged.push(name.to_string()),
                Some(_) => {}
            }
        }
        batch
    }

    /// The periodic batch: reconcile (for purges), record and bucket
    /// pruning, and a write that proves the store works.
    pub fn maintenance(&self, config: &Config, now: f64) -> Batch {
        Batch {
            maintenance_at: Some(now),
            // No window needs more; memory prunes per check.
            prune_record_events_before: Some(now - RECORD_RETENTION.as_secs_f64()),
            prune_run_buckets_before: Some(minute_of(now - MAX_RATIO_WINDOW.as_secs_f64())),
            ..self.reconcile(config, now)
        }
    }
    /// Drops record events and run buckets no window needs any more (and
    /// all of them for checks without a volume expectation or a failure
    /// ratio).
    pub fn prune_windows(&mut self, config: &Config, now: f64) {
        self.prune_record_events(config, now);
        self.prune_run_buckets(config, now);
    }

    fn prune_run_buckets(&mut self, config: &Config, now: f64) {
        for name in self.checks.names() {
            let ratio = config.check(&name).and_then(|c| c.failure_ratio.as_ref());
            let Some(view) = self.checks.get(&name) else {
                continue;
            };
            let horizon = ratio.map(|r| minute_of(r.horizon(now)));
            let needs_pruning = match horizon {
                Some(first) => view.run_buckets.oldest().is_some_and(|m| m < first),
                None => !view.run_buckets.is_empty(),
            };
            // Only touched checks are copied out of the published snapshot.
            if !needs_pruning {
                continue;
            }
            if let Some(view) = self.checks.get_mut(&name) {
                match ratio {
                    Some(ratio) => view.run_buckets.prune(ratio.horizon(now)),
                    None => view.run_buckets = Default::default(),
                }
            }
        }
    }

    fn prune_record_events(&mut self, config: &Config, now: f64) {
        for name in self.checks.names() {
            let volume = config.check(&name).and_then(|c| c.volume.as_ref());
            let Some(view) = self.checks.get(&name) else {
                continue;
            };
            let needs_pruning = match volume {
                Some(volume) => view
                    .record_events
                    .oldest()
                    .is_some_and(|at| at < volume.horizon(now)),
                None => !view.record_events.is_empty(),
            };
            // Only touched checks are copied out of the published snapshot.
            if !needs_pruning {
                continue;
            }
            if let Some(view) = self.checks.get_mut(&name) {
                match volume {
                    Some(volume) => view.record_events.prune(volume.horizon(now)),
                    None => view.record_events = Default::default(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;

    #[test]
    fn reconcile_marks_removals_restores_returns_and_purges_after_retention() {
        let both = config(CONFIG);
        let mut set = started(&both, 1000.0);
        let only_orders = config(
            "[storage]\nretention = \"1h\"\n[[check]]\nname = \"orders\"\nowner = \"ops\"\nevery = \"1h\"\n",
        );
        let batch = set.reconcile(&only_orders, 2000.0);
        assert_eq!(batch.states.len(), 1);
        assert_eq!(batch.states[0].0, "plain");
        assert_eq!(batch.states[0].1.removed_at, Some(2000.0));
        let batch = set.checkpoint(batch, &only_orders);
        set.apply_checkpoint(&batch);

        assert!(set.reconcile(&only_orders, 2000.0 + 3599.0).is_empty());
        let batch = set.reconcile(&only_orders, 2000.0 + 3600.0);
        assert_eq!(batch.purged, ["plain"]);

        let batch = set.reconcile(&both, 2500.0);
        assert_eq!(batch.states.len(), 1);
        assert_eq!(batch.states[0].1.removed_at, None, "came back");
        assert_eq!(batch.states[0].1.first_configured, 1000.0, "kept its state");
    }
}
