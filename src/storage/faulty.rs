//! Fault injection around any backend: fail batches that match a rule, fail flushes, or fail
//! after a countdown. The seam for fail-closed and crash tests.

use super::{Backend, Batch, Order, Pair, Space, StorageResult};
use crate::error::StorageError;
use parking_lot::Mutex;
use std::sync::Arc;

/// Which faults are armed.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Fail every batch that writes to this keyspace.
    pub fail_batches_touching: Option<Space>,
    /// Fail every flush.
    pub fail_flush: bool,
    /// Fail every operation after this many more successful batches.
    pub fail_after_batches: Option<u64>,
    /// Fail every batch and flush as a full disk would (`ENOSPC`).
    pub disk_full: bool,
}

fn disk_full() -> StorageError {
    StorageError::DiskFull(std::io::Error::from(std::io::ErrorKind::StorageFull))
}

/// A backend that fails on command.
pub struct FaultyBackend {
    inner: Arc<dyn Backend>,
    faults: Mutex<Faults>,
}

impl FaultyBackend {
    /// Wraps a backend with no fault armed.
    pub fn new(inner: Arc<dyn Backend>) -> Self {
        FaultyBackend { inner, faults: Mutex::new(Faults::default()) }
    }
    /// Arms a new set of faults (replacing the previous one).
    pub fn set(&self, faults: Faults) {
        *self.faults.lock() = faults;
    }
}

impl Backend for FaultyBackend {
    fn get(&self, space: Space, key: &[u8]) -> StorageResult<Option<Vec<u8>>> {
        self.inner.get(space, key)
    }
    fn range(
        &self,
        space: Space,
        lo: &[u8],
        hi: Option<&[u8]>,
        order: Order,
        limit: usize,
    ) -> StorageResult<Vec<Pair>> {
        self.inner.range(space, lo, hi, order, limit)
    }
    fn apply(&self, batch: &Batch) -> StorageResult<()> {
        {
            let mut f = self.faults.lock();
            if f.disk_full {
                return Err(disk_full());
            }
            if let Some(space) = f.fail_batches_touching
                && batch.touches(space)
            {
                return Err(StorageError::Injected("batch refused"));
            }
            if let Some(n) = f.fail_after_batches.as_mut() {
                if *n == 0 {
                    return Err(StorageError::Injected("countdown reached"));
                }
                *n -= 1;
            }
        }
        self.inner.apply(batch)
    }
    fn flush(&self) -> StorageResult<()> {
        if self.faults.lock().disk_full {
            return Err(disk_full());
        }
        if self.faults.lock().fail_flush {
            return Err(StorageError::Injected("flush refused"));
        }
        self.inner.flush()
    }
}
