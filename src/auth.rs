//! Ping tokens, in one place: how a check's secret is kept (only its
//! SHA-256 digest), how a request presents one (bearer, basic-auth password
//! or `?token=`), and the constant-time check. Messages never include what
//! was presented.

use std::fmt;

use base64::Engine as _;
use hyper::header::{self, HeaderMap};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A ping secret. Only its SHA-256 digest is kept, so the secret itself is
/// never in memory longer than loading takes and can never be logged; the
/// digests are compared in constant time, which also hides the length.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    digest: [u8; 32],
    /// Shorter than [`MIN_TOKEN_CHARS`]: `check-config` warns (and
    /// `--strict` fails). Only this bit is kept, never the length.
    short: bool,
    /// The secret was not read (`check-config --no-secrets`): such a token
    /// matches nothing, so a config loaded that way fails closed if it is
    /// ever served, and its length is unknown rather than "long enough".
    unread: bool,
}

/// Tokens shorter than this are guessable; `openssl rand -hex 32` makes 64.
pub const MIN_TOKEN_CHARS: usize = 16;

impl Token {
    pub fn new(secret: &str) -> Self {
        Token {
            digest: Sha256::digest(secret.as_bytes()).into(),
            short: secret.chars().count() < MIN_TOKEN_CHARS,
            unread: false,
        }
    }

    /// A token whose secret lives in a file or variable that was not read.
    pub fn unread() -> Self {
        Token {
            digest: [0; 32],
            short: false,
            unread: true,
        }
    }

    /// Whether the secret was not read, so its length is unknown.
    pub fn is_unread(&self) -> bool {
        self.unread
    }

    /// Whether the secret is shorter than [`MIN_TOKEN_CHARS`].
    pub fn is_short(&self) -> bool {
        self.short
    }

    /// Whether `presented` is this token, in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        bool::from(self.digest.ct_eq(&digest)) && !self.unread
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Why a ping was refused for its token.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthError {
    /// The check has a token and the request presented none.
    Missing,
    /// The request presented a token that is not the check's.
    Wrong,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthError::Missing => "this check requires a token: send Authorization: Bearer <token>, a basic-auth password, or ?token=",
            AuthError::Wrong => "wrong token for this check",
        })
    }
}

/// Accepts the check's token as a bearer token, a basic-auth password, or
/// `?token=`; a check without a token accepts everything. Every token the
/// request presents must be right (a wrong one beside a right one is
/// refused, never silently ignored), and an `Authorization` header that
/// holds no usable token (an unknown scheme, bad base64) is not a token, so
/// it cannot hide a correct `?token=`.
pub fn authorize(
    token: Option<&Token>,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<(), AuthError> {
    let Some(token) = token else {
        return Ok(());
    };
    let presented = [header_token(headers), query_token(query)];
    let mut any = false;
    // Every presented token is compared, so timing says nothing about
    // which one was wrong.
    let mut all_right = true;
    for candidate in presented.iter().flatten() {
        any = true;
        all_right &= token.matches(candidate);
    }
    match (any, all_right) {
        (false, _) => Err(AuthError::Missing),
        (true, true) => Ok(()),
        (true, false) => Err(AuthError::Wrong),
    }
}

/// The token in an `Authorization` header, if it holds one.
fn header_token(headers: &HeaderMap) -> Option<String> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())?;
    let (scheme, credentials) = auth.trim().split_once(' ').unwrap_or((auth, ""));
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return (!credentials.is_empty()).then(|| credentials.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())?;
        return decoded
            .split_once(':')
            .map(|(_, password)| password.to_string());
    }
    None
}

/// The `token` query parameter, for webhook tools that cannot set headers.
pub fn query_token(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == "token")
        .map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_is_redacted() {
        assert_eq!(format!("{:?}", Token::new("hunter2")), "Token(<redacted>)");
    }

    #[test]
    fn an_unread_token_matches_nothing() {
        let unread = Token::unread();
        assert!(unread.is_unread() && !unread.is_short());
        assert!(!unread.matches(""));
        assert_eq!(
            authorize(Some(&unread), &HeaderMap::new(), Some("token=x")),
            Err(AuthError::Wrong)
        );
    }

    #[test]
    fn token_from_query() {
        assert_eq!(query_token(Some("a=1&token=s%2Fx")), Some("s/x".into()));
        assert_eq!(query_token(Some("a=1")), None);
        assert_eq!(query_token(None), None);
    }

    #[test]
    fn bearer_basic_and_query_tokens() {
        let token = Token::new("s3cret");
        let with = |name: &str, value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                value.parse().expect("value"),
            );
            headers
        };
        let none = HeaderMap::new();
        assert_eq!(authorize(None, &none, None), Ok(()));
        assert_eq!(
            authorize(Some(&token), &none, None),
            Err(AuthError::Missing)
        );
        let bearer = with("authorization", "Bearer s3cret");
        assert_eq!(authorize(Some(&token), &bearer, None), Ok(()));
        // "user:s3cret"
        let basic = with("authorization", "Basic dXNlcjpzM2NyZXQ=");
        assert_eq!(authorize(Some(&token), &basic, None), Ok(()));
        assert_eq!(authorize(Some(&token), &none, Some("token=s3cret")), Ok(()));
        assert_eq!(
            authorize(Some(&token), &none, Some("token=nope")),
            Err(AuthError::Wrong)
        );
        // A header with no usable token does not hide a correct ?token=...
        for broken in ["Basic !!!not-base64", "Bearer", "Negotiate abc"] {
            let headers = with("authorization", broken);
            assert_eq!(
                authorize(Some(&token), &headers, Some("token=s3cret")),
                Ok(()),
                "{broken}"
            );
        }
        // ...but a wrong token beside a right one is refused.
        let wrong = with("authorization", "Bearer nope");
        assert_eq!(
            authorize(Some(&token), &wrong, Some("token=s3cret")),
            Err(AuthError::Wrong)
        );
    }
}
