//! A secret from exactly one of an inline key, a file and an environment
//! variable: a check's ping token (`token`, `token_file`, `token_env`) and
//! the badge secret (`secret`, `secret_file`, `secret_env`); and
//! [`Secrets`], whether loading reads the file or the variable. Error
//! messages name the source, never the secret.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::{invalid, ConfigError};
use crate::auth::Token;

/// SHA-256 of a file's bytes: a reload compares digests to see whether
/// the config or a token file changed.
pub(super) fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Whether loading a config reads the secrets its token sources name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Secrets {
    /// Read every `token_file` and `token_env`: what the exporter does.
    #[default]
    Read,
    /// Check only how each source is written and read no file or variable
    /// (`--no-secrets`), so CI can lint a config whose secrets it does not
    /// hold. Such tokens are [`Token::unread`]; an inline `token` is part of
    /// the file and is still read.
    Skip,
}

/// The largest token file read: a token is a line, so this is generous; a
/// `token_file` pointing at `/dev/zero` or a log must not exhaust memory.
const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;

/// Loads tokens for one config file.
#[derive(Clone, Copy)]
pub(super) struct TokenLoader<'a> {
    /// Relative `token_file` paths are relative to the config file's
    /// directory, as in Prometheus, not to the working directory.
    pub base_dir: &'a Path,
    /// Whether files and variables are read.
    pub secrets: Secrets,
    /// Every token file read, with a digest of its contents, for the
    /// config's [`super::Inputs`].
    pub read: &'a RefCell<Vec<(PathBuf, [u8; 32])>>,
}

/// The three keys of one kind of secret, for reading it and for messages.
pub(super) struct SecretKeys {
    /// The inline key (`token`), also the word messages use for the secret.
    pub inline: &'static str,
    /// The key naming a file (`token_file`).
    pub file: &'static str,
    /// The key naming an environment variable (`token_env`).
    pub env: &'static str,
    /// A variable name for messages to suggest.
    pub example_env: &'static str,
    /// Whether the table needs one of the three ("exactly one" in the
    /// message for several) or may have none ("at most one").
    pub required: bool,
}

/// A check's (or `[defaults]`') ping token.
pub(super) const TOKEN: SecretKeys = SecretKeys {
    inline: "token",
    file: "token_file",
    env: "token_env",
    example_env: "DEADMAN_TOKEN",
    required: false,
};

/// A secret as loaded.
pub(super) enum Secret {
    /// Its text, held only until it is digested or keyed.
    Read(String),
    /// It lives in a file or variable that was not read ([`Secrets::Skip`]).
    Unread,
}

