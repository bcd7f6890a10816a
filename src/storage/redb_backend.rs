//! The embedded default backend: redb, one file `medvault.redb`, one table whose keys are the
//! physical keys (space byte first), so that one write transaction is atomic across keyspaces,
//! with a journal in front of it (`medvault.journal`, [`super::journal`]).
//!
//! Durability: every batch is first written to the journal as one record, then committed to
//! redb with `Durability::None` (visible at once). [`Backend::apply_durable`] `fdatasync`s the
//! journal between the two; [`Backend::apply_durable_then`] (the group committer's path: one
//! small sequential write and one sync per group) has the journal's sync thread `fdatasync` it
//! and then write the witness while this side applies the batch to redb, and returns when both
//! are done; [`Backend::flush`] syncs the journal. A checkpoint (every 4096 records or 4 MiB,
//! at open and on close) commits redb with `Durability::Immediate` together with the next epoch
//! number, after which the journal starts again. At open, the records of the current epoch are
//! replayed. A crash loses the unsynced suffix whole, never part of a batch. If the journal
//! cannot be synced, or redb refuses a batch the journal holds, the backend refuses every later
//! call until the store is reopened (and the journal replayed). Only one process may open the
//! file (`ConcurrencyMode::ExclusiveWriter`); a second gets [`StorageError::StoreBusy`].

use super::engine::{self, guarded};
use super::journal::{Journal, JournalFault, Replayed, Syncer};
use super::{Backend, Batch, Op, Order, Pair, Space, StorageResult, physical_bounds, physical_key, take_ordered};
use crate::error::StorageError;
use parking_lot::Mutex;
use redb::{ReadableDatabase, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// File name of the database in the store folder.
pub(crate) const FILE: &str = "medvault.redb";
const ENGINE: &str = "redb";
const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("medvault");
/// The journal's epoch (docs/format.md §1.1): one row, `epoch`.
const JOURNAL: TableDefinition<&str, u64> = TableDefinition::new("medvault-journal");
const EPOCH: &str = "epoch";
/// One row as the table iterator yields it.
type Row<'a> = Result<(redb::AccessGuard<'a, &'static [u8]>, redb::AccessGuard<'a, &'static [u8]>), redb::StorageError>;
/// Page cache: bounded, the operating system caches the rest (redb reads with `pread`, so the
/// file's pages stay in the OS page cache). 32 MiB keeps a 1 GiB attachment's round trip under
/// 64 MiB of heap; a 256 MiB cache did not speed up audited reads (BENCHMARKS.md).
const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// redb-backed storage in a folder.
pub struct RedbBackend {
    db: redb::Database,
    dir: PathBuf,
    journal: Mutex<Journal>,
    /// The journal's sync thread (`None` if it could not be started).
    syncer: Option<Syncer>,
    /// Set when the journal and redb may disagree (a failed sync, or a batch redb refused after
    /// the journal took it): every later call fails until the store is reopened.
    poisoned: AtomicBool,
}

fn poisoned_error() -> StorageError {
    StorageError::Engine {
        engine: ENGINE,
        what: "an earlier i/o error left the store unusable until it is reopened",
        source: None,
    }
}

fn map(e: impl Into<redb::Error>, dir: Option<&Path>) -> StorageError {
    match e.into() {
        redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
            StorageError::StoreBusy { holder: dir.and_then(engine::read_owner) }
        }
        redb::Error::Corrupted(_) => {
            StorageError::Corrupted { engine: ENGINE, what: "a checksum or structure check failed" }
        }
        redb::Error::UpgradeRequired(_) => {
            StorageError::Corrupted { engine: ENGINE, what: "the file is not in a format this release reads" }
        }
        redb::Error::Io(io) => match StorageError::from_io(io) {
            StorageError::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
                StorageError::Corrupted { engine: ENGINE, what: "the file is not a redb database" }
            }
            other => other,
        },
        redb::Error::PreviousIo => StorageError::Engine {
            engine: ENGINE,
            what: "an earlier i/o error left the database unusable until it is reopened",
            source: None,
        },
        redb::Error::ValueTooLarge(_) => StorageError::Engine { engine: ENGINE, what: "value too large", source: None },
        other => StorageError::Engine { engine: ENGINE, what: "engine failure", source: Some(Box::new(other)) },
    }
}

impl RedbBackend {
    /// Creates an empty database file in `dir` (durably: the folder is fsynced).
    pub(crate) fn create_file(dir: &Path) -> StorageResult<()> {
        let path = dir.join(FILE);
        let db = guarded(ENGINE, || {
            redb::Database::builder().set_cache_size(CACHE_BYTES).create(&path).map_err(|e| map(e, Some(dir)))
        })?;
        drop(db);
        engine::fsync_dir(dir)
    }

