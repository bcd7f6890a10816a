//! Storage keys, built in one place. Each function mirrors one row of docs/format.md §1 (the
//! keyspace is the row, the function its "logical key" column). Every composite key is built
//! here; single-field keys (a patient or user id, a sequence number or tree size as u64 BE, a
//! request id, a user name) are used as they are. Big-endian integers keep numeric order equal
//! to byte order.

use crate::crypto::KeyKind;
use crate::error::{Error, Fault, IntegrityError, Object, Result};
use crate::model::{EntryId, PatientId, Section, Timestamp, UserId};
use sha2::{Digest, Sha256};

/// Meta keys (ASCII names).
pub(crate) mod meta {
    /// The signed store header.
    pub(crate) const HEADER: &[u8] = b"header";
    /// The audit tree frontier.
    pub(crate) const AUDIT_TREE: &[u8] = b"audit-tree";
    /// The latest signed tree head.
    pub(crate) const AUDIT_HEAD: &[u8] = b"audit-head";
    /// The signed pruning horizon.
    pub(crate) const AUDIT_PRUNED: &[u8] = b"audit-pruned";
    /// Sequence number from which records are checked against the log.
    pub(crate) const RECORDS_BASELINE: &[u8] = b"records-baseline";
    /// Sequence number from which `AuditAuthByUser` indexes every authentication event
    /// (u64 BE; 0 for stores created with the index).
    pub(crate) const AUTH_INDEX_FROM: &[u8] = b"auth-index-from";

    /// `keystate/` ‖ kind: which version of a key is primary.
    pub(crate) fn key_state(kind: super::KeyKind) -> Vec<u8> {
        [b"keystate/".as_slice(), &[kind.code()]].concat()
    }
}

/// KeyVersions and RecoveryWraps: kind (1) ‖ version (u32 BE).
pub(crate) fn key_version(kind: KeyKind, version: u32) -> Vec<u8> {
    [&[kind.code()][..], &version.to_be_bytes()].concat()
}

/// Grants: user (16) ‖ kind (1) ‖ version (u32 BE).
pub(crate) fn grant(user: UserId, kind: KeyKind, version: u32) -> Vec<u8> {
    [user.0.as_slice(), &key_version(kind, version)].concat()
}

/// Records prefix of one section of a patient: patient (16) ‖ section (1).
pub(crate) fn record_section(patient: PatientId, section: Section) -> Vec<u8> {
    [patient.0.as_slice(), &[section.code()]].concat()
}

/// Records prefix of one entry: patient ‖ section ‖ entry (16).
pub(crate) fn record_entry(patient: PatientId, section: Section, entry: EntryId) -> Vec<u8> {
    [record_section(patient, section).as_slice(), &entry.0].concat()
}

/// Records: patient ‖ section ‖ entry ‖ revision (u32 BE).
pub(crate) fn record(patient: PatientId, section: Section, entry: EntryId, revision: u32) -> Vec<u8> {
    [record_entry(patient, section, entry).as_slice(), &revision.to_be_bytes()].concat()
}

/// Parses a Records key.
pub(crate) fn parse_record(k: &[u8]) -> Result<(PatientId, Section, EntryId, u32)> {
    let bad = |fault| Error::from(IntegrityError::new(Object::RecordKey, fault));
    if k.len() != 16 + 1 + 16 + 4 {
        return Err(bad(Fault::BadLength));
    }
    let patient = PatientId(k[..16].try_into().map_err(|_| bad(Fault::BadLength))?);
    let section = Section::from_code(k[16]).ok_or_else(|| bad(Fault::UnknownKind))?;
    let entry = EntryId(k[17..33].try_into().map_err(|_| bad(Fault::BadLength))?);
    let revision = u32::from_be_bytes(k[33..37].try_into().map_err(|_| bad(Fault::BadLength))?);
    Ok((patient, section, entry, revision))
}

/// Attachments: patient ‖ section ‖ entry ‖ attachment (16).
pub(crate) fn attachment(place: &crate::crypto::aad::AttachmentPlace) -> Vec<u8> {
    [record_entry(place.patient, place.section, place.entry).as_slice(), &place.attachment.0].concat()
}

/// AttachmentChunks: the attachment's key ‖ chunk index (u32 BE).
pub(crate) fn attachment_chunk(place: &crate::crypto::aad::AttachmentPlace, index: u32) -> Vec<u8> {
    [attachment(place).as_slice(), &index.to_be_bytes()].concat()
}

/// Blind: blind key (kind (1) ‖ token (32)) ‖ patient (16).
pub(crate) fn blind(blind_key: &[u8], patient: PatientId) -> Vec<u8> {
    [blind_key, &patient.0].concat()
}

/// A blind key as stored in BlindByPatient: kind (1) ‖ token (32).
pub(crate) fn blind_key(kind: u8, token: &[u8; 32]) -> Vec<u8> {
    [&[kind][..], token].concat()
}

/// CareTeam member part: 0x01 ‖ user id (16).
pub(crate) fn care_member_user(user: UserId) -> Vec<u8> {
    [&[1u8][..], &user.0].concat()
}

