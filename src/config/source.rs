//! Reading the config file: bounded in size, with the source positions
//! its errors name, and with secrets kept out of the parser's messages.

use std::path::Path;

use super::error::ConfigError;

/// The largest config file read: far beyond any real one (100,000 checks
/// take about 7 MB).
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024 * 1024;

pub(super) fn read_bounded(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read as _;
    let read_error = |e| ConfigError::Read(path.to_path_buf(), e);
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge(path.to_path_buf()));
    }
    String::from_utf8(bytes).map_err(|_| {
        read_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })
}

/// The TOML parser's message quotes the offending source line; where that
/// line sets `token` (or `[badges]` `secret`), its value is replaced (line
/// and column stay), so a syntax error never echoes a secret into a log or
/// a `/-/reload` body.
pub(super) fn redact_token_lines(message: &str) -> String {
    message
        .lines()
        .map(|line| match line.split_once(" | ") {
            Some((gutter, source))
                if gutter.trim().chars().all(|c| c.is_ascii_digit()) && is_token_line(source) =>
            {
                let key = source.split('=').next().unwrap_or_default();
                format!("{gutter} | {key}= <redacted>")
            }
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_token_line(source: &str) -> bool {
    source
        .split_once('=')
        .is_some_and(|(key, _)| matches!(key.trim().trim_matches('"'), "token" | "secret"))
}

/// Byte offset → 1-based line number.
pub(super) struct LineIndex {
    newlines: Vec<usize>,
}

impl LineIndex {
    pub(super) fn new(text: &str) -> Self {
        LineIndex {
            newlines: text.match_indices('\n').map(|(i, _)| i).collect(),
        }
    }

    pub(super) fn line_of(&self, offset: usize) -> usize {
        self.newlines.partition_point(|&nl| nl < offset) + 1
    }
}
