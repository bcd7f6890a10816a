//! Secret newtypes. None implements `Debug`, `Display` or `Serialize`; all zeroize on drop.
// Re-exported by the `testing` module only; private otherwise.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub))]

use zeroize::{Zeroize, ZeroizeOnDrop};

/// A 256-bit symmetric key (section key, data key, user key, recovery key, blind-index key).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key32([u8; 32]);

impl Key32 {
    /// A fresh random key.
    pub fn random() -> Self {
        Key32(crate::model::random_bytes())
    }
    /// Wraps existing bytes (the caller zeroizes its copy).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Key32(bytes)
    }
    /// Builds a key from a slice of exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(Key32(arr))
    }
    /// The key bytes, for the crypto primitives only.
    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

/// An Ed25519 signing key (audit checkpoints, directory of users).
#[derive(Clone)]
pub struct SigningSecret(ed25519_dalek::SigningKey);

impl SigningSecret {
    /// A fresh random signing key.
    pub fn random() -> Self {
        let mut seed: [u8; 32] = crate::model::random_bytes();
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        seed.zeroize();
        SigningSecret(key)
    }
    /// Rebuilds from a 32-byte seed held in a [`Key32`].
    pub fn from_key(seed: &Key32) -> Self {
        SigningSecret(ed25519_dalek::SigningKey::from_bytes(seed.expose()))
    }
    /// The seed, to be wrapped for storage.
    pub fn to_key(&self) -> Key32 {
        Key32::from_bytes(self.0.to_bytes())
    }
    /// The public half.
    pub fn verifying_key(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }
    /// Signs a message.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        self.0.sign(msg).to_bytes()
    }
}

/// Verifies an Ed25519 signature (strict: rejects malleable and small-order forms).
///
/// Signed directory records (key versions, key states, users) are read again on every write;
/// a signature that verified once is remembered by the SHA-256 of `(public key, signature,
/// message)`, so the same bytes are not verified twice. Only successes are remembered, and
/// the memory is bounded (cleared when full). (A B-tree rather than a hash set: it holds
/// pointers to the start of its allocations, so leak checkers run by C hosts see it reachable.)
pub(crate) fn verify_signature(public: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    use sha2::{Digest, Sha256};
    use std::collections::BTreeSet;
    use std::sync::{Mutex, OnceLock};
    static VERIFIED: OnceLock<Mutex<BTreeSet<[u8; 32]>>> = OnceLock::new();
    const REMEMBERED: usize = 4096;
    let id: [u8; 32] = Sha256::new()
        .chain_update(b"medvault/verified-signature/")
        .chain_update(public)
        .chain_update(sig)
        .chain_update(msg)
        .finalize()
        .into();
    let memory = VERIFIED.get_or_init(|| Mutex::new(BTreeSet::new()));
    if memory.lock().is_ok_and(|m| m.contains(&id)) {
        return true;
    }
    let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(public) else {
        return false;
    };
    let ok = vk.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(sig)).is_ok();
    if ok && let Ok(mut m) = memory.lock() {
        if m.len() >= REMEMBERED {
            m.clear();
        }
        m.insert(id);
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_reject_edits() {
        let k = SigningSecret::random();
        let sig = k.sign(b"checkpoint");
        assert!(verify_signature(&k.verifying_key(), b"checkpoint", &sig));
        assert!(!verify_signature(&k.verifying_key(), b"checkpoinT", &sig));
        let again = SigningSecret::from_key(&k.to_key());
        assert_eq!(again.verifying_key(), k.verifying_key());
    }
}
