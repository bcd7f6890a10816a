//! Coming from another system: `medvault import fhir PATH` reads FHIR R4 (the NDJSON files
//! `export all` writes, any `*.ndjson` file, or a Bundle in a `.json` file) and creates the
//! patients, reports and exams through the normal audited path (the same checks, keys and
//! audit events as a secretary or physician typing them).
//!
//! - Idempotent: a patient already in the store (same INS, else same birth name, birth date,
//!   first names and sex) is not created again, and an entry whose current content the store
//!   already holds is not added again: a second run adds nothing.
//! - All or nothing at the input: every file is read and parsed before anything is written; a
//!   file that is not FHIR JSON is an error naming the file and line, and nothing is written.
//! - What is not imported (attachments' content, another store's access history, unknown
//!   resource types, resources failing a rule) is reported with the reason.
//! - A dry run reads the store (audited like any read) and writes nothing.

mod parse;

pub use parse::Skipped;

use crate::FindQuery;
use crate::error::{Error, Result};
use crate::model::{Entry, EntryId, InvalidInput, PatientId, SectionContent};
use crate::session::Session;
use parse::{Chain, PatientFile, Resources};
use serde::Serialize;
use serde_json::Value;
use std::path::Path;

/// Largest input file read (bytes).
pub const MAX_FILE: u64 = 1 << 30;

/// What an import did (or, in a dry run, would do).
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct ImportReport {
    /// Nothing was written.
    pub dry_run: bool,
    /// Patients created.
    pub patients_created: u64,
    /// Patients found already in the store.
    pub patients_present: u64,
    /// Report revisions written.
    pub report_revisions: u64,
    /// Exam revisions written.
    pub exam_revisions: u64,
    /// Entries (reports and exams) already present, not added again.
    pub entries_present: u64,
    /// What was not imported, and why.
    pub skipped: Vec<Skipped>,
}

fn bad_input(what: String) -> Error {
    Error::Invalid(InvalidInput::Import(what))
}

/// Reads one file: NDJSON (one resource a line) or a JSON Bundle.
fn read_file(path: &Path, into: &mut Resources) -> Result<()> {
    let name = path.display().to_string();
    let size = std::fs::metadata(path).map_err(Error::Output)?.len();
    if size > MAX_FILE {
        return Err(bad_input(format!("{name}: larger than 1 GiB")));
    }
    let text = std::fs::read_to_string(path).map_err(|_| bad_input(format!("{name}: not readable UTF-8 text")))?;
    if name.ends_with(".ndjson") {
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line)
                .map_err(|e| bad_input(format!("{name}:{}: not JSON (column {})", n + 1, e.column())))?;
            if !v["resourceType"].is_string() {
                return Err(bad_input(format!("{name}:{}: no resourceType", n + 1)));
            }
            into.items.push(v);
        }
    } else {
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| bad_input(format!("{name}: not JSON (line {}, column {})", e.line(), e.column())))?;
        match v["resourceType"].as_str() {
            Some("Bundle") => into.add_bundle(&v),
            Some(_) => into.items.push(v),
            None => return Err(bad_input(format!("{name}: no resourceType"))),
        }
    }
    Ok(())
}

