//! The config module's own tests: the file as a whole (defaults, names,
//! syntax errors, several errors at once, secrets skipped).

use std::time::Duration;

use super::source::LineIndex;
use super::validate::DEFAULT_GRACE;
use super::*;

fn parse(text: &str) -> Result<Config, String> {
    Config::parse(text, Path::new(".")).map_err(|e| e.to_string())
}

#[test]
fn minimal_check_gets_defaults() {
    let config =
        parse("[[check]]\nname = \"a\"\nowner = \"ops\"\nevery = \"15m\"\n").expect("valid");
    let check = config.check("a").expect("present");
    assert_eq!(check.grace, DEFAULT_GRACE);
    assert_eq!(check.severity, Severity::Warning);
    assert_eq!(check.methods, Methods::ALL);
    assert!(check.token.is_none());
    assert_eq!(config.storage.history, 100);
    assert_eq!(check.failure_threshold, 1);
    assert!(check.values.is_empty() && check.pause.is_none() && check.min_runtime.is_none());
}

#[test]
fn defaults_apply_and_checks_override() {
    let config = parse(
        r#"
[defaults]
grace = "1m"
severity = "critical"
team = "finance"
token = "s3cret"
failure_threshold = 2

[[check]]
name = "a"
owner = "ops"
every = "15m"

[[check]]
name = "b"
owner = "ops"
every = "1h"
grace = "2m"
severity = "info"
token = "other"
failure_threshold = 5
"#,
    )
    .expect("valid");
    let a = config.check("a").expect("a");
    assert_eq!(a.grace, Duration::from_secs(60));
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.team, "finance");
    assert_eq!(a.failure_threshold, 2);
    assert_eq!(config.check("b").map(|b| b.failure_threshold), Some(5));
    assert!(a.token.as_ref().is_some_and(|t| t.matches("s3cret")));
    let b = config.check("b").expect("b");
    assert_eq!(b.grace, Duration::from_secs(120));
    assert_eq!(b.severity, Severity::Info);
    assert!(b
        .token
        .as_ref()
        .is_some_and(|t| t.matches("other") && !t.matches("s3cret")));
}

#[test]
fn check_names() {
    assert!(valid_check_name("shopify-orders-to-xero"));
    assert!(valid_check_name("0.a_b-c"));
    assert!(!valid_check_name(""));
    assert!(!valid_check_name("-a"));
    assert!(!valid_check_name("A"));
    assert!(!valid_check_name(&"a".repeat(65)));
    assert!(valid_check_name(&"a".repeat(64)));
}

#[test]
fn syntax_errors_never_echo_a_token() {
    let text =
        "[[check]]\nname = \"a\"\nowner = \"ops\"\nevery = \"1h\"\ntoken = \"INLINE-TOKEN-abc123\n";
    let err = parse(text).expect_err("unterminated string");
    assert!(!err.contains("INLINE-TOKEN-abc123"), "{err}");
    assert!(err.contains("line 5"), "{err}");
    assert!(err.contains("token = <redacted>"), "{err}");
    let err =
        parse("[[check]]\nname = \"a\"\nowner = \"ops\"\nevery = \"1h\"\ntoken = 1234567890123\n")
            .expect_err("wrong type");
    assert!(!err.contains("1234567890123"), "{err}");
    assert!(err.ends_with("token: must be a string"), "{err}");
}

