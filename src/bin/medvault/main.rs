//! `medvault`: the administrators' and DPOs' command line, and the demo.
//!
//! Exit codes: 0 success, 1 error, 2 usage, 3 access denied, 4 integrity failure.
//! Passphrases are never taken from the command line: a prompt on a terminal, else the
//! environment variable named by `--passphrase-env` (default `MEDVAULT_PASSPHRASE`) or the file
//! descriptor given by `--passphrase-fd`; a new passphrase from `MEDVAULT_NEW_PASSPHRASE`.

mod attachment_cmd;
mod audit_cmd;
mod backup_cmd;
mod demo;
mod export_cmd;
mod import_cmd;
mod io;
mod keys_cmd;
mod patient_cmd;
mod rights_cmd;
mod user_cmd;

use clap::{Args, CommandFactory, Parser, Subcommand};
use medvault::Error;
use std::path::PathBuf;
use std::process::ExitCode;

/// Encrypted patient-record store with a tamper-evident audit log.
#[derive(Parser)]
#[command(name = "medvault", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every command understands.
#[derive(Args, Clone, Debug)]
pub struct Global {
    /// Store folder, or a PostgreSQL URL (postgres://user@host/db?schema=name) for a store that
    /// several workstations share.
    #[arg(long, env = "MEDVAULT_STORE", global = true)]
    pub store: Option<PathBuf>,
    /// User name to unlock as.
    #[arg(long, env = "MEDVAULT_USER", global = true)]
    pub user: Option<String>,
    /// Environment variable holding the passphrase (for scripts).
    #[arg(long, default_value = "MEDVAULT_PASSPHRASE", global = true)]
    pub passphrase_env: String,
    /// File descriptor to read the passphrase from (first line).
    #[arg(long, global = true)]
    pub passphrase_fd: Option<u32>,
    /// Workstation or application id recorded in the audit log.
    #[arg(long, env = "MEDVAULT_WORKSTATION", default_value = "medvault-cli", global = true)]
    pub workstation: String,
    /// Machine-readable output (set from the command's own `--json` flag).
    #[arg(skip)]
    pub json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Create a store with its first administrator; prints the recovery shares once.
    Init(user_cmd::InitArgs),
    /// Manage accounts.
    #[command(subcommand)]
    User(user_cmd::UserCmd),
    /// Create and find patients.
    #[command(subcommand)]
    Patient(patient_cmd::PatientCmd),
    /// Read one section of a patient's file.
    Read(patient_cmd::ReadArgs),
    /// Write an entry (report, exam) or an identity revision.
    Write(patient_cmd::WriteArgs),
    /// Attach a file (PDF, scan, image) to a report or an exam, encrypted in chunks.
    Attach(attachment_cmd::AttachArgs),
    /// Manage a patient's care team.
    #[command(subcommand)]
    CareTeam(patient_cmd::CareTeamCmd),
    /// Record a patient's opposition to a professional.
    Oppose(patient_cmd::OpposeArgs),
    /// Open an emergency access to a patient (justification mandatory).
    BreakGlass(patient_cmd::BreakGlassArgs),
    /// Query, verify and anchor the audit log.
    #[command(subcommand)]
    Audit(audit_cmd::AuditCmd),
    /// Compliance exports: a patient's copy; every patient as FHIR NDJSON.
    #[command(subcommand)]
    Export(export_cmd::ExportCmd),
    /// Section key lifecycle.
    #[command(subcommand)]
    Keys(keys_cmd::KeysCmd),
    /// Medical-record retention (CSP R1112-7): status, purge, litigation hold.
    #[command(subcommand)]
    Retention(rights_cmd::RetentionCmd),
    /// Erase a patient's file on request (refused inside the retention period, citing why).
    Erase {
        /// Patient id.
        patient: String,
    },
    /// The register of patients' requests and their legal deadlines.
    #[command(subcommand)]
    Requests(rights_cmd::RequestsCmd),
    /// Check an audit extract (NDJSON) without any store (for a regulator, a court, a patient).
    VerifyExtract(audit_cmd::CheckArgs),
    /// Check a sealed patient copy (HTML, `export patient --format html`) without any store:
    /// not one byte changed, and who sealed it.
    VerifyCopy(audit_cmd::CheckArgs),
    /// Restore a user's access with recovery shares.
    Recover(user_cmd::RecoverArgs),
    /// Write a backup of the whole store (still encrypted, audit log included), or check one.
    Backup(backup_cmd::BackupArgs),
    /// Create a new store folder from a backup, after checking it.
    Restore(backup_cmd::RestoreArgs),
    /// Bring files from another system in (FHIR R4).
    #[command(subcommand)]
    Import(import_cmd::ImportCmd),
    /// Copy the store to another embedded engine and verify the copy (the source is left as it
    /// is; point MEDVAULT_STORE at the copy to switch).
    Migrate {
        /// Target engine.
        #[arg(long, value_parser = ["redb", "sled"])]
        to: String,
        /// Folder of the copy (default: the store's folder name with `-ENGINE` appended).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish), e.g.
    /// `medvault completions bash > /etc/bash_completion.d/medvault`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one page per command into a folder.
    Man {
        /// Folder for `medvault.1`, `medvault-read.1`, ... (default: print `medvault.1`).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Build a synthetic practice, play a day in it, and show the DPO's view.
    Demo {
        /// Folder for the demo (default: a new folder under the system temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Number of synthetic patients.
        #[arg(long, default_value_t = 300)]
        patients: u32,
    },
}

/// A command's failure, with its exit code.
pub enum Failure {
    /// A library error (exit code from its kind).
    Lib(Error),
    /// An integrity failure found by a check (exit 4), already reported.
    Integrity(String),
    /// Any other error (exit 1).
    Other(String),
    /// A command used the wrong way: a missing or conflicting option (exit 2, as clap's own).
    Usage(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Lib(e)
    }
}

impl From<medvault::InvalidInput> for Failure {
    fn from(e: medvault::InvalidInput) -> Self {
        Failure::Lib(e.into())
    }
}

/// Result of a command.
pub type CmdResult = Result<(), Failure>;

/// `man`: the manual page on stdout, or every command's page into a folder.
fn man(out: Option<PathBuf>) -> CmdResult {
    let cmd = Cli::command();
    let failed = |e: std::io::Error| Failure::Other(format!("cannot write the manual: {e}"));
    match out {
        Some(dir) => {
            std::fs::create_dir_all(&dir).map_err(failed)?;
            clap_mangen::generate_to(cmd, &dir).map_err(failed)?;
            eprintln!("manual pages written to {}", dir.display());
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut page).map_err(failed)?;
            to_stdout(&page)?;
        }
    }
    Ok(())
}

/// Writes generated text to standard output (a closed pipe is an error, not a panic).
fn to_stdout(bytes: &[u8]) -> CmdResult {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).and_then(|()| out.flush()).map_err(|e| Failure::Other(format!("cannot write: {e}")))
}

