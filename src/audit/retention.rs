//! Retention of audit payloads: events older than the store's retention setting lose their
//! payload (and index entries), never their Merkle leaf, so the log still verifies and every
//! signed root stays provable. The pruning horizon is signed by the pruning auditor's own key,
//! so deleting events and claiming they were pruned is caught.

use super::checkpoint::Checkpoint;
use super::event::AuditEvent;
use super::log::patient_index_key;

use crate::codec;
use crate::crypto::SigningSecret;
use crate::crypto::keys::verify_signature;
use crate::error::{Fault, IntegrityError, Object, Result};
use crate::keyring::signers::TrustedSigners;
use crate::model::{StoreId, Timestamp};
use crate::storage::{Backend, Batch, Committer, Order, Space};
use serde::{Deserialize, Serialize};

pub(crate) const META_PRUNED: &[u8] = crate::layout::meta::AUDIT_PRUNED;

/// Events `0..horizon` have had their payload pruned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PruneMark {
    /// Format version (1).
    pub format: u16,
    /// Store.
    pub store: StoreId,
    /// First sequence number whose payload is kept.
    pub horizon: u64,
    /// When the pruning ran.
    pub time: Timestamp,
}

/// A signed prune mark.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SignedPruneMark {
    /// The mark.
    pub mark: PruneMark,
    /// Signer (a user's certified key, or the store audit key).
    pub signer: [u8; 32],
    /// Ed25519 signature over `"medvault/prune/v1" || codec(mark)`.
    pub signature: Vec<u8>,
}

fn message(mark: &PruneMark) -> Result<Vec<u8>> {
    let mut m = b"medvault/prune/v1".to_vec();
    m.extend_from_slice(&codec::encode(mark)?);
    Ok(m)
}

impl SignedPruneMark {
    /// Checks the signature and that its key may have signed at the mark's time; returns the
    /// horizon.
    pub(crate) fn verify(&self, signers: &TrustedSigners, store: StoreId) -> Result<u64> {
        let sig: [u8; 64] = self
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| IntegrityError::new(Object::PruneMark, Fault::BadLength))?;
        if self.mark.store != store || !verify_signature(&self.signer, &message(&self.mark)?, &sig) {
            return Err(IntegrityError::new(Object::PruneMark, Fault::ForeignKey).into());
        }
        signers.check(&self.signer, self.mark.time)?;
        Ok(self.mark.horizon)
    }
}

/// The stored prune mark, if any.
pub(crate) fn load_mark(backend: &dyn Backend) -> Result<Option<SignedPruneMark>> {
    match backend.get(Space::Meta, META_PRUNED)? {
        Some(v) => Ok(Some(codec::decode(&v, crate::error::Object::PruneMark)?)),
        None => Ok(None),
    }
}

/// Deletes the payloads and index entries of every event recorded before `cutoff`, from the
/// current horizon up to the first event at or after `cutoff` (the log is pruned as a prefix).
/// Returns (events pruned, new horizon). Only events covered by a signed head are pruned.
pub(crate) fn prune(
    backend: &dyn Backend,
    committer: &Committer,
    signers: &TrustedSigners,
    store: StoreId,
    key: &SigningSecret,
    cutoff: Timestamp,
    now: Timestamp,
) -> Result<(u64, u64)> {
    let mut horizon = match load_mark(backend)? {
        Some(m) => m.verify(signers, store)?,
        None => 0,
    };
    let signed_size = match backend.get(Space::Meta, super::log::META_HEAD)? {
        Some(v) => codec::decode::<Checkpoint>(&v, crate::error::Object::SignedHead)?.head.size,
        None => 0,
    };
    let mut pruned = 0u64;
    loop {
        let rows = backend.range(
            Space::AuditEvents,
            &horizon.to_be_bytes(),
            Some(&signed_size.to_be_bytes()),
            Order::Ascending,
            4096,
        )?;
        let mut batch = Batch::new();
        let mut next = horizon;
        for (k, v) in &rows {
            let ev = AuditEvent::decode(v)?;
            if ev.recorded_at >= cutoff || ev.seq != next {
                break;
            }
            batch.delete(Space::AuditEvents, k.clone());
            if let Some(p) = ev.entity.patient {
                batch.delete(Space::AuditByPatient, patient_index_key(p, ev.seq));
            }
            batch.delete(Space::AuditByUser, crate::layout::audit_by_user(&ev.agent.name, ev.seq));
            if let Some(t) = ev.entity.target_user.as_deref() {
                batch.delete(Space::AuditByUser, crate::layout::audit_by_user(t, ev.seq));
            }
            batch.delete(Space::AuditByTime, crate::layout::audit_by_time(ev.recorded_at, ev.seq));
            if ev.is_authentication() {
                batch.delete(Space::AuditAuthByUser, crate::layout::audit_by_user(&ev.agent.name, ev.seq));
                if let Some(t) = ev.entity.target_user.as_deref() {
                    batch.delete(Space::AuditAuthByUser, crate::layout::audit_by_user(t, ev.seq));
                }
            }
            next += 1;
        }
        if next == horizon {
            break;
        }
        pruned += next - horizon;
        horizon = next;
        let mark = PruneMark { format: 1, store, horizon, time: now };
        let signed =
            SignedPruneMark { signature: key.sign(&message(&mark)?).to_vec(), signer: key.verifying_key(), mark };
        batch.put(Space::Meta, META_PRUNED.to_vec(), codec::encode(&signed)?);
        committer.commit(&batch, true, None)?;
        if (rows.len() as u64) < 4096 {
            break;
        }
    }
    Ok((pruned, horizon))
}
