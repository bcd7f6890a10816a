//! # medvault
//!
//! An embedded, encrypted patient-record store with a tamper-evident audit log of every access.
//!
//! A medical file has three sections (volets): **identity**, **reports** and **exams**. Each is
//! encrypted with AES-256-GCM under its own versioned section key, and a user only ever receives
//! the keys of the sections their roles may read: a secretary's session cannot decrypt exams
//! even if every check in this crate were skipped. Every access, allowed or denied, is appended
//! to an RFC 9162 Merkle-tree audit log *before* any data is returned.
//!
//! ## Main types
//! - [`Store`]: create, open, unlock, recover.
//! - [`Session`]: an unlocked user; every read, write and search goes through it.
//! - [`model`]: [`Identity`], [`Report`], [`Exam`], [`Entry`] (one revision).
//! - [`audit`]: events, queries, verification, checkpoints.
//! - [`backend`]: for people writing a storage backend: the trait, its batches and keyspaces, and
//!   the engines medvault ships ([`backend::RedbBackend`] by default, [`backend::SledBackend`]
//!   for the first release's stores); [`migrate()`] copies a store to the other engine.
//! - [`export`] and [`rights`]: patient copies, audit extracts, bulk exports; retention and the
//!   register of patients' requests.
//!
//! ```no_run
//! use medvault::{Store, StoreOptions, AccessContext};
//! let dir = std::path::Path::new("/tmp/medvault-doc");
//! let (store, shares) = Store::create(dir, "admin", b"correct horse battery", StoreOptions::default())?;
//! let admin = store.unlock("admin", b"correct horse battery", AccessContext::operations("poste-1"))?;
//! admin.add_user("claire", &["secretary".into()], b"initial passphrase")?;
//! # Ok::<(), medvault::Error>(())
//! ```
//!
//! ## What medvault does not do
//! - It does not protect data from a user while their session is unlocked, nor from the
//!   operating system of the machine that runs it (memory, swap, a debugger).
//! - It does not hide *that* a patient exists, how many revisions an entry has, or when entries
//!   were written (storage keys and sizes are visible); it hides their content.
//! - Without an anchored checkpoint kept elsewhere, replacing the whole store with an older copy
//!   cannot be detected (see `SECURITY.md`).

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod attachment;
pub mod audit;
pub mod backend;
pub mod backup;
mod clock;
mod codec;
mod crypto;
mod error;
pub mod export;
pub mod import;
pub mod json;
mod keyring;
mod layout;
mod location;
mod migrate;
pub mod model;
mod policy;
pub mod rights;
mod session;
mod state;
mod storage;
mod store;
pub mod synthetic;
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing;

pub use audit::{Action, AuditEvent, AuditQuery, Checkpoint, EventProof, Outcome, Purpose, VerifyReport};
pub use clock::{Clock, ManualClock, SystemClock};
pub use crypto::aad::KeyKind;
pub use crypto::kdf::KdfParams;
pub use crypto::recovery::RecoveryShare;
pub use error::{
    Denied, Error, Existing, Fault, IntegrityError, Missing, Object, PolicyError, RecoveryError, Result, StorageError,
};
pub use keyring::profiles::StaffProfile;
pub use location::StoreLocation;
pub use migrate::migrate;
pub use model::{
    AttachmentId, Date, Entry, EntryId, Exam, ExamKind, Identity, IdentityStatus, Interpretation, InvalidInput,
    PatientId, Report, ReportKind, Section, Sex, Timestamp, UserId,
};
pub use policy::{AccessSettings, Policy, RoleRights};
pub use session::access::CareMember;
pub use session::attachments::AttachmentInfo;
pub use session::break_glass::BreakGlassRecord;
pub use session::opened::Opened;
pub use session::profiles::StaffMember;
pub use session::records::FindQuery;
pub use session::rotation::{KeyVersionInfo, RewrapProgress};
pub use session::users::{UserAdded, UserSummary};
pub use session::{AccessContext, Session};
pub use storage::commit::Durability;
pub use storage::engine::Engine;
pub use store::{Store, StoreOptions};
