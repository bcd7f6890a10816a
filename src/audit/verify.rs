//! Full verification of a store's audit log.
//!
//! Recomputes every leaf from the stored event bytes, rebuilds the tree, and checks: sequence
//! numbers are gap-free and match their keys; stored leaves match the recomputed ones; every
//! stored checkpoint (and the latest signed head) has a valid signature and the root of the
//! recomputed tree at its size; events after the last signed head can only be failed unlock
//! attempts (which happen before any key is available to sign); events below a signed pruning
//! horizon may have lost their payload but keep their leaf; and, given an anchor, that the log
//! extends it (same root at the anchor's size, and a consistency proof from stored nodes).

use super::checkpoint::Checkpoint;
use super::event::{Action, AuditEvent, RecordState, record_digest};
use super::log::{BackendNodes, META_HEAD, META_TREE, node_key};
use super::merkle::{self, Frontier, Hash};
use super::pages::{EventPage, read_pages};
use super::retention;
use crate::codec;
use crate::error::{Fault, IntegrityError, Object, Result};
use crate::keyring::StoreHeader;
use crate::keyring::signers::{SignedBy, TrustedSigners};
use crate::model::StoreId;
use crate::storage::{Backend, Space};
use serde::Serialize;
use std::collections::BTreeMap;

/// One inconsistency, at the first sequence number it affects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// First sequence number that is (or may be) bad.
    pub seq: u64,
    /// What is wrong.
    pub what: String,
}

/// What verification found.
#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    /// Events found.
    pub size: u64,
    /// Recomputed root (hex).
    pub root: String,
    /// Signed checkpoints checked.
    pub checkpoints_checked: usize,
    /// Size covered by the latest valid signature.
    pub signed_size: u64,
    /// Events whose payload was pruned under the retention setting (leaves kept).
    pub pruned: u64,
    /// Whether an anchor was checked.
    pub anchored: bool,
    /// Who signed the valid stored heads, with how many each and the largest size signed.
    pub signed_by: Vec<HeadSigners>,
    /// Stored records checked against the records the log says were written (`None`: the log
    /// has no starting point for that check, see [`Action::RecordBaseline`]).
    pub records_checked: Option<u64>,
    /// Attachment chunks checked against the chain digests of their attachments.
    pub attachment_chunks_checked: u64,
    /// Attachments begun and never completed (an interrupted `attach`): never readable.
    pub attachments_interrupted: u64,
    /// Problems, in sequence order (empty: the log verifies).
    pub problems: Vec<Problem>,
}

/// The valid stored heads one key signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeadSigners {
    /// Who signed.
    pub signer: SignedBy,
    /// How many stored heads (checkpoints and the latest signed head).
    pub heads: u64,
    /// The largest log size among them.
    pub up_to: u64,
}

impl VerifyReport {
    /// Whether the log verified.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
    /// The recomputed root as bytes.
    pub(crate) fn root_hash(&self) -> Option<Hash> {
        hex::decode(&self.root).ok().and_then(|r| r.try_into().ok())
    }
    /// The first bad sequence number, if any.
    pub fn first_bad_seq(&self) -> Option<u64> {
        self.problems.iter().map(|p| p.seq).min()
    }
}

type SignedHeads = BTreeMap<u64, Vec<(String, Checkpoint)>>;

/// Rebuilds the tree leaf by leaf and checks each signed head as its size is reached.
struct Walker<'a> {
    frontier: Frontier,
    heads: &'a SignedHeads,
    last_good: u64,
    problems: Vec<Problem>,
}

impl Walker<'_> {
    fn push(&mut self, leaf: Hash) {
        self.frontier.push(leaf);
        let size = self.frontier.size;
        let Some(heads) = self.heads.get(&size) else {
            return;
        };
        let root = self.frontier.root();
        let mut ok = true;
        for (what, cp) in heads {
            if cp.head.root != root {
                ok = false;
                // Name the first event found bad in this range, if one was.
                let precise = self.problems.iter().map(|p| p.seq).filter(|s| (self.last_good..size).contains(s)).min();
                let from = self.last_good;
                self.problems.push(Problem {
                    seq: precise.unwrap_or(from),
                    what: format!(
                        "root of the first {size} events differs from the {what} (events {from}..{size} altered)"
                    ),
                });
            }
        }
        if ok && self.problems.is_empty() {
            self.last_good = size;
        }
    }
}

