//! [`Inputs`]: what a config was read from (the file's text and every token
//! file), as digests, so a reload of files that did not change can skip
//! parsing. A burst of SIGHUPs from a config-management run then costs a
//! few reads, not a parse of 100,000 checks each.

use std::path::PathBuf;

use super::secrets::{digest, read_token_file};

/// Digests of a config's sources; never the secrets themselves.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Inputs {
    /// SHA-256 of the config file's text.
    text: [u8; 32],
    /// Every `token_file` read, with the SHA-256 of what it held.
    token_files: Vec<(PathBuf, [u8; 32])>,
}

impl Inputs {
    pub(super) fn new(text: &str, token_files: Vec<(PathBuf, [u8; 32])>) -> Inputs {
        Inputs {
            text: digest(text.as_bytes()),
            token_files,
        }
    }

    /// Whether `text` and every token file still hold what this config was
    /// built from. `token_env` needs no check: a process's environment does
    /// not change under it.
    pub fn unchanged(&self, text: &str) -> bool {
        digest(text.as_bytes()) == self.text
            && self.token_files.iter().all(|(path, was)| {
                read_token_file(path).is_ok_and(|now| digest(now.as_bytes()) == *was)
            })
    }
}
