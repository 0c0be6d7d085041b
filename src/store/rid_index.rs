//! The writer's memory of accepted run ids, exact but compact: about 8 bytes
//! per rid in an open-addressing table, plus 8 in its check's arrival
//! order, instead of the rid strings themselves.
//!
//! A slot holds the journal sequence number of the ping that carried the
//! rid and a 24-bit fingerprint of its (check, kind, rid) hash. A lookup
//! finds the slots with the same fingerprint; each is only a *candidate*,
//! confirmed by reading that ping's (check, kind, rid) back from the store
//! ([`super::seam::Store::rid_at`]), so a fingerprint collision costs one
//! point read and never a wrong answer. Stores that cannot read rids back
//! (the in-memory ones tests use) get the keys kept here instead
//! ([`RidIndex::keeping_keys`]).
//!
//! Retention is the same rule as before the journal (see
//! [`crate::model::recent_rids`]): per check, every rid younger than a day
//! and at least the newest 10,000, never more than the newest 100,000.
//! Ages come from a per-minute sample of sequence numbers, rounded so that
//! a rid is kept rather than forgotten early.
//!
//! Pure: no I/O; [`RidIndex::candidates`] hands sequence numbers to the
//! caller, which confirms them.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher, RandomState};

use crate::model::recent_rids::{RID_MAX_COUNT, RID_MIN_AGE, RID_MIN_COUNT};
use crate::model::Kind;
use crate::name_hash::NameHash;

/// Bits of a slot that hold the sequence number; the rest is fingerprint.
const SEQ_BITS: u32 = 40;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;
/// The largest sequence number a slot can hold (about 10^12 pings).
pub const MAX_SEQ: u64 = SEQ_MASK;
const FP_BITS: u32 = 64 - SEQ_BITS;
/// Smallest table; it grows by half when three quarters full.
const MIN_SLOTS: usize = 1024;

/// One ping's run id, as the store hands it back for confirmation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RidKey {
    pub check: String,
    pub kind: Kind,
    pub rid: String,
}

impl RidKey {
    /// Whether this is the key of `rid` sent as a `kind` ping to `check`.
    pub fn is(&self, check: &str, kind: Kind, rid: &str) -> bool {
        self.kind == kind && self.check == check && self.rid == rid
    }
}

/// Every remembered rid of every check. See the module docs.
pub struct RidIndex {
    /// 0 = empty; else `fingerprint << SEQ_BITS | seq` (seq ≥ 1).
    slots: Vec<u64>,
    len: usize,
    /// Per check, its rids' slots in arrival order, for retention.
    order: HashMap<Box<str>, VecDeque<u64>, NameHash>,
    /// (minute start, first sequence number of that minute), oldest first,
    /// for the last two days: how old a sequence number is.
    minutes: VecDeque<(f64, u64)>,
    /// Keyed hashing, so rids cannot be chosen to collide.
    hasher: RandomState,
    /// seq → key, for stores that cannot read rids back.
    keys: Option<HashMap<u64, RidKey>>,
}

impl Default for RidIndex {
    fn default() -> Self {
        RidIndex {
            slots: Vec::new(),
            len: 0,
            order: HashMap::default(),
            minutes: VecDeque::new(),
            hasher: RandomState::new(),
            keys: None,
        }
    }
}

impl RidIndex {
    /// An index that keeps every key itself, for stores whose
    /// [`super::seam::Store::rid_at`] cannot answer.
    pub fn keeping_keys() -> RidIndex {
        RidIndex {
            keys: Some(HashMap::new()),
            ..RidIndex::default()
        }
    }

    /// Whether confirmations come from [`Self::key_at`] (true) or the store.
    pub fn keeps_keys(&self) -> bool {
        self.keys.is_some()
    }

    /// The kept key at `seq`, when this index keeps keys.
    pub fn key_at(&self, seq: u64) -> Option<&RidKey> {
        self.keys.as_ref().and_then(|keys| keys.get(&seq))
    }

