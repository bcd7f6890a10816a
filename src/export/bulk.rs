//! Portability: every patient as FHIR NDJSON, one file per resource type (the Bulk Data
//! layout: `Patient.ndjson`, `DocumentReference.ndjson`, `Observation.ndjson`,
//! `DiagnosticReport.ndjson`, `Provenance.ndjson`, and `AuditEvent.ndjson` for a caller with
//! the audit right). Each
//! patient goes through the same checks and audit as a patient copy; patients the user may not
//! fully read are skipped (and the refusals are in the audit log).
//!
//! Invariants: the audit trail goes into a bulk export only for a caller who may read the
//! audit log (colleagues' activity, refusals and break-glass accesses are not part of a
//! physician's portability export); the export is announced in the log by one event naming no
//! patient, with the detail [`BULK_EXPORT`], before the first patient is read, so the DPO's
//! report can flag it; files are written owner-only (`super::files`).

use super::fhir;
use super::files::PrivateFile;
use crate::audit::{Action, Entity, Outcome};
use crate::error::{Error, Result};
use crate::session::Session;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// The detail of the event announcing an export of all patients.
pub const BULK_EXPORT: &str = "bulk export of every patient the user may read";

/// What an export of all patients wrote.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct BulkSummary {
    /// Patients exported.
    pub patients: u64,
    /// Patients skipped (access refused).
    pub skipped: u64,
    /// Resources written per type.
    pub resources: BTreeMap<String, u64>,
    /// Whether the audit trail was left out (the caller may not read the audit log).
    pub audit_trail_left_out: bool,
}

/// Writes every exportable patient as FHIR NDJSON into `dir` (an existing folder); an existing
/// file there is replaced only with `replace`.
pub fn export_all(s: &Session, dir: &Path, replace: bool, mut progress: impl FnMut(u64, u64)) -> Result<BulkSummary> {
    let with_audit = s.header().policy.may_audit(s.roles());
    s.note(Action::Export, Outcome::Success, Entity::default(), BULK_EXPORT)?;
    let ids = s.patient_ids()?;
    let total = ids.len() as u64;
    let mut files: BTreeMap<String, PrivateFile> = BTreeMap::new();
    let mut summary = BulkSummary { audit_trail_left_out: !with_audit, ..BulkSummary::default() };
    let io = Error::Output;
    for (n, id) in ids.into_iter().enumerate() {
        let x = match s.export_patient(id) {
            Ok(x) => x,
            Err(Error::Denied(_)) | Err(Error::NotFound(_)) => {
                summary.skipped += 1;
                progress(n as u64 + 1, total);
                continue;
            }
            Err(e) => return Err(e),
        };
        summary.patients += 1;
        for res in &fhir::resources(&x) {
            let kind = res.resource_type().to_string();
            if kind == "AuditEvent" && !with_audit {
                continue;
            }
            if !files.contains_key(&kind) {
                let f = PrivateFile::create(&dir.join(format!("{kind}.ndjson")), replace)?;
                files.insert(kind.clone(), f);
            }
            if let Some(w) = files.get_mut(&kind) {
                serde_json::to_writer(&mut *w, res).map_err(Error::Json)?;
                w.write_all(b"\n").map_err(io)?;
            }
            *summary.resources.entry(kind).or_default() += 1;
        }
        progress(n as u64 + 1, total);
    }
    for (_, f) in files {
        f.finish()?;
    }
    Ok(summary)
}
