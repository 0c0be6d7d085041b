//! [`ConfigError`]: why a config was rejected, in a sentence that names the
//! check, its line and the field.

use std::fmt;
use std::path::PathBuf;

/// Why a config was rejected.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Read(PathBuf, std::io::Error),
    /// The file is larger than [`crate::config::MAX_CONFIG_BYTES`].
    TooLarge(PathBuf),
    /// Not valid TOML, or a key that does not belong; the message carries
    /// the parser's line and column.
    Syntax(String),
    /// Valid TOML that does not describe a valid config.
    Invalid {
        /// `check "name" (line N)`, `check #N (line N)`, `[defaults]` or `[storage]`.
        location: String,
        /// The offending key.
        field: String,
        /// A plain sentence saying what is wrong.
        message: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read(path, err) => write!(f, "cannot read {}: {err}", path.display()),
            ConfigError::TooLarge(path) => write!(
                f,
                "{} is larger than 64 MiB, the most deadman reads as a config; is it the right file?",
                path.display()
            ),
            ConfigError::Syntax(message) => f.write_str(message.trim_end()),
            ConfigError::Invalid {
                location,
                field,
                message,
            } => write!(f, "{location}: {field}: {message}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The error for a field that is present but wrong.
pub(crate) fn invalid(location: &str, field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        location: location.to_string(),
        field: field.to_string(),
        message: message.into(),
    }
}
