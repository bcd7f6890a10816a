//! Cryptographic building blocks, composed from RustCrypto and dalek crates.
//!
//! Invariants:
//! - `crypto` does no I/O and knows nothing of storage.
//! - One fixed suite per format version: AES-256-GCM (96-bit random nonce), Argon2id, HKDF-SHA256,
//!   X25519, HMAC-SHA256, Ed25519. A new suite is a new format version.
//! - Every ciphertext is sealed with an [`aad::Binding`] saying exactly where it belongs.
//! - Decryption is out of place and all-or-nothing: unauthenticated plaintext is never returned.
//! - Secret types have no `Debug`/`Display` and zeroize on drop.

pub mod aad;
pub mod aead;
pub mod blind;
pub mod kdf;
pub mod keys;
pub mod recovery;
pub mod sealbox;

pub use aad::{Binding, KeyKind};
pub use kdf::KdfParams;
pub use keys::{Key32, SigningSecret};
