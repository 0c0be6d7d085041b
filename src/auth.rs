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
}

impl Token {
    pub fn new(secret: &str) -> Self {
        Token {
            digest: Sha256::digest(secret.as_bytes()).into(),
        }
    }

    /// Whether `presented` is this token, in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.digest.ct_eq(&digest).into()
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
/// `?token=`; a check without a token accepts everything.
pub fn authorize(
    token: Option<&Token>,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<(), AuthError> {
    let Some(token) = token else {
        return Ok(());
    };
    match presented_token(headers, query) {
        None => Err(AuthError::Missing),
        Some(presented) if token.matches(&presented) => Ok(()),
        Some(_) => Err(AuthError::Wrong),
    }
}

fn presented_token(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, credentials) = auth.trim().split_once(' ').unwrap_or((auth, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(credentials.trim().to_string());
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(credentials.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())?;
            return decoded
                .split_once(':')
                .map(|(_, password)| password.to_string());
        }
    }
    query_token(query)
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
    }
}