    pub fn hash(&self, check: &str, kind: Kind, rid: &str) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(check.as_bytes());
        h.write_u8(0xff);
        h.write_u8(kind.index() as u8);
        h.write(rid.as_bytes());
        h.finish()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sequence numbers of the remembered pings whose key may be the one
    /// hashed to `hash`: confirm each before calling it a duplicate.
    pub fn candidates(&self, hash: u64) -> Vec<u64> {
        let mut found = Vec::new();
        if self.slots.is_empty() {
            return found;
        }
        let fp = fingerprint(hash);
        let mut i = self.home(fp);
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                break;
            }
            if slot >> SEQ_BITS == fp {
                found.push(slot & SEQ_MASK);
            }
            i = self.next(i);
        }
        found
    }

    /// Notes that pings up to `seq` arrived by `at` (called once per
    /// committed batch, before its rids are inserted).
    pub fn advance(&mut self, seq: u64, at: f64) {
        let minute = (at / 60.0).floor() * 60.0;
        if self.minutes.back().is_none_or(|(m, _)| minute > *m) {
            self.minutes.push_back((minute, seq));
        }
        while self
            .minutes
            .front()
            .is_some_and(|(m, _)| *m < minute - 2.0 * RID_MIN_AGE)
        {
            self.minutes.pop_front();
        }
    }

    /// The first sequence number that may be younger than `t`: everything
    /// from it on counts as young. A minute's sample says its pings arrived
    /// within that minute (the next minute with pings has a sample of its
    /// own), so a rid is kept up to a minute longer, never forgotten early.
    fn young_from(&self, t: f64) -> u64 {
        let first = self.minutes.partition_point(|(m, _)| *m + 60.0 <= t);
        self.minutes.get(first).map_or(u64::MAX, |(_, seq)| *seq)
    }

    /// Remembers the rid with `hash` of `check`, accepted as ping `seq` at
    /// `at`. Returns the sequence numbers forgotten to respect retention,
    /// and how many of those were younger than a day (forgotten early, for
    /// `deadman_rids_forgotten_total`).
    pub fn insert(
        &mut self,
        check: &str,
        key: Option<RidKey>,
        hash: u64,
        seq: u64,
        at: f64,
    ) -> (Vec<u64>, usize) {
        debug_assert!(seq > 0 && seq <= MAX_SEQ);
        let slot = fingerprint(hash) << SEQ_BITS | (seq & SEQ_MASK);
        self.put(slot);
        if let (Some(keys), Some(key)) = (self.keys.as_mut(), key) {
            keys.insert(seq, key);
        }
        let young = self.young_from(at - RID_MIN_AGE);
        if !self.order.contains_key(check) {
            self.order.insert(Box::from(check), VecDeque::new());
        }
        let Some(order) = self.order.get_mut(check) else {
            return (Vec::new(), 0);
        };
        if order.len() == order.capacity() {
            // A quarter more, not double: with tens of thousands of checks
            // these lists are most of the index, and doubling left a third
            // of them empty on average.
            order.reserve_exact((order.len() / 4).max(4));
        }
        order.push_back(slot);
        let mut forgotten = Vec::new();
        let mut early = 0;
        while order.len() > RID_MIN_COUNT {
            let Some(&oldest) = order.front() else { break };
            let is_young = oldest & SEQ_MASK >= young;
            if is_young && order.len() <= RID_MAX_COUNT {
                break;
            }
            early += usize::from(is_young);
            order.pop_front();
            forgotten.push(oldest);
        }
        let seqs = forgotten
            .into_iter()
            .map(|slot| {
                self.take(slot);
                slot & SEQ_MASK
            })
            .collect();
        (seqs, early)
    }

    /// Forgets, in every check, the rids older than a day beyond its newest
    /// [`RID_MIN_COUNT`] (inserting does this only for the check inserted
    /// to). Returns the sequence numbers forgotten.
    pub fn prune(&mut self, now: f64) -> Vec<u64> {
        let young = self.young_from(now - RID_MIN_AGE);
        let mut forgotten = Vec::new();
        for order in self.order.values_mut() {
            while order.len() > RID_MIN_COUNT
                && order.front().is_some_and(|slot| slot & SEQ_MASK < young)
            {
                forgotten.extend(order.pop_front());
            }
        }
        self.order.retain(|_, order| !order.is_empty());
        forgotten
            .into_iter()
            .map(|slot| {
                self.take(slot);
                slot & SEQ_MASK
            })
            .collect()
    }

    /// Forgets every rid of `check` (a purged check).
    pub fn remove_check(&mut self, check: &str) -> Vec<u64> {
        let Some(order) = self.order.remove(check) else {
            return Vec::new();
        };
        order
            .into_iter()
            .map(|slot| {
                self.take(slot);
                slot & SEQ_MASK
            })
            .collect()
    }

    /// Whether ping `seq` of `hash` is remembered (for tests and the trim).
    pub fn contains(&self, hash: u64, seq: u64) -> bool {
        self.candidates(hash).contains(&seq)
    }

    /// Rids remembered for `check`.
    pub fn check_len(&self, check: &str) -> usize {
        self.order.get(check).map_or(0, VecDeque::len)
    }

    fn home(&self, fp: u64) -> usize {
        ((fp as u128 * self.slots.len() as u128) >> FP_BITS) as usize
    }

    fn next(&self, i: usize) -> usize {
        if i + 1 == self.slots.len() {
            0
        } else {
            i + 1
        }
    }

    fn put(&mut self, slot: u64) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mut i = self.home(slot >> SEQ_BITS);
        while self.slots[i] != 0 {
            i = self.next(i);
        }
        self.slots[i] = slot;
        self.len += 1;
    }

    fn grow(&mut self) {
        let size = (self.slots.len() + self.slots.len() / 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![0; size]);
        self.len = 0;
        for slot in old.into_iter().filter(|s| *s != 0) {
            self.put(slot);
        }
    }

    /// Removes `slot` (exactly that value), keeping every probe chain
    /// whole (backward-shift deletion).
    fn take(&mut self, slot: u64) {
        if self.slots.is_empty() {
            return;
        }
        let mut i = self.home(slot >> SEQ_BITS);
        loop {
            match self.slots[i] {
                0 => return,
                s if s == slot => break,
                _ => i = self.next(i),
            }
        }
        if let Some(keys) = self.keys.as_mut() {
            keys.remove(&(slot & SEQ_MASK));
        }
        self.len -= 1;
        let mut hole = i;
        let mut j = i;
        loop {
            j = self.next(j);
            let s = self.slots[j];
            if s == 0 {
                break;
            }
            let home = self.home(s >> SEQ_BITS);
            // The entry at j may fill the hole unless its home lies
            // cyclically in (hole, j].
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.slots[hole] = s;
                hole = j;
            }
        }
        self.slots[hole] = 0;
    }
}

