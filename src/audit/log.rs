//! The append path: fail-closed, write-ahead, one atomic batch per call.
//!
//! One call appends one or more events *and* the operation's own writes (if any) in a single
//! atomic batch: the events, their Merkle leaves and completed nodes, the index entries, the new
//! frontier, and (when a session signs) a fresh signed tree head. Sequence numbers are taken
//! under one lock, so the log has no gap and no fork; durability (fsync) happens outside the lock
//! through the group committer, so concurrent sessions share flushes.
//!
//! The only way to obtain an [`AuditReceipt`] is a successful durable append; data leaves the
//! library only in exchange for a receipt (see `crate::session::Opened`).
// Re-exported by the `testing` module only; private otherwise.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub))]

use super::checkpoint::Checkpoint;
use super::event::{AuditEvent, EventDraft, RecordState, RecordWrite, record_digest};
use super::group::{GroupCommit, Staged};
use super::merkle::{Frontier, Hash, NodeSource};
use crate::clock::Clock;
use crate::codec;
use crate::crypto::SigningSecret;
use crate::error::{Error, Fault, IntegrityError, Object, Result};
use crate::model::{PatientId, StoreId, Timestamp};
use crate::storage::lease::LeaseGuard;
use crate::storage::{Backend, Batch, Committer, Durability, Op, Space};
use parking_lot::{Mutex, MutexGuard};

use std::sync::Arc;

pub(crate) const META_TREE: &[u8] = crate::layout::meta::AUDIT_TREE;
pub(crate) const META_HEAD: &[u8] = crate::layout::meta::AUDIT_HEAD;
/// Sequence number of the event from which stored records are checked against the log
/// (0: the store was created by a release that records writes; else a `RecordBaseline`).
pub(crate) const META_BASELINE: &[u8] = crate::layout::meta::RECORDS_BASELINE;
pub(crate) const META_AUTH_INDEX: &[u8] = crate::layout::meta::AUTH_INDEX_FROM;

/// Proof that audit events were durably appended. Only the audit log constructs it.
#[derive(Debug)]
pub struct AuditReceipt {
    first_seq: u64,
}

/// A staged append, not yet committed.
#[must_use]
pub struct PendingReceipt {
    receipt: AuditReceipt,
    ticket: u64,
    /// A shared store's writer lease, held until the append is committed.
    _lease: LeaseGuard,
}

impl PendingReceipt {
    /// Waits until the group holding the append is committed (on disk, unless every operation
    /// of the group was `Buffered`), then hands out the receipt. Call it outside any caller
    /// lock that other appends need, so that groups form.
    pub fn durable(self, log: &AuditLog, committer: &Committer) -> Result<AuditReceipt> {
        log.group.wait(committer, self.ticket, &|| log.reset(committer))?;
        Ok(self.receipt)
    }
}

impl AuditReceipt {
    /// Sequence number of the first event appended.
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }
}

const FRONTIER_FORMAT: u16 = 1;

/// Decodes the stored `(format, frontier)` pair; the frontier MUST hold one hash per set bit
/// of its size.
pub fn decode_frontier(bytes: &[u8]) -> Result<Frontier> {
    let (format, frontier): (u16, Frontier) = codec::decode(bytes, crate::error::Object::AuditTree)?;
    if format != FRONTIER_FORMAT {
        return Err(IntegrityError::new(Object::AuditTree, Fault::UnsupportedFormat(format.into())).into());
    }
    if frontier.hashes.len() != frontier.size.count_ones() as usize {
        return Err(IntegrityError::new(Object::AuditTree, Fault::Broken("its hash count does not match its size"))
            .at(frontier.size)
            .into());
    }
    Ok(frontier)
}

/// Witness mark format: `format u16 LE (1) ‖ store (16) ‖ size u64 LE ‖ root (32)`.
const MARK_FORMAT: u16 = 1;

/// The witness mark of a tree head.
pub(crate) fn encode_mark(store: StoreId, size: u64, root: &Hash) -> Vec<u8> {
    let mut m = Vec::with_capacity(58);
    m.extend_from_slice(&MARK_FORMAT.to_le_bytes());
    m.extend_from_slice(&store.0);
    m.extend_from_slice(&size.to_le_bytes());
    m.extend_from_slice(root);
    m
}

