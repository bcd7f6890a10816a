//! Break-glass: an emergency access to a patient outside the care team, with a mandatory
//! justification, for a bounded time, reviewed afterwards by an auditor.
//!
//! Storage (docs/format.md §4): `BreakGlass[patient ‖ user ‖ seq]` = `codec(StoredBreakGlass)`.
//! Format 2 seals the justification (`super::notes`) to its author, the auditors and the
//! recovery key; format 1 (earlier releases) holds it in clear and is still read. The audit
//! events name the access (`break-glass #seq`), never the justification.

use super::Session;
use super::notes::{NotePlace, SealedNote};
use crate::audit::{Action, Entity, EventDraft, Outcome, Purpose};
use crate::codec;
use crate::error::{Denied, Error, Existing, Fault, IntegrityError, Missing, Object, Result};
use crate::model::{InvalidInput, PatientId, Section, Timestamp, UserId};
use crate::storage::{Batch, Space};
use serde::{Deserialize, Serialize};

/// Longest break-glass justification accepted, in characters.
pub(crate) const MAX_JUSTIFICATION: usize = 2000;

/// An emergency access as listed for review. `Debug` leaves the justification out.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BreakGlassRecord {
    /// Sequence number of the audit event that opened it (its id).
    pub seq: u64,
    /// Patient.
    pub patient: PatientId,
    /// Who opened it.
    pub user: String,
    /// Why, for a reader of the justification (its author, the auditors when it was written);
    /// `None` for anyone else.
    pub justification: Option<String>,
    /// When.
    pub opened_at: Timestamp,
    /// Until when.
    pub expires_at: Timestamp,
    /// The auditor who reviewed it.
    pub reviewed_by: Option<String>,
    /// When it was reviewed.
    pub reviewed_at: Option<Timestamp>,
}

impl std::fmt::Debug for BreakGlassRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreakGlassRecord")
            .field("seq", &self.seq)
            .field("patient", &self.patient)
            .field("user", &self.user)
            .field("justification", &self.justification.as_ref().map(|_| "<redacted>"))
            .field("opened_at", &self.opened_at)
            .field("expires_at", &self.expires_at)
            .field("reviewed_by", &self.reviewed_by)
            .field("reviewed_at", &self.reviewed_at)
            .finish()
    }
}

/// The justification as stored.
#[derive(Clone)]
pub(crate) enum Justification {
    /// Format 1: in clear (written by earlier releases).
    Clear(String),
    /// Format 2: sealed.
    Sealed(SealedNote),
}

/// A break-glass access as stored (format 2), and as decoded from either format.
#[derive(Clone)]
pub(crate) struct StoredBreakGlass {
    pub seq: u64,
    pub patient: PatientId,
    pub user: String,
    pub justification: Justification,
    pub opened_at: Timestamp,
    pub expires_at: Timestamp,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<Timestamp>,
}

/// Both formats as encoded: format 1 holds the justification as a `String`, format 2 as a
/// `SealedNote`.
#[derive(Serialize, Deserialize)]
struct Encoded<J> {
    format: u16,
    seq: u64,
    patient: PatientId,
    user: String,
    justification: J,
    opened_at: Timestamp,
    expires_at: Timestamp,
    reviewed_by: Option<String>,
    reviewed_at: Option<Timestamp>,
}

impl<J> Encoded<J> {
    fn into_stored(self, justification: impl FnOnce(J) -> Justification) -> StoredBreakGlass {
        StoredBreakGlass {
            seq: self.seq,
            patient: self.patient,
            user: self.user,
            justification: justification(self.justification),
            opened_at: self.opened_at,
            expires_at: self.expires_at,
            reviewed_by: self.reviewed_by,
            reviewed_at: self.reviewed_at,
        }
    }
}

impl StoredBreakGlass {
    /// Decodes either format (told apart by their first two bytes, the format).
    pub(crate) fn decode(bytes: &[u8]) -> Result<StoredBreakGlass> {
        match codec::leading_format(bytes) {
            1 => Ok(codec::decode::<Encoded<String>>(bytes, Object::BreakGlass)?.into_stored(Justification::Clear)),
            2 => {
                Ok(codec::decode::<Encoded<SealedNote>>(bytes, Object::BreakGlass)?.into_stored(Justification::Sealed))
            }
            other => Err(IntegrityError::new(Object::BreakGlass, Fault::UnsupportedFormat(other.into())).into()),
        }
    }

    fn encoded<J>(&self, format: u16, justification: J) -> Encoded<J> {
        Encoded {
            format,
            seq: self.seq,
            patient: self.patient,
            user: self.user.clone(),
            justification,
            opened_at: self.opened_at,
            expires_at: self.expires_at,
            reviewed_by: self.reviewed_by.clone(),
            reviewed_at: self.reviewed_at,
        }
    }

    /// Encodes it in its own format (a format 1 record keeps its clear text until it is gone).
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        match &self.justification {
            Justification::Clear(text) => codec::encode(&self.encoded(1, text)),
            Justification::Sealed(note) => codec::encode(&self.encoded(2, note)),
        }
    }
}