    /// Opens the database in `dir`, creating it if the folder has none.
    pub fn open(dir: &Path) -> StorageResult<Self> {
        engine::create_dir_durably(dir)?;
        if !dir.join(FILE).exists() {
            Self::create_file(dir)?;
        }
        let path = dir.join(FILE);
        let db = guarded(ENGINE, || {
            redb::Database::builder().set_cache_size(CACHE_BYTES).open(&path).map_err(|e| map(e, Some(dir)))
        })?;
        let epoch = guarded(ENGINE, || {
            let tx = db.begin_read().map_err(|e| map(e, None))?;
            match tx.open_table(JOURNAL) {
                Ok(t) => Ok(t.get(EPOCH).map_err(|e| map(e, None))?.map_or(0, |v| v.value())),
                Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
                Err(e) => Err(map(e, None)),
            }
        })?;
        let (journal, replay) = Journal::open(dir, epoch)?;
        let backend = RedbBackend {
            db,
            dir: dir.to_path_buf(),
            syncer: Syncer::start(&journal),
            journal: Mutex::new(journal),
            poisoned: AtomicBool::new(false),
        };
        // Replays the journal and starts a new epoch in one durable transaction; the table
        // exists from the first one on, so readers never see it missing.
        backend.checkpoint_with(&mut backend.journal.lock(), &replay)?;
        engine::write_owner(dir);
        Ok(backend)
    }

    /// Commits redb durably with the next epoch number (and `replay`, the journal's records
    /// not yet in redb), then restarts the journal.
    fn checkpoint_with(&self, journal: &mut Journal, replay: &[Vec<Replayed>]) -> StorageResult<()> {
        let next = journal.epoch() + 1;
        guarded(ENGINE, || {
            let mut tx = self.db.begin_write().map_err(|e| map(e, None))?;
            tx.set_durability(redb::Durability::Immediate).map_err(|e| map(e, None))?;
            {
                let mut t = tx.open_table(TABLE).map_err(|e| map(e, None))?;
                for op in replay.iter().flatten() {
                    match op {
                        Replayed::Put(k, v) => t.insert(k.as_slice(), v.as_slice()).map(|_| ()),
                        Replayed::Delete(k) => t.remove(k.as_slice()).map(|_| ()),
                    }
                    .map_err(|e| map(e, None))?;
                }
                let mut j = tx.open_table(JOURNAL).map_err(|e| map(e, None))?;
                j.insert(EPOCH, next).map_err(|e| map(e, None))?;
            }
            tx.commit().map_err(|e| map(e, None))
        })?;
        journal.restart(next);
        Ok(())
    }

    fn check_usable(&self) -> StorageResult<()> {
        if self.poisoned.load(Ordering::Acquire) { Err(poisoned_error()) } else { Ok(()) }
    }

    fn read<T>(&self, f: impl FnOnce(&ReadTable) -> StorageResult<T>) -> StorageResult<T> {
        guarded(ENGINE, || {
            let tx = self.db.begin_read().map_err(|e| map(e, None))?;
            let table = tx.open_table(TABLE).map_err(|e| map(e, None))?;
            f(&table)
        })
    }
}

impl Drop for RedbBackend {
    fn drop(&mut self) {
        if self.check_usable().is_ok() {
            let mut j = self.journal.lock();
            if self.checkpoint_with(&mut j, &[]).is_ok() {
                j.clear();
            }
        }
        let _ = std::fs::remove_file(self.dir.join(engine::OWNER));
    }
}

impl Backend for RedbBackend {
    fn get(&self, space: Space, key: &[u8]) -> StorageResult<Option<Vec<u8>>> {
        self.check_usable()?;
        self.read(|t| get_in(t, space, key))
    }

    fn get_many(&self, space: Space, keys: &[&[u8]]) -> StorageResult<Vec<Option<Vec<u8>>>> {
        // One read transaction for all of them.
        self.check_usable()?;
        self.read(|t| get_many_in(t, space, keys))
    }

    fn range(
        &self,
        space: Space,
        lo: &[u8],
        hi: Option<&[u8]>,
        order: Order,
        limit: usize,
    ) -> StorageResult<Vec<Pair>> {
        self.check_usable()?;
        self.read(|t| range_in(t, space, lo, hi, order, limit))
    }

