//! Key lifecycle: add a section key version, promote it, rewrap data keys, retire old versions
//! (Tink's four stages: old primary; new key added; new primary; old disabled).
//!
//! Administrators create and promote versions (they seal the new key to every entitled user and
//! to the recovery key, then drop it). Rewrapping needs both the old and the new key, so it runs
//! in a session that holds them; it rewraps patient keys (one per patient, section and
//! generation; data keys and payloads are not bound to the section key version), is resumable,
//! and reports progress. After a user is revoked, rotating guarantees that data written
//! afterwards is unreadable with anything that user could copy: writes after a rotation use a
//! new generation of patient keys.

use super::Session;
use super::patient_keys::{PatientKeyId, StoredPatientKey, decode_patient_key, open_patient_key, seal_patient_key};
use super::records::{REVISION_FORMAT, REVISION_FORMAT_SECTION_KEY, StoredRevision};
use crate::audit::{Action, Entity, Outcome};
use crate::codec;
use crate::crypto::{Binding, Key32, KeyKind, aead};
use crate::error::{Denied, Error, Missing, Result};
use crate::keyring::{self, KeyState};
use crate::layout::parse_record as parse_record_key;
use crate::model::InvalidInput;
use crate::model::Section;
use crate::storage::{Batch, Space};

/// A key found stale by a rewrap's scan.
enum Stale {
    /// A patient key under an older section key version.
    PatientKey(PatientKeyId),
    /// A revision of an earlier format (its data key under a section key), by storage key.
    Revision(Vec<u8>),
}

/// Where a rewrap job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RewrapProgress {
    /// Keys rewrapped by this call: patient keys moved to the primary version, and data keys
    /// of first-release revisions moved under their patient key.
    pub rewrapped: u64,
    /// Keys still to rewrap.
    pub remaining: u64,
}

/// One version of a section key, as administrators list them (no key material).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KeyVersionInfo {
    /// The section.
    pub section: Section,
    /// The version (1, 2, ...).
    pub version: u32,
    /// When it was created.
    pub created_at: crate::model::Timestamp,
    /// New writes use it.
    pub primary: bool,
    /// Below the oldest version still delivered and used for decryption.
    pub retired: bool,
    /// This session holds it.
    pub held: bool,
}

fn section_entity(section: Section) -> Entity {
    Entity { section: Some(section), ..Entity::default() }
}

impl Session {
    fn directory_for(&self, action: Action, section: Section) -> Result<crate::crypto::SigningSecret> {
        let ent = section_entity(section);
        self.require(self.inner.header.policy.may_manage(&self.user.roles), action, ent.clone(), Denied::ManageUsers)?;
        self.keys()
            .signer(KeyKind::Directory)
            .ok_or_else(|| self.refuse(action, ent, Error::Denied(Denied::ManageUsers)))
    }

    fn current_state(&self, kind: KeyKind) -> Result<KeyState> {
        keyring::key_state(self.inner.backend.as_ref(), &self.inner.header, kind)?
            .ok_or(Error::NotFound(Missing::Key(kind.name())))
    }

    /// Every version of each section key, oldest first: which is primary, which are retired,
    /// which this session holds. Directory-signed records only; no key material.
    pub fn key_versions(&self) -> Result<Vec<KeyVersionInfo>> {
        let mut out = Vec::new();
        let held = self.keys();
        for section in Section::ALL {
            let kind = KeyKind::Section(section);
            let backend = self.inner.backend.as_ref();
            let state = keyring::key_state(backend, &self.inner.header, kind)?;
            for v in keyring::key_versions(backend, &self.inner.header, kind)? {
                out.push(KeyVersionInfo {
                    section,
                    version: v.version,
                    created_at: v.created_at,
                    primary: state.as_ref().is_some_and(|s| s.primary == v.version),
                    retired: state.as_ref().is_some_and(|s| v.version < s.min_decryption),
                    held: held.key(kind, v.version).is_some(),
                });
            }
        }
        Ok(out)
    }

    /// Stage 2: creates a new version of a section key, sealed to every entitled user and to the
    /// recovery key, *not* yet primary. Returns the new version. Administrators; audited.
    pub fn add_key_version(&self, section: Section) -> Result<u32> {
        let directory = self.directory_for(Action::KeyCreate, section)?;
        let kind = KeyKind::Section(section);
        let state = self.current_state(kind)?;
        let header = &self.inner.header;
        let backend = self.inner.backend.as_ref();
        let versions = keyring::key_versions(backend, header, kind)?;
        let version = versions.iter().map(|v| v.version).max().unwrap_or(0) + 1;
        let key = Key32::random();
        let now = self.inner.clock.now();
        let mut batch = Batch::new();
        keyring::stage_key_version(&mut batch, header, kind, version, &key, &directory, now)?;
        let mut holders = 0;
        for record in keyring::all_users(backend)? {
            let user = record.signed.verify("user", &header.directory_public)?;
            if !user.revoked && user.entitled.contains(&kind) {
                keyring::stage_grant(&mut batch, header.store, user, kind, version, &key)?;
                holders += 1;
            }
        }
        // Keep the current primary explicit, so the new version is not used before promotion.
        keyring::stage_key_state(&mut batch, state, &directory)?;
        let draft = self
            .draft(Action::KeyCreate, Outcome::Success, section_entity(section))
            .detail(format!("{section} v{version} added, sealed to {holders} user(s)"));
        self.commit(vec![draft], batch)?;
        Ok(version)
    }

