//! `retention ...`, `erase`, `requests ...`.

use crate::io::{self, print_json};
use crate::{CmdResult, Global};
use clap::Subcommand;
use medvault::rights::RequestKind;
use medvault::rights::Retention;
use medvault::{Purpose, Timestamp};

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
    /// Register a patient's request; prints its legal deadline.
    Add {
        /// Patient id.
        patient: String,
        /// copy, rectification, erasure or objection.
        #[arg(long)]
        kind: String,
        /// When it was received (RFC 3339 or YYYY-MM-DD; default now).
        #[arg(long)]
        received: Option<String>,
    },
    /// Open requests, earliest deadline first.
    List {
        /// Only those past their deadline.
        #[arg(long)]
        overdue: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Close an answered request.
    Close {
        /// Request id.
        id: String,
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
            let all = s.purge_expired(dry_run)?;
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
        RequestsCmd::Add { patient, kind, received } => {
            let when = match received {
                Some(t) => Timestamp::parse(&t)?,
                None => Timestamp::now(),
            };
            let r =
                s.register_request(crate::patient_cmd::patient_id(&s, &patient)?, RequestKind::parse(&kind)?, when)?;
            println!("{}", r.id);
            eprintln!(
                "request {} registered: due {}{} ({})",
                r.id,
                r.deadline,
                r.earliest.map(|e| format!(", not before {e}")).unwrap_or_default(),
                r.rule
            );
        }
        RequestsCmd::List { overdue, .. } => {
            let list = s.list_requests(overdue)?;
            if g.json {
                print_json(&list)?;
            } else {
                let now = Timestamp::now();
                let mut t = io::table(&["id", "patient", "kind", "received", "due", "status"]);
                for r in &list {
                    t.add_row(vec![
                        r.id.clone(),
                        r.patient.to_string()[..8].to_string(),
                        format!("{:?}", r.kind).to_lowercase(),
                        r.received_at.to_string(),
                        r.deadline.to_string(),
                        if r.is_overdue(now) { "OVERDUE".into() } else { "open".to_string() },
                    ]);
                }
                println!("{t}");
            }
        }
        RequestsCmd::Close { id } => {
            s.close_request(&id)?;
            eprintln!("request {id} closed");
        }
    }
    drop(s);
    store.close()?;
    Ok(())
}
