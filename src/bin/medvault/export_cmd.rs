//! `export patient`, `export all`.

use crate::io;
use crate::{CmdResult, Failure, Global};
use clap::{Subcommand, ValueEnum};
use medvault::{PatientId, Purpose};
use std::path::PathBuf;

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// FHIR R4 Bundle (collection).
    Fhir,
    /// medvault's native JSON.
    Json,
    /// Printable HTML page in French.
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
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Every patient this user may export, as FHIR NDJSON files per resource type (Bulk Data layout).
    All {
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
}

fn write(path: &PathBuf, text: &str) -> Result<(), Failure> {
    std::fs::write(path, text).map_err(|e| Failure::Other(format!("cannot write {}: {e}", path.display())))
}

pub fn export(g: &Global, c: ExportCmd) -> CmdResult {
    let (store, s) = io::session(g, Purpose::PatientRequest)?;
    match c {
        ExportCmd::Patient { patient, format, out } => {
            let x = s.export_patient(PatientId::parse(&patient)?)?;
            let text = match format {
                ExportFormat::Fhir => serde_json::to_string_pretty(&medvault::export::fhir::bundle(&x))
                    .map_err(|e| Failure::Other(e.to_string()))?,
                ExportFormat::Json => x.to_json()?,
                ExportFormat::Html => medvault::export::html::page(&x),
            };
            write(&out, &text)?;
            eprintln!(
                "patient copy written to {}: {} identity revision(s), {} report revision(s), {} exam revision(s), {} access event(s)",
                out.display(),
                x.identity.len(),
                x.reports.len(),
                x.exams.len(),
                x.access_history.len()
            );
        }
        ExportCmd::All { out } => {
            std::fs::create_dir_all(&out)
                .map_err(|e| Failure::Other(format!("cannot create {}: {e}", out.display())))?;
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("exporting [{bar:40}] {pos}/{len} patients")
                    .map_err(|e| Failure::Other(e.to_string()))?
                    .progress_chars("=> "),
            );
            let summary = medvault::export::bulk::export_all(&s, &out, |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })?;
            bar.finish_and_clear();
            for (kind, n) in &summary.resources {
                eprintln!("{kind}.ndjson: {n} resources");
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
