//! Storage: a narrow backend trait (ordered keyspaces, atomic batch, durable flush) and its
//! implementations.
//!
//! Invariants:
//! - `storage` never sees plaintext of a section: the layers above hand it ciphertext, ids and
//!   public metadata only.
//! - A [`Batch`] is applied atomically: all its operations or none.
//! - [`Backend::flush`] returns only once everything applied before it is durable.
//!
//! Backends: `RedbBackend` (embedded default), `SledBackend` (the first release's engine),
//! `PostgresBackend` (a server several processes share; feature `postgres`),
//! `MemoryBackend` (tests, fuzzing, embedding), and, for tests only, `FaultyBackend` (fault
//! injection around any backend) and `CrashBackend` (keeps applied and durable states apart).
//! The public face of this module is [`crate::backend`]. `engine`
//! says which embedded engine a folder holds and does the file-system chores.

pub(crate) mod commit;
#[cfg(any(test, feature = "testing"))]
pub(crate) mod crash;
pub(crate) mod engine;
#[cfg(any(test, feature = "testing"))]
pub(crate) mod faulty;
pub(crate) mod journal;
pub(crate) mod lease;
pub(crate) mod memory;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
pub(crate) mod redb_backend;
pub(crate) mod sled_backend;
pub(crate) mod witness;

pub(crate) use commit::{Committer, Durability};
#[cfg(test)]
pub(crate) use crash::CrashBackend;
pub(crate) use engine::Engine;
#[cfg(any(test, feature = "testing"))]
pub(crate) use memory::MemoryBackend;
pub(crate) use redb_backend::RedbBackend;
pub(crate) use sled_backend::SledBackend;

use crate::error::StorageError;

/// Rows per page when a keyspace is read whole: attachment chunks are up to 64 KiB each, so a
/// page of them is 32 rows (2 MiB); other rows are small.
pub(crate) fn page_rows(space: Space) -> usize {
    if space == Space::AttachmentChunks { 32 } else { 4096 }
}

/// Calls `each` on the rows of `space` under `prefix`, in key order, a page at a time (bounded
/// memory whatever the keyspace holds).
// Re-exported by the `testing` module only; crate-private otherwise.
#[cfg_attr(not(feature = "testing"), allow(unreachable_pub))]
pub fn scan_pages<E: From<crate::error::StorageError>>(
    backend: &dyn Backend,
    space: Space,
    prefix: &[u8],
    mut each: impl FnMut(&[Pair]) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let rows = page_rows(space);
    let end = prefix_end(prefix);
    let mut lo = prefix.to_vec();
    loop {
        let page = backend.range(space, &lo, end.as_deref(), Order::Ascending, rows)?;
        each(&page)?;
        match page.last() {
            Some((k, _)) if page.len() == rows => lo = [k.as_slice(), &[0]].concat(),
            _ => return Ok(()),
        }
    }
}

/// Copies every row of every keyspace of `from` into `to`, a page per batch; returns how many.
pub(crate) fn copy_all(from: &dyn Backend, to: &dyn Backend) -> StorageResult<u64> {
    let mut rows = 0u64;
    for space in Space::ALL {
        scan_pages(from, space, &[], |page| -> StorageResult<()> {
            let mut batch = Batch::new();
            for (k, v) in page {
                batch.put(space, k.clone(), v.clone());
            }
            rows += page.len() as u64;
            if batch.is_empty() { Ok(()) } else { to.apply(&batch) }
        })?;
    }
    Ok(rows)
}

/// Result of a storage operation.
pub type StorageResult<T> = std::result::Result<T, StorageError>;

/// A key-value pair read from a backend.
pub type Pair = (Vec<u8>, Vec<u8>);

