//! The single path through which batches reach the backend, and the witness after them.
//!
//! [`Committer::commit`] applies one batch in one engine transaction, durable (one sync) or
//! not; the audit log's group commit (`crate::audit::group`) hands it one batch per group, so
//! that every operation of a group shares one transaction and one sync. Engine transactions are
//! serialized here, and only here.
//!
//! With a witness ([`super::witness`]), every durable commit that made a new mark durable is
//! followed by writing that mark to the witness file, before any of the operations it covers
//! is acknowledged.
// Re-exported by the `testing` module only; private otherwise.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub))]

use super::lease::Lease;
use super::witness::WitnessFile;
use super::{AfterSync, Backend, Batch, StorageResult};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// When a commit is acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// On disk (flushed and fsynced) before the call returns. The default.
    #[default]
    Immediate,
    /// Applied, and made durable by the next flush (another commit's, [`crate::Store::flush`],
    /// or close). For bulk jobs: a crash may lose the last acknowledged operations, but never
    /// leaves a gap or a corrupted log.
    Buffered,
}

/// Witness marks: the newest one applied, and the newest one known durable.
#[derive(Default)]
struct Marks {
    pending: Option<Vec<u8>>,
    durable: Option<Vec<u8>>,
    /// Non-durable transactions since the last durable one.
    since_durable: u64,
}

impl Marks {
    /// `newest` is durable and the witness holds it (no mark: nothing changes).
    fn witnessed(&mut self, newest: Option<Vec<u8>>) {
        if newest.is_some() {
            self.durable = newest;
        }
    }
}

/// A run of non-durable transactions is closed by a durable one after this many: it bounds what
/// a crash can take from a bulk job. (redb's backend also takes its own checkpoints, because
/// redb reuses the pages a non-durable transaction freed only after a durable commit.)
const MAX_NON_DURABLE_RUN: u64 = 128;

/// Serializes engine transactions and keeps the witness in step with durability.
pub struct Committer {
    backend: Arc<dyn Backend>,
    io: Mutex<Marks>,
    commits: AtomicU64,
    syncs: AtomicU64,
    witness: Option<Arc<WitnessFile>>,
    lease: Arc<Lease>,
}

impl Committer {
    /// A committer over a backend, with no witness.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self::with_witness(backend, None)
    }

    /// A committer that records each durable mark in `witness`.
    pub fn with_witness(backend: Arc<dyn Backend>, witness: Option<WitnessFile>) -> Self {
        Committer {
            lease: Lease::new(backend.clone()),
            backend,
            io: Mutex::new(Marks::default()),
            commits: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            witness: witness.map(Arc::new),
        }
    }

    /// The writer lease of the backend (shared backends; free otherwise).
    pub(crate) fn lease(&self) -> &Arc<Lease> {
        &self.lease
    }

    /// The backend, for reads.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// Applies `batch` in one engine transaction; with `durable`, it and everything before it
    /// are on disk, and the witness holds the newest mark, before this returns. `mark` is the
    /// witness mark of the state the batch leaves.
    pub fn commit(&self, batch: &Batch, durable: bool, mark: Option<Vec<u8>>) -> StorageResult<()> {
        let mut marks = self.io.lock();
        self.commits.fetch_add(1, Ordering::Relaxed);
        if !durable && marks.since_durable < MAX_NON_DURABLE_RUN {
            self.backend.apply(batch)?;
            marks.since_durable += 1;
            if mark.is_some() {
                marks.pending = mark;
            }
            return Ok(());
        }
        let newest = mark.or_else(|| marks.pending.clone());
        self.backend.apply_durable_then(batch, self.witness_step(&marks, &newest))?;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        marks.since_durable = 0;
        marks.pending = None;
        marks.witnessed(newest);
        Ok(())
    }

    /// Runs `f` on the backend while no commit can start or be in flight (a consistent view
    /// of everything committed, for backups).
    pub(crate) fn quiesced<R>(&self, f: impl FnOnce(&dyn Backend) -> R) -> R {
        let _marks = self.io.lock();
        f(self.backend.as_ref())
    }

    /// Makes everything applied so far durable, and records the newest mark.
    pub fn sync_all(&self) -> StorageResult<()> {
        let mut marks = self.io.lock();
        self.backend.flush()?;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        marks.since_durable = 0;
        let newest = marks.pending.take();
        self.witness_step(&marks, &newest)()?;
        marks.witnessed(newest);
        Ok(())
    }

    /// What follows a durable sync: `newest` written to the witness, unless there is no
    /// witness, no mark, or the witness already holds it.
    fn witness_step(&self, marks: &Marks, newest: &Option<Vec<u8>>) -> AfterSync {
        let unwitnessed = newest.clone().filter(|m| marks.durable.as_ref() != Some(m));
        let witness = self.witness.clone();
        Box::new(move || match (witness, unwitnessed) {
            (Some(w), Some(m)) => w.write(&m),
            _ => Ok(()),
        })
    }

    /// (engine transactions, syncs) since this committer was made: how many operations share
    /// one sync (benchmarks).
    #[cfg(feature = "testing")]
    pub fn stats(&self) -> (u64, u64) {
        (self.commits.load(Ordering::Relaxed), self.syncs.load(Ordering::Relaxed))
    }
}
