//! Online backups (`medvault backup`), their offline check (`backup verify`) and restore.
//!
//! A full backup is a consistent snapshot of every keyspace, still encrypted, audit log
//! included: the session appends a `backup` event and signs a checkpoint covering it, then
//! every record is read from one moment of the store: on redb, a read transaction taken
//! between two commits, while writers go on; on an engine without snapshots (sled, the
//! in-memory backend), while the committer holds its lock, so that no group commits in
//! between (writers then wait for the length of the read; nothing is refused). An incremental
//! backup holds only what changed since a chain of earlier backups (a full one, then
//! incrementals): the records put or replaced, and the keys deleted. Each file ends with its
//! SHA-256, and an incremental names the SHA-256 of the file before it (docs/format.md §10).
//!
//! Checking needs no store and no passphrase: every file's hash and link, then the snapshot
//! the chain rebuilds is verified like a store (every leaf, node, signed head and signer
//! certificate, and every record against the digest the log holds for it), and the log must
//! extend the latest signed head of every earlier snapshot of the chain. With the store's
//! verification key (`audit key`) the header, and through it every signer, is authenticated;
//! without, the check proves internal consistency only. The snapshot is rebuilt on disk
//! (the new store's folder for a restore, a temporary folder for a check), never in
//! memory, so that a store with gigabytes of attachments restores on a small machine.

mod file;
mod forced;

pub use forced::{ForcedRestore, restore_forced};

use crate::audit::verify::{self, HeadSigners};
use crate::audit::{Action, Checkpoint, Entity, Outcome};
use crate::codec;
use crate::error::{Denied, Error, Fault, IntegrityError, Object, Result};
use crate::keyring;
use crate::model::{InvalidInput, StoreId, Timestamp};
use crate::session::Session;
use crate::storage::witness::WitnessFile;
use crate::storage::{Backend, Batch, Engine, Space, engine};
use file::{FileInfo, Record, Writer, damaged};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

const PAGE: usize = 4096;

/// Called on every stored pair of a snapshot: keyspace, key, value.
type EachPair<'a> = dyn FnMut(Space, &[u8], &[u8]) -> Result<()> + 'a;

/// What a backup (or a chain of them) holds, as written or as checked.
#[derive(Clone, Debug, serde::Serialize)]
#[non_exhaustive]
pub struct BackupReport {
    /// Store.
    pub store: StoreId,
    /// When the (last) snapshot was taken.
    pub taken_at: Timestamp,
    /// Files in the chain (1: a full backup alone).
    pub files: usize,
    /// Records in the (last) file: every pair for a full backup, puts and deletes for an
    /// incremental one.
    pub records: u64,
    /// Audit events in the snapshot.
    pub events: u64,
    /// Who signed the snapshot's stored heads (filled when a backup is checked).
    pub signed_by: Vec<HeadSigners>,
    /// Whether the header was checked against a key the caller gave.
    pub key_given: bool,
    /// Set by [`restore_forced`] when the backup was older than the anchored checkpoint: that
    /// checkpoint's size.
    pub forced_over: Option<u64>,
}

/// The stored latest signed head of a snapshot, if any.
fn latest_head(backend: &dyn Backend) -> Result<Option<Checkpoint>> {
    match backend.get(Space::Meta, crate::audit::log::META_HEAD)? {
        Some(v) => Ok(Some(codec::decode(&v, Object::SignedHead)?)),
        None => Ok(None),
    }
}

/// Checks that file `i` of a chain follows the files before it.
fn check_link(i: usize, info: &FileInfo, before: &[FileInfo]) -> Result<()> {
    match (before.last(), info.base) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(damaged("a chain starts with a full backup")),
        (Some(_), None) => Err(damaged("a full backup can only start a chain")),
        (Some(prev), Some(base)) if base != prev.digest || info.store != prev.store => Err(IntegrityError::new(
            Object::Backup,
            Fault::Broken("an incremental backup is not relative to the backup before it in the chain"),
        )
        .at(i as u64)
        .into()),
        _ => Ok(()),
    }
}

