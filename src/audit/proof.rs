//! Inclusion proofs: one event, the audit path to a signed checkpoint, the checkpoint, and the
//! directory-signed certificate of the user key that signed it. A third party checks it with
//! the store's directory public key only, no store needed.

use super::checkpoint::Checkpoint;
use super::event::AuditEvent;
use super::log::{BackendNodes, node_key};
use super::merkle::{self, Hash};
use crate::codec;
use crate::error::{Error, Fault, IntegrityError, Missing, Object, Result};
use crate::keyring::Signed;
use crate::keyring::signers::{SignedBy, SignerCert, SignerRecord, TrustedSigners};
use crate::model::InvalidInput;
use crate::storage::{Backend, Space};
use serde::{Deserialize, Serialize};

/// Proof that an event is in the log a checkpoint signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventProof {
    /// Format version (2; format 1 had no `signer`).
    pub format: u16,
    /// The event's stored bytes (the Merkle leaf data).
    pub event: Vec<u8>,
    /// The event's sequence number (leaf index).
    pub seq: u64,
    /// Audit path (RFC 9162 §2.1.3.1), leaf to root.
    pub path: Vec<Hash>,
    /// The signed tree head the path leads to.
    pub checkpoint: Checkpoint,
    /// The certificate of the user key that signed the checkpoint (`None`: the store audit key
    /// signed it).
    pub signer: Option<Signed<SignerCert>>,
}

/// The layout of format 1.
#[derive(Deserialize)]
struct EventProofV1 {
    format: u16,
    event: Vec<u8>,
    seq: u64,
    path: Vec<Hash>,
    checkpoint: Checkpoint,
}

/// The certificate stored for a signing key (`None` for a key no user holds: the store audit key).
pub(crate) fn signer_cert(backend: &dyn Backend, public: &[u8; 32]) -> Result<Option<Signed<SignerCert>>> {
    match backend.get(Space::Signers, public)? {
        Some(v) => Ok(Some(codec::decode::<SignerRecord>(&v, Object::SignerCert)?.cert)),
        None => Ok(None),
    }
}

impl EventProof {
    /// Builds the proof of event `seq` against `checkpoint` from stored nodes.
    pub fn build(backend: &dyn Backend, seq: u64, checkpoint: Checkpoint) -> Result<EventProof> {
        let event = backend
            .get(Space::AuditEvents, &seq.to_be_bytes())?
            .ok_or_else(|| Error::NotFound(Missing::AuditEvent(seq)))?;
        if backend.get(Space::AuditNodes, &node_key(0, seq))?.is_none() {
            return Err(IntegrityError::new(Object::AuditEvent, Fault::Broken("no Merkle leaf")).at(seq).into());
        }
        let path = merkle::inclusion_proof(&BackendNodes(backend), seq, checkpoint.head.size).map_err(|_| {
            Error::Invalid(InvalidInput::Rule("the event is not covered by the newest checkpoint yet: sign one first"))
        })?;
        let signer = signer_cert(backend, &checkpoint.signer)?;
        Ok(EventProof { format: 2, event, seq, path, checkpoint, signer })
    }

    /// Encodes the proof (docs/format.md).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        codec::encode(self)
    }

    /// Decodes a proof (format 1 or 2); missing or trailing bytes are an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<EventProof> {
        match codec::leading_format(bytes) {
            1 => {
                let p: EventProofV1 = codec::decode(bytes, crate::error::Object::EventProof)?;
                Ok(EventProof {
                    format: p.format,
                    event: p.event,
                    seq: p.seq,
                    path: p.path,
                    checkpoint: p.checkpoint,
                    signer: None,
                })
            }
            2 => codec::decode(bytes, crate::error::Object::EventProof),
            f => Err(IntegrityError::new(Object::EventProof, Fault::UnsupportedFormat(f.into())).into()),
        }
    }

    /// Checks everything: the checkpoint's signature, by a key `key` certifies (the store's
    /// directory key) or by `key` itself (the audit key of a store older than format 4); the
    /// audit path to its root (every element consumed); and that the event decodes and carries
    /// its own index. Returns the event and who signed.
    pub fn verify(&self, key: &[u8; 32]) -> Result<(AuditEvent, SignedBy)> {
        let signers = TrustedSigners::offline(self.checkpoint.head.store, key, self.signer.as_ref())?;
        let by = self.checkpoint.verify(&signers, self.checkpoint.head.store)?;
        let leaf = merkle::leaf_hash(&self.event);
        if !merkle::verify_inclusion(self.seq, self.checkpoint.head.size, &leaf, &self.path, &self.checkpoint.head.root)
        {
            return Err(IntegrityError::new(Object::EventProof, Fault::Broken("the event is not in the signed log"))
                .at(self.seq)
                .into());
        }
        let ev = AuditEvent::decode(&self.event)?;
        if ev.seq != self.seq {
            return Err(IntegrityError::new(Object::EventProof, Fault::OutOfPlace).at(self.seq).into());
        }
        Ok((ev, by))
    }
}
