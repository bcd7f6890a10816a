//! Group commit: every operation's batch (its events, Merkle nodes, index entries and its own
//! writes) is staged in sequence order under the log's lock, then queued here. The first
//! waiter that finds no commit running becomes the leader: it takes everything queued, signs
//! one tree head for the whole group (and a checkpoint at each interval the group crosses),
//! and commits the group in one engine transaction with one sync, then wakes the others. No
//! lock is held across that I/O but the committer's own; operations wait only for the group
//! that holds their own events.
//!
//! If a group fails to commit, none of its operations is acknowledged, the operations queued
//! behind it fail too (their sequence numbers followed the lost ones), and the log reloads its
//! state from storage before taking new appends: no gap, no fork.

use super::checkpoint::{Checkpoint, TreeHead};
use super::event::AuditEvent;
use super::merkle::Hash;
use crate::codec;
use crate::crypto::SigningSecret;
use crate::error::{Error, Result, StorageError};
use crate::model::{StoreId, Timestamp};
use crate::storage::{Batch, Committer, Order, Space};
use parking_lot::{Condvar, Mutex, MutexGuard};
use std::sync::Arc;

/// One operation's staged writes.
pub(crate) struct Staged {
    /// Everything the operation writes, events included.
    pub batch: Batch,
    /// Must be on disk before the operation is acknowledged.
    pub durable: bool,
    /// The store's audit key, when the operation's session holds it.
    pub signer: Option<Arc<SigningSecret>>,
    /// Size and root of the tree once this operation's events are in (`None`: no event).
    pub tree: Option<(u64, Hash)>,
    /// A checkpoint must be stored at this operation's tree size.
    pub checkpoint: bool,
    /// When it was staged (the time signed in the head).
    pub time: Timestamp,
}

struct Queue {
    items: Vec<Staged>,
    /// Tickets handed out; ticket `n` is the `n`-th staged item.
    issued: u64,
    /// Every ticket up to this one is committed (or failed).
    done: u64,
    /// Ticket ranges (inclusive) whose group failed.
    failed: Vec<(u64, u64)>,
    leading: bool,
    /// Events in storage.
    applied_size: u64,
    /// Size covered by the stored signed head.
    signed_size: u64,
}

/// The queue of staged operations and its leader election.
pub(crate) struct GroupCommit {
    store: StoreId,
    interval: u64,
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Signing keys retired in this process (revoked or recovered users).
    retired: parking_lot::RwLock<std::collections::HashSet<[u8; 32]>>,
}

impl GroupCommit {
    pub(crate) fn new(store: StoreId, interval: u64, size: u64, signed_size: u64) -> Self {
        GroupCommit {
            store,
            interval,
            queue: Mutex::new(Queue {
                items: Vec::new(),
                issued: 0,
                done: 0,
                failed: Vec::new(),
                leading: false,
                applied_size: size,
                signed_size,
            }),
            wake: Condvar::new(),
            retired: parking_lot::RwLock::new(std::collections::HashSet::new()),
        }
    }

    /// Marks signing keys as retired (the caller holds the append lock).
    pub(crate) fn retire(&self, publics: &[[u8; 32]]) {
        self.retired.write().extend(publics.iter().copied());
    }

    /// Whether a signing key was retired in this process.
    pub(crate) fn is_retired(&self, public: &[u8; 32]) -> bool {
        let retired = self.retired.read();
        !retired.is_empty() && retired.contains(public)
    }

    /// The key a group is signed with, and the time its head states: the first operation's key
    /// that is not retired, with the group's last time; else (every operation with a key was
    /// staged before its key was retired) the first one's, with that operation's own time, which
    /// lies within the key's validity.
    fn group_signer(&self, items: &[Staged], last: Option<Timestamp>) -> Option<(Arc<SigningSecret>, Timestamp)> {
        let live =
            items.iter().filter_map(|i| i.signer.as_ref()).find(|s| !self.is_retired(&s.verifying_key())).cloned();
        match (live, last) {
            (Some(s), Some(t)) => Some((s, t)),
            _ => items.iter().find_map(|i| i.signer.clone().map(|s| (s, i.time))),
        }
    }

    /// Queues a staged operation (under the log's lock, so that queue order is sequence
    /// order); returns its ticket.
    pub(crate) fn enqueue(&self, item: Staged) -> u64 {
        let mut q = self.queue.lock();
        q.items.push(item);
        q.issued += 1;
        q.issued
    }

    /// Fails every queued item (the log's state was reset under its lock).
    pub(crate) fn fail_queued(&self) {
        let mut q = self.queue.lock();
        if !q.items.is_empty() {
            let lo = q.issued - q.items.len() as u64 + 1;
            let hi = q.issued;
            q.items.clear();
            q.failed.push((lo, hi));
        }
        self.wake.notify_all();
    }

    /// Sets the stored sizes after a reload.
    pub(crate) fn reset_sizes(&self, applied: u64, signed: u64) {
        let mut q = self.queue.lock();
        q.applied_size = applied;
        q.signed_size = signed;
    }

