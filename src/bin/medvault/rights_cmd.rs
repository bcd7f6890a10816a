//! `retention ...`, `erase`, `requests ...`.

use crate::io::{self, print_json};
use crate::{CmdResult, Global};
use clap::Subcommand;
use medvault::Section;
use medvault::rights::Retention;
use medvault::rights::{CopyFormat, NewRequest, RequestKind, Requester, Resolution};
use medvault::{Purpose, Timestamp};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum RetentionCmd {
    /// When a patient's file may be purged (CSP R1112-7).
    Status {
        /// Patient id.
        patient: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Purge the files past their retention period (never a file under hold).
    Purge {
        /// Only list them.
        #[arg(long)]
        dry_run: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Set (with --reason) or lift (--lift) a litigation hold.
    Hold {
        /// Patient id.
        patient: String,
        /// Why the file must be kept.
        #[arg(long, required_unless_present = "lift")]
        reason: Option<String>,
        /// Lift the hold.
        #[arg(long, conflicts_with = "reason")]
        lift: bool,
    },
}

#[derive(Subcommand)]
pub enum RequestsCmd {
    /// Register a patient's request; prints its id and legal deadline.
    Add {
        /// Patient id.
        patient: String,
        /// copy, rectification, erasure or objection.
        #[arg(long)]
        kind: String,
        /// When it was received (RFC 3339 or YYYY-MM-DD; default now).
        #[arg(long)]
        received: Option<String>,
        /// Who asked: patient, legal_representative, heir or designated_physician.
        #[arg(long, default_value = "patient")]
        requester: String,
        /// A part of the file concerned (identity, reports, exams; repeat; default the whole file).
        #[arg(long = "section")]
        sections: Vec<String>,
    },
    /// The register: open requests, earliest deadline first (--all: closed ones too, with how
    /// they were answered).
    List {
        /// Only those past their deadline.
        #[arg(long, conflicts_with = "all")]
        overdue: bool,
        /// Closed requests too.
        #[arg(long)]
        all: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Answer a copy request: export the file, record which export answered it, close it.
    Answer {
        /// Request id.
        id: String,
        /// html (sealed French copy), fhir or json.
        #[arg(long, value_enum, default_value = "html")]
        format: crate::export_cmd::ExportFormat,
        /// Output file (created owner-only), or `-` for standard output.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
    },
    /// Close a request answered outside medvault (a correction made, an erasure refused...).
    Close {
        /// Request id.
        id: String,
        /// done, refused or withdrawn.
        #[arg(long, default_value = "done")]
        resolution: String,
    },
}

impl RetentionCmd {
    pub fn json(&self) -> bool {
        matches!(self, RetentionCmd::Status { json: true, .. } | RetentionCmd::Purge { json: true, .. })
    }
}

impl RequestsCmd {
    pub fn json(&self) -> bool {
        matches!(self, RequestsCmd::List { json: true, .. })
    }
}

fn describe(r: &Retention) -> String {
    match r {
        Retention::Keep { until, rule } => format!("keep until {until} ({rule})"),
        Retention::Hold { reason: Some(reason) } => format!("litigation hold ({reason})"),
        Retention::Hold { reason: None } => "litigation hold (reason sealed for other readers)".into(),
        Retention::Expired { since, rule } => format!("past retention since {since} ({rule})"),
    }
}

pub fn retention(g: &Global, c: RetentionCmd) -> CmdResult {
    let (store, s) = io::session(g, Purpose::Legal)?;
    match c {
        RetentionCmd::Status { patient, .. } => {
            let r = s.retention_status(crate::patient_cmd::patient_id(&s, &patient)?)?;
            if g.json {
                print_json(&r)?;
            } else {
                println!("{}", describe(&r));
            }
        }
        RetentionCmd::Purge { dry_run, .. } => {
            let bar = io::progress("examining files", Some(0), false);
            let all = s.purge_expired_with_progress(dry_run, &mut |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            });
            bar.finish_and_clear();
            let all = all?;
            let expired: Vec<_> = all.iter().filter(|(_, r)| matches!(r, Retention::Expired { .. })).collect();
            if g.json {
                let v: Vec<_> =
                    all.iter().map(|(p, r)| serde_json::json!({"patient": p.to_string(), "retention": r})).collect();
                print_json(&v)?;
            } else {
                for (p, r) in &expired {
                    println!("{p}  {}", describe(r));
                }
                let held = all.iter().filter(|(_, r)| matches!(r, Retention::Hold { .. })).count();
                eprintln!(
                    "{} file(s) past retention{}; {} under hold; {} examined",
                    expired.len(),
                    if dry_run { " (dry run: nothing deleted)" } else { " purged" },
                    held,
                    all.len()
                );
            }
        }
        RetentionCmd::Hold { patient, reason, lift } => {
            let p = crate::patient_cmd::patient_id(&s, &patient)?;
            s.set_hold(p, if lift { None } else { reason.as_deref() })?;
            eprintln!("litigation hold {} for {patient}", if lift { "lifted" } else { "set" });
        }
    }
    drop(s);
    store.close()?;
    Ok(())
}

pub fn erase(g: &Global, patient: String) -> CmdResult {
    let (store, s) = io::session(g, Purpose::PatientRequest)?;
    s.erase_patient(crate::patient_cmd::patient_id(&s, &patient)?)?;
    eprintln!("file {patient} purged (crypto-shredded); an audited tombstone remains");
    drop(s);
    store.close()?;
    Ok(())
}

pub fn requests(g: &Global, c: RequestsCmd) -> CmdResult {
    let (store, s) = io::session(g, Purpose::PatientRequest)?;
    match c {
        RequestsCmd::Add { patient, kind, received, requester, sections } => {
            let when = match received {
                Some(t) => Timestamp::parse(&t)?,
                None => Timestamp::now(),
            };
            let mut new = NewRequest::new(RequestKind::parse(&kind)?, when);
            new.requester = Requester::parse(&requester)?;
            new.sections = sections.iter().map(|x| Section::parse(x)).collect::<Result<_, _>>()?;
            let r = s.register(crate::patient_cmd::patient_id(&s, &patient)?, &new)?;
            println!("{}", r.id);
            eprintln!(
                "request {} registered: due {}{} ({}{})",
                r.id,
                r.deadline,
                r.earliest.map(|e| format!(", not before {e}")).unwrap_or_default(),
                r.rule,
                r.oldest_information.map(|d| format!("; oldest information found: {d}")).unwrap_or_default()
            );
        }
        RequestsCmd::List { overdue, all, .. } => {
            let list = if all { s.request_register()? } else { s.list_requests(overdue)? };
            if g.json {
                print_json(&list)?;
            } else {
                let now = Timestamp::now();
                let mut t = io::table(&["id", "patient", "kind", "asked by", "received", "due", "status"]);
                for r in &list {
                    let status = match (&r.answer, r.closed_at) {
                        (Some(a), _) => format!(
                            "{} {} by {}{}",
                            a.resolution,
                            a.at,
                            a.by,
                            a.export
                                .as_ref()
                                .map(|x| format!(" ({} export {})", x.format, &x.sha256[..12]))
                                .unwrap_or_default()
                        ),
                        (None, Some(at)) => format!("closed {at}"),
                        (None, None) if r.is_overdue(now) => "OVERDUE".into(),
                        (None, None) => "open".into(),
                    };
                    t.add_row(vec![
                        r.id.clone(),
                        r.patient.to_string()[..8].to_string(),
                        r.kind.to_string(),
                        r.requester.to_string(),
                        r.received_at.to_string(),
                        r.deadline.to_string(),
                        status,
                    ]);
                }
                println!("{t}");
            }
        }
        RequestsCmd::Answer { id, format, out, force } => {
            let format = match format {
                crate::export_cmd::ExportFormat::Html => CopyFormat::Html,
                crate::export_cmd::ExportFormat::Fhir => CopyFormat::Fhir,
                crate::export_cmd::ExportFormat::Json => CopyFormat::Json,
            };
            let (r, text) = s.answer_copy_request(&id, format)?;
            io::write_output(&out, text.as_bytes(), force)?;
            let sha = r.answer.as_ref().and_then(|a| a.export.as_ref()).map(|x| x.sha256.clone()).unwrap_or_default();
            eprintln!("request {id} answered with {} (SHA-256 {sha}) and closed", io::output_name(&out));
        }
        RequestsCmd::Close { id, resolution } => {
            s.close_request_as(&id, Resolution::parse(&resolution)?)?;
            eprintln!("request {id} closed ({resolution})");
        }
    }
    drop(s);
    store.close()?;
    Ok(())
}
