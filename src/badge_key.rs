//! Badge keys: the part of a public badge URL that proves the operator
//! published it. A key is the first 64 bits of HMAC-SHA256 of the badge's
//! subject (`check:<name>` or `team:<team>`) under `[badges] secret`, in
//! hex, as Healthchecks derives its badge URLs: without the secret nobody
//! can make the URL of a badge they were not given, so a public badge
//! reveals nothing about checks or teams its URL does not name, and
//! rotating the secret changes every key at once.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Secrets shorter than this are refused: badge URLs are published, and
/// anyone holding one can test guesses of the secret offline.
pub const MIN_SECRET_CHARS: usize = 16;

/// Bytes of the MAC a key keeps: 64 bits, far beyond online guessing
/// (and offline guessing attacks the secret, not the key).
const KEY_BYTES: usize = 8;

/// Length of a key in a URL: two hex digits a byte.
pub const KEY_CHARS: usize = KEY_BYTES * 2;

/// What a badge shows the state of, and what its key is derived from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// One check, by name.
    Check(String),
    /// Every check whose `team` is this.
    Team(String),
}

impl Subject {
    /// The text the key is a MAC of. The prefixes keep a check and a team
    /// of the same name apart.
    fn text(&self) -> String {
        match self {
            Subject::Check(name) => format!("check:{name}"),
            Subject::Team(team) => format!("team:{team}"),
        }
    }

    /// The check name or team name itself.
    pub fn name(&self) -> &str {
        match self {
            Subject::Check(name) | Subject::Team(name) => name,
        }
    }
}

/// The keyed MAC for `[badges]`. Holds the HMAC's padded-key state, never
/// the secret text, and never prints it.
#[derive(Clone)]
pub struct BadgeKeys {
    /// `None` when the secret was not read (`--no-secrets`): such keys
    /// verify nothing, so a config loaded that way fails closed if served.
    mac: Option<Hmac<Sha256>>,
}

impl BadgeKeys {
    pub fn new(secret: &str) -> BadgeKeys {
        BadgeKeys {
            // HMAC takes a key of any length; this cannot fail.
            mac: Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok(),
        }
    }

    /// Keys whose secret lives in a file or variable that was not read.
    pub fn unread() -> BadgeKeys {
        BadgeKeys { mac: None }
    }

    /// Whether the secret was not read.
    pub fn is_unread(&self) -> bool {
        self.mac.is_none()
    }

    /// The key for `subject`, as it appears in the URL; `None` when the
    /// secret was not read.
    pub fn key(&self, subject: &Subject) -> Option<String> {
        self.tag(subject).map(|tag| hex(&tag))
    }

    /// Whether `presented` is the key for `subject`, compared in constant
    /// time (the length of a key is public).
    pub fn verify(&self, subject: &Subject, presented: &str) -> bool {
        match (self.tag(subject), decode_hex(presented)) {
            (Some(tag), Some(presented)) => bool::from(tag.ct_eq(&presented)),
            _ => false,
        }
    }

    fn tag(&self, subject: &Subject) -> Option<[u8; KEY_BYTES]> {
        let mut mac = self.mac.clone()?;
        mac.update(subject.text().as_bytes());
        let full = mac.finalize().into_bytes();
        let mut tag = [0; KEY_BYTES];
        tag.copy_from_slice(&full[..KEY_BYTES]);
        Some(tag)
    }
}

impl fmt::Debug for BadgeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BadgeKeys(<redacted>)")
    }
}

/// Whether `text` is shaped like a key: [`KEY_CHARS`] lowercase hex digits.
pub fn is_key(text: &str) -> bool {
    text.len() == KEY_CHARS && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Lowercase hex, two digits a byte.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<[u8; KEY_BYTES]> {
    if !is_key(text) {
        return None;
    }
    let mut bytes = [0; KEY_BYTES];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 ("Jefe"), truncated to the key's 64 bits, as
    /// a check on how the MAC is used (key, message, output order).
    #[test]
    fn the_mac_is_hmac_sha256() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").expect("any key length");
        mac.update(b"what do ya want for nothing?");
        let full = mac.finalize().into_bytes();
        assert_eq!(
            hex(&full),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // The same through BadgeKeys: "check:" + name is the message.
        let keys = BadgeKeys::new("Jefe");
        let subject = Subject::Check("x".into());
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").expect("any key length");
        mac.update(b"check:x");
        let expected = hex(&mac.finalize().into_bytes()[..8]);
        assert_eq!(keys.key(&subject), Some(expected));
    }

    #[test]
    fn keys_depend_on_the_subject_and_the_secret() {
        let keys = BadgeKeys::new("0123456789abcdef-secret");
        let orders = Subject::Check("orders".into());
        let key = keys.key(&orders).expect("read");
        assert!(is_key(&key), "{key}");
        assert!(keys.verify(&orders, &key));
        // A team of the same name has another key.
        let team = Subject::Team("orders".into());
        assert_ne!(keys.key(&team), Some(key.clone()));
        assert!(!keys.verify(&team, &key));
        // Rotating the secret changes every key.
        let rotated = BadgeKeys::new("0123456789abcdef-rotated");
        assert!(!rotated.verify(&orders, &key));
        // Malformed keys never verify.
        for wrong in ["", &key[..15], &key.to_uppercase(), &format!("{key}0")] {
            assert!(!keys.verify(&orders, wrong), "{wrong}");
        }
    }

    #[test]
    fn unread_keys_verify_nothing_and_nothing_is_printed() {
        let unread = BadgeKeys::unread();
        assert!(unread.is_unread());
        let subject = Subject::Check("a".into());
        assert_eq!(unread.key(&subject), None);
        assert!(!unread.verify(&subject, "0000000000000000"));
        assert_eq!(
            format!("{:?}", BadgeKeys::new("hunter2-hunter2-hunter2")),
            "BadgeKeys(<redacted>)"
        );
    }
}
