//! The typed kinds behind [`super::Error`]'s variants: what is missing, what already exists,
//! which stored object is damaged and how, why recovery or a policy failed.

use crate::model::{EntryId, PatientId, Section};
use std::path::PathBuf;

/// What was not found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Missing {
    /// No store in this folder (or no store header in this backend).
    #[error("no medvault store in {}", .0.display())]
    Store(PathBuf),
    /// The backend holds no store header.
    #[error("no medvault store here (no store header)")]
    StoreHeader,
    /// No such patient (or the file was purged).
    #[error("patient {0}")]
    Patient(PatientId),
    /// No patient id starts with these digits.
    #[error("no patient id starts with {0}")]
    PatientPrefix(String),
    /// No such entry in the patient's file.
    #[error("entry {entry} of patient {patient}")]
    Entry {
        /// The patient.
        patient: PatientId,
        /// The entry.
        entry: EntryId,
    },
    /// No such attachment of this entry (or it was never completed).
    #[error("attachment {0}")]
    Attachment(crate::model::AttachmentId),
    /// No such user.
    #[error("user {0:?}")]
    User(String),
    /// The member is not in the patient's care team.
    #[error("{member} is not in the care team of patient {patient}")]
    CareTeamMember {
        /// The patient.
        patient: PatientId,
        /// The member (a user or `role:` name).
        member: String,
    },
    /// The patient has no opposition to this user.
    #[error("no opposition of patient {patient} to {user}")]
    Opposition {
        /// The patient.
        patient: PatientId,
        /// The user.
        user: String,
    },
    /// No patient request with this id.
    #[error("request {0}")]
    Request(String),
    /// No break-glass access opened by this audit event.
    #[error("break-glass access #{0}")]
    BreakGlass(u64),
    /// The audit event was never written, or was pruned.
    #[error("audit event {0} (never written, or pruned)")]
    AuditEvent(u64),
    /// No key of this kind exists yet (a section key appears on its first grant).
    #[error("no {0} key exists yet (grant the section to a user first)")]
    Key(&'static str),
    /// The section key version does not exist or is retired.
    #[error("{section} key v{version} does not exist or is retired")]
    KeyVersion {
        /// The section.
        section: Section,
        /// The version.
        version: u32,
    },
}

/// What already exists, or was already done.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Existing {
    /// A store already exists in this folder.
    #[error("a store already exists in {}", .0.display())]
    Store(PathBuf),
    /// This backend already holds a store.
    #[error("this backend already holds a store")]
    BackendStore,
    /// A user with this name exists.
    #[error("user {0:?}")]
    User(String),
    /// The request was already closed.
    #[error("request {0} is already closed")]
    RequestClosed(String),
    /// The break-glass access was already reviewed.
    #[error("break-glass access #{0} was already reviewed")]
    BreakGlassReviewed(u64),
}

/// A stored object that can be found damaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Object {
    /// The signed store header.
    #[error("store header")]
    StoreHeader,
    /// A user record.
    #[error("user record")]
    UserRecord,
    /// The user-name index.
    #[error("user name index")]
    UserIndex,
    /// A section key's state (primary version, retired versions).
    #[error("key state")]
    KeyState,
    /// A section key version record.
    #[error("key version")]
    KeyVersion,
    /// A key sealed to a user.
    #[error("key grant")]
    KeyGrant,
    /// A key wrapped under the recovery key.
    #[error("recovery wrap")]
    RecoveryWrap,
    /// A patient header.
    #[error("patient header")]
    PatientHeader,
    /// The key of a record (patient, section, entry, revision).
    #[error("record key")]
    RecordKey,
    /// A stored revision (wrapped data key and ciphertext).
    #[error("stored revision")]
    Revision,
    /// The patient's identity section.
    #[error("identity section")]
    Identity,
    /// The blind index.
    #[error("blind index")]
    BlindIndex,
    /// A patient's blind tokens.
    #[error("blind tokens")]
    BlindTokens,
    /// A care-team member record.
    #[error("care-team member")]
    CareTeam,
    /// A break-glass record.
    #[error("break-glass record")]
    BreakGlass,
    /// A patient request record.
    #[error("patient request")]
    Request,
    /// An audit event.
    #[error("audit event")]
    AuditEvent,
    /// The audit tree state (frontier).
    #[error("audit tree state")]
    AuditTree,
    /// A signed checkpoint.
    #[error("checkpoint")]
    Checkpoint,
    /// The signed tree head.
    #[error("signed head")]
    SignedHead,
    /// An inclusion proof of an event.
    #[error("event proof")]
    EventProof,
    /// The prune mark (audit retention).
    #[error("prune mark")]
    PruneMark,
    /// A backup file.
    #[error("backup")]
    Backup,
    /// An attachment's stored description.
    #[error("attachment")]
    Attachment,
    /// A chunk of an attachment's content.
    #[error("attachment chunk")]
    AttachmentChunk,
    /// A user signing key's certificate.
    #[error("signer certificate")]
    SignerCert,
    /// A professional's name and profession.
    #[error("staff profile")]
    Profile,
    /// The witness of acknowledged commits.
    #[error("witness")]
    Witness,
    /// An audit extract file.
    #[error("audit extract")]
    Extract,
    /// A sealed patient copy (HTML).
    #[error("patient copy")]
    PatientCopy,
    /// A copy made by `migrate`.
    #[error("migrated copy")]
    MigratedCopy,
    /// An access grant or the plaintext it opened.
    #[error("access grant")]
    Grant,
    /// A sealed box (key sealed to a user).
    #[error("sealed box")]
    SealedBox,
    /// A stored timestamp.
    #[error("timestamp")]
    Timestamp,
    /// A test structure.
    #[error("structure")]
    Structure,
}

