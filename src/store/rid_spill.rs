//! The older part of the rid index ([`super::rid_index`]), kept on disk so
//! that a remembered rid costs about a byte of memory instead of twenty.
//!
//! The index hands over its in-memory entries (a rid's keyed 64-bit hash
//! and its packed journal position and check) in hash order, a batch at a
//! time. Each batch becomes a **run**: a file of fixed-size entries in hash
//! order, read with positioned reads, so the kernel's page cache holds it
//! rather than the process (and may write it out under memory pressure).
//! Runs are merged two at a time like the digits of a binary counter, so
//! there are at most about log2(entries / batch) of them; a merge drops the
//! entries the index has forgotten since. One **Bloom filter** over every
//! run answers "certainly not on disk" for almost every new rid without a
//! read; the few it lets through cost one page read per run.
//!
//! The files are scratch, not storage: created in the storage directory and
//! unlinked at once (so a crash leaves nothing behind), and rebuilt from
//! the store's own rows at every start. Nothing here needs fsync.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::sorted_merge::merge_by;

/// One remembered rid: its keyed hash, and the index's packing of its
/// journal sequence number and check (opaque here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub hash: u64,
    pub packed: u64,
}

const ENTRY_BYTES: usize = 16;
/// Entries per block: a block is one page, the unit of a lookup's read.
const BLOCK_ENTRIES: usize = 256;
const BLOCK_BYTES: usize = BLOCK_ENTRIES * ENTRY_BYTES;
/// Bloom filter bits per entry it is sized for: about 3% false positives
/// (a blocked filter with 5 probes at 8 bits an entry).
const BLOOM_BITS_PER_ENTRY: u64 = 8;
const BLOOM_PROBES: u32 = 5;
/// Entries the smallest filter is sized for.
const BLOOM_MIN_CAPACITY: u64 = 1 << 16;
/// Buffer for writing and merging runs.
const IO_BUFFER: usize = 64 * 1024;

/// Every run, newest last, and the filter over all of them.
pub struct Spill {
    /// Where run files are made (the storage directory).
    dir: PathBuf,
    /// Oldest (largest) first; a new run is pushed at the end.
    runs: Vec<Run>,
    bloom: Bloom,
    /// Names new run files, unique within this process.
    next_file: u64,
}

/// One sorted, unlinked file of entries.
struct Run {
    file: File,
    len: u64,
    /// The hash of the first entry of every block, to find the block a
    /// hash is in without reading.
    fences: Vec<u64>,
}

impl Spill {
    /// An empty spill whose runs live in `dir`. Removes run files an
    /// earlier process left (only possible if it died between creating
    /// one and unlinking it).
    pub fn new(dir: &Path) -> Spill {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                if name.to_string_lossy().starts_with(FILE_PREFIX) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Spill {
            dir: dir.to_path_buf(),
            runs: Vec::new(),
            bloom: Bloom::for_capacity(BLOOM_MIN_CAPACITY),
            next_file: 0,
        }
    }

    /// Entries on disk, including forgotten ones not yet merged away.
    pub fn entries(&self) -> u64 {
        self.runs.iter().map(|run| run.len).sum()
    }

    #[cfg(test)]
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// Adds `entries` (in order) that `keep` accepts, as a new run, then
    /// merges runs as needed. On an error nothing changes: the caller
    /// still holds the entries. Once the run is written the entries are
    /// the spill's: a failed merge or filter rebuild afterwards only leaves
    /// more runs, or a filter with more false positives, and is logged.
    pub fn add(&mut self, entries: &[Entry], keep: &dyn Fn(u64) -> bool) -> io::Result<()> {
        debug_assert!(entries.windows(2).all(|w| w[0] <= w[1]));
        let file = self.create_file()?;
        let run = write_run(file, &mut entries.iter().copied().map(Ok), keep)?;
        if run.len == 0 {
            return Ok(());
        }
        for entry in entries.iter().filter(|e| keep(e.packed)) {
            self.bloom.insert(entry.hash);
        }
        self.runs.push(run);
        if let Err(err) = self.merge_runs(keep) {
            tracing::warn!(error = %err, runs = self.runs.len(), "cannot merge the run ids kept on disk");
        }
        if self.bloom.items > self.bloom.capacity {
            if let Err(err) = self.rebuild_bloom() {
                tracing::warn!(error = %err, "cannot rebuild the filter of the run ids kept on disk");
            }
        }
        Ok(())
    }

