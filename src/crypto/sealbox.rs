//! Sealing a key to a user's X25519 public key, so that a session holding a key can hand it to
//! another user without knowing their passphrase (and an administrator can create accounts
//! without ever holding clinical keys).
//!
//! Format 2 (written): HPKE, RFC 9180, base mode, suite DHKEM(X25519, HKDF-SHA256),
//! HKDF-SHA256, AES-256-GCM, through the `hpke` crate:
//! `sealed = 0x02 ‖ enc (32) ‖ ciphertext (32) ‖ tag (16)` (81 bytes), with
//! `info = "medvault/sealbox/v2"` and the binding's associated data as HPKE `aad`.
//!
//! Format 1 (read only, stores written before it): `sealed = ephemeral_public (32) ||
//! aead::seal(k, binding, key)` (92 bytes) with `k = HKDF-SHA256(ikm = X25519(eph, recipient),
//! salt = ephemeral_public || recipient_public, info = "medvault/sealbox/v1")`. The two formats
//! are told apart by their lengths.

use super::{Binding, Key32, aead};
use crate::error::{Error, Fault, IntegrityError, Object, Result};
use hkdf::Hkdf;
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Suite = hpke::aead::AesGcm256;

/// First byte of a format 2 sealed box.
const V2: u8 = 0x02;
/// HPKE `info` of format 2.
const INFO_V2: &[u8] = b"medvault/sealbox/v2";
/// Length of a format 2 sealed box: marker, encapsulated key, key, tag.
const V2_LEN: usize = 1 + 32 + 32 + 16;
/// Length of a format 1 sealed box: ephemeral public key, nonce, key, tag.
const V1_LEN: usize = 32 + 12 + 32 + 16;

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

/// Format 1's box key.
fn box_key_v1(shared: &[u8; 32], eph_pub: &[u8; 32], recipient: &[u8; 32]) -> Key32 {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(eph_pub);
    salt[32..].copy_from_slice(recipient);
    let hk = Hkdf::<Sha256>::new(Some(&salt), shared);
    let mut okm = Zeroizing::new([0u8; 32]);
    // invariant: 32 bytes is far below HKDF-SHA256's 8160-byte output limit.
    hk.expand(b"medvault/sealbox/v1", &mut okm[..]).expect("invariant: HKDF output length");
    Key32::from_bytes(*okm)
}

/// Seals `key` to `recipient_public` (format 2).
pub(crate) fn seal_key(recipient_public: &[u8; 32], binding: &Binding, key: &Key32) -> Result<Vec<u8>> {
    let low_order =
        || IntegrityError::new(Object::SealedBox, Fault::Broken("the recipient public key is a low-order point"));
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(recipient_public).map_err(|_| low_order())?;
    // HPKE's X25519 KEM refuses a low-order recipient key (all-zero shared secret).
    let (enc, ct) =
        hpke::single_shot_seal::<Suite, Kdf, Kem>(&OpModeS::Base, &pk, INFO_V2, key.expose(), &binding.to_aad())
            .map_err(|_| low_order())?;
    let mut out = Vec::with_capacity(V2_LEN);
    out.push(V2);
    out.extend_from_slice(&enc.to_bytes());
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens a key sealed to `secret` (format 2, or format 1 of older stores).
pub(crate) fn open_key(secret: &BoxSecret, binding: &Binding, sealed: &[u8]) -> Result<Key32> {
    match sealed.len() {
        V2_LEN if sealed[0] == V2 => open_v2(secret, binding, &sealed[1..]),
        V1_LEN => open_v1(secret, binding, sealed),
        _ => Err(Error::Decrypt),
    }
}

fn open_v2(secret: &BoxSecret, binding: &Binding, body: &[u8]) -> Result<Key32> {
    let (enc, ct) = body.split_at(32);
    let sk_bytes = Zeroizing::new(secret.0.to_bytes());
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(&sk_bytes[..]).map_err(|_| Error::Decrypt)?;
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| Error::Decrypt)?;
    let plain = Zeroizing::new(
        hpke::single_shot_open::<Suite, Kdf, Kem>(&OpModeR::Base, &sk, &enc, INFO_V2, ct, &binding.to_aad())
            .map_err(|_| Error::Decrypt)?,
    );
    Key32::from_slice(&plain).ok_or(Error::Decrypt)
}

fn open_v1(secret: &BoxSecret, binding: &Binding, sealed: &[u8]) -> Result<Key32> {
    let (eph, rest) = sealed.split_at(32);
    let eph_pub: [u8; 32] = eph.try_into().map_err(|_| Error::Decrypt)?;
    let shared = secret.0.diffie_hellman(&PublicKey::from(eph_pub));
    if !shared.was_contributory() {
        return Err(Error::Decrypt);
    }
    let k = box_key_v1(shared.as_bytes(), &eph_pub, &secret.public());
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
        assert_eq!(sealed.len(), V2_LEN);
        // Any flipped byte, a cut or an extension fails.
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(open_key(&alice, &b, &bad).is_err(), "byte {i}");
        }
        assert!(open_key(&alice, &b, &sealed[..V2_LEN - 1]).is_err());
    }

    /// Format 1, as the first release sealed it (kept here to prove that old grants open).
    fn seal_v1(recipient_public: &[u8; 32], binding: &Binding, key: &Key32) -> Vec<u8> {
        let eph = BoxSecret::random();
        let eph_pub = eph.public();
        let shared = eph.0.diffie_hellman(&PublicKey::from(*recipient_public));
        let k = box_key_v1(shared.as_bytes(), &eph_pub, recipient_public);
        let mut out = eph_pub.to_vec();
        out.extend_from_slice(&aead::wrap_key(&k, binding, key));
        out
    }

    #[test]
    fn format_1_sealed_keys_still_open() {
        let alice = BoxSecret::random();
        let b = Binding::RecoveryWrap { store: StoreId([9; 16]), kind: KeyKind::Directory, version: 1 };
        let key = Key32::random();
        let old = seal_v1(&alice.public(), &b, &key);
        assert_eq!(old.len(), V1_LEN);
        assert_eq!(open_key(&alice, &b, &old).unwrap().expose(), key.expose());
        assert!(open_key(&BoxSecret::random(), &b, &old).is_err());
    }

    /// A format 2 box sealed once to a fixed secret (docs/format.md §3.3): the bytes on disk keep
    /// opening. `MEDVAULT_BLESS=1` rewrites the fixture.
    #[test]
    fn the_format_2_golden_box_opens() {
        let secret = BoxSecret::from_key(&Key32::from_bytes([7; 32]));
        let b =
            Binding::Grant { store: StoreId([3; 16]), user: UserId([1; 16]), kind: KeyKind::AuditSigning, version: 4 };
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden/sealbox_v2.hex");
        if std::env::var_os("MEDVAULT_BLESS").is_some() {
            let sealed = seal_key(&secret.public(), &b, &Key32::from_bytes([0x42; 32])).unwrap();
            std::fs::write(&path, format!("{}\n", hex::encode(sealed))).unwrap();
        }
        let sealed = hex::decode(std::fs::read_to_string(&path).unwrap().trim()).unwrap();
        assert_eq!(sealed[0], V2);
        assert_eq!(open_key(&secret, &b, &sealed).unwrap().expose(), &[0x42; 32]);
    }
}