impl Session {
    /// Opens an emergency access to a patient for `hours` (default and maximum from the policy),
    /// with a mandatory justification, sealed to its author, the auditors and the recovery key.
    /// It only lifts the care-team and opposition rules: it never grants a section the user's
    /// roles do not allow. Returns its id (the audit sequence number).
    pub fn break_glass(&self, patient: PatientId, justification: &str, hours: Option<u32>) -> Result<u64> {
        let settings = &self.inner.header.policy.settings;
        let ent = Entity { patient: Some(patient), ..Entity::default() };
        let any_section = Section::ALL.iter().any(|s| self.inner.header.policy.may_read(&self.user.roles, *s));
        self.require(any_section, Action::BreakGlass, ent.clone(), Denied::SectionRead(Section::Reports))?;
        let text = justification.trim();
        let chars = text.chars().count();
        if chars < settings.break_glass_min_justification || chars > MAX_JUSTIFICATION {
            return Err(InvalidInput::OutOfRange {
                what: "the length of a break-glass justification (characters)",
                min: settings.break_glass_min_justification as u64,
                max: MAX_JUSTIFICATION as u64,
            }
            .into());
        }
        let hours = hours.unwrap_or(settings.break_glass_default_hours);
        if hours == 0 || hours > settings.break_glass_max_hours {
            return Err(InvalidInput::OutOfRange {
                what: "a break-glass duration (hours)",
                min: 1,
                max: settings.break_glass_max_hours.into(),
            }
            .into());
        }
        if !self.patient_exists(patient)? {
            return Err(self.refuse(Action::BreakGlass, ent, Error::no_patient(patient)));
        }
        let now = self.inner.clock.now();
        let user: (UserId, String) = (self.user.id, self.user.name.clone());
        let draft = EventDraft::new(Action::BreakGlass, Outcome::Success, self.agent(), Purpose::Emergency)
            .entity(ent)
            .detail(format!("for {hours} h; justification sealed"));
        let pending = self.inner.audit.append_with(
            &self.inner.committer,
            vec![draft],
            |seq| {
                let place = NotePlace::BreakGlass { patient, user: user.0, seq };
                let rec = StoredBreakGlass {
                    seq,
                    patient,
                    user: user.1.clone(),
                    justification: Justification::Sealed(self.seal_note(place, text)?),
                    opened_at: now,
                    expires_at: now.plus_millis(hours as i64 * 3_600_000),
                    reviewed_by: None,
                    reviewed_at: None,
                };
                let mut batch = Batch::new();
                batch.put(Space::BreakGlass, crate::layout::break_glass(patient, user.0, seq), rec.encode()?);
                Ok(batch)
            },
            self.keys().audit_signer(),
            self.durability,
        )?;
        Ok(pending.durable(&self.inner.audit, &self.inner.committer)?.first_seq())
    }

    /// Every break-glass record with its storage key and the user id in it.
    fn all_break_glass(&self) -> Result<Vec<(Vec<u8>, UserId, StoredBreakGlass)>> {
        let mut out = Vec::new();
        for (k, v) in self.inner.backend.scan_prefix(Space::BreakGlass, &[])? {
            let user: [u8; 16] = k
                .get(16..32)
                .and_then(|u| u.try_into().ok())
                .ok_or(IntegrityError::new(Object::BreakGlass, Fault::BadLength))?;
            out.push((k, UserId(user), StoredBreakGlass::decode(&v)?));
        }
        Ok(out)
    }

    /// A stored access as this session may see it.
    fn listed(&self, user: UserId, r: StoredBreakGlass) -> BreakGlassRecord {
        let justification = match &r.justification {
            Justification::Clear(text) => Some(text.clone()),
            Justification::Sealed(note) => {
                self.open_note(NotePlace::BreakGlass { patient: r.patient, user, seq: r.seq }, note)
            }
        };
        BreakGlassRecord {
            seq: r.seq,
            patient: r.patient,
            user: r.user,
            justification,
            opened_at: r.opened_at,
            expires_at: r.expires_at,
            reviewed_by: r.reviewed_by,
            reviewed_at: r.reviewed_at,
        }
    }

    /// Break-glass accesses for review (auditors), newest first, with the justifications this
    /// auditor may read. Audited as a query.
    pub fn break_glass_list(&self, pending_only: bool) -> Result<Vec<BreakGlassRecord>> {
        self.require(
            self.inner.header.policy.may_audit(&self.user.roles),
            Action::AuditQuery,
            Entity::default(),
            Denied::Audit,
        )?;
        let mut out: Vec<BreakGlassRecord> = self
            .all_break_glass()?
            .into_iter()
            .filter(|(_, _, r)| !pending_only || r.reviewed_by.is_none())
            .map(|(_, user, r)| self.listed(user, r))
            .collect();
        out.sort_by_key(|r| std::cmp::Reverse(r.seq));
        self.commit(
            vec![self.draft(Action::AuditQuery, Outcome::Success, Entity::default()).detail("break-glass list")],
            Batch::new(),
        )?;
        Ok(out)
    }

    /// Marks a break-glass access reviewed (auditors). Audited.
    pub fn break_glass_review(&self, seq: u64) -> Result<()> {
        self.require(
            self.inner.header.policy.may_audit(&self.user.roles),
            Action::BreakGlassReview,
            Entity::default(),
            Denied::Audit,
        )?;
        let (key, _, mut rec) = self
            .all_break_glass()?
            .into_iter()
            .find(|(_, _, r)| r.seq == seq)
            .ok_or(Error::NotFound(Missing::BreakGlass(seq)))?;
        if rec.reviewed_by.is_some() {
            return Err(Error::AlreadyExists(Existing::BreakGlassReviewed(seq)));
        }
        rec.reviewed_by = Some(self.user.name.clone());
        rec.reviewed_at = Some(self.inner.clock.now());
        let mut batch = Batch::new();
        batch.put(Space::BreakGlass, key, rec.encode()?);
        let ent = Entity { patient: Some(rec.patient), target_user: Some(rec.user.clone()), ..Entity::default() };
        let draft = self.draft(Action::BreakGlassReview, Outcome::Success, ent).detail(format!("break-glass #{seq}"));
        self.commit(vec![draft], batch)?;
        Ok(())
    }
}