    /// Merges while the newest run is at least half its elder's size, so
    /// sizes at least halve from the oldest run to the newest.
    fn merge_runs(&mut self, keep: &dyn Fn(u64) -> bool) -> io::Result<()> {
        while self.newest_two_should_merge() {
            let file = self.create_file()?;
            let [.., older, newer] = self.runs.as_slice() else {
                break;
            };
            let merged = write_run(
                file,
                &mut merge_by(RunReader::new(older), RunReader::new(newer), |e| *e),
                keep,
            )?;
            self.runs.truncate(self.runs.len() - 2);
            if merged.len > 0 {
                self.runs.push(merged);
            }
        }
        Ok(())
    }

    /// Appends to `out` the packed value of every entry with `hash`.
    pub fn find(&self, hash: u64, out: &mut Vec<u64>) -> io::Result<()> {
        if self.runs.is_empty() || !self.bloom.may_contain(hash) {
            return Ok(());
        }
        let mut block = vec![0u8; BLOCK_BYTES];
        for run in &self.runs {
            run.find(hash, &mut block, out)?;
        }
        Ok(())
    }

    /// A filter sized for the entries on disk now (half as many again, so
    /// that it is not rebuilt at once), from every run.
    fn rebuild_bloom(&mut self) -> io::Result<()> {
        let mut bloom = Bloom::for_capacity((self.entries() * 3 / 2).max(BLOOM_MIN_CAPACITY));
        for run in &self.runs {
            for entry in RunReader::new(run) {
                bloom.insert(entry?.hash);
            }
        }
        self.bloom = bloom;
        Ok(())
    }

    fn newest_two_should_merge(&self) -> bool {
        matches!(self.runs.as_slice(), [.., older, newer] if newer.len * 2 >= older.len)
    }

    /// A new file in the directory, already unlinked: the open handle
    /// keeps its data until dropped.
    fn create_file(&mut self) -> io::Result<File> {
        let path = self.dir.join(format!(
            "{FILE_PREFIX}{}-{}.tmp",
            std::process::id(),
            self.next_file
        ));
        self.next_file += 1;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        std::fs::remove_file(&path)?;
        Ok(file)
    }
}

/// Writes the `entries` that `keep` accepts to `file`, as a run.
fn write_run(
    file: File,
    entries: &mut dyn Iterator<Item = io::Result<Entry>>,
    keep: &dyn Fn(u64) -> bool,
) -> io::Result<Run> {
    let mut out = BufWriter::with_capacity(IO_BUFFER, &file);
    let mut len = 0u64;
    let mut fences = Vec::new();
    for entry in entries {
        let entry = entry?;
        if !keep(entry.packed) {
            continue;
        }
        if len.is_multiple_of(BLOCK_ENTRIES as u64) {
            fences.push(entry.hash);
        }
        out.write_all(&entry.hash.to_le_bytes())?;
        out.write_all(&entry.packed.to_le_bytes())?;
        len += 1;
    }
    out.flush()?;
    drop(out);
    fences.shrink_to_fit();
    Ok(Run { file, len, fences })
}

const FILE_PREFIX: &str = "deadman-rids-";

