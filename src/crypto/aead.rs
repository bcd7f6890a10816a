//! AES-256-GCM with a random 96-bit nonce.
//!
//! `sealed = nonce (12) || ciphertext || tag (16)`. Every key here encrypts few messages (a data
//! key seals one revision; a section key wraps one data key per revision), far below the 2^32
//! random-nonce limit of SP 800-38D.
// Re-exported by the `testing` module only; private otherwise.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub))]

use super::{Binding, Key32};
use crate::error::{Error, Result};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

/// Nonce length in bytes.
pub const NONCE_LEN: usize = 12;
/// Tag length in bytes.
pub const TAG_LEN: usize = 16;

fn cipher(key: &Key32) -> Aes256Gcm {
    // invariant: a Key32 is exactly the 32 bytes AES-256 takes.
    Aes256Gcm::new_from_slice(key.expose()).expect("invariant: 32-byte key")
}

/// Encrypts `plaintext` bound to `binding`.
pub fn seal(key: &Key32, binding: &Binding, plaintext: &[u8]) -> Vec<u8> {
    let nonce_bytes: [u8; NONCE_LEN] = crate::model::random_bytes();
    let aad = binding.to_aad();
    let nonce = Nonce::from(nonce_bytes);
    // invariant: aes-gcm only fails to encrypt messages over 64 GiB; the codec caps at 16 MiB.
    let ct = cipher(key)
        .encrypt(&nonce, Payload { msg: plaintext, aad: &aad })
        .expect("invariant: message below the GCM length limit");
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&ct);
    out
}

/// Decrypts and authenticates; any failure is the one opaque [`Error::Decrypt`].
pub fn open(key: &Key32, binding: &Binding, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(Error::Decrypt);
    }
    let (nonce_bytes, ct) = sealed.split_at(NONCE_LEN);
    let nonce_arr: [u8; NONCE_LEN] = nonce_bytes.try_into().map_err(|_| Error::Decrypt)?;
    let aad = binding.to_aad();
    cipher(key)
        .decrypt(&Nonce::from(nonce_arr), Payload { msg: ct, aad: &aad })
        .map(Zeroizing::new)
        .map_err(|_| Error::Decrypt)
}

/// Seals a key under another key.
pub fn wrap_key(kek: &Key32, binding: &Binding, key: &Key32) -> Vec<u8> {
    seal(kek, binding, key.expose())
}

/// Opens a wrapped key.
pub fn unwrap_key(kek: &Key32, binding: &Binding, sealed: &[u8]) -> Result<Key32> {
    let bytes = open(kek, binding, sealed)?;
    Key32::from_slice(&bytes).ok_or(Error::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{StoreId, UserId};

    #[test]
    fn round_trip_and_every_flip_fails() {
        let k = Key32::random();
        let b = Binding::RecoveryCheck { store: StoreId([1; 16]) };
        let sealed = seal(&k, &b, b"hello");
        assert_eq!(&open(&k, &b, &sealed).unwrap()[..], b"hello");
        for i in 0..sealed.len() {
            let mut s = sealed.clone();
            s[i] ^= 0x01;
            assert!(matches!(open(&k, &b, &s), Err(Error::Decrypt)), "byte {i}");
        }
        assert!(open(&k, &b, &sealed[..sealed.len() - 1]).is_err());
        let other = Binding::UserBundle { store: StoreId([1; 16]), user: UserId([0; 16]) };
        assert!(open(&k, &other, &sealed).is_err());
        assert!(open(&Key32::random(), &b, &sealed).is_err());
    }
}
