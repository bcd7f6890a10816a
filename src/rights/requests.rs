//! The register of patients' requests and their legal deadlines.
//!
//! - A copy of the file (CSP L1111-7): within 8 days, or 2 months when the file holds
//!   information more than 5 years old; not before a 48-hour reflection period.
//! - Rectification, erasure, objection (RGPD art. 12(3)): within one month.

use crate::audit::{Action, Entity, Outcome};
use crate::codec;
use crate::error::{Denied, Error, Existing, Missing, Result};
use crate::model::{InvalidInput, PatientId, Timestamp, random_bytes};
use crate::session::Session;
use crate::storage::{Batch, Space};
use serde::{Deserialize, Serialize};

const DAY: i64 = 86_400_000;

/// What the patient asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[derive(strum::EnumString, strum::IntoStaticStr, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[non_exhaustive]
pub enum RequestKind {
    /// A copy of the file (access).
    Copy,
    /// A correction.
    Rectification,
    /// Erasure.
    Erasure,
    /// Objection to a processing or to a professional.
    Objection,
}

impl RequestKind {
    /// Parses a snake_case name.
    pub fn parse(s: &str) -> Result<RequestKind> {
        s.parse().map_err(|_| {
            InvalidInput::unknown("request kind", &["copy", "rectification", "erasure", "objection"]).into()
        })
    }
}

/// One registered request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientRequest {
    /// Format version (1).
    pub format: u16,
    /// Request id (hex).
    pub id: String,
    /// Patient.
    pub patient: PatientId,
    /// Kind.
    pub kind: RequestKind,
    /// When it was received.
    pub received_at: Timestamp,
    /// Not to be answered before (copy: the 48-hour reflection period).
    pub earliest: Option<Timestamp>,
    /// Legal deadline.
    pub deadline: Timestamp,
    /// Why this deadline.
    pub rule: String,
    /// Who registered it.
    pub registered_by: String,
    /// When it was closed, if it was.
    pub closed_at: Option<Timestamp>,
}

impl PatientRequest {
    /// Open and past its deadline at `now`.
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        self.closed_at.is_none() && now > self.deadline
    }
}

/// The deadline of a request received at `received` for a file whose oldest information dates
/// from `oldest`: (earliest answer, deadline, rule).
pub fn deadline(kind: RequestKind, received: Timestamp, oldest: Timestamp) -> (Option<Timestamp>, Timestamp, String) {
    match kind {
        RequestKind::Copy => {
            let old = received.0 - oldest.0 > 5 * 365 * DAY + DAY; // more than 5 years, leap days included
            let (days, rule) = if old {
                (61, "CSP L1111-7: 2 months (information over 5 years old)")
            } else {
                (8, "CSP L1111-7: 8 days")
            };
            (
                Some(received.plus_millis(2 * DAY)),
                received.plus_millis(days * DAY),
                format!("{rule}, not before 48 hours"),
            )
        }
        _ => (None, received.plus_millis(30 * DAY), "RGPD art. 12(3): one month".to_string()),
    }
}

impl Session {
    fn require_register(&self, action: Action, ent: Entity) -> Result<()> {
        let p = &self.header().policy;
        let ok = p.may_manage_care_team(&self.user.roles) || p.may_audit(&self.user.roles);
        self.require(ok, action, ent, Denied::ManageCareTeam)
    }

    /// Registers a patient's request received at `received` (care-team managers, auditors).
    pub fn register_request(
        &self,
        patient: PatientId,
        kind: RequestKind,
        received: Timestamp,
    ) -> Result<PatientRequest> {
        let ent = Entity { patient: Some(patient), ..Entity::default() };
        self.require_register(Action::Request, ent.clone())?;
        let header = self
            .patient_header(patient)?
            .filter(|h| h.purged_at.is_none())
            .ok_or_else(|| Error::no_patient(patient))?;
        let (earliest, deadline, rule) = deadline(kind, received, header.created_at);
        let req = PatientRequest {
            format: 1,
            id: hex::encode(random_bytes::<8>()),
            patient,
            kind,
            received_at: received,
            earliest,
            deadline,
            rule,
            registered_by: self.user.name.clone(),
            closed_at: None,
        };
        let mut batch = Batch::new();
        batch.put(Space::Requests, req.id.as_bytes().to_vec(), codec::encode(&req)?);
        let detail = format!("{kind:?} request {} registered, due {}", req.id, req.deadline).to_lowercase();
        self.commit(vec![self.draft(Action::Request, Outcome::Success, ent).detail(detail)], batch)?;
        Ok(req)
    }

    /// Requests, oldest deadline first; only open ones past their deadline if `overdue_only`.
    pub fn list_requests(&self, overdue_only: bool) -> Result<Vec<PatientRequest>> {
        self.require_register(Action::AuditQuery, Entity::default())?;
        let now = self.now();
        let mut out: Vec<PatientRequest> = self
            .request_records()?
            .iter()
            .map(|v| codec::decode::<PatientRequest>(v, crate::error::Object::Request))
            .collect::<Result<_>>()?;
        out.retain(|r| if overdue_only { r.is_overdue(now) } else { r.closed_at.is_none() });
        out.sort_by_key(|r| r.deadline);
        self.commit(
            vec![self.draft(Action::AuditQuery, Outcome::Success, Entity::default()).detail("request register")],
            Batch::new(),
        )?;
        Ok(out)
    }

    /// Closes a request (answered). Audited.
    pub fn close_request(&self, id: &str) -> Result<()> {
        let v = self.request_record(id)?.ok_or_else(|| Error::NotFound(Missing::Request(id.to_string())))?;
        let mut req: PatientRequest = codec::decode(&v, crate::error::Object::Request)?;
        let ent = Entity { patient: Some(req.patient), ..Entity::default() };
        self.require_register(Action::Request, ent.clone())?;
        if req.closed_at.is_some() {
            return Err(Error::AlreadyExists(Existing::RequestClosed(id.to_string())));
        }
        req.closed_at = Some(self.now());
        let mut batch = Batch::new();
        batch.put(Space::Requests, id.as_bytes().to_vec(), codec::encode(&req)?);
        self.commit(
            vec![self.draft(Action::Request, Outcome::Success, ent).detail(format!("request {id} closed"))],
            batch,
        )?;
        Ok(())
    }
}
