//! A backend for crash tests: it keeps what was *applied* (visible to readers) apart from what
//! is *durable* (what a power cut would leave), as redb's crash tests do. A crash point is set
//! as a number of further durability-relevant operations (applies and flushes); once reached,
//! every operation fails as if the process had died, and [`CrashBackend::after_crash`] gives
//! the durable state only.

use super::{Backend, Batch, MemoryBackend, Order, Pair, Space, StorageResult};
use crate::error::StorageError;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Applied and durable states of one simulated store.
#[derive(Default)]
pub struct CrashBackend {
    applied: MemoryBackend,
    durable: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
    /// Operations left before the simulated crash (`None`: never).
    left: Mutex<Option<u64>>,
    /// Applies and flushes done so far.
    ops: Mutex<u64>,
}

impl CrashBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
    /// A store whose applied and durable states are both `state` (physical keys).
    pub fn from_state(state: BTreeMap<Vec<u8>, Vec<u8>>) -> Self {
        let b = Self::new();
        b.applied.restore(state.clone());
        *b.durable.lock() = state;
        b
    }
    /// Crash after `n` more applies or flushes (`None`: never).
    pub fn crash_after(&self, n: Option<u64>) {
        *self.left.lock() = n;
    }
    /// Applies and flushes done so far (the durability points passed).
    pub fn ops(&self) -> u64 {
        *self.ops.lock()
    }
    /// What survives a crash now: the durable state.
    pub fn durable_state(&self) -> BTreeMap<Vec<u8>, Vec<u8>> {
        self.durable.lock().clone()
    }
    /// A new store holding only what was durable (the machine restarted).
    pub fn after_crash(&self) -> Arc<CrashBackend> {
        Arc::new(CrashBackend::from_state(self.durable_state()))
    }

    fn step(&self) -> StorageResult<()> {
        let mut left = self.left.lock();
        if let Some(n) = left.as_mut() {
            if *n == 0 {
                return Err(StorageError::Injected("crashed"));
            }
            *n -= 1;
        }
        *self.ops.lock() += 1;
        Ok(())
    }
}

impl Backend for CrashBackend {
    fn get(&self, space: Space, key: &[u8]) -> StorageResult<Option<Vec<u8>>> {
        self.applied.get(space, key)
    }
    fn range(
        &self,
        space: Space,
        lo: &[u8],
        hi: Option<&[u8]>,
        order: Order,
        limit: usize,
    ) -> StorageResult<Vec<Pair>> {
        self.applied.range(space, lo, hi, order, limit)
    }
    fn apply(&self, batch: &Batch) -> StorageResult<()> {
        self.step()?;
        self.applied.apply(batch)
    }
    fn flush(&self) -> StorageResult<()> {
        self.step()?;
        *self.durable.lock() = self.applied.snapshot();
        Ok(())
    }
}
