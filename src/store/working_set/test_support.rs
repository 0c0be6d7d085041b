//! What the unit tests of the working set share.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::config::Config;
use crate::store::seam::{Batch, Snapshot};

pub(super) const CONFIG: &str = r#"
[[check]]
name = "orders"
owner = "ops"
every = "1h"
[check.volume]
min_records = 10
window = "1h"

[[check]]
name = "plain"
owner = "ops"
every = "1h"
"#;

pub(super) fn config(text: &str) -> Config {
    Config::parse(text, Path::new(".")).expect("test config")
}

pub(super) fn job(check: &str, rid: Option<&str>, records: Option<u64>, wall: f64) -> PingJob {
    PingJob {
        check: check.into(),
        ping: Ping {
            kind: Kind::Success,
            reason: None,
            exit_status: None,
            records,
            rid: rid.map(String::from),
            message: None,
            expiries: Vec::new(),
            values: Vec::new(),
        },
        at: Stamp {
            wall,
            mono: Duration::from_secs_f64(wall),
        },
        remote_addr: "127.0.0.1".into(),
        user_agent: None,
    }
}

pub(super) fn started(config: &Config, now: f64) -> WorkingSet {
    let mut set =
        WorkingSet::read(Snapshot::default(), RidIndex::keeping_keys()).configure(config, now);
    let batch = set.checkpoint(set.reconcile(config, now), config);
    set.apply_checkpoint(&batch);
    set
}

/// Plans over an index that keeps its keys: nothing to read back.
pub(super) fn plan(
    set: &WorkingSet,
    jobs: &[PingJob],
    config: &Config,
) -> (Batch, Vec<Outcome>, Effects) {
    set.plan_pings(jobs, config, &mut |_| Ok(None))
        .expect("no reads to fail")
}
