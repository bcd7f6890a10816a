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
    /// Serialises revision numbering of record writes.
    pub(crate) write_lock: Mutex<()>,
    /// The audit key, learned from the first unlocked session, to sign a checkpoint on close.
    pub(crate) closing_signer: Mutex<Option<SigningSecret>>,
    /// The store folder and its engine (embedded stores only).
    pub(crate) location: Option<(PathBuf, Engine)>,
    /// What the witness said at open, if it disagreed with the log.
    pub(crate) witness_problem: Mutex<Option<crate::error::IntegrityError>>,
}
