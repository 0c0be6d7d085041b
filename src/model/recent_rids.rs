//! How long run ids are remembered, so that a retried ping changes nothing.
//! The rule lives here; the writer's index ([`crate::store::rid_index`])
//! applies it (duplicate detection happens where the state it guards is
//! changed, so the two can never race).
//!
//! Per check, a rid is forgotten once it is older than [`RID_MIN_AGE`]
//! *and* more than [`RID_MIN_COUNT`] newer ones exist, or once more than
//! [`RID_MAX_COUNT`] newer ones exist. Rids are forgotten a block of
//! [`RID_FORGET_BLOCK`] at a time, when the rule allows it for the whole
//! block: never earlier than the rule says, at most one block later.

/// Run ids are remembered for at least this long...
pub const RID_MIN_AGE: f64 = 24.0 * 3600.0;
/// ...and at least this many per check, whichever keeps more...
pub const RID_MIN_COUNT: usize = 10_000;
/// ...but never more than about this many per check: a flood of unique
/// rids on one check (at most its rate limit) must not grow the index
/// without bound. Past this the oldest are forgotten early, and counted
/// (`deadman_rids_forgotten_total`): a retry of one of those would count
/// twice.
pub const RID_MAX_COUNT: usize = 100_000;
/// Rids of one check are forgotten this many at a time, oldest first, so
/// that the index needs no per-rid bookkeeping for retention.
pub const RID_FORGET_BLOCK: usize = 1024;