/// What is wrong with a damaged object.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Fault {
    /// The bytes do not decode.
    #[error("undecodable bytes")]
    Undecodable,
    /// Bytes follow the encoded structure.
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
    /// A format version this release does not read.
    #[error("unsupported format {0}")]
    UnsupportedFormat(u32),
    /// A field has the wrong length.
    #[error("bad length")]
    BadLength,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// Signed by another key than the one this store trusts.
    #[error("signed by another key than this store's")]
    ForeignKey,
    /// It belongs to another store.
    #[error("belongs to another store")]
    ForeignStore,
    /// Stored under a key that does not match its content.
    #[error("out of place")]
    OutOfPlace,
    /// A kind code this release does not know.
    #[error("unknown kind")]
    UnknownKind,
    /// It is missing.
    #[error("missing")]
    Missing,
    /// A value out of its valid range.
    #[error("out of range")]
    OutOfRange,
    /// The store holds fewer audit events than were acknowledged.
    #[error(
        "acknowledged events lost: the store holds {found} audit events, {acknowledged} were acknowledged (the engine dropped its newest commits, or the store was rolled back)"
    )]
    Lost {
        /// Events the store holds.
        found: u64,
        /// Events acknowledged (witness or anchor).
        acknowledged: u64,
    },
    /// The first events differ from what was acknowledged (rewritten or rolled back).
    #[error("the first {size} audit events differ from what was acknowledged (rewritten or rolled back)")]
    Rewritten {
        /// Events acknowledged.
        size: u64,
    },
    /// A problem at a line of a file (1-based).
    #[error("line {line}: {what}")]
    AtLine {
        /// The line.
        line: usize,
        /// What is wrong there.
        what: &'static str,
    },
    /// A field is missing at a line of a file (1-based).
    #[error("line {line}: missing `{field}`")]
    MissingField {
        /// The line.
        line: usize,
        /// The field.
        field: &'static str,
    },
    /// Another broken invariant, named.
    #[error("{0}")]
    Broken(&'static str),
}

/// Why recovery failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecoveryError {
    /// A share does not start with `mvshare1-`.
    #[error("a share starts with `mvshare1-`")]
    Prefix,
    /// A share is not hexadecimal after its prefix.
    #[error("a share is hexadecimal after its prefix")]
    NotHex,
    /// A share has the wrong length.
    #[error("a share has {got} bytes, expected {expected}")]
    Length {
        /// Bytes found.
        got: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// A share's checksum does not match (a typo).
    #[error("share checksum mismatch (typo?)")]
    Checksum,
    /// A share's header is invalid.
    #[error("share header is invalid")]
    Header,
    /// No share was given.
    #[error("no share given")]
    NoShare,
    /// A share belongs to another store.
    #[error("a share belongs to another store")]
    ForeignStore,
    /// The shares disagree on the threshold.
    #[error("shares disagree on the threshold")]
    Threshold,
    /// Too few distinct shares.
    #[error("{given} distinct shares given, {needed} needed")]
    TooFew {
        /// Distinct shares given.
        given: usize,
        /// Shares needed.
        needed: usize,
    },
    /// The shares could not be combined.
    #[error("the shares do not combine")]
    Combine,
    /// The shares combine to a key that does not open this store.
    #[error("these shares do not rebuild this store's recovery key")]
    WrongKey,
}

/// Why a policy is invalid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy file is not valid JSON of the policy's shape.
    #[error("not a valid policy document: {0}")]
    Json(#[source] serde_json::Error),
    /// A rule of the policy is broken.
    #[error("{0}")]
    Rule(&'static str),
    /// A role name breaks the naming rule.
    #[error("role name {0:?} must be lower-case letters, '-' or '_'")]
    RoleName(String),
    /// A role may write a section it may not read (a writer must hold the section key).
    #[error(
        "role {role:?} may write {section} without reading it; a writer must hold the section key, so grant read too"
    )]
    WriteWithoutRead {
        /// The role.
        role: String,
        /// The section.
        section: Section,
    },
}
