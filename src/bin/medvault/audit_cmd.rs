//! `audit ...` and `verify-extract`.

use crate::io::{self, print_json};
use crate::{CmdResult, Failure, Global};
use clap::{Subcommand, ValueEnum};
use medvault::{Action, AuditEvent, AuditQuery, Checkpoint, Outcome, Purpose, Section, Timestamp};
use std::path::PathBuf;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Who accessed what, newest first.
    Log {
        /// Only this patient.
        #[arg(long)]
        patient: Option<String>,
        /// Only this section.
        #[arg(long)]
        section: Option<String>,
        /// Only events by (or about) this user name.
        #[arg(long = "by")]
        by_user: Option<String>,
        /// From this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// Before this time.
        #[arg(long)]
        until: Option<String>,
        /// Only this action (read, write, search, unlock, break-glass, ...).
        #[arg(long)]
        action: Option<String>,
        /// Only this outcome (success, denied, error).
        #[arg(long)]
        outcome: Option<String>,
        /// At most this many events.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Only events older than this sequence number (next page).
        #[arg(long)]
        before: Option<u64>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Same as --format json.
        #[arg(long)]
        json: bool,
    },
    /// Verify the whole log (exit 4 and the first bad sequence number on failure).
    Verify {
        /// An anchored checkpoint the log must extend.
        #[arg(long)]
        against: Option<PathBuf>,
        /// JSON report.
        #[arg(long)]
        json: bool,
    },
    /// Set the folder (on other media) where every closing checkpoint is also written as an
    /// anchor; `audit verify` then checks the log extends the newest one. Writes one at once.
    AnchorDir {
        /// The folder; omit with --remove.
        dir: Option<PathBuf>,
        /// Stop writing anchors automatically.
        #[arg(long, conflicts_with = "dir")]
        remove: bool,
    },
    /// Export a signed checkpoint to keep elsewhere (the anchor).
    Checkpoint {
        /// Output file, or `-` for standard output.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
    },
    /// Emergency accesses for review.
    BreakGlass {
        /// Only those not reviewed yet.
        #[arg(long)]
        pending: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Mark a break-glass access reviewed.
    Review {
        /// Its id (the sequence number shown by `audit break-glass`).
        seq: u64,
    },
    /// Prune audit payloads past the store's retention setting (leaves are kept).
    Prune,
    /// Write a verifiable extract (NDJSON: events, an inclusion proof each, a signed checkpoint).
    Extract {
        /// Only this patient.
        #[arg(long)]
        patient: Option<String>,
        /// From this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// Before this time.
        #[arg(long)]
        until: Option<String>,
        /// Output file (NDJSON, created owner-only), or `-` for standard output.
        #[arg(long)]
        out: PathBuf,
        /// Also write the events as CSV for spreadsheets (created owner-only).
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Replace existing output files.
        #[arg(long)]
        force: bool,
    },
    /// Print the store's audit public key (give it to whoever verifies extracts).
    Key,
    /// The DPO's report as an HTML page: volumes, denials, break-glass, unusual patterns.
    Report {
        /// From this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        since: String,
        /// Before this time.
        #[arg(long)]
        until: String,
        /// Output HTML file (created owner-only), or `-` for standard output.
        #[arg(long, required_unless_present = "json")]
        out: Option<PathBuf>,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
        /// Print the report's figures as JSON on standard output instead of the page.
        #[arg(long, conflicts_with_all = ["out", "force"])]
        json: bool,
    },
}

impl AuditCmd {
    /// Whether JSON output was asked for.
    pub fn json(&self) -> bool {
        matches!(
            self,
            AuditCmd::Log { json: true, .. }
                | AuditCmd::Verify { json: true, .. }
                | AuditCmd::BreakGlass { json: true, .. }
                | AuditCmd::Report { json: true, .. }
        )
    }
}

