//! `medvault`: the administrators' command line, and the demo.

mod demo;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Encrypted patient-record store with a tamper-evident audit log.
#[derive(Parser)]
#[command(name = "medvault", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a small synthetic practice, play a day in it, and show the DPO's view.
    Demo {
        /// Folder for the demo store (default: a new folder under the system temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Number of synthetic patients.
        #[arg(long, default_value_t = 300)]
        patients: u32,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("MEDVAULT_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { dir, patients } => demo::run(dir, patients),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(if e.is_denied() {
                3
            } else if e.is_integrity() {
                4
            } else {
                1
            })
        }
    }
}
