//! Signed tree heads (checkpoints): `(store, size, root, time)` signed with the Ed25519 key of
//! the user whose session signed (`keyring::signers`), which the head names by its public key. Exported to a file kept elsewhere, a checkpoint is an anchor: a later log must
//! extend it (consistency proof), so truncation and rollback to an older copy are caught.

use super::merkle::Hash;
use crate::codec;
use crate::crypto::keys::{SigningSecret, verify_signature};
use crate::error::{Error, Fault, IntegrityError, Object, Result};
use crate::keyring::signers::{SignedBy, TrustedSigners};
use crate::model::{InvalidInput, StoreId, Timestamp};
use serde::{Deserialize, Serialize};
use serde_with::{Bytes, IfIsHumanReadable, hex::Hex};

/// What a checkpoint signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeHead {
    /// Store.
    pub store: StoreId,
    /// Number of events.
    pub size: u64,
    /// Merkle root of the first `size` events.
    pub root: Hash,
    /// When it was signed.
    pub time: Timestamp,
}

/// A signed tree head. The signature is hex in JSON, raw (length-prefixed) in the binary codec.
#[serde_with::serde_as]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version (1).
    pub format: u16,
    /// The signed content.
    pub head: TreeHead,
    /// Ed25519 public key that signed: a user's certified key, or the store audit key.
    pub signer: [u8; 32],
    /// Ed25519 signature.
    #[serde_as(as = "IfIsHumanReadable<Hex, Bytes>")]
    pub signature: [u8; 64],
}

fn message(head: &TreeHead) -> Result<Vec<u8>> {
    let mut m = b"medvault/checkpoint/v1".to_vec();
    m.extend_from_slice(&codec::encode(head)?);
    Ok(m)
}

impl Checkpoint {
    /// Signs a tree head.
    pub fn sign(head: TreeHead, key: &SigningSecret) -> Result<Checkpoint> {
        let signature = key.sign(&message(&head)?);
        Ok(Checkpoint { format: 1, head, signer: key.verifying_key(), signature })
    }

    /// Checks the store, the signature, and that the signing key may have signed at the head's
    /// time (a user's certified key, or the store audit key); returns who signed.
    pub fn verify(&self, signers: &TrustedSigners, store: StoreId) -> Result<SignedBy> {
        if self.format != 1 {
            return Err(IntegrityError::new(Object::Checkpoint, Fault::UnsupportedFormat(self.format.into())).into());
        }
        if self.head.store != store || signers.store() != store {
            return Err(IntegrityError::new(Object::Checkpoint, Fault::ForeignStore).at(self.head.size).into());
        }
        if !verify_signature(&self.signer, &message(&self.head)?, &self.signature) {
            return Err(IntegrityError::new(Object::Checkpoint, Fault::BadSignature).at(self.head.size).into());
        }
        signers.check(&self.signer, self.head.time).map_err(|e| match e {
            Error::Integrity(i) => Error::Integrity(i.at(self.head.size)),
            other => other,
        })
    }

    /// JSON form for anchoring files.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct J<'a> {
            format: &'static str,
            store: String,
            size: u64,
            root: String,
            time: String,
            time_ms: i64,
            signer: String,
            signature: String,
            #[serde(skip)]
            _p: std::marker::PhantomData<&'a ()>,
        }
        let j = J {
            format: "medvault-checkpoint-v1",
            store: self.head.store.to_string(),
            size: self.head.size,
            root: hex::encode(self.head.root),
            time: self.head.time.to_string(),
            time_ms: self.head.time.0,
            signer: hex::encode(self.signer),
            signature: hex::encode(self.signature),
            _p: std::marker::PhantomData,
        };
        // invariant: plain strings and integers always serialize.
        serde_json::to_string_pretty(&j).expect("invariant: checkpoint JSON")
    }

    /// Parses the JSON anchoring form (signature not yet checked).
    pub fn from_json(text: &str) -> Result<Checkpoint> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct J {
            format: String,
            store: String,
            size: u64,
            root: String,
            #[allow(dead_code)]
            time: String,
            time_ms: i64,
            signer: String,
            signature: String,
        }
        let bad = |field: &'static str| {
            Error::Invalid(InvalidInput::Malformed { field, expected: "as in a medvault-checkpoint-v1 document" })
        };
        let j: J = serde_json::from_str(text).map_err(|_| bad("checkpoint file"))?;
        if j.format != "medvault-checkpoint-v1" {
            return Err(bad("checkpoint format"));
        }
        let hex32 = |s: &str, what: &'static str| -> Result<[u8; 32]> {
            let mut out = [0u8; 32];
            hex::decode_to_slice(s, &mut out).map_err(|_| bad(what))?;
            Ok(out)
        };
        let mut signature = [0u8; 64];
        hex::decode_to_slice(&j.signature, &mut signature).map_err(|_| bad("signature"))?;
        Ok(Checkpoint {
            format: 1,
            head: TreeHead {
                store: StoreId::parse(&j.store)?,
                size: j.size,
                root: hex32(&j.root, "root")?,
                time: Timestamp(j.time_ms),
            },
            signer: hex32(&j.signer, "signer")?,
            signature,
        })
    }
}
