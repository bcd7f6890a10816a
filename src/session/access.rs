//! Access control in depth (CSP L1110-4): care teams, patients' oppositions, break-glass.
//!
//! The role matrix decides which keys a user holds; these rules decide, per patient, whether a
//! user whose role allows a section may use it now. Every decision is audited; break-glass
//! accesses (`super::break_glass`) are flagged (purpose `emergency`, naming the access) and
//! listed for review.

use super::Session;
use super::break_glass::StoredBreakGlass;
use crate::audit::{Action, Entity, EventDraft, Outcome, Purpose};
use crate::codec;
use crate::error::{Denied, Error, Missing, Result};
use crate::keyring;
use crate::model::{PatientId, Section, Timestamp, UserId};
use crate::policy::{AccessFacts, Decision};
use crate::storage::{Batch, Space};
use serde::{Deserialize, Serialize};

/// A care-team member: a named user, or every user holding a role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CareMember {
    /// One user, by name.
    User(String),
    /// Every user with this role (e.g. the practice's nurses).
    Role(String),
}

impl CareMember {
    /// `name` for a user, `role:name` for a role (as the command line writes them).
    pub fn label(&self) -> String {
        match self {
            CareMember::User(n) => n.clone(),
            CareMember::Role(r) => format!("role:{r}"),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct MemberRecord {
    format: u16,
    added_by: String,
    added_at: Timestamp,
    member: CareMember,
}

#[derive(Serialize, Deserialize)]
struct OppositionRecord {
    format: u16,
    user: String,
    recorded_by: String,
    recorded_at: Timestamp,
}

/// An authorized access: what was allowed, to whom, under what. Only [`Session::authorize`]
/// makes one (its fields are private to this module); opening a section needs it, and the
/// release step audits it.
pub(crate) struct Grant {
    access: u64,
    action: Action,
    patient: PatientId,
    section: Section,
    /// The break-glass access (its id) that allowed it, if only break-glass did.
    emergency: Option<u64>,
}

static NEXT_ACCESS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Grant {
    /// Unique id of this access in the process.
    pub(crate) fn access(&self) -> u64 {
        self.access
    }
    /// Whether this grant allows opening `section` of `patient`.
    pub(crate) fn covers(&self, patient: PatientId, section: Section) -> bool {
        self.patient == patient && self.section == section
    }
    /// The patient.
    pub(crate) fn section(&self) -> Section {
        self.section
    }
    pub(crate) fn patient(&self) -> PatientId {
        self.patient
    }
}

use crate::layout::care_team as member_key;

fn target(name: &str, patient: PatientId) -> Entity {
    Entity { patient: Some(patient), target_user: Some(name.to_string()), ..Entity::default() }
}

impl Session {
    fn user_id_of(&self, name: &str) -> Result<UserId> {
        let rec = keyring::user_by_name(self.inner.backend.as_ref(), name)?
            .ok_or_else(|| Error::NotFound(Missing::User(name.to_string())))?;
        Ok(rec.signed.verify("user", &self.inner.header.directory_public)?.id)
    }

    fn member_bytes(&self, member: &CareMember) -> Result<Vec<u8>> {
        Ok(match member {
            CareMember::User(name) => crate::layout::care_member_user(self.user_id_of(name)?),
            CareMember::Role(role) => {
                self.inner.header.policy.role(role)?;
                crate::layout::care_member_role(role)
            }
        })
    }

    /// Whether the patient exists and has not been purged.
    pub(crate) fn patient_exists(&self, patient: PatientId) -> Result<bool> {
        Ok(super::records::PatientHeader::load(self.inner.backend.as_ref(), patient)?
            .is_some_and(|h| h.purged_at.is_none()))
    }

    fn require_care_manager(&self, action: Action, entity: Entity, patient: PatientId) -> Result<()> {
        let ok = self.inner.header.policy.may_manage_care_team(&self.user.roles);
        self.require(ok, action, entity.clone(), Denied::ManageCareTeam)?;
        if !self.patient_exists(patient)? {
            return Err(self.refuse(action, entity, Error::no_patient(patient)));
        }
        Ok(())
    }

    /// Stages the creator of a patient as the first care-team member.
    pub(crate) fn stage_creator_in_care_team(&self, batch: &mut Batch, patient: PatientId) -> Result<()> {
        let rec = MemberRecord {
            format: 1,
            added_by: self.user.name.clone(),
            added_at: self.inner.clock.now(),
            member: CareMember::User(self.user.name.clone()),
        };
        batch.put(
            Space::CareTeam,
            member_key(patient, &crate::layout::care_member_user(self.user.id)),
            codec::encode(&rec)?,
        );
        Ok(())
    }

    /// Adds a member to a patient's care team. Audited.
    pub fn care_team_add(&self, patient: PatientId, member: &CareMember) -> Result<()> {
        let name = member.label();
        let ent = target(&name, patient);
        self.require_care_manager(Action::CareTeamAdd, ent.clone(), patient)?;
        let key = member_key(patient, &self.member_bytes(member)?);
        let rec = MemberRecord {
            format: 1,
            added_by: self.user.name.clone(),
            added_at: self.inner.clock.now(),
            member: member.clone(),
        };
        let mut batch = Batch::new();
        batch.put(Space::CareTeam, key, codec::encode(&rec)?);
        self.commit(vec![self.draft(Action::CareTeamAdd, Outcome::Success, ent)], batch)?;
        Ok(())
    }

    /// Removes a member from a patient's care team. Audited.
    pub fn care_team_remove(&self, patient: PatientId, member: &CareMember) -> Result<()> {
        let name = member.label();
        let ent = target(&name, patient);
        self.require_care_manager(Action::CareTeamRemove, ent.clone(), patient)?;
        let key = member_key(patient, &self.member_bytes(member)?);
        if self.inner.backend.get(Space::CareTeam, &key)?.is_none() {
            return Err(Error::NotFound(Missing::CareTeamMember { patient, member: name.to_string() }));
        }
        let mut batch = Batch::new();
        batch.delete(Space::CareTeam, key);
        self.commit(vec![self.draft(Action::CareTeamRemove, Outcome::Success, ent)], batch)?;
        Ok(())
    }

    /// The care team of a patient (care-team managers). Audited as a query.
    pub fn care_team(&self, patient: PatientId) -> Result<Vec<CareMember>> {
        let ent = Entity { patient: Some(patient), ..Entity::default() };
        self.require_care_manager(Action::AuditQuery, ent.clone(), patient)?;
        let mut out = Vec::new();
        for (_, v) in self.inner.backend.scan_prefix(Space::CareTeam, &patient.0)? {
            out.push(codec::decode::<MemberRecord>(&v, crate::error::Object::CareTeam)?.member);
        }
        self.commit(vec![self.draft(Action::AuditQuery, Outcome::Success, ent).detail("care team")], Batch::new())?;
        Ok(out)
    }

    /// Records the patient's opposition to a named professional: their normal access is denied
    /// from now on (break-glass stays possible, flagged). Audited.
    pub fn record_opposition(&self, patient: PatientId, user: &str) -> Result<()> {
        let ent = target(user, patient);
        self.require_care_manager(Action::Opposition, ent.clone(), patient)?;
        let id = self.user_id_of(user)?;
        let rec = OppositionRecord {
            format: 1,
            user: user.to_string(),
            recorded_by: self.user.name.clone(),
            recorded_at: self.inner.clock.now(),
        };
        let mut batch = Batch::new();
        batch.put(Space::Oppositions, member_key(patient, &id.0), codec::encode(&rec)?);
        self.commit(vec![self.draft(Action::Opposition, Outcome::Success, ent)], batch)?;
        Ok(())
    }

    /// Withdraws an opposition. Audited.
    pub fn withdraw_opposition(&self, patient: PatientId, user: &str) -> Result<()> {
        let ent = target(user, patient);
        self.require_care_manager(Action::OppositionWithdraw, ent.clone(), patient)?;
        let key = member_key(patient, &self.user_id_of(user)?.0);
        if self.inner.backend.get(Space::Oppositions, &key)?.is_none() {
            return Err(Error::NotFound(Missing::Opposition { patient, user: user.to_string() }));
        }
        let mut batch = Batch::new();
        batch.delete(Space::Oppositions, key);
        self.commit(vec![self.draft(Action::OppositionWithdraw, Outcome::Success, ent)], batch)?;
        Ok(())
    }

    /// The facts about this user and this patient, and the active break-glass access if any.
    fn access_facts(&self, patient: PatientId) -> Result<(AccessFacts, Option<u64>)> {
        let b = self.inner.backend.as_ref();
        // The user's own membership and each of their roles', in one read.
        let members: Vec<Vec<u8>> = std::iter::once(crate::layout::care_member_user(self.user.id))
            .chain(self.user.roles.iter().map(|role| crate::layout::care_member_role(role)))
            .map(|member| member_key(patient, &member))
            .collect();
        let keys: Vec<&[u8]> = members.iter().map(Vec::as_slice).collect();
        let in_care_team = b.get_many(Space::CareTeam, &keys)?.iter().any(Option::is_some);
        let opposed = b.get(Space::Oppositions, &member_key(patient, &self.user.id.0))?.is_some();
        let now = self.inner.clock.now();
        let mut active = None;
        for (_, v) in b.scan_prefix(Space::BreakGlass, &crate::layout::break_glass_of(patient, self.user.id))? {
            let r = StoredBreakGlass::decode(&v)?;
            if r.opened_at <= now && now < r.expires_at {
                active = Some(r.seq);
            }
        }
        Ok((AccessFacts { in_care_team, opposed, break_glass: active.is_some() }, active))
    }

    /// Whether this session could read `section` of `patient` now in the normal way (its roles,
    /// its keys, the care team, no opposition; break-glass aside). Decides nothing, audits nothing.
    pub(crate) fn may_read_now(&self, patient: PatientId, section: Section) -> Result<bool> {
        if !self.keys().holds(crate::crypto::KeyKind::Section(section)) {
            return Ok(false);
        }
        let (facts, _) = self.access_facts(patient)?;
        Ok(matches!(
            self.inner.header.policy.decide(&self.user.roles, section, false, facts),
            Decision::Allow { emergency: false }
        ))
    }

    /// Decides an access and audits a refusal. On success, the grant says what was allowed and
    /// whether break-glass allowed it.
    pub(crate) fn authorize(&self, action: Action, patient: PatientId, section: Section, write: bool) -> Result<Grant> {
        let ent = Entity { patient: Some(patient), section: Some(section), ..Entity::default() };
        let (facts, active) = self.access_facts(patient)?;
        let emergency = match self.inner.header.policy.decide(&self.user.roles, section, write, facts) {
            Decision::Allow { emergency: false } => None,
            Decision::Allow { emergency: true } => active,
            Decision::Deny(d) => return Err(self.refuse(action, ent, Error::Denied(d))),
        };
        let access = NEXT_ACCESS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Grant { access, action, patient, section, emergency })
    }

    /// The draft of a granted access (its patient and section), flagged when break-glass
    /// allowed it.
    pub(crate) fn granted_draft(&self, grant: &Grant) -> EventDraft {
        let entity = Entity { patient: Some(grant.patient), section: Some(grant.section), ..Entity::default() };
        self.granted_draft_for(grant, entity)
    }

    /// The draft of a granted access with a more precise entity (a write names its entry).
    pub(crate) fn granted_draft_for(&self, grant: &Grant, entity: Entity) -> EventDraft {
        let action = grant.action;
        match &grant.emergency {
            None => self.draft(action, Outcome::Success, entity),
            // The justification is sealed in the break-glass record; the event names the access.
            Some(seq) => EventDraft::new(action, Outcome::Success, self.agent(), Purpose::Emergency)
                .entity(entity)
                .detail(format!("break-glass #{seq}")),
        }
    }
}
