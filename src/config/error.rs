//! [`ConfigError`]: why a config was rejected, in a sentence that names the
//! check, its line and the field; and [`ErrorList`], which gathers every
//! such sentence so that one `check-config` run reports them all.

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
        /// `check "name" (line N)`, `check #N (line N)`, `[defaults]`, `[storage]`
        /// or `[badges]`.
        location: String,
        /// The offending key.
        field: String,
        /// A plain sentence saying what is wrong.
        message: String,
    },
    /// The file has no `[[check]]` and does not say `allow_no_checks = true`:
    /// loading it would silently stop every alert, and a truncated file or
    /// a wrong path looks exactly like that.
    NoChecks,
    /// Two or more `Invalid`/`NoChecks` errors, in the order they are
    /// found: `[defaults]`, `[storage]`, `[badges]`, then the checks in file
    /// order.
    /// Never nested and never fewer than two; a single error is itself.
    Many(Vec<ConfigError>),
}

impl ConfigError {
    /// Every error on its own: the list of a `Many`, or this one.
    pub fn each(&self) -> &[ConfigError] {
        match self {
            ConfigError::Many(errors) => errors,
            one => std::slice::from_ref(one),
        }
    }
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
            ConfigError::NoChecks => f.write_str(
                "no checks are configured (the file has no [[check]]), so nothing would be \
                 watched; if that is intended, put allow_no_checks = true at the top of the file",
            ),
            // One per line: each already names its check, line and field.
            ConfigError::Many(errors) => {
                for (i, err) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{err}")?;
                }
                Ok(())
            }
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

/// Errors gathered while validation goes on past them, so that one run
/// reports every field that is wrong rather than only the first.
#[derive(Default)]
pub(crate) struct ErrorList(Vec<ConfigError>);

impl ErrorList {
    /// Records an error; a `Many` is recorded as its parts, so that lists
    /// from nested validators never nest.
    pub(crate) fn push(&mut self, err: ConfigError) {
        match err {
            ConfigError::Many(errors) => self.0.extend(errors),
            one => self.0.push(one),
        }
    }

    /// The value, or `None` once its error is recorded.
    pub(crate) fn take<T>(&mut self, result: Result<T, ConfigError>) -> Option<T> {
        result.map_err(|err| self.push(err)).ok()
    }

    /// An optional field, parsed: `None` when unset, or when invalid once
    /// its error is recorded.
    pub(crate) fn optional<R, T>(
        &mut self,
        raw: Option<R>,
        parse: impl FnOnce(R) -> Result<T, ConfigError>,
    ) -> Option<T> {
        self.take(raw.map(parse).transpose()).flatten()
    }

    /// `value` if nothing was recorded; otherwise the error, or `Many`.
    pub(crate) fn finish<T>(mut self, value: T) -> Result<T, ConfigError> {
        match self.0.len() {
            0 => Ok(value),
            1 => Err(self.0.remove(0)),
            _ => Err(ConfigError::Many(self.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_error_is_itself_and_many_are_one_per_line_never_nested() {
        let a = || invalid("check \"a\" (line 1)", "owner", "missing");
        let mut one = ErrorList::default();
        one.push(a());
        let one = one.finish(()).expect_err("an error");
        assert!(matches!(one, ConfigError::Invalid { .. }));
        assert_eq!(one.each().len(), 1);

        let b = || invalid("check \"b\" (line 5)", "every", "missing");
        let mut inner = ErrorList::default();
        inner.push(a());
        inner.push(b());
        let mut outer = ErrorList::default();
        outer.push(a());
        assert_eq!(outer.take(inner.finish(())), None);
        let many = outer.finish(()).expect_err("errors");
        assert_eq!(many.each().len(), 3, "flattened");
        assert_eq!(
            many.to_string().lines().collect::<Vec<_>>(),
            [a().to_string(), a().to_string(), b().to_string()]
        );
        assert_eq!(ErrorList::default().finish(7).ok(), Some(7));
    }
}
