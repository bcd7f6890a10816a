//! Audit events, mapped to FHIR AuditEvent. No clinical content, minimal personal data: ids,
//! user names, roles, codes, and a hash instead of a search query.
// Re-exported by the `testing` module only; private otherwise.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub))]

use crate::model::{EntryId, PatientId, Section, SessionId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use serde_with::{Bytes, IfIsHumanReadable, hex::Hex};
use strum::{Display, EnumString, IntoStaticStr, VariantArray};

/// What happened. Names are stable kebab-case (`patient-create`), in JSON and on the CLI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[derive(IntoStaticStr, EnumString, VariantArray, Display)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
#[non_exhaustive]
pub enum Action {
    /// Store created.
    StoreCreate,
    /// Unlock attempt (success or failure).
    Unlock,
    /// A section read.
    Read,
    /// A patient created.
    PatientCreate,
    /// An entry or revision written.
    Write,
    /// A reception lookup (one event per patient returned).
    Search,
    /// An export.
    Export,
    /// A user created.
    UserAdd,
    /// A user revoked.
    UserRevoke,
    /// Roles of a user changed.
    RoleChange,
    /// A user changed their passphrase.
    PassphraseChange,
    /// Keys delivered (sealed) to a user.
    KeyDelivery,
    /// A new key version created.
    KeyCreate,
    /// Access restored with recovery shares.
    Recover,
    /// An auditor queried the log.
    AuditQuery,
    /// The log was verified.
    AuditVerify,
    /// A checkpoint was exported (anchored).
    CheckpointExport,
    /// Audit payloads past retention were pruned.
    AuditPrune,
    /// A member added to a patient's care team.
    CareTeamAdd,
    /// A member removed from a patient's care team.
    CareTeamRemove,
    /// A patient's opposition to a professional recorded.
    Opposition,
    /// A patient's opposition withdrawn.
    OppositionWithdraw,
    /// An emergency (break-glass) access opened.
    BreakGlass,
    /// A break-glass access reviewed by an auditor.
    BreakGlassReview,
    /// A user locked out after failed unlocks (the detail gives the end).
    Lockout,
    /// A lockout lifted by an administrator.
    LockoutLift,
    /// Data keys rewrapped under a newer section key version.
    KeyRewrap,
    /// A section key version promoted to primary, or older versions retired.
    KeyPolicy,
    /// A litigation hold set or lifted.
    LegalHold,
    /// A file purged (crypto-shredded) after its retention period, or an erasure refused.
    Purge,
    /// A patient's request registered or closed (copy, rectification, erasure, objection).
    Request,
    /// The records present when a store of format 1 was first opened by a later release: the
    /// starting point from which `verify` checks stored records against the log.
    RecordBaseline,
    /// A backup of the whole store taken (`medvault backup`).
    Backup,
    /// An attachment added to an entry (begun, completed or abandoned: the detail says which).
    Attach,
    /// A store restored from a backup older than an anchored checkpoint, forced by an
    /// administrator (the reason is sealed).
    RestoreForced,
    /// A professional's name and profession set by an administrator.
    ProfileSet,
}

impl Action {
    /// Every action.
    pub const ALL: &'static [Action] = <Action as strum::VariantArray>::VARIANTS;
    /// Stable kebab-case name.
    pub fn name(self) -> &'static str {
        self.into()
    }
    /// Parses a kebab-case name.
    pub fn parse(s: &str) -> crate::Result<Action> {
        s.parse().map_err(|_| {
            let known: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
            crate::model::InvalidInput::unknown("action", &known).into()
        })
    }
    /// FHIR AuditEvent.action code (C, R, U, D, E).
    pub fn fhir_action(self) -> &'static str {
        match self {
            Action::PatientCreate | Action::UserAdd | Action::StoreCreate | Action::KeyCreate => "C",
            Action::Read | Action::Search | Action::AuditQuery | Action::AuditVerify => "R",
            Action::Write | Action::RoleChange | Action::PassphraseChange | Action::KeyDelivery | Action::Recover => {
                "U"
            }
            Action::UserRevoke | Action::AuditPrune | Action::CareTeamRemove | Action::Purge => "D",
            Action::LegalHold | Action::Request => "U",
            Action::CareTeamAdd | Action::Opposition | Action::BreakGlass | Action::Attach => "C",
            Action::OppositionWithdraw
            | Action::BreakGlassReview
            | Action::Lockout
            | Action::LockoutLift
            | Action::KeyRewrap
            | Action::KeyPolicy
            | Action::RecordBaseline
            | Action::RestoreForced
            | Action::ProfileSet => "U",
            Action::Unlock | Action::Export | Action::CheckpointExport | Action::Backup => "E",
        }
    }
}

/// How it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString, Display)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
#[non_exhaustive]
pub enum Outcome {
    /// Done.
    Success,
    /// Refused by policy or authentication.
    Denied,
    /// Failed (integrity, missing key, storage).
    Error,
}

