//! The published state: what scrapes, pages and the API read.
//!
//! The writer is its only author. After each commit it publishes a new
//! [`StateSnapshot`], an immutable persistent map that shares every check it
//! did not touch with the previous one, so publishing costs O(checks
//! touched), not O(checks). Readers take an `Arc` of the current snapshot
//! and render from it for as long as they like: no lock is held while a
//! scrape renders, and the writer never waits for a reader. (Before this, a
//! scrape of 50,000 checks held a read lock for 0.6 s and every ping waited
//! behind it.)

use std::sync::{Arc, RwLock};

use imbl::shared_ptr::DefaultSharedPtr;

use crate::model::expectations::RecordEvents;
use crate::model::failure_ratio::RunBuckets;
use crate::model::CheckState;
use crate::name_hash::NameHash;

/// Check name → view.
type CheckMap = imbl::GenericHashMap<Arc<str>, Arc<CheckView>, NameHash, DefaultSharedPtr>;

/// One check as readers see it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckView {
    /// Freshness, runs, counters and reported expiries.
    pub state: CheckState,
    /// Records reported in the check's volume window; empty for checks
    /// without a volume expectation.
    pub record_events: RecordEvents,
    /// Finished runs and failures per minute in the check's failure-ratio
    /// window; empty for checks without `max_failure_ratio`.
    pub run_buckets: RunBuckets,
}

/// Every known check (configured ones, and removed ones still in
/// retention) at one instant. Cloning is O(1).
#[derive(Clone, Debug, Default)]
pub struct StateSnapshot {
    /// Keyed by check name. `Arc` values so that copying a node of the map
    /// (when the writer changes a check next to an unchanged one) copies
    /// pointers, never check state.
    checks: CheckMap,
}

impl StateSnapshot {
    pub fn get(&self, check: &str) -> Option<&CheckView> {
        self.checks.get(check).map(Arc::as_ref)
    }

    pub fn len(&self) -> usize {
        self.checks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &CheckView)> {
        self.checks
            .iter()
            .map(|(name, view)| (name.as_ref(), view.as_ref()))
    }

    /// The writer's edit: a check to change in place (copied first if a
    /// published snapshot still shares it), created when unknown.
    pub(crate) fn entry(&mut self, check: &str) -> &mut CheckView {
        // Reuse the stored key: allocate a name only for a new check.
        let key = match self.checks.get_key_value(check) {
            Some((key, _)) => Arc::clone(key),
            None => Arc::from(check),
        };
        Arc::make_mut(self.checks.entry(key).or_default())
    }

    /// The writer's edit: a check's new state, keeping its windows. Unlike
    /// [`Self::entry`] it never copies the old state first.
    pub(crate) fn set_state(&mut self, check: &str, state: CheckState) {
        let (key, view) = match self.checks.get_key_value(check) {
            Some((key, old)) => (
                Arc::clone(key),
                CheckView {
                    state,
                    record_events: old.record_events.clone(),
                    run_buckets: old.run_buckets.clone(),
                },
            ),
            None => (
                Arc::from(check),
                CheckView {
                    state,
                    ..CheckView::default()
                },
            ),
        };
        self.checks.insert(key, Arc::new(view));
    }

    /// The writer's edit: a known check to change in place, if any.
    pub(crate) fn get_mut(&mut self, check: &str) -> Option<&mut CheckView> {
        self.checks.get_mut(check).map(Arc::make_mut)
    }

    /// The writer's edit: forget a check.
    pub(crate) fn remove(&mut self, check: &str) {
        self.checks.remove(check);
    }

    /// The writer's edit: names of every known check.
    pub(crate) fn names(&self) -> Vec<Arc<str>> {
        self.checks.keys().cloned().collect()
    }
}

/// The readers' handle. Cheap to clone.
#[derive(Clone, Default)]
pub struct StateHandle {
    /// The latest snapshot; the lock guards only the pointer swap.
    current: Arc<RwLock<Arc<StateSnapshot>>>,
}

impl StateHandle {
    /// The current snapshot. The lock is held only to clone an `Arc`.
    pub fn snapshot(&self) -> Arc<StateSnapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The writer's end: the one way to change what readers see.
pub struct StatePublisher {
    /// The same slot the handles read.
    current: Arc<RwLock<Arc<StateSnapshot>>>,
}

impl StatePublisher {
    /// Makes `snapshot` current. Readers holding the previous one keep it
    /// until they drop it.
    pub fn publish(&self, snapshot: StateSnapshot) {
        let snapshot = Arc::new(snapshot);
        let previous = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(|e| e.into_inner()),
            snapshot,
        );
        // Freed outside the lock: the last reference to an old snapshot may
        // own thousands of nodes.
        drop(previous);
    }
}

/// A publisher and the handle that reads what it publishes; empty until the
/// first publish.
pub fn channel() -> (StatePublisher, StateHandle) {
    let handle = StateHandle::default();
    let publisher = StatePublisher {
        current: Arc::clone(&handle.current),
    };
    (publisher, handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_keep_their_snapshot_while_the_writer_publishes() {
        let (publisher, handle) = channel();
        let mut working = StateSnapshot::default();
        working.entry("a").state.records = 1;
        publisher.publish(working.clone());

        let held = handle.snapshot();
        working.entry("a").state.records = 2;
        working.entry("b");
        publisher.publish(working.clone());

        assert_eq!(held.get("a").map(|v| v.state.records), Some(1));
        assert!(held.get("b").is_none());
        let now = handle.snapshot();
        assert_eq!(now.get("a").map(|v| v.state.records), Some(2));
        assert_eq!(now.len(), 2);
        working.remove("a");
        assert_eq!(now.len(), 2, "published snapshots are immutable");
    }
}