    /// Stage 3: makes `version` the primary: new writes use it. Administrators; audited.
    pub fn promote_key_version(&self, section: Section, version: u32) -> Result<()> {
        let directory = self.directory_for(Action::KeyPolicy, section)?;
        let kind = KeyKind::Section(section);
        let mut state = self.current_state(kind)?;
        let versions = keyring::key_versions(self.inner.backend.as_ref(), &self.inner.header, kind)?;
        if !versions.iter().any(|v| v.version == version) || version < state.min_decryption {
            return Err(Error::NotFound(Missing::KeyVersion { section, version }));
        }
        state.primary = version;
        let mut batch = Batch::new();
        keyring::stage_key_state(&mut batch, state, &directory)?;
        let draft = self
            .draft(Action::KeyPolicy, Outcome::Success, section_entity(section))
            .detail(format!("{section} v{version} is primary"));
        self.commit(vec![draft], batch)?;
        Ok(())
    }

    /// Stages 2 and 3 at once: a new primary version. Returns it.
    pub fn rotate_section_key(&self, section: Section) -> Result<u32> {
        let v = self.add_key_version(section)?;
        self.promote_key_version(section, v)?;
        Ok(v)
    }

    /// First-release revisions (format 1: data key under the section key) of `section`, with
    /// a version below `below` (`u32::MAX`: all of them).
    fn section_key_revisions(&self, section: Section, below: u32) -> Result<Vec<(Vec<u8>, StoredRevision)>> {
        let mut out = Vec::new();
        for (k, v) in self.inner.backend.scan_prefix(Space::Records, &[])? {
            if k.get(16) != Some(&section.code()) {
                continue;
            }
            let stored: StoredRevision = codec::decode(&v, crate::error::Object::Revision)?;
            if stored.format == REVISION_FORMAT_SECTION_KEY && stored.key_version < below {
                out.push((k, stored));
            }
        }
        Ok(out)
    }

    /// Patient keys of `section` wrapped under a version below `below`.
    fn stale_patient_keys(&self, section: Section, below: u32) -> Result<Vec<(PatientKeyId, StoredPatientKey)>> {
        let mut out = Vec::new();
        for (k, v) in self.inner.backend.scan_prefix(Space::PatientKeys, &[])? {
            if k.get(16) != Some(&section.code()) {
                continue;
            }
            let stored = decode_patient_key(&v)?;
            if stored.key_version < below {
                let (patient, section, generation) = crate::layout::parse_patient_key(&k)?;
                out.push((PatientKeyId { patient, section, generation }, stored));
            }
        }
        Ok(out)
    }

