//! The writer lease of a store that several processes share, counted within this process.
//!
//! Every audited append, and every write lock on records, holds a [`LeaseGuard`]. The first
//! guard of the process takes the backend's lease ([`Backend::lock_writers`]); the last one
//! dropped releases it. Each time the process takes it afresh, the [`Lease::generation`]
//! moves on, and the audit log reloads its tree before staging anything: another process may
//! have appended in between. For a backend only one process opens, guards cost nothing.

use super::{Backend, StorageResult};
use parking_lot::{Condvar, Mutex, MutexGuard};
use std::sync::Arc;

#[derive(Default)]
struct State {
    holders: usize,
    held: bool,
    acquiring: bool,
    generation: u64,
}

/// The process's side of a shared backend's writer lease.
pub(crate) struct Lease {
    backend: Arc<dyn Backend>,
    shared: bool,
    state: Mutex<State>,
    granted: Condvar,
}

/// Holds the lease (for a shared backend) until dropped.
#[must_use]
pub(crate) struct LeaseGuard {
    lease: Option<Arc<Lease>>,
    generation: u64,
}

impl LeaseGuard {
    /// The lease's generation while this guard holds it (0 for a backend that is not shared).
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }
    /// Whether the backend is shared by several processes.
    pub(crate) fn is_shared(&self) -> bool {
        self.lease.is_some()
    }
}

impl Lease {
    pub(crate) fn new(backend: Arc<dyn Backend>) -> Arc<Lease> {
        let shared = backend.shared();
        Arc::new(Lease { backend, shared, state: Mutex::new(State::default()), granted: Condvar::new() })
    }

    /// Takes a share of the lease, taking the backend's lease first if this process does not
    /// hold it (waiting for other processes).
    pub(crate) fn acquire(self: &Arc<Self>) -> StorageResult<LeaseGuard> {
        if !self.shared {
            return Ok(LeaseGuard { lease: None, generation: 0 });
        }
        let mut s = self.state.lock();
        loop {
            if s.held {
                s.holders += 1;
                return Ok(LeaseGuard { lease: Some(self.clone()), generation: s.generation });
            }
            if s.acquiring {
                self.granted.wait(&mut s);
                continue;
            }
            s.acquiring = true;
            let taken = MutexGuard::unlocked(&mut s, || self.backend.lock_writers());
            s.acquiring = false;
            self.granted.notify_all();
            taken?;
            s.held = true;
            s.generation += 1;
        }
    }

    fn release(&self) {
        let mut s = self.state.lock();
        s.holders = s.holders.saturating_sub(1);
        if s.holders == 0 && s.held {
            s.held = false;
            // Released under the state lock: no guard of this process can start meanwhile.
            if let Err(e) = self.backend.unlock_writers() {
                tracing::warn!(error = %e, "the writer lease could not be released cleanly (its connection was closed)");
            }
        }
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            lease.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Batch, MemoryBackend, Order, Pair, Space};
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A memory backend that says it is shared and counts lease calls.
    #[derive(Default)]
    struct Counting {
        inner: MemoryBackend,
        locks: AtomicU64,
        unlocks: AtomicU64,
    }
    impl Backend for Counting {
        fn get(&self, space: Space, key: &[u8]) -> StorageResult<Option<Vec<u8>>> {
            self.inner.get(space, key)
        }
        fn range(&self, s: Space, lo: &[u8], hi: Option<&[u8]>, o: Order, l: usize) -> StorageResult<Vec<Pair>> {
            self.inner.range(s, lo, hi, o, l)
        }
        fn apply(&self, batch: &Batch) -> StorageResult<()> {
            self.inner.apply(batch)
        }
        fn flush(&self) -> StorageResult<()> {
            Ok(())
        }
        fn shared(&self) -> bool {
            true
        }
        fn lock_writers(&self) -> StorageResult<()> {
            self.locks.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn unlock_writers(&self) -> StorageResult<()> {
            self.unlocks.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn nested_guards_share_one_lease_and_each_fresh_take_is_a_new_generation() {
        let backend = Arc::new(Counting::default());
        let lease = Lease::new(backend.clone());
        let a = lease.acquire().unwrap();
        let b = lease.acquire().unwrap();
        assert_eq!((a.generation(), b.generation()), (1, 1));
        assert!(a.is_shared());
        drop(a);
        assert_eq!(backend.unlocks.load(Ordering::SeqCst), 0, "still held by b");
        drop(b);
        assert_eq!(backend.unlocks.load(Ordering::SeqCst), 1);
        let c = lease.acquire().unwrap();
        assert_eq!(c.generation(), 2);
        assert_eq!(backend.locks.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn an_unshared_backend_takes_no_lease() {
        let lease = Lease::new(Arc::new(MemoryBackend::new()));
        let g = lease.acquire().unwrap();
        assert!(!g.is_shared());
        assert_eq!(g.generation(), 0);
    }
}
