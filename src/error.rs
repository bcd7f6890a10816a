//! The one error type of the crate.
//!
//! Invariant: no variant carries plaintext of a section, a passphrase or key material. Messages
//! name ids, sections, field names and reasons only. Every authentication failure (wrong
//! passphrase, unknown or revoked user, forged or corrupted ciphertext) is one opaque variant so
//! that errors leak nothing an attacker could use.

use crate::model::Section;

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
    Invalid(String),
    /// The named object does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The object already exists.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// Stored bytes do not decode, or a structural invariant of the store is broken.
    #[error("integrity failure: {0}")]
    Integrity(String),
    /// The audit event could not be durably committed; the operation returned nothing and
    /// changed nothing. The source says why (disk full, engine failure, ...).
    #[error("audit log unavailable, operation refused: {0}")]
    AuditUnavailable(#[source] StorageError),
    /// Recovery shares are missing, inconsistent, or do not open this store.
    #[error("recovery failed: {0}")]
    Recovery(String),
    /// The storage layer failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The policy file is invalid.
    #[error("policy: {0}")]
    Policy(String),
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
    /// The legal retention period forbids it (the reason cites the rule and the date).
    #[error("erasure refused: {0}")]
    Retention(String),
    /// The user is locked out after failed unlocks.
    #[error("locked out after repeated failed unlocks until {0}")]
    LockedOut(String),
}

/// A failure of the storage backend. Engine texts never reach users: each engine's errors are
/// mapped to one of these kinds at the backend boundary, with the underlying error as source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// Another process holds the embedded store (embedded engines allow one process at a time).
    #[error(
        "the store is in use by another process{}; close it there, or use a server backend for several workstations",
        holder.as_deref().map(|h| format!(" ({h})")).unwrap_or_default()
    )]
    StoreBusy {
        /// What is known of the holder (process id), if anything.
        holder: Option<String>,
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
}