    fn apply(&self, batch: &Batch) -> StorageResult<()> {
        self.journaled(batch, false)
    }

    fn apply_durable(&self, batch: &Batch) -> StorageResult<()> {
        self.journaled(batch, true)
    }

    /// The batch is written to the journal; then, at the same time, the journal's sync thread
    /// `fdatasync`s it and runs `then` (the witness) while this thread applies the batch to
    /// redb without durability. Nothing is acknowledged before both are done, and the order a
    /// crash can observe is unchanged: journal record durable, then witness mark; redb's own
    /// non-durable state is rebuilt from the journal at open whatever it held. A failed sync or
    /// apply poisons the backend, as in [`RedbBackend::journaled`].
    fn apply_durable_then(&self, batch: &Batch, then: super::AfterSync) -> StorageResult<()> {
        self.check_usable()?;
        let mut j = self.journal.lock();
        j.write(batch).map_err(|f| self.journal_fault(f))?;
        let started = match &self.syncer {
            Some(s) => s.begin(then),
            None => Err(then),
        };
        let (pending, in_line) = match started {
            Ok(pending) => (Some(pending), Ok(())),
            Err(then) => {
                // No sync thread: sync and witness here, then the apply (which happens whatever
                // the witness did: the journal holds the batch durably).
                j.sync().map_err(|f| self.poison(f.into_error()))?;
                (None, then())
            }
        };
        let applied = self.commit(batch);
        let witnessed = match pending.map(super::journal::SyncPending::wait) {
            Some(Ok(witnessed)) => {
                j.mark_synced();
                witnessed
            }
            Some(Err(fault)) => return Err(self.poison(fault.into_error())),
            None => in_line,
        };
        applied.map_err(|e| self.poison(e))?;
        self.checkpoint_if_due(&mut j);
        witnessed
    }

    fn flush(&self) -> StorageResult<()> {
        self.check_usable()?;
        let mut j = self.journal.lock();
        j.sync().map_err(|f| self.poison(f.into_error()))
    }

    fn snapshot(&self) -> StorageResult<Option<Box<dyn Backend>>> {
        self.check_usable()?;
        guarded(ENGINE, || {
            let tx = self.db.begin_read().map_err(|e| map(e, None))?;
            let table = tx.open_table(TABLE).map_err(|e| map(e, None))?;
            Ok(Some(Box::new(RedbSnapshot { table, _tx: tx }) as Box<dyn Backend>))
        })
    }
}

/// A redb read transaction: the database as of one commit, whatever is committed after.
struct RedbSnapshot {
    table: ReadTable,
    _tx: redb::ReadTransaction,
}

fn read_only() -> StorageError {
    StorageError::Engine { engine: ENGINE, what: "a snapshot is read-only", source: None }
}

type ReadTable = redb::ReadOnlyTable<&'static [u8], &'static [u8]>;

/// One value of a table.
fn get_in(t: &ReadTable, space: Space, key: &[u8]) -> StorageResult<Option<Vec<u8>>> {
    let k = physical_key(space, key);
    Ok(t.get(k.as_slice()).map_err(|e| map(e, None))?.map(|v| v.value().to_vec()))
}

/// Keys one thread of [`get_many_in`] looks up, at least: below twice this, one thread does all.
const KEYS_PER_THREAD: usize = 6;

/// Threads of one [`get_many_in`], the caller's included.
const MAX_READ_THREADS: usize = 16;

/// Values of many keys, in the order of `keys`. Keys spread over the table (the events of one
/// patient's history, scattered in a long log) each cost a page read that misses redb's cache
/// and often the operating system's: several threads share the keys, so that those reads wait
/// on the device together instead of one after another. Every thread reads the same read
/// transaction; a thread that cannot be started leaves its keys to the caller's thread.
fn get_many_in(t: &ReadTable, space: Space, keys: &[&[u8]]) -> StorageResult<Vec<Option<Vec<u8>>>> {
    let lookup = |part: &[&[u8]]| -> StorageResult<Vec<Option<Vec<u8>>>> {
        guarded(ENGINE, || part.iter().map(|k| get_in(t, space, k)).collect())
    };
    if keys.len() < 2 * KEYS_PER_THREAD {
        return lookup(keys);
    }
    let threads = keys.len().div_ceil(KEYS_PER_THREAD).min(MAX_READ_THREADS);
    let mut parts = keys.chunks(keys.len().div_ceil(threads));
    let own = parts.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let helpers: Vec<Helper<'_, '_>> = parts
            .map(|part| {
                let spawned =
                    std::thread::Builder::new().name("medvault-read".into()).spawn_scoped(scope, move || lookup(part));
                match spawned {
                    Ok(handle) => Helper::Running(handle),
                    Err(_) => Helper::InLine(part),
                }
            })
            .collect();
        let mut out = lookup(own)?;
        for helper in helpers {
            let found = match helper {
                Helper::Running(handle) => handle.join().unwrap_or(Err(StorageError::Corrupted {
                    engine: ENGINE,
                    what: "a reading thread failed (caught panic)",
                })),
                Helper::InLine(part) => lookup(part),
            }?;
            out.extend(found);
        }
        Ok(out)
    })
}