fn signed_heads(
    backend: &dyn Backend,
    signers: &TrustedSigners,
    anchor: Option<&Checkpoint>,
    problems: &mut Vec<Problem>,
) -> Result<(SignedHeads, u64, Vec<HeadSigners>)> {
    let store = signers.store();
    let mut heads: SignedHeads = BTreeMap::new();
    for (k, v) in backend.scan_prefix(Space::Checkpoints, &[])? {
        match codec::decode::<Checkpoint>(&v, crate::error::Object::Checkpoint) {
            Ok(cp) => {
                if k != cp.head.size.to_be_bytes() {
                    problems.push(Problem { seq: cp.head.size, what: "checkpoint stored under another size".into() });
                }
                heads.entry(cp.head.size).or_default().push(("checkpoint".into(), cp));
            }
            Err(_) => problems.push(Problem { seq: 0, what: "undecodable checkpoint".into() }),
        }
    }
    if let Some(v) = backend.get(Space::Meta, META_HEAD)? {
        match codec::decode::<Checkpoint>(&v, crate::error::Object::SignedHead) {
            Ok(cp) => heads.entry(cp.head.size).or_default().push(("latest signed head".into(), cp)),
            Err(_) => problems.push(Problem { seq: 0, what: "undecodable signed head".into() }),
        }
    }
    if let Some(a) = anchor {
        heads.entry(a.head.size).or_default().push(("anchor".into(), a.clone()));
    }
    let mut signed_size = 0u64;
    let mut tally: BTreeMap<SignedBy, (u64, u64)> = BTreeMap::new();
    for (size, cps) in heads.iter_mut() {
        cps.retain(|(what, cp)| match cp.verify(signers, store) {
            Ok(by) => {
                if what != "anchor" {
                    let t = tally.entry(by).or_default();
                    t.0 += 1;
                    t.1 = t.1.max(*size);
                }
                true
            }
            Err(e) => {
                problems.push(Problem { seq: size.saturating_sub(1), what: format!("{what}: {e}") });
                false
            }
        });
        if !cps.is_empty() {
            signed_size = signed_size.max(*size);
        }
    }
    let by = tally.into_iter().map(|(signer, (heads, up_to))| HeadSigners { signer, heads, up_to }).collect();
    Ok((heads, signed_size, by))
}

