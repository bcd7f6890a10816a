//! `backup`, `backup verify`, `restore`.

use crate::io;
use crate::{CmdResult, Failure, Global};
use clap::{Args, Subcommand};
use medvault::Purpose;
use std::path::PathBuf;

/// `medvault backup --out FILE`, or `medvault backup verify FILE`.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub cmd: Option<BackupCmd>,
    /// File to write (owner-only; `-` for standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Subcommand)]
pub enum BackupCmd {
    /// Check a backup with no store and no passphrase.
    Verify {
        /// The backup file.
        file: PathBuf,
        /// The store's verification key (hex, `medvault audit key`); without it only the
        /// backup's internal consistency is proven.
        #[arg(long)]
        key: Option<String>,
    },
}

/// `medvault restore FILE --into DIR`.
#[derive(Args)]
pub struct RestoreArgs {
    /// The backup file.
    pub file: PathBuf,
    /// New store folder to create.
    #[arg(long)]
    pub into: PathBuf,
    /// Engine of the new folder.
    #[arg(long, default_value = "redb", value_parser = ["redb", "sled"])]
    pub engine: String,
    /// The store's verification key (hex, `medvault audit key`).
    #[arg(long)]
    pub key: Option<String>,
    /// Folder of anchored checkpoints: a backup older than the newest anchor is refused.
    #[arg(long)]
    pub anchor_dir: Option<PathBuf>,
}

fn parse_key(key: Option<String>) -> Result<Option<[u8; 32]>, Failure> {
    key.map(|k| {
        let mut out = [0u8; 32];
        hex::decode_to_slice(k.trim(), &mut out).map_err(|_| Failure::Other("--key must be 64 hex digits".into()))?;
        Ok(out)
    })
    .transpose()
}

fn open(file: &PathBuf) -> Result<std::io::BufReader<std::fs::File>, Failure> {
    std::fs::File::open(file)
        .map(std::io::BufReader::new)
        .map_err(|e| Failure::Other(format!("cannot read {}: {e}", file.display())))
}

fn signers(report: &medvault::backup::BackupReport) -> String {
    report.signed_by.iter().map(|h| h.signer.to_string()).collect::<Vec<_>>().join(", ")
}

pub fn backup(g: &Global, a: BackupArgs) -> CmdResult {
    match a.cmd {
        Some(BackupCmd::Verify { file, key }) => {
            let key = parse_key(key)?;
            let r = medvault::backup::verify_backup(&mut open(&file)?, key.as_ref())?;
            println!(
                "backup OK: store {}, taken {}, {} records, {} audit events verified (heads signed by {})",
                r.store,
                r.taken_at,
                r.records,
                r.events,
                signers(&r)
            );
            if !r.key_given {
                println!(
                    "warning: no --key given; the backup is consistent, but compare its store's key with the published one"
                );
            }
            Ok(())
        }
        None => {
            let out =
                a.out.ok_or_else(|| Failure::Other("backup needs --out FILE (or `backup verify FILE`)".into()))?;
            let (_store, s) = io::session(g, Purpose::Operations)?;
            let r = if out == std::path::Path::new("-") {
                let mut stdout = std::io::stdout().lock();
                s.backup(&mut stdout)?
            } else {
                let mut file = medvault::export::files::PrivateFile::create(&out, a.force)
                    .map_err(|e| io::output_failure(&out, e))?;
                let mut buffered = std::io::BufWriter::new(&mut file);
                let r = s.backup(&mut buffered)?;
                drop(buffered);
                file.finish().map_err(|e| io::output_failure(&out, e))?;
                r
            };
            eprintln!(
                "backup of store {} written to {}: {} records, {} audit events; check it with: medvault backup verify {}",
                r.store,
                io::output_name(&out),
                r.records,
                r.events,
                out.display()
            );
            Ok(())
        }
    }
}

pub fn restore(a: RestoreArgs) -> CmdResult {
    let engine = medvault::Engine::parse(&a.engine).ok_or_else(|| Failure::Other("unknown engine".into()))?;
    let key = parse_key(a.key)?;
    let r = medvault::backup::restore(&mut open(&a.file)?, &a.into, engine, key.as_ref(), a.anchor_dir.as_deref())?;
    println!(
        "restored store {} into {}: {} records, {} audit events verified (heads signed by {})",
        r.store,
        a.into.display(),
        r.records,
        r.events,
        signers(&r)
    );
    Ok(())
}
