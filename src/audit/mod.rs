//! The audit log: every access, allowed or denied, recorded before any data leaves.
//!
//! Invariants:
//! - An event is durably committed before the plaintext it covers is released (fail closed).
//! - Events are never rewritten; the log is an RFC 9162 Merkle tree with signed checkpoints, so
//!   an edit, deletion, reordering, insertion or truncation is found by verification ([`VerifyReport`]).
//! - Events hold ids, names, roles and codes; never section content.

pub(crate) mod anchor;
pub(crate) mod checkpoint;
pub(crate) mod event;
pub(crate) mod group;
pub(crate) mod lockout;
pub(crate) mod log;
pub(crate) mod merkle;
mod pages;
pub(crate) mod proof;
pub(crate) mod query;
pub(crate) mod retention;
pub(crate) mod verify;

pub use crate::keyring::signers::{SignedBy, SignerCert, TrustedSigners};
pub use checkpoint::{Checkpoint, TreeHead};
pub(crate) use event::EventDraft;
pub use event::{Action, Agent, AuditEvent, Entity, Outcome, Purpose, RecordState, RecordWrite};
pub(crate) use log::{AuditLog, AuditReceipt, PendingReceipt};
pub use proof::EventProof;
pub use query::AuditQuery;
pub use verify::{HeadSigners, Problem, VerifyReport};
