//! The hash for maps keyed by check names. Names come from the config and
//! the store, never from a request (a ping for an unknown check is refused
//! before any such map is touched), so a fast seeded hash is safe where
//! SipHash's protection against chosen collisions buys nothing: it was a
//! fifth of the cost of looking a check up, on every ping, scrape and
//! startup. Maps keyed by what requests send (run ids) keep SipHash.

/// `HashMap<K, V, NameHash>`; build with `Default::default()`.
pub type NameHash = foldhash::fast::RandomState;
