//! The embedded default backend: sled 0.34, one tree, keyspaces as a one-byte key prefix so that
//! one `apply_batch` is atomic across all of them.
//!
//! Durability: sled's `flush()` ends in `sync_file_range` on Linux, which neither flushes the
//! device cache nor persists metadata. [`SledBackend::flush`] therefore follows it with
//! `fsync` of the data file and of the folder. Callers group many commits behind one flush
//! (see [`super::Committer`]); only one thread flushes at a time, because concurrent
//! `flush_async` calls deadlock in sled 0.34.

use super::{Backend, Batch, Op, Order, Pair, Space, StorageResult, physical_bounds, physical_key};
use crate::error::StorageError;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Page-cache cap: sled's memory use otherwise grows far above its default.
pub const CACHE_CAPACITY_BYTES: u64 = 64 * 1024 * 1024;

/// sled-backed storage in a folder.
pub struct SledBackend {
    db: sled::Db,
    dir: PathBuf,
}

impl SledBackend {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> StorageResult<Self> {
        std::fs::create_dir_all(dir)?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_CAPACITY_BYTES)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        Ok(SledBackend { db, dir: dir.to_path_buf() })
    }

    fn fsync_files(&self) -> StorageResult<()> {
        let data = self.dir.join("db");
        if data.exists() {
            File::open(&data)?.sync_all()?;
        }
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}

impl Backend for SledBackend {
    fn get(&self, space: Space, key: &[u8]) -> StorageResult<Option<Vec<u8>>> {
        Ok(self.db.get(physical_key(space, key))?.map(|v| v.to_vec()))
    }

    fn range(
        &self,
        space: Space,
        lo: &[u8],
        hi: Option<&[u8]>,
        order: Order,
        limit: usize,
    ) -> StorageResult<Vec<Pair>> {
        let (plo, phi) = physical_bounds(space, lo, hi);
        if plo >= phi {
            return Ok(Vec::new());
        }
        let it = self.db.range(plo..phi);
        let mut out = Vec::new();
        let mut push = |r: sled::Result<(sled::IVec, sled::IVec)>| -> StorageResult<bool> {
            let (k, v) = r?;
            out.push((k[1..].to_vec(), v.to_vec()));
            Ok(out.len() < limit)
        };
        match order {
            Order::Ascending => {
                for r in it {
                    if !push(r)? {
                        break;
                    }
                }
            }
            Order::Descending => {
                for r in it.rev() {
                    if !push(r)? {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    fn apply(&self, batch: &Batch) -> StorageResult<()> {
        let mut b = sled::Batch::default();
        for op in batch.ops() {
            match op {
                Op::Put(s, k, v) => b.insert(physical_key(*s, k), v.as_slice()),
                Op::Delete(s, k) => b.remove(physical_key(*s, k)),
            }
        }
        self.db.apply_batch(b).map_err(StorageError::from)
    }

    fn flush(&self) -> StorageResult<()> {
        self.db.flush()?;
        self.fsync_files()
    }
}
