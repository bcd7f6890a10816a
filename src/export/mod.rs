//! Compliance exports: a patient's copy of their file with its access history (RGPD art. 15,
//! CSP L1111-7) as native JSON, FHIR R4 and a printable HTML page; verifiable audit extracts for
//! a regulator; FHIR NDJSON for migration.
//!
//! Invariants: every export goes through the same access checks as reads and is audited
//! (action `export`, DICOM 110106) before anything is returned; renderers (`fhir`, `html`) are
//! pure functions of an already released [`PatientExport`].

pub mod bulk;
pub mod extract;
pub mod fhir;
pub mod files;
pub mod fr;
pub mod html;
pub mod report;
pub mod seal;

use crate::audit::{Action, AuditEvent, AuditQuery, Entity};
use crate::error::Result;
use crate::model::{Entry, Exam, Identity, PatientId, Report, Section, StoreId, Timestamp};
use crate::session::Session;
use serde::Serialize;

/// A patient's whole file as of one moment: every revision of every section and the access
/// history (the native JSON export).
#[derive(Clone, Debug, Serialize)]
pub struct PatientExport {
    /// `medvault-patient-export-v1`.
    pub format: &'static str,
    /// Store.
    pub store: StoreId,
    /// Patient.
    pub patient: PatientId,
    /// When the export was made.
    pub exported_at: Timestamp,
    /// Who made it.
    pub exported_by: String,
    /// Every identity revision, oldest first.
    pub identity: Vec<Entry<Identity>>,
    /// Every revision of every report.
    pub reports: Vec<Entry<Report>>,
    /// Every revision of every exam.
    pub exams: Vec<Entry<Exam>>,
    /// The attachments of the reports and exams (descriptions; their content is read with
    /// [`Session::read_attachment`]).
    pub attachments: Vec<crate::AttachmentInfo>,
    /// Every audit event about this patient, oldest first.
    pub access_history: Vec<AuditEvent>,
    /// How to name the professionals who appear above (writers, readers, the exporter), by login.
    pub staff: std::collections::BTreeMap<String, crate::StaffMember>,
}

/// Revisions grouped by entry (each group oldest first), groups in order of first appearance.
pub(crate) fn revision_groups<T>(entries: &[Entry<T>]) -> Vec<Vec<&Entry<T>>> {
    let mut order = Vec::new();
    let mut groups: std::collections::BTreeMap<crate::model::EntryId, Vec<&Entry<T>>> =
        std::collections::BTreeMap::new();
    for e in entries {
        if !groups.contains_key(&e.entry_id) {
            order.push(e.entry_id);
        }
        groups.entry(e.entry_id).or_default().push(e);
    }
    order
        .into_iter()
        .filter_map(|id| groups.remove(&id))
        .map(|mut g| {
            g.sort_by_key(|e| e.revision);
            g
        })
        .collect()
}

impl PatientExport {
    /// The current identity (last revision).
    pub fn current_identity(&self) -> Option<&Identity> {
        self.identity.last().map(|e| &e.content)
    }
    /// Native JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(crate::Error::Json)
    }
}

impl Session {
    /// The patient's copy of their file (RGPD art. 15, CSP L1111-7): every section and the
    /// access history. The user must be allowed to read all three sections of this patient;
    /// one `export` event per section is durably audited before the data is returned.
    pub fn export_patient(&self, patient: PatientId) -> Result<PatientExport> {
        let grants = [
            self.authorize(Action::Export, patient, Section::Identity, false)?,
            self.authorize(Action::Export, patient, Section::Reports, false)?,
            self.authorize(Action::Export, patient, Section::Exams, false)?,
        ];
        if !self.patient_exists(patient)? {
            return Err(self.refuse(
                Action::Export,
                Entity { patient: Some(patient), ..Entity::default() },
                crate::Error::no_patient(patient),
            ));
        }
        let [identity_grant, reports_grant, exams_grant] = grants;
        let opened = (|| -> Result<_> {
            Ok(self
                .open_section::<Identity>(&identity_grant)?
                .and(self.open_section::<Report>(&reports_grant)?)
                .and(self.open_section::<Exam>(&exams_grant)?)
                .and(self.open_attachments(&reports_grant)?)
                .and(self.open_attachments(&exams_grant)?))
        })();
        let opened = match opened {
            Ok(o) => o,
            Err(e) => {
                return Err(self.refuse(Action::Export, Entity { patient: Some(patient), ..Entity::default() }, e));
            }
        };
        let history = self.audit_events(&AuditQuery { patient: Some(patient), ..AuditQuery::default() })?;
        let ((((identity, reports), exams), mut attachments), exam_attachments) =
            self.release(&[identity_grant, reports_grant, exams_grant], opened)?;
        attachments.extend(exam_attachments);
        let mut staff = self.staff_directory()?;
        let mut named: std::collections::BTreeSet<&str> = history.iter().map(|e| e.agent.name.as_str()).collect();
        named.extend(identity.iter().map(|e| e.recorded_by.as_str()));
        named.extend(reports.iter().map(|e| e.recorded_by.as_str()));
        named.extend(exams.iter().map(|e| e.recorded_by.as_str()));
        named.extend(attachments.iter().map(|a| a.added_by.as_str()));
        named.insert(self.user.name.as_str());
        staff.retain(|login, _| named.contains(login.as_str()));
        Ok(PatientExport {
            staff,
            format: "medvault-patient-export-v1",
            store: self.header().store,
            patient,
            exported_at: self.now(),
            exported_by: self.user.name.clone(),
            identity,
            reports,
            exams,
            attachments,
            access_history: history,
        })
    }
}
