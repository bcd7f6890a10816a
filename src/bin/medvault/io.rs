//! Passphrases, stores, JSON input and table output for the commands.

use crate::{Failure, Global};
use medvault::{AccessContext, Purpose, Session, Store, StoreLocation};
use serde::de::DeserializeOwned;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use zeroize::Zeroizing;

/// The store folder, or a clear error (commands that work on embedded stores only).
pub fn store_dir(g: &Global) -> Result<PathBuf, Failure> {
    match store_location(g)? {
        StoreLocation::Folder(dir) => Ok(dir),
        _ => Err(Failure::Usage("this command works on a store folder, not on a server URL".into())),
    }
}

/// The store: a folder, or a `postgres://` URL.
pub fn store_location(g: &Global) -> Result<StoreLocation, Failure> {
    g.store
        .as_ref()
        .map(StoreLocation::parse)
        .ok_or_else(|| Failure::Usage("no store given: use --store DIR|postgres://... or set MEDVAULT_STORE".into()))
}

/// The acting user, or a clear error.
pub fn user(g: &Global) -> Result<String, Failure> {
    g.user.clone().ok_or_else(|| Failure::Usage("no user given: use --user NAME or set MEDVAULT_USER".into()))
}

fn read_fd(fd: u32) -> Result<Zeroizing<String>, Failure> {
    // Reading /proc/self/fd/N opens the descriptor by path, with no raw-descriptor adoption.
    let mut text = Zeroizing::new(String::new());
    std::fs::File::open(format!("/proc/self/fd/{fd}"))
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|e| Failure::Other(format!("cannot read the passphrase from fd {fd}: {e}")))?;
    let line = text.lines().next().unwrap_or("").to_string();
    Ok(Zeroizing::new(line))
}

/// The acting user's passphrase: fd, then environment, then a prompt on a terminal.
pub fn passphrase(g: &Global, prompt: &str) -> Result<Zeroizing<String>, Failure> {
    if let Some(fd) = g.passphrase_fd {
        return read_fd(fd);
    }
    if let Ok(p) = std::env::var(&g.passphrase_env) {
        return Ok(Zeroizing::new(p));
    }
    prompt_tty(prompt, &g.passphrase_env)
}

/// The passphrase of an account being created by this command (`init`): fd, then environment,
/// then a prompt on a terminal, typed twice (a typo would lock the administrator out).
pub fn passphrase_confirmed(g: &Global, prompt: &str) -> Result<Zeroizing<String>, Failure> {
    if g.passphrase_fd.is_some() || std::env::var(&g.passphrase_env).is_ok() {
        return passphrase(g, prompt);
    }
    let a = prompt_tty(prompt, &g.passphrase_env)?;
    let b = prompt_tty("Repeat it: ", &g.passphrase_env)?;
    if *a != *b {
        return Err(Failure::Other("the two passphrases differ".into()));
    }
    Ok(a)
}

/// A new passphrase: `MEDVAULT_NEW_PASSPHRASE`, else a prompt (typed twice).
pub fn new_passphrase(who: &str) -> Result<Zeroizing<String>, Failure> {
    if let Ok(p) = std::env::var("MEDVAULT_NEW_PASSPHRASE") {
        return Ok(Zeroizing::new(p));
    }
    let a = prompt_tty(&format!("New passphrase for {who}: "), "MEDVAULT_NEW_PASSPHRASE")?;
    let b = prompt_tty("Repeat it: ", "MEDVAULT_NEW_PASSPHRASE")?;
    if *a != *b {
        return Err(Failure::Other("the two passphrases differ".into()));
    }
    Ok(a)
}

fn prompt_tty(prompt: &str, var: &str) -> Result<Zeroizing<String>, Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Other(format!("no passphrase: not on a terminal, and {var} is not set")));
    }
    rpassword::prompt_password(prompt)
        .map(Zeroizing::new)
        .map_err(|e| Failure::Other(format!("cannot read the passphrase: {e}")))
}

