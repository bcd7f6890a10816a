//! The shared state of one open store, below both [`crate::Store`] (a thin handle to it) and
//! [`crate::Session`] (which reaches it only inside the `session` module), so that neither
//! depends on the other for it.

use crate::audit::AuditLog;
use crate::clock::Clock;
use crate::crypto::SigningSecret;
use crate::keyring::StoreHeader;
use crate::storage::{Backend, Committer, Durability, Engine};
use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::Arc;

/// What every handle and session of one open store shares.
pub(crate) struct Inner {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) committer: Committer,
    pub(crate) header: StoreHeader,
    pub(crate) audit: AuditLog,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) durability: Durability,
    /// Serialise revision numbering of record writes, one lock per stripe of patients.
    pub(crate) write_locks: WriteLocks,
    /// The audit key, learned from the first unlocked session, to sign a checkpoint on close.
    pub(crate) closing_signer: Mutex<Option<Arc<SigningSecret>>>,
    /// The store folder and its engine (embedded stores only).
    pub(crate) location: Option<(PathBuf, Engine)>,
    /// What the witness said at open, if it disagreed with the log.
    pub(crate) witness_problem: Mutex<Option<crate::error::IntegrityError>>,
}

/// Stripes of the write lock: writers of different patients do not wait for each other (their
/// groups commit together); a writer holds its stripe until its write is committed, so that the
/// next writer of the same patient reads it.
pub(crate) struct WriteLocks([Mutex<()>; 64], Mutex<()>);

impl WriteLocks {
    pub(crate) fn new() -> Self {
        WriteLocks(std::array::from_fn(|_| Mutex::new(())), Mutex::new(()))
    }

    /// The lock of identities carrying an INS: held from the check that no other patient
    /// carries the INS until the identity is committed; always taken before a patient's stripe.
    pub(crate) fn ins(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.1.lock()
    }

    /// The stripe of one patient.
    pub(crate) fn patient(&self, patient: crate::model::PatientId) -> parking_lot::MutexGuard<'_, ()> {
        let i = patient.0.iter().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(*b as usize)) % self.0.len();
        self.0[i].lock()
    }

    /// Every stripe, in order (operations that rewrite records of many patients).
    pub(crate) fn all(&self) -> Vec<parking_lot::MutexGuard<'_, ()>> {
        self.0.iter().map(|m| m.lock()).collect()
    }
}
