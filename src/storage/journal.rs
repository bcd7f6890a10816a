//! The redb journal: an append-only file of whole batches in front of the redb database, so
//! that a durable group costs one small sequential write and one `fdatasync` instead of a
//! durable redb commit (which rewrites every B-tree page on the path of every key it touches).
//!
//! Each batch is written here first (and, for a durable group, `fdatasync`ed), then applied to
//! redb with `Durability::None`. A checkpoint makes redb durable and starts a new *epoch*: the
//! epoch number lives in redb itself, in the same durable transaction, so the records of older
//! epochs left in the file are recognised as stale. At open, the records of the current epoch
//! are replayed into redb (replaying a prefix twice is harmless: every operation is a put or a
//! delete of a whole value) and a checkpoint follows.
//!
//! Record (docs/format.md §1.1): `len u32 LE ‖ epoch u64 LE ‖ index u64 LE ‖ synced u64 LE ‖
//! payload (len bytes) ‖ SHA-256("medvault journal 1" ‖ the previous bytes)`. `index` counts
//! records from 0 in each epoch; `synced` is how many records of the epoch were `fdatasync`ed
//! before this one was written, so that a damaged record that a later intact record says was
//! durable is told apart from the torn tail of a crash.

use super::{Batch, Op, StorageResult, physical_key};
use crate::error::StorageError;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::mpsc;

/// File name of the journal in a store folder.
pub(crate) const FILE: &str = "medvault.journal";
const DOMAIN: &[u8] = b"medvault journal 1";
const HEAD: usize = 4 + 8 + 8 + 8;
const HASH: usize = 32;
const PUT: u8 = 1;
const DELETE: u8 = 2;
/// A checkpoint is taken after this many records in an epoch...
const CHECKPOINT_RECORDS: u64 = 4096;
/// ... or once the epoch holds this many bytes.
const CHECKPOINT_BYTES: u64 = 4 << 20;

/// One replayed write, with its physical key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Replayed {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

fn corrupted(what: &'static str) -> StorageError {
    StorageError::Corrupted { engine: "redb journal", what }
}

