//! Keyed blind index: lets reception find a patient by INS matricule or by birth name and birth
//! date without decrypting every identity, and without storing anything an attacker without the
//! key could test guesses against.

use super::Key32;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// What a blind token indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum BlindKind {
    /// Normalised INS matricule.
    InsMatricule = 1,
    /// Normalised birth name + birth date.
    NameAndBirthDate = 2,
}

/// `HMAC-SHA256(key, "medvault/blind/v1" || kind || value)`.
pub(crate) fn token(key: &Key32, kind: BlindKind, value: &str) -> [u8; 32] {
    // invariant: HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose()).expect("invariant: HMAC key");
    mac.update(b"medvault/blind/v1");
    mac.update(&[kind as u8]);
    mac.update(value.as_bytes());
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_keyed_and_domain_separated() {
        let k = Key32::random();
        let a = token(&k, BlindKind::InsMatricule, "1");
        assert_eq!(a, token(&k, BlindKind::InsMatricule, "1"));
        assert_ne!(a, token(&k, BlindKind::NameAndBirthDate, "1"));
        assert_ne!(a, token(&Key32::random(), BlindKind::InsMatricule, "1"));
    }
}