impl Session {
    /// Refuses (audited) unless the user may take backups; appends the backup's own event and
    /// signs a checkpoint covering it. Returns the store and the snapshot's time.
    fn begin_backup(&self, detail: String) -> Result<(StoreId, Timestamp)> {
        let policy = &self.header().policy;
        let allowed = policy.may_manage(&self.user.roles) || policy.may_audit(&self.user.roles);
        self.require(allowed, Action::Backup, Entity::default(), Denied::Audit)?;
        let signer = self.live_signer()?;
        self.commit(
            vec![self.draft(Action::Backup, Outcome::Success, Entity::default()).detail(detail)],
            Batch::new(),
        )?;
        self.sign_checkpoint(signer)?;
        Ok((self.header().store, self.now()))
    }

    /// Calls `each` on every pair of every keyspace as of one moment: in the engine's snapshot
    /// (taken between two commits) while writers go on, or, for an engine without snapshots,
    /// while no commit can run.
    fn scan_quiesced(&self, each: &mut EachPair<'_>) -> Result<()> {
        let scan = |backend: &dyn Backend, each: &mut EachPair<'_>| -> Result<()> {
            for space in Space::ALL {
                crate::storage::scan_pages(backend, space, &[], |page| {
                    page.iter().try_for_each(|(k, v)| each(space, k, v))
                })?;
            }
            Ok(())
        };
        match self.quiesced(|backend| backend.snapshot())? {
            Some(view) => scan(view.as_ref(), each),
            None => self.quiesced(|backend| scan(backend, each)),
        }
    }

    /// Writes a full backup of the store to `out` (administrators and auditors). Audited
    /// before anything is written; the snapshot holds that event and a checkpoint covering it.
    pub fn backup(&self, out: &mut dyn Write) -> Result<BackupReport> {
        let (store, taken_at) = self.begin_backup("full backup".into())?;
        let mut w = Writer::start(out, store, taken_at, None)?;
        self.scan_quiesced(&mut |space, k, v| w.put(space, k, v))?;
        let (records, _) = w.finish()?;
        let events = self.log_size();
        Ok(BackupReport {
            store,
            taken_at,
            files: 1,
            records,
            events,
            signed_by: Vec::new(),
            key_given: false,
            forced_over: None,
        })
    }

    /// Writes an incremental backup to `out`: what changed since the state `chain` (a full
    /// backup of this store, then its incrementals, in order) rebuilds. The chain is read for
    /// its records and checked for its hashes and links, not verified (`backup verify` does).
    pub fn backup_since(&self, chain: &mut [&mut dyn Read], out: &mut dyn Write) -> Result<BackupReport> {
        let mut base: BTreeMap<(u8, Vec<u8>), [u8; 32]> = BTreeMap::new();
        let mut infos: Vec<FileInfo> = Vec::new();
        for (i, f) in chain.iter_mut().enumerate() {
            let info = file::parse(*f, &mut |rec| {
                match rec {
                    Record::Put(s, k, v) => base.insert((s as u8, k), Sha256::digest(&v).into()),
                    Record::Delete(s, k) => base.remove(&(s as u8, k)),
                };
                Ok(())
            })?;
            check_link(i, &info, &infos)?;
            infos.push(info);
        }
        let last = infos.last().ok_or(InvalidInput::Rule("an incremental backup needs the backups it follows"))?;
        if last.store != self.header().store {
            return Err(damaged("the chain is a backup of another store"));
        }
        let since = last.digest;
        let (store, taken_at) = self.begin_backup(format!("incremental backup since {}", &hex::encode(since)[..16]))?;
        let mut w = Writer::start(out, store, taken_at, Some(since))?;
        self.scan_quiesced(&mut |space, k, v| match base.remove(&(space as u8, k.to_vec())) {
            Some(d) if d == <[u8; 32]>::from(Sha256::digest(v)) => Ok(()),
            _ => w.put(space, k, v),
        })?;
        for (code, key) in base.into_keys() {
            let space = Space::ALL.into_iter().find(|s| *s as u8 == code).ok_or_else(|| damaged("unknown keyspace"))?;
            w.delete(space, &key)?;
        }
        let (records, _) = w.finish()?;
        let events = self.log_size();
        let files = infos.len() + 1;
        Ok(BackupReport {
            store,
            taken_at,
            files,
            records,
            events,
            signed_by: Vec::new(),
            key_given: false,
            forced_over: None,
        })
    }
}

