//! The embedded default backend: redb, one file `medvault.redb`, one table whose keys are the
//! physical keys (space byte first), so that one write transaction is atomic across keyspaces.
//!
//! Durability: [`Backend::apply`] commits with redb's `Durability::None` (visible at once, not
//! yet on disk); [`Backend::flush`] commits an empty transaction with `Durability::Immediate`,
//! which persists every earlier commit with redb's checksummed commit protocol;
//! [`Backend::apply_durable`] does both in one transaction (the group committer's path: one
//! sync per group). A crash loses
//! the non-durable suffix whole, never part of a transaction. Only one process may open the
//! file (`ConcurrencyMode::ExclusiveWriter`); a second gets [`StorageError::StoreBusy`].

use super::engine::{self, guarded};
use super::{Backend, Batch, Op, Order, Pair, Space, StorageResult, physical_bounds, physical_key, take_ordered};
use crate::error::StorageError;
use redb::{ReadableDatabase, TableDefinition};
use std::path::{Path, PathBuf};

/// File name of the database in the store folder.
pub(crate) const FILE: &str = "medvault.redb";
const ENGINE: &str = "redb";
const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("medvault");
/// One row as the table iterator yields it.
type Row<'a> = Result<(redb::AccessGuard<'a, &'static [u8]>, redb::AccessGuard<'a, &'static [u8]>), redb::StorageError>;
/// Page cache: bounded, the operating system caches the rest.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// redb-backed storage in a folder.
pub struct RedbBackend {
    db: redb::Database,
    dir: PathBuf,
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
        let backend = RedbBackend { db, dir: dir.to_path_buf() };
        // The table exists from the first (durable) commit on, so readers never see it missing.
        guarded(ENGINE, || {
            let mut tx = backend.db.begin_write().map_err(|e| map(e, None))?;
            tx.set_durability(redb::Durability::Immediate).map_err(|e| map(e, None))?;
            tx.open_table(TABLE).map_err(|e| map(e, None))?;
            tx.commit().map_err(|e| map(e, None))
        })?;
        engine::write_owner(dir);
        Ok(backend)
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadOnlyTable<&'static [u8], &'static [u8]>) -> StorageResult<T>,
    ) -> StorageResult<T> {
        guarded(ENGINE, || {
            let tx = self.db.begin_read().map_err(|e| map(e, None))?;
            let table = tx.open_table(TABLE).map_err(|e| map(e, None))?;
            f(&table)
        })
    }
}

impl Drop for RedbBackend {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.dir.join(engine::OWNER));
    }
}

impl Backend for RedbBackend {
    fn get(&self, space: Space, key: &[u8]) -> StorageResult<Option<Vec<u8>>> {
        let k = physical_key(space, key);
        self.read(|t| Ok(t.get(k.as_slice()).map_err(|e| map(e, None))?.map(|v| v.value().to_vec())))
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
        self.read(|t| {
            let it = t.range(plo.as_slice()..phi.as_slice()).map_err(|e| map(e, None))?;
            let rows = it.map(|r: Row<'_>| {
                let (k, v) = r.map_err(|e| map(e, None))?;
                Ok((k.value().to_vec(), v.value().to_vec()))
            });
            take_ordered(rows, order, limit, ENGINE)
        })
    }

    fn apply(&self, batch: &Batch) -> StorageResult<()> {
        self.commit(batch, redb::Durability::None)
    }

    fn apply_durable(&self, batch: &Batch) -> StorageResult<()> {
        self.commit(batch, redb::Durability::Immediate)
    }

    fn flush(&self) -> StorageResult<()> {
        guarded(ENGINE, || {
            let mut tx = self.db.begin_write().map_err(|e| map(e, None))?;
            tx.set_durability(redb::Durability::Immediate).map_err(|e| map(e, None))?;
            tx.commit().map_err(|e| map(e, None))
        })
    }
}

impl RedbBackend {
    /// One write transaction holding the whole batch.
    fn commit(&self, batch: &Batch, durability: redb::Durability) -> StorageResult<()> {
        guarded(ENGINE, || {
            let mut tx = self.db.begin_write().map_err(|e| map(e, None))?;
            tx.set_durability(durability).map_err(|e| map(e, None))?;
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
