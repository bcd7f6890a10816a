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
//! - [`storage`]: the backend trait ([`storage::RedbBackend`] by default, [`storage::SledBackend`]
//!   for the first release's stores); [`migrate`] copies a store to the other engine.
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
#![warn(missing_docs)]

pub mod audit;
pub mod clock;
pub mod codec;
pub mod crypto;
pub mod error;
pub mod export;
pub mod keyring;
mod layout;
pub mod migrate;
pub mod model;
pub mod policy;
pub mod rights;
pub mod session;
mod state;
pub mod storage;
mod store;
pub mod synthetic;

pub use audit::{Action, AuditEvent, AuditQuery, Checkpoint, Outcome, Purpose, VerifyReport};
pub use clock::{Clock, ManualClock, SystemClock};
pub use crypto::recovery::RecoveryShare;
pub use crypto::{KdfParams, KeyKind};
pub use error::{Denied, Error, Result, StorageError};
pub use model::{
    Date, Entry, EntryId, Exam, ExamKind, Identity, IdentityStatus, PatientId, Report, ReportKind, Section, Sex,
    Timestamp,
};
pub use policy::Policy;
pub use session::{AccessContext, FindQuery, Session};
pub use storage::{Durability, Engine};
pub use store::{Store, StoreOptions};
