//! The one error type of the crate, and the typed kinds it carries.
//!
//! Invariant: no variant carries plaintext of a section, a free-text field, a passphrase or key
//! material. Errors name ids, sections, fields, rules and sequence numbers only; input is echoed
//! only where it is a name the caller chose (a role, a user, an action), never a value of a
//! patient's file. Every authentication failure (wrong passphrase, unknown or revoked user,
//! forged or corrupted ciphertext) is one opaque variant so that errors leak nothing an attacker
//! could use.
//!
//! Layering: this module depends on `model` (ids, sections, input rules) and on nothing else of
//! the crate; `model` does not depend on it.

use crate::model::{EntryId, InvalidInput, PatientId, Section, Timestamp};
use std::path::PathBuf;

mod kinds;

pub use kinds::{Existing, Fault, Missing, Object, PolicyError, RecoveryError};

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure medvault reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Unlock failed: unknown user, revoked user or wrong passphrase (deliberately not told apart).
    #[error("authentication failed")]
    Authentication,
    /// A ciphertext or a wrapped key did not authenticate: it was edited, moved or swapped.
    #[error("decryption failed: data is corrupted or not where it belongs")]
    Decrypt,
    /// The user's roles do not allow this operation.
    #[error("access denied: {0}")]
    Denied(#[from] Denied),
    /// The user's roles allow the section but its key has not been delivered to them yet.
    #[error(
        "the {0} key has not been delivered to this user yet: it is sealed to them when a user holding it next unlocks"
    )]
    KeyPending(Section),
    /// Input that does not satisfy the documented rules; nothing was changed.
    #[error("invalid input: {0}")]
    Invalid(#[from] InvalidInput),
    /// The named object does not exist.
    #[error("not found: {0}")]
    NotFound(Missing),
    /// The object already exists (or was already done).
    #[error("already exists: {0}")]
    AlreadyExists(Existing),
    /// Stored bytes do not decode, or a structural invariant of the store is broken.
    #[error("integrity failure: {0}")]
    Integrity(#[from] IntegrityError),
    /// The audit event could not be durably committed; the operation returned nothing and
    /// changed nothing. The source says why (disk full, engine failure, ...).
    #[error("audit log unavailable, operation refused: {0}")]
    AuditUnavailable(#[source] StorageError),
    /// Recovery shares are missing, inconsistent, or do not open this store.
    #[error("recovery failed: {0}")]
    Recovery(#[from] RecoveryError),
    /// The storage layer failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The policy is invalid.
    #[error("policy: {0}")]
    Policy(#[from] PolicyError),
    /// Argon2id refused its parameters or input.
    #[error("key derivation: {0}")]
    Kdf(#[source] argon2::Error),
    /// Writing an export or a report to its destination failed.
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),
    /// A structure could not be encoded in the binary codec (a bug: every stored structure
    /// encodes within the size limit).
    #[error("cannot encode a structure: {0}")]
    Encode(#[source] bincode::error::EncodeError),
    /// A document could not be serialized as JSON.
    #[error("cannot serialize JSON: {0}")]
    Json(#[source] serde_json::Error),
}

/// Stored bytes that do not decode, or a broken structural invariant: what was found wrong, in
/// which object, and at which audit sequence number when one is involved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {fault}{}", seq.map(|s| format!(" (audit event #{s})")).unwrap_or_default())]
#[non_exhaustive]
pub struct IntegrityError {
    /// The damaged object.
    pub object: Object,
    /// What is wrong with it.
    pub fault: Fault,
    /// The audit sequence number involved (for a checkpoint or a tree: its size), if any.
    pub seq: Option<u64>,
}

impl IntegrityError {
    /// An integrity error with no sequence number.
    pub fn new(object: Object, fault: Fault) -> IntegrityError {
        IntegrityError { object, fault, seq: None }
    }
    /// The same error, at audit sequence number (or tree size) `seq`.
    pub fn at(mut self, seq: u64) -> IntegrityError {
        self.seq = Some(seq);
        self
    }
}

/// Why an access was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denied {
    /// No role of the user may read the section.
    #[error("no role of this user may read the {0} section")]
    SectionRead(Section),
    /// No role of the user may write the section.
    #[error("no role of this user may write the {0} section")]
    SectionWrite(Section),
    /// The operation needs the user-management right.
    #[error("this operation requires the user-management right")]
    ManageUsers,
    /// The operation needs the audit right.
    #[error("this operation requires the audit right")]
    Audit,
    /// The user is not in the patient's care team (break-glass possible).
    #[error("not in the patient's care team (an emergency access needs break-glass)")]
    NotInCareTeam,
    /// The patient objects to this user (break-glass possible).
    #[error("the patient objects to access by this user (an emergency access needs break-glass)")]
    Opposition,
    /// The operation needs the care-team management right.
    #[error("this operation requires the care-team management right")]
    ManageCareTeam,
    /// The legal retention period forbids erasure (RGPD art. 17(3)(c)). The end date is not
    /// repeated (it derives from birth or death dates); `retention_status` gives it.
    #[error("erasure refused: RGPD art. 17(3)(c): the file must still be kept ({rule})")]
    Retention {
        /// The rule that sets the retention period.
        rule: &'static str,
    },
    /// A litigation hold forbids erasure (its reason is not repeated here: it is free text).
    #[error("erasure refused: the file is under litigation hold")]
    LitigationHold,
    /// The user is locked out after failed unlocks.
    #[error("locked out after repeated failed unlocks until {0}")]
    LockedOut(Timestamp),
    /// The session's signing key was retired (its user was revoked or recovered) after unlock.
    #[error("this session's user was revoked or recovered since unlock; unlock again")]
    SessionRetired,
}

/// A failure of the storage backend. Engine texts never reach users: each engine's errors are
/// mapped to one of these kinds at the backend boundary, with the underlying error as source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// Another process holds the embedded store (embedded engines allow one process at a time).
    #[error(
        "the store is in use by another process{}; close it there, or use a server backend for several workstations",
        holder.map(|h| format!(" (pid {h})")).unwrap_or_default()
    )]
    StoreBusy {
        /// The process id of the holder, if known.
        holder: Option<u32>,
    },
    /// The engine found its files damaged (bad checksum, truncated or unreadable structure), or
    /// panicked on them.
    #[error("the {engine} files are damaged: {what}")]
    Corrupted {
        /// Which engine.
        engine: &'static str,
        /// What was found (never data).
        what: &'static str,
    },
    /// The disk (or quota) is full; nothing of the failed operation was kept.
    #[error("disk full: the operation was not recorded; free space and retry")]
    DiskFull(#[source] std::io::Error),
    /// File-system I/O failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Another engine failure, by kind.
    #[error("{engine}: {what}")]
    Engine {
        /// Which engine.
        engine: &'static str,
        /// What failed.
        what: &'static str,
        /// The engine's own error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Another process changed what this batch expected (a shared backend's check failed);
    /// nothing of the batch was applied. The audit log reloads its state and the operation may
    /// be retried.
    #[error("another process wrote to the store first; nothing was recorded, retry")]
    Conflict,
    /// The writer lease of a shared store was not granted in time (another process holds it).
    #[error("another process has held the store's writer lease too long; nothing was recorded, retry")]
    LeaseTimeout,
    /// An injected fault (test backend only).
    #[error("injected fault: {0}")]
    Injected(&'static str),
}

impl StorageError {
    /// Classifies an I/O error (disk full is its own kind).
    pub fn from_io(e: std::io::Error) -> StorageError {
        if is_disk_full(&e) { StorageError::DiskFull(e) } else { StorageError::Io(e) }
    }
}

/// Whether an I/O error means the disk or quota is full.
pub(crate) fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
        || matches!(e.raw_os_error(), Some(28) | Some(122))
}

impl Error {
    /// Whether this error means "access denied" (CLI exit code 3).
    pub fn is_denied(&self) -> bool {
        matches!(self, Error::Denied(_))
    }
    /// Whether this error means "integrity failure" (CLI exit code 4).
    pub fn is_integrity(&self) -> bool {
        matches!(
            self,
            Error::Integrity(_)
                | Error::Decrypt
                | Error::Storage(StorageError::Corrupted { .. })
                | Error::AuditUnavailable(StorageError::Corrupted { .. })
        )
    }
    /// The storage failure behind this error, if any.
    pub fn storage(&self) -> Option<&StorageError> {
        match self {
            Error::Storage(e) | Error::AuditUnavailable(e) => Some(e),
            _ => None,
        }
    }
    /// The integrity failure behind this error, if any.
    pub fn integrity(&self) -> Option<&IntegrityError> {
        match self {
            Error::Integrity(e) => Some(e),
            _ => None,
        }
    }
    /// A patient that does not exist (or was purged).
    pub(crate) fn no_patient(patient: PatientId) -> Error {
        Error::NotFound(Missing::Patient(patient))
    }
    /// An entry that does not exist.
    pub(crate) fn no_entry(patient: PatientId, entry: EntryId) -> Error {
        Error::NotFound(Missing::Entry { patient, entry })
    }
    /// A store folder that already holds a store.
    pub(crate) fn store_exists(dir: PathBuf) -> Error {
        Error::AlreadyExists(Existing::Store(dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_errors_name_the_object_the_fault_and_the_sequence_number() {
        let e = Error::from(IntegrityError::new(Object::AuditEvent, Fault::Undecodable).at(41));
        assert_eq!(e.to_string(), "integrity failure: audit event: undecodable bytes (audit event #41)");
        assert!(e.is_integrity());
        assert_eq!(e.integrity().and_then(|i| i.seq), Some(41));
    }

    #[test]
    fn a_litigation_hold_refusal_does_not_repeat_its_free_text_reason() {
        let e = Error::Denied(Denied::LitigationHold);
        assert_eq!(e.to_string(), "access denied: erasure refused: the file is under litigation hold");
    }

    #[test]
    fn engine_and_io_errors_keep_their_source() {
        use std::error::Error as _;
        let io = std::io::Error::other("device gone");
        let e = Error::Storage(StorageError::Io(io));
        assert!(e.source().is_some(), "the storage error is the source");
        let out = Error::Output(std::io::Error::other("pipe closed"));
        assert_eq!(out.source().map(|s| s.to_string()).as_deref(), Some("pipe closed"));
    }
}