    /// Returns once the group holding `ticket` is committed (durable if any of its items asked).
    /// `on_failure` is called, without this queue's lock and while still leading (so that no
    /// other group commits meanwhile), when a group this thread led failed: the log resets its
    /// state and fails what was queued behind.
    pub(crate) fn wait(&self, committer: &Committer, ticket: u64, on_failure: &dyn Fn()) -> Result<()> {
        let mut q = self.queue.lock();
        loop {
            if q.failed.iter().any(|(lo, hi)| (*lo..=*hi).contains(&ticket)) {
                return Err(Error::AuditUnavailable(StorageError::Engine {
                    engine: "group commit",
                    what: "the group holding this operation failed to commit",
                    source: None,
                }));
            }
            if q.done >= ticket {
                return Ok(());
            }
            if q.leading {
                self.wake.wait(&mut q);
                continue;
            }
            q.leading = true;
            let items = std::mem::take(&mut q.items);
            let upto = q.issued;
            let lo = upto - items.len() as u64 + 1;
            let (applied, signed) = (q.applied_size, q.signed_size);
            let result = MutexGuard::unlocked(&mut q, || self.commit_group(committer, items, applied, signed));
            match result {
                Ok((size, signed)) => {
                    q.done = upto;
                    q.applied_size = size;
                    q.signed_size = signed;
                    q.leading = false;
                    self.wake.notify_all();
                }
                Err(e) => {
                    q.failed.push((lo, upto));
                    q.done = upto;
                    // The log's in-memory tree ran ahead of storage: it resets it under its own
                    // lock (never taken while holding this queue's lock).
                    MutexGuard::unlocked(&mut q, on_failure);
                    q.leading = false;
                    self.wake.notify_all();
                    return Err(e);
                }
            }
        }
    }

    /// Commits one group; returns the stored (size, signed size).
    fn commit_group(&self, committer: &Committer, items: Vec<Staged>, applied: u64, signed: u64) -> Result<(u64, u64)> {
        let durable = items.iter().any(|i| i.durable);
        let last = items.iter().rev().find_map(|i| i.tree.map(|t| (t, i.time)));
        let signer = self.group_signer(&items, last.map(|(_, t)| t));
        let forced = items.iter().any(|i| i.checkpoint);
        let mut batch = Batch::new();
        let mut size = applied;
        let mut new_signed = signed;
        let mut checkpoints = Vec::new();
        for item in items {
            if item.checkpoint
                && let Some(t) = item.tree
            {
                checkpoints.push((t, item.time));
            }
            batch.extend(item.batch);
        }
        if let Some(((end, _), _)) = last {
            size = end;
        }
        if let (Some((key, time)), Some(((end, root), _))) = (&signer, last)
            && (end > signed || forced)
            && self.unsigned_tail_is_legitimate(committer, signed, applied)
        {
            for ((at, at_root), at_time) in checkpoints {
                let cp = Checkpoint::sign(TreeHead { store: self.store, size: at, root: at_root, time: at_time }, key)?;
                batch.put(Space::Checkpoints, at.to_be_bytes().to_vec(), codec::encode(&cp)?);
            }
            let head = Checkpoint::sign(TreeHead { store: self.store, size: end, root, time: *time }, key)?;
            batch.put(Space::Meta, super::log::META_HEAD.to_vec(), codec::encode(&head)?);
            new_signed = end;
        }
        let mark = last.map(|((end, root), _)| super::log::encode_mark(self.store, end, &root));
        committer.commit(&batch, durable, mark).map_err(Error::AuditUnavailable)?;
        Ok((size, new_signed))
    }

    /// Whether every stored event after the latest signed head is a failed unlock or the
    /// lockout it caused (the only events appended without a key). Anything else was not
    /// written by medvault: signing over it would bless events planted through raw storage.
    fn unsigned_tail_is_legitimate(&self, committer: &Committer, signed: u64, applied: u64) -> bool {
        if signed >= applied {
            return true;
        }
        let lo = signed.to_be_bytes();
        let hi = applied.to_be_bytes();
        let Ok(rows) = committer.backend().range(Space::AuditEvents, &lo, Some(&hi), Order::Ascending, usize::MAX)
        else {
            return false;
        };
        let ok = rows.len() as u64 == applied - signed
            && rows.iter().all(|(_, v)| AuditEvent::decode(v).is_ok_and(|e| e.is_pre_authentication()));
        if !ok {
            tracing::error!(
                from = signed,
                "audit log holds unsigned events that are not failed unlocks; not signing (run verify)"
            );
        }
        ok
    }

    /// Whether an append of `count` events from `first` crosses a checkpoint interval.
    pub(crate) fn crosses(&self, first: u64, end: u64) -> bool {
        first / self.interval != end / self.interval
    }

    /// The stored signed size (for the explicit checkpoint's refusal).
    pub(crate) fn signed_size(&self) -> u64 {
        self.queue.lock().signed_size
    }
}
