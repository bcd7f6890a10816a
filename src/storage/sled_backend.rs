//! The first release's engine: sled 0.34, one tree, keyspaces as a one-byte key prefix so that
//! one `apply_batch` is atomic across all of them. Still supported (`--engine sled`).
//!
//! What medvault adds around sled, because sled alone does not give it:
//! - Durability: sled's `flush()` ends in `sync_file_range` on Linux, which neither flushes the
//!   device cache nor persists metadata. [`SledBackend::flush`] follows it with `fsync` of the
//!   data file, of every new file under `blobs/` (values over ~128 KiB, which sled never
//!   fsyncs), of `blobs/` itself and of the folder. Only one thread flushes at a time
//!   ([`super::Committer`]), because concurrent `flush_async` calls deadlock in sled 0.34.
//! - Panics: sled panics on some truncated files; every call is guarded and a panic becomes
//!   [`StorageError::Corrupted`].
//! - Disk full: sled can leave a zero-length `snap.*.generating` file after which it never
//!   opens again; such unfinished snapshots are removed before opening (sled renames a snapshot
//!   only once it is complete, so a `.generating` file is never needed).
//! - Errors: sled's texts never reach users; they become typed [`StorageError`]s.
//! - Closing after an I/O error: sled's drop flushes and can wait forever for writes a full
//!   disk refused (seen here on a full tmpfs). After any I/O error the handle is dropped on a
//!   detached thread, so the process can still exit; the store opens again in the next process.

use super::engine::{self, guarded};
use super::{Backend, Batch, Op, Order, Pair, Space, StorageResult, physical_bounds, physical_key, take_ordered};
use crate::error::StorageError;
use parking_lot::Mutex;
use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Page-cache cap: sled's memory use otherwise grows far above its default.
pub(crate) const CACHE_CAPACITY_BYTES: u64 = 64 * 1024 * 1024;
const ENGINE: &str = "sled";

/// sled-backed storage in a folder.
pub struct SledBackend {
    /// `None` only once dropped.
    db: Option<sled::Db>,
    /// Whether an I/O error was seen (then drop must not wait for sled's final flush).
    io_failed: std::sync::atomic::AtomicBool,
    dir: PathBuf,
    /// Blob files already fsynced (blobs are written once and never modified).
    synced_blobs: Mutex<HashSet<std::ffi::OsString>>,
}

fn map(e: sled::Error, dir: Option<&Path>) -> StorageError {
    match e {
        // sled 0.34 reports its file lock as `Other` with this text (the `WouldBlock` is only
        // inside the message): the one engine text medvault has to read.
        sled::Error::Io(io)
            if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().starts_with("could not acquire lock") =>
        {
            StorageError::StoreBusy { holder: dir.and_then(engine::read_owner) }
        }
        sled::Error::Io(io) => StorageError::from_io(io),
        sled::Error::Corruption { .. } => StorageError::Corrupted { engine: ENGINE, what: "a checksum check failed" },
        // sled answers "unsupported" when its own configuration file does not parse.
        sled::Error::Unsupported(_) => {
            StorageError::Corrupted { engine: ENGINE, what: "the engine refused its own files" }
        }
        sled::Error::ReportableBug(_) => {
            StorageError::Corrupted { engine: ENGINE, what: "the engine reported an internal bug" }
        }
        sled::Error::CollectionNotFound(_) => {
            StorageError::Engine { engine: ENGINE, what: "collection not found", source: None }
        }
    }
}

impl SledBackend {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> StorageResult<Self> {
        engine::create_dir_durably(dir)?;
        remove_unfinished_snapshots(dir)?;
        let db = guarded(ENGINE, || {
            sled::Config::new()
                .path(dir)
                .cache_capacity(CACHE_CAPACITY_BYTES)
                .mode(sled::Mode::HighThroughput)
                .open()
                .map_err(|e| map(e, Some(dir)))
        })?;
        engine::write_owner(dir);
        let backend = SledBackend {
            db: Some(db),
            io_failed: std::sync::atomic::AtomicBool::new(false),
            dir: dir.to_path_buf(),
            synced_blobs: Mutex::new(HashSet::new()),
        };
        backend.flush()?;
        Ok(backend)
    }

    fn db(&self) -> StorageResult<&sled::Db> {
        self.db.as_ref().ok_or(StorageError::Engine { engine: ENGINE, what: "the store is closed", source: None })
    }

    /// Runs an engine call through the panic guard and remembers I/O failures.
    fn call<T>(&self, f: impl FnOnce(&sled::Db) -> StorageResult<T>) -> StorageResult<T> {
        let r = guarded(ENGINE, || f(self.db()?));
        if matches!(r, Err(StorageError::Io(_) | StorageError::DiskFull(_))) {
            self.io_failed.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        r
    }

    fn fsync_files(&self) -> StorageResult<()> {
        let io = StorageError::from_io;
        for name in ["db", "conf"] {
            let p = self.dir.join(name);
            if p.exists() {
                File::open(&p).and_then(|f| f.sync_all()).map_err(io)?;
            }
        }
        let blobs = self.dir.join("blobs");
        if blobs.is_dir() {
            let mut synced = self.synced_blobs.lock();
            let mut new = false;
            for entry in std::fs::read_dir(&blobs).map_err(io)? {
                let entry = entry.map_err(io)?;
                if synced.contains(&entry.file_name()) {
                    continue;
                }
                File::open(entry.path()).and_then(|f| f.sync_all()).map_err(io)?;
                synced.insert(entry.file_name());
                new = true;
            }
            if new {
                engine::fsync_dir(&blobs)?;
            }
        }
        engine::fsync_dir(&self.dir)
    }
}

fn remove_unfinished_snapshots(dir: &Path) -> StorageResult<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    let mut removed = false;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            std::fs::remove_file(entry.path()).map_err(StorageError::from_io)?;
            removed = true;
        }
    }
    if removed {
        engine::fsync_dir(dir)?;
    }
    Ok(())
}

impl Drop for SledBackend {
    fn drop(&mut self) {
        if let Some(db) = self.db.take()
            && self.io_failed.load(std::sync::atomic::Ordering::Relaxed)
        {
            tracing::warn!("closing a sled store after an i/o error: not waiting for its final flush");
            std::thread::spawn(move || drop(db));
        }
        let _ = std::fs::remove_file(self.dir.join(engine::OWNER));
    }
}

impl Backend for SledBackend {
    fn get(&self, space: Space, key: &[u8]) -> StorageResult<Option<Vec<u8>>> {
        self.call(|db| Ok(db.get(physical_key(space, key)).map_err(|e| map(e, None))?.map(|v| v.to_vec())))
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
        self.call(|db| {
            let rows = db.range(plo..phi).map(|r| {
                let (k, v) = r.map_err(|e| map(e, None))?;
                Ok((k.to_vec(), v.to_vec()))
            });
            take_ordered(rows, order, limit, ENGINE)
        })
    }

    fn apply(&self, batch: &Batch) -> StorageResult<()> {
        let mut b = sled::Batch::default();
        for op in batch.ops() {
            match op {
                Op::Put(s, k, v) => b.insert(physical_key(*s, k), v.as_slice()),
                Op::Delete(s, k) => b.remove(physical_key(*s, k)),
            }
        }
        self.call(|db| db.apply_batch(b).map_err(|e| map(e, None)))
    }

    fn flush(&self) -> StorageResult<()> {
        self.call(|db| db.flush().map(|_| ()).map_err(|e| map(e, None)))?;
        let r = self.fsync_files();
        if r.is_err() {
            self.io_failed.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        r
    }
}
