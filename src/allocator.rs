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
//!
//! Elsewhere (musl, other systems) both are no-ops.

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