/// One share of the keys of [`get_many_in`]: a thread looking it up, or left to the caller.
enum Helper<'scope, 'k> {
    Running(std::thread::ScopedJoinHandle<'scope, StorageResult<Vec<Option<Vec<u8>>>>>),
    InLine(&'k [&'k [u8]]),
}

/// A range of a table, as `Backend::range` describes it.
fn range_in(
    t: &ReadTable,
    space: Space,
    lo: &[u8],
    hi: Option<&[u8]>,
    order: Order,
    limit: usize,
) -> StorageResult<Vec<Pair>> {
    let Some((plo, phi)) = physical_bounds(space, lo, hi) else { return Ok(Vec::new()) };
    let it = t.range(plo.as_slice()..phi.as_slice()).map_err(|e| map(e, None))?;
    let rows = it.map(|r: Row<'_>| {
        let (k, v) = r.map_err(|e| map(e, None))?;
        Ok((k.value().to_vec(), v.value().to_vec()))
    });
    take_ordered(rows, order, limit, ENGINE)
}

impl Backend for RedbSnapshot {
    fn get(&self, space: Space, key: &[u8]) -> StorageResult<Option<Vec<u8>>> {
        guarded(ENGINE, || get_in(&self.table, space, key))
    }

    fn get_many(&self, space: Space, keys: &[&[u8]]) -> StorageResult<Vec<Option<Vec<u8>>>> {
        guarded(ENGINE, || get_many_in(&self.table, space, keys))
    }

    fn range(
        &self,
        space: Space,
        lo: &[u8],
        hi: Option<&[u8]>,
        order: Order,
        limit: usize,
    ) -> StorageResult<Vec<Pair>> {
        guarded(ENGINE, || range_in(&self.table, space, lo, hi, order, limit))
    }

    fn apply(&self, _batch: &Batch) -> StorageResult<()> {
        Err(read_only())
    }

    fn flush(&self) -> StorageResult<()> {
        Err(read_only())
    }
}

impl RedbBackend {
    fn poison(&self, e: StorageError) -> StorageError {
        self.poisoned.store(true, Ordering::Release);
        tracing::error!(engine = ENGINE, "journal and database may disagree: reopen the store");
        e
    }

    /// The batch into the journal (synced if `durable`), then into redb, then a checkpoint if
    /// the epoch is long enough.
    fn journaled(&self, batch: &Batch, durable: bool) -> StorageResult<()> {
        self.check_usable()?;
        let mut j = self.journal.lock();
        j.append(batch, durable).map_err(|f| self.journal_fault(f))?;
        self.commit(batch).map_err(|e| self.poison(e))?;
        self.checkpoint_if_due(&mut j);
        Ok(())
    }

    /// A journal write that failed left the journal as it was (the error is returned); a failed
    /// sync may have left it anywhere, so it poisons the backend.
    fn journal_fault(&self, f: JournalFault) -> StorageError {
        match f {
            JournalFault::Write(e) => e,
            f @ JournalFault::Sync(_) => self.poison(f.into_error()),
        }
    }

    /// Checkpoints the journal into redb when it has grown enough. The batch just applied is
    /// in either way: a failed checkpoint poisons the backend, which only stops what follows.
    fn checkpoint_if_due(&self, j: &mut Journal) {
        if j.wants_checkpoint()
            && let Err(e) = self.checkpoint_with(j, &[])
        {
            self.poison(e);
        }
    }