/// Verifies the whole log of a store; `progress` is told how many events were checked.
pub(crate) fn verify(
    backend: &dyn Backend,
    header: &StoreHeader,
    anchor: Option<&Checkpoint>,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyReport> {
    let store = header.store;
    let mut problems = Vec::new();
    let (signers, bad) = TrustedSigners::load(backend, header)?;
    for key in bad {
        problems.push(Problem {
            seq: 0,
            what: format!("signer certificate {} does not verify under the directory key", hex::encode(key)),
        });
    }
    let (heads, signed_size, signed_by) = signed_heads(backend, &signers, anchor, &mut problems)?;
    let horizon = match retention::load_mark(backend)? {
        Some(mark) => match mark.verify(&signers, store) {
            Ok(h) => h,
            Err(e) => {
                problems.push(Problem { seq: 0, what: format!("pruning mark: {e}") });
                0
            }
        },
        None => 0,
    };
    let mut w = Walker { frontier: Frontier::default(), heads: &heads, last_good: 0, problems };

    // Below the pruning horizon only leaves remain; the signed roots vouch for them.
    for seq in 0..horizon {
        match backend.get(Space::AuditNodes, &node_key(0, seq))?.and_then(|v| <[u8; 32]>::try_from(v).ok()) {
            Some(leaf) => w.push(leaf),
            None => {
                w.problems.push(Problem { seq, what: "leaf of a pruned event is missing".into() });
                break;
            }
        }
    }

    let mut records: Option<Records> = None;
    let mut unsigned_kinds_ok = true;
    // Pages are read ahead on other threads (events, then their stored leaves; `pages`), so
    // that reading the engine and hashing the events overlap.
    std::thread::scope(|scope| -> Result<()> {
        let (tx, pages) = std::sync::mpsc::sync_channel::<Result<EventPage>>(1);
        scope.spawn(move || read_pages(backend, horizon, &tx));
        'scan: for page in pages {
            let EventPage { events: page, leaves } = page?;
            for (k, v) in &page {
                let expected = w.frontier.size;
                let key_seq = <[u8; 8]>::try_from(k.as_slice()).map(u64::from_be_bytes).ok();
                if key_seq != Some(expected) {
                    w.problems.push(Problem {
                        seq: expected,
                        what: match key_seq {
                            Some(s) if s > expected => {
                                format!("events {expected}..{s} are missing (deleted)")
                            }
                            _ => "event stored under an unexpected key".into(),
                        },
                    });
                    break 'scan;
                }
                let leaf = merkle::leaf_hash(v);
                match AuditEvent::decode(v) {
                    Ok(ev) if ev.seq == expected => {
                        if expected >= signed_size && !ev.is_pre_authentication() {
                            unsigned_kinds_ok = false;
                        }
                        let baseline = ev.format >= 2
                            && ((ev.seq == 0 && ev.action == Action::StoreCreate)
                                || ev.action == Action::RecordBaseline);
                        if baseline && records.is_none() {
                            records = Some(Records::new());
                        }
                        if let Some(r) = records.as_mut() {
                            for w in ev.writes {
                                r.insert((w.space, w.key), (w.state, ev.seq));
                            }
                        }
                    }
                    Ok(ev) => w.problems.push(Problem {
                        seq: expected,
                        what: format!("event claims seq {} (moved or swapped)", ev.seq),
                    }),
                    Err(_) => {
                        w.problems.push(Problem { seq: expected, what: "event bytes do not decode (edited)".into() })
                    }
                }
                if leaves.get(&expected) != Some(&leaf) {
                    w.problems
                        .push(Problem { seq: expected, what: "event does not match its Merkle leaf (edited)".into() });
                }
                w.push(leaf);
            }
            progress(w.frontier.size);
        }
        Ok(())
    })?;
    let Walker { frontier, mut problems, .. } = w;
    let size = frontier.size;
    if let Some((&max_signed, _)) = heads.iter().next_back()
        && max_signed > size
    {
        problems.push(Problem {
            seq: size,
            what: format!("log ends at {size} events but a signed head covers {max_signed}: truncated or rolled back"),
        });
    }
    if !unsigned_kinds_ok && signed_size < size {
        problems.push(Problem {
            seq: signed_size,
            what: format!(
                "events {signed_size}..{size} are not covered by any signature and are not failed unlocks: inserted"
            ),
        });
    }
    if let Some(bytes) = backend.get(Space::Meta, META_TREE)? {
        match super::log::decode_frontier(&bytes) {
            Ok(f) if f == frontier => {}
            Ok(f) => problems
                .push(Problem { seq: f.size.min(size), what: "stored tree state differs from the events".into() }),
            Err(_) => problems.push(Problem { seq: 0, what: "undecodable tree state".into() }),
        }
    }
    // Anchor: the current log must extend it, by a consistency proof over the stored nodes.
    if let Some(a) = anchor
        && a.head.size <= size
        && a.head.size > 0
        && problems.is_empty()
    {
        let root = frontier.root();
        let ok = merkle::consistency_proof(&BackendNodes(backend), a.head.size, size)
            .map(|p| merkle::verify_consistency(a.head.size, size, &a.head.root, &root, &p))
            .unwrap_or(false);
        if !ok {
            problems.push(Problem {
                seq: a.head.size,
                what: "no valid consistency proof from the anchor to the current log".into(),
            });
        }
    }
    // Records are checked against a sound log only: a damaged log names the wrong writes.
    let records_checked = match records {
        Some(expected) if problems.is_empty() => Some(check_records(backend, &expected, size, &mut problems)?),
        _ => None,
    };
    let chunks = crate::attachment::check_chunks(backend)?;
    problems.extend(chunks.problems.into_iter().map(|what| Problem { seq: size, what }));
    problems.sort_by_key(|p| p.seq);
    problems.dedup();
    Ok(VerifyReport {
        size,
        root: hex::encode(frontier.root()),
        checkpoints_checked: heads.values().map(Vec::len).sum(),
        signed_size,
        pruned: horizon,
        anchored: anchor.is_some(),
        signed_by,
        records_checked,
        attachment_chunks_checked: chunks.chunks,
        attachments_interrupted: chunks.interrupted,
        problems,
    })
}

/// Whether `cp` is a valid signed head of this store (by a key trusted at its time) that the
/// log of `size` events with root `root` extends (a consistency proof from stored nodes).
pub(crate) fn extends(
    backend: &dyn Backend,
    signers: &TrustedSigners,
    cp: &Checkpoint,
    size: u64,
    root: &Hash,
) -> Result<bool> {
    if cp.verify(signers, signers.store()).is_err() || cp.head.size > size {
        return Ok(false);
    }
    if cp.head.size == size {
        return Ok(&cp.head.root == root);
    }
    if cp.head.size == 0 {
        return Ok(true);
    }
    Ok(merkle::consistency_proof(&BackendNodes(backend), cp.head.size, size)
        .map(|p| merkle::verify_consistency(cp.head.size, size, &cp.head.root, root, &p))
        .unwrap_or(false))
}