/// The keyspaces of a store. The byte value is the key prefix on disk (docs/format.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Space {
    /// Store header and singletons (policy, tree head, recovery check).
    Meta = 0x01,
    /// User records, by user id.
    Users = 0x02,
    /// User name -> user id.
    UserNames = 0x03,
    /// Keys sealed to users: user id || kind || version.
    Grants = 0x04,
    /// Keys wrapped under the recovery key: kind || version.
    RecoveryWraps = 0x05,
    /// Patient headers (no personal data).
    Patients = 0x06,
    /// Entry revisions: patient || section || entry || revision.
    Records = 0x07,
    /// Blind index: kind || token || patient.
    Blind = 0x08,
    /// Blind tokens of each patient, so that an identity revision replaces them.
    BlindByPatient = 0x09,
    /// Audit events by sequence number.
    AuditEvents = 0x0A,
    /// Merkle tree nodes: level || index.
    AuditNodes = 0x0B,
    /// Audit index: patient || sequence.
    AuditByPatient = 0x0C,
    /// Audit index: user || sequence.
    AuditByUser = 0x0D,
    /// Audit index: time || sequence.
    AuditByTime = 0x0E,
    /// Signed checkpoints by tree size.
    Checkpoints = 0x0F,
    /// Section key versions: kind || version.
    KeyVersions = 0x10,
    /// Care teams: patient || member.
    CareTeam = 0x11,
    /// Oppositions: patient || user.
    Oppositions = 0x12,
    /// Break-glass accesses: patient || user || opening event seq.
    BreakGlass = 0x13,
    /// Patients' requests, by id.
    Requests = 0x14,
    /// Audit index of the events that decide a user's lockout (unlocks, recoveries, lockouts
    /// and their lifts): user || sequence.
    AuditAuthByUser = 0x15,
    /// Patient keys (the key layer erasure destroys): patient || section.
    PatientKeys = 0x16,
    /// Users' own audit signing keys: public key (32) -> certificate and sealed seed.
    Signers = 0x17,
    /// Attachments of entries: patient || section || entry || attachment -> description and
    /// wrapped key.
    Attachments = 0x18,
    /// Attachment content, in chunks: patient || section || entry || attachment || index.
    AttachmentChunks = 0x19,
}

impl Space {
    /// Every keyspace.
    pub const ALL: [Space; 25] = [
        Space::Meta,
        Space::Users,
        Space::UserNames,
        Space::Grants,
        Space::RecoveryWraps,
        Space::Patients,
        Space::Records,
        Space::Blind,
        Space::BlindByPatient,
        Space::AuditEvents,
        Space::AuditNodes,
        Space::AuditByPatient,
        Space::AuditByUser,
        Space::AuditByTime,
        Space::Checkpoints,
        Space::KeyVersions,
        Space::CareTeam,
        Space::Oppositions,
        Space::BreakGlass,
        Space::Requests,
        Space::AuditAuthByUser,
        Space::PatientKeys,
        Space::Signers,
        Space::Attachments,
        Space::AttachmentChunks,
    ];
    /// Whether this keyspace belongs to the audit log.
    pub fn is_audit(self) -> bool {
        matches!(
            self,
            Space::AuditEvents
                | Space::AuditNodes
                | Space::AuditByPatient
                | Space::AuditByUser
                | Space::AuditByTime
                | Space::Checkpoints
                | Space::AuditAuthByUser
        )
    }
}

/// One write of a batch.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Insert or replace.
    Put(Space, Vec<u8>, Vec<u8>),
    /// Remove (no error if absent).
    Delete(Space, Vec<u8>),
}

/// A set of writes applied atomically.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    ops: Vec<Op>,
    expect: Option<Expectation>,
}

/// What one key must hold for a batch to apply (see [`Batch::expect`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    /// The keyspace.
    pub space: Space,
    /// The key.
    pub key: Vec<u8>,
    /// The value it must hold (`None`: it must be absent).
    pub value: Option<Vec<u8>>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a put.
    pub fn put(&mut self, space: Space, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push(Op::Put(space, key.into(), value.into()));
    }
    /// Adds a delete.
    pub fn delete(&mut self, space: Space, key: impl Into<Vec<u8>>) {
        self.ops.push(Op::Delete(space, key.into()));
    }
    /// The operations, in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }
    /// Whether the batch writes to the given keyspace.
    pub fn touches(&self, space: Space) -> bool {
        self.ops.iter().any(|op| match op {
            Op::Put(s, ..) | Op::Delete(s, _) => *s == space,
        })
    }
    /// Appends another batch's operations. The batch keeps its own expectation, else takes
    /// the other's (a group's first operation states what the group starts from).
    pub fn extend(&mut self, other: Batch) {
        self.ops.extend(other.ops);
        if self.expect.is_none() {
            self.expect = other.expect;
        }
    }
    /// States that `key` must hold `value` (`None`: be absent) when the batch applies, or the
    /// batch must fail with [`StorageError::Conflict`] and change nothing. Backends shared by
    /// several processes check it inside the transaction, serialized with every other checked
    /// batch; a backend that only one process opens may ignore it (that process's audit lock
    /// already orders its appends). The audit log states its tree before each group.
    pub fn expect(&mut self, space: Space, key: impl Into<Vec<u8>>, value: Option<Vec<u8>>) {
        self.expect = Some(Expectation { space, key: key.into(), value });
    }
    /// The expectation, if any.
    pub fn expectation(&self) -> Option<&Expectation> {
        self.expect.as_ref()
    }
    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Scan direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Smallest key first.
    Ascending,
    /// Largest key first.
    Descending,
}

/// What runs once a durable batch is on disk, before the commit returns (the witness write).
pub type AfterSync = Box<dyn FnOnce() -> StorageResult<()> + Send>;

