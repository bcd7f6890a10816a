//! An in-memory backend: a `BTreeMap` behind a lock. Tests, fuzzing and models use it.

use super::{Backend, Batch, Op, Order, Pair, Space, StorageResult, physical_bounds, physical_key};
use parking_lot::RwLock;
use std::collections::BTreeMap;

/// A backend that keeps everything in memory (nothing survives the process).
#[derive(Default)]
pub struct MemoryBackend {
    map: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> Self {
        Self::default()
    }
    /// A copy of every stored pair, physical keys (space byte first).
    pub fn snapshot(&self) -> BTreeMap<Vec<u8>, Vec<u8>> {
        self.map.read().clone()
    }
    /// Replaces every stored pair by a snapshot (simulates restoring an older copy).
    pub fn restore(&self, snapshot: BTreeMap<Vec<u8>, Vec<u8>>) {
        *self.map.write() = snapshot;
    }
}

impl Backend for MemoryBackend {
    fn get(&self, space: Space, key: &[u8]) -> StorageResult<Option<Vec<u8>>> {
        Ok(self.map.read().get(&physical_key(space, key)).cloned())
    }

    fn range(
        &self,
        space: Space,
        lo: &[u8],
        hi: Option<&[u8]>,
        order: Order,
        limit: usize,
    ) -> StorageResult<Vec<Pair>> {
        let Some((plo, phi)) = physical_bounds(space, lo, hi) else { return Ok(Vec::new()) };
        let map = self.map.read();
        let it = map.range(plo..phi).map(|(k, v)| (k[1..].to_vec(), v.clone()));
        Ok(match order {
            Order::Ascending => it.take(limit).collect(),
            Order::Descending => it.rev().take(limit).collect(),
        })
    }

    fn apply(&self, batch: &Batch) -> StorageResult<()> {
        let mut map = self.map.write();
        for op in batch.ops() {
            match op {
                Op::Put(s, k, v) => {
                    map.insert(physical_key(*s, k), v.clone());
                }
                Op::Delete(s, k) => {
                    map.remove(&physical_key(*s, k));
                }
            }
        }
        Ok(())
    }

    fn flush(&self) -> StorageResult<()> {
        Ok(())
    }
}