impl Run {
    fn find(&self, hash: u64, block: &mut [u8], out: &mut Vec<u64>) -> io::Result<()> {
        // Entries with `hash` start in the last block whose first entry is
        // below it (or in the first block), and may run on past it.
        let mut index = self.fences.partition_point(|&f| f < hash).saturating_sub(1);
        while index < self.fences.len() {
            let first = index as u64 * BLOCK_ENTRIES as u64;
            let count = (self.len - first).min(BLOCK_ENTRIES as u64) as usize;
            let bytes = &mut block[..count * ENTRY_BYTES];
            self.file.read_exact_at(bytes, first * ENTRY_BYTES as u64)?;
            for raw in bytes.chunks_exact(ENTRY_BYTES) {
                let entry = decode(raw);
                if entry.hash > hash {
                    return Ok(());
                }
                if entry.hash == hash {
                    out.push(entry.packed);
                }
            }
            index += 1;
        }
        Ok(())
    }
}

fn decode(raw: &[u8]) -> Entry {
    let mut hash = [0u8; 8];
    let mut packed = [0u8; 8];
    hash.copy_from_slice(&raw[..8]);
    packed.copy_from_slice(&raw[8..16]);
    Entry {
        hash: u64::from_le_bytes(hash),
        packed: u64::from_le_bytes(packed),
    }
}

/// Reads a run front to back through a buffer.
struct RunReader<'a> {
    run: &'a Run,
    /// The next entry to read from the file.
    next: u64,
    buffer: Vec<u8>,
    /// The next unread byte in `buffer`.
    at: usize,
}

impl<'a> RunReader<'a> {
    fn new(run: &'a Run) -> RunReader<'a> {
        RunReader {
            run,
            next: 0,
            buffer: Vec::new(),
            at: 0,
        }
    }

    fn read_next(&mut self) -> io::Result<Option<Entry>> {
        if self.at == self.buffer.len() {
            let left = self.run.len - self.next;
            if left == 0 {
                return Ok(None);
            }
            let count = left.min((IO_BUFFER / ENTRY_BYTES) as u64);
            self.buffer.resize(count as usize * ENTRY_BYTES, 0);
            self.run
                .file
                .read_exact_at(&mut self.buffer, self.next * ENTRY_BYTES as u64)?;
            self.next += count;
            self.at = 0;
        }
        let entry = decode(&self.buffer[self.at..self.at + ENTRY_BYTES]);
        self.at += ENTRY_BYTES;
        Ok(Some(entry))
    }
}

impl Iterator for RunReader<'_> {
    type Item = io::Result<Entry>;

    fn next(&mut self) -> Option<io::Result<Entry>> {
        self.read_next().transpose()
    }
}

/// A blocked Bloom filter: every probe of a hash falls in one 64-byte
/// block, so a lookup costs one cache miss.
struct Bloom {
    blocks: Vec<[u64; 8]>,
    /// Entries it was sized for...
    capacity: u64,
    /// ...and entries inserted: past the capacity it is rebuilt larger.
    items: u64,
}

impl Bloom {
    fn for_capacity(capacity: u64) -> Bloom {
        let blocks = (capacity * BLOOM_BITS_PER_ENTRY).div_ceil(512).max(1);
        Bloom {
            blocks: vec![[0; 8]; blocks as usize],
            capacity,
            items: 0,
        }
    }

    /// The block and the bits within it for `hash` (a keyed hash already:
    /// its high bits pick the block, a remix of it the bits).
    fn probes(&self, hash: u64) -> (usize, impl Iterator<Item = usize>) {
        let block = ((hash as u128 * self.blocks.len() as u128) >> 64) as usize;
        let mut bits = hash ^ (hash >> 31);
        bits = bits.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        bits ^= bits >> 27;
        (
            block,
            (0..BLOOM_PROBES).map(move |i| ((bits >> (i * 9)) & 511) as usize),
        )
    }

    fn insert(&mut self, hash: u64) {
        let (block, bits) = self.probes(hash);
        let words = &mut self.blocks[block];
        for bit in bits {
            words[bit / 64] |= 1 << (bit % 64);
        }
        self.items += 1;
    }

