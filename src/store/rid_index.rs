//! The writer's memory of accepted run ids: exact, and about a byte of
//! memory per rid however many are remembered.
//!
//! An entry is a rid's keyed hash of (check, kind, rid) with the journal
//! sequence number of the ping that carried it and its check's number
//! here. The newest entries are in memory (a sorted set, at most
//! [`RECENT_LIMIT`]); older ones are on disk ([`super::rid_spill`]), with a
//! Bloom filter so that a new rid almost never costs a read. A lookup
//! gives *candidates*, each confirmed by reading that ping's (check, kind,
//! rid) back from the store ([`super::seam::Store::rid_at`]), so a hash
//! collision costs a read and never a wrong answer. Stores that cannot
//! read rids back (the in-memory ones tests use) get the keys kept here
//! instead ([`RidIndex::keeping_keys`]), all in memory.
//!
//! Retention (see [`crate::model::recent_rids`]): per check, every rid
//! younger than a day and at least the newest 10,000, at most about the
//! newest 100,000. A check's rids are counted in blocks of
//! [`RID_FORGET_BLOCK`] in arrival order, and a block is forgotten whole
//! once every rid in it may be: never earlier than the rule, at most one
//! block later. Forgetting is a per-check threshold ("rids of this check
//! before journal entry N are forgotten"), so it costs no memory per rid;
//! entries below it are dropped when their part of the index is next
//! rewritten, and ignored until then. Ages come from a per-minute sample of
//! sequence numbers, rounded so that a rid is kept rather than forgotten
//! early.
//!
//! The disk part is scratch, rebuilt from the store at every start;
//! failing to write it (a full disk) keeps the entries in memory instead,
//! and failing to read it fails the lookup (the pings wait on it get 503),
//! never answers wrongly.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io;
use std::path::Path;

use super::rid_spill::{Entry, Spill};
use crate::model::recent_rids::{RID_FORGET_BLOCK, RID_MAX_COUNT, RID_MIN_AGE, RID_MIN_COUNT};
use crate::model::Kind;
use crate::name_hash::NameHash;

/// Bits of a packed entry that hold the check's number; the rest is the
/// sequence number.
const CHECK_BITS: u32 = 24;
const CHECK_MASK: u64 = (1 << CHECK_BITS) - 1;
/// The largest sequence number an entry can hold (about 10^12 pings).
pub const MAX_SEQ: u64 = (1 << (64 - CHECK_BITS)) - 1;
/// Entries kept in memory before they move to disk (about 0.8 MB).
pub const RECENT_LIMIT: usize = 32 * 1024;

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

/// What retention forgot: `check`'s rids carried by journal entries before
/// `before` (their `rid_log` rows can go).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forgotten {
    pub check: String,
    pub before: u64,
}

/// Every remembered rid of every check. See the module docs.
pub struct RidIndex {
    /// Keyed hashing, so rids cannot be chosen to collide.
    hasher: RandomState,
    /// Per check with rids: its number and its blocks.
    checks: HashMap<Box<str>, CheckRids, NameHash>,
    /// By check number: the first sequence number still remembered (lower
    /// ones are forgotten); `u64::MAX` for a number not in use.
    remembered_from: Vec<u64>,
    /// Numbers of removed checks, for reuse (their entries are all below
    /// any new owner's first sequence number, so they stay forgotten).
    free_numbers: Vec<u32>,
    /// The newest entries, in hash order.
    recent: BTreeSet<Entry>,
    /// When to move `recent` to disk; doubled after a failed write.
    recent_limit: usize,
    /// The older entries, when there is a directory for them.
    spill: Option<Spill>,
    /// (minute start, first sequence number of that minute), oldest first,
    /// for the last two days: how old a sequence number is.
    minutes: VecDeque<(f64, u64)>,
    /// seq → key, for stores that cannot read rids back.
    keys: Option<HashMap<u64, RidKey>>,
    /// Rids remembered, of every check.
    len: usize,
}

/// One check's remembered rids, as counts.
struct CheckRids {
    number: u32,
    /// Oldest first: how many rids each block holds and the sequence
    /// number of its newest (each block but the last is full).
    blocks: VecDeque<Block>,
    /// Rids remembered (the sum of the blocks).
    count: usize,
}

