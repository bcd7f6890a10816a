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
pub mod html;
pub mod report;

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
    /// Every audit event about this patient, oldest first.
    pub access_history: Vec<AuditEvent>,
}

impl PatientExport {
    /// The current identity (last revision).
    pub fn current_identity(&self) -> Option<&Identity> {
        self.identity.last().map(|e| &e.content)
    }
    /// Native JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| crate::Error::Invalid(e.to_string()))
    }
}

impl Session {
    /// The patient's copy of their file (RGPD art. 15, CSP L1111-7): every section and the
    /// access history. The user must be allowed to read all three sections of this patient;
    /// one `export` event per section is durably audited before the data is returned.
    pub fn export_patient(&self, patient: PatientId) -> Result<PatientExport> {
        let mut grants = Vec::new();
        for section in Section::ALL {
            grants.push((section, self.authorize(Action::Export, patient, section, false)?));
        }
        if !self.patient_exists(patient)? {
            return Err(self.refuse(
                Action::Export,
                Entity { patient: Some(patient), ..Entity::default() },
                crate::Error::NotFound(format!("patient {patient}")),
            ));
        }
        let opened = (|| -> Result<_> {
            Ok((
                self.open_section::<Identity>(patient)?,
                self.open_section::<Report>(patient)?,
                self.open_section::<Exam>(patient)?,
            ))
        })();
        let (identity, reports, exams) = match opened {
            Ok(o) => o,
            Err(e) => {
                return Err(self.refuse(Action::Export, Entity { patient: Some(patient), ..Entity::default() }, e));
            }
        };
        let history =
            AuditQuery { patient: Some(patient), ..AuditQuery::default() }.run_all(self.inner.backend.as_ref())?;
        let drafts = grants
            .iter()
            .map(|(section, grant)| {
                let ent = Entity { patient: Some(patient), section: Some(*section), ..Entity::default() };
                self.granted_draft(Action::Export, grant, ent)
            })
            .collect();
        let receipt = self.commit(drafts, crate::storage::Batch::new())?;
        Ok(PatientExport {
            format: "medvault-patient-export-v1",
            store: self.inner.header.store,
            patient,
            exported_at: self.inner.clock.now(),
            exported_by: self.user.name.clone(),
            identity: identity.release(&receipt),
            reports: reports.release(&receipt),
            exams: exams.release(&receipt),
            access_history: history,
        })
    }
}
