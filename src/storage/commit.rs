//! Group commit: many writers, one flush.
//!
//! Each writer applies its batch, takes a ticket, and (for [`Durability::Immediate`]) waits until
//! a flush covering its ticket has completed. Whoever holds the flush lock flushes once for every
//! batch applied before it started; the others find their ticket already covered and return
//! without flushing. Only one thread flushes at a time.

use super::{Backend, Batch, StorageResult};
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

/// The single path through which batches reach the backend.
pub struct Committer {
    backend: Arc<dyn Backend>,
    applied: AtomicU64,
    flushed: Mutex<u64>,
    flushes: AtomicU64,
}

impl Committer {
    /// A committer over a backend.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Committer { backend, applied: AtomicU64::new(0), flushed: Mutex::new(0), flushes: AtomicU64::new(0) }
    }

    /// The backend, for reads.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// Applies a batch atomically; returns the ticket to pass to [`Committer::sync`].
    pub fn apply(&self, batch: &Batch) -> StorageResult<u64> {
        self.backend.apply(batch)?;
        Ok(self.applied.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// Returns once the batch with `ticket` (and every earlier one) is durable.
    pub fn sync(&self, ticket: u64) -> StorageResult<()> {
        let mut flushed = self.flushed.lock();
        if *flushed >= ticket {
            return Ok(());
        }
        let target = self.applied.load(Ordering::SeqCst);
        self.backend.flush()?;
        self.flushes.fetch_add(1, Ordering::Relaxed);
        *flushed = target;
        Ok(())
    }

    /// (batches applied, flushes done) since this committer was made: their ratio is how many
    /// commits share one flush.
    pub fn stats(&self) -> (u64, u64) {
        (self.applied.load(Ordering::SeqCst), self.flushes.load(Ordering::Relaxed))
    }

    /// Flushes everything applied so far.
    pub fn sync_all(&self) -> StorageResult<()> {
        self.sync(self.applied.load(Ordering::SeqCst))
    }

    /// Applies, then waits for durability as asked.
    pub fn commit(&self, batch: &Batch, durability: Durability) -> StorageResult<()> {
        let ticket = self.apply(batch)?;
        match durability {
            Durability::Immediate => self.sync(ticket),
            Durability::Buffered => Ok(()),
        }
    }
}