/// The narrow interface every storage backend implements.
pub trait Backend: Send + Sync {
    /// Reads one value.
    fn get(&self, space: Space, key: &[u8]) -> StorageResult<Option<Vec<u8>>>;
    /// Up to `limit` pairs with `lo <= key < hi` (`hi = None`: to the end of the keyspace).
    fn range(&self, space: Space, lo: &[u8], hi: Option<&[u8]>, order: Order, limit: usize)
    -> StorageResult<Vec<Pair>>;
    /// Applies every operation of the batch, or none.
    fn apply(&self, batch: &Batch) -> StorageResult<()>;
    /// Makes everything applied so far durable (survives power loss).
    fn flush(&self) -> StorageResult<()>;
    /// Applies a batch atomically and makes it, and every earlier batch, durable before
    /// returning. Engines that can do both in one transaction (one sync) override this.
    fn apply_durable(&self, batch: &Batch) -> StorageResult<()> {
        self.apply(batch)?;
        self.flush()
    }

    /// [`Backend::apply_durable`], then `then` (the witness write), which runs once the batch
    /// is durable and before this returns; its error is this call's. An engine that makes a
    /// batch durable apart from applying it (redb's journal) overrides this to run `then` on
    /// another thread, after the sync, while it applies the batch.
    fn apply_durable_then(&self, batch: &Batch, then: AfterSync) -> StorageResult<()> {
        self.apply_durable(batch)?;
        then()
    }

    /// Reads several values of one keyspace, in the order of `keys`. A server backend reads
    /// them in one round trip; the default reads them one by one.
    fn get_many(&self, space: Space, keys: &[&[u8]]) -> StorageResult<Vec<Option<Vec<u8>>>> {
        keys.iter().map(|k| self.get(space, k)).collect()
    }

    /// Every pair whose key starts with `prefix`, ascending.
    fn scan_prefix(&self, space: Space, prefix: &[u8]) -> StorageResult<Vec<Pair>> {
        self.range(space, prefix, prefix_end(prefix).as_deref(), Order::Ascending, usize::MAX)
    }

    /// Whether several processes may open this backend at once (a database server). Such a
    /// backend checks [`Batch::expectation`] and provides the writers' lease below.
    fn shared(&self) -> bool {
        false
    }

    /// Takes the store's writer lease for this process, waiting for other processes to release
    /// it: while a process holds it, no other process stages audit events or writes records, so
    /// the sequence numbers it hands out follow what is stored. Held across transactions.
    /// Backends that only one process opens need none (the default does nothing).
    fn lock_writers(&self) -> StorageResult<()> {
        Ok(())
    }

    /// Releases the writer lease taken by [`Backend::lock_writers`].
    fn unlock_writers(&self) -> StorageResult<()> {
        Ok(())
    }

    /// A read-only view of everything applied so far that later batches do not change (its
    /// `apply` and `flush` fail), if the engine has one: a backup reads it while writers go on.
    /// `None` (the default): the caller keeps writers out while it reads instead.
    fn snapshot(&self) -> StorageResult<Option<Box<dyn Backend>>> {
        Ok(None)
    }
}

