//! Sealing a key to a user's X25519 public key, so that a session holding a key can hand it to
//! another user without knowing their passphrase (and an administrator can create accounts
//! without ever holding clinical keys).
//!
//! `sealed = ephemeral_public (32) || aead::seal(k, binding, message)` with
//! `k = HKDF-SHA256(ikm = X25519(eph, recipient), salt = ephemeral_public || recipient_public,
//! info = "medvault/sealbox/v1")`.

use super::{Binding, Key32, aead};
use crate::error::{Error, Fault, IntegrityError, Object, Result};
use hkdf::Hkdf;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};

/// A user's X25519 secret. No `Debug`; zeroized on drop (x25519-dalek's `zeroize` feature).
pub(crate) struct BoxSecret(StaticSecret);

impl BoxSecret {
    /// A fresh random secret.
    pub(crate) fn random() -> Self {
        let mut seed: [u8; 32] = crate::model::random_bytes();
        let s = StaticSecret::from(seed);
        zeroize::Zeroize::zeroize(&mut seed);
        BoxSecret(s)
    }
    /// Rebuilds from its stored bytes.
    pub(crate) fn from_key(k: &Key32) -> Self {
        BoxSecret(StaticSecret::from(*k.expose()))
    }
    /// Its bytes, to be wrapped under the user's passphrase key.
    pub(crate) fn to_key(&self) -> Key32 {
        Key32::from_bytes(self.0.to_bytes())
    }
    /// The public key others seal to.
    pub(crate) fn public(&self) -> [u8; 32] {
        PublicKey::from(&self.0).to_bytes()
    }
}

fn box_key(shared: &[u8; 32], eph_pub: &[u8; 32], recipient: &[u8; 32]) -> Key32 {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(eph_pub);
    salt[32..].copy_from_slice(recipient);
    let hk = Hkdf::<Sha256>::new(Some(&salt), shared);
    let mut okm = zeroize::Zeroizing::new([0u8; 32]);
    // invariant: 32 bytes is far below HKDF-SHA256's 8160-byte output limit.
    hk.expand(b"medvault/sealbox/v1", &mut okm[..]).expect("invariant: HKDF output length");
    Key32::from_bytes(*okm)
}

/// Seals `key` to `recipient_public`.
pub(crate) fn seal_key(recipient_public: &[u8; 32], binding: &Binding, key: &Key32) -> Result<Vec<u8>> {
    let eph = BoxSecret::random();
    let eph_pub = eph.public();
    let shared = eph.0.diffie_hellman(&PublicKey::from(*recipient_public));
    if !shared.was_contributory() {
        return Err(IntegrityError::new(
            Object::SealedBox,
            Fault::Broken("the recipient public key is a low-order point"),
        )
        .into());
    }
    let k = box_key(shared.as_bytes(), &eph_pub, recipient_public);
    let mut out = eph_pub.to_vec();
    out.extend_from_slice(&aead::wrap_key(&k, binding, key));
    Ok(out)
}

/// Opens a key sealed to `secret`.
pub(crate) fn open_key(secret: &BoxSecret, binding: &Binding, sealed: &[u8]) -> Result<Key32> {
    if sealed.len() < 32 {
        return Err(Error::Decrypt);
    }
    let (eph, rest) = sealed.split_at(32);
    let eph_pub: [u8; 32] = eph.try_into().map_err(|_| Error::Decrypt)?;
    let shared = secret.0.diffie_hellman(&PublicKey::from(eph_pub));
    if !shared.was_contributory() {
        return Err(Error::Decrypt);
    }
    let k = box_key(shared.as_bytes(), &eph_pub, &secret.public());
    aead::unwrap_key(&k, binding, rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyKind;
    use crate::model::{Section, StoreId, UserId};

    #[test]
    fn sealed_keys_open_only_for_the_recipient_and_binding() {
        let alice = BoxSecret::random();
        let bob = BoxSecret::random();
        let b = Binding::Grant {
            store: StoreId([3; 16]),
            user: UserId([1; 16]),
            kind: KeyKind::Section(Section::Exams),
            version: 1,
        };
        let key = Key32::random();
        let sealed = seal_key(&alice.public(), &b, &key).unwrap();
        assert_eq!(open_key(&alice, &b, &sealed).unwrap().expose(), key.expose());
        assert!(open_key(&bob, &b, &sealed).is_err());
        let b2 = Binding::Grant {
            store: StoreId([3; 16]),
            user: UserId([1; 16]),
            kind: KeyKind::Section(Section::Exams),
            version: 2,
        };
        assert!(open_key(&alice, &b2, &sealed).is_err());
        assert!(seal_key(&[0u8; 32], &b, &key).is_err());
    }
}
