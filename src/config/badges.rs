//! `[badges]`: the operator's opt-in to public badges. Its one setting is
//! the secret badge keys are derived from ([`crate::badge_key`]), from
//! exactly one of `secret`, `secret_file` and `secret_env`, read by the
//! same rules as a check's token.

use serde::Deserialize;

use super::error::{invalid, ConfigError, ErrorList};
use super::secrets::{Secret, SecretKeys, TokenLoader};
use crate::badge_key::{BadgeKeys, MIN_SECRET_CHARS};

const LOCATION: &str = "[badges]";

/// The badge secret's keys.
const SECRET: SecretKeys = SecretKeys {
    inline: "secret",
    file: "secret_file",
    env: "secret_env",
    example_env: "DEADMAN_BADGE_SECRET",
    required: true,
};

/// `[badges]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBadges {
    secret: Option<String>,
    secret_file: Option<String>,
    secret_env: Option<String>,
}

/// The keys a `[badges]` section configures, or `None` when it is
/// invalid (recorded in `errors`).
pub(super) fn validate_badges(
    raw: RawBadges,
    tokens: TokenLoader,
    errors: &mut ErrorList,
) -> Option<BadgeKeys> {
    // The key the secret came from, for the message about its length.
    let field = match (&raw.secret, &raw.secret_file) {
        (Some(_), _) => SECRET.inline,
        (None, Some(_)) => SECRET.file,
        (None, None) => SECRET.env,
    };
    let loaded = tokens.load_secret(
        &SECRET,
        LOCATION,
        raw.secret,
        raw.secret_file,
        raw.secret_env,
    );
    match errors.take(loaded)? {
        None => {
            errors.push(invalid(
                LOCATION,
                SECRET.inline,
                "missing; set exactly one of \"secret\", \"secret_file\" and \"secret_env\", \
                 or remove [badges] to keep badges behind basic auth",
            ));
            None
        }
        Some(Secret::Unread) => Some(BadgeKeys::unread()),
        Some(Secret::Read(secret)) if secret.chars().count() < MIN_SECRET_CHARS => {
            errors.push(short(field));
            None
        }
        Some(Secret::Read(secret)) => Some(BadgeKeys::new(&secret)),
    }
}

/// A short secret is an error, not a warning as a short ping token is: a
/// token is guessed online, against rate limits, but every published
/// badge URL lets anyone test guesses of the secret offline.
fn short(field: &str) -> ConfigError {
    invalid(
        LOCATION,
        field,
        format!(
            "the secret is shorter than {MIN_SECRET_CHARS} characters; badge URLs are public, \
             and anyone who sees one can test guesses of a short secret offline, then make \
             the URL of every badge; generate one with `openssl rand -hex 32`"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Secrets};
    use std::path::Path;

    const CHECK: &str = "[[check]]\nname = \"a\"\nowner = \"o\"\nevery = \"1h\"\n";

    fn parse(badges: &str, secrets: Secrets) -> Result<Config, String> {
        let text = format!("[badges]\n{badges}\n{CHECK}");
        Config::parse_with(&text, Path::new("/nonexistent"), secrets).map_err(|e| e.to_string())
    }

    #[test]
    fn without_the_section_there_are_no_keys() {
        let config = Config::parse(CHECK, Path::new(".")).expect("valid");
        assert!(config.badges.is_none());
    }

    #[test]
    fn a_mistyped_inline_secret_is_never_echoed() {
        let err = parse("secret = 1234567890123456", Secrets::Read).expect_err("not a string");
        assert_eq!(err, "[badges]: secret: must be a string");
    }

    #[test]
    fn a_long_secret_configures_keys_and_a_short_one_is_refused() {
        let config = parse("secret = \"0123456789abcdef\"", Secrets::Read).expect("16 chars");
        assert!(config.badges.is_some_and(|keys| !keys.is_unread()));
        assert_eq!(
            parse("secret = \"0123456789abcde\"", Secrets::Read).err(),
            Some(short("secret").to_string())
        );
        // Even without reading secrets: an inline one is part of the file.
        assert!(parse("secret = \"short\"", Secrets::Skip).is_err());
    }

    #[test]
    fn skipping_secrets_reads_no_file_or_variable() {
        for source in [
            "secret_file = \"absent\"",
            "secret_env = \"DEADMAN_TEST_NEVER_SET\"",
        ] {
            let config = parse(source, Secrets::Skip).expect(source);
            assert!(config.badges.is_some_and(|keys| keys.is_unread()));
            assert!(parse(source, Secrets::Read).is_err(), "{source}");
        }
    }

    #[test]
    fn the_secret_file_is_an_input_so_rotating_it_reloads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("badge-secret");
        std::fs::write(&path, "0123456789abcdef-one\n").expect("write");
        let text = format!("[badges]\nsecret_file = \"badge-secret\"\n\n{CHECK}");
        let config = Config::parse(&text, dir.path()).expect("valid");
        assert!(config.inputs.unchanged(&text));
        std::fs::write(&path, "0123456789abcdef-two\n").expect("write");
        assert!(!config.inputs.unchanged(&text));
    }
}
