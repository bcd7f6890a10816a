//! Online backups (`medvault backup`), their offline check (`backup verify`) and restore.
//!
//! A backup is a consistent snapshot of every keyspace, still encrypted, audit log included:
//! the session appends a `backup` event and signs a checkpoint covering it, then every record
//! is read while the committer holds its lock, so that no group commits in between (writers
//! wait for the length of the read; readers and queued operations are not refused). The file
//! (docs/format.md §10) ends with the SHA-256 of every byte before it.
//!
//! Checking a backup needs no store and no passphrase: the hash, then the snapshot is loaded
//! into memory and its audit log verified like a store's (every leaf, node, signed head and
//! signer certificate, and every record against the digest the log holds for it). With the
//! store's verification key (`audit key`) the header, and through it every signer, is
//! authenticated; without, the check proves internal consistency only.

use crate::audit::verify::{self, HeadSigners};
use crate::audit::{Action, Entity, Outcome};
use crate::error::{Denied, Error, Fault, IntegrityError, Object, Result, StorageError};
use crate::keyring;
use crate::model::{StoreId, Timestamp};
use crate::session::Session;
use crate::storage::memory::MemoryBackend;
use crate::storage::witness::WitnessFile;
use crate::storage::{Backend, Batch, Engine, Order, Space, engine};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"MVBACKUP";
const FORMAT: u16 = 1;
const PAGE: usize = 4096;
/// Largest key or value a backup may hold (the engines' own limits are lower).
const MAX_ITEM: u32 = 1 << 30;

/// What a backup holds, as checked.
#[derive(Clone, Debug, serde::Serialize)]
#[non_exhaustive]
pub struct BackupReport {
    /// Store.
    pub store: StoreId,
    /// When the snapshot was taken.
    pub taken_at: Timestamp,
    /// Records (every keyspace, audit log included).
    pub records: u64,
    /// Audit events in the snapshot (verified).
    pub events: u64,
    /// Who signed the snapshot's stored heads.
    pub signed_by: Vec<HeadSigners>,
    /// Whether the header was checked against a key the caller gave.
    pub key_given: bool,
}

fn io(e: std::io::Error) -> Error {
    Error::Storage(StorageError::from_io(e))
}

fn damaged(why: &'static str) -> Error {
    IntegrityError::new(Object::Backup, Fault::Broken(why)).into()
}

/// Writes and hashes at once.
struct Hashing<'a> {
    out: &'a mut dyn Write,
    hash: Sha256,
}

impl Hashing<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.hash.update(bytes);
        self.out.write_all(bytes).map_err(io)
    }
}

impl Session {
    /// Writes a backup of the whole store to `out` (administrators and auditors). Audited
    /// before anything is written; the snapshot holds that event and a checkpoint covering it.
    pub fn backup(&self, out: &mut dyn Write) -> Result<BackupReport> {
        let policy = &self.header().policy;
        let allowed = policy.may_manage(&self.user.roles) || policy.may_audit(&self.user.roles);
        self.require(allowed, Action::Backup, Entity::default(), Denied::Audit)?;
        let signer = self.live_signer()?;
        let draft = self.draft(Action::Backup, Outcome::Success, Entity::default()).detail("full backup");
        self.commit(vec![draft], Batch::new())?;
        self.sign_checkpoint(signer)?;
        let taken_at = self.now();
        let store = self.header().store;
        let mut w = Hashing { out, hash: Sha256::new() };
        w.put(MAGIC)?;
        w.put(&FORMAT.to_le_bytes())?;
        w.put(&store.0)?;
        w.put(&taken_at.0.to_le_bytes())?;
        let records = self.quiesced(|backend| -> Result<u64> {
            let mut n = 0u64;
            for space in Space::ALL {
                let mut lo: Vec<u8> = Vec::new();
                loop {
                    let page = backend.range(space, &lo, None, Order::Ascending, PAGE)?;
                    for (k, v) in &page {
                        w.put(&[1, space as u8])?;
                        w.put(&(k.len() as u32).to_le_bytes())?;
                        w.put(k)?;
                        w.put(&(v.len() as u32).to_le_bytes())?;
                        w.put(v)?;
                    }
                    n += page.len() as u64;
                    match page.last() {
                        Some((k, _)) if page.len() == PAGE => {
                            lo = k.clone();
                            lo.push(0);
                        }
                        _ => break,
                    }
                }
            }
            Ok(n)
        })?;
        w.put(&[0])?;
        w.put(&records.to_le_bytes())?;
        let digest = w.hash.finalize();
        w.out.write_all(&digest).map_err(io)?;
        w.out.flush().map_err(io)?;
        let events = self.log_size();
        Ok(BackupReport { store, taken_at, records, events, signed_by: Vec::new(), key_given: false })
    }
}

/// Reads exactly `n` bytes, hashing them.
/// The buffer grows with the bytes actually read: a damaged length allocates nothing.
fn take(r: &mut dyn Read, hash: &mut Sha256, n: usize) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(n as u64).read_to_end(&mut buf).map_err(io)?;
    if buf.len() != n {
        return Err(damaged("the backup ends early (truncated)"));
    }
    hash.update(&buf);
    Ok(buf)
}