#[test]
fn endless_files_are_refused_without_reading_them_whole() {
    let err = Config::load(Path::new("/dev/zero")).expect_err("refused");
    assert!(matches!(err, ConfigError::TooLarge(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "/dev/zero is larger than 64 MiB, the most deadman reads as a config; is it the right file?"
    );
}

#[test]
fn an_endless_token_file_is_refused() {
    let err = parse(
        "[[check]]\nname = \"a\"\nowner = \"ops\"\nevery = \"1h\"\ntoken_file = \"/dev/zero\"\n",
    )
    .expect_err("refused");
    assert_eq!(
        err,
        "check \"a\" (line 1): token_file: cannot read /dev/zero: it is larger than 64 KiB; a token file holds one line"
    );
}

/// One line per error, as `check-config` prints them.
fn errors(text: &str) -> Vec<String> {
    match Config::parse(text, Path::new(".")) {
        Ok(_) => vec![],
        Err(err) => err.each().iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn an_invalid_default_is_reported_once_not_again_for_each_check() {
    let check = "[[check]]\nname = \"a\"\nevery = \"1h\"\n";
    assert_eq!(
        errors(&format!("[defaults]\nowner = \" \"\n\n{check}\n{check}")),
        [
            "[defaults] (line 1): owner: is empty; every check needs a named owner (a \
             person, team or address)",
            "check \"a\" (line 8): name: \"a\" is already used by the check at line 4; \
             names must be unique",
        ]
    );
    // An unreadable [defaults] leaves every check's owner unknown too.
    assert_eq!(
        errors(&format!("[defaults]\nownr = \"ops\"\n\n{check}")).len(),
        1
    );
    // Other defaults that fail fall back to the built-in ones.
    assert_eq!(
        errors(&format!(
            "[defaults]\ngrace = \"soon\"\nowner = \"ops\"\n\n{check}"
        ))
        .len(),
        1
    );
}

#[test]
fn no_checks_is_an_error_unless_the_file_allows_it() {
    assert_eq!(errors(""), [ConfigError::NoChecks.to_string()]);
    assert_eq!(
        errors("[storage]\nhistory = -1\n").len(),
        2,
        "both the storage error and the missing checks"
    );
    let config = parse("allow_no_checks = true\n").expect("allowed");
    assert!(config.checks.is_empty());
    assert!(parse(
        "allow_no_checks = true\n[[check]]\nname = \"a\"\nowner = \"o\"\nevery = \"1h\"\n"
    )
    .is_ok());
    assert!(errors("allow_no_checks = \"yes\"\n")[0].contains("invalid type"));
}

#[test]
fn skipping_secrets_reads_no_file_and_marks_the_tokens_unread() {
    let text = "[defaults]\ntoken_env = \"DEADMAN_TEST_NEVER_SET\"\n\n\
                [[check]]\nname = \"a\"\nowner = \"o\"\nevery = \"1h\"\n\n\
                [[check]]\nname = \"b\"\nowner = \"o\"\nevery = \"1h\"\ntoken = \"short\"\n\n\
                [[check]]\nname = \"c\"\nowner = \"o\"\nevery = \"1h\"\ntoken_file = \"absent\"\n";
    assert_eq!(
        errors(text).len(),
        2,
        "read: the variable is unset, the file absent"
    );
    let config =
        Config::parse_with(text, Path::new("/nonexistent"), Secrets::Skip).expect("nothing read");
    assert_eq!(config.unread_tokens(), 2);
    assert_eq!(
        config.weak_tokens().len(),
        1,
        "an inline token is still judged"
    );
    let unread = config
        .check("c")
        .and_then(|c| c.token.as_ref())
        .expect("a token");
    assert!(unread.is_unread() && !unread.matches(""));
}

#[test]
fn line_index() {
    let idx = LineIndex::new("a\nb\nc");
    assert_eq!(idx.line_of(0), 1);
    assert_eq!(idx.line_of(2), 2);
    assert_eq!(idx.line_of(4), 3);
}

#[test]
fn lines_are_the_same_whether_checks_are_read_in_one_pass_or_as_tables() {
    let check = |name: &str, extra: &str| {
        format!("[[check]]\nname = \"{name}\"\nowner = \"ops\"\nevery = \"1h\"{extra}\n\n")
    };
    // Every check deserializes: read in one pass; the errors are validation's.
    let one_pass = format!(
        "{}{}{}",
        check("a", ""),
        check("b", "\ngrace = \"soon\""),
        check("a", "")
    );
    assert_eq!(
        errors(&one_pass),
        [
            "check \"b\" (line 6): grace: \"soon\" is not a valid duration (expected number at 0); \
             write it like \"90s\", \"15m\" or \"1h 30m\"",
            "check \"a\" (line 12): name: \"a\" is already used by the check at line 1; \
             names must be unique",
        ]
    );
    // A key no check has: the file is read again as tables, same lines.
    let tables = format!(
        "{}{}{}",
        check("a", ""),
        check("b", "\ngrase = \"5m\""),
        check("a", "")
    );
    let found = errors(&tables);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with("check \"b\" (line 6): grase: unknown key"),
        "{found:?}"
    );
    assert_eq!(
        found[1],
        "check \"a\" (line 12): name: \"a\" is already used by the check at line 1; names must be unique"
    );
}
