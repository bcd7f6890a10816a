//! The narrow internal API that exports and patients' rights use instead of the store's state:
//! what they may read without decrypting (patient headers, audit events, proofs), the clock and
//! the signed header, and the one staging step of an erasure. Plaintext never comes from here:
//! it comes only from `open_section` under a grant, through the release step.

use super::Session;
use super::records::PatientHeader;
use crate::audit::{Action, AuditEvent, AuditQuery, Checkpoint, Entity, EventProof, Outcome};
use crate::codec;
use crate::crypto::SigningSecret;
use crate::error::{Error, Missing, Result};
use crate::keyring::StoreHeader;
use crate::model::{InvalidInput, PatientId, Timestamp};
use crate::storage::{Batch, Order, Space};
use std::sync::Arc;

impl Session {
    /// Records, in a store just restored from a backup older than an anchored checkpoint, that
    /// an administrator forced it: an audited `restore-forced` event naming both sizes and
    /// roots, and the reason sealed (`Meta[restore-forced/ ‖ restored ‖ anchored]`).
    pub(crate) fn record_forced_restore(
        &self,
        restored: (u64, String),
        anchored: &Checkpoint,
        reason: &str,
    ) -> Result<()> {
        crate::model::check_text("reason", reason, super::break_glass::MAX_JUSTIFICATION)?;
        let ok = self.header().policy.may_manage(&self.user.roles);
        self.require(ok, Action::RestoreForced, Entity::default(), crate::error::Denied::ManageUsers)?;
        let place = super::notes::NotePlace::RestoreForced { restored: restored.0, anchored: anchored.head.size };
        let note = self.seal_note(place, reason.trim())?;
        let mut batch = Batch::new();
        let key =
            [b"restore-forced/".as_slice(), &restored.0.to_be_bytes(), &anchored.head.size.to_be_bytes()].concat();
        batch.put(Space::Meta, key, codec::encode(&note)?);
        let detail = format!(
            "restored a backup of {} events (root {}) over an anchored checkpoint of {} events (root {}); reason sealed",
            restored.0,
            restored.1,
            anchored.head.size,
            hex::encode(anchored.head.root)
        );
        self.commit(vec![self.draft(Action::RestoreForced, Outcome::Success, Entity::default()).detail(detail)], batch)
            .map(|_| ())
    }

    /// The current time of the store's clock.
    pub(crate) fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// Appends one event of this session, durably (an export announcing itself).
    pub(crate) fn note(&self, action: Action, outcome: Outcome, entity: Entity, detail: &str) -> Result<()> {
        self.commit(vec![self.draft(action, outcome, entity).detail(detail)], Batch::new()).map(|_| ())
    }

    /// The store's signed header (id, policy, public keys).
    pub(crate) fn header(&self) -> &StoreHeader {
        &self.inner.header
    }

