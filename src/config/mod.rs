//! The config file: raw TOML (serde, unknown keys rejected) turned into a
//! validated [`Config`], with errors that name the check, the field and what
//! was wrong in a plain sentence.
//!
//! Validation goes on past an error, so one run reports every error it can
//! find (a TOML syntax error stops it: nothing after it can be read).
//!
//! * this file — [`Config`]: loading, reloading, and the lookups handlers use;
//! * `raw` — the file's shapes as serde reads them; `validate` — those
//!   turned into checks, `[storage]` and the other tables; `pieces` — a
//!   large file read in parallel pieces;
//! * [`check`] — the validated [`Check`] and its value types;
//! * `defaults` — `[defaults]`; `fields` — one parser per field;
//!   `expectations` — `[check.volume]` and `[[check.expiry]]`;
//!   `assertions` — `[[check.value]]`, failure thresholds and ratios,
//!   `min_runtime`, and pauses;
//! * [`secrets`] — a check's token, and whether secrets are read;
//!   `badges` — `[badges]`, the secret public badge keys come from;
//! * [`error`] — [`ConfigError`], and the list that gathers them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::auth::Token;

mod assertions;
mod badges;
mod check;
mod defaults;
mod error;
mod expectations;
mod fields;
mod inputs;
mod pieces;
mod rate_limit;
mod raw;
mod secrets;
mod source;
mod validate;
// Re-exports for users of the module. The files inside `config/` import
// from each other directly, never through this file, so the module graph
// has no cycles.
pub use check::{Check, Methods, Severity, StorageSettings};
pub use error::ConfigError;
pub use fields::valid_check_name;
pub use inputs::Inputs;
pub use rate_limit::{RateLimit, DEFAULT_RATE_LIMIT};
pub use secrets::Secrets;
pub use source::MAX_CONFIG_BYTES;

use source::read_bounded;
use validate::{validate_file, Validated};

/// A validated configuration. Cheap to share: handlers hold an `Arc<Config>`
/// for the duration of one request, so a reload never changes a config under
/// a request that is using it.
#[derive(Debug)]
pub struct Config {
    /// Checks in file order (the order the landing page and docs use).
    pub checks: Vec<Arc<Check>>,
    /// Name → position in `checks`, for O(1) lookup on every ping.
    index: HashMap<String, usize, crate::name_hash::NameHash>,
    /// Positions in `checks` in name order, for scrapes.
    by_name: Vec<usize>,
    /// How much history is kept, and for how long removed checks are kept.
    pub storage: StorageSettings,
    /// `[badges]`: with it, badge URLs carry a key made with its secret and
    /// are served without basic auth; without it, badges need basic auth
    /// like every page.
    pub badges: Option<crate::badge_key::BadgeKeys>,
    /// Digests of the file and token files this was read from.
    pub inputs: Inputs,
}