/// What the log says each record should be: `(space, key) -> (state, seq of the last write)`.
type Records = BTreeMap<(u8, Vec<u8>), (RecordState, u64)>;

fn place(space: Space, key: &[u8]) -> String {
    let shown = if key.iter().all(|b| b.is_ascii_graphic()) {
        String::from_utf8_lossy(key).into_owned()
    } else {
        hex::encode(key)
    };
    format!("{space:?} record {shown}")
}

/// Checks every stored record against the log, in both directions: a record the log wrote must
/// be there with exactly the bytes it wrote; a record the log never wrote must not be there.
/// Returns how many stored records were checked.
fn check_records(backend: &dyn Backend, expected: &Records, size: u64, problems: &mut Vec<Problem>) -> Result<u64> {
    let mut seen = std::collections::BTreeSet::new();
    let mut checked = 0u64;
    for space in Space::ALL {
        // Attachment chunks are checked against their attachment's chain digest instead
        // (`crate::attachment::check_chunks`).
        if (space.is_audit() && space != Space::Checkpoints) || space == Space::AttachmentChunks {
            continue;
        }
        // A page at a time: the values are only hashed.
        crate::storage::scan_pages(backend, space, &[], |page| -> Result<()> {
            for (key, value) in page {
                let id = (space as u8, key.clone());
                // Audit state is checked against the events; only what the log names by presence
                // (the signed head) is looked for here.
                if space != Space::Checkpoints
                    && super::log::is_audit_state(space, &id.1)
                    && !expected.contains_key(&id)
                {
                    continue;
                }
                match expected.get(&id) {
                    // Closing checkpoints are written without an event; only those the log names
                    // must exist.
                    None if space == Space::Checkpoints => continue,
                    None => problems.push(Problem {
                        seq: size,
                        what: format!("{} was written by no audited operation (planted)", place(space, &id.1)),
                    }),
                    Some((RecordState::Deleted, seq)) => problems.push(Problem {
                        seq: *seq,
                        what: format!(
                            "{} was deleted by event {seq} but is present (planted back)",
                            place(space, &id.1)
                        ),
                    }),
                    Some((RecordState::Digest(d), seq)) if *d != record_digest(value) => problems.push(Problem {
                        seq: *seq,
                        what: format!(
                            "{} differs from what event {seq} wrote (replaced, rolled back or edited)",
                            place(space, &id.1)
                        ),
                    }),
                    Some(_) => {}
                }
                checked += 1;
                seen.insert(id);
            }
            Ok(())
        })?;
    }
    for ((space, key), (state, seq)) in expected {
        if !matches!(state, RecordState::Deleted) && !seen.contains(&(*space, key.clone())) {
            let name = Space::ALL.into_iter().find(|s| *s as u8 == *space).map(|s| place(s, key));
            problems.push(Problem {
                seq: *seq,
                what: format!(
                    "{} written by event {seq} is missing (deleted)",
                    name.unwrap_or_else(|| "a record".into())
                ),
            });
        }
    }
    Ok(checked)
}

/// Compares the witness mark with the log: the log must hold at least the events the witness
/// saw acknowledged, with the same root at that size.
pub(crate) fn witness_problem(
    backend: &dyn Backend,
    store: StoreId,
    log_size: u64,
    mark: &[u8],
) -> Option<IntegrityError> {
    let Some((wstore, wsize, wroot)) = super::log::decode_mark(mark) else {
        return Some(IntegrityError::new(Object::Witness, Fault::Undecodable));
    };
    if wstore != store {
        return Some(IntegrityError::new(Object::Witness, Fault::ForeignStore));
    }
    if wsize > log_size {
        // The engine dropped its newest commits, or the store was rolled back.
        return Some(
            IntegrityError::new(Object::Witness, Fault::Lost { found: log_size, acknowledged: wsize }).at(log_size),
        );
    }
    match merkle::range_hash(&BackendNodes(backend), 0, wsize) {
        Ok(root) if root == wroot => None,
        _ => Some(IntegrityError::new(Object::Witness, Fault::Rewritten { size: wsize }).at(0)),
    }
}

impl From<&IntegrityError> for Problem {
    fn from(e: &IntegrityError) -> Problem {
        Problem { seq: e.seq.unwrap_or(0), what: e.to_string() }
    }
}