/// Opens the store and unlocks the acting user.
pub fn session(g: &Global, purpose: Purpose) -> Result<(Store, Session), Failure> {
    let store = Store::open_at(&store_location(g)?)?;
    unlock(g, store, purpose)
}

/// Like [`session`], but opens a store whose witness disagrees with it, so that `audit verify`
/// can report every problem (it still exits 4).
pub fn session_for_verification(g: &Global, purpose: Purpose) -> Result<(Store, Session), Failure> {
    let store = Store::open_for_verification_at(&store_location(g)?)?;
    let witness = store.witness_problem();
    match unlock(g, store, purpose) {
        // The store lost what its witness saw: that, not the failed unlock, is the finding.
        Err(Failure::Lib(e)) if witness.is_some() => {
            let what = witness.map(|p| p.to_string()).unwrap_or_default();
            Err(Failure::Integrity(format!("{what} (and the unlock failed: {e})")))
        }
        other => other,
    }
}

fn unlock(g: &Global, store: Store, purpose: Purpose) -> Result<(Store, Session), Failure> {
    let user = user(g)?;
    let pass = passphrase(g, &format!("Passphrase for {user}: "))?;
    let s = store.unlock(&user, pass.as_bytes(), AccessContext { workstation: g.workstation.clone(), purpose })?;
    Ok((store, s))
}

/// Largest JSON input read (an identity, a report, an exam, a policy): 10 MiB, room for a
/// 4 MiB report body however it is escaped.
pub const MAX_JSON_INPUT: u64 = 10 * 1024 * 1024;

/// Reads at most [`MAX_JSON_INPUT`] bytes of text from a file or `-` (stdin); longer input is
/// refused before anything is parsed.
pub fn read_text_limited(source: &str) -> Result<String, Failure> {
    let mut s = String::new();
    let read = if source == "-" {
        std::io::stdin().lock().take(MAX_JSON_INPUT + 1).read_to_string(&mut s)
    } else {
        std::fs::File::open(source).and_then(|f| f.take(MAX_JSON_INPUT + 1).read_to_string(&mut s))
    };
    read.map_err(|e| Failure::Other(format!("cannot read {source}: {e}")))?;
    if s.len() as u64 > MAX_JSON_INPUT {
        return Err(Failure::Lib(
            medvault::InvalidInput::TooLong { field: "JSON input", max: MAX_JSON_INPUT as usize }.into(),
        ));
    }
    Ok(s)
}

/// Reads JSON from a file or `-` (stdin), rejecting unknown fields with their name; errors
/// name the field, never the value (`medvault::json::parse`).
pub fn read_json<T: DeserializeOwned>(source: &str, what: &'static str) -> Result<T, Failure> {
    let text = read_text_limited(source)?;
    medvault::json::parse(&text, what).map_err(|e| Failure::Other(e.to_string()))
}

/// Writes exported plaintext to `out`: `-` is standard output; a path gets a new owner-only
/// file, never written through a symbolic link, replacing an existing file only with `force`.
pub fn write_output(out: &std::path::Path, bytes: &[u8], force: bool) -> Result<(), Failure> {
    if out == std::path::Path::new("-") {
        let mut stdout = std::io::stdout().lock();
        return std::io::Write::write_all(&mut stdout, bytes)
            .and_then(|()| std::io::Write::flush(&mut stdout))
            .map_err(|e| Failure::Other(format!("cannot write to standard output: {e}")));
    }
    medvault::export::files::write_private(out, bytes, force).map_err(|e| output_failure(out, e))
}

/// The failure of writing `out`, with the way out when it exists.
pub fn output_failure(out: &std::path::Path, e: medvault::Error) -> Failure {
    match e {
        medvault::Error::Output(io) if io.kind() == std::io::ErrorKind::AlreadyExists => {
            Failure::Other(format!("{} exists: pass --force to replace it", out.display()))
        }
        e => Failure::Other(format!("cannot write {}: {e}", out.display())),
    }
}

