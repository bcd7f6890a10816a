//! Inclusion proofs: one event, the audit path to a signed checkpoint, and the checkpoint. A
//! third party checks it with the store's audit public key only, no store needed.

use super::checkpoint::Checkpoint;
use super::event::AuditEvent;
use super::log::{BackendNodes, node_key};
use super::merkle::{self, Hash};
use crate::codec;
use crate::error::{Error, Fault, IntegrityError, Missing, Object, Result};
use crate::model::InvalidInput;
use crate::storage::{Backend, Space};
use serde::{Deserialize, Serialize};

/// Proof that an event is in the log a checkpoint signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventProof {
    /// Format version (1).
    pub format: u16,
    /// The event's stored bytes (the Merkle leaf data).
    pub event: Vec<u8>,
    /// The event's sequence number (leaf index).
    pub seq: u64,
    /// Audit path (RFC 9162 §2.1.3.1), leaf to root.
    pub path: Vec<Hash>,
    /// The signed tree head the path leads to.
    pub checkpoint: Checkpoint,
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
        Ok(EventProof { format: 1, event, seq, path, checkpoint })
    }

    /// Encodes the proof (docs/format.md).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        codec::encode(self)
    }

    /// Decodes a proof; missing or trailing bytes are an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<EventProof> {
        let p: EventProof = codec::decode(bytes, crate::error::Object::EventProof)?;
        if p.format != 1 {
            return Err(IntegrityError::new(Object::EventProof, Fault::UnsupportedFormat(p.format.into())).into());
        }
        Ok(p)
    }

    /// Checks everything: the checkpoint's signature by `audit_public`, the audit path to its
    /// root (every element consumed), and that the event decodes and carries its own index.
    pub fn verify(&self, audit_public: &[u8; 32]) -> Result<AuditEvent> {
        self.checkpoint.verify(audit_public, self.checkpoint.head.store)?;
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
        Ok(ev)
    }
}
