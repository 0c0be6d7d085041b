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
/// that cannot read them back.
fn read(store: &mut dyn Store) -> Result<Unconfigured, StoreError> {
    let snapshot = store.load()?;
    Ok(WorkingSet::read(snapshot, !store.reads_rids_back()))
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
}