/// The files to read: a file itself, or a folder's `*.ndjson` and `*.json` files (sorted).
fn files(path: &Path) -> Result<Vec<std::path::PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out: Vec<_> = std::fs::read_dir(path)
        .map_err(|_| bad_input(format!("{}: neither a file nor a readable folder", path.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ndjson" || x == "json"))
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(bad_input(format!("{}: no .ndjson or .json file", path.display())));
    }
    Ok(out)
}

/// The store's patient for this file, if it already holds them.
fn existing(s: &Session, file: &PatientFile) -> Result<Option<PatientId>> {
    let Some(current) = file.identity.revisions.last().map(|r| &r.content) else { return Ok(None) };
    let query = match &current.ins_matricule {
        Some(m) => FindQuery::InsMatricule(m.clone()),
        None => FindQuery::BirthNameAndDate(current.birth_name.clone(), current.birth_date),
    };
    for p in s.find_patient(&query)? {
        let Some(stored) = s.read_identity(p)?.pop() else { continue };
        let i = &stored.content;
        if i.first_names == current.first_names && i.sex == current.sex && i.birth_date == current.birth_date {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// Writes a chain as a new entry (revision 1, then each correction with its reason). A
/// revision the store refuses (a rule that needs the store, such as a date in the future) ends
/// the chain there, reported; other errors stop the import.
fn write_chain<T: SectionContent + Clone>(
    s: &Session,
    p: PatientId,
    chain: &Chain<T>,
    skipped: &mut Vec<Skipped>,
) -> Result<u64> {
    let mut entry: Option<EntryId> = None;
    for (n, rev) in chain.revisions.iter().enumerate() {
        let reason = rev.reason.as_deref().unwrap_or("révision importée");
        match s.write(p, entry, rev.content.clone(), entry.map(|_| reason)) {
            Ok((e, _)) => entry = Some(e),
            Err(Error::Invalid(e)) => {
                skipped.push(Skipped {
                    what: chain.source.clone(),
                    why: format!("revision {} and later not imported: {e}", n + 1),
                });
                return Ok(n as u64);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(chain.revisions.len() as u64)
}

/// Whether the store holds an entry whose current revision is the chain's current content.
fn present<T: PartialEq>(stored: &[Entry<T>], chain: &Chain<T>) -> bool {
    let Some(last) = chain.revisions.last() else { return true };
    let mut current: std::collections::BTreeMap<EntryId, &Entry<T>> = std::collections::BTreeMap::new();
    for e in stored {
        if current.get(&e.entry_id).is_none_or(|c| c.revision < e.revision) {
            current.insert(e.entry_id, e);
        }
    }
    current.values().any(|e| e.content == last.content)
}

/// Adds the chains the store does not hold yet to patient `p` (`None`: a dry run, or a patient
/// not created yet, so only counted). Returns the revisions written (or that would be).
fn import_chains<T: SectionContent + Clone + PartialEq>(
    s: &Session,
    p: Option<PatientId>,
    stored: &[Entry<T>],
    chains: &[Chain<T>],
    report: &mut ImportReport,
) -> Result<u64> {
    let mut revisions = 0;
    for chain in chains {
        if present(stored, chain) {
            report.entries_present += 1;
        } else if let Some(p) = p {
            revisions += write_chain(s, p, chain, &mut report.skipped)?;
        } else {
            revisions += chain.revisions.len() as u64;
        }
    }
    Ok(revisions)
}

/// Imports FHIR R4 from `path` (see the module documentation). `progress` is told (patients
/// done, patients in the files).
pub fn import_fhir(
    s: &Session,
    path: &Path,
    dry_run: bool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ImportReport> {
    let mut res = Resources { items: Vec::new() };
    for f in files(path)? {
        read_file(&f, &mut res)?;
    }
    let (patients, skipped) = parse::group(&res);
    let mut report = ImportReport { dry_run, skipped, ..ImportReport::default() };
    let total = patients.len() as u64;
    for (n, file) in patients.iter().enumerate() {
        progress(n as u64, total);
        let found = existing(s, file)?;
        let p = match found {
            Some(p) => {
                report.patients_present += 1;
                Some(p)
            }
            None if dry_run => {
                report.patients_created += 1;
                None
            }
            None => {
                let mut revs = file.identity.revisions.iter();
                let Some(first) = revs.next() else { continue };
                match s.create_patient(first.content.clone()) {
                    Ok(p) => {
                        for (n, rev) in revs.enumerate() {
                            let reason = rev.reason.as_deref().unwrap_or("révision importée");
                            match s.update_identity(p, rev.content.clone(), reason) {
                                Ok(_) => {}
                                // A rule that needs the store (an INS another file carries):
                                // the identity stays at its last accepted revision, reported.
                                Err(Error::Invalid(e)) => {
                                    report.skipped.push(Skipped {
                                        what: file.source.clone(),
                                        why: format!("identity revision {} and later not imported: {e}", n + 2),
                                    });
                                    break;
                                }
                                Err(e) => return Err(e),
                            }
                        }
                        report.patients_created += 1;
                        Some(p)
                    }
                    Err(Error::Invalid(e)) => {
                        report
                            .skipped
                            .push(Skipped { what: file.source.clone(), why: format!("identity refused: {e}") });
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let (stored_reports, stored_exams) = match (found, p) {
            (Some(p), _) => (s.read_reports(p)?, s.read_exams(p)?),
            _ => (Vec::new(), Vec::new()),
        };
        let p = p.filter(|_| !dry_run);
        report.report_revisions += import_chains(s, p, &stored_reports, &file.reports, &mut report)?;
        report.exam_revisions += import_chains(s, p, &stored_exams, &file.exams, &mut report)?;
    }
    progress(total, total);
    Ok(report)
}
