//! Signed records of the key directory: the store header, users, key versions.
//!
//! Each is stored as `codec(Signed { body, signature })` where the signature is Ed25519 by the
//! directory key over `"medvault/directory/v1/" || what || codec(body)`. Sessions check them
//! against the directory public key pinned inside their own passphrase-sealed bundle, so a
//! record planted through raw storage access (a forged user, a rogue key version, an edited
//! policy) is refused.
// Re-exported by the `testing` module only; private otherwise.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub))]

use crate::codec;
use crate::crypto::keys::{SigningSecret, verify_signature};
use crate::crypto::{KdfParams, Key32, KeyKind};
use crate::error::{Fault, IntegrityError, Object, Result};
use crate::model::{StoreId, Timestamp, UserId};
use crate::policy::Policy;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};

/// A body with the directory's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed<T> {
    /// The record.
    pub body: T,
    /// Ed25519 signature by the directory key.
    pub signature: Vec<u8>,
}

fn message<T: Serialize>(what: &str, body: &T) -> Result<Vec<u8>> {
    let mut m = format!("medvault/directory/v1/{what}/").into_bytes();
    m.extend_from_slice(&codec::encode(body)?);
    Ok(m)
}

impl<T: Serialize + DeserializeOwned> Signed<T> {
    /// Signs a body. `what` is the record's domain (`header`, `user`, `key-state`,
    /// `key-version`): part of the signed message.
    pub fn sign(what: &str, body: T, key: &SigningSecret) -> Result<Self> {
        let signature = key.sign(&message(what, &body)?).to_vec();
        Ok(Signed { body, signature })
    }
    /// Checks the signature against the pinned directory key.
    pub fn verify(&self, what: &str, directory_public: &[u8; 32]) -> Result<&T> {
        let sig: [u8; 64] = self
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| IntegrityError::new(signed_object(what), Fault::BadLength))?;
        if !verify_signature(directory_public, &message(what, &self.body)?, &sig) {
            return Err(IntegrityError::new(signed_object(what), Fault::ForeignKey).into());
        }
        Ok(&self.body)
    }
}

/// The store header (Meta `header`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoreHeader {
    /// Format version of the store.
    pub format: u16,
    /// Store id.
    pub store: StoreId,
    /// Creation time.
    pub created_at: Timestamp,
    /// Directory public key (signs users, key versions, this header).
    pub directory_public: [u8; 32],
    /// Audit public key (signs checkpoints).
    pub audit_public: [u8; 32],
    /// Recovery X25519 public key: every key version is sealed to it.
    pub recovery_public: [u8; 32],
    /// Shares needed for recovery.
    pub recovery_threshold: u8,
    /// Shares issued.
    pub recovery_shares: u8,
    /// Role matrix.
    pub policy: Policy,
    /// Argon2id parameters for new users and passphrase changes.
    pub kdf: KdfParams,
    /// A checkpoint is stored every this many events.
    pub checkpoint_interval: u64,
    /// Audit payloads older than this many days may be pruned (`None`: keep everything).
    pub audit_retention_days: Option<u32>,
}

/// A user account (Users space).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserRecord {
    /// Format version of this record (1).
    pub format: u16,
    /// Signed part: who the user is and what they are given.
    pub signed: Signed<UserIdentity>,
    /// Argon2id parameters of this user's passphrase.
    pub kdf: KdfParams,
    /// Argon2id salt.
    pub salt: [u8; 16],
    /// `aead(user key, Binding::UserBundle, codec(Bundle))`; empty once revoked.
    pub bundle: Vec<u8>,
}

/// The signed part of a user record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserIdentity {
    /// Store.
    pub store: StoreId,
    /// User id.
    pub id: UserId,
    /// Login name.
    pub name: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Keys this user is entitled to (from the policy at signing time).
    pub entitled: Vec<KeyKind>,
    /// X25519 public key keys are sealed to.
    pub box_public: [u8; 32],
    /// Revoked accounts cannot unlock and receive no key.
    pub revoked: bool,
    /// Creation time.
    pub created_at: Timestamp,
}

/// What a user's passphrase unlocks.
#[derive(Serialize, Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub(crate) struct Bundle {
    /// X25519 secret.
    pub box_secret: [u8; 32],
    /// The directory public key this user trusts (pinned at account creation).
    pub directory_public: [u8; 32],
}

/// A key version (KeyVersions space).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyVersion {
    /// Format version of this record (1).
    pub format: u16,
    /// Store.
    pub store: StoreId,
    /// Which key.
    pub kind: KeyKind,
    /// Version (1, 2, ...).
    pub version: u32,
    /// SHA-256 fingerprint of the key, so a session can reject a planted key.
    pub fingerprint: [u8; 32],
    /// Creation time.
    pub created_at: Timestamp,
}

/// Fingerprint of a key version.
pub(crate) fn fingerprint(store: StoreId, kind: KeyKind, version: u32, key: &Key32) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"medvault/key-fingerprint/v1");
    h.update(store.0);
    h.update([kind.code()]);
    h.update(version.to_be_bytes());
    h.update(key.expose());
    h.finalize().into()
}

/// Storage key of a key version: kind || version (BE).
pub(crate) fn key_version_key(kind: KeyKind, version: u32) -> Vec<u8> {
    crate::layout::key_version(kind, version)
}

/// Storage key of a grant: user || kind || version (BE).
pub(crate) fn grant_key(user: UserId, kind: KeyKind, version: u32) -> Vec<u8> {
    crate::layout::grant(user, kind, version)
}

/// Which version of a key is primary (used for new writes) and which are still accepted for
/// decryption (Meta `keystate/<kind>`, directory-signed). Absent: the newest version is primary
/// and every version is accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyState {
    /// Format version (1).
    pub format: u16,
    /// Store.
    pub store: StoreId,
    /// Which key.
    pub kind: KeyKind,
    /// Version used for new writes.
    pub primary: u32,
    /// Oldest version still delivered and used for decryption.
    pub min_decryption: u32,
}

/// Meta key of a key state.
pub(crate) fn key_state_key(kind: KeyKind) -> Vec<u8> {
    crate::layout::meta::key_state(kind)
}

/// The object a signed record of domain `what` is, for errors.
fn signed_object(what: &str) -> Object {
    match what {
        "header" => Object::StoreHeader,
        "user" => Object::UserRecord,
        "key-state" => Object::KeyState,
        "signer" => Object::SignerCert,
        "profile" => Object::Profile,
        _ => Object::KeyVersion,
    }
}