/// The smallest key greater than every key starting with `prefix` (`None`: no upper bound).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Up to `limit` items of a double-ended iterator of physical pairs, in `order`, with the space
/// byte stripped (engines' range scans share it).
pub(crate) fn take_ordered<I>(it: I, order: Order, limit: usize, engine: &'static str) -> StorageResult<Vec<Pair>>
where
    I: DoubleEndedIterator<Item = StorageResult<Pair>>,
{
    let strip = |r: StorageResult<Pair>| -> StorageResult<Pair> {
        let (k, v) = r?;
        match k.split_first() {
            Some((_, rest)) => Ok((rest.to_vec(), v)),
            None => Err(StorageError::Corrupted { engine, what: "empty key" }),
        }
    };
    match order {
        Order::Ascending => it.take(limit).map(strip).collect(),
        Order::Descending => it.rev().take(limit).map(strip).collect(),
    }
}

/// The physical key of `key` in `space`: one prefix byte, then the key.
pub(crate) fn physical_key(space: Space, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(space as u8);
    k.extend_from_slice(key);
    k
}

/// Physical bounds `[lo, hi)` of a logical range in `space` (`None`: the range is empty).
pub(crate) fn physical_bounds(space: Space, lo: &[u8], hi: Option<&[u8]>) -> Option<(Vec<u8>, Vec<u8>)> {
    let plo = physical_key(space, lo);
    let phi = match hi {
        Some(h) => physical_key(space, h),
        None => vec![space as u8 + 1],
    };
    (plo < phi).then_some((plo, phi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_handles_carries() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF, 0xFF]), None);
    }

    /// The contract every backend must meet, run against each implementation.
    pub(crate) fn backend_contract(b: &dyn Backend) {
        let mut batch = Batch::new();
        batch.put(Space::Records, b"a1".to_vec(), b"x".to_vec());
        batch.put(Space::Records, b"a2".to_vec(), b"y".to_vec());
        batch.put(Space::Records, b"b1".to_vec(), b"z".to_vec());
        batch.put(Space::Users, b"a1".to_vec(), b"other".to_vec());
        b.apply(&batch).unwrap();
        assert_eq!(b.get(Space::Records, b"a1").unwrap(), Some(b"x".to_vec()));
        assert_eq!(b.get(Space::Users, b"a1").unwrap(), Some(b"other".to_vec()));
        let a: Vec<_> = b.scan_prefix(Space::Records, b"a").unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].0, b"a1".to_vec());
        let rev = b.range(Space::Records, b"", None, Order::Descending, 2).unwrap();
        assert_eq!(rev.iter().map(|p| p.0.clone()).collect::<Vec<_>>(), vec![b"b1".to_vec(), b"a2".to_vec()]);
        // Several values at once, in the order asked, a missing one as None, a key of another
        // keyspace not seen.
        let many = b.get_many(Space::Records, &[b"b1", b"zz", b"a1", b"a1"]).unwrap();
        assert_eq!(many, vec![Some(b"z".to_vec()), None, Some(b"x".to_vec()), Some(b"x".to_vec())]);
        assert_eq!(b.get_many(Space::Users, &[b"a2"]).unwrap(), vec![None]);
        assert!(b.get_many(Space::Users, &[]).unwrap().is_empty());
        let mut del = Batch::new();
        del.delete(Space::Records, b"a1".to_vec());
        b.apply(&del).unwrap();
        assert_eq!(b.get(Space::Records, b"a1").unwrap(), None);
        b.flush().unwrap();
    }

    #[test]
    fn memory_backend_meets_contract() {
        backend_contract(&MemoryBackend::new());
    }

    #[test]
    fn sled_backend_meets_contract() {
        let dir = tempfile::tempdir().unwrap();
        backend_contract(&SledBackend::open(dir.path()).unwrap());
    }

    #[test]
    fn redb_backend_meets_contract() {
        let dir = tempfile::tempdir().unwrap();
        backend_contract(&RedbBackend::open(dir.path()).unwrap());
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_backend_meets_contract() {
        let Some(schema) = postgres::testdb::TestSchema::new("contract") else { return };
        let b = postgres::PostgresBackend::open(schema.url()).unwrap();
        backend_contract(&b);
        // A batch whose expectation does not hold changes nothing.
        let mut bad = Batch::new();
        bad.put(Space::Meta, b"x".to_vec(), b"1".to_vec());
        bad.expect(Space::Meta, b"tree".to_vec(), Some(b"other".to_vec()));
        assert!(matches!(b.apply(&bad), Err(StorageError::Conflict)));
        assert_eq!(b.get(Space::Meta, b"x").unwrap(), None);
        let mut good = Batch::new();
        good.put(Space::Meta, b"tree".to_vec(), b"t1".to_vec());
        good.expect(Space::Meta, b"tree".to_vec(), None);
        b.apply(&good).unwrap();
        let mut next = Batch::new();
        next.put(Space::Meta, b"tree".to_vec(), b"t2".to_vec());
        next.expect(Space::Meta, b"tree".to_vec(), Some(b"t1".to_vec()));
        b.apply(&next).unwrap();
        assert!(matches!(b.apply(&good), Err(StorageError::Conflict)), "a stale expectation fails");
        // A snapshot does not see what is applied after it.
        let snap = b.snapshot().unwrap().unwrap();
        let mut later = Batch::new();
        later.put(Space::Meta, b"later".to_vec(), b"1".to_vec());
        b.apply(&later).unwrap();
        assert_eq!(snap.get(Space::Meta, b"later").unwrap(), None);
        assert_eq!(snap.get(Space::Meta, b"tree").unwrap(), Some(b"t2".to_vec()));
        assert!(snap.apply(&later).is_err());
        // A second opener (another process's view) sees the same store.
        let other = postgres::PostgresBackend::open(schema.url()).unwrap();
        assert_eq!(other.get(Space::Meta, b"later").unwrap(), Some(b"1".to_vec()));
    }

    #[test]
    fn crash_backend_meets_contract() {
        backend_contract(&CrashBackend::new());
    }

    #[test]
    fn a_second_opener_gets_store_busy_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let _first = RedbBackend::open(dir.path()).unwrap();
        match RedbBackend::open(dir.path()) {
            Err(StorageError::StoreBusy { holder }) => {
                assert_eq!(holder, Some(std::process::id()), "the owner file names the holder");
            }
            other => panic!("expected StoreBusy, got {:?}", other.err()),
        }
    }
}