fn row(e: &AuditEvent) -> Vec<String> {
    vec![
        e.seq.to_string(),
        e.recorded_at.to_string(),
        e.agent.name.clone(),
        e.agent.roles.join(","),
        e.action.name().to_string(),
        e.outcome.name().to_string(),
        e.purpose.name().to_string(),
        e.entity.patient.map(|p| p.to_string()).unwrap_or_default(),
        e.entity.section.map(|s| s.name().to_string()).unwrap_or_default(),
        e.entity.target_user.clone().unwrap_or_default(),
        e.detail.clone().unwrap_or_default(),
        e.agent.workstation.clone(),
    ]
}

const COLUMNS: [&str; 12] = [
    "seq",
    "time",
    "user",
    "roles",
    "action",
    "outcome",
    "purpose",
    "patient",
    "section",
    "target_user",
    "detail",
    "workstation",
];

pub fn audit(g: &Global, c: AuditCmd) -> CmdResult {
    let (store, s) = if matches!(c, AuditCmd::Verify { .. }) {
        io::session_for_verification(g, Purpose::Operations)?
    } else {
        io::session(g, Purpose::Operations)?
    };
    match c {
        AuditCmd::Log { patient, section, by_user, since, until, action, outcome, limit, before, format, .. } => {
            let q = AuditQuery {
                patient: patient.as_deref().map(|p| crate::patient_cmd::patient_id(&s, p)).transpose()?,
                section: section.as_deref().map(Section::parse).transpose()?,
                user: by_user,
                since: since.as_deref().map(Timestamp::parse).transpose()?,
                until: until.as_deref().map(Timestamp::parse).transpose()?,
                action: action.as_deref().map(Action::parse).transpose()?,
                outcome: outcome.as_deref().map(Outcome::parse).transpose()?,
                before_seq: before,
                limit,
            };
            let events = s.audit_query(&q)?;
            match if g.json { Format::Json } else { format } {
                Format::Json => print_json(&events)?,
                Format::Csv => {
                    let mut w = csv::Writer::from_writer(std::io::stdout());
                    let io_err = |e: csv::Error| Failure::Other(e.to_string());
                    w.write_record(COLUMNS).map_err(io_err)?;
                    for e in &events {
                        w.write_record(row(e)).map_err(io_err)?;
                    }
                    w.flush().map_err(|e| Failure::Other(e.to_string()))?;
                }
                Format::Table => {
                    let rows = events
                        .iter()
                        .map(|e| {
                            let mut r = row(e);
                            r[1] = r[1].replacen('T', " ", 1).chars().take(19).collect();
                            r[7] = r[7].get(..8).unwrap_or("").to_string();
                            r.truncate(11);
                            r.remove(9);
                            r
                        })
                        .collect();
                    let (t, hidden) = io::fitted_table(
                        &[
                            "seq",
                            "time (UTC)",
                            "user",
                            "role",
                            "action",
                            "outcome",
                            "purpose",
                            "patient",
                            "section",
                            "detail",
                        ],
                        rows,
                        "detail",
                        &["role", "section", "purpose", "outcome"],
                    );
                    if !hidden.is_empty() {
                        eprintln!("(too narrow for: {}; widen the terminal or add --json)", hidden.join(", "));
                    }
                    println!("{t}");
                    match events.last() {
                        // A full page: there may be older events.
                        Some(last) if events.len() >= limit => {
                            eprintln!("{} event(s); next page: --before {}", events.len(), last.seq);
                        }
                        _ => eprintln!("{} event(s)", events.len()),
                    }
                }
            }
        }
        AuditCmd::AnchorDir { dir, remove } => {
            if dir.is_none() && !remove {
                return Err(Failure::Usage("give a folder, or --remove".into()));
            }
            match s.set_anchor_dir(dir.as_deref())? {
                Some(path) => {
                    println!("anchors go to {}; first anchor: {}", dir.unwrap_or_default().display(), path.display())
                }
                None => println!("anchors are no longer written automatically"),
            }
        }
        AuditCmd::Verify { against, .. } => {
            let anchor = match &against {
                Some(p) => Some(Checkpoint::from_json(&io::read_text_limited(&p.display().to_string())?)?),
                None => None,
            };
            let bar = io::progress("verifying the audit log", Some(0), false);
            let report = s.verify_audit_with_progress(anchor.as_ref(), &mut |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })?;
            bar.finish_and_clear();
            if g.json {
                print_json(&report)?;
            }
            if let Some(bad) = report.first_bad_seq() {
                for p in &report.problems {
                    eprintln!("  seq {}: {}", p.seq, p.what);
                }
                return Err(Failure::Integrity(format!(
                    "audit log verification failed; first bad sequence number {bad}"
                )));
            }
            if !g.json {
                println!(
                    "audit log OK: {} events, root {}, {} signed heads checked, {}{}{}",
                    report.size,
                    report.root,
                    report.checkpoints_checked,
                    match report.records_checked {
                        Some(n) => format!("{n} stored records match the log"),
                        None => "stored records not checked (no baseline)".to_string(),
                    },
                    if report.anchored { ", extends the anchor" } else { "" },
                    if report.pruned > 0 {
                        format!(", {} payloads pruned by retention", report.pruned)
                    } else {
                        String::new()
                    }
                );
                for by in &report.signed_by {
                    let plural = if by.heads == 1 { "" } else { "s" };
                    println!("  {} signed {} head{plural}, up to {} events", by.signer, by.heads, by.up_to);
                }
            }
        }
        AuditCmd::Checkpoint { out, force } => {
            let cp = s.export_checkpoint()?;
            io::write_output(&out, (cp.to_json() + "\n").as_bytes(), force)?;
            eprintln!(
                "checkpoint of {} events written to {}: keep it where this machine cannot rewrite it",
                cp.head.size,
                io::output_name(&out)
            );
        }
        AuditCmd::BreakGlass { pending, .. } => {
            let list = s.break_glass_list(pending)?;
            if g.json {
                print_json(&list)?;
            } else {
                let mut t = io::table(&["id", "opened (UTC)", "user", "patient", "until", "justification", "reviewed"]);
                for b in &list {
                    t.add_row(vec![
                        b.seq.to_string(),
                        b.opened_at.to_string(),
                        b.user.clone(),
                        b.patient.to_string()[..8].to_string(),
                        b.expires_at.to_string(),
                        b.justification.clone().unwrap_or_else(|| "(sealed for other readers)".into()),
                        b.reviewed_by.clone().map(|r| format!("by {r}")).unwrap_or_else(|| "PENDING".into()),
                    ]);
                }
                println!("{t}");
            }
        }
        AuditCmd::Review { seq } => {
            s.break_glass_review(seq)?;
            eprintln!("break-glass access #{seq} marked reviewed");
        }
        AuditCmd::Extract { patient, since, until, out, csv, force } => {
            let filter = medvault::export::extract::ExtractFilter {
                patient: patient.as_deref().map(|p| crate::patient_cmd::patient_id(&s, p)).transpose()?,
                since: since.as_deref().map(Timestamp::parse).transpose()?,
                until: until.as_deref().map(Timestamp::parse).transpose()?,
            };
            let text = s.audit_extract(&filter)?;
            io::write_output(&out, text.as_bytes(), force)?;
            if let Some(c) = csv {
                let table = medvault::export::extract::events_csv(&text)?;
                io::write_output(&c, table.as_bytes(), force)?;
            }
            eprintln!(
                "extract of {} events written to {}; check it anywhere with: medvault verify-extract {} --key {}",
                text.lines().count().saturating_sub(3),
                io::output_name(&out),
                out.display(),
                hex::encode(store.verification_key())
            );
        }
        AuditCmd::Key => {
            println!("{}", hex::encode(store.verification_key()));
            if store.audit_key_is_shared() {
                eprintln!(
                    "this store predates per-user signing keys; extracts signed with its shared audit key check with: {}",
                    hex::encode(store.audit_public_key())
                );
            }
        }
        AuditCmd::Report { since, until, out, force, .. } => {
            let (since, until) = (Timestamp::parse(&since)?, Timestamp::parse(&until)?);
            match out {
                Some(out) => {
                    let page = s.audit_report(since, until)?;
                    io::write_output(&out, page.as_bytes(), force)?;
                    eprintln!("report written to {}", io::output_name(&out));
                }
                None => print_json(&s.audit_report_summary(since, until)?)?,
            }
        }
        AuditCmd::Prune => {
            let n = s.prune_audit()?;
            eprintln!("{n} audit payloads pruned (their Merkle leaves are kept)");
        }
    }
    drop(s);
    store.close()?;
    Ok(())
}

