//! Patients and their three sections: create, read, write revisions, find.
//!
//! Storage layout (docs/format.md): `Records[patient || section || entry || revision]` =
//! `codec(StoredRevision)`: the data key sealed under the patient's key for that section
//! (`super::patient_keys`; format 1, written by the first release: under the section key version
//! directly), and the entry sealed under the data key, each bound to exactly this place.

use super::access::Grant;
use super::patient_keys::PatientKeyId;
use super::{Opened, Session};
use crate::audit::{Action, Entity, Outcome};
use crate::codec;
use crate::crypto::blind::{self, BlindKind};
use crate::crypto::{Binding, Key32, KeyKind, aead};
use crate::error::{Denied, Error, Fault, IntegrityError, Object, Result};
use crate::model::{
    Date, Entry, EntryId, Exam, Identity, InvalidInput, PatientId, Report, Section, SectionContent, normalize_name,
};
use crate::storage::{Batch, Space};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Revisions of the first release: the data key wrapped under a section key version.
pub(crate) const REVISION_FORMAT_SECTION_KEY: u16 = 1;
/// Revisions written now: the data key wrapped under the patient key.
pub(crate) const REVISION_FORMAT: u16 = 2;

/// One stored revision: ciphertext only. (The byte strings are read and written as byte
/// strings, not as sequences of bytes: the same encoding, decoded with one copy.)
#[serde_with::serde_as]
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredRevision {
    pub format: u16,
    /// Format 1: the section key version wrapping the data key. Format 2: the generation of
    /// the patient key wrapping it.
    pub key_version: u32,
    #[serde_as(as = "serde_with::Bytes")]
    pub wrapped_key: Vec<u8>,
    #[serde_as(as = "serde_with::Bytes")]
    pub payload: Vec<u8>,
}

pub(crate) use super::patient_header::PatientHeader;

/// A reception lookup.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum FindQuery {
    /// By INS matricule (NIR or NIA, 15 characters).
    InsMatricule(String),
    /// By birth name and birth date.
    BirthNameAndDate(String, Date),
}

use crate::layout::{parse_record as parse_record_key, record as record_key, record_section as record_prefix};

/// The blind key (kind ‖ token) of a reception lookup, with the one normalization that both
/// the index (written with each identity revision) and searches use: an INS trimmed and
/// upper-cased; a birth name normalized, with the birth date.
fn lookup_blind_key(key: &Key32, query: &FindQuery) -> (BlindKind, Vec<u8>) {
    let (kind, token) = match query {
        FindQuery::InsMatricule(m) => {
            (BlindKind::InsMatricule, blind::token(key, BlindKind::InsMatricule, &m.trim().to_ascii_uppercase()))
        }
        FindQuery::BirthNameAndDate(name, date) => {
            let v = format!("{}|{}", normalize_name(name), date);
            (BlindKind::NameAndBirthDate, blind::token(key, BlindKind::NameAndBirthDate, &v))
        }
    };
    (kind, crate::layout::blind_key(kind as u8, &token))
}

fn entity(patient: PatientId, section: Section) -> Entity {
    Entity { patient: Some(patient), section: Some(section), ..Entity::default() }
}

impl Session {
    pub(crate) fn store_id(&self) -> crate::model::StoreId {
        self.inner.header.store
    }

    /// Seals a revision under a fresh data key wrapped under the patient key (created and
    /// staged in `batch` if the patient has none for this section). The caller holds the
    /// patient's write stripe.
    fn seal_revision<T: SectionContent>(
        &self,
        patient: PatientId,
        entry: &Entry<T>,
        batch: &mut Batch,
    ) -> Result<Vec<u8>> {
        let section = T::SECTION;
        let (generation, patient_key) = self.patient_key_for_write(patient, section, batch)?;
        let store = self.store_id();
        let (e, revision) = (entry.entry_id, entry.revision);
        let data_key = Key32::random();
        let wrapped_key = aead::wrap_key(
            &patient_key,
            &Binding::DataKeyUnderPatientKey { store, patient, section, entry: e, revision, generation },
            &data_key,
        );
        let plain = zeroize::Zeroizing::new(codec::encode(entry)?);
        let payload =
            aead::seal(&data_key, &Binding::EntryPayload { store, patient, section, entry: e, revision }, &plain);
        codec::encode(&StoredRevision { format: REVISION_FORMAT, key_version: generation, wrapped_key, payload })
    }