    /// Audit events matching a query (no event is appended: callers audit their own use).
    pub(crate) fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
        query.run_all(self.inner.backend.as_ref())
    }

    /// A patient's header (no personal data), if the patient exists.
    pub(crate) fn patient_header(&self, patient: PatientId) -> Result<Option<PatientHeader>> {
        PatientHeader::load(self.inner.backend.as_ref(), patient)
    }

    /// Every patient id of the store, purged ones included (ids only; no access check needed,
    /// nothing is decrypted).
    pub fn patient_ids(&self) -> Result<Vec<PatientId>> {
        let mut out = Vec::new();
        for (k, _) in self.inner.backend.scan_prefix(Space::Patients, &[])? {
            let id: [u8; 16] = k.try_into().map_err(|_| {
                crate::error::IntegrityError::new(crate::error::Object::PatientHeader, crate::error::Fault::BadLength)
            })?;
            out.push(PatientId(id));
        }
        Ok(out)
    }

    /// The patient whose id starts with `prefix`: a whole id (32 hex digits), or a prefix of at
    /// least 4 hex digits (tables show 8) that exactly one patient's id starts with. Ids only:
    /// nothing is decrypted, and what follows is audited as usual.
    pub fn patient_by_id_prefix(&self, prefix: &str) -> Result<PatientId> {
        let prefix = prefix.trim().to_ascii_lowercase();
        if prefix.len() == 32 {
            return Ok(PatientId::parse(&prefix)?);
        }
        if !(4..32).contains(&prefix.len()) || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InvalidInput::Malformed {
                field: "patient id",
                expected: "32 hex digits, or the first 4 or more of them",
            }
            .into());
        }
        // Whole bytes of the prefix bound the range; an odd last digit is matched as text.
        let whole = hex::decode(&prefix[..prefix.len() / 2 * 2]).unwrap_or_default();
        let hi = crate::storage::prefix_end(&whole);
        let mut found = Vec::new();
        for (k, _) in self.inner.backend.range(Space::Patients, &whole, hi.as_deref(), Order::Ascending, usize::MAX)? {
            if hex::encode(&k).starts_with(&prefix) {
                let Ok(id) = <[u8; 16]>::try_from(k.as_slice()) else { continue };
                found.push(PatientId(id));
                if found.len() > 1 {
                    return Err(
                        InvalidInput::Rule("several patient ids start with these digits: give more of them").into()
                    );
                }
            }
        }
        found.pop().ok_or_else(|| Error::NotFound(Missing::PatientPrefix(prefix)))
    }

    /// The stored requests register (encoded `PatientRequest`s; no personal data).
    pub(crate) fn request_records(&self) -> Result<Vec<Vec<u8>>> {
        Ok(self.inner.backend.scan_prefix(Space::Requests, &[])?.into_iter().map(|(_, v)| v).collect())
    }

    /// One stored request, by id.
    pub(crate) fn request_record(&self, id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.inner.backend.get(Space::Requests, id.as_bytes())?)
    }

    /// Runs `f` on the backend while no commit can start or be in flight (backups).
    pub(crate) fn quiesced<R>(&self, f: impl FnOnce(&dyn crate::storage::Backend) -> R) -> R {
        self.inner.committer.quiesced(f)
    }

    /// Events in the log.
    pub(crate) fn log_size(&self) -> u64 {
        self.inner.audit.size()
    }

    /// Signs and stores a checkpoint of the log as it is now.
    pub(crate) fn sign_checkpoint(&self, signer: Arc<SigningSecret>) -> Result<Checkpoint> {
        self.inner.audit.checkpoint(&self.inner.committer, signer)
    }

    /// The certificate of the user key that signed `checkpoint` (`None`: the store audit key).
    pub(crate) fn signer_cert(
        &self,
        checkpoint: &Checkpoint,
    ) -> Result<Option<crate::keyring::Signed<crate::keyring::signers::SignerCert>>> {
        crate::audit::proof::signer_cert(self.inner.backend.as_ref(), &checkpoint.signer)
    }

    /// The certificate of a signing key, if a user key.
    pub(crate) fn signer_cert_of(
        &self,
        public: &[u8; 32],
    ) -> Result<Option<crate::keyring::Signed<crate::keyring::signers::SignerCert>>> {
        crate::audit::proof::signer_cert(self.inner.backend.as_ref(), public)
    }

    /// An inclusion proof of event `seq` against `checkpoint`.
    pub(crate) fn event_proof(&self, seq: u64, checkpoint: Checkpoint) -> Result<EventProof> {
        EventProof::build(self.inner.backend.as_ref(), seq, checkpoint)
    }

    /// Stages the deletion of everything stored for a patient (its records, care team,
    /// oppositions, break-glass records and blind-index entries), leaving the header to the
    /// caller (it becomes a tombstone).
    pub(crate) fn stage_erasure(&self, patient: PatientId, batch: &mut Batch) -> Result<()> {
        let b = self.inner.backend.as_ref();
        // Every keyspace keyed by the patient first (docs/format.md §1), and the blind index.
        for space in crate::layout::PATIENT_PREFIXED {
            if space == Space::AttachmentChunks {
                // Chunks are large: their keys are read a page at a time.
                super::attachments::stage_chunk_deletion(b, &patient.0, batch)?;
                continue;
            }
            for (k, _) in b.scan_prefix(space, &patient.0)? {
                batch.delete(space, k);
            }
        }
        if let Some(v) = b.get(Space::BlindByPatient, &patient.0)? {
            let (_f, tokens): (u16, Vec<Vec<u8>>) = codec::decode(&v, crate::error::Object::BlindTokens)?;
            for t in tokens {
                batch.delete(Space::Blind, crate::layout::blind(&t, patient));
            }
            batch.delete(Space::BlindByPatient, patient.0.to_vec());
        }
        Ok(())
    }
}
