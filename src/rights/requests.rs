//! The register of patients' requests and their legal deadlines: who asked, for what, when it
//! was received, the deadline and its rule, and how it was answered (which export, when, by
//! whom). Closed requests stay in the register.
//!
//! - A copy of the file (CSP L1111-7): within 8 days, or 2 months when the file holds
//!   information more than 5 years old; not before a 48-hour reflection period. "More than 5
//!   years old" is judged on the dates of the information (the date of each report and exam),
//!   as far as the registering user may read them: 2 months only when such old information is
//!   found, else the 8-day deadline (never a late one).
//! - Rectification, erasure, objection (RGPD art. 12(3)): within one month.

use crate::audit::{Action, Entity, Outcome};
use crate::codec;
use crate::error::{Denied, Error, Existing, Missing, Result};
use crate::model::{Date, InvalidInput, PatientId, Section, Timestamp, random_bytes};
use crate::session::Session;
use crate::storage::{Batch, Space};
use serde::{Deserialize, Serialize};
use sha2::Digest;

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

/// Who made the request (CSP L1111-7 lists who may ask for a file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[derive(strum::EnumString, strum::IntoStaticStr, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[non_exhaustive]
pub enum Requester {
    /// The patient.
    Patient,
    /// A holder of parental authority or a guardian.
    LegalRepresentative,
    /// An heir of a deceased patient (ayant droit).
    Heir,
    /// A physician the patient designated as intermediary.
    DesignatedPhysician,
    /// Not recorded (requests registered by earlier releases).
    Unrecorded,
}

impl Requester {
    /// Parses a snake_case name.
    pub fn parse(s: &str) -> Result<Requester> {
        s.parse().map_err(|_| {
            InvalidInput::unknown("requester", &["patient", "legal_representative", "heir", "designated_physician"])
                .into()
        })
    }
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[derive(strum::EnumString, strum::IntoStaticStr, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[non_exhaustive]
pub enum Resolution {
    /// Done (a copy sent, a correction made, an erasure or objection carried out).
    Done,
    /// Refused (the answer gives the grounds to the patient).
    Refused,
    /// Withdrawn by the requester.
    Withdrawn,
}

impl Resolution {
    /// Parses a snake_case name.
    pub fn parse(s: &str) -> Result<Resolution> {
        s.parse().map_err(|_| InvalidInput::unknown("resolution", &["done", "refused", "withdrawn"]).into())
    }
}

/// The export that answered a copy request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerExport {
    /// `html` (sealed copy), `fhir` or `json`.
    pub format: String,
    /// SHA-256 of what was handed over (for a sealed copy, the hash its seal signs, which
    /// `verify-copy` prints).
    pub sha256: String,
}

/// How and when a request was answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// When.
    pub at: Timestamp,
    /// By whom.
    pub by: String,
    /// Outcome.
    pub resolution: Resolution,
    /// The export handed over, for a copy.
    pub export: Option<AnswerExport>,
}

/// What is asked, when registering a request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewRequest {
    /// Kind.
    pub kind: RequestKind,
    /// When it was received.
    pub received: Timestamp,
    /// Who asked.
    pub requester: Requester,
    /// The parts of the file concerned (empty: the whole file).
    pub sections: Vec<Section>,
}

impl NewRequest {
    /// A request of the patient about their whole file.
    pub fn new(kind: RequestKind, received: Timestamp) -> NewRequest {
        NewRequest { kind, received, requester: Requester::Patient, sections: Vec::new() }
    }
}

/// One registered request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PatientRequest {
    /// Format version (2; 1 for requests registered by earlier releases).
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
    /// Who asked.
    pub requester: Requester,
    /// The parts of the file concerned (empty: the whole file).
    pub sections: Vec<Section>,
    /// The oldest information date found when the deadline was set (copies).
    pub oldest_information: Option<Date>,
    /// How it was answered.
    pub answer: Option<Answer>,
}

