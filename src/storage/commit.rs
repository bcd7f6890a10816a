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
use super::{AfterSync, Backend, Batch, DurableWait, StorageResult};
use parking_lot::{Condvar, Mutex};
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

/// Witness marks: the newest one applied, the newest one handed to a sync, and whether a run
/// of non-durable transactions is open.
#[derive(Default)]
struct Marks {
    /// Newest mark of a non-durable transaction, not yet handed to a sync.
    pending: Option<Vec<u8>>,
    /// Newest mark handed to a sync (every later step writes it or a newer one), and its
    /// number: marks are numbered in the order they are handed over.
    handed: Option<Vec<u8>>,
    handed_number: u64,
    /// Non-durable transactions since the last durable one.
    since_durable: u64,
}

/// A run of non-durable transactions is closed by a durable one after this many: it bounds what
/// a crash can take from a bulk job. (redb's backend also takes its own checkpoints, because
/// redb reuses the pages a non-durable transaction freed only after a durable commit.)
const MAX_NON_DURABLE_RUN: u64 = 128;

/// Serializes engine transactions and keeps the witness in step with durability.
pub struct Committer {
    backend: Arc<dyn Backend>,
    io: Mutex<Marks>,
    /// Durable commits begun and not yet waited for.
    in_flight: Mutex<u64>,
    landed: Condvar,
    /// Number of the newest mark the witness holds.
    witnessed: Arc<AtomicU64>,
    commits: AtomicU64,
    syncs: AtomicU64,
    witness: Option<Arc<WitnessFile>>,
    lease: Arc<Lease>,
}

/// A commit begun by [`Committer::begin`]: applied, and (if durable) its sync running. Waiting
/// for it (or dropping it) finishes it.
#[must_use]
pub struct CommitWait<'a> {
    committer: &'a Committer,
    wait: Option<DurableWait<'a>>,
}

impl CommitWait<'_> {
    /// Returns once the commit is durable (if it was asked to be) and the witness holds its
    /// mark; the error is the sync's or the witness's.
    pub fn wait(mut self) -> StorageResult<()> {
        self.finish()
    }

    fn finish(&mut self) -> StorageResult<()> {
        let Some(wait) = self.wait.take() else { return Ok(()) };
        let result = wait();
        let mut n = self.committer.in_flight.lock();
        *n = n.saturating_sub(1);
        self.committer.landed.notify_all();
        result
    }
}

impl Drop for CommitWait<'_> {
    fn drop(&mut self) {
        let _ = self.finish();
    }
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
            in_flight: Mutex::new(0),
            landed: Condvar::new(),
            witnessed: Arc::new(AtomicU64::new(0)),
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
        self.begin(batch, durable, mark)?.wait()
    }

    /// [`Committer::commit`] in two halves: the batch is applied (and its sync started) when
    /// this returns; [`CommitWait::wait`] finishes it. The next commit may begin before this
    /// one is waited for; it lands after it. Engine transactions are begun one at a time.
    pub fn begin(&self, batch: &Batch, durable: bool, mark: Option<Vec<u8>>) -> StorageResult<CommitWait<'_>> {
        let mut marks = self.io.lock();
        self.commits.fetch_add(1, Ordering::Relaxed);
        if !durable && marks.since_durable < MAX_NON_DURABLE_RUN {
            self.backend.apply(batch)?;
            marks.since_durable += 1;
            if mark.is_some() {
                marks.pending = mark;
            }
            return Ok(CommitWait { committer: self, wait: None });
        }
        let step = self.witness_step(&mut marks, mark);
        let wait = self.backend.begin_durable_then(batch, step)?;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        marks.since_durable = 0;
        *self.in_flight.lock() += 1;
        Ok(CommitWait { committer: self, wait: Some(wait) })
    }

    /// Runs `f` on the backend while no commit can start or be in flight (a consistent view
    /// of everything committed, for backups).
    pub(crate) fn quiesced<R>(&self, f: impl FnOnce(&dyn Backend) -> R) -> R {
        let _marks = self.io.lock();
        let mut n = self.in_flight.lock();
        while *n > 0 {
            self.landed.wait(&mut n);
        }
        drop(n);
        f(self.backend.as_ref())
    }

    /// Makes everything applied so far durable, and records the newest mark.
    pub fn sync_all(&self) -> StorageResult<()> {
        let mut marks = self.io.lock();
        let step = self.witness_step(&mut marks, None);
        self.backend.flush_then(step)?;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        marks.since_durable = 0;
        Ok(())
    }

    /// What follows a durable sync: the newest mark (`mark`, else the newest non-durable one,
    /// else the newest handed over before) written to the witness, unless there is no witness,
    /// no mark, or the witness already holds it. The step covers every step handed over before
    /// it, as [`super::AfterSync`] requires: a backend may run only the newest one.
    fn witness_step(&self, marks: &mut Marks, mark: Option<Vec<u8>>) -> AfterSync {
        let newest = mark.or_else(|| marks.pending.take()).or_else(|| marks.handed.clone());
        marks.pending = None;
        if newest != marks.handed {
            marks.handed.clone_from(&newest);
            marks.handed_number += 1;
        }
        let number = marks.handed_number;
        let (witness, witnessed) = (self.witness.clone(), self.witnessed.clone());
        Box::new(move || {
            let (Some(w), Some(m)) = (witness, newest) else { return Ok(()) };
            if witnessed.load(Ordering::Acquire) >= number {
                return Ok(());
            }
            w.write(&m)?;
            witnessed.fetch_max(number, Ordering::AcqRel);
            Ok(())
        })
    }

    /// (engine transactions, syncs) since this committer was made: how many operations share
    /// one sync (benchmarks).
    #[cfg(feature = "testing")]
    pub fn stats(&self) -> (u64, u64) {
        (self.commits.load(Ordering::Relaxed), self.syncs.load(Ordering::Relaxed))
    }
}