    /// Opens a stored revision; `patient_keys` caches the patient keys opened so far, by
    /// generation.
    fn open_revision<T: SectionContent>(
        &self,
        key: &[u8],
        value: &[u8],
        patient_keys: &mut BTreeMap<u32, Option<Key32>>,
    ) -> Result<Entry<T>> {
        let (patient, section, entry, revision) = parse_record_key(key)?;
        if section != T::SECTION {
            return Err(Error::Decrypt);
        }
        let stored: StoredRevision =
            codec::decode(value, crate::error::Object::Revision).map_err(|_| Error::Decrypt)?;
        let store = self.store_id();
        let data_key = match stored.format {
            REVISION_FORMAT => {
                let generation = stored.key_version;
                let patient_key = match patient_keys.get(&generation) {
                    Some(k) => k,
                    None => {
                        let k = self.patient_key(PatientKeyId { patient, section, generation })?;
                        patient_keys.entry(generation).or_insert(k)
                    }
                };
                aead::unwrap_key(
                    patient_key.as_ref().ok_or(Error::Decrypt)?,
                    &Binding::DataKeyUnderPatientKey { store, patient, section, entry, revision, generation },
                    &stored.wrapped_key,
                )?
            }
            REVISION_FORMAT_SECTION_KEY => {
                let key_version = stored.key_version;
                let section_key = self.key_version(KeyKind::Section(section), key_version)?;
                aead::unwrap_key(
                    &section_key,
                    &Binding::DataKeyWrap { store, patient, section, entry, revision, key_version },
                    &stored.wrapped_key,
                )?
            }
            _ => return Err(Error::Decrypt),
        };
        let plain = aead::open(
            &data_key,
            &Binding::EntryPayload { store, patient, section, entry, revision },
            &stored.payload,
        )?;
        let value: Entry<T> = codec::decode(&plain, crate::error::Object::Revision).map_err(|_| Error::Decrypt)?;
        if value.entry_id != entry || value.revision != revision {
            return Err(Error::Decrypt);
        }
        Ok(value)
    }

    /// Decrypts every revision of the section a grant allows, without releasing it.
    pub(crate) fn open_section<T: SectionContent>(&self, grant: &Grant) -> Result<Opened<Vec<Entry<T>>>> {
        let patient = grant.patient();
        if !grant.covers(patient, T::SECTION) {
            return Err(
                IntegrityError::new(Object::Grant, Fault::Broken("a grant was used for another section")).into()
            );
        }
        let rows = self.inner.backend.scan_prefix(Space::Records, &record_prefix(patient, T::SECTION))?;
        let mut patient_keys = BTreeMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for (k, v) in rows {
            out.push(self.open_revision::<T>(&k, &v, &mut patient_keys)?);
        }
        Ok(Opened::new(out, grant))
    }

    /// Reads every revision of every entry of one section (oldest first). Audited durably
    /// before anything is returned, whatever the session's durability.
    pub fn read<T: SectionContent>(&self, patient: PatientId) -> Result<Vec<Entry<T>>> {
        let section = T::SECTION;
        let ent = entity(patient, section);
        let grant = self.authorize(Action::Read, patient, section, false)?;
        if !self.patient_exists(patient)? {
            return Err(self.refuse(Action::Read, ent, Error::no_patient(patient)));
        }
        let opened = match self.open_section::<T>(&grant) {
            Ok(o) => o,
            Err(e) => return Err(self.refuse(Action::Read, ent, e)),
        };
        self.release(&[grant], opened)
    }

    /// Every revision of the identity (the last one is current).
    pub fn read_identity(&self, patient: PatientId) -> Result<Vec<Entry<Identity>>> {
        self.read::<Identity>(patient)
    }
    /// Every revision of every report.
    pub fn read_reports(&self, patient: PatientId) -> Result<Vec<Entry<Report>>> {
        self.read::<Report>(patient)
    }
    /// Every revision of every exam.
    pub fn read_exams(&self, patient: PatientId) -> Result<Vec<Entry<Exam>>> {
        self.read::<Exam>(patient)
    }

    fn policy(&self) -> &crate::policy::Policy {
        &self.inner.header.policy
    }

    /// Creates a patient with their identity. The creating user is recorded; audited.
    pub fn create_patient(&self, identity: Identity) -> Result<PatientId> {
        let patient = PatientId::random();
        let ent = entity(patient, Section::Identity);
        self.require(
            self.policy().may_write(&self.user.roles, Section::Identity),
            Action::PatientCreate,
            ent.clone(),
            Denied::SectionWrite(Section::Identity),
        )?;
        identity.validate()?;
        if !self.keys().holds(KeyKind::Section(Section::Identity)) {
            return Err(self.refuse(Action::PatientCreate, ent, Error::KeyPending(Section::Identity)));
        }
        // Held until the identity is committed: two receptions creating the same INS at once
        // would otherwise both find it free.
        let ins_guard = identity.ins_matricule.is_some().then(|| self.inner.write_locks.ins()).transpose()?;
        if let Err(e) = self.check_identity_against_store(patient, &identity) {
            drop(ins_guard);
            return Err(self.refuse(Action::PatientCreate, ent, e));
        }
        let now = self.inner.clock.now();
        let mut batch = Batch::new();
        let header = PatientHeader::new(now, self.user.id);
        batch.put(Space::Patients, patient.0.to_vec(), header.encode()?);
        self.stage_blind_index(&mut batch, patient, &identity)?;
        self.stage_creator_in_care_team(&mut batch, patient)?;
        let entry = Entry {
            entry_id: EntryId::IDENTITY,
            revision: 1,
            recorded_at: now,
            recorded_by: self.user.name.clone(),
            reason: None,
            content: identity,
        };
        let sealed = self.seal_revision(patient, &entry, &mut batch)?;
        batch.put(Space::Records, record_key(patient, Section::Identity, EntryId::IDENTITY, 1), sealed);
        let ev = Entity { entry: Some(EntryId::IDENTITY), revision: Some(1), ..ent };
        self.commit(vec![self.draft(Action::PatientCreate, Outcome::Success, ev)], batch)?;
        Ok(patient)
    }