#[derive(Clone, Copy)]
struct Block {
    count: u32,
    last_seq: u64,
}

impl Default for RidIndex {
    fn default() -> Self {
        RidIndex {
            hasher: RandomState::new(),
            checks: HashMap::default(),
            remembered_from: Vec::new(),
            free_numbers: Vec::new(),
            recent: BTreeSet::new(),
            recent_limit: RECENT_LIMIT,
            spill: None,
            minutes: VecDeque::new(),
            keys: None,
            len: 0,
        }
    }
}

impl RidIndex {
    /// An index whose older entries go to scratch files in `dir`.
    pub fn spilling_to(dir: &Path) -> RidIndex {
        RidIndex {
            spill: Some(Spill::new(dir)),
            ..RidIndex::default()
        }
    }

    /// An index that keeps every key itself, in memory, for stores whose
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

    /// Entries on disk (forgotten ones included until they are dropped).
    #[cfg(test)]
    pub fn on_disk(&self) -> u64 {
        self.spill.as_ref().map_or(0, Spill::entries)
    }

    /// Sequence numbers of the remembered pings whose key may be the one
    /// hashed to `hash`: confirm each before calling it a duplicate.
    pub fn candidates(&self, hash: u64) -> io::Result<Vec<u64>> {
        let mut packed: Vec<u64> = self
            .recent
            .range(
                Entry { hash, packed: 0 }..=Entry {
                    hash,
                    packed: u64::MAX,
                },
            )
            .map(|entry| entry.packed)
            .collect();
        if let Some(spill) = &self.spill {
            spill.find(hash, &mut packed)?;
        }
        Ok(packed
            .into_iter()
            .filter(|p| is_remembered(&self.remembered_from, *p))
            .map(seq_of)
            .collect())
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
    /// `at`. Returns what retention forgot in that check, and how many of
    /// those rids may have been younger than a day (forgotten early, for
    /// `deadman_rids_forgotten_total`).
    pub fn insert(
        &mut self,
        check: &str,
        key: Option<RidKey>,
        hash: u64,
        seq: u64,
        at: f64,
    ) -> (Option<Forgotten>, usize) {
        debug_assert!(seq > 0 && seq <= MAX_SEQ);
        let Some(number) = self.number_of(check, seq) else {
            // Sixteen million checks with rids at once: not remembered.
            return (None, 1);
        };
        if let (Some(keys), Some(key)) = (self.keys.as_mut(), key) {
            keys.insert(seq, key);
        }
        self.recent.insert(Entry {
            hash,
            packed: seq << CHECK_BITS | u64::from(number),
        });
        self.len += 1;
        let young = self.young_from(at - RID_MIN_AGE);
        let forgotten = self.checks.get_mut(check).and_then(|rids| {
            rids.push(seq);
            rids.forget(young)
        });
        let result = match forgotten {
            Some((before, count, early)) => {
                self.forget_below(check, number, before, count);
                (
                    Some(Forgotten {
                        check: check.to_string(),
                        before,
                    }),
                    early,
                )
            }
            None => (None, 0),
        };
        if self.recent.len() >= self.recent_limit {
            self.move_recent_to_disk();
        }
        result
    }

    /// The number of `check`, given one if it has none (its first rid
    /// being `seq`).
    fn number_of(&mut self, check: &str, seq: u64) -> Option<u32> {
        if let Some(rids) = self.checks.get(check) {
            return Some(rids.number);
        }
        let number = match self.free_numbers.pop() {
            Some(number) => number,
            None if (self.remembered_from.len() as u64) < CHECK_MASK => {
                self.remembered_from.push(u64::MAX);
                (self.remembered_from.len() - 1) as u32
            }
            None => return None,
        };
        self.remembered_from[number as usize] = seq;
        self.checks.insert(
            Box::from(check),
            CheckRids {
                number,
                blocks: VecDeque::new(),
                count: 0,
            },
        );
        Some(number)
    }

    fn forget_below(&mut self, check: &str, number: u32, before: u64, count: usize) {
        self.remembered_from[number as usize] = before;
        self.len -= count;
        if let Some(keys) = self.keys.as_mut() {
            keys.retain(|seq, key| *seq >= before || key.check != check);
        }
    }

    /// Moves the in-memory entries still remembered to disk. A failed
    /// write keeps them in memory (and waits for twice as many before
    /// trying again): memory grows, no rid is lost.
    fn move_recent_to_disk(&mut self) {
        let Some(spill) = self.spill.as_mut() else {
            return;
        };
        let entries: Vec<Entry> = self.recent.iter().copied().collect();
        let remembered_from = &self.remembered_from;
        match spill.add(&entries, &|packed| is_remembered(remembered_from, packed)) {
            Ok(()) => {
                self.recent.clear();
                self.recent_limit = RECENT_LIMIT;
            }
            Err(err) => {
                tracing::warn!(
                    error = %err,
                    kept_in_memory = entries.len(),
                    "cannot write remembered run ids to disk; keeping them in memory"
                );
                self.recent_limit = self.recent_limit.saturating_mul(2);
            }
        }
    }

    /// Forgets, in every check, the rids older than a day beyond its newest
    /// [`RID_MIN_COUNT`] (inserting does this only for the check inserted
    /// to).
    pub fn prune(&mut self, now: f64) -> Vec<Forgotten> {
        let young = self.young_from(now - RID_MIN_AGE);
        let mut forgotten = Vec::new();
        for (check, rids) in self.checks.iter_mut() {
            if let Some((before, count, _)) = rids.forget(young) {
                forgotten.push((check.to_string(), rids.number, before, count));
            }
        }
        forgotten
            .into_iter()
            .map(|(check, number, before, count)| {
                self.forget_below(&check, number, before, count);
                Forgotten { check, before }
            })
            .collect()
    }

    /// Forgets every rid of `check` (a purged check).
    pub fn remove_check(&mut self, check: &str) {
        let Some(rids) = self.checks.remove(check) else {
            return;
        };
        self.forget_below(check, rids.number, u64::MAX, rids.count);
        self.free_numbers.push(rids.number);
    }

    /// Whether ping `seq` of `hash` is remembered (for tests).
    #[cfg(test)]
    pub fn contains(&self, hash: u64, seq: u64) -> bool {
        self.candidates(hash)
            .is_ok_and(|found| found.contains(&seq))
    }

    /// Rids remembered for `check`.
    pub fn check_len(&self, check: &str) -> usize {
        self.checks.get(check).map_or(0, |rids| rids.count)
    }
}

impl CheckRids {
    fn push(&mut self, seq: u64) {
        match self.blocks.back_mut() {
            Some(block) if (block.count as usize) < RID_FORGET_BLOCK => {
                block.count += 1;
                block.last_seq = seq;
            }
            _ => self.blocks.push_back(Block {
                count: 1,
                last_seq: seq,
            }),
        }
        self.count += 1;
    }