/// Where an output went, for messages.
pub fn output_name(out: &std::path::Path) -> String {
    if out == std::path::Path::new("-") { "standard output".into() } else { out.display().to_string() }
}

/// A `--key` option: a 32-byte public key in hex.
pub fn parse_key(key: Option<String>) -> Result<Option<[u8; 32]>, Failure> {
    key.map(|k| {
        let mut out = [0u8; 32];
        hex::decode_to_slice(k.trim(), &mut out).map_err(|_| Failure::Other("--key must be 64 hex digits".into()))?;
        Ok(out)
    })
    .transpose()
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(v: &T) -> Result<(), Failure> {
    let s = serde_json::to_string_pretty(v).map_err(|e| Failure::Other(e.to_string()))?;
    println!("{s}");
    Ok(())
}

/// A table sized to the terminal.
pub fn table(header: &[&str]) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    t.set_header(header.to_vec());
    t
}

/// A progress bar on standard error for a long job (`len` items or bytes, `None`: unknown,
/// a counter). indicatif draws only on a terminal: in scripts and pipes nothing is printed.
pub fn progress(what: &str, len: Option<u64>, bytes: bool) -> indicatif::ProgressBar {
    let template = match (len.is_some(), bytes) {
        (true, true) => "{msg} [{bar:40}] {bytes}/{total_bytes} ({eta})",
        (true, false) => "{msg} [{bar:40}] {pos}/{len} ({eta})",
        (false, true) => "{spinner} {msg}: {bytes} ({elapsed})",
        (false, false) => "{spinner} {msg}: {pos} ({elapsed})",
    };
    let bar = match len {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

/// A table that fits the terminal without cutting words: every column but `wrap` keeps its
/// content on one line; when the terminal is too narrow, the columns of `drop` go first, in
/// that order, and only then does `wrap` narrow (to no less than 16 characters), wrapping
/// between words. Returns the table and the columns left out. Off a terminal nothing is left
/// out and nothing wraps.
pub fn fitted_table(
    header: &[&str],
    rows: Vec<Vec<String>>,
    wrap: &str,
    drop: &[&str],
) -> (comfy_table::Table, Vec<String>) {
    use comfy_table::{ColumnConstraint, Width};
    let probe = comfy_table::Table::new();
    let terminal = if probe.is_tty() { probe.width() } else { None };
    let chars = |s: &str| s.chars().count();
    let natural: Vec<usize> = (0..header.len())
        .map(|i| {
            let head = header[i].split_whitespace().map(chars).max().unwrap_or(0);
            rows.iter().map(|r| r.get(i).map_or(0, |c| chars(c))).max().unwrap_or(0).max(head)
        })
        .collect();
    let mut keep: Vec<usize> = (0..header.len()).collect();
    let width_of = |keep: &[usize]| -> usize {
        keep.iter().map(|&i| if header[i] == wrap { natural[i].min(16) } else { natural[i] } + 3).sum::<usize>() + 1
    };
    let mut hidden = Vec::new();
    if let Some(max) = terminal.map(usize::from) {
        for name in drop {
            if width_of(&keep) <= max {
                break;
            }
            if let Some(pos) = keep.iter().position(|&i| header[i] == *name) {
                keep.remove(pos);
                hidden.push(name.to_string());
            }
        }
    }
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    if terminal.is_some() {
        t.set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    } else {
        t.set_content_arrangement(comfy_table::ContentArrangement::Disabled);
    }
    t.set_header(keep.iter().map(|&i| header[i]).collect::<Vec<_>>());
    for r in rows {
        t.add_row(keep.iter().map(|&i| r.get(i).cloned().unwrap_or_default()).collect::<Vec<_>>());
    }
    for (n, &i) in keep.iter().enumerate() {
        if header[i] != wrap
            && let Some(col) = t.column_mut(n)
        {
            let w = u16::try_from(natural[i]).unwrap_or(u16::MAX);
            col.set_constraint(ColumnConstraint::Absolute(Width::Fixed(w.saturating_add(2))));
        }
    }
    (t, hidden)
}
