//! `--web.config.file`: TLS, basic auth and response headers, in the
//! exporter-toolkit format that node_exporter, blackbox_exporter and the
//! Pushgateway read, so one file can serve every exporter on a host.
//!
//! As for the TOML config, the file is read raw (unknown keys are errors)
//! and then validated into a [`WebConfig`] whose errors are plain sentences
//! naming the field. A field the toolkit documents but deadman cannot honour
//! is refused with a sentence saying so, never silently ignored.
//!
//! * [`tls`] — building the rustls server config from [`TlsSettings`];
//! * [`basic_auth`] — checking `Authorization: Basic` against bcrypt hashes;
//! * [`watch`] — the web config in force, re-read when its files change.

pub mod basic_auth;
pub mod tls;
pub mod watch;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use hyper::header::{HeaderName, HeaderValue};
use serde::Deserialize;

/// The largest web config file read; real ones are a few hundred bytes.
const MAX_WEB_CONFIG_BYTES: u64 = 1024 * 1024;

/// A validated web configuration.
#[derive(Debug, Default)]
pub struct WebConfig {
    /// TLS for every listener; `None` serves plain HTTP.
    pub tls: Option<TlsSettings>,
    /// Added to every response (`http_server_config.headers`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// User → bcrypt hash; empty means no basic auth.
    pub users: BTreeMap<String, String>,
    /// `http2: true` was written: deadman serves HTTP/1.1 only, and says
    /// so once in the log (the toolkit's default `true` is not logged).
    pub http2_requested: bool,
}

/// `tls_server_config`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The server's certificate chain (PEM).
    pub cert: Pem,
    /// The server's private key (PEM).
    pub key: Pem,
    /// Whether and how client certificates are checked.
    pub client_auth: ClientAuth,
    /// CAs that sign client certificates; required when they are verified.
    pub client_ca: Option<Pem>,
    /// A verified client certificate must carry one of these SANs exactly
    /// (DNS name, IP address, e-mail or URI); empty means any.
    pub allowed_sans: Vec<String>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
    /// TLS 1.2 suites in preference order; empty means rustls's defaults.
    pub cipher_suites: Vec<tls::Suite>,
    /// Choose by the server's order of `cipher_suites` and curves, not the
    /// client's.
    pub prefer_server_cipher_suites: bool,
    /// Key-exchange groups in preference order; empty means the defaults.
    pub curves: Vec<tls::Curve>,
}

/// PEM text, from a file (re-read when it changes) or inline in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pem {
    File(PathBuf),
    Inline(String),
}

/// `client_auth_type`. Go's `RequestClientCert` and `RequireAnyClientCert`
/// accept certificates without verifying them; they are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    NoClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

/// Why a web config was refused.
#[derive(Debug)]
pub enum WebConfigError {
    /// The file could not be read.
    Read(PathBuf, std::io::Error),
    /// The file is larger than 1 MiB.
    TooLarge(PathBuf),
    /// Not valid YAML, or a key that does not belong (line and column).
    Syntax(String),
    /// Valid YAML that is not a valid web config.
    Invalid {
        /// The offending key, dotted (`tls_server_config.min_version`).
        field: String,
        /// A plain sentence saying what is wrong.
        message: String,
    },
    /// A certificate, key or CA that rustls could not use.
    Tls(String),
}