fn record_hash(bytes: &[u8]) -> [u8; HASH] {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(bytes);
    h.finalize().into()
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The bytes of one record.
fn encode(epoch: u64, index: u64, synced: u64, batch: &Batch) -> StorageResult<Vec<u8>> {
    let too_big = || StorageError::Engine { engine: "redb journal", what: "batch too large", source: None };
    let mut payload = Vec::new();
    payload.extend_from_slice(&u32::try_from(batch.ops().len()).map_err(|_| too_big())?.to_le_bytes());
    for op in batch.ops() {
        let (tag, space, key, value) = match op {
            Op::Put(s, k, v) => (PUT, *s, k, Some(v)),
            Op::Delete(s, k) => (DELETE, *s, k, None),
        };
        let key = physical_key(space, key);
        payload.push(tag);
        payload.extend_from_slice(&u32::try_from(key.len()).map_err(|_| too_big())?.to_le_bytes());
        payload.extend_from_slice(&key);
        if let Some(v) = value {
            payload.extend_from_slice(&u32::try_from(v.len()).map_err(|_| too_big())?.to_le_bytes());
            payload.extend_from_slice(v);
        }
    }
    let len = u32::try_from(payload.len()).map_err(|_| too_big())?;
    let mut rec = Vec::with_capacity(HEAD + payload.len() + HASH);
    rec.extend_from_slice(&len.to_le_bytes());
    rec.extend_from_slice(&epoch.to_le_bytes());
    rec.extend_from_slice(&index.to_le_bytes());
    rec.extend_from_slice(&synced.to_le_bytes());
    rec.extend_from_slice(&payload);
    let digest = record_hash(&rec);
    rec.extend_from_slice(&digest);
    Ok(rec)
}

/// The payload's writes; `None` if they do not parse to the end exactly.
fn decode(payload: &[u8]) -> Option<Vec<Replayed>> {
    let count = u32_at(payload, 0)? as usize;
    let mut at = 4;
    let mut out = Vec::with_capacity(count.min(payload.len() / 6));
    let take = |at: &mut usize| -> Option<Vec<u8>> {
        let len = u32_at(payload, *at)? as usize;
        let start = *at + 4;
        let v = payload.get(start..start.checked_add(len)?)?.to_vec();
        *at = start + len;
        Some(v)
    };
    for _ in 0..count {
        let tag = *payload.get(at)?;
        at += 1;
        let key = take(&mut at)?;
        out.push(match tag {
            PUT => Replayed::Put(key, take(&mut at)?),
            DELETE => Replayed::Delete(key),
            _ => return None,
        });
    }
    (at == payload.len()).then_some(out)
}

/// A record parsed at `at`: (index, synced, payload, total length), if intact and of `epoch`.
fn record_at(bytes: &[u8], at: usize, epoch: u64) -> Option<(u64, u64, &[u8], usize)> {
    let len = u32_at(bytes, at)? as usize;
    if u64_at(bytes, at + 4)? != epoch {
        return None;
    }
    let end = at.checked_add(HEAD)?.checked_add(len)?;
    let total = end.checked_add(HASH)?;
    if total > bytes.len() || bytes[end..total] != record_hash(&bytes[at..end]) {
        return None;
    }
    Some((u64_at(bytes, at + 12)?, u64_at(bytes, at + 20)?, &bytes[at + HEAD..end], total - at))
}

/// The batches of `epoch` in `bytes`, in order. Reading stops at the first record that is not
/// the intact next record of the epoch (the end, a stale record of an older epoch, or a torn
/// tail); if an intact record further on says that this one had been made durable, the file is
/// damaged and nothing is replayed.
pub(crate) fn scan(bytes: &[u8], epoch: u64) -> StorageResult<Vec<Vec<Replayed>>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    let mut next = 0u64;
    while let Some((index, _, payload, total)) = record_at(bytes, at, epoch) {
        if index != next {
            break;
        }
        out.push(decode(payload).ok_or_else(|| corrupted("a journal record does not parse"))?);
        at += total;
        next += 1;
    }
    // Damage, not a crash: a later intact record of this epoch counts record `next` as synced.
    let needle = epoch.to_le_bytes();
    let mut p = at + 1;
    while p + HEAD + HASH <= bytes.len() {
        if bytes[p + 4..p + 12] == needle
            && let Some((index, synced, _, _)) = record_at(bytes, p, epoch)
            && index > next
            && synced > next
        {
            return Err(corrupted("a journal record that was made durable is damaged"));
        }
        p += 1;
    }
    Ok(out)
}

/// The open journal of a redb store.
pub(crate) struct Journal {
    file: File,
    epoch: u64,
    /// Records written in this epoch.
    index: u64,
    /// Records of this epoch made durable.
    synced: u64,
    offset: u64,
}

impl Journal {
    /// Opens (or creates) the journal in `dir` and returns the batches of `epoch` to replay.
    pub(crate) fn open(dir: &Path, epoch: u64) -> StorageResult<(Journal, Vec<Vec<Replayed>>)> {
        let (file, bytes, created) = super::engine::open_side_file(dir, FILE)?;
        if created {
            super::engine::fsync_dir(dir)?;
        }
        let replay = scan(&bytes, epoch)?;
        Ok((Journal { file, epoch, index: 0, synced: 0, offset: 0 }, replay))
    }

    /// The current epoch.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Writes `batch` as the next record; with `sync`, it and every earlier record are on disk
    /// before this returns. A failed write leaves the journal as it was (the next record
    /// overwrites the partial one); a failed sync is reported as [`JournalFault::Sync`].
    pub(crate) fn append(&mut self, batch: &Batch, sync: bool) -> Result<(), JournalFault> {
        self.write(batch)?;
        if sync {
            self.sync()?;
        }
        Ok(())
    }

