//! Group commit: many writers, one flush.
//!
//! Each writer applies its batch, takes a ticket, and (for [`Durability::Immediate`]) waits until
//! a flush covering its ticket has completed. Whoever holds the flush lock flushes once for every
//! batch applied before it started; the others find their ticket already covered and return
//! without flushing. Only one thread flushes at a time.
//!
//! With a witness ([`super::witness`]), every flush that made a new mark durable is followed by
//! writing that mark to the witness file, before any of the commits it covers is acknowledged.
// Re-exported by the `testing` module only; private otherwise.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub))]

use super::witness::WitnessFile;
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

/// Batches applied so far, and the newest witness mark among them.
struct Applied {
    ticket: u64,
    mark: Option<Arc<Vec<u8>>>,
}

/// What the last flush made durable.
struct Flushed {
    ticket: u64,
    mark: Option<Arc<Vec<u8>>>,
}

/// The single path through which batches reach the backend.
pub struct Committer {
    backend: Arc<dyn Backend>,
    applied: Mutex<Applied>,
    flushed: Mutex<Flushed>,
    flushes: AtomicU64,
    witness: Option<WitnessFile>,
}

impl Committer {
    /// A committer over a backend, with no witness.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self::with_witness(backend, None)
    }

    /// A committer that records each durable mark in `witness`.
    pub fn with_witness(backend: Arc<dyn Backend>, witness: Option<WitnessFile>) -> Self {
        Committer {
            backend,
            applied: Mutex::new(Applied { ticket: 0, mark: None }),
            flushed: Mutex::new(Flushed { ticket: 0, mark: None }),
            flushes: AtomicU64::new(0),
            witness,
        }
    }

    /// The backend, for reads.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// Applies a batch atomically; returns the ticket to pass to [`Committer::sync`].
    pub fn apply(&self, batch: &Batch) -> StorageResult<u64> {
        self.apply_marked(batch, None)
    }

    /// Applies a batch atomically and, once it is durable, records `mark` in the witness.
    pub fn apply_marked(&self, batch: &Batch, mark: Option<Vec<u8>>) -> StorageResult<u64> {
        let mut applied = self.applied.lock();
        self.backend.apply(batch)?;
        applied.ticket += 1;
        if let Some(m) = mark {
            applied.mark = Some(Arc::new(m));
        }
        Ok(applied.ticket)
    }

    /// Returns once the batch with `ticket` (and every earlier one) is durable, and the witness
    /// records it.
    pub fn sync(&self, ticket: u64) -> StorageResult<()> {
        let mut flushed = self.flushed.lock();
        if flushed.ticket >= ticket {
            return Ok(());
        }
        let (target, mark) = {
            let a = self.applied.lock();
            (a.ticket, a.mark.clone())
        };
        self.backend.flush()?;
        self.flushes.fetch_add(1, Ordering::Relaxed);
        if let (Some(w), Some(m)) = (&self.witness, &mark)
            && flushed.mark.as_ref().is_none_or(|old| !Arc::ptr_eq(old, m))
        {
            w.write(m)?;
        }
        *flushed = Flushed { ticket: target, mark };
        Ok(())
    }

    /// (batches applied, flushes done) since this committer was made: their ratio is how many
    /// commits share one flush (benchmarks).
    #[cfg(feature = "testing")]
    pub fn stats(&self) -> (u64, u64) {
        (self.applied.lock().ticket, self.flushes.load(Ordering::Relaxed))
    }

    /// Flushes everything applied so far.
    pub fn sync_all(&self) -> StorageResult<()> {
        let ticket = self.applied.lock().ticket;
        self.sync(ticket)
    }

    /// Applies, then waits for durability as asked (benchmarks).
    #[cfg(feature = "testing")]
    pub fn commit(&self, batch: &Batch, durability: Durability) -> StorageResult<()> {
        let ticket = self.apply(batch)?;
        match durability {
            Durability::Immediate => self.sync(ticket),
            Durability::Buffered => Ok(()),
        }
    }
}