    /// Brings `section` under its primary key version: rewraps up to `limit` patient keys still
    /// under an older version, then moves the data keys of first-release revisions (format 1,
    /// wrapped under a section key) under their patient key (the upgrade to the patient-key
    /// layer, whatever their version). `progress(done, total)` is called after each batch.
    /// Resumable: call again until `remaining` is 0. Needs a session holding the versions in
    /// use; audited.
    pub fn rewrap_section(
        &self,
        section: Section,
        limit: usize,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<RewrapProgress> {
        let kind = KeyKind::Section(section);
        let ent = section_entity(section);
        self.require(
            self.inner.header.policy.may_read(&self.user.roles, section),
            Action::KeyRewrap,
            ent.clone(),
            Denied::SectionRead(section),
        )?;
        let state = self.current_state(kind)?;
        let new_key = self.key_version(kind, state.primary)?;
        let store = self.inner.header.store;
        let backend = self.inner.backend.as_ref();
        // One scan. Patient keys come first, so that the revisions moved under them afterwards
        // sit under keys already under the primary version. Each chunk re-reads its items under
        // every write stripe, so a writer that made, used or replaced one meanwhile is respected
        // (an item no longer stale is skipped), and writers wait only for one chunk.
        let items: Vec<Stale> = self
            .stale_patient_keys(section, state.primary)?
            .into_iter()
            .map(|(id, _)| Stale::PatientKey(id))
            .chain(self.section_key_revisions(section, u32::MAX)?.into_iter().map(|(k, _)| Stale::Revision(k)))
            .collect();
        let total = items.len() as u64;
        let (mut done, mut examined) = (0u64, 0usize);
        for chunk in items.chunks(256) {
            let room = limit.saturating_sub(done as usize).min(chunk.len());
            if room == 0 {
                break;
            }
            let guards = self.inner.write_locks.all()?;
            let mut batch = Batch::new();
            let mut n = 0u64;
            // Patient keys made in this chunk, by patient: the batch is not applied yet.
            let mut created = std::collections::BTreeMap::new();
            for item in &chunk[..room] {
                match item {
                    Stale::PatientKey(id) => {
                        let Some(v) = backend.get(Space::PatientKeys, &id.storage_key())? else { continue };
                        let stored = decode_patient_key(&v)?;
                        if stored.key_version >= state.primary {
                            continue;
                        }
                        let old_key = self.key_version(kind, stored.key_version)?;
                        let key = open_patient_key(&old_key, store, *id, &stored)?;
                        let sealed = seal_patient_key(&new_key, store, *id, state.primary, &key)?;
                        batch.put(Space::PatientKeys, id.storage_key(), sealed);
                    }
                    Stale::Revision(k) => {
                        let Some(v) = backend.get(Space::Records, k)? else { continue };
                        let stored: StoredRevision = codec::decode(&v, crate::error::Object::Revision)?;
                        if stored.format != REVISION_FORMAT_SECTION_KEY {
                            continue;
                        }
                        let (patient, _, entry, revision) = parse_record_key(k)?;
                        let old_version = stored.key_version;
                        let old_key = self.key_version(kind, old_version)?;
                        let old_bind =
                            Binding::DataKeyWrap { store, patient, section, entry, revision, key_version: old_version };
                        let data_key = aead::unwrap_key(&old_key, &old_bind, &stored.wrapped_key)?;
                        let (generation, patient_key): (u32, Key32) = match created.get(&patient) {
                            Some((g, k)) => (*g, Key32::clone(k)),
                            None => {
                                let (g, k) = self.patient_key_for_write(patient, section, &mut batch)?;
                                created.insert(patient, (g, k.clone()));
                                (g, k)
                            }
                        };
                        let bind =
                            Binding::DataKeyUnderPatientKey { store, patient, section, entry, revision, generation };
                        let updated = StoredRevision {
                            format: REVISION_FORMAT,
                            key_version: generation,
                            wrapped_key: aead::wrap_key(&patient_key, &bind, &data_key),
                            payload: stored.payload,
                        };
                        batch.put(Space::Records, k.clone(), codec::encode(&updated)?);
                    }
                }
                n += 1;
            }
            if n > 0 {
                let draft = self
                    .draft(Action::KeyRewrap, Outcome::Success, ent.clone())
                    .detail(format!("{n} keys of {section} rewrapped to v{}", state.primary));
                self.commit(vec![draft], batch)?;
            }
            drop(guards);
            examined += room;
            done += n;
            progress(done, total);
        }
        Ok(RewrapProgress { rewrapped: done, remaining: (items.len() - examined) as u64 })
    }

    /// Stage 4: stops accepting versions below `min_version` (never the primary). Refused while
    /// data still uses them (rewrap first). Their user grants are deleted. Administrators; audited.
    pub fn retire_key_versions(&self, section: Section, min_version: u32) -> Result<()> {
        let directory = self.directory_for(Action::KeyPolicy, section)?;
        let kind = KeyKind::Section(section);
        let mut state = self.current_state(kind)?;
        if min_version > state.primary {
            return Err(
                InvalidInput::Rule("cannot retire the primary version: make a newer version primary first").into()
            );
        }
        let still = self.section_key_revisions(section, min_version)?.len()
            + self.stale_patient_keys(section, min_version)?.len();
        if still > 0 {
            return Err(
                InvalidInput::Rule("revisions of this section still use older versions: run the rewrap first").into()
            );
        }
        state.min_decryption = min_version;
        let mut batch = Batch::new();
        for (k, _) in self.inner.backend.scan_prefix(Space::Grants, &[])? {
            let is_old =
                k.len() == 21 && k[16] == kind.code() && u32::from_be_bytes([k[17], k[18], k[19], k[20]]) < min_version;
            if is_old {
                batch.delete(Space::Grants, k);
            }
        }
        keyring::stage_key_state(&mut batch, state, &directory)?;
        let draft = self
            .draft(Action::KeyPolicy, Outcome::Success, section_entity(section))
            .detail(format!("{section} versions below v{min_version} retired"));
        self.commit(vec![draft], batch)?;
        Ok(())
    }
}