/// Format 1 of a request (read only; tests write it).
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct RequestV1 {
    format: u16,
    id: String,
    patient: PatientId,
    kind: RequestKind,
    received_at: Timestamp,
    earliest: Option<Timestamp>,
    deadline: Timestamp,
    rule: String,
    registered_by: String,
    closed_at: Option<Timestamp>,
}

impl PatientRequest {
    /// Open and past its deadline at `now`.
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        self.closed_at.is_none() && now > self.deadline
    }

    /// Decodes a stored request of format 1 or 2.
    pub(crate) fn decode(bytes: &[u8]) -> Result<PatientRequest> {
        let object = crate::error::Object::Request;
        match codec::leading_format(bytes) {
            1 => {
                let v: RequestV1 = codec::decode(bytes, object)?;
                Ok(PatientRequest {
                    format: v.format,
                    id: v.id,
                    patient: v.patient,
                    kind: v.kind,
                    received_at: v.received_at,
                    earliest: v.earliest,
                    deadline: v.deadline,
                    rule: v.rule,
                    registered_by: v.registered_by,
                    closed_at: v.closed_at,
                    requester: Requester::Unrecorded,
                    sections: Vec::new(),
                    oldest_information: None,
                    answer: None,
                })
            }
            2 => codec::decode(bytes, object),
            f => {
                Err(crate::error::IntegrityError::new(object, crate::error::Fault::UnsupportedFormat(f.into())).into())
            }
        }
    }

    /// Encodes it in the current format (2).
    fn encode(&self) -> Result<Vec<u8>> {
        codec::encode(&PatientRequest { format: 2, ..self.clone() })
    }
}

