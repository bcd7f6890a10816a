//! `export patient`, `export all`.

use crate::io;
use crate::{CmdResult, Failure, Global};
use clap::{Subcommand, ValueEnum};
use medvault::Purpose;
use std::path::PathBuf;

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// FHIR R4 Bundle (collection).
    Fhir,
    /// medvault's native JSON.
    Json,
    /// Printable HTML page in French, sealed (check it with `medvault verify-copy`).
    Html,
}

#[derive(Subcommand)]
pub enum ExportCmd {
    /// A patient's copy of their file with its access history (RGPD art. 15, CSP L1111-7).
    Patient {
        /// Patient id.
        patient: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "fhir")]
        format: ExportFormat,
        /// Output file (created owner-only), or `-` for standard output.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
        /// Also write the content of every attachment into this folder (created owner-only),
        /// one file each, named by its id and name; each read is audited.
        #[arg(long, value_name = "DIR")]
        attachments: Option<PathBuf>,
    },
    /// Every patient this user may export, as FHIR NDJSON files per resource type (Bulk Data
    /// layout); the audit trail only for a user who may read the audit log.
    All {
        /// Output folder (created owner-only if missing).
        #[arg(long)]
        out: PathBuf,
        /// Replace existing files in the folder.
        #[arg(long)]
        force: bool,
    },
}

/// Creates the output folder, owner-only, if it is missing.
fn create_folder(out: &PathBuf) -> Result<(), Failure> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(out).map_err(|e| Failure::Other(format!("cannot create {}: {e}", out.display())))
}

pub fn export(g: &Global, c: ExportCmd) -> CmdResult {
    let (store, s) = io::session(g, Purpose::PatientRequest)?;
    match c {
        ExportCmd::Patient { patient, format, out, force, attachments } => {
            let id = crate::patient_cmd::patient_id(&s, &patient)?;
            let (x, text) = match format {
                ExportFormat::Fhir => {
                    let x = s.export_patient(id)?;
                    let text = serde_json::to_string_pretty(&medvault::export::fhir::bundle(&x))
                        .map_err(|e| Failure::Other(e.to_string()))?;
                    (x, text)
                }
                ExportFormat::Json => {
                    let x = s.export_patient(id)?;
                    let text = x.to_json()?;
                    (x, text)
                }
                ExportFormat::Html => s.patient_copy_html(id)?,
            };
            io::write_output(&out, text.as_bytes(), force)?;
            eprintln!(
                "patient copy written to {}: {} identity revision(s), {} report revision(s), {} exam revision(s), {} access event(s)",
                io::output_name(&out),
                x.identity.len(),
                x.reports.len(),
                x.exams.len(),
                x.access_history.len()
            );
            match attachments {
                Some(dir) => {
                    create_folder(&dir)?;
                    for a in &x.attachments {
                        let path = dir.join(crate::attachment_cmd::file_name(a));
                        crate::attachment_cmd::write_attachment(
                            &s,
                            (x.patient, a.section, a.entry, a.id),
                            &path,
                            force,
                        )?;
                    }
                    eprintln!("{} attachment(s) written to {}", x.attachments.len(), dir.display());
                }
                None if !x.attachments.is_empty() => eprintln!(
                    "{} attachment(s) listed in the copy but not written: add --attachments DIR",
                    x.attachments.len()
                ),
                None => {}
            }
        }
        ExportCmd::All { out, force } => {
            create_folder(&out)?;
            let bar = io::progress("exporting patients", Some(0), false);
            let summary = medvault::export::bulk::export_all(&s, &out, force, |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .map_err(|e| io::output_failure(&out, e))?;
            bar.finish_and_clear();
            for (kind, n) in &summary.resources {
                eprintln!("{kind}.ndjson: {n} resources");
            }
            if summary.audit_trail_left_out {
                eprintln!("access histories left out: this user may not read the audit log");
            }
            if summary.skipped > 0 {
                eprintln!(
                    "{} patient(s) skipped: this user may not read all their sections (each refusal is audited)",
                    summary.skipped
                );
            }
        }
    }
    drop(s);
    store.close()?;
    Ok(())
}