    fn may_contain(&self, hash: u64) -> bool {
        let (block, mut bits) = self.probes(hash);
        let words = &self.blocks[block];
        bits.all(|bit| words[bit / 64] & (1 << (bit % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(hashes: impl IntoIterator<Item = u64>) -> Vec<Entry> {
        let mut v: Vec<Entry> = hashes
            .into_iter()
            .map(|h| Entry {
                hash: h.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                packed: h,
            })
            .collect();
        v.sort();
        v
    }

    fn found(spill: &Spill, hash: u64) -> Vec<u64> {
        let mut out = Vec::new();
        spill.find(hash, &mut out).expect("read");
        out.sort();
        out
    }

    #[test]
    fn finds_every_entry_across_merges_and_drops_what_is_no_longer_kept() {
        let dir = tempfile::tempdir().expect("dir");
        let mut spill = Spill::new(dir.path());
        let keep_all = |_: u64| true;
        for batch in 0..9u64 {
            let batch = entries(batch * 1000..batch * 1000 + 1000);
            spill.add(&batch, &keep_all).expect("add");
        }
        assert_eq!(spill.entries(), 9000);
        assert!(spill.runs() <= 4, "{} runs", spill.runs());
        for h in [0u64, 999, 4321, 8999] {
            assert_eq!(found(&spill, h.wrapping_mul(0x9e37_79b9_7f4a_7c15)), [h]);
        }
        assert!(found(&spill, 12345).is_empty());
        // The files are unlinked: nothing is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
    }

    #[test]
    fn a_merge_drops_the_entries_no_longer_kept() {
        let dir = tempfile::tempdir().expect("dir");
        let mut spill = Spill::new(dir.path());
        spill.add(&entries(0..1000), &|_| true).expect("add");
        let even = |packed: u64| packed.is_multiple_of(2);
        spill.add(&entries(1000..2000), &even).expect("add");
        assert_eq!(spill.runs(), 1, "equal halves merge");
        assert_eq!(spill.entries(), 1000);
        let at = |h: u64| h.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        assert_eq!(found(&spill, at(10)), [10]);
        assert_eq!(found(&spill, at(1500)), [1500]);
        assert!(found(&spill, at(11)).is_empty());
        assert!(found(&spill, at(1501)).is_empty());
    }

    #[test]
    fn equal_hashes_across_block_edges_are_all_found() {
        let dir = tempfile::tempdir().expect("dir");
        let mut spill = Spill::new(dir.path());
        let mut batch: Vec<Entry> = (0..(BLOCK_ENTRIES as u64 * 3))
            .map(|i| Entry {
                hash: if (200..700).contains(&i) {
                    42
                } else {
                    i * 1000
                },
                packed: i,
            })
            .collect();
        batch.sort();
        spill.add(&batch, &|_| true).expect("add");
        assert_eq!(found(&spill, 42), (200..700).collect::<Vec<u64>>());
        assert_eq!(found(&spill, 0), [0]);
        assert!(found(&spill, 41).is_empty());
    }

    #[test]
    fn the_filter_lets_few_absent_hashes_through() {
        let mut bloom = Bloom::for_capacity(100_000);
        let hash = |i: u64| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i << 7);
        for i in 0..100_000 {
            bloom.insert(hash(i));
        }
        assert!((0..100_000).all(|i| bloom.may_contain(hash(i))));
        let false_positives = (100_000..200_000)
            .filter(|i| bloom.may_contain(hash(*i)))
            .count();
        assert!(false_positives < 5_000, "{false_positives} of 100,000");
    }

    #[test]
    fn leftover_files_of_a_dead_process_are_removed() {
        let dir = tempfile::tempdir().expect("dir");
        let left = dir.path().join("deadman-rids-1-0.tmp");
        std::fs::write(&left, b"x").expect("write");
        let other = dir.path().join("deadman.db");
        std::fs::write(&other, b"x").expect("write");
        let _spill = Spill::new(dir.path());
        assert!(!left.exists());
        assert!(other.exists());
    }
}