impl fmt::Display for WebConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebConfigError::Read(path, err) => write!(f, "cannot read {}: {err}", path.display()),
            WebConfigError::TooLarge(path) => write!(
                f,
                "{} is larger than 1 MiB, the most deadman reads as a web config",
                path.display()
            ),
            WebConfigError::Syntax(message) => f.write_str(message),
            WebConfigError::Invalid { field, message } => write!(f, "{field}: {message}"),
            WebConfigError::Tls(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for WebConfigError {}

fn invalid(field: &str, message: impl Into<String>) -> WebConfigError {
    WebConfigError::Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    basic_auth_users: Option<BTreeMap<String, String>>,
    /// Documented by the toolkit; refused (see `validate`).
    rate_limit: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
    curve_preferences: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

impl WebConfig {
    /// Reads and validates a web config file, and loads the certificates,
    /// keys and CAs it names, so that a bad one is a startup (or
    /// check-config) error rather than a failed handshake later.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let config = WebConfig::read(path)?;
        if let Some(settings) = &config.tls {
            tls::server_config(settings)?;
        }
        Ok(config)
    }

    /// Reads and validates a web config file without opening the files it
    /// names (`check-config --no-secrets`). Relative paths in it are
    /// resolved against its directory, as the toolkit does.
    pub fn read(path: &Path) -> Result<WebConfig, WebConfigError> {
        use std::io::Read as _;
        let read_error = |e| WebConfigError::Read(path.to_path_buf(), e);
        let file = std::fs::File::open(path).map_err(read_error)?;
        let mut text = String::new();
        file.take(MAX_WEB_CONFIG_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(read_error)?;
        if text.len() as u64 > MAX_WEB_CONFIG_BYTES {
            return Err(WebConfigError::TooLarge(path.to_path_buf()));
        }
        WebConfig::parse(&text, path.parent().unwrap_or(Path::new(".")))
    }

    /// Validates web config text; `base_dir` anchors relative file paths.
    pub fn parse(text: &str, base_dir: &Path) -> Result<WebConfig, WebConfigError> {
        let raw: RawWebConfig = serde_saphyr::from_str(text).map_err(|e| {
            // The first line only: the rest is a source snippet, which
            // could quote an inline key or a password hash.
            let message = e.to_string();
            let first = message.lines().next().unwrap_or_default();
            WebConfigError::Syntax(first.trim_start_matches("error: ").to_string())
        })?;
        if raw.rate_limit.is_some() {
            return Err(invalid(
                "rate_limit",
                "is not supported by deadman: a limit on every request would refuse pings \
                 and lose records; checks have their own rate_limit in the config file, \
                 and failed logins are slowed per address",
            ));
        }
        let http = raw.http_server_config.unwrap_or_default();
        Ok(WebConfig {
            tls: raw
                .tls_server_config
                .map(|tls| validate_tls(tls, base_dir))
                .transpose()?,
            headers: validate_headers(http.headers.unwrap_or_default())?,
            users: validate_users(raw.basic_auth_users.unwrap_or_default())?,
            http2_requested: http.http2 == Some(true),
        })
    }
}

/// Exactly one of the inline and the file form.
fn pem_source(
    inline: Option<String>,
    file: Option<String>,
    (inline_key, file_key): (&str, &str),
    base_dir: &Path,
) -> Result<Option<Pem>, WebConfigError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(invalid(
            &format!("tls_server_config.{file_key}"),
            format!("set {file_key} or {inline_key}, not both"),
        )),
        (Some(text), None) => Ok(Some(Pem::Inline(text))),
        (None, Some(file)) if file.trim().is_empty() => Err(invalid(
            &format!("tls_server_config.{file_key}"),
            "is empty; give the path of a PEM file",
        )),
        (None, Some(file)) => Ok(Some(Pem::File(base_dir.join(file)))),
        (None, None) => Ok(None),
    }
}

fn validate_tls(raw: RawTls, base_dir: &Path) -> Result<TlsSettings, WebConfigError> {
    let required = |pem: Option<Pem>, file_key: &str, inline_key: &str| {
        pem.ok_or_else(|| {
            invalid(
                &format!("tls_server_config.{file_key}"),
                format!("is required for TLS (or {inline_key} inline)"),
            )
        })
    };
    let cert = pem_source(raw.cert, raw.cert_file, ("cert", "cert_file"), base_dir)?;
    let cert = required(cert, "cert_file", "cert")?;
    let key = pem_source(raw.key, raw.key_file, ("key", "key_file"), base_dir)?;
    let key = required(key, "key_file", "key")?;
    let client_ca = pem_source(
        raw.client_ca,
        raw.client_ca_file,
        ("client_ca", "client_ca_file"),
        base_dir,
    )?;
    let client_auth = parse_client_auth(raw.client_auth_type.as_deref())?;
    match (client_auth, &client_ca) {
        (ClientAuth::NoClientCert, Some(_)) => {
            return Err(invalid(
                "tls_server_config.client_ca_file",
                "is set but client_auth_type is NoClientCert, so client certificates would \
                 not be checked; set client_auth_type: RequireAndVerifyClientCert",
            ))
        }
        (ClientAuth::NoClientCert, None) => {}
        (_, None) => {
            return Err(invalid(
                "tls_server_config.client_ca_file",
                "is required when client_auth_type verifies client certificates",
            ))
        }
        (_, Some(_)) => {}
    }
    let allowed_sans = raw.client_allowed_sans.unwrap_or_default();
    if !allowed_sans.is_empty() && client_auth != ClientAuth::RequireAndVerifyClientCert {
        return Err(invalid(
            "tls_server_config.client_allowed_sans",
            "needs client_auth_type: RequireAndVerifyClientCert; otherwise a client can \
             connect without a certificate and there is no SAN to match",
        ));
    }
    let min_version = parse_version("min_version", raw.min_version.as_deref(), TlsVersion::Tls12)?;
    let max_version = parse_version("max_version", raw.max_version.as_deref(), TlsVersion::Tls13)?;
    if min_version > max_version {
        return Err(invalid(
            "tls_server_config.min_version",
            "is above max_version",
        ));
    }
    let cipher_suites = raw
        .cipher_suites
        .unwrap_or_default()
        .iter()
        .map(|name| tls::Suite::parse(name))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|message| invalid("tls_server_config.cipher_suites", message))?;
    if !cipher_suites.is_empty() && min_version == TlsVersion::Tls13 {
        return Err(invalid(
            "tls_server_config.cipher_suites",
            "only apply to TLS 1.2, but min_version is TLS13",
        ));
    }
    let curves = raw
        .curve_preferences
        .unwrap_or_default()
        .iter()
        .map(|name| tls::Curve::parse(name))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|message| invalid("tls_server_config.curve_preferences", message))?;
    Ok(TlsSettings {
        cert,
        key,
        client_auth,
        client_ca,
        allowed_sans,
        min_version,
        max_version,
        cipher_suites,
        prefer_server_cipher_suites: raw.prefer_server_cipher_suites.unwrap_or(true),
        curves,
    })
}