    /// Writes `batch` as the next record, without a sync (a failed write leaves the journal
    /// as it was).
    pub(crate) fn write(&mut self, batch: &Batch) -> Result<(), JournalFault> {
        let rec = encode(self.epoch, self.index, self.synced, batch).map_err(JournalFault::Write)?;
        self.file
            .seek(SeekFrom::Start(self.offset))
            .and_then(|_| self.file.write_all(&rec))
            .map_err(|e| JournalFault::Write(StorageError::from_io(e)))?;
        self.offset += rec.len() as u64;
        self.index += 1;
        Ok(())
    }

    /// Makes every record written so far durable.
    pub(crate) fn sync(&mut self) -> Result<(), JournalFault> {
        if self.synced < self.index {
            self.sync_file()?;
            self.mark_synced();
        }
        Ok(())
    }

    fn sync_file(&self) -> Result<(), JournalFault> {
        self.file.sync_data().map_err(|e| JournalFault::Sync(StorageError::from_io(e)))
    }

    /// Records that every record written so far was made durable (by a [`Syncer`]).
    pub(crate) fn mark_synced(&mut self) {
        self.synced = self.index;
    }

    /// Whether the epoch is long enough for a checkpoint.
    pub(crate) fn wants_checkpoint(&self) -> bool {
        self.index >= CHECKPOINT_RECORDS || self.offset >= CHECKPOINT_BYTES
    }

    /// Starts epoch `epoch` at the start of the file, once redb durably holds everything
    /// written so far and names `epoch` as current. The old records stay until overwritten:
    /// their epoch marks them stale. A file grown past twice the checkpoint size is cut back.
    pub(crate) fn restart(&mut self, epoch: u64) {
        self.epoch = epoch;
        self.index = 0;
        self.synced = 0;
        self.offset = 0;
        if self.file.metadata().is_ok_and(|m| m.len() > 2 * CHECKPOINT_BYTES) {
            let _ = self.file.set_len(CHECKPOINT_BYTES);
        }
    }

    /// Empties the file (after a final checkpoint: nothing in it is needed any more).
    pub(crate) fn clear(&mut self) {
        let _ = self.file.set_len(0);
    }
}