fn migrate(g: &Global, to: &str, out: Option<PathBuf>) -> CmdResult {
    let dir = io::store_dir(g)?;
    let to = medvault::Engine::parse(to).ok_or_else(|| Failure::Other("unknown engine (known: redb, sled)".into()))?;
    let out = out.unwrap_or_else(|| {
        let mut name = dir.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(format!("-{to}"));
        dir.with_file_name(name)
    });
    // No count to show: a spinner says the copy, comparison and verification are under way.
    let bar = io::progress("migrating (copy, comparison, verification)", None, false);
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let r = medvault::migrate(&dir, &out, to);
    bar.finish_and_clear();
    let r = r?;
    println!(
        "copied {} records ({} audit events, verified) from {} to {} in {}",
        r.records,
        r.events,
        r.from,
        r.to,
        r.dir.display()
    );
    eprintln!("the original store is unchanged; use the copy with: export MEDVAULT_STORE={}", r.dir.display());
    Ok(())
}

/// Commands take `--json` for machine-readable output on stdout (human messages always go to
/// stderr); JSON input comes from `--input FILE` (`patient create`, `write`).
fn wants_json(c: &Command) -> bool {
    match c {
        Command::Init(a) => a.json,
        Command::User(u) => u.json(),
        Command::Patient(p) => p.json(),
        Command::Read(a) => a.json,
        Command::Write(a) => a.json,
        Command::CareTeam(c) => c.json(),
        Command::Keys(k) => k.json(),
        Command::Attach(a) => a.json,
        Command::BreakGlass(a) => a.json,
        Command::Audit(a) => a.json(),
        Command::Retention(r) => r.json(),
        Command::Requests(r) => r.json(),
        Command::Import(i) => i.json(),
        _ => false,
    }
}

fn main() -> ExitCode {
    // Colour only on a terminal, and never with NO_COLOR set (https://no-color.org).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("MEDVAULT_LOG"))
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
    let mut cli = Cli::parse();
    cli.global.json = wants_json(&cli.command);
    let g = &cli.global;
    let result = match cli.command {
        Command::Init(a) => user_cmd::init(g, a),
        Command::User(c) => user_cmd::run(g, c),
        Command::Patient(c) => patient_cmd::patient(g, c),
        Command::Read(a) => patient_cmd::read(g, a),
        Command::Write(a) => patient_cmd::write(g, a),
        Command::Attach(a) => attachment_cmd::attach(g, a),
        Command::CareTeam(c) => patient_cmd::care_team(g, c),
        Command::Oppose(a) => patient_cmd::oppose(g, a),
        Command::BreakGlass(a) => patient_cmd::break_glass(g, a),
        Command::Audit(c) => audit_cmd::audit(g, c),
        Command::Keys(c) => keys_cmd::keys(g, c),
        Command::Export(c) => export_cmd::export(g, c),
        Command::VerifyExtract(a) => audit_cmd::verify_extract(a),
        Command::VerifyCopy(a) => audit_cmd::verify_copy(a),
        Command::Retention(c) => rights_cmd::retention(g, c),
        Command::Erase { patient } => rights_cmd::erase(g, patient),
        Command::Requests(c) => rights_cmd::requests(g, c),
        Command::Recover(a) => user_cmd::recover(g, a),
        Command::Migrate { to, out } => migrate(g, &to, out),
        Command::Import(c) => import_cmd::import(g, c),
        Command::Backup(a) => backup_cmd::backup(g, a),
        Command::Restore(a) => backup_cmd::restore(g, a),
        Command::Demo { dir, patients } => demo::run(dir, patients).map_err(Failure::Lib),
        Command::Completions { shell } => {
            // Into memory first: the generator panics on a failed write (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "medvault", &mut script);
            to_stdout(&script)
        }
        Command::Man { out } => man(out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Lib(e)) => {
            eprintln!("medvault: {e}");
            ExitCode::from(if e.is_denied() {
                3
            } else if e.is_integrity() {
                4
            } else {
                1
            })
        }
        Err(Failure::Integrity(msg)) => {
            eprintln!("medvault: INTEGRITY FAILURE: {msg}");
            ExitCode::from(4)
        }
        Err(Failure::Other(msg)) => {
            eprintln!("medvault: {msg}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("medvault: {msg}");
            ExitCode::from(2)
        }
    }
}