/// What `verify-extract` and `verify-copy` take.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The file.
    file: PathBuf,
    /// The store's verification key (hex, `medvault audit key`), as its practice published it;
    /// for an extract of a store older than per-user signing keys, its audit key.
    #[arg(long)]
    key: Option<String>,
    /// Check the file's consistency only, without the store's key (anyone can make a
    /// consistent file: this proves nothing about who wrote it).
    #[arg(long, conflicts_with = "key")]
    no_key: bool,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

/// Reads a file to check: `--key` or `--no-key` is required (without the store's key a file can
/// only be checked against itself, which anyone can make: that takes `--no-key`, said out loud).
fn file_to_check(
    file: &PathBuf,
    key: Option<String>,
    no_key: bool,
    what: &str,
) -> Result<(String, Option<[u8; 32]>), Failure> {
    if key.is_none() && !no_key {
        return Err(Failure::Usage(
            "give --key KEY (the store's verification key, as its DPO published it: `medvault audit key`), \
             or --no-key to check only that the file is consistent with itself"
                .into(),
        ));
    }
    let text = std::fs::read(file).map_err(|e| Failure::Other(format!("cannot read {}: {e}", file.display())))?;
    let text = String::from_utf8(text)
        .map_err(|_| Failure::Integrity(format!("the {what} is not valid UTF-8 (modified?)")))?;
    Ok((text, io::parse_key(key)?))
}