impl Outcome {
    /// Stable name.
    pub fn name(self) -> &'static str {
        self.into()
    }
    /// Parses a name.
    pub fn parse(s: &str) -> crate::Result<Outcome> {
        s.parse().map_err(|_| crate::model::InvalidInput::unknown("outcome", &["success", "denied", "error"]).into())
    }
}

/// Why the access was made (FHIR purposeOfUse, HL7 v3 ActReason).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString, Display)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
#[non_exhaustive]
pub enum Purpose {
    /// Care of the patient (TREAT).
    Treatment,
    /// Emergency / break-glass (ETREAT, BTG).
    Emergency,
    /// Billing (HPAYMT).
    Billing,
    /// The patient's own request (PATRQT).
    PatientRequest,
    /// Legal obligation, court or regulator (HLEGAL).
    Legal,
    /// Administration of the store itself (HOPERAT).
    Operations,
}

impl Purpose {
    /// Stable name.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// Who acted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    /// The user (absent when the name given at unlock matched no account).
    pub user: Option<UserId>,
    /// The user name as given.
    pub name: String,
    /// Roles held when acting.
    pub roles: Vec<String>,
    /// The session (absent before unlock).
    pub session: Option<SessionId>,
    /// Workstation or application id given by the integrator.
    pub workstation: String,
}

/// What was touched.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    /// Patient.
    pub patient: Option<PatientId>,
    /// Section.
    pub section: Option<Section>,
    /// Entry.
    pub entry: Option<EntryId>,
    /// Revision.
    pub revision: Option<u32>,
    /// The blind token of a search (events written before 0.2 only; searches no longer record
    /// anything of their query).
    pub query: Option<[u8; 32]>,
    /// A user acted upon (user management, key delivery).
    pub target_user: Option<String>,
}

/// The state an operation left a stored record in, as its audit event records it. Byte strings
/// are hex in JSON and raw (length-prefixed) in the binary codec.
#[serde_with::serde_as]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RecordState {
    /// The record was removed.
    Deleted,
    /// The record holds exactly the value with this digest (SHA-256 of the tag
    /// `medvault/record/v1` followed by the value: docs/format.md).
    Digest(#[serde_as(as = "IfIsHumanReadable<Hex, Bytes>")] [u8; 32]),
    /// The record exists; its value is signed elsewhere (checkpoints, the signed head).
    Present,
}

/// One record an operation wrote: keyspace byte, logical key, resulting state.
#[serde_with::serde_as]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordWrite {
    /// Keyspace byte (docs/format.md §1).
    pub space: u8,
    /// Logical key.
    #[serde_as(as = "IfIsHumanReadable<Hex, Bytes>")]
    pub key: Vec<u8>,
    /// What the record became.
    pub state: RecordState,
}

/// Digest of a stored record value: `SHA-256("medvault/record/v1" ‖ value)`.
pub fn record_digest(value: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"medvault/record/v1");
    h.update(value);
    h.finalize().into()
}

/// Current format of new events (3: the fields of format 2 in the compact encoding).
pub(crate) const EVENT_FORMAT: u16 = 3;

/// The fields of a format 3 event after its format, in the compact encoding (docs/format.md §4).
type CompactBody = (u64, Timestamp, Action, Outcome, Agent, Purpose, Entity, Option<String>, Vec<RecordWrite>);

/// One audit event as stored (the leaf data of the Merkle tree is its encoding,
/// [`AuditEvent::encode`]; format 1 events have no `writes`; format 3 is format 2 with
/// variable-width integers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Format version of the event encoding (1, 2 or 3).
    pub format: u16,
    /// Sequence number (0-based, gap-free); equals the leaf index.
    pub seq: u64,
    /// When it was recorded (UTC).
    pub recorded_at: Timestamp,
    /// What happened.
    pub action: Action,
    /// How it ended.
    pub outcome: Outcome,
    /// Who.
    pub agent: Agent,
    /// Why.
    pub purpose: Purpose,
    /// On what.
    pub entity: Entity,
    /// A reason (denial cause, break-glass justification, revision reason is *not* put here).
    pub detail: Option<String>,
    /// The records the operation wrote (format 2; on the first event of an operation only), so
    /// that `verify` can check every stored record against the log in both directions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<RecordWrite>,
}

/// The fields of every format (format 1 is exactly these; format 2 appends `writes`, so its
/// encoding is `codec((EventFields, Vec<RecordWrite>))`).
#[derive(Serialize, Deserialize)]
struct EventFields {
    format: u16,
    seq: u64,
    recorded_at: Timestamp,
    action: Action,
    outcome: Outcome,
    agent: Agent,
    purpose: Purpose,
    entity: Entity,
    detail: Option<String>,
}

impl EventFields {
    fn into_event(self, writes: Vec<RecordWrite>) -> AuditEvent {
        AuditEvent {
            format: self.format,
            seq: self.seq,
            recorded_at: self.recorded_at,
            action: self.action,
            outcome: self.outcome,
            agent: self.agent,
            purpose: self.purpose,
            entity: self.entity,
            detail: self.detail,
            writes,
        }
    }
}