/// CareTeam member part: 0x02 ‖ role name.
pub(crate) fn care_member_role(role: &str) -> Vec<u8> {
    [&[2u8][..], role.as_bytes()].concat()
}

/// CareTeam: patient (16) ‖ member part.
pub(crate) fn care_team(patient: PatientId, member: &[u8]) -> Vec<u8> {
    [patient.0.as_slice(), member].concat()
}

/// Oppositions: patient (16) ‖ user (16).
pub(crate) fn opposition(patient: PatientId, user: UserId) -> Vec<u8> {
    [patient.0.as_slice(), &user.0].concat()
}

/// BreakGlass prefix of one user's accesses to a patient: patient ‖ user.
pub(crate) fn break_glass_of(patient: PatientId, user: UserId) -> Vec<u8> {
    opposition(patient, user)
}

/// BreakGlass: patient ‖ user ‖ opening event seq (u64 BE).
pub(crate) fn break_glass(patient: PatientId, user: UserId, seq: u64) -> Vec<u8> {
    [break_glass_of(patient, user).as_slice(), &seq.to_be_bytes()].concat()
}

/// PatientKeys: patient (16) ‖ section code (1) ‖ generation (u32 BE).
pub(crate) fn patient_key(patient: PatientId, section: Section, generation: u32) -> Vec<u8> {
    [patient.0.as_slice(), &[section.code()], &generation.to_be_bytes()].concat()
}

/// Parses a PatientKeys key: (patient, section, generation).
pub(crate) fn parse_patient_key(k: &[u8]) -> Result<(PatientId, Section, u32)> {
    let bad = |fault| Error::from(IntegrityError::new(Object::RecordKey, fault));
    match k.split_first_chunk::<16>() {
        Some((p, [code, g @ ..])) if g.len() == 4 => Ok((
            PatientId(*p),
            Section::from_code(*code).ok_or_else(|| bad(Fault::UnknownKind))?,
            u32::from_be_bytes([g[0], g[1], g[2], g[3]]),
        )),
        _ => Err(bad(Fault::BadLength)),
    }
}

/// Keyspaces holding per-patient records whose keys start with the patient id (purge).
pub(crate) const PATIENT_PREFIXED: [crate::storage::Space; 7] = [
    crate::storage::Space::Records,
    crate::storage::Space::Attachments,
    crate::storage::Space::AttachmentChunks,
    crate::storage::Space::PatientKeys,
    crate::storage::Space::CareTeam,
    crate::storage::Space::Oppositions,
    crate::storage::Space::BreakGlass,
];

/// AuditNodes: level (1) ‖ index (u64 BE).
pub(crate) fn audit_node(level: u8, index: u64) -> Vec<u8> {
    [&[level][..], &index.to_be_bytes()].concat()
}

/// AuditByPatient: patient (16) ‖ seq.
pub(crate) fn audit_by_patient(patient: PatientId, seq: u64) -> Vec<u8> {
    [patient.0.as_slice(), &seq.to_be_bytes()].concat()
}

/// AuditByUser prefix: SHA-256("medvault/user-index/" ‖ name)[0..16] (fixed width).
pub(crate) fn audit_user_prefix(name: &str) -> [u8; 16] {
    let h = Sha256::digest([b"medvault/user-index/".as_slice(), name.as_bytes()].concat());
    let mut out = [0u8; 16];
    out.copy_from_slice(&h[..16]);
    out
}

/// AuditByUser: user prefix ‖ seq.
pub(crate) fn audit_by_user(name: &str, seq: u64) -> Vec<u8> {
    [audit_user_prefix(name).as_slice(), &seq.to_be_bytes()].concat()
}

/// AuditByTime prefix: time in ms as u64 with the sign bit flipped (sortable), BE.
pub(crate) fn audit_time_prefix(t: Timestamp) -> [u8; 8] {
    ((t.0 as u64) ^ (1u64 << 63)).to_be_bytes()
}

/// AuditByTime: time prefix ‖ seq.
pub(crate) fn audit_by_time(t: Timestamp, seq: u64) -> Vec<u8> {
    [audit_time_prefix(t).as_slice(), &seq.to_be_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_documented_widths_and_order() {
        let (p, e) = (PatientId([1; 16]), EntryId([2; 16]));
        let k = record(p, Section::Exams, e, 7);
        assert_eq!(k.len(), 37);
        assert_eq!(parse_record(&k).unwrap(), (p, Section::Exams, e, 7));
        assert!(record(p, Section::Exams, e, 9) > k, "revisions sort numerically");
        assert!(parse_record(&k[..36]).is_err());
        assert_eq!(grant(UserId([3; 16]), KeyKind::Section(Section::Reports), 1).len(), 21);
        assert!(audit_time_prefix(Timestamp(-1)) < audit_time_prefix(Timestamp(0)), "times sort across 1970");
        assert_eq!(break_glass(p, UserId([4; 16]), 1).len(), 40);
    }
}