/// `verify-copy`: a sealed patient copy.
pub fn verify_copy(a: CheckArgs) -> CmdResult {
    let (text, key) = file_to_check(&a.file, a.key, a.no_key, "copy")?;
    let json = a.json;
    let r = medvault::export::seal::verify_copy(&text, key.as_ref())
        .map_err(|e| Failure::Integrity(format!("copy rejected: {e}")))?;
    if json {
        return print_json(&serde_json::json!({ "ok": true, "report": r }));
    }
    let by = match &r.signed_by {
        Some(b) => format!("sealed by {b}"),
        None => "sealed by the key inside the file".to_string(),
    };
    println!(
        "copy OK: patient {} of store {}, unchanged since {} ({by}); SHA-256 {}",
        r.patient, r.store, r.signed_at, r.sha256
    );
    if !r.key_given {
        println!(
            "warning: checked without --key: the file is consistent with itself, which anyone can make; give the key the practice published"
        );
    }
    Ok(())
}

/// `verify-extract`: an audit extract.
pub fn verify_extract(a: CheckArgs) -> CmdResult {
    let (text, key) = file_to_check(&a.file, a.key, a.no_key, "extract")?;
    let json = a.json;
    match medvault::export::extract::verify_extract(&text, key.as_ref()) {
        Ok(r) => {
            if json {
                print_json(&serde_json::json!({
                    "ok": true,
                    "events": r.events,
                    "store": r.store.to_string(),
                    "checkpoint_size": r.checkpoint_size,
                    "signed_by": r.signed_by,
                    "key": r.key.to_string(),
                    "key_given": r.key_given,
                }))?;
                return Ok(());
            }
            let by = match &r.signed_by {
                Some(b) => format!("signed by {b}, certified by key {}", r.key),
                None => format!("signed by key {}", r.key),
            };
            println!(
                "extract OK: {} events of store {}, each proven against a checkpoint of {} events {by}",
                r.events, r.store, r.checkpoint_size
            );
            if !r.key_given {
                println!(
                    "warning: checked without --key: the file is consistent with itself, which anyone can make; compare the key above with the one its DPO published"
                );
            }
            Ok(())
        }
        Err(e) => Err(Failure::Integrity(format!("extract rejected: {e}"))),
    }
}
