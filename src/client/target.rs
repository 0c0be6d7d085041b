//! Where pings go and with which token: `--url`, `--check` and the token
//! from flags and the environment, checked up front with plain-sentence
//! errors. The token is never a flag: flag values show in `ps`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper::Uri;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The flags `deadman run` and `deadman ping` share.
#[derive(clap::Args, Clone, Debug)]
pub struct TargetArgs {
    /// deadman's base URL, e.g. https://deadman.example.com (a path prefix
    /// behind a proxy is kept). Default: $DEADMAN_URL.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// A file holding the check's token (surrounding whitespace is
    /// ignored). Default: $DEADMAN_TOKEN, else the file named by
    /// $DEADMAN_TOKEN_FILE. There is no flag for the token itself, since
    /// flag values show in `ps`.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// A PEM file of CA certificates to trust for an https:// URL, besides
    /// the system's (for deadman behind a private CA).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// How long one try of a ping may take (connect, TLS, answer). Each
    /// ping gets 3 tries within 30 s in all, so a deadman that is down
    /// delays the exit by up to 30 s per ping still to send (`deadman
    /// run`: the finish, the start if the command ended first, and a resend
    /// if deadman refused the run's report).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub ping_timeout: Duration,
}

/// A check's ping endpoint, and how to authenticate to it.
#[derive(Clone, Debug)]
pub struct Target {
    /// The base URL with no trailing slash, e.g. `https://d.example/x`.
    pub base: String,
    /// URL-encoded into the path, so any configured name works.
    pub check: String,
    /// Sent as `Authorization: Bearer`, never in the URL (URLs get logged).
    pub token: Option<String>,
}

/// Why pings cannot be sent: each says what to set.
#[derive(Debug, PartialEq, Eq)]
pub enum TargetError {
    NoUrl,
    BadUrl(String),
    NoCheck,
    TokenFile { path: PathBuf, error: String },
    EmptyToken(String),
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetError::NoUrl => f.write_str(
                "no deadman URL: give --url or set DEADMAN_URL (e.g. https://deadman.example.com)",
            ),
            TargetError::BadUrl(url) => write!(
                f,
                "the deadman URL {url:?} is not an absolute http:// or https:// URL without a \
                 query (e.g. https://deadman.example.com)"
            ),
            TargetError::NoCheck => f.write_str("no check: give --check or set DEADMAN_CHECK"),
            TargetError::TokenFile { path, error } => {
                write!(f, "cannot read the token file {}: {error}", path.display())
            }
            TargetError::EmptyToken(source) => write!(f, "the token in {source} is empty"),
        }
    }
}

impl std::error::Error for TargetError {}

/// What goes in a path segment unescaped: RFC 3986 unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl Target {
    /// Resolves the target from the flags, then `env` (the process
    /// environment in production; a map in tests).
    pub fn resolve(
        args: &TargetArgs,
        check: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Target, TargetError> {
        let env = |name: &str| env(name).filter(|v| !v.is_empty());
        let base = args
            .url
            .clone()
            .or_else(|| env("DEADMAN_URL"))
            .ok_or(TargetError::NoUrl)?;
        let base = check_base(&base)?;
        let check = match check {
            Some(check) => Some(check.to_string()),
            None => env("DEADMAN_CHECK"),
        };
        let check = check
            .filter(|c| !c.is_empty())
            .ok_or(TargetError::NoCheck)?;
        let token = match (&args.token_file, env("DEADMAN_TOKEN")) {
            (Some(path), _) => Some(read_token(path)?),
            (None, Some(token)) => Some(non_empty(token, "DEADMAN_TOKEN")?),
            (None, None) => match env("DEADMAN_TOKEN_FILE") {
                Some(path) => Some(read_token(Path::new(&path))?),
                None => None,
            },
        };
        Ok(Target { base, check, token })
    }

    /// The URL of `action` ("" for success, "start", "fail", "log", an
    /// exit status).
    pub fn url(&self, action: &str) -> String {
        let check = utf8_percent_encode(&self.check, SEGMENT);
        match action {
            "" => format!("{}/ping/{check}", self.base),
            action => format!("{}/ping/{check}/{action}", self.base),
        }
    }
}

