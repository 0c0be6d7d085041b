//! Reading the stored state on a thread of its own, started as soon as the
//! store is open, so that it overlaps parsing the config: at 100,000 checks
//! each takes about a third of a second, and startup then waits for the
//! longer of the two instead of their sum.
//!
//! The writer takes the result ([`Opened::finish`]); until it has it,
//! `/-/ready` and pings answer 503 exactly as when the writer loads the
//! store itself.

use std::thread::JoinHandle;

use super::error::StoreError;
use super::rid_index::RidIndex;
use super::seam::Store;
use super::working_set::{Unconfigured, WorkingSet};

/// What reading a store gives: the store, and its state read into a
/// working set that still needs the config.
type Read = (Box<dyn Store>, Unconfigured);

/// A store, and its stored state being read.
pub struct Loading {
    /// Hands back the store with what reading it gave.
    thread: JoinHandle<(Box<dyn Store>, Result<Unconfigured, StoreError>)>,
}

/// A store ready for the writer: either loading already, or to be loaded by
/// the writer thread itself (tests, and stores built in memory).
pub enum Opened {
    /// [`Loading::start`] was called on it.
    Loading(Loading),
    /// Not read yet.
    Store(Box<dyn Store>),
}

impl From<Box<dyn Store>> for Opened {
    fn from(store: Box<dyn Store>) -> Opened {
        Opened::Store(store)
    }
}

impl From<Loading> for Opened {
    fn from(loading: Loading) -> Opened {
        Opened::Loading(loading)
    }
}

impl Loading {
    /// Starts reading `store`'s state on a new thread.
    pub fn start(mut store: Box<dyn Store>) -> std::io::Result<Loading> {
        let thread = std::thread::Builder::new()
            .name("deadman-load".into())
            .spawn(move || {
                let read = read(store.as_mut());
                (store, read)
            })?;
        Ok(Loading { thread })
    }
}

impl Opened {
    /// The store and its state, once read. A `Loading` whose thread
    /// panicked has lost its store: that is reported as an error, and the
    /// writer stops as it does for any failed load.
    pub fn finish(self) -> Result<Read, StoreError> {
        match self {
            Opened::Store(mut store) => {
                let read = read(store.as_mut())?;
                Ok((store, read))
            }
            Opened::Loading(loading) => match loading.thread.join() {
                Ok((store, Ok(read))) => Ok((store, read)),
                Ok((_, Err(err))) => Err(err),
                Err(_) => Err(StoreError::Backend(
                    "reading the stored state failed unexpectedly (its thread panicked; \
                     the log above has the panic)"
                        .into(),
                )),
            },
        }
    }
}

/// Loads `store` and builds the working set from it, as far as that goes
/// without the config. An index of rids keeps their keys only for stores
/// that cannot read them back, and puts its older part in the store's
/// scratch directory where there is one.
fn read(store: &mut dyn Store) -> Result<Unconfigured, StoreError> {
    let snapshot = store.load()?;
    let rids = match (store.reads_rids_back(), store.scratch_dir()) {
        (false, _) => RidIndex::keeping_keys(),
        (true, Some(dir)) => RidIndex::spilling_to(&dir),
        (true, None) => RidIndex::default(),
    };
    let mut read = WorkingSet::read(snapshot, rids);
    store.each_rid(&mut |row| read.remember_stored_rid(row))?;
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::seam::MemoryStore;

    #[test]
    fn a_store_loaded_ahead_gives_what_loading_it_later_gives() {
        let ahead = Opened::from(Loading::start(Box::new(MemoryStore)).unwrap());
        let later = Opened::from(Box::new(MemoryStore) as Box<dyn Store>);
        let (_, ahead) = ahead.finish().unwrap();
        let (_, later) = later.finish().unwrap();
        assert_eq!(ahead.restored_checks(), later.restored_checks());
    }

    /// More rids than the index keeps in memory: the older ones, found on
    /// disk and confirmed from the store, stay duplicates, before and
    /// after a restart; a new rid does not.
    #[test]
    fn rids_kept_on_disk_stay_duplicates_across_a_restart() {
        use crate::clock::Stamp;
        use crate::config::Config;
        use crate::model::{Kind, Ping};
        use crate::store::rid_index::RECENT_LIMIT;
        use crate::store::working_set::{Outcome, PingJob};
        use crate::store::SqliteStore;
        use std::time::Duration;

        let config = Config::parse(
            "[[check]]\nname = \"a\"\nowner = \"ops\"\nevery = \"1h\"\n",
            std::path::Path::new("."),
        )
        .expect("config");
        let job = |rid: String| PingJob {
            check: "a".into(),
            ping: Ping {
                kind: Kind::Success,
                reason: None,
                exit_status: None,
                records: None,
                rid: Some(rid),
                message: None,
                expiries: Vec::new(),
                values: Vec::new(),
            },
            at: Stamp {
                wall: 1000.0,
                mono: Duration::from_secs(1000),
            },
            remote_addr: "127.0.0.1".into(),
            user_agent: None,
        };
        let open = |dir: &std::path::Path| {
            let store: Box<dyn Store> = Box::new(SqliteStore::open(dir).expect("open"));
            let (store, read) = Opened::from(store).finish().expect("load");
            (store, read.configure(&config, 1000.0))
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut store, mut set) = open(dir.path());
        let batch = set.checkpoint(set.reconcile(&config, 1000.0), &config);
        store.commit(&batch).expect("checkpoint");
        set.apply_checkpoint(&batch);

        let outcomes = |set: &WorkingSet, store: &mut Box<dyn Store>, rids: &[&str]| {
            let jobs: Vec<PingJob> = rids.iter().map(|r| job(r.to_string())).collect();
            let (_, outcomes, _) = set
                .plan_pings(&jobs, &config, &mut |seq| store.rid_at(seq))
                .expect("plan");
            outcomes
        };
        let total = RECENT_LIMIT * 2 + 100;
        let rids: Vec<String> = (0..total).map(|i| format!("r{i}")).collect();
        for chunk in rids.chunks(4096) {
            let jobs: Vec<PingJob> = chunk.iter().cloned().map(job).collect();
            let (batch, outcomes, effects) = set
                .plan_pings(&jobs, &config, &mut |seq| store.rid_at(seq))
                .expect("plan");
            assert!(outcomes.iter().all(|o| *o == Outcome::Accepted));
            store.commit(&batch).expect("commit");
            set.apply_pings(effects, &config, 1000.0);
        }
        assert_eq!(set.rids_remembered(), total);
        assert!(
            set.rids_on_disk() >= RECENT_LIMIT as u64,
            "{}",
            set.rids_on_disk()
        );
        let old = ["r0", "r1", "r12345", "r40000"];
        let newest = format!("r{}", total - 1);
        let mut probe: Vec<&str> = old.to_vec();
        probe.extend([newest.as_str(), "never-sent"]);
        let expected = [
            Outcome::Duplicate,
            Outcome::Duplicate,
            Outcome::Duplicate,
            Outcome::Duplicate,
            Outcome::Duplicate,
            Outcome::Accepted,
        ];
        assert_eq!(outcomes(&set, &mut store, &probe), expected);

        drop((store, set));
        let (mut store, set) = open(dir.path());
        assert_eq!(set.rids_remembered(), total);
        assert!(set.rids_on_disk() >= RECENT_LIMIT as u64);
        assert_eq!(outcomes(&set, &mut store, &probe), expected);
    }
}