/// The deadline of a request received at `received`, for a copy knowing the oldest information
/// date found (`None`: none found): (earliest answer, deadline, rule).
pub fn deadline(
    kind: RequestKind,
    received: Timestamp,
    oldest: Option<Date>,
) -> (Option<Timestamp>, Timestamp, String) {
    match kind {
        RequestKind::Copy => {
            // More than 5 years before the day received (calendar years: leap days count).
            let old = match (oldest, received.date()) {
                (Some(o), Some(r)) => {
                    let (y, m, d) = r.ymd();
                    // 29 February five years back is 28 February.
                    let limit = Date::new(y - 5, m, d).or_else(|_| Date::new(y - 5, m, d.saturating_sub(1)));
                    limit.is_ok_and(|l| o < l)
                }
                _ => false,
            };
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

/// What answers a copy request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CopyFormat {
    /// The sealed French HTML copy.
    Html,
    /// A FHIR R4 Bundle.
    Fhir,
    /// medvault's native JSON.
    Json,
}

impl Session {
    fn require_register(&self, action: Action, ent: Entity) -> Result<()> {
        let p = &self.header().policy;
        let ok = p.may_manage_care_team(&self.user.roles) || p.may_audit(&self.user.roles);
        self.require(ok, action, ent, Denied::ManageCareTeam)
    }

    /// The oldest information date of a patient's file among the sections this session may
    /// read in the normal way (reports and exams: their dates of care). Reading them is audited
    /// like any read.
    fn oldest_information(&self, patient: PatientId) -> Result<Option<Date>> {
        let mut dates = Vec::new();
        if self.may_read_now(patient, Section::Reports)? {
            dates.extend(self.read_reports(patient)?.iter().map(|e| e.content.date));
        }
        if self.may_read_now(patient, Section::Exams)? {
            dates.extend(self.read_exams(patient)?.iter().map(|e| e.content.date));
        }
        Ok(dates.into_iter().min())
    }

    /// Registers the patient's own request about their whole file, received at `received`.
    pub fn register_request(
        &self,
        patient: PatientId,
        kind: RequestKind,
        received: Timestamp,
    ) -> Result<PatientRequest> {
        self.register(patient, &NewRequest::new(kind, received))
    }

    /// Registers a request (care-team managers, auditors). Audited.
    pub fn register(&self, patient: PatientId, new: &NewRequest) -> Result<PatientRequest> {
        let ent = Entity { patient: Some(patient), ..Entity::default() };
        self.require_register(Action::Request, ent.clone())?;
        if new.requester == Requester::Unrecorded {
            return Err(InvalidInput::Rule("say who made the request").into());
        }
        if new.received > self.now() {
            return Err(InvalidInput::Rule("a request cannot be received in the future").into());
        }
        self.patient_header(patient)?.filter(|h| h.purged_at.is_none()).ok_or_else(|| Error::no_patient(patient))?;
        let oldest = if new.kind == RequestKind::Copy { self.oldest_information(patient)? } else { None };
        let (earliest, deadline, rule) = deadline(new.kind, new.received, oldest);
        let mut sections = new.sections.clone();
        sections.sort_by_key(|s| s.code());
        sections.dedup();
        let req = PatientRequest {
            format: 2,
            id: hex::encode(random_bytes::<8>()),
            patient,
            kind: new.kind,
            received_at: new.received,
            earliest,
            deadline,
            rule,
            registered_by: self.user.name.clone(),
            closed_at: None,
            requester: new.requester,
            sections,
            oldest_information: oldest,
            answer: None,
        };
        let mut batch = Batch::new();
        batch.put(Space::Requests, req.id.as_bytes().to_vec(), req.encode()?);
        let detail = format!("{} request {} registered, due {}", new.kind, req.id, req.deadline);
        self.commit(vec![self.draft(Action::Request, Outcome::Success, ent).detail(detail)], batch)?;
        Ok(req)
    }

    fn load_requests(&self) -> Result<Vec<PatientRequest>> {
        self.request_records()?.iter().map(|v| PatientRequest::decode(v)).collect()
    }

    /// Open requests, oldest deadline first; only those past their deadline if `overdue_only`.
    pub fn list_requests(&self, overdue_only: bool) -> Result<Vec<PatientRequest>> {
        self.require_register(Action::AuditQuery, Entity::default())?;
        let now = self.now();
        let mut out = self.load_requests()?;
        out.retain(|r| if overdue_only { r.is_overdue(now) } else { r.closed_at.is_none() });
        out.sort_by_key(|r| r.deadline);
        self.note(Action::AuditQuery, Outcome::Success, Entity::default(), "request register")?;
        Ok(out)
    }

    /// The whole register, closed requests included, most recently received first.
    pub fn request_register(&self) -> Result<Vec<PatientRequest>> {
        self.require_register(Action::AuditQuery, Entity::default())?;
        let mut out = self.load_requests()?;
        out.sort_by_key(|r| std::cmp::Reverse(r.received_at));
        self.note(Action::AuditQuery, Outcome::Success, Entity::default(), "request register, closed included")?;
        Ok(out)
    }

    fn open_request(&self, id: &str) -> Result<PatientRequest> {
        let v = self.request_record(id)?.ok_or_else(|| Error::NotFound(Missing::Request(id.to_string())))?;
        let req = PatientRequest::decode(&v)?;
        if req.id != id {
            return Err(crate::error::IntegrityError::new(
                crate::error::Object::Request,
                crate::error::Fault::OutOfPlace,
            )
            .into());
        }
        Ok(req)
    }

    /// Closes a request as done (answered outside medvault). Audited.
    pub fn close_request(&self, id: &str) -> Result<()> {
        self.close_request_as(id, Resolution::Done)
    }

    /// Closes a request with its outcome. Audited.
    pub fn close_request_as(&self, id: &str, resolution: Resolution) -> Result<()> {
        self.finish(self.open_request(id)?, resolution, None)
    }

    fn finish(&self, mut req: PatientRequest, resolution: Resolution, export: Option<AnswerExport>) -> Result<()> {
        let ent = Entity { patient: Some(req.patient), ..Entity::default() };
        self.require_register(Action::Request, ent.clone())?;
        if req.closed_at.is_some() {
            return Err(Error::AlreadyExists(Existing::RequestClosed(req.id)));
        }
        let now = self.now();
        req.closed_at = Some(now);
        let detail = match &export {
            Some(x) => {
                format!("request {} answered ({resolution}) with a {} export, sha256 {}", req.id, x.format, x.sha256)
            }
            None => format!("request {} closed ({resolution})", req.id),
        };
        req.answer = Some(Answer { at: now, by: self.user.name.clone(), resolution, export });
        let mut batch = Batch::new();
        batch.put(Space::Requests, req.id.as_bytes().to_vec(), req.encode()?);
        self.commit(vec![self.draft(Action::Request, Outcome::Success, ent).detail(detail)], batch)?;
        Ok(())
    }

    /// Answers a copy request: exports the patient's file (audited like any export), records
    /// which export answered it (its format and SHA-256) and closes the request. Refused before
    /// the 48-hour reflection period ends, and for a request that is not an open copy request.
    /// Returns the request as closed and the text to hand over.
    pub fn answer_copy_request(&self, id: &str, format: CopyFormat) -> Result<(PatientRequest, String)> {
        let req = self.open_request(id)?;
        if req.kind != RequestKind::Copy {
            return Err(InvalidInput::Rule("only a copy request is answered with an export").into());
        }
        if req.closed_at.is_some() {
            return Err(Error::AlreadyExists(Existing::RequestClosed(req.id)));
        }
        if req.earliest.is_some_and(|e| self.now() < e) {
            return Err(InvalidInput::Rule("the 48-hour reflection period is not over").into());
        }
        let (name, text, sha) = match format {
            CopyFormat::Html => {
                let (_, page, sha) = self.sealed_copy(req.patient)?;
                ("html", page, sha)
            }
            CopyFormat::Fhir => {
                let x = self.export_patient(req.patient)?;
                let text = serde_json::to_string_pretty(&crate::export::fhir::bundle(&x)).map_err(Error::Json)?;
                let sha = hex::encode(sha2::Sha256::digest(text.as_bytes()));
                ("fhir", text, sha)
            }
            CopyFormat::Json => {
                let text = self.export_patient(req.patient)?.to_json()?;
                let sha = hex::encode(sha2::Sha256::digest(text.as_bytes()));
                ("json", text, sha)
            }
        };
        let id = req.id.clone();
        self.finish(req, Resolution::Done, Some(AnswerExport { format: name.into(), sha256: sha }))?;
        let closed = self.open_request(&id)?;
        Ok((closed, text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_of_format_1_still_read_and_new_ones_are_format_2() {
        let v1 = RequestV1 {
            format: 1,
            id: "0011223344556677".into(),
            patient: PatientId([7; 16]),
            kind: RequestKind::Copy,
            received_at: Timestamp(1_000),
            earliest: Some(Timestamp(2_000)),
            deadline: Timestamp(3_000),
            rule: "CSP L1111-7: 8 days".into(),
            registered_by: "claire".into(),
            closed_at: Some(Timestamp(2_500)),
        };
        let old = PatientRequest::decode(&codec::encode(&v1).unwrap()).unwrap();
        assert_eq!((old.format, old.requester, old.answer.clone()), (1, Requester::Unrecorded, None));
        assert_eq!((old.closed_at, old.deadline), (Some(Timestamp(2_500)), Timestamp(3_000)));
        let bytes = old.encode().unwrap();
        assert_eq!(codec::leading_format(&bytes), 2);
        let again = PatientRequest::decode(&bytes).unwrap();
        assert_eq!(again, PatientRequest { format: 2, ..old });
        let mut bad = bytes.clone();
        bad[0] = 9;
        assert!(PatientRequest::decode(&bad).is_err());
    }
}