fn parse_client_auth(text: Option<&str>) -> Result<ClientAuth, WebConfigError> {
    let field = "tls_server_config.client_auth_type";
    match text.unwrap_or("NoClientCert") {
        "NoClientCert" => Ok(ClientAuth::NoClientCert),
        "VerifyClientCertIfGiven" => Ok(ClientAuth::VerifyClientCertIfGiven),
        "RequireAndVerifyClientCert" => Ok(ClientAuth::RequireAndVerifyClientCert),
        unverified @ ("RequestClientCert" | "RequireAnyClientCert") => Err(invalid(
            field,
            format!(
                "{unverified} accepts client certificates without verifying them and is not \
                 supported; use RequireAndVerifyClientCert (or VerifyClientCertIfGiven)"
            ),
        )),
        other => Err(invalid(
            field,
            format!(
                "{other:?} is not one of NoClientCert, VerifyClientCertIfGiven, \
                 RequireAndVerifyClientCert"
            ),
        )),
    }
}

fn parse_version(
    key: &str,
    text: Option<&str>,
    default: TlsVersion,
) -> Result<TlsVersion, WebConfigError> {
    let field = format!("tls_server_config.{key}");
    match text {
        None => Ok(default),
        Some("TLS12") => Ok(TlsVersion::Tls12),
        Some("TLS13") => Ok(TlsVersion::Tls13),
        Some(old @ ("TLS10" | "TLS11")) => Err(invalid(
            &field,
            format!("{old} is not supported: deadman's TLS (rustls) offers TLS12 and TLS13 only"),
        )),
        Some(other) => Err(invalid(
            &field,
            format!("{other:?} is not one of TLS10, TLS11, TLS12, TLS13"),
        )),
    }
}

/// The headers the toolkit allows, with the values it allows.
fn validate_headers(
    raw: BTreeMap<String, String>,
) -> Result<Vec<(HeaderName, HeaderValue)>, WebConfigError> {
    const ALLOWED: [&str; 5] = [
        "Content-Security-Policy",
        "X-Frame-Options",
        "X-Content-Type-Options",
        "X-XSS-Protection",
        "Strict-Transport-Security",
    ];
    let mut headers = Vec::new();
    for (name, value) in raw {
        let field = format!("http_server_config.headers.{name}");
        let Some(canonical) = ALLOWED.iter().find(|a| a.eq_ignore_ascii_case(&name)) else {
            return Err(invalid(
                &field,
                format!(
                    "cannot be set; the headers that can are {}",
                    ALLOWED.join(", ")
                ),
            ));
        };
        // "Unset if blank", as the toolkit documents.
        if value.trim().is_empty() {
            continue;
        }
        let allowed_values: &[&str] = match *canonical {
            "X-Frame-Options" => &["deny", "sameorigin"],
            "X-Content-Type-Options" => &["nosniff"],
            _ => &[],
        };
        if !allowed_values.is_empty()
            && !allowed_values
                .iter()
                .any(|v| v.eq_ignore_ascii_case(&value))
        {
            return Err(invalid(
                &field,
                format!("{value:?} is not one of {}", allowed_values.join(", ")),
            ));
        }
        let value = HeaderValue::from_str(&value)
            .map_err(|_| invalid(&field, "is not a valid header value (control characters?)"))?;
        headers.push((HeaderName::from_static(lowercase(canonical)), value));
    }
    Ok(headers)
}

