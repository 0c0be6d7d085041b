//! Two settings of glibc's allocator for a server whose large allocations
//! come and go: a scrape's body (megabytes, every scrape) and a config
//! parse's temporary tree (tens of megabytes, at startup and on reload).
//!
//! * Blocks from 256 KiB up are always mapped on their own and returned to
//!   the system when freed. By default glibc raises that threshold to the
//!   size of the last such block freed (up to 32 MiB); after the first
//!   scrape, bodies came from the heap and stayed resident between scrapes.
//! * After a config is read, freed memory is handed back ([`trim`]):
//!   otherwise the parser's tree stays resident for the process's life.
//! * A scrape's body is a fresh mapping each time, so filling it faults in
//!   every page: one fault per 4 KiB was a third of a scrape's CPU. Its
//!   buffer ([`large_buffer`]) asks for huge pages (where transparent huge
//!   pages are `madvise`d, the default), a fault per 2 MiB.
//!
//! Elsewhere (musl, other systems) these are no-ops.

/// Applies the threshold; call once, before other threads start.
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a malloc parameter; called at startup.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

/// Returns freed heap memory to the system.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; safe at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// An empty buffer of at least `capacity` bytes, for a large output that
/// is built once and then freed (a scrape's body).
pub fn large_buffer(capacity: usize) -> Vec<u8> {
    let buffer = Vec::with_capacity(capacity);
    #[cfg(target_os = "linux")]
    if capacity >= HUGE_PAGE {
        const PAGE: usize = 4096;
        let start = buffer.as_ptr() as usize;
        let first = start.next_multiple_of(PAGE);
        let end = (start + capacity) & !(PAGE - 1);
        if end > first {
            // SAFETY: the range lies inside the buffer's own allocation;
            // MADV_HUGEPAGE only changes how its pages are backed, and a
            // refusal (no THP in this kernel) is harmless.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
            }
        }
    }
    buffer
}

/// Below this a huge page cannot be used.
#[cfg(target_os = "linux")]
const HUGE_PAGE: usize = 2 * 1024 * 1024;