    /// Forgets the oldest blocks that retention allows to, where rids from
    /// `young` on are younger than a day. Returns the first sequence
    /// number still remembered, how many were forgotten, and how many of
    /// those were in a block not wholly older than a day.
    fn forget(&mut self, young: u64) -> Option<(u64, usize, usize)> {
        let mut result = None;
        let (mut forgotten, mut early) = (0, 0);
        while let Some(oldest) = self.blocks.front().copied() {
            let rest = self.count - oldest.count as usize;
            let old = oldest.last_seq < young;
            if rest < RID_MIN_COUNT || !(old || rest >= RID_MAX_COUNT) {
                break;
            }
            self.blocks.pop_front();
            self.count = rest;
            forgotten += oldest.count as usize;
            if !old {
                early += oldest.count as usize;
            }
            result = Some(oldest.last_seq + 1);
        }
        result.map(|before| (before, forgotten, early))
    }
}

fn seq_of(packed: u64) -> u64 {
    packed >> CHECK_BITS
}

/// Whether a packed entry is still remembered: its sequence number is at
/// or past its check's threshold (`remembered_from`, by check number).
fn is_remembered(remembered_from: &[u64], packed: u64) -> bool {
    remembered_from
        .get((packed & CHECK_MASK) as usize)
        .is_some_and(|from| seq_of(packed) >= *from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inserts `rids` of `check` at `at`, one sequence number each from
    /// `*seq + 1`, recording keys; returns what was forgotten.
    fn insert_all(
        index: &mut RidIndex,
        keys: &mut HashMap<u64, (String, String)>,
        seq: &mut u64,
        check: &str,
        rids: impl IntoIterator<Item = String>,
        at: f64,
    ) -> (Vec<Forgotten>, usize) {
        let (mut forgotten, mut early) = (Vec::new(), 0);
        for rid in rids {
            *seq += 1;
            index.advance(*seq, at);
            let hash = index.hash(check, Kind::Success, &rid);
            let (f, e) = index.insert(check, None, hash, *seq, at);
            forgotten.extend(f);
            early += e;
            keys.insert(*seq, (check.to_string(), rid));
        }
        (forgotten, early)
    }

    fn confirmed(
        index: &RidIndex,
        keys: &HashMap<u64, (String, String)>,
        c: &str,
        r: &str,
    ) -> bool {
        let hash = index.hash(c, Kind::Success, r);
        index
            .candidates(hash)
            .expect("lookup")
            .iter()
            .any(|seq| keys.get(seq) == Some(&(c.to_string(), r.to_string())))
    }

    /// The first block of `check`'s rids is forgotten, the second kept.
    fn assert_first_block_forgotten(
        index: &RidIndex,
        keys: &HashMap<u64, (String, String)>,
        check: &str,
    ) {
        let last_of_first = format!("r{}", RID_FORGET_BLOCK - 1);
        let first_of_second = format!("r{RID_FORGET_BLOCK}");
        assert!(!confirmed(index, keys, check, &last_of_first));
        assert!(confirmed(index, keys, check, &first_of_second));
    }

    fn rids(range: std::ops::Range<usize>) -> impl Iterator<Item = String> {
        range.map(|i| format!("r{i}"))
    }

    #[test]
    fn finds_what_was_inserted_and_forgets_by_the_retention_rule() {
        let dir = tempfile::tempdir().expect("dir");
        let mut index = RidIndex::spilling_to(dir.path());
        let (mut keys, mut seq) = (HashMap::new(), 0);
        let n = RID_MIN_COUNT + RID_FORGET_BLOCK + 5;
        let (forgotten, _) = insert_all(&mut index, &mut keys, &mut seq, "a", rids(0..n), 0.0);
        assert!(forgotten.is_empty(), "all younger than a day");
        assert_eq!(index.len(), n);
        assert!(confirmed(&index, &keys, "a", "r0"));
        assert!(confirmed(&index, &keys, "a", &format!("r{}", n - 1)));
        assert!(!confirmed(&index, &keys, "b", "r0"), "checks are separate");
        assert!(!confirmed(&index, &keys, "a", "nope"));
        // A day later, the oldest whole block beyond the newest 10,000 is
        // forgotten; the rest stay, even the 5 the rule alone would drop.
        let late = RID_MIN_AGE + 120.0;
        let (forgotten, early) = insert_all(
            &mut index,
            &mut keys,
            &mut seq,
            "a",
            ["late".to_string()],
            late,
        );
        let before = RID_FORGET_BLOCK as u64 + 1;
        assert_eq!(
            forgotten,
            [Forgotten {
                check: "a".into(),
                before
            }]
        );
        assert_eq!(early, 0);
        assert_eq!(index.check_len("a"), RID_MIN_COUNT + 6);
        assert!(!confirmed(&index, &keys, "a", "r0"));
        assert_first_block_forgotten(&index, &keys, "a");
        assert!(confirmed(&index, &keys, "a", "late"));
        index.remove_check("a");
        assert!(index.is_empty());
        assert!(!confirmed(&index, &keys, "a", "late"));
        assert!(!confirmed(
            &index,
            &keys,
            "a",
            &format!("r{RID_FORGET_BLOCK}")
        ));
    }

    #[test]
    fn most_entries_are_on_disk_and_still_found() {
        let dir = tempfile::tempdir().expect("dir");
        let mut index = RidIndex::spilling_to(dir.path());
        let (mut keys, mut seq) = (HashMap::new(), 0);
        for check in ["a", "b", "c"] {
            insert_all(&mut index, &mut keys, &mut seq, check, rids(0..40_000), 0.0);
        }
        assert_eq!(index.len(), 120_000);
        assert!(index.on_disk() >= 120_000 - RECENT_LIMIT as u64);
        assert!(index.recent.len() < RECENT_LIMIT);
        for check in ["a", "b", "c"] {
            for rid in ["r0", "r12345", "r39999"] {
                assert!(confirmed(&index, &keys, check, rid), "{check} {rid}");
            }
            assert!(!confirmed(&index, &keys, check, "r40000"));
        }
    }

    #[test]
    fn a_number_freed_by_a_removed_check_does_not_bring_its_rids_back() {
        let dir = tempfile::tempdir().expect("dir");
        let mut index = RidIndex::spilling_to(dir.path());
        let (mut keys, mut seq) = (HashMap::new(), 0);
        insert_all(
            &mut index,
            &mut keys,
            &mut seq,
            "old",
            rids(0..RECENT_LIMIT + 10),
            0.0,
        );
        index.remove_check("old");
        // "new" takes the freed number; the stale entries stay forgotten.
        insert_all(&mut index, &mut keys, &mut seq, "new", rids(0..3), 0.0);
        let stale = index.hash("old", Kind::Success, "r5");
        assert!(index.candidates(stale).expect("lookup").is_empty());
        assert!(confirmed(&index, &keys, "new", "r1"));
        assert_eq!(index.len(), 3);
    }

    #[test]
    fn a_flood_is_capped_a_block_at_a_time_and_counted_as_forgotten_early() {
        let mut index = RidIndex::default();
        let (mut keys, mut seq) = (HashMap::new(), 0);
        let n = RID_MAX_COUNT + RID_FORGET_BLOCK + 7;
        let (forgotten, early) = insert_all(&mut index, &mut keys, &mut seq, "a", rids(0..n), 0.0);
        assert_eq!(early, RID_FORGET_BLOCK);
        assert_eq!(forgotten.len(), 1);
        assert_eq!(index.len(), RID_MAX_COUNT + 7);
        assert!(index.len() <= RID_MAX_COUNT + RID_FORGET_BLOCK);
        assert_first_block_forgotten(&index, &keys, "a");
    }

    #[test]
    fn a_full_disk_keeps_entries_in_memory() {
        let dir = tempfile::tempdir().expect("dir");
        let mut index = RidIndex::spilling_to(&dir.path().join("gone"));
        let (mut keys, mut seq) = (HashMap::new(), 0);
        insert_all(
            &mut index,
            &mut keys,
            &mut seq,
            "a",
            rids(0..RECENT_LIMIT + 10),
            0.0,
        );
        assert_eq!(index.on_disk(), 0);
        assert_eq!(index.recent.len(), RECENT_LIMIT + 10);
        assert!(confirmed(&index, &keys, "a", "r0"));
    }

    #[test]
    fn kept_keys_of_forgotten_rids_are_dropped() {
        let mut index = RidIndex::keeping_keys();
        let mut seq = 0;
        for i in 0..(RID_MIN_COUNT + RID_FORGET_BLOCK) {
            seq += 1;
            index.advance(seq, 0.0);
            let rid = format!("r{i}");
            let hash = index.hash("a", Kind::Success, &rid);
            let key = RidKey {
                check: "a".into(),
                kind: Kind::Success,
                rid,
            };
            index.insert("a", Some(key), hash, seq, 0.0);
        }
        index.advance(seq + 1, RID_MIN_AGE + 120.0);
        let forgotten = index.prune(RID_MIN_AGE + 120.0);
        assert_eq!(forgotten.len(), 1);
        assert!(index.key_at(1).is_none());
        assert!(index.key_at(seq).is_some());
        assert_eq!(index.len(), RID_MIN_COUNT);
    }
}
