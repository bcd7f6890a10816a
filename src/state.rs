//! The shared state of one open store, below both [`crate::Store`] (a thin handle to it) and
//! [`crate::Session`] (which reaches it only inside the `session` module), so that neither
//! depends on the other for it.

use crate::audit::AuditLog;
use crate::clock::Clock;
use crate::crypto::SigningSecret;
use crate::error::{Error, Result};
use crate::keyring::StoreHeader;
use crate::storage::lease::{Lease, LeaseGuard};
use crate::storage::{Backend, Committer, Durability, Engine};
use parking_lot::{Mutex, MutexGuard};
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
/// next writer of the same patient reads it. On a store several processes share, every guard
/// also holds the writer lease, so that no other process writes in between.
pub(crate) struct WriteLocks {
    stripes: [Mutex<()>; 64],
    ins: Mutex<()>,
    lease: Arc<Lease>,
}

/// A held write lock (and, on a shared store, the writer lease).
pub(crate) struct WriteGuard<'a> {
    _locks: Vec<MutexGuard<'a, ()>>,
    _lease: LeaseGuard,
}

impl WriteLocks {
    pub(crate) fn new(lease: Arc<Lease>) -> Self {
        WriteLocks { stripes: std::array::from_fn(|_| Mutex::new(())), ins: Mutex::new(()), lease }
    }

    fn guard<'a>(&'a self, take: impl FnOnce() -> Vec<MutexGuard<'a, ()>>) -> Result<WriteGuard<'a>> {
        // The lease first: a thread waiting for another process holds no stripe.
        let lease = self.lease.acquire().map_err(Error::AuditUnavailable)?;
        Ok(WriteGuard { _locks: take(), _lease: lease })
    }

    /// The lock of identities carrying an INS: held from the check that no other patient
    /// carries the INS until the identity is committed; always taken before a patient's stripe.
    pub(crate) fn ins(&self) -> Result<WriteGuard<'_>> {
        self.guard(|| vec![self.ins.lock()])
    }

    /// The stripe of one patient.
    pub(crate) fn patient(&self, patient: crate::model::PatientId) -> Result<WriteGuard<'_>> {
        let i = patient.0.iter().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(*b as usize)) % self.stripes.len();
        self.guard(|| vec![self.stripes[i].lock()])
    }

    /// Every stripe, in order (operations that rewrite records of many patients).
    pub(crate) fn all(&self) -> Result<WriteGuard<'_>> {
        self.guard(|| self.stripes.iter().map(|m| m.lock()).collect())
    }
}