impl TokenLoader<'_> {
    /// The token from exactly one of `inline`, `file` and `env`, if any.
    pub(super) fn load(
        &self,
        location: &str,
        inline: Option<String>,
        file: Option<String>,
        env: Option<String>,
    ) -> Result<Option<Token>, ConfigError> {
        let secret = self.load_secret(&TOKEN, location, inline, file, env)?;
        Ok(secret.map(|secret| match secret {
            Secret::Read(text) => Token::new(&text),
            Secret::Unread => Token::unread(),
        }))
    }

    /// The secret from exactly one of `inline`, `file` and `env` (named
    /// by `keys`), if any.
    pub(super) fn load_secret(
        &self,
        keys: &SecretKeys,
        location: &str,
        inline: Option<String>,
        file: Option<String>,
        env: Option<String>,
    ) -> Result<Option<Secret>, ConfigError> {
        match (inline, file, env) {
            (None, None, None) => Ok(None),
            (Some(secret), None, None) if secret.is_empty() => {
                Err(invalid(location, keys.inline, "is empty"))
            }
            (Some(secret), None, None) => Ok(Some(Secret::Read(secret))),
            (None, Some(file), None) => self.file_secret(keys, location, &file).map(Some),
            (None, None, Some(var)) => self.env_secret(keys, location, &var).map(Some),
            _ => Err(invalid(
                location,
                keys.inline,
                format!(
                    "set {} one of {:?}, {:?} and {:?}",
                    if keys.required { "exactly" } else { "at most" },
                    keys.inline,
                    keys.file,
                    keys.env
                ),
            )),
        }
    }

    fn file_secret(
        &self,
        keys: &SecretKeys,
        location: &str,
        file: &str,
    ) -> Result<Secret, ConfigError> {
        // Joined to the base directory, "" would name the directory itself.
        if file.is_empty() {
            return Err(invalid(
                location,
                keys.file,
                format!(
                    "is empty; give the path of the file that holds the {}",
                    keys.inline
                ),
            ));
        }
        if self.secrets == Secrets::Skip {
            return Ok(Secret::Unread);
        }
        let path = self.base_dir.join(file);
        let text = read_token_file(&path).map_err(|why| {
            invalid(
                location,
                keys.file,
                format!("cannot read {}: {why}", path.display()),
            )
        })?;
        self.read
            .borrow_mut()
            .push((path.clone(), digest(text.as_bytes())));
        // Secret files usually end in a newline that is not part of the secret.
        let secret = text.trim_end_matches(['\r', '\n']);
        if secret.is_empty() {
            return Err(invalid(
                location,
                keys.file,
                format!("{} is empty", path.display()),
            ));
        }
        Ok(Secret::Read(secret.to_string()))
    }

    fn env_secret(
        &self,
        keys: &SecretKeys,
        location: &str,
        var: &str,
    ) -> Result<Secret, ConfigError> {
        // No environment can hold such a variable, set or not.
        if var.is_empty() || var.contains(['=', '\0']) {
            return Err(invalid(
                location,
                keys.env,
                format!(
                    "{var:?} is not an environment variable name; name the variable that \
                     holds the {}, e.g. {:?}",
                    keys.inline, keys.example_env
                ),
            ));
        }
        if self.secrets == Secrets::Skip {
            return Ok(Secret::Unread);
        }
        match std::env::var(var) {
            Ok(secret) if !secret.is_empty() => Ok(Secret::Read(secret)),
            Ok(_) => Err(invalid(
                location,
                keys.env,
                format!("environment variable {var} is empty"),
            )),
            Err(_) => Err(invalid(
                location,
                keys.env,
                format!("environment variable {var} is not set"),
            )),
        }
    }
}

pub(super) fn read_token_file(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_TOKEN_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_TOKEN_FILE_BYTES {
        return Err("it is larger than 64 KiB; a token file holds one line".into());
    }
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: &str = "check \"a\" (line 1)";

    fn load(secrets: Secrets, file: Option<&str>, env: Option<&str>) -> Result<Token, String> {
        let read = RefCell::new(Vec::new());
        let loader = TokenLoader {
            base_dir: Path::new("/nonexistent"),
            secrets,
            read: &read,
        };
        loader
            .load(L, None, file.map(String::from), env.map(String::from))
            .map_err(|e| e.to_string())
            .and_then(|token| token.ok_or_else(|| "no token".to_string()))
    }

    #[test]
    fn skipping_secrets_checks_the_sources_but_reads_nothing() {
        let unread = load(Secrets::Skip, Some("missing/token"), None).expect("not read");
        assert!(unread.is_unread());
        assert!(
            load(Secrets::Skip, None, Some("DEADMAN_TEST_UNSET_VARIABLE"))
                .is_ok_and(|t| t.is_unread())
        );
        assert_eq!(
            load(Secrets::Read, Some("missing/token"), None).err(),
            Some(format!(
                "{L}: token_file: cannot read /nonexistent/missing/token: No such file or \
                 directory (os error 2)"
            ))
        );
        for secrets in [Secrets::Read, Secrets::Skip] {
            assert_eq!(
                load(secrets, Some(""), None).err(),
                Some(format!(
                    "{L}: token_file: is empty; give the path of the file that holds the token"
                ))
            );
            assert_eq!(
                load(secrets, None, Some("A=B")).err(),
                Some(format!(
                    "{L}: token_env: \"A=B\" is not an environment variable name; name the \
                     variable that holds the token, e.g. \"DEADMAN_TOKEN\""
                ))
            );
            assert!(load(secrets, Some("f"), Some("V"))
                .is_err_and(|e| e
                    .ends_with("set at most one of \"token\", \"token_file\" and \"token_env\"")));
        }
    }
}
