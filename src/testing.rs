//! Test-only hooks, compiled only with the `testing` feature (never in release builds) and
//! hidden from the documentation. Not part of the API: raw backend access for tamper tests,
//! fault-injecting backends, key-material probes that prove enforcement is cryptographic, and
//! the internal codecs that golden-format tests, benchmarks and fuzz targets exercise.

use crate::crypto::{Binding, Key32, aead};
use crate::error::{Error, Result};
use crate::layout::{parse_record as parse_record_key, record_section as record_prefix};
use crate::model::{PatientId, Section, StoreId};
use crate::session::Session;
use crate::session::patient_keys::{PatientKeyId, decode_patient_key, open_patient_key};
use crate::session::records::StoredRevision;
use crate::storage::{Backend, Space};
use crate::store::Store;
use std::sync::Arc;

pub use crate::storage::commit::Committer;
pub use crate::storage::crash::CrashBackend;
pub use crate::storage::faulty::{Faults, FaultyBackend};
#[cfg(feature = "postgres")]
pub use crate::storage::postgres::testdb::{TestSchema, server_url as postgres_test_server};
pub use crate::storage::scan_pages;

/// The canonical binary codec of every stored structure.
pub mod codec {
    pub use crate::codec::{decode, encode};
}

/// RFC 9162 Merkle tree hashing and proofs.
pub mod merkle {
    pub use crate::audit::merkle::*;
}

/// Cryptographic building blocks.
pub mod crypto {
    pub use crate::crypto::aad::{AttachmentPlace, Binding};
    pub use crate::crypto::keys::{Key32, SigningSecret};
    /// AES-256-GCM sealing with a binding.
    pub mod aead {
        pub use crate::crypto::aead::*;
    }
}

/// Signed directory records.
pub mod keyring {
    pub use crate::keyring::records::{Signed, StoreHeader, UserRecord};
    pub use crate::keyring::signers::{SignerCert, SignerRecord};
}

/// The audit log's writer side.
pub mod audit {
    pub use crate::audit::event::{EventDraft, record_digest};
    pub use crate::audit::log::{AuditLog, decode_frontier};
}

/// Embedded-engine folder chores.
pub mod engine {
    pub use crate::storage::engine::{detect, open};
}

/// The raw backend under a store (tamper tests).
pub fn backend(store: &Store) -> Arc<dyn Backend> {
    store.raw_backend()
}

/// (engine transactions, durable syncs) of the store's committer so far: how many groups,
/// and of them how many were made durable (benchmarks divide operations by these).
pub fn commit_stats(store: &Store) -> (u64, u64) {
    store.inner.committer.stats()
}

/// Appends `drafts` through the session's audit log as one durable group, exactly as an
/// operation would (signed tree head, indexes): the benchmarks' prefill of very long logs.
pub fn append_events(session: &Session, drafts: Vec<crate::audit::event::EventDraft>) -> Result<()> {
    session.commit(drafts, crate::storage::Batch::new()).map(|_| ())
}

/// Copies of every key a session holds (what a user could copy out of their session).
pub fn held_keys(session: &Session) -> Vec<Key32> {
    session.keys().keys.values().cloned().collect()
}

/// The kinds of every key a session holds.
pub fn held_key_kinds(session: &Session) -> Vec<crate::crypto::KeyKind> {
    session.keys().keys.keys().map(|(kind, _)| *kind).collect()
}

/// A copy of the key a session signs tree heads with (what its user could copy out of it).
pub fn signing_key(session: &Session) -> Option<crate::crypto::SigningSecret> {
    session.keys().audit_signer().map(|k| (*k).clone())
}

/// Tries to open every stored revision of a section of a patient with every key the session
/// holds, skipping every policy check: proves that enforcement is by keys.
pub fn decrypt_bypassing_checks(session: &Session, patient: PatientId, section: Section) -> Result<usize> {
    let held = session.keys();
    let keys: Vec<&Key32> = held.keys.values().collect();
    match open_with(session.raw_backend().as_ref(), session.store_id(), &keys, patient, section)? {
        0 => Err(Error::Decrypt),
        n => Ok(n),
    }
}

/// How many stored revisions of a patient's section open with any of `keys`, skipping every
/// check (used with key material copied from a session).
pub fn open_with(
    backend: &dyn Backend,
    store: StoreId,
    keys: &[&Key32],
    patient: PatientId,
    section: Section,
) -> Result<usize> {
    open_records_with(backend, backend, store, keys, patient, section)
}

/// How many revisions of a patient's section stored in `records` open with any of `keys`,
/// directly (first-release revisions) or through the patient key found in `key_source`,
/// skipping every check: `records` may be a copy taken before an erasure, `key_source` the
/// store after it.
pub fn open_records_with(
    records: &dyn Backend,
    key_source: &dyn Backend,
    store: StoreId,
    keys: &[&Key32],
    patient: PatientId,
    section: Section,
) -> Result<usize> {
    // Every patient key of this section in `key_source` that opens with one of `keys`.
    let mut patient_keys = Vec::new();
    for (k, v) in key_source.scan_prefix(Space::PatientKeys, &record_prefix(patient, section))? {
        let (_, _, generation) = crate::layout::parse_patient_key(&k)?;
        let stored = decode_patient_key(&v)?;
        let id = PatientKeyId { patient, section, generation };
        patient_keys.extend(
            keys.iter().filter_map(|k| open_patient_key(k, store, id, &stored).ok().map(|pk| (generation, pk))),
        );
    }
    let mut opened = 0;
    for (k, v) in records.scan_prefix(Space::Records, &record_prefix(patient, section))? {
        let (_, _, entry, revision) = parse_record_key(&k)?;
        let stored: StoredRevision = crate::codec::decode(&v, crate::error::Object::Revision)?;
        let key_version = stored.key_version;
        let under_section_key = Binding::DataKeyWrap { store, patient, section, entry, revision, key_version };
        let under_patient_key =
            Binding::DataKeyUnderPatientKey { store, patient, section, entry, revision, generation: key_version };
        let data_keys =
            keys.iter().filter_map(|k| aead::unwrap_key(k, &under_section_key, &stored.wrapped_key).ok()).chain(
                patient_keys
                    .iter()
                    .filter(|(g, _)| *g == key_version)
                    .filter_map(|(_, k)| aead::unwrap_key(k, &under_patient_key, &stored.wrapped_key).ok()),
            );
        let pb = Binding::EntryPayload { store, patient, section, entry, revision };
        opened += data_keys.filter(|dk| aead::open(dk, &pb, &stored.payload).is_ok()).count();
    }
    Ok(opened)
}

/// The newest intact mark of a witness file's bytes, with its counter (either layout), for
/// fuzzing the witness reader.
pub fn witness_mark(bytes: &[u8]) -> Option<(u64, Vec<u8>)> {
    crate::storage::witness::newest(bytes)
}

/// The largest mark a witness slot holds.
pub const WITNESS_MAX_PAYLOAD: usize = crate::storage::witness::MAX_PAYLOAD;

/// Parses one backup file (its structure, lengths and SHA-256) without rebuilding anything:
/// the backup decoder alone, for fuzzing.
pub fn parse_backup(mut bytes: &[u8]) -> Result<()> {
    crate::backup::parse_only(&mut bytes)
}