/// An event before it has a sequence number and a time.
#[derive(Clone, Debug)]
pub struct EventDraft {
    /// What happened.
    pub action: Action,
    /// How it ended.
    pub outcome: Outcome,
    /// Who.
    pub agent: Agent,
    /// Why.
    pub purpose: Purpose,
    /// On what.
    pub entity: Entity,
    /// A reason.
    pub detail: Option<String>,
    /// Records written, set by the audit log itself.
    pub(crate) writes: Vec<RecordWrite>,
}

impl AuditEvent {
    /// The stored bytes of the event (the Merkle leaf data), in the layout of its format.
    pub fn encode(&self) -> crate::Result<Vec<u8>> {
        if self.format == 3 {
            let body = (
                &self.seq,
                &self.recorded_at,
                &self.action,
                &self.outcome,
                &self.agent,
                &self.purpose,
                &self.entity,
                &self.detail,
                &self.writes,
            );
            let mut bytes = 3u16.to_le_bytes().to_vec();
            bytes.extend(crate::codec::encode_compact(&body)?);
            return Ok(bytes);
        }
        let e = self.clone();
        let fields = EventFields {
            format: e.format,
            seq: e.seq,
            recorded_at: e.recorded_at,
            action: e.action,
            outcome: e.outcome,
            agent: e.agent,
            purpose: e.purpose,
            entity: e.entity,
            detail: e.detail,
        };
        match e.format {
            1 if e.writes.is_empty() => crate::codec::encode(&fields),
            2 => crate::codec::encode(&(fields, e.writes)),
            f => Err(crate::error::IntegrityError::new(
                crate::error::Object::AuditEvent,
                crate::error::Fault::UnsupportedFormat(f.into()),
            )
            .at(self.seq)
            .into()),
        }
    }

    /// Decodes stored event bytes of format 1, 2 or 3 (strictly: one meaning per byte string,
    /// and for format 3 one byte string per meaning).
    pub fn decode(bytes: &[u8]) -> crate::Result<AuditEvent> {
        let split = bytes.split_first_chunk::<2>().map(|(format, body)| (u16::from_le_bytes(*format), body));
        match split {
            Some((3, body)) => {
                let (seq, recorded_at, action, outcome, agent, purpose, entity, detail, writes): CompactBody =
                    crate::codec::decode_compact(body, crate::error::Object::AuditEvent)?;
                Ok(AuditEvent { format: 3, seq, recorded_at, action, outcome, agent, purpose, entity, detail, writes })
            }
            Some((1, _)) => {
                Ok(crate::codec::decode::<EventFields>(bytes, crate::error::Object::AuditEvent)?.into_event(Vec::new()))
            }
            Some((2, _)) => {
                let (fields, writes): (EventFields, Vec<RecordWrite>) =
                    crate::codec::decode(bytes, crate::error::Object::AuditEvent)?;
                Ok(fields.into_event(writes))
            }
            _ => Err(crate::error::IntegrityError::new(
                crate::error::Object::AuditEvent,
                crate::error::Fault::Undecodable,
            )
            .into()),
        }
    }

    /// Whether the event can change its user's lockout state (indexed in `AuditAuthByUser`).
    pub(crate) fn is_authentication(&self) -> bool {
        matches!(self.action, Action::Unlock | Action::Recover | Action::Lockout | Action::LockoutLift)
    }

    /// Events appended before any key is available, hence never signed by themselves: failed
    /// unlocks and the lockouts they cause. Only these may follow the last signed tree head.
    pub fn is_pre_authentication(&self) -> bool {
        matches!((self.action, self.outcome), (Action::Unlock, Outcome::Denied | Outcome::Error) | (Action::Lockout, _))
    }
}

impl EventDraft {
    /// A draft with no entity.
    pub fn new(action: Action, outcome: Outcome, agent: Agent, purpose: Purpose) -> Self {
        EventDraft { action, outcome, agent, purpose, entity: Entity::default(), detail: None, writes: Vec::new() }
    }
    /// Sets the entity.
    pub fn entity(mut self, entity: Entity) -> Self {
        self.entity = entity;
        self
    }
    /// Sets the detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
    /// Adds to the detail (after "; " when there is one already).
    pub(crate) fn append_detail(mut self, more: &str) -> Self {
        self.detail = Some(match self.detail.take() {
            Some(d) => format!("{d}; {more}"),
            None => more.to_string(),
        });
        self
    }
    pub(crate) fn finish(self, seq: u64, recorded_at: Timestamp) -> AuditEvent {
        AuditEvent {
            format: EVENT_FORMAT,
            seq,
            recorded_at,
            action: self.action,
            outcome: self.outcome,
            agent: self.agent,
            purpose: self.purpose,
            entity: self.entity,
            detail: self.detail,
            writes: self.writes,
        }
    }
}