/// Decodes a witness mark: `(store, size, root)`.
pub(crate) fn decode_mark(m: &[u8]) -> Option<(StoreId, u64, Hash)> {
    if m.len() != 58 || m[..2] != MARK_FORMAT.to_le_bytes() {
        return None;
    }
    let store = StoreId(m[2..18].try_into().ok()?);
    let size = u64::from_le_bytes(m[18..26].try_into().ok()?);
    Some((store, size, m[26..58].try_into().ok()?))
}

/// Whether a write to this place is part of the audit log's own state (derived from events or
/// signed with the audit key, and checked by `verify` that way) rather than a record an
/// operation wrote.
pub(crate) fn is_audit_state(space: Space, key: &[u8]) -> bool {
    space.is_audit()
        || (space == Space::Meta
            && (key == META_TREE || key == META_HEAD || key == META_AUTH_INDEX || key == super::retention::META_PRUNED))
}

/// The records a batch writes, as the operation's first event records them.
/// Attachment chunks are left out: the attachment record the same operation writes holds their
/// chain digest.
pub(crate) fn record_writes(batch: &Batch) -> Vec<RecordWrite> {
    batch
        .ops()
        .iter()
        .filter_map(|op| match op {
            Op::Put(Space::AttachmentChunks, ..) | Op::Delete(Space::AttachmentChunks, _) => None,
            Op::Put(space, key, value) if !is_audit_state(*space, key) => Some(RecordWrite {
                space: *space as u8,
                key: key.clone(),
                state: RecordState::Digest(record_digest(value)),
            }),
            Op::Delete(space, key) if !is_audit_state(*space, key) => {
                Some(RecordWrite { space: *space as u8, key: key.clone(), state: RecordState::Deleted })
            }
            _ => None,
        })
        .collect()
}

/// Storage key of node (level, index).
pub(crate) fn node_key(level: u8, index: u64) -> Vec<u8> {
    crate::layout::audit_node(level, index)
}

/// Index key of a user name (names are hashed so index keys have a fixed width).
pub(crate) fn user_index_prefix(name: &str) -> [u8; 16] {
    crate::layout::audit_user_prefix(name)
}

/// Index key of a time (sortable big-endian, sign bit flipped).
pub(crate) fn time_index_prefix(t: Timestamp) -> [u8; 8] {
    crate::layout::audit_time_prefix(t)
}

pub(crate) fn patient_index_key(p: PatientId, seq: u64) -> Vec<u8> {
    crate::layout::audit_by_patient(p, seq)
}

/// Reads perfect nodes straight from a backend.
pub(crate) struct BackendNodes<'a>(pub &'a dyn Backend);

impl NodeSource for BackendNodes<'_> {
    fn node(&self, level: u8, index: u64) -> Option<Hash> {
        let v = self.0.get(Space::AuditNodes, &node_key(level, index)).ok()??;
        v.try_into().ok()
    }
}

struct State {
    frontier: Frontier,
    /// A group failed and the state could not be reloaded from storage: appends are refused
    /// until a reload succeeds.
    broken: bool,
    /// Whether the store records where its authentication index starts (written by the first
    /// append of a release that keeps the index).
    auth_indexed: bool,
    /// The writer lease generation the state was loaded under (shared stores: another process
    /// may have appended while this one did not hold the lease).
    generation: u64,
}

/// The append-only, tamper-evident audit log of one store.
pub struct AuditLog {
    state: Mutex<State>,
    group: GroupCommit,
    clock: Arc<dyn Clock>,
}

/// The stored frontier and signed size of a log.
fn stored_state(backend: &dyn Backend) -> Result<(Frontier, u64, bool)> {
    // One read of the three (one round trip on a server, where this runs at every lease).
    let mut found = backend.get_many(Space::Meta, &[META_TREE, META_HEAD, META_AUTH_INDEX])?.into_iter();
    let (tree, head, auth) = (found.next().flatten(), found.next().flatten(), found.next().flatten());
    let frontier = match tree {
        Some(bytes) => decode_frontier(&bytes)?,
        None => Frontier::default(),
    };
    let signed_size = match head {
        Some(bytes) => codec::decode::<Checkpoint>(&bytes, crate::error::Object::SignedHead)?.head.size,
        None => 0,
    };
    Ok((frontier, signed_size, auth.is_some()))
}