/// A store folder a chain is rebuilt in, so that checking or restoring a backup takes disk, not
/// memory, in proportion to the store: the new store's own folder for a restore, a temporary
/// folder for `backup verify`. Dropped without [`Scratch::keep`], it removes what it wrote.
pub(super) struct Scratch {
    dir: std::path::PathBuf,
    /// Whether the folder was made here (else it existed, empty, and only its content goes).
    made: bool,
    backend: std::sync::Arc<dyn Backend>,
    kept: bool,
}

impl Scratch {
    /// A new store folder at `dir`, which must not exist or be empty.
    pub(super) fn create(dir: &Path, engine_kind: Engine) -> Result<Scratch> {
        if engine::detect(dir)?.is_some() {
            return Err(Error::store_exists(dir.to_path_buf()));
        }
        let made = !dir.exists();
        if !made && std::fs::read_dir(dir).map_err(crate::error::StorageError::from_io)?.next().is_some() {
            return Err(
                InvalidInput::Rule("a backup is restored into a new folder: the folder given is not empty").into()
            );
        }
        let backend = engine::create(dir, engine_kind)?;
        Ok(Scratch { dir: dir.to_path_buf(), made, backend, kept: false })
    }

    /// A folder under the system's temporary folder, removed when dropped.
    fn temporary() -> Result<Scratch> {
        let name = format!("medvault-backup-check-{}", hex::encode(crate::model::random_bytes::<8>()));
        Scratch::create(&std::env::temp_dir().join(name), Engine::Redb)
    }

    pub(super) fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// Makes the rebuilt store durable, gives it a witness of its own and keeps it.
    pub(super) fn keep(mut self, report: &BackupReport, root: &[u8; 32]) -> Result<()> {
        self.backend.flush()?;
        WitnessFile::open(&self.dir)?.write(&crate::audit::log::encode_mark(report.store, report.events, root))?;
        self.kept = true;
        tracing::info!(files = report.files, events = report.events, "backup restored");
        Ok(())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.kept {
            remove_written(&self.dir, self.made);
        }
    }
}

/// Removes what a restore wrote in `dir`: the folder if it `made` it, else its content (it was
/// empty before).
pub(super) fn remove_written(dir: &Path, made: bool) {
    if made {
        let _ = std::fs::remove_dir_all(dir);
    } else if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let _ = if e.path().is_dir() { std::fs::remove_dir_all(e.path()) } else { std::fs::remove_file(e.path()) };
        }
    }
}

/// Rebuilds the snapshot of a chain in `into`, checking every file's hash and link; returns
/// the files' headers and the latest signed head of every snapshot before the last.
fn load_chain(chain: &mut [&mut dyn Read], into: &dyn Backend) -> Result<(Vec<FileInfo>, Vec<Checkpoint>)> {
    let mut infos: Vec<FileInfo> = Vec::new();
    let mut heads = Vec::new();
    for (i, f) in chain.iter_mut().enumerate() {
        if i > 0
            && let Some(h) = latest_head(into)?
        {
            heads.push(h);
        }
        let mut batch = Batch::new();
        let mut bytes = 0usize;
        let info = file::parse(*f, &mut |rec| {
            match rec {
                Record::Put(s, k, v) => {
                    bytes += k.len() + v.len();
                    batch.put(s, k, v)
                }
                Record::Delete(s, k) => batch.delete(s, k),
            }
            // At most PAGE records or 4 MiB per transaction (attachment chunks are 64 KiB).
            if batch.ops().len() >= PAGE || bytes >= 4 << 20 {
                into.apply(&std::mem::take(&mut batch))?;
                bytes = 0;
            }
            Ok(())
        })?;
        into.apply(&batch)?;
        check_link(i, &info, &infos)?;
        infos.push(info);
    }
    if infos.is_empty() {
        return Err(InvalidInput::Rule("no backup file given").into());
    }
    Ok((infos, heads))
}

