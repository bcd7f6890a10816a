//! `import fhir`.

use crate::io::{self, print_json};
use crate::{CmdResult, Global};
use clap::Subcommand;
use medvault::Purpose;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ImportCmd {
    /// Import FHIR R4: a folder of NDJSON files (as `export all` writes them), an NDJSON file or
    /// a Bundle (.json). Patients, reports and exams go through the normal audited path; a
    /// second run adds nothing; what is not imported is listed with the reason.
    Fhir {
        /// Folder or file.
        path: PathBuf,
        /// Read and match everything, write nothing; say what would be done.
        #[arg(long)]
        dry_run: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

impl ImportCmd {
    pub fn json(&self) -> bool {
        matches!(self, ImportCmd::Fhir { json: true, .. })
    }
}

pub fn import(g: &Global, c: ImportCmd) -> CmdResult {
    let ImportCmd::Fhir { path, dry_run, .. } = c;
    let (store, s) = io::session(g, Purpose::Treatment)?;
    let bar = io::progress("importing patients", Some(0), false);
    let r = medvault::import::import_fhir(&s, &path, dry_run, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let r = r?;
    if g.json {
        print_json(&r)?;
    } else {
        let verb = if r.dry_run { "would be " } else { "" };
        println!(
            "{} patient(s) {verb}created, {} already present; {} report revision(s) and {} exam revision(s) {verb}written; {} entr(ies) already present",
            r.patients_created, r.patients_present, r.report_revisions, r.exam_revisions, r.entries_present
        );
        for sk in &r.skipped {
            println!("skipped {}: {}", sk.what, sk.why);
        }
        if r.dry_run {
            eprintln!("dry run: nothing was written");
        }
    }
    drop(s);
    store.close()?;
    Ok(())
}
