//! `backup`, `backup verify`, `restore`.

use crate::io;
use crate::{CmdResult, Failure, Global};
use clap::{Args, Subcommand};
use medvault::Purpose;
use std::path::PathBuf;

/// `medvault backup --out FILE [--since FULL [--since INCR ...]]`, or `medvault backup verify
/// FILE...`.
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
    /// Write an incremental backup relative to this chain: the full backup first, then its
    /// incrementals in order (repeat the option).
    #[arg(long)]
    pub since: Vec<PathBuf>,
}

#[derive(Subcommand)]
pub enum BackupCmd {
    /// Check a backup, or a chain (the full backup then its incrementals), with no store and no
    /// passphrase.
    Verify {
        /// The backup file(s), full first.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The store's verification key (hex, `medvault audit key`); without it only the
        /// backup's internal consistency is proven.
        #[arg(long)]
        key: Option<String>,
    },
}

/// `medvault restore FILE... --into DIR`.
#[derive(Args)]
pub struct RestoreArgs {
    /// The backup file(s): the full backup, then its incrementals in order.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// New store folder to create (default: the store given with --store or MEDVAULT_STORE,
    /// which must not exist yet).
    #[arg(long)]
    pub into: Option<PathBuf>,
    /// Engine of the new folder.
    #[arg(long, default_value = "redb", value_parser = ["redb", "sled"])]
    pub engine: String,
    /// The store's verification key (hex, `medvault audit key`).
    #[arg(long)]
    pub key: Option<String>,
    /// Folder of anchored checkpoints: a backup older than the newest anchor is refused.
    #[arg(long)]
    pub anchor_dir: Option<PathBuf>,
    /// Restore even a backup older than the newest anchor: the acting user (an administrator,
    /// MEDVAULT_USER and their passphrase) records the override in the restored store's log,
    /// and the anchors it goes back over are moved aside.
    #[arg(long, requires_all = ["anchor_dir", "reason"])]
    pub force: bool,
    /// Why the newer state is given up (sealed; required with --force).
    #[arg(long, requires = "force")]
    pub reason: Option<String>,
}

/// A backup file being read, counted by the job's progress bar.
type Input = indicatif::ProgressBarIter<std::io::BufReader<std::fs::File>>;

/// Opens backup files for one job; its progress bar counts the bytes read from all of them.
fn open(files: &[PathBuf], what: &str) -> Result<(Vec<Input>, indicatif::ProgressBar), Failure> {
    let mut total = 0;
    let mut opened = Vec::new();
    for file in files {
        let f =
            std::fs::File::open(file).map_err(|e| Failure::Other(format!("cannot read {}: {e}", file.display())))?;
        total += f.metadata().map(|m| m.len()).unwrap_or(0);
        opened.push(std::io::BufReader::new(f));
    }
    let bar = io::progress(what, Some(total), true);
    Ok((opened.into_iter().map(|r| bar.wrap_read(r)).collect(), bar))
}

fn as_chain(readers: &mut [Input]) -> Vec<&mut dyn std::io::Read> {
    readers.iter_mut().map(|r| r as &mut dyn std::io::Read).collect()
}

fn signers(report: &medvault::backup::BackupReport) -> String {
    report.signed_by.iter().map(|h| h.signer.to_string()).collect::<Vec<_>>().join(", ")
}

pub fn backup(g: &Global, a: BackupArgs) -> CmdResult {
    match a.cmd {
        Some(BackupCmd::Verify { files, key }) => {
            let key = io::parse_key(key)?;
            let (mut readers, bar) = open(&files, "checking the backup")?;
            let r = medvault::backup::verify_backup(&mut as_chain(&mut readers), key.as_ref());
            bar.finish_and_clear();
            let r = r?;
            println!(
                "backup OK: store {}, {} file(s), snapshot of {}, {} audit events verified (heads signed by {})",
                r.store,
                r.files,
                r.taken_at,
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
                a.out.ok_or_else(|| Failure::Usage("backup needs --out FILE (or `backup verify FILE`)".into()))?;
            let (_store, s) = io::session(g, Purpose::Operations)?;
            let (mut base, _) = open(&a.since, "reading the base backups")?;
            let bar = io::progress("writing the backup", None, true);
            let mut take = |w: &mut dyn std::io::Write| {
                let mut w = bar.wrap_write(w);
                if base.is_empty() { s.backup(&mut w) } else { s.backup_since(&mut as_chain(&mut base), &mut w) }
            };
            let r = if out == std::path::Path::new("-") {
                take(&mut std::io::stdout().lock())?
            } else {
                let mut file = medvault::export::files::PrivateFile::create(&out, a.force)
                    .map_err(|e| io::output_failure(&out, e))?;
                let mut buffered = std::io::BufWriter::new(&mut file);
                let r = take(&mut buffered)?;
                drop(buffered);
                file.finish().map_err(|e| io::output_failure(&out, e))?;
                r
            };
            bar.finish_and_clear();
            let chain: Vec<String> =
                a.since.iter().chain(std::iter::once(&out)).map(|p| p.display().to_string()).collect();
            eprintln!(
                "{} backup of store {} written to {}: {} records, {} audit events; check it with: medvault backup verify {}",
                if a.since.is_empty() { "full" } else { "incremental" },
                r.store,
                io::output_name(&out),
                r.records,
                r.events,
                chain.join(" ")
            );
            Ok(())
        }
    }
}

pub fn restore(g: &Global, a: RestoreArgs) -> CmdResult {
    let into = match &a.into {
        Some(dir) => dir.clone(),
        None => io::store_dir(g)?,
    };
    let engine = medvault::Engine::parse(&a.engine).ok_or_else(|| Failure::Other("unknown engine".into()))?;
    let key = io::parse_key(a.key)?;
    let (mut readers, bar) = open(&a.files, "restoring")?;
    let chain = &mut as_chain(&mut readers);
    let r = match (a.force, &a.anchor_dir, &a.reason) {
        (true, Some(anchor_dir), Some(reason)) => {
            let admin = g
                .user
                .clone()
                .ok_or_else(|| Failure::Usage("--force needs MEDVAULT_USER (an administrator)".into()))?;
            let passphrase = io::passphrase(g, &format!("Passphrase for {admin}: "))?;
            let forced = medvault::backup::ForcedRestore { admin: &admin, passphrase: passphrase.as_bytes(), reason };
            let r = medvault::backup::restore_forced(chain, &into, engine, key.as_ref(), anchor_dir, forced)?;
            if let Some(size) = r.forced_over {
                eprintln!(
                    "forced: the backup ({} events) is older than the anchored checkpoint ({size} events); \
                     the override is in the restored log (restore-forced) and the anchors it goes back over were moved aside",
                    r.events
                );
            }
            r
        }
        _ => medvault::backup::restore(chain, &into, engine, key.as_ref(), a.anchor_dir.as_deref())?,
    };
    bar.finish_and_clear();
    println!(
        "restored store {} into {}: {} records, {} audit events verified (heads signed by {})",
        r.store,
        into.display(),
        r.records,
        r.events,
        signers(&r)
    );
    Ok(())
}
