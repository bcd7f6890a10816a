//! The audit log: every access, allowed or denied, recorded before any data leaves.
//!
//! Invariants:
//! - An event is durably committed before the plaintext it covers is released (fail closed).
//! - Events are never rewritten; the log is an RFC 9162 Merkle tree with signed checkpoints, so
//!   an edit, deletion, reordering, insertion or truncation is found by [`verify::verify`].
//! - Events hold ids, names, roles and codes; never section content.

pub mod anchor;
pub mod checkpoint;
pub mod event;
pub mod lockout;
pub mod log;
pub mod merkle;
pub mod proof;
pub mod query;
pub mod retention;
pub mod verify;

pub use checkpoint::{Checkpoint, TreeHead};
pub use event::{
    Action, Agent, AuditEvent, Entity, EventDraft, Outcome, Purpose, RecordState, RecordWrite, record_digest,
};
pub use log::{AuditLog, AuditReceipt, PendingReceipt};
pub use proof::EventProof;
pub use query::AuditQuery;
pub use verify::{Problem, VerifyReport};