fn take_u32(r: &mut dyn Read, hash: &mut Sha256) -> Result<u32> {
    let b = take(r, hash, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a backup into memory, checking its framing and hash (not yet its content).
fn load(r: &mut dyn Read) -> Result<(MemoryBackend, StoreId, Timestamp, u64)> {
    let mut hash = Sha256::new();
    if take(r, &mut hash, 8)? != MAGIC {
        return Err(damaged("not a medvault backup"));
    }
    let f = take(r, &mut hash, 2)?;
    let format = u16::from_le_bytes([f[0], f[1]]);
    if format != FORMAT {
        return Err(IntegrityError::new(Object::Backup, Fault::UnsupportedFormat(format.into())).into());
    }
    let id: [u8; 16] = take(r, &mut hash, 16)?.try_into().map_err(|_| damaged("store id"))?;
    let t = take(r, &mut hash, 8)?;
    let taken_at = Timestamp(i64::from_le_bytes(t.try_into().map_err(|_| damaged("time"))?));
    let mem = MemoryBackend::new();
    let mut batch = Batch::new();
    let mut records = 0u64;
    loop {
        let tag = take(r, &mut hash, 1)?[0];
        if tag == 0 {
            break;
        }
        if tag != 1 {
            return Err(damaged("unknown record tag"));
        }
        let code = take(r, &mut hash, 1)?[0];
        let space = Space::ALL.into_iter().find(|s| *s as u8 == code).ok_or_else(|| damaged("unknown keyspace"))?;
        let klen = take_u32(r, &mut hash)?;
        if klen > MAX_ITEM {
            return Err(damaged("a key longer than any store holds"));
        }
        let key = take(r, &mut hash, klen as usize)?;
        let vlen = take_u32(r, &mut hash)?;
        if vlen > MAX_ITEM {
            return Err(damaged("a value longer than any store holds"));
        }
        let value = take(r, &mut hash, vlen as usize)?;
        batch.put(space, key, value);
        records += 1;
        if records.is_multiple_of(PAGE as u64) {
            mem.apply(&std::mem::take(&mut batch))?;
        }
    }
    mem.apply(&batch)?;
    let n = take(r, &mut hash, 8)?;
    let announced = u64::from_le_bytes(n.try_into().map_err(|_| damaged("count"))?);
    let digest = hash.finalize();
    let mut stored = [0u8; 32];
    r.read_exact(&mut stored).map_err(|_| damaged("the backup ends early (truncated)"))?;
    let mut rest = [0u8; 1];
    if r.read(&mut rest).map_err(io)? != 0 {
        return Err(damaged("bytes follow the backup's hash"));
    }
    if stored != digest.as_slice() {
        return Err(damaged("the backup was modified: its SHA-256 differs from the one it carries"));
    }
    if announced != records {
        return Err(damaged("the backup holds another number of records than it announces"));
    }
    Ok((mem, StoreId(id), taken_at, records))
}

/// Checks a backup with no store and no passphrase (see the module documentation); `key` is
/// the store's verification key (`Store::verification_key`).
pub fn verify_backup(r: &mut dyn Read, key: Option<&[u8; 32]>) -> Result<BackupReport> {
    verify_loaded(r, key, None).map(|(report, ..)| report)
}

/// Loads and checks a backup; returns the report, the snapshot and its log's root.
fn verify_loaded(
    r: &mut dyn Read,
    key: Option<&[u8; 32]>,
    anchor_dir: Option<&Path>,
) -> Result<(BackupReport, MemoryBackend, [u8; 32])> {
    let (mem, store, taken_at, records) = load(r)?;
    let header = keyring::load_header(&mem, key)?;
    if header.store != store {
        return Err(damaged("the backup's header names another store"));
    }
    let anchor = match anchor_dir {
        Some(a) => crate::audit::anchor::latest(a, store)?,
        None => None,
    };
    let report = verify::verify(&mem, &header, anchor.as_ref())?;
    if let Some(p) = report.problems.first() {
        let older = anchor.is_some() && report.problems.iter().any(|p| p.what.contains("truncated or rolled back"));
        let what = if older {
            "the backup is older than the anchored checkpoint"
        } else {
            "the backup's audit log does not verify"
        };
        return Err(IntegrityError::new(Object::Backup, Fault::Broken(what)).at(p.seq).into());
    }
    let root: [u8; 32] = hex::decode(&report.root)
        .ok()
        .and_then(|r| r.try_into().ok())
        .ok_or(IntegrityError::new(Object::Backup, Fault::BadLength))?;
    let out = BackupReport {
        store,
        taken_at,
        records,
        events: report.size,
        signed_by: report.signed_by,
        key_given: key.is_some(),
    };
    Ok((out, mem, root))
}

/// Restores a backup into a new store folder `dir` on `engine_kind`, after checking it as
/// [`verify_backup`] does and, with `anchor_dir`, that its log extends the newest anchor of its
/// store kept there (a backup older than an anchored checkpoint is refused). The new folder
/// gets a witness of its own. Nothing is written unless every check passed.
pub fn restore(
    r: &mut dyn Read,
    dir: &Path,
    engine_kind: Engine,
    key: Option<&[u8; 32]>,
    anchor_dir: Option<&Path>,
) -> Result<BackupReport> {
    if engine::detect(dir)?.is_some() {
        return Err(Error::store_exists(dir.to_path_buf()));
    }
    let (report, mem, root) = verify_loaded(r, key, anchor_dir)?;
    let copy = engine::create(dir, engine_kind)?;
    for space in Space::ALL {
        let mut batch = Batch::new();
        for (k, v) in mem.scan_prefix(space, &[])? {
            batch.put(space, k, v);
            if batch.ops().len() >= PAGE {
                copy.apply(&std::mem::take(&mut batch))?;
            }
        }
        if !batch.is_empty() {
            copy.apply(&batch)?;
        }
    }
    copy.flush()?;
    WitnessFile::open(dir)?.write(&crate::audit::log::encode_mark(report.store, report.events, &root))?;
    drop(copy);
    tracing::info!(records = report.records, events = report.events, "backup restored");
    Ok(report)
}
