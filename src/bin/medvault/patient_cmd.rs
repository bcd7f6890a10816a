//! `patient ...`, `read`, `write`, `care-team ...`, `oppose`, `break-glass`.

use crate::io::{self, print_json};
use crate::{CmdResult, Failure, Global};
use clap::{Args, Subcommand};
use medvault::CareMember;
use medvault::{Date, Entry, EntryId, Exam, FindQuery, Identity, PatientId, Purpose, Report, Section, Session};
use serde_json::json;

#[derive(Subcommand)]
pub enum PatientCmd {
    /// Create a patient from an identity JSON file (or - for stdin); prints the new id.
    Create {
        /// Identity JSON (docs/json.md), a file or - for standard input.
        #[arg(long, value_name = "FILE|-")]
        input: String,
        /// JSON output: `{"patient": ID}`.
        #[arg(long)]
        json: bool,
    },
    /// Find patients by INS matricule, or by birth name and birth date.
    Find {
        /// INS matricule (NIR or NIA).
        #[arg(long, conflicts_with_all = ["name", "birth_date"])]
        ins: Option<String>,
        /// Birth name.
        #[arg(long, requires = "birth_date")]
        name: Option<String>,
        /// Birth date, YYYY-MM-DD.
        #[arg(long, requires = "name")]
        birth_date: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

impl PatientCmd {
    /// Whether JSON output was asked for.
    pub fn json(&self) -> bool {
        matches!(self, PatientCmd::Find { json: true, .. } | PatientCmd::Create { json: true, .. })
    }
}

#[derive(Args)]
pub struct ReadArgs {
    /// Patient id.
    patient: String,
    /// identity, reports or exams.
    #[arg(long)]
    section: String,
    /// JSON output: every revision, with the section's fields, ids and timestamps.
    #[arg(long)]
    pub json: bool,
    /// List the section's attachments instead of its entries.
    #[arg(long, conflicts_with = "attachment")]
    attachments: bool,
    /// Write this attachment's content to --out (needs --entry).
    #[arg(long, requires_all = ["out", "entry"])]
    attachment: Option<String>,
    /// The entry holding --attachment.
    #[arg(long)]
    entry: Option<String>,
    /// Where --attachment is written (a new file, mode 0600).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Replace --out if it exists.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
pub struct WriteArgs {
    /// Patient id.
    patient: String,
    /// identity, reports or exams.
    #[arg(long)]
    section: String,
    /// The entry as JSON (docs/json.md), a file or - for standard input.
    #[arg(long, value_name = "FILE|-")]
    input: String,
    /// JSON output: `{"patient", "section", "entry_id", "revision"}`.
    #[arg(long)]
    pub json: bool,
    /// Why this revision replaces the previous one (required for identity and corrections).
    #[arg(long)]
    reason: Option<String>,
    /// Correct this entry (a new revision) instead of adding one.
    #[arg(long)]
    entry: Option<String>,
}

#[derive(Subcommand)]
pub enum CareTeamCmd {
    /// Add a user (or `role:NAME`) to a patient's care team.
    Add {
        /// Patient id.
        patient: String,
        /// User name, or role:NAME for every user with that role.
        member: String,
    },
    /// Remove a user (or `role:NAME`) from a patient's care team.
    Remove {
        /// Patient id.
        patient: String,
        /// User name, or role:NAME.
        member: String,
    },
    /// List a patient's care team.
    List {
        /// Patient id.
        patient: String,
        /// JSON output: `{"patient": ID, "care_team": ["dr_martin", "role:nurse", ...]}`.
        #[arg(long)]
        json: bool,
    },
}

impl CareTeamCmd {
    /// Whether JSON output was asked for.
    pub fn json(&self) -> bool {
        matches!(self, CareTeamCmd::List { json: true, .. })
    }
}

#[derive(Args)]
pub struct OpposeArgs {
    /// Patient id.
    patient: String,
    /// The professional the patient objects to.
    professional: String,
    /// Withdraw the patient's opposition instead of recording it.
    #[arg(long)]
    withdraw: bool,
}

#[derive(Args)]
pub struct BreakGlassArgs {
    /// Patient id.
    patient: String,
    /// Why (mandatory, at least 20 characters).
    #[arg(long)]
    reason: String,
    /// Duration in hours (default 4, at most 12).
    #[arg(long)]
    hours: Option<u32>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

use medvault::json::views;

/// A patient id as typed: the whole id, or the first digits of it (at least 4) if they name
/// one patient only.
pub fn patient_id(s: &Session, text: &str) -> Result<PatientId, Failure> {
    Ok(s.patient_by_id_prefix(text)?)
}

fn member(s: &str) -> CareMember {
    match s.strip_prefix("role:") {
        Some(r) => CareMember::Role(r.to_string()),
        None => CareMember::User(s.to_string()),
    }
}

pub fn patient(g: &Global, c: PatientCmd) -> CmdResult {
    match c {
        PatientCmd::Create { input, .. } => {
            let identity: Identity = io::read_json(&input, "identity")?;
            let (store, s) = io::session(g, Purpose::Treatment)?;
            let id = s.create_patient(identity)?;
            if g.json {
                print_json(&json!({ "patient": id.to_string() }))?;
            } else {
                println!("{id}");
            }
            drop(s);
            store.close()?;
        }
        PatientCmd::Find { ins, name, birth_date, .. } => {
            let query = match (ins, name, birth_date) {
                (Some(m), _, _) => FindQuery::InsMatricule(m),
                (None, Some(n), Some(d)) => FindQuery::BirthNameAndDate(n, Date::parse(&d)?),
                _ => {
                    return Err(Failure::Usage(
                        "give --ins MATRICULE, or --name BIRTHNAME --birth-date YYYY-MM-DD".into(),
                    ));
                }
            };
            let (store, s) = io::session(g, Purpose::Treatment)?;
            let found = s.find_patient(&query)?;
            if g.json {
                print_json(&json!({ "patients": found.iter().map(|p| p.to_string()).collect::<Vec<_>>() }))?;
            } else {
                for p in &found {
                    println!("{p}");
                }
                eprintln!("{} patient(s) found", found.len());
            }
            drop(s);
            store.close()?;
        }
    }
    Ok(())
}

fn print_identity(e: &Entry<Identity>, total: usize) {
    let i = &e.content;
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
    println!("birth name        {}", i.birth_name);
    println!("first names       {}", i.first_names.join(" "));
    println!("used name         {}", opt(&i.used_name));
    println!("birth date        {}", i.birth_date);
    println!("sex               {:?}", i.sex);
    println!("birth place INSEE {}", i.birth_place_insee);
    println!("INS matricule     {} ({})", opt(&i.ins_matricule), opt(&i.ins_oid));
    println!("identity status   {:?}", i.identity_status);
    println!("address           {}", opt(&i.address));
    println!("phone             {}", opt(&i.phone));
    println!("e-mail            {}", opt(&i.email));
    println!("revision {} of {total}, recorded {} by {}", e.revision, e.recorded_at, e.recorded_by);
}

pub fn read(g: &Global, a: ReadArgs) -> CmdResult {
    let section = Section::parse(&a.section)?;
    if let (Some(id), Some(out)) = (&a.attachment, &a.out) {
        return crate::attachment_cmd::read_one(g, &a.patient, section, a.entry.as_deref(), id, out, a.force);
    }
    if a.attachments {
        return crate::attachment_cmd::list(g, &a.patient, section);
    }
    let (store, s) = io::session(g, Purpose::Treatment)?;
    let p = patient_id(&s, &a.patient)?;
    match section {
        Section::Identity => {
            let e = s.read_identity(p)?;
            if g.json {
                print_json(&views(&e))?;
            } else if let Some(last) = e.last() {
                print_identity(last, e.len());
            }
        }
        Section::Reports => {
            let e = s.read_reports(p)?;
            if g.json {
                print_json(&views(&e))?;
            } else {
                let mut t = io::table(&["entry", "rev", "date", "kind", "author", "title"]);
                for r in &e {
                    let c = &r.content;
                    t.add_row(vec![
                        r.entry_id.to_string()[..8].to_string(),
                        r.revision.to_string(),
                        c.date.to_string(),
                        format!("{:?}", c.kind),
                        c.author.clone(),
                        c.title.clone(),
                    ]);
                }
                println!("{t}");
            }
        }
        _ => {
            let e = s.read_exams(p)?;
            if g.json {
                print_json(&views(&e))?;
            } else {
                let mut t = io::table(&["entry", "rev", "date", "exam", "value", "unit", "reference", "flag"]);
                for r in &e {
                    let c = &r.content;
                    let o = |v: &Option<String>| v.clone().unwrap_or_default();
                    t.add_row(vec![
                        r.entry_id.to_string()[..8].to_string(),
                        r.revision.to_string(),
                        c.date.to_string(),
                        c.label.clone(),
                        o(&c.value),
                        o(&c.unit),
                        o(&c.reference_range),
                        c.interpretation.map(|i| format!("{i:?}")).unwrap_or_default(),
                    ]);
                }
                println!("{t}");
            }
        }
    }
    drop(s);
    store.close()?;
    Ok(())
}

pub fn write(g: &Global, a: WriteArgs) -> CmdResult {
    let section = Section::parse(&a.section)?;
    let entry = a.entry.as_deref().map(EntryId::parse).transpose()?;
    // Parse and check the input before unlocking: bad input changes nothing.
    enum Input {
        I(Identity),
        R(Report),
        E(Exam),
    }
    let input = match section {
        Section::Identity => {
            if a.reason.is_none() {
                return Err(Failure::Usage("an identity revision needs --reason".into()));
            }
            Input::I(io::read_json(&a.input, "identity")?)
        }
        Section::Reports => Input::R(io::read_json(&a.input, "report")?),
        _ => Input::E(io::read_json(&a.input, "exam")?),
    };
    let (store, s) = io::session(g, Purpose::Treatment)?;
    let p = patient_id(&s, &a.patient)?;
    let reason = a.reason.as_deref();
    let (e, rev) = match input {
        Input::I(i) => s.write(p, Some(EntryId::IDENTITY), i, reason)?,
        Input::R(r) => s.write(p, entry, r, reason)?,
        Input::E(x) => s.write(p, entry, x, reason)?,
    };
    if g.json {
        print_json(
            &json!({"patient": p.to_string(), "section": section.name(), "entry_id": e.to_string(), "revision": rev}),
        )?;
    } else {
        println!("{e} revision {rev}");
    }
    drop(s);
    store.close()?;
    Ok(())
}

pub fn care_team(g: &Global, c: CareTeamCmd) -> CmdResult {
    let (store, s) = io::session(g, Purpose::Treatment)?;
    match c {
        CareTeamCmd::Add { patient, member: m } => {
            let p = patient_id(&s, &patient)?;
            s.care_team_add(p, &member(&m))?;
            eprintln!("{m} added to the care team of {p}");
        }
        CareTeamCmd::Remove { patient, member: m } => {
            let p = patient_id(&s, &patient)?;
            s.care_team_remove(p, &member(&m))?;
            eprintln!("{m} removed from the care team of {p}");
        }
        CareTeamCmd::List { patient, .. } => {
            let p = patient_id(&s, &patient)?;
            let team: Vec<String> = s.care_team(p)?.iter().map(CareMember::label).collect();
            if g.json {
                print_json(&json!({"patient": p.to_string(), "care_team": team}))?;
            } else {
                for m in &team {
                    println!("{m}");
                }
                eprintln!("{} member(s) in the care team of {p}", team.len());
            }
        }
    }
    drop(s);
    store.close()?;
    Ok(())
}

pub fn oppose(g: &Global, a: OpposeArgs) -> CmdResult {
    let (store, s) = io::session(g, Purpose::PatientRequest)?;
    let p = patient_id(&s, &a.patient)?;
    if a.withdraw {
        s.withdraw_opposition(p, &a.professional)?;
        eprintln!("opposition of patient {p} to {} withdrawn", a.professional);
    } else {
        s.record_opposition(p, &a.professional)?;
        eprintln!("opposition of patient {p} to {} recorded", a.professional);
    }
    drop(s);
    store.close()?;
    Ok(())
}

pub fn break_glass(g: &Global, a: BreakGlassArgs) -> CmdResult {
    let (store, s) = io::session(g, Purpose::Emergency)?;
    let id = s.break_glass(patient_id(&s, &a.patient)?, &a.reason, a.hours)?;
    if g.json {
        print_json(&json!({"break_glass": id, "patient": a.patient}))?;
    } else {
        eprintln!("emergency access #{id} opened; every read is flagged for the DPO's review");
    }
    drop(s);
    store.close()?;
    Ok(())
}
