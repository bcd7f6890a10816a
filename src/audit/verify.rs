//! Full verification of a store's audit log.
//!
//! Recomputes every leaf from the stored event bytes, rebuilds the tree, and checks: sequence
//! numbers are gap-free and match their keys; stored leaves and nodes match the recomputed ones;
//! every stored checkpoint (and the latest signed head) has a valid signature and the root of
//! the recomputed tree at its size; events after the last signed head can only be failed unlock
//! attempts (which happen before any key is available to sign); and, given an anchor, that the
//! log extends it (same root at the anchor's size, and a consistency proof from stored nodes).

use super::checkpoint::Checkpoint;
use super::event::{Action, AuditEvent, Outcome};
use super::log::{BackendNodes, META_HEAD, META_TREE, node_key};
use super::merkle::{self, Frontier, Hash};
use crate::codec;
use crate::error::Result;
use crate::model::StoreId;
use crate::storage::{Backend, Order, Space};
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
    /// Whether an anchor was checked.
    pub anchored: bool,
    /// Problems, in sequence order (empty: the log verifies).
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// Whether the log verified.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
    /// The first bad sequence number, if any.
    pub fn first_bad_seq(&self) -> Option<u64> {
        self.problems.iter().map(|p| p.seq).min()
    }
}

/// Verifies the whole log of a store.
pub fn verify(
    backend: &dyn Backend,
    store: StoreId,
    audit_public: &[u8; 32],
    anchor: Option<&Checkpoint>,
) -> Result<VerifyReport> {
    let mut problems = Vec::new();
    // Signed heads by size: stored checkpoints, the latest head, the anchor.
    let mut checkpoints: BTreeMap<u64, Vec<(String, Checkpoint)>> = BTreeMap::new();
    for (k, v) in backend.scan_prefix(Space::Checkpoints, &[])? {
        match codec::decode::<Checkpoint>(&v, "checkpoint") {
            Ok(cp) => {
                if k != cp.head.size.to_be_bytes() {
                    problems.push(Problem {
                        seq: cp.head.size,
                        what: "checkpoint stored under another size".into(),
                    });
                }
                checkpoints
                    .entry(cp.head.size)
                    .or_default()
                    .push(("checkpoint".into(), cp));
            }
            Err(_) => problems.push(Problem {
                seq: 0,
                what: "undecodable checkpoint".into(),
            }),
        }
    }
    if let Some(v) = backend.get(Space::Meta, META_HEAD)? {
        match codec::decode::<Checkpoint>(&v, "signed head") {
            Ok(cp) => checkpoints
                .entry(cp.head.size)
                .or_default()
                .push(("latest signed head".into(), cp)),
            Err(_) => problems.push(Problem {
                seq: 0,
                what: "undecodable signed head".into(),
            }),
        }
    }
    if let Some(a) = anchor {
        checkpoints
            .entry(a.head.size)
            .or_default()
            .push(("anchor".into(), a.clone()));
    }
    let mut signed_size = 0u64;
    let mut valid_sizes = Vec::new();
    for (size, cps) in &checkpoints {
        for (what, cp) in cps {
            match cp.verify(audit_public, store) {
                Ok(()) => {
                    valid_sizes.push(*size);
                    signed_size = signed_size.max(*size);
                }
                Err(e) => problems.push(Problem {
                    seq: size.saturating_sub(1),
                    what: format!("{what}: {e}"),
                }),
            }
        }
    }

    let mut frontier = Frontier::default();
    let mut roots_at: BTreeMap<u64, Hash> = BTreeMap::new();
    let mut last_good_cp = 0u64;
    let mut unsigned_kinds_ok = true;
    let mut lo: Vec<u8> = Vec::new();
    'scan: loop {
        let page = backend.range(Space::AuditEvents, &lo, None, Order::Ascending, 4096)?;
        for (k, v) in &page {
            let expected = frontier.size;
            let key_seq = <[u8; 8]>::try_from(k.as_slice())
                .map(u64::from_be_bytes)
                .ok();
            if key_seq != Some(expected) {
                problems.push(Problem {
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
            match codec::decode::<AuditEvent>(v, "audit event") {
                Ok(ev) if ev.seq == expected => {
                    if expected >= signed_size
                        && !(ev.action == Action::Unlock && ev.outcome != Outcome::Success)
                    {
                        unsigned_kinds_ok = false;
                    }
                }
                Ok(ev) => problems.push(Problem {
                    seq: expected,
                    what: format!("event claims seq {} (moved or swapped)", ev.seq),
                }),
                Err(_) => problems.push(Problem {
                    seq: expected,
                    what: "event bytes do not decode (edited)".into(),
                }),
            }
            let stored_leaf = backend.get(Space::AuditNodes, &node_key(0, expected))?;
            if stored_leaf.as_deref() != Some(leaf.as_slice()) {
                problems.push(Problem {
                    seq: expected,
                    what: "event does not match its Merkle leaf (edited)".into(),
                });
            }
            frontier.push(leaf);
            let size = frontier.size;
            if checkpoints.contains_key(&size) {
                let root = frontier.root();
                roots_at.insert(size, root);
                for (what, cp) in &checkpoints[&size] {
                    if cp.head.root != root {
                        // Name the first event found bad in this range, if one was.
                        let precise = problems
                            .iter()
                            .map(|p| p.seq)
                            .filter(|s| (last_good_cp..size).contains(s))
                            .min();
                        problems.push(Problem {
                            seq: precise.unwrap_or(last_good_cp),
                            what: format!("root of the first {size} events differs from the {what} (events {last_good_cp}..{size} altered)"),
                        });
                    }
                }
                if problems.is_empty() {
                    last_good_cp = size;
                }
            }
        }
        match page.last() {
            Some((k, _)) if page.len() == 4096 => {
                lo = k.clone();
                lo.push(0);
            }
            _ => break,
        }
    }
    let size = frontier.size;
    // Signed heads beyond the end: the log was truncated.
    if let Some((&max_signed, _)) = checkpoints.iter().next_back()
        && max_signed > size
    {
        problems.push(Problem { seq: size, what: format!("log ends at {size} events but a signed head covers {max_signed}: truncated or rolled back") });
    }
    if !unsigned_kinds_ok && signed_size < size {
        problems.push(Problem {
            seq: signed_size,
            what: format!("events {signed_size}..{size} are not covered by any signature and are not failed unlocks: inserted"),
        });
    }
    // The stored frontier must agree with what was recomputed.
    if let Some(bytes) = backend.get(Space::Meta, META_TREE)? {
        match super::log::decode_frontier(&bytes) {
            Ok(f) if f == frontier => {}
            Ok(f) => problems.push(Problem {
                seq: f.size.min(size),
                what: "stored tree state differs from the events".into(),
            }),
            Err(_) => problems.push(Problem {
                seq: 0,
                what: "undecodable tree state".into(),
            }),
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
    problems.sort_by_key(|p| p.seq);
    problems.dedup();
    Ok(VerifyReport {
        size,
        root: hex::encode(frontier.root()),
        checkpoints_checked: checkpoints.values().map(Vec::len).sum(),
        signed_size,
        anchored: anchor.is_some(),
        problems,
    })
}
