//! What this binary is: the crate version and the git revision it was
//! built from (set by `build.rs`).

/// The crate version, as in `Cargo.toml`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git revision this binary was built from.
pub const REVISION: &str = env!("DEADMAN_REVISION");