impl Config {
    /// Reads and validates a config file, reading the secrets it names.
    /// Relative `token_file` paths are resolved against the config file's
    /// directory, as Prometheus does. Files over [`MAX_CONFIG_BYTES`] are
    /// refused before they are read whole, so a path to an endless file
    /// (`/dev/zero`, a FIFO) cannot exhaust memory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with(path, Secrets::Read)
    }

    /// [`Config::load`], reading token files and variables or not.
    pub fn load_with(path: &Path, secrets: Secrets) -> Result<Config, ConfigError> {
        let text = read_bounded(path)?;
        let base_dir = path.parent().unwrap_or(Path::new("."));
        Config::parse_with(&text, base_dir, secrets)
    }

    /// Validates config text; `base_dir` anchors relative file paths.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Config, ConfigError> {
        Config::parse_with(text, base_dir, Secrets::Read)
    }

    /// [`Config::parse`], reading token files and variables or not. Every
    /// error found is returned, as a [`ConfigError::Many`] when there are
    /// several.
    pub fn parse_with(
        text: &str,
        base_dir: &Path,
        secrets: Secrets,
    ) -> Result<Config, ConfigError> {
        if let Some(parts) = pieces::read(text, base_dir, secrets) {
            let config = Config::assemble(parts, text);
            // A name used twice is an error, reported by the whole read.
            if config.index.len() == config.checks.len() {
                return Ok(config);
            }
        }
        Config::parse_whole(text, base_dir, secrets)
    }

    /// [`Config::parse_with`] on the whole text at once, on one thread:
    /// what every file with an error (and every small one) goes through.
    fn parse_whole(text: &str, base_dir: &Path, secrets: Secrets) -> Result<Config, ConfigError> {
        let raw = raw::read_file(text)?;
        let parts = validate_file(raw, text, base_dir, secrets)?;
        Ok(Config::assemble(parts, text))
    }

    /// A config of validated parts; `text` is what they were read from.
    fn assemble(parts: Validated, text: &str) -> Config {
        let Validated {
            checks,
            storage,
            badges,
            token_files,
        } = parts;
        let index = (checks.iter().enumerate())
            .map(|(i, check)| (check.name.clone(), i))
            .collect();
        let mut by_name: Vec<usize> = (0..checks.len()).collect();
        by_name.sort_by(|&a, &b| checks[a].name.cmp(&checks[b].name));
        Config {
            checks,
            index,
            by_name,
            storage,
            badges,
            inputs: Inputs::new(text, token_files),
        }
    }

    /// Re-reads `path` for a reload: `None` if the file and every token
    /// file `previous` was read from are unchanged (nothing to parse).
    pub fn load_if_changed(path: &Path, previous: &Config) -> Result<Option<Config>, ConfigError> {
        let text = read_bounded(path)?;
        if previous.inputs.unchanged(&text) {
            return Ok(None);
        }
        let base_dir = path.parent().unwrap_or(Path::new("."));
        Config::parse_with(&text, base_dir, Secrets::Read).map(Some)
    }

    /// Checks in name order.
    pub fn checks_by_name(&self) -> impl Iterator<Item = &Arc<Check>> {
        self.by_name.iter().map(|&i| &self.checks[i])
    }

    /// The configured check with this name.
    pub fn check(&self, name: &str) -> Option<&Arc<Check>> {
        self.index.get(name).map(|&i| &self.checks[i])
    }

    /// Checks whose token is shorter than [`crate::auth::MIN_TOKEN_CHARS`]:
    /// `check-config` warns, `--strict` fails. Names only, never tokens.
    pub fn weak_tokens(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|check| check.token.as_ref().is_some_and(Token::is_short))
            .map(|check| {
                format!(
                    "check {:?}: its token is shorter than {} characters and can be guessed; \
                     generate one with `openssl rand -hex 32`",
                    check.name,
                    crate::auth::MIN_TOKEN_CHARS
                )
            })
            .collect()
    }

    /// Checks whose `paused_until` has passed at `now`. That is valid (the
    /// pause is over and the check is watched again) but the keys were
    /// probably left behind: `check-config` and every load warn about them.
    pub fn ended_pauses(&self, now: f64) -> Vec<String> {
        assertions::ended_pauses(&self.checks, now)
    }

    /// How many checks have a token that was not read (loaded with
    /// [`Secrets::Skip`]), so [`Config::weak_tokens`] cannot judge them.
    pub fn unread_tokens(&self) -> usize {
        (self.checks.iter())
            .filter(|check| check.token.as_ref().is_some_and(Token::is_unread))
            .count()
    }

    /// What `check-config --strict` rejects: checks a new owner could not
    /// act on, because they lack a description, a runbook or recovery steps.
    pub fn documentation_gaps(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter_map(|check| {
                let missing: Vec<&str> = [
                    ("description", &check.description),
                    ("runbook", &check.runbook),
                    ("recovery", &check.recovery),
                ]
                .into_iter()
                .filter(|(_, value)| value.trim().is_empty())
                .map(|(key, _)| key)
                .collect();
                (!missing.is_empty())
                    .then(|| format!("check {:?}: missing {}", check.name, missing.join(", ")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
