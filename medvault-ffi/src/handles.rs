//! Open stores and sessions, named by integer handles. A handle is checked on every call: an
//! unknown, closed or wrong-kind handle is an error, never a crash (a pointer could not be
//! checked). Handles are never reused within a process. Each call takes its own reference, so
//! a handle closed by one thread while another uses it stays valid for that call. (B-trees:
//! they point to the start of their allocations, so a host's leak checker sees them reachable.)
#![forbid(unsafe_code)]

use crate::error::FfiError;
use medvault::{Session, Store};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Handles count from 1 (0 is never a handle); stores and sessions share the count, so a
/// value names at most one object.
static NEXT: AtomicU64 = AtomicU64::new(1);

static STORES: Mutex<Option<BTreeMap<u64, Arc<Store>>>> = Mutex::new(None);
static SESSIONS: Mutex<Option<BTreeMap<u64, Arc<Session>>>> = Mutex::new(None);

fn insert<T>(table: &Mutex<Option<BTreeMap<u64, Arc<T>>>>, value: T) -> u64 {
    let handle = NEXT.fetch_add(1, Ordering::Relaxed);
    table.lock().get_or_insert_with(BTreeMap::new).insert(handle, Arc::new(value));
    handle
}

fn get<T>(table: &Mutex<Option<BTreeMap<u64, Arc<T>>>>, handle: u64, kind: &str) -> Result<Arc<T>, FfiError> {
    table.lock().as_ref().and_then(|m| m.get(&handle).cloned()).ok_or_else(|| FfiError::handle(kind))
}

fn remove<T>(table: &Mutex<Option<BTreeMap<u64, Arc<T>>>>, handle: u64, kind: &str) -> Result<Arc<T>, FfiError> {
    table.lock().as_mut().and_then(|m| m.remove(&handle)).ok_or_else(|| FfiError::handle(kind))
}

pub fn add_store(store: Store) -> u64 {
    insert(&STORES, store)
}

pub fn store(handle: u64) -> Result<Arc<Store>, FfiError> {
    get(&STORES, handle, "store")
}

pub fn take_store(handle: u64) -> Result<Arc<Store>, FfiError> {
    remove(&STORES, handle, "store")
}

pub fn add_session(session: Session) -> u64 {
    insert(&SESSIONS, session)
}

pub fn session(handle: u64) -> Result<Arc<Session>, FfiError> {
    get(&SESSIONS, handle, "session")
}

pub fn take_session(handle: u64) -> Result<Arc<Session>, FfiError> {
    remove(&SESSIONS, handle, "session")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_closed_handles_are_errors() {
        assert!(store(0).is_err());
        assert!(session(u64::MAX).is_err());
        let h = insert(&SESSIONS_TEST, 7u8);
        assert_eq!(*get(&SESSIONS_TEST, h, "test").unwrap(), 7);
        assert!(remove(&SESSIONS_TEST, h, "test").is_ok());
        assert!(get(&SESSIONS_TEST, h, "test").is_err());
        assert!(remove(&SESSIONS_TEST, h, "test").is_err());
    }

    static SESSIONS_TEST: Mutex<Option<BTreeMap<u64, Arc<u8>>>> = Mutex::new(None);
}
