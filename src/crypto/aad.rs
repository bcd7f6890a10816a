//! Associated data: what every ciphertext is bound to.
//!
//! `aad = "medvault/aad" || format_version (u16 LE) || codec(Binding)`. The key id (kind and
//! version) is inside the AAD, so a header's key id is only a hint: a ciphertext moved to another
//! patient, section, entry, revision, user or key version fails to open.
// Re-exported by the `testing` module only; private otherwise.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub))]

use crate::model::{AttachmentId, EntryId, PatientId, Section, StoreId, UserId};
use serde::{Deserialize, Serialize};

/// The version of this associated-data encoding, bound into every ciphertext. New binding
/// variants are appended (bincode numbers variants in order), so it stays 1 while the store
/// format moves on (`keyring::STORE_FORMAT`).
pub(crate) const FORMAT_VERSION: u16 = 1;

/// Which key a wrapper holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum KeyKind {
    /// A section key.
    Section(Section),
    /// The blind-index key (reception lookups); granted with identity read.
    BlindIndex,
    /// The store's audit signing key. Stores of format 4 seal it to the recovery key only (it
    /// signs what a recovery appends); in older stores every user was granted it.
    AuditSigning,
    /// The directory signing key (admins: signs user records and the policy).
    Directory,
}

impl KeyKind {
    /// Storage byte of this kind.
    pub fn code(self) -> u8 {
        match self {
            KeyKind::Section(s) => s.code(),
            KeyKind::BlindIndex => 0x10,
            KeyKind::AuditSigning => 0x11,
            KeyKind::Directory => 0x12,
        }
    }
    /// The kind's name (`identity`, `reports`, `exams`, `blind-index`, `audit-signing`,
    /// `directory`).
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Section(s) => s.name(),
            KeyKind::BlindIndex => "blind-index",
            KeyKind::AuditSigning => "audit-signing",
            KeyKind::Directory => "directory",
        }
    }
    /// Kind of a storage byte.
    pub fn from_code(b: u8) -> Option<KeyKind> {
        match b {
            0x10 => Some(KeyKind::BlindIndex),
            0x11 => Some(KeyKind::AuditSigning),
            0x12 => Some(KeyKind::Directory),
            _ => Section::from_code(b).map(KeyKind::Section),
        }
    }
}

/// Where a ciphertext belongs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub enum Binding {
    /// An entry revision's content, under its data key.
    EntryPayload {
        /// Store.
        store: StoreId,
        /// Patient.
        patient: PatientId,
        /// Section.
        section: Section,
        /// Entry.
        entry: EntryId,
        /// Revision.
        revision: u32,
    },
    /// An entry revision's data key, under a section key version. (The payload is not bound to
    /// the section key version, so that rotation can rewrap data keys without re-encrypting.)
    DataKeyWrap {
        /// Store.
        store: StoreId,
        /// Patient.
        patient: PatientId,
        /// Section.
        section: Section,
        /// Entry.
        entry: EntryId,
        /// Revision.
        revision: u32,
        /// Section key version used.
        key_version: u32,
    },
    /// A user's private bundle (X25519 secret), under the user's passphrase key.
    UserBundle {
        /// Store.
        store: StoreId,
        /// User.
        user: UserId,
    },
    /// A key sealed to a user's X25519 public key.
    Grant {
        /// Store.
        store: StoreId,
        /// Recipient.
        user: UserId,
        /// Which key.
        kind: KeyKind,
        /// Its version.
        version: u32,
    },
    /// A key wrapped under the recovery key.
    RecoveryWrap {
        /// Store.
        store: StoreId,
        /// Which key.
        kind: KeyKind,
        /// Its version.
        version: u32,
    },
    /// The check value proving a reconstructed recovery key is the right one.
    RecoveryCheck {
        /// Store.
        store: StoreId,
    },
    /// A patient key, under a section key version.
    PatientKeyWrap {
        /// Store.
        store: StoreId,
        /// Patient.
        patient: PatientId,
        /// Section.
        section: Section,
        /// The section key version that was primary when the patient key was made.
        generation: u32,
        /// Section key version used.
        key_version: u32,
    },
    /// An entry revision's data key, under its patient key (revision format 2).
    DataKeyUnderPatientKey {
        /// Store.
        store: StoreId,
        /// Patient.
        patient: PatientId,
        /// Section.
        section: Section,
        /// Entry.
        entry: EntryId,
        /// Revision.
        revision: u32,
        /// Generation of the patient key.
        generation: u32,
    },
    /// The text of a sealed note (a justification, a reason), under its note key.
    Note {
        /// Store.
        store: StoreId,
        /// Where the note belongs.
        place: NotePlace,
    },
    /// A note key sealed to one reader.
    NoteKey {
        /// Store.
        store: StoreId,
        /// Where the note belongs.
        place: NotePlace,
        /// The reader: a user id, or all zeros for the recovery key.
        recipient: [u8; 16],
    },
    /// A user's own audit signing key (its Ed25519 seed), sealed to that user.
    UserSigner {
        /// Store.
        store: StoreId,
        /// The user.
        user: UserId,
        /// The signing key's public half (its certificate's storage key).
        public: [u8; 32],
    },
    /// An attachment's data key, under its entry's patient key.
    AttachmentKey {
        /// Where the attachment belongs.
        place: AttachmentPlace,
        /// Generation of the patient key.
        generation: u32,
    },
    /// An attachment's sealed description (name, media type, who added it, when).
    AttachmentMeta {
        /// Where the attachment belongs.
        place: AttachmentPlace,
    },
    /// One chunk of an attachment's content, under its data key.
    AttachmentChunk {
        /// Where the attachment belongs.
        place: AttachmentPlace,
        /// The chunk's position (0-based).
        index: u32,
        /// Whether it is the last chunk.
        last: bool,
    },
}

/// Where an attachment belongs: store, patient, section, entry and the attachment's own id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentPlace {
    /// Store.
    pub store: StoreId,
    /// Patient.
    pub patient: PatientId,
    /// Section.
    pub section: Section,
    /// Entry.
    pub entry: EntryId,
    /// Attachment.
    pub attachment: AttachmentId,
}

/// Where a sealed note belongs (`session::notes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum NotePlace {
    /// The justification of a break-glass access.
    BreakGlass {
        /// Patient.
        patient: PatientId,
        /// Who opened it.
        user: UserId,
        /// Sequence number of the event that opened it.
        seq: u64,
    },
    /// The reason of a patient's litigation hold.
    Hold {
        /// Patient.
        patient: PatientId,
    },
    /// The reason an administrator gave for restoring a backup older than an anchored
    /// checkpoint.
    RestoreForced {
        /// Events in the restored log.
        restored: u64,
        /// Size of the anchored checkpoint the restore went back from.
        anchored: u64,
    },
}

impl Binding {
    /// The associated-data bytes for this binding.
    pub fn to_aad(&self) -> Vec<u8> {
        let mut out = b"medvault/aad".to_vec();
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        // invariant: a Binding holds only fixed-size ids and enums; encoding cannot fail.
        out.extend_from_slice(&crate::codec::encode(self).expect("invariant: binding encodes"));
        out
    }
}