impl AuditLog {
    /// Loads the log state of a store.
    pub fn load(
        backend: &dyn Backend,
        store: StoreId,
        checkpoint_interval: u64,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let (frontier, signed_size, auth_indexed) = stored_state(backend)?;
        Ok(AuditLog {
            group: GroupCommit::new(store, checkpoint_interval.max(1), frontier.size, signed_size),
            state: Mutex::new(State { frontier, broken: false, auth_indexed, generation: 0 }),
            clock,
        })
    }

    /// Marks signing keys as retired in this process, before their certificates are closed:
    /// from now on no operation signed with one is staged, and every operation staged before
    /// carries an earlier time (both under the append lock).
    pub(crate) fn retire_signers(&self, publics: &[[u8; 32]]) {
        let _appends = self.state.lock();
        self.group.retire(publics);
    }

    /// Whether a signing key was retired in this process.
    pub(crate) fn is_retired(&self, public: &[u8; 32]) -> bool {
        self.group.is_retired(public)
    }

    /// After a failed group: reloads the tree from storage (what is there is what was
    /// committed) and fails the operations staged on the lost state.
    fn reset(&self, committer: &Committer) {
        let mut guard = self.state.lock();
        self.reload(&mut guard, committer);
        self.group.fail_queued();
    }

    /// Reloads the tree from storage (under the append lock); `false` if it could not be read.
    fn reload(&self, state: &mut State, committer: &Committer) -> bool {
        match stored_state(committer.backend().as_ref()) {
            Ok((frontier, signed, auth_indexed)) => {
                self.group.reset_sizes(frontier.size, signed);
                state.frontier = frontier;
                state.broken = false;
                state.auth_indexed = auth_indexed;
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "audit log state could not be reloaded from storage");
                state.broken = true;
                false
            }
        }
    }

    /// Number of events in the log.
    pub fn size(&self) -> u64 {
        self.state.lock().frontier.size
    }

    /// Appends `drafts` and `extra` atomically. The result must be made durable with
    /// [`PendingReceipt::durable`] (outside any caller lock, so that flushes are shared).
    /// On any failure nothing is appended and the caller must return no data.
    pub fn append(
        &self,
        committer: &Committer,
        drafts: Vec<EventDraft>,
        extra: Batch,
        signer: Option<Arc<SigningSecret>>,
        durability: Durability,
    ) -> Result<PendingReceipt> {
        self.append_with(committer, drafts, |_| Ok(extra), signer, durability)
    }

    /// Like [`AuditLog::append`], with the operation's writes built from the sequence number of
    /// its first event (records that name their audit event, such as break-glass accesses).
    pub fn append_with(
        &self,
        committer: &Committer,
        drafts: Vec<EventDraft>,
        extra: impl FnOnce(u64) -> Result<Batch>,
        signer: Option<Arc<SigningSecret>>,
        durability: Durability,
    ) -> Result<PendingReceipt> {
        self.append_core(committer, drafts, |seq, _| extra(seq), signer, durability)
    }

    /// Records, once, the digest of every record a store of format 1 holds (one event per 4096
    /// records, in one batch): from this point on `verify` checks stored records against the log.
    /// Runs under the append lock, so no operation can slip between the scan and the events.
    pub(crate) fn append_baseline(
        &self,
        committer: &Committer,
        draft: EventDraft,
        signer: Arc<SigningSecret>,
    ) -> Result<PendingReceipt> {
        let backend = committer.backend().clone();
        self.append_core(
            committer,
            Vec::new(),
            |seq, drafts| {
                let mut all = Vec::new();
                // Attachment chunks are checked through their attachment (none exist in
                // format 1 stores, the only ones that get a baseline).
                for space in Space::ALL.into_iter().filter(|s| *s != Space::AttachmentChunks) {
                    for (key, value) in backend.scan_prefix(space, &[])? {
                        if !is_audit_state(space, &key) {
                            all.push(RecordWrite {
                                space: space as u8,
                                key,
                                state: RecordState::Digest(record_digest(&value)),
                            });
                        }
                    }
                }
                let mut chunks: Vec<Vec<RecordWrite>> = all.chunks(4096).map(<[RecordWrite]>::to_vec).collect();
                if chunks.is_empty() {
                    chunks.push(Vec::new());
                }
                for chunk in chunks {
                    let mut d = draft.clone();
                    d.writes = chunk;
                    drafts.push(d);
                }
                let mut batch = Batch::new();
                batch.put(Space::Meta, META_BASELINE.to_vec(), seq.to_be_bytes().to_vec());
                Ok(batch)
            },
            Some(signer),
            Durability::Immediate,
        )
    }

    fn append_core(
        &self,
        committer: &Committer,
        mut drafts: Vec<EventDraft>,
        build: impl FnOnce(u64, &mut Vec<EventDraft>) -> Result<Batch>,
        signer: Option<Arc<SigningSecret>>,
        durability: Durability,
    ) -> Result<PendingReceipt> {
        let (mut guard, lease) = self.enter(committer)?;
        if signer.as_ref().is_some_and(|s| self.group.is_retired(&s.verifying_key())) {
            return Err(Error::Denied(crate::error::Denied::SessionRetired));
        }
        let mut frontier = guard.frontier.clone();
        let first_seq = frontier.size;
        let before = self.expected_tree(&lease, &frontier)?;
        let extra = build(first_seq, &mut drafts)?;
        let count = drafts.len() as u64;
        if count == 0 {
            return Err(IntegrityError::new(
                Object::AuditEvent,
                Fault::Broken("an audited operation must append at least one event"),
            )
            .into());
        }
        let end = first_seq + count;
        let now = self.clock.now();
        // The first event commits to every record the operation writes, and to the signed
        // records its group stores (the head, a checkpoint) by presence.
        let mut writes = record_writes(&extra);
        let crossed = self.group.crosses(first_seq, end);
        if signer.is_some() {
            if crossed {
                writes.push(RecordWrite {
                    space: Space::Checkpoints as u8,
                    key: end.to_be_bytes().to_vec(),
                    state: RecordState::Present,
                });
            }
            writes.push(RecordWrite { space: Space::Meta as u8, key: META_HEAD.to_vec(), state: RecordState::Present });
        }
        let mut batch = Batch::new();
        if let Some(before) = before {
            batch.expect(Space::Meta, META_TREE.to_vec(), before);
        }
        for (i, draft) in drafts.into_iter().enumerate() {
            let mut event = draft.finish(frontier.size, now);
            if i == 0 {
                event.writes.append(&mut writes);
            }
            self.stage_event(&mut batch, &mut frontier, &event)?;
        }
        batch.put(Space::Meta, META_TREE.to_vec(), codec::encode(&(FRONTIER_FORMAT, &frontier))?);
        if !guard.auth_indexed {
            batch.put(Space::Meta, META_AUTH_INDEX.to_vec(), first_seq.to_be_bytes().to_vec());
        }
        batch.extend(extra);
        let tree = Some((frontier.size, frontier.root()));
        let checkpoint = crossed && signer.is_some();
        let durable = durability == Durability::Immediate;
        let ticket = self.group.enqueue(Staged { batch, durable, signer, tree, checkpoint, time: now });
        guard.frontier = frontier;
        guard.auth_indexed = true;
        Ok(PendingReceipt { receipt: AuditReceipt { first_seq }, ticket, _lease: lease })
    }

    /// Takes the writer lease (shared stores) and the append lock, with the state reloaded from
    /// storage if a failed group left it behind, or if this process took the lease afresh.
    fn enter(&self, committer: &Committer) -> Result<(MutexGuard<'_, State>, LeaseGuard)> {
        let lease = committer.lease().acquire().map_err(Error::AuditUnavailable)?;
        let mut guard = self.state.lock();
        if lease.is_shared() && guard.generation != lease.generation() && self.reload(&mut guard, committer) {
            // Another process may have appended while this one did not hold the lease. What
            // this process staged under an earlier lease was committed or failed before the
            // lease was released (an item left behind fails on its expectation).
            guard.generation = lease.generation();
        }
        if guard.broken {
            drop(guard);
            self.reset(committer);
            guard = self.state.lock();
            if guard.broken {
                return Err(Error::AuditUnavailable(crate::error::StorageError::Engine {
                    engine: "audit log",
                    what: "the log's state could not be reloaded after a failed commit",
                    source: None,
                }));
            }
        }
        Ok((guard, lease))
    }

    /// What a shared store must hold as the tree when a group starting at `frontier` commits
    /// (`None`: nothing to check; `Some(None)`: no tree stored yet).
    #[allow(clippy::option_option)]
    fn expected_tree(&self, lease: &LeaseGuard, frontier: &Frontier) -> Result<Option<Option<Vec<u8>>>> {
        if !lease.is_shared() {
            return Ok(None);
        }
        Ok(Some(if frontier.size == 0 { None } else { Some(codec::encode(&(FRONTIER_FORMAT, frontier))?) }))
    }

    fn stage_event(&self, batch: &mut Batch, frontier: &mut Frontier, event: &AuditEvent) -> Result<()> {
        let seq = event.seq;
        let bytes = event.encode()?;
        let leaf = super::merkle::leaf_hash(&bytes);
        for (level, index, hash) in frontier.push(leaf) {
            batch.put(Space::AuditNodes, node_key(level, index), hash.to_vec());
        }
        let seq_be = seq.to_be_bytes();
        batch.put(Space::AuditEvents, seq_be.to_vec(), bytes);
        if let Some(p) = event.entity.patient {
            batch.put(Space::AuditByPatient, patient_index_key(p, seq), Vec::new());
        }
        batch.put(Space::AuditByUser, crate::layout::audit_by_user(&event.agent.name, seq), Vec::new());
        // Events about a user (account changes, lockouts) are found under their name too.
        if let Some(t) = event.entity.target_user.as_deref().filter(|t| *t != event.agent.name) {
            batch.put(Space::AuditByUser, crate::layout::audit_by_user(t, seq), Vec::new());
        }
        batch.put(Space::AuditByTime, crate::layout::audit_by_time(event.recorded_at, seq), Vec::new());
        if event.is_authentication() {
            batch.put(Space::AuditAuthByUser, crate::layout::audit_by_user(&event.agent.name, seq), Vec::new());
            if let Some(t) = event.entity.target_user.as_deref().filter(|t| *t != event.agent.name) {
                batch.put(Space::AuditAuthByUser, crate::layout::audit_by_user(t, seq), Vec::new());
            }
        }
        Ok(())
    }

    /// Signs and stores a checkpoint of the current tree (on close, or on demand), through the
    /// group commit so that it lands after every operation staged before it.
    pub fn checkpoint(&self, committer: &Committer, key: Arc<SigningSecret>) -> Result<Checkpoint> {
        let (ticket, size, _lease) = {
            let (guard, lease) = self.enter(committer)?;
            let size = guard.frontier.size;
            let mut batch = Batch::new();
            if let Some(before) = self.expected_tree(&lease, &guard.frontier)? {
                batch.expect(Space::Meta, META_TREE.to_vec(), before);
            }
            let item = Staged {
                batch,
                durable: true,
                signer: Some(key),
                tree: Some((size, guard.frontier.root())),
                checkpoint: true,
                time: self.clock.now(),
            };
            (self.group.enqueue(item), size, lease)
        };
        self.group.wait(committer, ticket, &|| self.reset(committer))?;
        match committer.backend().get(Space::Checkpoints, &size.to_be_bytes())? {
            Some(bytes) if self.group.signed_size() >= size => codec::decode::<Checkpoint>(&bytes, Object::Checkpoint),
            _ => Err(IntegrityError::new(
                Object::SignedHead,
                Fault::Broken(
                    "the log holds unsigned events that are not failed unlocks; refusing to sign a checkpoint",
                ),
            )
            .at(size)
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frontier_whose_hash_count_does_not_match_its_size_is_an_integrity_error() {
        // size 3 has two set bits: one hash is missing. Decoding used to accept it and the
        // next append panicked on the missing hash.
        let bad = Frontier { size: 3, hashes: vec![[7; 32]] };
        let bytes = codec::encode(&(FRONTIER_FORMAT, &bad)).unwrap();
        assert!(matches!(
            decode_frontier(&bytes),
            Err(Error::Integrity(IntegrityError { object: Object::AuditTree, .. }))
        ));
        let good = Frontier { size: 3, hashes: vec![[7; 32], [8; 32]] };
        assert_eq!(decode_frontier(&codec::encode(&(FRONTIER_FORMAT, &good)).unwrap()).unwrap(), good);
    }

    #[test]
    fn witness_marks_round_trip_and_reject_other_lengths() {
        let store = StoreId([5; 16]);
        let m = encode_mark(store, 42, &[9; 32]);
        assert_eq!(decode_mark(&m), Some((store, 42, [9; 32])));
        assert_eq!(decode_mark(&m[..57]), None);
        let mut other = m.clone();
        other[0] = 2;
        assert_eq!(decode_mark(&other), None);
    }
}
