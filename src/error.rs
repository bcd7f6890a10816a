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
    /// The audit event could not be durably committed; the operation returned nothing.
    #[error("audit log unavailable, operation refused: {0}")]
    AuditUnavailable(String),
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

/// A failure of the storage backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The embedded sled database failed.
    #[error("sled: {0}")]
    Sled(String),
    /// File-system I/O failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// An injected fault (test backend only).
    #[error("injected fault: {0}")]
    Injected(&'static str),
}

impl From<sled::Error> for StorageError {
    fn from(e: sled::Error) -> Self {
        StorageError::Sled(e.to_string())
    }
}

impl Error {
    /// Whether this error means "access denied" (CLI exit code 3).
    pub fn is_denied(&self) -> bool {
        matches!(self, Error::Denied(_))
    }
    /// Whether this error means "integrity failure" (CLI exit code 4).
    pub fn is_integrity(&self) -> bool {
        matches!(self, Error::Integrity(_) | Error::Decrypt)
    }
}