    /// Writes a new entry (`entry = None`) or a new revision of an existing one (with a reason).
    /// Returns the entry id and revision. Audited, atomically with the write.
    pub fn write<T: SectionContent>(
        &self,
        patient: PatientId,
        entry: Option<EntryId>,
        content: T,
        reason: Option<&str>,
    ) -> Result<(EntryId, u32)> {
        let section = T::SECTION;
        let ent = entity(patient, section);
        let grant = self.authorize(Action::Write, patient, section, true)?;
        content.validate()?;
        if entry.is_some() && reason.is_none_or(|r| r.trim().is_empty()) {
            return Err(InvalidInput::Rule("a correction needs a reason (RGPD art. 16: history stays readable)").into());
        }
        if !self.patient_exists(patient)? {
            return Err(self.refuse(Action::Write, ent, Error::no_patient(patient)));
        }
        if !self.keys().holds(KeyKind::Section(section)) {
            return Err(self.refuse(Action::Write, ent, Error::KeyPending(section)));
        }
        // As in `create_patient`, taken before the patient's stripe (always in that order).
        let ins_guard = content
            .as_identity()
            .and_then(|i| i.ins_matricule.as_ref())
            .map(|_| self.inner.write_locks.ins())
            .transpose()?;
        if let Some(identity) = content.as_identity()
            && let Err(e) = self.check_identity_against_store(patient, identity)
        {
            drop(ins_guard);
            return Err(self.refuse(Action::Write, ent, e));
        }
        let now = self.inner.clock.now();
        let guard = self.inner.write_locks.patient(patient)?;
        let (entry_id, revision) = match entry {
            None => (EntryId::random(), 1),
            Some(e) => {
                let prefix = crate::layout::record_entry(patient, section, e);
                let last = self.inner.backend.range(
                    Space::Records,
                    &prefix,
                    crate::storage::prefix_end(&prefix).as_deref(),
                    crate::storage::Order::Descending,
                    1,
                )?;
                let Some((k, _)) = last.first() else {
                    drop(guard);
                    return Err(Error::no_entry(patient, e));
                };
                let (_, _, _, rev) = parse_record_key(k)?;
                (e, rev + 1)
            }
        };
        let value = Entry {
            entry_id,
            revision,
            recorded_at: now,
            recorded_by: self.user.name.clone(),
            reason: reason.map(str::to_string),
            content,
        };
        let mut batch = Batch::new();
        let sealed = self.seal_revision(patient, &value, &mut batch)?;
        batch.put(Space::Records, record_key(patient, section, entry_id, revision), sealed);
        if let Some(identity) = value.content.as_identity() {
            self.stage_blind_index(&mut batch, patient, identity)?;
        }
        if let Some(mut h) = PatientHeader::load(self.inner.backend.as_ref(), patient)? {
            h.last_activity = now;
            batch.put(Space::Patients, patient.0.to_vec(), h.encode()?);
        }
        let ev = Entity { entry: Some(entry_id), revision: Some(revision), ..ent };
        // The stripe is held until the write is committed, so that the next writer of this
        // patient numbers after it; writers of other patients share the group.
        self.commit(vec![self.granted_draft_for(&grant, ev)], batch)?;
        drop(guard);
        Ok((entry_id, revision))
    }

    /// Adds a report.
    pub fn append_report(&self, patient: PatientId, report: Report) -> Result<EntryId> {
        self.write(patient, None, report, None).map(|(e, _)| e)
    }
    /// Adds an exam or lab result.
    pub fn append_exam(&self, patient: PatientId, exam: Exam) -> Result<EntryId> {
        self.write(patient, None, exam, None).map(|(e, _)| e)
    }
    /// Records a corrected identity (new revision, with a reason).
    pub fn update_identity(&self, patient: PatientId, identity: Identity, reason: &str) -> Result<u32> {
        self.write(patient, Some(EntryId::IDENTITY), identity, Some(reason)).map(|(_, r)| r)
    }