/// The lower-case form `HeaderName::from_static` requires.
fn lowercase(name: &str) -> &'static str {
    match name {
        "Content-Security-Policy" => "content-security-policy",
        "X-Frame-Options" => "x-frame-options",
        "X-Content-Type-Options" => "x-content-type-options",
        "X-XSS-Protection" => "x-xss-protection",
        _ => "strict-transport-security",
    }
}

fn validate_users(
    raw: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, WebConfigError> {
    for (user, hash) in &raw {
        let field = format!("basic_auth_users.{user}");
        if user.is_empty() || user.contains(':') {
            return Err(invalid(
                &field,
                "a user name must be non-empty and cannot contain ':' (basic auth splits on it)",
            ));
        }
        if hash.parse::<bcrypt::HashParts>().is_err() {
            // Never quote the value: it may be a plain-text password.
            return Err(invalid(
                &field,
                "is not a bcrypt hash (like $2y$10$…); generate one with \
                 htpasswd -nBC 10 \"\" | tr -d ':\\n'",
            ));
        }
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real bcrypt hash (cost 4) of "secret".
    pub(crate) const HASH: &str = "$2b$04$9v57qvoxmauBiva4O/je/e2XkEvvQDuUf/Wrn4L03Ol6IbaEsnPau";

    fn parse(text: &str) -> Result<WebConfig, String> {
        WebConfig::parse(text, Path::new("/etc/deadman")).map_err(|e| e.to_string())
    }

    #[test]
    fn an_empty_file_is_plain_http_without_auth() {
        let config = parse("").expect("valid");
        assert!(config.tls.is_none() && config.users.is_empty() && config.headers.is_empty());
    }

    #[test]
    fn a_full_file_is_read() {
        let config = parse(&format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: /keys/server.key\n  \
             client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  \
             client_allowed_sans: [prometheus.example]\n  min_version: TLS13\n  \
             curve_preferences: [X25519, CurveP256]\n\
             http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: DENY\n    \
             Strict-Transport-Security: max-age=31536000\n    X-XSS-Protection: ''\n\
             basic_auth_users:\n  prometheus: '{HASH}'\n"
        ))
        .expect("valid");
        let tls = config.tls.expect("tls");
        assert_eq!(tls.cert, Pem::File("/etc/deadman/server.crt".into()));
        assert_eq!(tls.key, Pem::File("/keys/server.key".into()));
        assert_eq!(tls.client_auth, ClientAuth::RequireAndVerifyClientCert);
        assert_eq!(tls.min_version, TlsVersion::Tls13);
        assert_eq!(tls.curves.len(), 2);
        assert!(!config.http2_requested);
        let names: Vec<&str> = config.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["strict-transport-security", "x-frame-options"]);
        assert_eq!(config.users.len(), 1);
    }

    /// Valid files, and one thing each must have set.
    #[test]
    fn valid_files_are_read() {
        type Probe = fn(&WebConfig) -> bool;
        let cases: [(&str, Probe); 7] = [
            ("tls_server_config:\n", |c| c.tls.is_none()),
            ("tls_server_config:\n  cert: C\n  key: K\n", |c| {
                c.tls.as_ref().is_some_and(|t| t.cert == Pem::Inline("C".into()))
            }),
            ("tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: VerifyClientCertIfGiven\n  client_ca: CA\n", |c| {
                c.tls.as_ref().is_some_and(|t| t.client_auth == ClientAuth::VerifyClientCertIfGiven)
            }),
            ("tls_server_config:\n  cert_file: c\n  key_file: k\n  cipher_suites: [TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305]\n  prefer_server_cipher_suites: false\n", |c| {
                c.tls.as_ref().is_some_and(|t| t.cipher_suites.len() == 1 && !t.prefer_server_cipher_suites)
            }),
            ("http_server_config:\n  http2: true\n", |c| c.http2_requested),
            ("http_server_config:\n  headers:\n    content-security-policy: default-src 'self'\n", |c| {
                c.headers.len() == 1 && c.headers[0].0 == "content-security-policy"
            }),
            ("basic_auth_users: {}\n", |c| c.users.is_empty()),
        ];
        for (text, probe) in cases {
            let config = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(probe(&config), "{text}");
        }
    }

    /// Each invalid file with the exact sentence it gets.
    #[test]
    fn invalid_files_get_exact_messages() {
        let tls = "tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n";
        let cases: Vec<(String, &str)> = vec![
            ("bogus: 1\n".into(), "line 1 column 1: unknown field `bogus`, expected one of tls_server_config, http_server_config, basic_auth_users, rate_limit"),
            ("tls_server_config:\n  cert_file: a\n  certfile: b\n".into(), "line 3 column 3: unknown field `certfile`, expected one of cert, key, client_ca, cert_file, key_file, client_auth_type, client_ca_file, client_allowed_sans, min_version, max_version, cipher_suites, prefer_server_cipher_suites, curve_preferences"),
            ("basic_auth_users:\n  a: x\n  a: y\n".into(), "line 3 column 3: duplicate mapping key: a, set DuplicateKeyPolicy in Options if acceptable"),
            ("tls_server_config:\n  key_file: s.key\n".into(), "tls_server_config.cert_file: is required for TLS (or cert inline)"),
            ("tls_server_config:\n  cert_file: s.crt\n".into(), "tls_server_config.key_file: is required for TLS (or key inline)"),
            ("tls_server_config:\n  cert_file: s.crt\n  cert: x\n  key_file: k\n".into(), "tls_server_config.cert_file: set cert_file or cert, not both"),
            (format!("{tls}  client_auth_type: RequireAnyClientCert\n"), "tls_server_config.client_auth_type: RequireAnyClientCert accepts client certificates without verifying them and is not supported; use RequireAndVerifyClientCert (or VerifyClientCertIfGiven)"),
            (format!("{tls}  client_auth_type: Always\n"), "tls_server_config.client_auth_type: \"Always\" is not one of NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"),
            (format!("{tls}  client_auth_type: RequireAndVerifyClientCert\n"), "tls_server_config.client_ca_file: is required when client_auth_type verifies client certificates"),
            (format!("{tls}  client_ca_file: ca.crt\n"), "tls_server_config.client_ca_file: is set but client_auth_type is NoClientCert, so client certificates would not be checked; set client_auth_type: RequireAndVerifyClientCert"),
            (format!("{tls}  client_allowed_sans: [a]\n"), "tls_server_config.client_allowed_sans: needs client_auth_type: RequireAndVerifyClientCert; otherwise a client can connect without a certificate and there is no SAN to match"),
            (format!("{tls}  min_version: TLS11\n"), "tls_server_config.min_version: TLS11 is not supported: deadman's TLS (rustls) offers TLS12 and TLS13 only"),
            (format!("{tls}  max_version: SSL3\n"), "tls_server_config.max_version: \"SSL3\" is not one of TLS10, TLS11, TLS12, TLS13"),
            (format!("{tls}  min_version: TLS13\n  max_version: TLS12\n"), "tls_server_config.min_version: is above max_version"),
            (format!("{tls}  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n"), "tls_server_config.cipher_suites: TLS_RSA_WITH_AES_128_CBC_SHA is not supported: rustls offers only these TLS 1.2 suites: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
            (format!("{tls}  cipher_suites: [TLS_AES_128_GCM_SHA256]\n"), "tls_server_config.cipher_suites: TLS_AES_128_GCM_SHA256 is a TLS 1.3 suite, which cannot be configured (TLS 1.3 suites are always on, as in Go); list only TLS 1.2 suites"),
            (format!("{tls}  curve_preferences: [CurveP521]\n"), "tls_server_config.curve_preferences: CurveP521 is not supported: rustls offers X25519, CurveP256, CurveP384"),
            ("http_server_config:\n  headers:\n    Server: x\n".into(), "http_server_config.headers.Server: cannot be set; the headers that can are Content-Security-Policy, X-Frame-Options, X-Content-Type-Options, X-XSS-Protection, Strict-Transport-Security"),
            ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n".into(), "http_server_config.headers.X-Frame-Options: \"allow\" is not one of deny, sameorigin"),
            ("basic_auth_users:\n  alice: hunter2\n".into(), "basic_auth_users.alice: is not a bcrypt hash (like $2y$10$…); generate one with htpasswd -nBC 10 \"\" | tr -d ':\\n'"),
            (format!("basic_auth_users:\n  'a:b': '{HASH}'\n"), "basic_auth_users.a:b: a user name must be non-empty and cannot contain ':' (basic auth splits on it)"),
            ("rate_limit:\n  interval: 1s\n  burst: 10\n".into(), "rate_limit: is not supported by deadman: a limit on every request would refuse pings and lose records; checks have their own rate_limit in the config file, and failed logins are slowed per address"),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(&text).err().as_deref(), Some(expected), "{text}");
        }
    }

    #[test]
    fn syntax_errors_never_quote_the_source() {
        let err = parse("tls_server_config:\n  key: \"-----BEGIN PRIVATE KEY----- SECRET\n")
            .expect_err("unclosed quote");
        assert!(!err.contains("SECRET"), "{err}");
        assert!(err.starts_with("line 2 column "), "{err}");
    }
}