/// Loads a chain into `into` and checks it; returns the report and its log's root.
pub(super) fn verify_loaded(
    chain: &mut [&mut dyn Read],
    key: Option<&[u8; 32]>,
    anchor_dir: Option<&Path>,
    into: &dyn Backend,
) -> Result<(BackupReport, [u8; 32])> {
    let (infos, heads) = load_chain(chain, into)?;
    let (first, last) = (&infos[0], &infos[infos.len() - 1]);
    let header = keyring::load_header(into, key)?;
    if header.store != first.store {
        return Err(damaged("the backup's header names another store"));
    }
    let anchor = match anchor_dir {
        Some(a) => crate::audit::anchor::latest(a, first.store)?,
        None => None,
    };
    let report = verify::verify(into, &header, anchor.as_ref(), &mut |_| {})?;
    if let Some(p) = report.problems.first() {
        let older = anchor.is_some() && report.problems.iter().any(|p| p.what.contains("truncated or rolled back"));
        let what = if older {
            "the backup is older than the anchored checkpoint"
        } else {
            "the backup's audit log does not verify"
        };
        return Err(IntegrityError::new(Object::Backup, Fault::Broken(what)).at(p.seq).into());
    }
    let root = report.root_hash().ok_or(IntegrityError::new(Object::Backup, Fault::BadLength))?;
    let (signers, _) = keyring::signers::TrustedSigners::load(into, &header)?;
    for h in &heads {
        if !verify::extends(into, &signers, h, report.size, &root)? {
            return Err(damaged("the chain's log does not extend the log of an earlier backup in it"));
        }
    }
    let out = BackupReport {
        store: first.store,
        taken_at: last.taken_at,
        files: infos.len(),
        records: last.records,
        events: report.size,
        signed_by: report.signed_by,
        key_given: key.is_some(),
        forced_over: None,
    };
    Ok((out, root))
}

/// Parses one backup file without rebuilding anything (the decoder alone, for fuzzing).
#[cfg(feature = "testing")]
pub(crate) fn parse_only(r: &mut dyn Read) -> Result<()> {
    file::parse(r, &mut |_| Ok(())).map(|_| ())
}

/// Checks a backup, or a chain of them (a full backup then its incrementals, in order), with
/// no store and no passphrase (see the module documentation); `key` is the store's
/// verification key (`Store::verification_key`). The chain is rebuilt in a temporary folder
/// (disk in proportion to the store, bounded memory), removed afterwards.
pub fn verify_backup(chain: &mut [&mut dyn Read], key: Option<&[u8; 32]>) -> Result<BackupReport> {
    let scratch = Scratch::temporary()?;
    verify_loaded(chain, key, None, scratch.backend()).map(|(report, _)| report)
}

/// Restores a backup, or a chain of them, into a new store folder `dir` on `engine_kind`,
/// after checking it as [`verify_backup`] does and, with `anchor_dir`, that its log extends the
/// newest anchor of its store kept there (a backup older than an anchored checkpoint is
/// refused). The chain is rebuilt in the new folder itself and checked there; if any check
/// fails, what was written is removed (the folder, when it did not exist). The new folder gets a
/// witness of its own.
pub fn restore(
    chain: &mut [&mut dyn Read],
    dir: &Path,
    engine_kind: Engine,
    key: Option<&[u8; 32]>,
    anchor_dir: Option<&Path>,
) -> Result<BackupReport> {
    let scratch = Scratch::create(dir, engine_kind)?;
    let (report, root) = verify_loaded(chain, key, anchor_dir, scratch.backend())?;
    scratch.keep(&report, &root)?;
    Ok(report)
}
