//! Recently accepted run ids of one check, so a retried ping changes
//! nothing. Pure; only the writer holds these (duplicate detection happens
//! where the state it guards is changed, so the two can never race).

use std::collections::{HashMap, VecDeque};

use super::kind::Kind;

/// Run ids are remembered for at least this long...
pub const RID_MIN_AGE: f64 = 24.0 * 3600.0;
/// ...and at least this many per check, whichever keeps more...
pub const RID_MIN_COUNT: usize = 10_000;
/// ...but never more than this many per check: a flood of unique rids on
/// one check (at most its rate limit) must not grow memory without bound.
/// Past this the oldest are forgotten early, and counted
/// (`deadman_rids_forgotten_total`): a retry of one of those would count
/// twice. About 17 MB of memory per check at the cap.
pub const RID_MAX_COUNT: usize = 100_000;

/// Recently accepted rids of one check, so a retried ping changes nothing.
/// Bounded: an entry is forgotten once it is older than [`RID_MIN_AGE`] *and*
/// more than [`RID_MIN_COUNT`] newer ones exist, or once more than
/// [`RID_MAX_COUNT`] newer ones exist.
#[derive(Clone, Debug, Default)]
pub struct RecentRids {
    /// rid → a bit per [`Kind::index`] seen with it. Keyed by the rid alone
    /// so a lookup (on every ping that carries one) needs no allocation.
    seen: HashMap<Box<str>, u8>,
    /// Arrival order, for eviction.
    order: VecDeque<(f64, Kind, Box<str>)>,
}

impl RecentRids {
    pub fn contains(&self, kind: Kind, rid: &str) -> bool {
        self.seen
            .get(rid)
            .is_some_and(|kinds| kinds & (1 << kind.index()) != 0)
    }

    /// Remembers a rid; returns how many rids younger than [`RID_MIN_AGE`]
    /// had to be forgotten to stay within [`RID_MAX_COUNT`].
    pub fn insert(&mut self, kind: Kind, rid: &str, at: f64) -> usize {
        if self.contains(kind, rid) {
            return 0;
        }
        *self.seen.entry(Box::from(rid)).or_default() |= 1 << kind.index();
        self.order.push_back((at, kind, Box::from(rid)));
        let mut forgotten_early = 0;
        while self.order.len() > RID_MIN_COUNT {
            let Some((oldest, _, _)) = self.order.front() else {
                break;
            };
            let young = *oldest >= at - RID_MIN_AGE;
            if young && self.order.len() <= RID_MAX_COUNT {
                break;
            }
            forgotten_early += usize::from(young);
            self.forget_oldest();
        }
        forgotten_early
    }

    fn forget_oldest(&mut self) {
        if let Some((_, kind, rid)) = self.order.pop_front() {
            if let Some(kinds) = self.seen.get_mut(&rid) {
                *kinds &= !(1 << kind.index());
                if *kinds == 0 {
                    self.seen.remove(&rid);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rids_keep_a_day_or_ten_thousand() {
        let mut rids = RecentRids::default();
        for i in 0..(RID_MIN_COUNT + 5) {
            rids.insert(Kind::Success, &format!("r{i}"), 0.0);
        }
        // All within 24h: nothing is forgotten (up to RID_MAX_COUNT).
        assert_eq!(rids.len(), RID_MIN_COUNT + 5);
        rids.insert(Kind::Success, "late", RID_MIN_AGE + 1.0);
        assert_eq!(rids.len(), RID_MIN_COUNT);
        assert!(!rids.contains(Kind::Success, "r0"));
        assert!(rids.contains(Kind::Success, "r6"));
        assert!(rids.contains(Kind::Success, "late"));
        assert!(!rids.contains(Kind::Fail, "late"), "kinds are separate");
    }

    #[test]
    fn a_flood_is_capped_and_counted() {
        let mut rids = RecentRids::default();
        let mut forgotten = 0;
        for i in 0..(RID_MAX_COUNT + 7) {
            forgotten += rids.insert(Kind::Success, &format!("r{i}"), 0.0);
        }
        assert_eq!(rids.len(), RID_MAX_COUNT);
        assert_eq!(forgotten, 7);
        assert!(!rids.contains(Kind::Success, "r6"));
        assert!(rids.contains(Kind::Success, "r7"));
    }
}