    /// One non-durable write transaction holding the whole batch.
    fn commit(&self, batch: &Batch) -> StorageResult<()> {
        guarded(ENGINE, || {
            let mut tx = self.db.begin_write().map_err(|e| map(e, None))?;
            tx.set_durability(redb::Durability::None).map_err(|e| map(e, None))?;
            {
                let mut t = tx.open_table(TABLE).map_err(|e| map(e, None))?;
                for op in batch.ops() {
                    match op {
                        Op::Put(s, k, v) => {
                            t.insert(physical_key(*s, k).as_slice(), v.as_slice()).map_err(|e| map(e, None))?;
                        }
                        Op::Delete(s, k) => {
                            t.remove(physical_key(*s, k).as_slice()).map_err(|e| map(e, None))?;
                        }
                    }
                }
            }
            tx.commit().map_err(|e| map(e, None))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_keeps_its_moment_and_is_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = engine::create(&dir.path().join("s"), crate::storage::Engine::Redb).unwrap();
        let put = |k: &[u8], v: &[u8]| {
            let mut b = Batch::new();
            b.put(Space::Records, k.to_vec(), v.to_vec());
            db.apply(&b).unwrap();
        };
        put(b"a", b"1");
        let view = db.snapshot().unwrap().expect("redb has snapshots");
        put(b"a", b"2");
        put(b"b", b"3");
        assert_eq!(view.get(Space::Records, b"a").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(view.scan_prefix(Space::Records, &[]).unwrap().len(), 1);
        assert_eq!(db.get(Space::Records, b"a").unwrap().as_deref(), Some(&b"2"[..]));
        assert!(view.apply(&Batch::new()).is_err() && view.flush().is_err());
    }

    /// Enough keys to spread over every reading thread come back in the order asked, missing
    /// ones as `None`, from the backend and from a snapshot alike.
    #[test]
    fn many_keys_come_back_in_order_whatever_thread_read_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = RedbBackend::open(&dir.path().join("s")).unwrap();
        let mut b = Batch::new();
        for i in (0u16..400).step_by(2) {
            b.put(Space::Records, i.to_be_bytes().to_vec(), vec![i as u8; 1 + (i as usize % 700)]);
        }
        db.apply(&b).unwrap();
        let view = db.snapshot().unwrap().expect("redb has snapshots");
        for count in [0usize, 1, 2 * KEYS_PER_THREAD - 1, 2 * KEYS_PER_THREAD, 7 * KEYS_PER_THREAD + 3, 400] {
            // Descending, so that order comes from `keys`, not from the table.
            let keys: Vec<[u8; 2]> = (0..count as u16).rev().map(|i| i.to_be_bytes()).collect();
            let refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
            let want: Vec<Option<Vec<u8>>> =
                (0..count as u16).rev().map(|i| (i % 2 == 0).then(|| vec![i as u8; 1 + (i as usize % 700)])).collect();
            assert_eq!(db.get_many(Space::Records, &refs).unwrap(), want, "{count} keys");
            assert_eq!(view.get_many(Space::Records, &refs).unwrap(), want, "{count} keys, snapshot");
            assert!(db.get_many(Space::Patients, &refs).unwrap().iter().all(Option::is_none), "another space");
        }
    }

    /// The witness step runs once per durable batch, after the journal record is on disk, and
    /// its failure is the commit's (the batch itself stays applied and durable).
    #[test]
    fn the_step_after_the_sync_sees_the_record_on_disk_and_its_error_is_returned() {
        for with_thread in [true, false] {
            the_step_after_the_sync(with_thread);
        }
    }

    fn the_step_after_the_sync(with_thread: bool) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let mut db = RedbBackend::open(&path).unwrap();
        assert!(db.syncer.is_some(), "the sync thread starts");
        if !with_thread {
            db.syncer = None;
        }
        let journal = path.join(super::super::journal::FILE);
        for (i, fail) in [(1u8, false), (2, true), (3, false)] {
            let mut b = Batch::new();
            b.put(Space::Records, vec![i], vec![i; 300]);
            let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let (seen2, journal2) = (seen.clone(), journal.clone());
            let then: crate::storage::AfterSync = Box::new(move || {
                seen2.store(std::fs::metadata(&journal2).map(|m| m.len()).unwrap_or(0), Ordering::SeqCst);
                if fail {
                    Err(StorageError::Engine { engine: "test", what: "witness refused", source: None })
                } else {
                    Ok(())
                }
            });
            let r = db.apply_durable_then(&b, then);
            assert_eq!(r.is_err(), fail, "batch {i}");
            assert!(seen.load(Ordering::SeqCst) >= 300 * i as u64, "the journal held batch {i} when the step ran");
            assert_eq!(db.get(Space::Records, &[i]).unwrap(), Some(vec![i; 300]), "batch {i} applied");
        }
        drop(db);
        let db = RedbBackend::open(&path).unwrap();
        assert_eq!(db.scan_prefix(Space::Records, &[]).unwrap().len(), 3, "all three survive a reopen");
    }
}