fn check_base(url: &str) -> Result<String, TargetError> {
    let trimmed = url.trim().trim_end_matches('/');
    let bad = || TargetError::BadUrl(url.to_string());
    let uri: Uri = trimmed.parse().map_err(|_| bad())?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) if uri.query().is_none() => Ok(trimmed.to_string()),
        _ => Err(bad()),
    }
}

fn read_token(path: &Path) -> Result<String, TargetError> {
    let text = std::fs::read_to_string(path).map_err(|e| TargetError::TokenFile {
        path: path.to_path_buf(),
        error: e.to_string(),
    })?;
    non_empty(text, &format!("the file {}", path.display()))
}

fn non_empty(token: String, source: &str) -> Result<String, TargetError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(TargetError::EmptyToken(source.to_string()));
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn args(url: Option<&str>, token_file: Option<PathBuf>) -> TargetArgs {
        TargetArgs {
            url: url.map(str::to_string),
            token_file,
            ca_file: None,
            ping_timeout: Duration::from_secs(10),
        }
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn flags_win_over_the_environment() {
        let t = Target::resolve(
            &args(Some("https://d.example/prefix/"), None),
            Some("etl"),
            env(&[("DEADMAN_URL", "http://other"), ("DEADMAN_CHECK", "x")]),
        )
        .expect("resolves");
        assert_eq!(t.url("start"), "https://d.example/prefix/ping/etl/start");
        assert_eq!(t.url(""), "https://d.example/prefix/ping/etl");
        assert_eq!(t.token, None);
    }

    #[test]
    fn environment_fills_in_and_names_are_encoded() {
        let t = Target::resolve(
            &args(None, None),
            None,
            env(&[
                ("DEADMAN_URL", "http://127.0.0.1:9"),
                ("DEADMAN_CHECK", "a b/c"),
                ("DEADMAN_TOKEN", " s3cret\n"),
            ]),
        )
        .expect("resolves");
        assert_eq!(t.url("0"), "http://127.0.0.1:9/ping/a%20b%2Fc/0");
        assert_eq!(t.token.as_deref(), Some("s3cret"));
    }

    #[test]
    fn token_file_from_flag_or_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        std::fs::write(&path, "from-file\n").expect("write");
        let by_flag = Target::resolve(
            &args(Some("http://h"), Some(path.clone())),
            Some("c"),
            env(&[("DEADMAN_TOKEN", "from-env")]),
        );
        assert_eq!(by_flag.expect("ok").token.as_deref(), Some("from-file"));
        let path_text = path.to_string_lossy().into_owned();
        let by_env = Target::resolve(
            &args(Some("http://h"), None),
            Some("c"),
            env(&[("DEADMAN_TOKEN_FILE", &path_text)]),
        );
        assert_eq!(by_env.expect("ok").token.as_deref(), Some("from-file"));
        let missing = Target::resolve(
            &args(Some("http://h"), Some(dir.path().join("nope"))),
            Some("c"),
            env(&[]),
        );
        let err = missing.expect_err("missing file").to_string();
        assert!(err.starts_with("cannot read the token file"), "{err}");
    }

    #[test]
    fn errors_say_what_to_set() {
        let no_url = Target::resolve(&args(None, None), Some("c"), env(&[]));
        assert_eq!(no_url.expect_err("no url"), TargetError::NoUrl);
        let no_check = Target::resolve(&args(Some("http://h"), None), None, env(&[]));
        assert_eq!(no_check.expect_err("no check"), TargetError::NoCheck);
        for url in ["deadman.example", "ftp://h", "http://h/?x=1", "/ping"] {
            let bad = Target::resolve(&args(Some(url), None), Some("c"), env(&[]));
            assert!(matches!(bad, Err(TargetError::BadUrl(_))), "{url}: {bad:?}");
        }
        let empty = Target::resolve(
            &args(Some("http://h"), None),
            Some("c"),
            env(&[("DEADMAN_TOKEN", " ")]),
        );
        assert_eq!(
            empty.expect_err("blank token").to_string(),
            "the token in DEADMAN_TOKEN is empty"
        );
        // An empty variable is as good as unset.
        let unset = Target::resolve(
            &args(Some("http://h"), None),
            Some("c"),
            env(&[("DEADMAN_TOKEN", "")]),
        );
        assert_eq!(unset.expect("ok").token, None);
    }
}
