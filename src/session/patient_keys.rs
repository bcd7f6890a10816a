//! The per-patient key layer: what makes erasure crypto-shredding.
//!
//! Every (patient, section) has its own random keys, the *patient keys*, each wrapped under a
//! version of the section key. A patient key wraps the data key of every revision of that
//! patient's section written while it was current (revision format 2). Erasing a patient
//! deletes its patient keys, so every ciphertext of that patient still lying anywhere the keys
//! are not (engine free pages, a record copied out of the store, the store's own rows) no longer
//! opens with any section key any user holds.
//!
//! A patient key has a *generation*: the section key version that was primary when it was
//! made. Writes use the patient key of the primary version's generation, creating it if needed,
//! so data written after a rotation is under a patient key that was never wrapped under an
//! older section key version: a revoked user's copies (old section keys, old wrapped patient
//! keys) open nothing written after the rotation. Rewrap moves every patient key under the
//! primary version (one wrap per patient, section and generation; data keys are untouched).
//!
//! Layout (docs/format.md §3.4): `PatientKeys[patient ‖ section ‖ generation]` =
//! `codec(StoredPatientKey)`, the key wrapped under section key version `key_version` with the
//! binding `PatientKeyWrap { store, patient, section, generation, key_version }`.
//!
//! Invariant: a patient key is created only while the patient's write stripe is held (writes,
//! rewrap), so two writers never create two keys for the same (patient, section, generation).

use super::Session;
use crate::codec;
use crate::crypto::{Binding, Key32, KeyKind, aead};
use crate::error::{Error, Object, Result};
use crate::model::{PatientId, Section, StoreId};
use crate::storage::{Batch, Space};
use serde::{Deserialize, Serialize};

/// Format of a stored patient key.
pub(crate) const PATIENT_KEY_FORMAT: u16 = 1;

/// A patient key as stored: wrapped under one section key version.
#[serde_with::serde_as]
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredPatientKey {
    pub format: u16,
    pub key_version: u32,
    #[serde_as(as = "serde_with::Bytes")]
    pub wrapped: Vec<u8>,
}

/// Where a patient key belongs: its patient, section and generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PatientKeyId {
    pub patient: PatientId,
    pub section: Section,
    pub generation: u32,
}

impl PatientKeyId {
    fn binding(self, store: StoreId, key_version: u32) -> Binding {
        let PatientKeyId { patient, section, generation } = self;
        Binding::PatientKeyWrap { store, patient, section, generation, key_version }
    }
    /// Its storage key.
    pub(crate) fn storage_key(self) -> Vec<u8> {
        crate::layout::patient_key(self.patient, self.section, self.generation)
    }
}

/// Wraps `key` under section key version `key_version`; the stored bytes.
pub(crate) fn seal_patient_key(
    section_key: &Key32,
    store: StoreId,
    id: PatientKeyId,
    key_version: u32,
    key: &Key32,
) -> Result<Vec<u8>> {
    let wrapped = aead::wrap_key(section_key, &id.binding(store, key_version), key);
    codec::encode(&StoredPatientKey { format: PATIENT_KEY_FORMAT, key_version, wrapped })
}

/// Decodes a stored patient key (any failure is [`Error::Decrypt`]: damaged or foreign bytes).
pub(crate) fn decode_patient_key(value: &[u8]) -> Result<StoredPatientKey> {
    let stored: StoredPatientKey = codec::decode(value, Object::Revision).map_err(|_| Error::Decrypt)?;
    if stored.format != PATIENT_KEY_FORMAT {
        return Err(Error::Decrypt);
    }
    Ok(stored)
}

/// Opens a stored patient key with the section key version it names.
pub(crate) fn open_patient_key(
    section_key: &Key32,
    store: StoreId,
    id: PatientKeyId,
    stored: &StoredPatientKey,
) -> Result<Key32> {
    aead::unwrap_key(section_key, &id.binding(store, stored.key_version), &stored.wrapped)
}

impl Session {
    /// A patient key, if it exists (`None`: never made, or the patient was erased).
    pub(crate) fn patient_key(&self, id: PatientKeyId) -> Result<Option<Key32>> {
        let Some(value) = self.inner.backend.get(Space::PatientKeys, &id.storage_key())? else {
            return Ok(None);
        };
        let stored = decode_patient_key(&value)?;
        let section_key = self.key_version(KeyKind::Section(id.section), stored.key_version)?;
        open_patient_key(&section_key, self.inner.header.store, id, &stored).map(Some)
    }

    /// The patient key a new revision is written under: the one of the primary version's
    /// generation, made and staged in `batch` if the patient has none yet. Returns its
    /// generation and the key. The caller holds the patient's write stripe until `batch` is
    /// committed.
    pub(crate) fn patient_key_for_write(
        &self,
        patient: PatientId,
        section: Section,
        batch: &mut Batch,
    ) -> Result<(u32, Key32)> {
        let kind = KeyKind::Section(section);
        let primary = crate::keyring::key_state(self.inner.backend.as_ref(), &self.inner.header, kind)?
            .map(|s| s.primary)
            .ok_or(Error::KeyPending(section))?;
        let id = PatientKeyId { patient, section, generation: primary };
        if let Some(k) = self.patient_key(id)? {
            return Ok((primary, k));
        }
        let section_key = self.key_version(kind, primary)?;
        let key = Key32::random();
        batch.put(
            Space::PatientKeys,
            id.storage_key(),
            seal_patient_key(&section_key, self.inner.header.store, id, primary, &key)?,
        );
        Ok((primary, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patient_key_opens_only_where_it_belongs() {
        let store = StoreId([1; 16]);
        let id = PatientKeyId { patient: PatientId([2; 16]), section: Section::Reports, generation: 3 };
        let section_key = Key32::random();
        let key = Key32::random();
        let bytes = seal_patient_key(&section_key, store, id, 4, &key).unwrap();
        let stored = decode_patient_key(&bytes).unwrap();
        let opened = open_patient_key(&section_key, store, id, &stored).unwrap();
        assert_eq!(opened.expose(), key.expose());
        // Moved to another patient, section or generation, or opened with another key: refused.
        for elsewhere in [
            PatientKeyId { patient: PatientId([3; 16]), ..id },
            PatientKeyId { section: Section::Exams, ..id },
            PatientKeyId { generation: 4, ..id },
        ] {
            assert!(matches!(open_patient_key(&section_key, store, elsewhere, &stored), Err(Error::Decrypt)));
        }
        assert!(matches!(open_patient_key(&Key32::random(), store, id, &stored), Err(Error::Decrypt)));
        // Another version number in the record: the binding no longer matches.
        let relabelled = StoredPatientKey { key_version: 5, ..stored };
        assert!(matches!(open_patient_key(&section_key, store, id, &relabelled), Err(Error::Decrypt)));
        assert!(matches!(decode_patient_key(&bytes[..bytes.len() - 1]), Err(Error::Decrypt)));
    }
}