fn fingerprint(hash: u64) -> u64 {
    hash >> SEQ_BITS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confirmed(
        index: &RidIndex,
        keys: &HashMap<u64, (String, String)>,
        c: &str,
        r: &str,
    ) -> bool {
        let hash = index.hash(c, Kind::Success, r);
        index
            .candidates(hash)
            .iter()
            .any(|seq| keys.get(seq) == Some(&(c.to_string(), r.to_string())))
    }

    #[test]
    fn finds_what_was_inserted_and_forgets_by_the_retention_rule() {
        let mut index = RidIndex::default();
        let mut keys = HashMap::new();
        let mut seq = 0;
        for i in 0..(RID_MIN_COUNT + 5) {
            seq += 1;
            index.advance(seq, 0.0);
            let rid = format!("r{i}");
            let hash = index.hash("a", Kind::Success, &rid);
            let (forgotten, _) = index.insert("a", None, hash, seq, 0.0);
            assert!(forgotten.is_empty());
            keys.insert(seq, ("a".to_string(), rid));
        }
        assert_eq!(index.len(), RID_MIN_COUNT + 5);
        assert!(confirmed(&index, &keys, "a", "r0"));
        assert!(!confirmed(&index, &keys, "b", "r0"), "checks are separate");
        assert!(!confirmed(&index, &keys, "a", "nope"));
        // A day later, the oldest beyond the newest 10,000 are forgotten.
        seq += 1;
        index.advance(seq, RID_MIN_AGE + 120.0);
        let hash = index.hash("a", Kind::Success, "late");
        let (forgotten, early) = index.insert("a", None, hash, seq, RID_MIN_AGE + 120.0);
        keys.insert(seq, ("a".to_string(), "late".to_string()));
        assert_eq!(forgotten, [1, 2, 3, 4, 5, 6]);
        assert_eq!(early, 0);
        assert_eq!(index.check_len("a"), RID_MIN_COUNT);
        assert!(!confirmed(&index, &keys, "a", "r0"));
        assert!(confirmed(&index, &keys, "a", "r6"));
        assert!(confirmed(&index, &keys, "a", "late"));
        assert_eq!(index.remove_check("a").len(), RID_MIN_COUNT);
        assert!(index.is_empty());
        assert!(!confirmed(&index, &keys, "a", "late"));
    }

    #[test]
    fn a_flood_is_capped_and_counted_as_forgotten_early() {
        let mut index = RidIndex::default();
        let mut early = 0;
        for seq in 1..=(RID_MAX_COUNT as u64 + 7) {
            index.advance(seq, 0.0);
            let hash = index.hash("a", Kind::Success, &format!("r{seq}"));
            early += index.insert("a", None, hash, seq, 0.0).1;
        }
        assert_eq!(early, 7);
        assert_eq!(index.len(), RID_MAX_COUNT);
        let hash = index.hash("a", Kind::Success, "r7");
        assert!(!index.contains(hash, 7));
        let hash = index.hash("a", Kind::Success, "r8");
        assert!(index.contains(hash, 8));
    }

    #[test]
    fn deletion_keeps_colliding_probe_chains_whole() {
        // Same fingerprint for everything: one long chain.
        let mut index = RidIndex::default();
        let hash = 0xdead_beef_0000_0000;
        for seq in 1..=50 {
            index.put(fingerprint(hash) << SEQ_BITS | seq);
        }
        for seq in (1..=50).step_by(2) {
            index.take(fingerprint(hash) << SEQ_BITS | seq);
        }
        let mut left = index.candidates(hash);
        left.sort_unstable();
        assert_eq!(left, (2..=50).step_by(2).collect::<Vec<u64>>());
    }
}
