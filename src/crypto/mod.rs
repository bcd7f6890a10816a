//! Cryptographic building blocks, composed from RustCrypto and dalek crates.
//!
//! Invariants:
//! - `crypto` does no I/O and knows nothing of storage.
//! - One fixed suite per format version: AES-256-GCM (96-bit random nonce), Argon2id, HKDF-SHA256,
//!   X25519, HMAC-SHA256, Ed25519. A new suite is a new format version.
//! - Every ciphertext is sealed with an [`aad::Binding`] saying exactly where it belongs.
//! - Decryption is out of place and all-or-nothing: unauthenticated plaintext is never returned.
//! - Secret types have no `Debug`/`Display` and zeroize on drop.

pub(crate) mod aad;
pub(crate) mod aead;
pub(crate) mod blind;
pub(crate) mod kdf;
pub(crate) mod keys;
pub(crate) mod recovery;
pub(crate) mod sealbox;

pub(crate) use aad::{Binding, KeyKind};
pub(crate) use kdf::KdfParams;
pub(crate) use keys::{Key32, SigningSecret};
