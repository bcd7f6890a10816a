//! Portability: every patient as FHIR NDJSON, one file per resource type (the Bulk Data
//! layout: `Patient.ndjson`, `DocumentReference.ndjson`, `Observation.ndjson`,
//! `DiagnosticReport.ndjson`, `AuditEvent.ndjson`). Each patient goes through the same checks
//! and audit as a patient copy; patients the user may not fully read are skipped (and the
//! refusals are in the audit log).

use super::fhir;
use crate::error::{Error, Result};
use crate::session::Session;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// What an export of all patients wrote.
#[derive(Clone, Debug, Default)]
pub struct BulkSummary {
    /// Patients exported.
    pub patients: u64,
    /// Patients skipped (access refused).
    pub skipped: u64,
    /// Resources written per type.
    pub resources: BTreeMap<String, u64>,
}

/// Writes every exportable patient as FHIR NDJSON into `dir`.
pub fn export_all(s: &Session, dir: &Path, mut progress: impl FnMut(u64, u64)) -> Result<BulkSummary> {
    let ids = s.patient_ids()?;
    let total = ids.len() as u64;
    let mut files: BTreeMap<String, std::io::BufWriter<std::fs::File>> = BTreeMap::new();
    let mut summary = BulkSummary::default();
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
        let bundle = fhir::bundle(&x);
        for entry in &bundle.entry {
            let res = &entry.resource;
            let kind = res.resource_type().to_string();
            if !files.contains_key(&kind) {
                let f = std::fs::File::create(dir.join(format!("{kind}.ndjson"))).map_err(io)?;
                files.insert(kind.clone(), std::io::BufWriter::new(f));
            }
            if let Some(w) = files.get_mut(&kind) {
                serde_json::to_writer(&mut *w, res).map_err(Error::Json)?;
                w.write_all(b"\n").map_err(io)?;
            }
            *summary.resources.entry(kind).or_default() += 1;
        }
        progress(n as u64 + 1, total);
    }
    for (_, mut w) in files {
        w.flush().map_err(io)?;
    }
    Ok(summary)
}