    /// The identity rules that need the clock or the store: no birth or death date in the
    /// future, and no INS already carried by another patient (identity vigilance: the same
    /// person must not get two files).
    fn check_identity_against_store(&self, patient: PatientId, identity: &Identity) -> Result<()> {
        let today = self.inner.clock.now().date().ok_or(InvalidInput::Rule("the clock is out of range"))?;
        if identity.birth_date > today {
            return Err(InvalidInput::Rule("field `birth_date` is in the future").into());
        }
        if identity.date_of_death.is_some_and(|d| d > today) {
            return Err(InvalidInput::Rule("field `date_of_death` is in the future").into());
        }
        let Some(m) = &identity.ins_matricule else { return Ok(()) };
        let keys = self.keys();
        let (_, key) = keys.newest(KeyKind::BlindIndex).ok_or(Error::KeyPending(Section::Identity))?;
        let prefix = lookup_blind_key(key, &FindQuery::InsMatricule(m.clone())).1;
        let others = self.inner.backend.scan_prefix(Space::Blind, &prefix)?;
        if others.iter().any(|(k, _)| k.get(prefix.len()..) != Some(patient.0.as_slice())) {
            return Err(InvalidInput::Rule(
                "another patient already carries this INS: find their file by INS (identity vigilance)",
            )
            .into());
        }
        Ok(())
    }

    fn blind_tokens(&self, identity: &Identity) -> Result<Vec<Vec<u8>>> {
        let keys = self.keys();
        let (_, key) = keys.newest(KeyKind::BlindIndex).ok_or(Error::KeyPending(Section::Identity))?;
        let mut out = Vec::new();
        if let Some(m) = &identity.ins_matricule {
            out.push(lookup_blind_key(key, &FindQuery::InsMatricule(m.clone())).1);
        }
        let by_name = FindQuery::BirthNameAndDate(identity.birth_name.clone(), identity.birth_date);
        out.push(lookup_blind_key(key, &by_name).1);
        Ok(out)
    }

    fn stage_blind_index(&self, batch: &mut Batch, patient: PatientId, identity: &Identity) -> Result<()> {
        if let Some(old) = self.inner.backend.get(Space::BlindByPatient, &patient.0)? {
            let (_format, old): (u16, Vec<Vec<u8>>) = codec::decode(&old, crate::error::Object::BlindTokens)?;
            for t in old {
                batch.delete(Space::Blind, crate::layout::blind(&t, patient));
            }
        }
        let tokens = self.blind_tokens(identity)?;
        for t in &tokens {
            batch.put(Space::Blind, crate::layout::blind(t, patient), Vec::new());
        }
        batch.put(Space::BlindByPatient, patient.0.to_vec(), codec::encode(&(1u16, &tokens))?);
        Ok(())
    }

    /// Finds patients for reception, through the keyed blind index. One audit event per patient
    /// returned, or one naming no patient when nothing matched. The events record how the
    /// search was made (by INS, or by name and birth date), never the query nor its blind token:
    /// the token is also a storage key, so recording it would let anyone holding the log and
    /// the disk tie even a failed search to the patient it was looking for.
    pub fn find_patient(&self, query: &FindQuery) -> Result<Vec<PatientId>> {
        let ent = Entity { section: Some(Section::Identity), ..Entity::default() };
        self.require(
            self.policy().may_read(&self.user.roles, Section::Identity),
            Action::Search,
            ent.clone(),
            Denied::SectionRead(Section::Identity),
        )?;
        let keys = self.keys();
        let Some((_, key)) = keys.newest(KeyKind::BlindIndex) else {
            return Err(self.refuse(Action::Search, ent, Error::KeyPending(Section::Identity)));
        };
        let (kind, prefix) = lookup_blind_key(key, query);
        let mut found = Vec::new();
        for (k, _) in self.inner.backend.scan_prefix(Space::Blind, &prefix)? {
            let id: [u8; 16] =
                k[prefix.len()..].try_into().map_err(|_| IntegrityError::new(Object::BlindIndex, Fault::BadLength))?;
            found.push(PatientId(id));
        }
        let how = match kind {
            BlindKind::InsMatricule => "by INS",
            BlindKind::NameAndBirthDate => "by birth name and birth date",
        };
        let drafts = if found.is_empty() {
            vec![self.draft(Action::Search, Outcome::Success, ent).detail(format!("{how}: no match"))]
        } else {
            found
                .iter()
                .map(|p| {
                    self.draft(Action::Search, Outcome::Success, Entity { patient: Some(*p), ..ent.clone() })
                        .detail(how)
                })
                .collect()
        };
        // Event-only commits are always durable: the ids go out only once the search is on disk.
        self.commit(drafts, Batch::new())?;
        Ok(found)
    }
}
