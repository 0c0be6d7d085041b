//! A scrape's body: the exporter's own metrics from the registry, then the
//! per-check families, rendered at scrape time straight from config and a
//! state snapshot into the text exposition format (0.0.4); gzipped when
//! asked.
//!
//! Building them as protobuf `MetricFamily`s through a `Collector` (as the
//! exporter's own metrics are) costs an allocation per label and per sample:
//! 2.5 s of CPU per scrape at 100,000 checks. Writing text directly produces
//! the same bytes many times faster. As with a collector, everything is
//! built from the current config at scrape time, so a check removed by a
//! reload vanishes from the next scrape and no ping can create a series.
//!
//! * `families` — every per-check family's name, help, type and writer;
//!   `sink` — where samples go, and how values are written; `row` — one
//!   check as the writers see it;
//! * `labels` — every check's label sets, escaped once per config;
//! * `checks` — freshness, runs, counters, volume, expiries, refusals (and
//!   which of those series a check has);
//! * `assertions` — the series of failure thresholds and ratios,
//!   `min_runtime`, declared values and pauses.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;

use flate2::write::GzEncoder;
use prometheus::{Encoder, Registry, TextEncoder};

mod assertions;
mod checks;
mod families;
mod labels;
mod row;
mod sink;

use crate::config::Config;
use crate::metrics::Rejection;
use crate::state::StateSnapshot;
use families::{CHECKS, FAMILIES};
pub use labels::{LabelCache, Labels};
use row::Row;
use sink::Sink;

/// Refused pings per configured check, by [`Rejection::index`].
pub type Rejected = HashMap<String, [u64; Rejection::COUNT]>;

/// gzip level of compressed scrapes: the fastest. At 10,000 checks it
/// makes the body about 20 times smaller for a fraction of the render's
/// own time; higher levels cost several times more for a few per cent.
pub const GZIP_LEVEL: u32 = 1;

/// A rendered scrape.
pub struct Exposition {
    pub body: Vec<u8>,
    pub gzipped: bool,
    /// The body's size before compression.
    pub text_len: usize,
}

/// What a scrape renders.
pub struct Scrape<'a> {
    /// The exporter's own and process metrics.
    pub registry: &'a Registry,
    pub config: &'a Arc<Config>,
    /// The label sets of `config`'s checks, built on first use.
    pub labels: &'a LabelCache,
    /// `None` until the store is loaded: there is no state to report yet,
    /// and exporting zeros would look like "never succeeded".
    pub state: Option<&'a StateSnapshot>,
    pub rejections: &'a Rejected,
    pub now: f64,
    /// `--web.external-url` without its trailing slash, or "" (then
    /// `deadman_check_info` has no `url`).
    pub base: &'a str,
    /// `--web.exposition.all-series`: zeros of every counter and run
    /// series included.
    pub all_series: bool,
    /// The previous body's size, so the buffer is allocated once.
    pub size_hint: usize,
    /// Asked between families: true when this render has been replaced
    /// (see [`crate::web::background_thread`]) and should stop.
    pub abandoned: &'a dyn Fn() -> bool,
}

/// Renders the exporter's own and process metrics from the registry, then
/// every per-check family, and gzips the result when asked.
pub fn render(scrape: &Scrape<'_>, gzip: bool) -> Result<Exposition, String> {
    let families = scrape.registry.gather();
    let mut text =
        crate::allocator::large_buffer(scrape.size_hint + scrape.size_hint / 16 + 16 * 1024);
    TextEncoder::new()
        .encode(&families, &mut text)
        .map_err(|e| format!("encoding metrics: {e}"))?;
    write_checks(scrape, &mut text)?;
    if !gzip {
        return Ok(Exposition {
            text_len: text.len(),
            body: text,
            gzipped: false,
        });
    }
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(text.len() / 8),
        flate2::Compression::new(GZIP_LEVEL),
    );
    encoder
        .write_all(&text)
        .and_then(|_| encoder.finish())
        .map(|body| Exposition {
            body,
            gzipped: true,
            text_len: text.len(),
        })
        .map_err(|e| format!("compressing metrics: {e}"))
}

/// Appends every per-check family to `out`, family by family, each over
/// every check in name order; `Err` when the render was abandoned.
fn write_checks(scrape: &Scrape<'_>, out: &mut Vec<u8>) -> Result<(), String> {
    let config = scrape.config;
    Sink::new(out, CHECKS, 0.0, false).sample("", config.checks.len() as f64);
    let Some(state) = scrape.state else {
        return Ok(());
    };
    let labels = scrape.labels.get(config, scrape.base);
    let now = scrape.now;
    let rows: Vec<Row<'_>> = (config.checks_by_name().enumerate())
        .filter_map(|(i, check)| {
            let view = state.get(&check.name)?;
            Some(Row {
                check,
                view,
                labels: labels.check(i, check),
                rejected: scrape.rejections.get(&check.name),
                volume: (check.volume.as_ref())
                    .map(|v| v.view(&view.record_events, view.state.first_configured, now)),
                ratio: (check.failure_ratio.as_ref()).map(|r| r.view(&view.run_buckets, now)),
            })
        })
        .collect();
    for family in &FAMILIES {
        if (scrape.abandoned)() {
            return Err("the render was abandoned for another attempt".to_string());
        }
        let mut sink = Sink::new(
            out,
            (family.name, family.help, family.kind),
            now,
            scrape.all_series,
        );
        for row in &rows {
            (family.write)(&mut sink, row);
        }
    }
    Ok(())
}