/// A thread that `fdatasync`s the journal, then runs what must follow the sync (the witness
/// write), while the writer applies the same batch to redb: the sync's wait and the apply's
/// work overlap. One job at a time (the writer holds the journal's lock throughout).
pub(crate) struct Syncer {
    jobs: Option<mpsc::Sender<SyncJob>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Syncer {
    /// Closes the queue and waits for the thread to end (it has no job left: the writer waits
    /// for each one).
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct SyncJob {
    then: super::AfterSync,
    done: mpsc::SyncSender<Result<StorageResult<()>, JournalFault>>,
}

/// A sync in flight.
pub(crate) struct SyncPending(mpsc::Receiver<Result<StorageResult<()>, JournalFault>>);

impl Syncer {
    /// Starts the thread over a second handle on the journal's file; `None` if it cannot be
    /// started (the writer then syncs in line).
    pub(crate) fn start(journal: &Journal) -> Option<Syncer> {
        let file = journal.file.try_clone().ok()?;
        let (jobs, rx) = mpsc::channel::<SyncJob>();
        let thread = std::thread::Builder::new()
            .name("medvault-journal-sync".into())
            .spawn(move || {
                for job in rx {
                    let result = match file.sync_data() {
                        Ok(()) => Ok((job.then)()),
                        Err(e) => Err(JournalFault::Sync(StorageError::from_io(e))),
                    };
                    let _ = job.done.send(result);
                }
            })
            .ok()?;
        Some(Syncer { jobs: Some(jobs), thread: Some(thread) })
    }

    /// Hands the thread a sync followed by `then`; gives `then` back if the thread is gone.
    pub(crate) fn begin(&self, then: super::AfterSync) -> Result<SyncPending, super::AfterSync> {
        let (done, wait) = mpsc::sync_channel(1);
        match &self.jobs {
            Some(jobs) => jobs.send(SyncJob { then, done }).map(|()| SyncPending(wait)).map_err(|e| e.0.then),
            None => Err(then),
        }
    }
}

impl SyncPending {
    /// The sync's outcome (`Err`: the sync failed or its thread died) and, inside, `then`'s.
    pub(crate) fn wait(self) -> Result<StorageResult<()>, JournalFault> {
        self.0.recv().unwrap_or_else(|_| {
            Err(JournalFault::Sync(StorageError::Engine {
                engine: "redb journal",
                what: "the journal's sync thread stopped",
                source: None,
            }))
        })
    }
}

/// How an append failed.
#[derive(Debug)]
pub(crate) enum JournalFault {
    /// The record could not be written: nothing changed.
    Write(StorageError),
    /// The sync failed: what reached the disk is unknown.
    Sync(StorageError),
}

impl JournalFault {
    pub(crate) fn into_error(self) -> StorageError {
        match self {
            JournalFault::Write(e) | JournalFault::Sync(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Space;

    fn batch(n: u8) -> Batch {
        let mut b = Batch::new();
        b.put(Space::AuditEvents, vec![n; 8], vec![n; 40 + n as usize]);
        b.delete(Space::Blind, vec![n, 1]);
        b
    }

    /// Records 0..n of epoch 7, the sync count as a writer that syncs every `sync_every` would
    /// write it.
    fn file(n: u8, sync_every: u8) -> (Vec<u8>, Vec<usize>) {
        let (mut out, mut ends, mut synced) = (Vec::new(), Vec::new(), 0u64);
        for i in 0..n {
            out.extend(encode(7, i as u64, synced, &batch(i)).unwrap_or_default());
            ends.push(out.len());
            if (i + 1) % sync_every == 0 {
                synced = i as u64 + 1;
            }
        }
        (out, ends)
    }

    #[test]
    fn records_round_trip() {
        let (bytes, _) = file(5, 1);
        let got = scan(&bytes, 7).unwrap_or_default();
        assert_eq!(got.len(), 5);
        let mut key = vec![Space::AuditEvents as u8];
        key.extend([3u8; 8]);
        assert_eq!(got[3][0], Replayed::Put(key, vec![3; 43]));
        assert_eq!(got[3][1], Replayed::Delete(vec![Space::Blind as u8, 3, 1]));
    }

    #[test]
    fn another_epoch_is_stale() {
        let (bytes, _) = file(5, 1);
        assert!(scan(&bytes, 8).unwrap_or_default().is_empty());
    }

    #[test]
    fn a_torn_tail_at_every_length_keeps_the_whole_records_before_it() {
        let (bytes, ends) = file(6, 1);
        for cut in 0..bytes.len() {
            let whole = ends.iter().filter(|e| **e <= cut).count();
            let got = scan(&bytes[..cut], 7);
            assert_eq!(got.map(|g| g.len()).ok(), Some(whole), "cut at {cut}");
        }
    }

    #[test]
    fn a_flip_in_a_durable_record_is_damage_not_a_torn_tail() {
        let (bytes, ends) = file(6, 1);
        let mut flipped = 0;
        for at in 0..ends[4] {
            let mut b = bytes.clone();
            b[at] ^= 0x10;
            // Every record but the last is followed by one that counts it as synced.
            assert!(scan(&b, 7).is_err(), "flip at {at} went unnoticed");
            flipped += 1;
        }
        assert_eq!(flipped, ends[4]);
    }

    #[test]
    fn an_unsynced_run_lost_out_of_order_is_a_crash() {
        // Records 0..6 written without a sync: the device may keep any of them.
        let (bytes, ends) = file(6, 100);
        let mut b = bytes.clone();
        b[ends[1] + 3] ^= 1; // record 2 torn, 3.. reached the disk
        assert_eq!(scan(&b, 7).map(|g| g.len()).ok(), Some(2));
    }

    #[test]
    fn a_stale_record_after_the_end_is_ignored() {
        let (old, _) = file(6, 1);
        let mut bytes = old.clone();
        let fresh = encode(8, 0, 0, &batch(9)).unwrap_or_default();
        bytes[..fresh.len()].copy_from_slice(&fresh);
        assert_eq!(scan(&bytes, 8).map(|g| g.len()).ok(), Some(1));
    }
}
