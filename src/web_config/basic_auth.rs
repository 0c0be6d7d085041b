//! `basic_auth_users`: checks `Authorization: Basic` against bcrypt hashes.
//!
//! bcrypt is slow on purpose (cost 10 is ~70 ms of CPU), so a user whose
//! credentials verified once is remembered by a digest of user, password and
//! hash: a scrape every 15 s costs one bcrypt per process, not one per
//! request. Failures are never cached, and the router charges them to the
//! client address's failed-login budget before any bcrypt runs, so guessing
//! cannot burn the CPU. An unknown user costs a bcrypt too, so timing does
//! not tell which users exist.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use base64::Engine as _;
use hyper::header::HeaderValue;
use sha2::{Digest, Sha256};

/// Credentials remembered at most; past it the cache starts again, which
/// costs one bcrypt per user.
const MAX_CACHED: usize = 1024;

/// A hash no password matches, for unknown users (cost 10, like real ones).
const DUMMY_HASH: &str = "$2b$10$Eml/hgga/xi9iFXtiWaVCuKIb7H6R.cizK/iV2zAzONlrW.yZFaQ2";

/// The configured users and the credentials already verified.
#[derive(Debug)]
pub struct BasicAuth {
    /// User → bcrypt hash.
    users: BTreeMap<String, String>,
    /// Digests of (user, password, hash) that verified.
    verified: Mutex<HashSet<[u8; 32]>>,
}

/// The outcome of checking one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    /// Credentials verified.
    Allowed,
    /// No `Authorization: Basic` header, or one that cannot be read.
    Missing,
    /// A user and password that did not verify.
    Wrong,
}

/// `user:password` from an `Authorization: Basic …` header.
fn credentials(header: Option<&HeaderValue>) -> Option<(String, String)> {
    let value = header?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

impl BasicAuth {
    /// `None` when no users are configured (no basic auth).
    pub fn new(users: BTreeMap<String, String>) -> Option<BasicAuth> {
        (!users.is_empty()).then(|| BasicAuth {
            users,
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// True if the header carries credentials that were verified before;
    /// cheap, so it runs before any failed-login budget is charged.
    pub fn cached(&self, header: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = credentials(header) else {
            return false;
        };
        let key = self.key(&user, &password);
        self.lock().contains(&key)
    }

    /// Verifies the header's credentials with bcrypt (on a blocking
    /// thread: it takes tens of milliseconds).
    pub async fn verify(&self, header: Option<&HeaderValue>) -> Check {
        let Some((user, password)) = credentials(header) else {
            return Check::Missing;
        };
        let hash = self.users.get(&user).cloned();
        let key = self.key(&user, &password);
        let candidate = hash.clone().unwrap_or_else(|| DUMMY_HASH.to_string());
        let matched = tokio::task::spawn_blocking(move || {
            bcrypt::verify(password, &candidate).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        if !(matched && hash.is_some()) {
            return Check::Wrong;
        }
        let mut verified = self.lock();
        if verified.len() >= MAX_CACHED {
            verified.clear();
        }
        verified.insert(key);
        Check::Allowed
    }

    fn key(&self, user: &str, password: &str) -> [u8; 32] {
        let hash = self.users.get(user).map(String::as_str).unwrap_or("");
        let mut digest = Sha256::new();
        for part in [user, password, hash] {
            digest.update((part.len() as u64).to_be_bytes());
            digest.update(part.as_bytes());
        }
        digest.finalize().into()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$2b$04$9v57qvoxmauBiva4O/je/e2XkEvvQDuUf/Wrn4L03Ol6IbaEsnPau";

    fn header(user: &str, password: &str) -> HeaderValue {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).expect("header")
    }

    fn auth() -> BasicAuth {
        BasicAuth::new(BTreeMap::from([("prom".to_string(), HASH.to_string())])).expect("users")
    }

    #[tokio::test]
    async fn right_credentials_verify_once_and_are_then_cached() {
        let auth = auth();
        let right = header("prom", "secret");
        assert!(!auth.cached(Some(&right)));
        assert_eq!(auth.verify(Some(&right)).await, Check::Allowed);
        assert!(auth.cached(Some(&right)));
    }

    #[tokio::test]
    async fn wrong_or_missing_credentials_are_refused_and_never_cached() {
        let auth = auth();
        for wrong in [
            header("prom", "Secret"),
            header("nobody", "secret"),
            header("prom", ""),
        ] {
            assert_eq!(auth.verify(Some(&wrong)).await, Check::Wrong);
            assert!(!auth.cached(Some(&wrong)));
        }
        assert_eq!(auth.verify(None).await, Check::Missing);
        let bearer = HeaderValue::from_static("Bearer abc");
        assert_eq!(auth.verify(Some(&bearer)).await, Check::Missing);
        let garbage = HeaderValue::from_static("Basic !!!");
        assert_eq!(auth.verify(Some(&garbage)).await, Check::Missing);
    }

    /// htpasswd writes `$2y$` hashes; the README's example is one.
    #[tokio::test]
    async fn htpasswd_hashes_verify() {
        let users = BTreeMap::from([(
            "prometheus".to_string(),
            "$2y$10$47ehu5lJoTZyHUulk1n/KuKRSdTl9TyDkirdxqdLThGqviijiZd7e".to_string(),
        )]);
        let auth = BasicAuth::new(users).expect("users");
        assert_eq!(
            auth.verify(Some(&header("prometheus", "change-me"))).await,
            Check::Allowed
        );
    }

    #[test]
    fn the_dummy_hash_is_a_valid_bcrypt_hash() {
        assert!(DUMMY_HASH.parse::<bcrypt::HashParts>().is_ok());
        assert!(BasicAuth::new(BTreeMap::new()).is_none());
    }
}
