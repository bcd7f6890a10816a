//! `keys ...`: section key versions (rotate, rewrap, retire).

use crate::io;
use crate::{CmdResult, Global};
use clap::Subcommand;
use medvault::{Purpose, Section};

#[derive(Subcommand)]
pub enum KeysCmd {
    /// List every version of each section key: primary, retired, held by you.
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Create a new primary version of a section key (administrators).
    Rotate {
        /// identity, reports or exams.
        #[arg(long)]
        section: String,
    },
    /// Rewrap patient keys under the primary version, and move revisions of earlier formats
    /// under patient keys (a user holding the section key).
    Rewrap {
        /// identity, reports or exams.
        #[arg(long)]
        section: String,
    },
    /// Retire versions below one (administrators; after a complete rewrap).
    Retire {
        /// identity, reports or exams.
        #[arg(long)]
        section: String,
        /// Oldest version kept.
        #[arg(long)]
        below: u32,
    },
}

impl KeysCmd {
    /// Whether JSON output was asked for.
    pub fn json(&self) -> bool {
        matches!(self, KeysCmd::List { json: true })
    }
}

pub fn keys(g: &Global, c: KeysCmd) -> CmdResult {
    let (store, s) = io::session(g, Purpose::Operations)?;
    match c {
        KeysCmd::List { .. } => {
            let versions = s.key_versions()?;
            if g.json {
                io::print_json(&versions)?;
            } else {
                let mut t = io::table(&["section", "version", "created (UTC)", "state", "held by you"]);
                for v in &versions {
                    let state = if v.primary {
                        "primary"
                    } else if v.retired {
                        "retired"
                    } else {
                        "decryption only"
                    };
                    t.add_row(vec![
                        v.section.name().to_string(),
                        format!("v{}", v.version),
                        v.created_at.to_string(),
                        state.to_string(),
                        if v.held { "yes" } else { "no" }.to_string(),
                    ]);
                }
                println!("{t}");
            }
        }
        KeysCmd::Rotate { section } => {
            let section = Section::parse(&section)?;
            let v = s.rotate_section_key(section)?;
            eprintln!(
                "{section} key v{v} is now primary; a user holding the {section} key should run: medvault keys rewrap --section {section}"
            );
        }
        KeysCmd::Rewrap { section } => {
            let section = Section::parse(&section)?;
            let bar = io::progress(&format!("rewrapping {section}"), Some(0), false);
            let p = s.rewrap_section(section, usize::MAX, |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })?;
            bar.finish_and_clear();
            eprintln!("{} keys rewrapped, {} remaining", p.rewrapped, p.remaining);
        }
        KeysCmd::Retire { section, below } => {
            let section = Section::parse(&section)?;
            s.retire_key_versions(section, below)?;
            eprintln!("{section} key versions below v{below} retired");
        }
    }
    drop(s);
    store.close()?;
    Ok(())
}
