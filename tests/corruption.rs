//! Corruption corpus over real on-disk stores, one per embedded engine: single-bit flips at many
//! offsets (densely inside the last commit and the file headers), zeroed ranges, truncation at
//! many lengths, and deleted files. Each damaged copy is opened by the real `medvault` binary
//! (`audit verify` as the DPO). Every case must end in exit 4 (integrity failure) or another
//! clean, typed error; a case that exits 0 must still hold every acknowledged event and record.
//! Panics (exit 101) and signals are counted and must be 0. The counts are printed.

use assert_cmd::Command;
use medvault::backend::Engine;
use medvault::synthetic::Synth;
use medvault::{AccessContext, Date, StoreOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const DPO_PASS: &str = "corpus dpo passphrase";

const CHILD_VAR: &str = "MEDVAULT_CORPUS_KILLED_DIR";

/// The child of [`build_killed`]: builds the store and exits without closing anything, as a
/// killed process would, after printing the audit size.
#[test]
#[ignore = "run by redb_store_corruption_corpus"]
fn build_and_exit_child() {
    let Some(dir) = std::env::var_os(CHILD_VAR) else { return };
    let (size, store) = build(Path::new(&dir), Engine::Redb);
    println!("SIZE {size}");
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    std::mem::forget(store);
    std::process::exit(0);
}

/// A redb store left as a killed process leaves it: everything since its opening checkpoint is
/// only in the journal (a clean close would have checkpointed it into the database file).
fn build_killed(dir: &Path) -> u64 {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "build_and_exit_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let size = stdout.lines().find_map(|l| l.split("SIZE ").nth(1)).and_then(|s| s.trim().parse().ok());
    let journal = std::fs::metadata(dir.join("medvault.journal")).map(|m| m.len()).unwrap_or(0);
    assert!(journal > 0, "the killed store keeps its journal");
    size.unwrap_or_else(|| panic!("the child did not build the store: {stdout}"))
}

/// Builds a store whose newest commit is an acknowledged read; returns its audit size, and the
/// store, still open.
fn build(dir: &Path, engine: Engine) -> (u64, medvault::Store) {
    let options = StoreOptions { engine, ..StoreOptions::insecure_fast_for_tests() };
    let (store, _) = medvault::Store::create(dir, "admin", b"corpus admin pass", options).unwrap();
    let ctx = AccessContext::treatment("corpus");
    let admin = store.unlock("admin", b"corpus admin pass", ctx.clone()).unwrap();
    admin.add_user("doc", &["physician".into()], b"corpus doctor pass").unwrap();
    admin.add_user("dpo", &["auditor".into()], DPO_PASS.as_bytes()).unwrap();
    let doc = store.unlock("doc", b"corpus doctor pass", ctx.clone()).unwrap();
    let mut synth = Synth::new(7);
    let d = Date::parse("2026-11-22").unwrap();
    let mut last = None;
    for i in 0..4 {
        let p = doc.create_patient(synth.identity()).unwrap();
        let mut report = synth.report("Dr Corpus", d);
        if i == 0 {
            // Over sled's blob threshold (~128 KiB): exercises blobs/.
            report.body = "Compte rendu détaillé. ".repeat(9000);
        }
        doc.append_report(p, report).unwrap();
        doc.append_exam(p, synth.lab_result("Labo", d)).unwrap();
        last = Some(p);
    }
    // The newest commit is a read: its event is the acknowledged operation a torn tail loses.
    doc.read_reports(last.unwrap()).unwrap();
    let size = store.audit_size();
    drop((admin, doc));
    (size, store)
}

fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in walk(dir) {
        out.insert(entry.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&entry).unwrap());
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

fn restore(dir: &Path, pristine: &BTreeMap<PathBuf, Vec<u8>>) {
    let _ = std::fs::remove_dir_all(dir);
    for (rel, bytes) in pristine {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

#[derive(Default, Debug)]
struct Tally {
    cases: u64,
    verified_intact: u64,
    integrity_exit_4: u64,
    typed_error: u64,
    engine_panics_caught: Vec<String>,
    process_panics: Vec<String>,
    silent_losses: Vec<String>,
    /// First line of each typed error, with its count.
    messages: BTreeMap<String, u64>,
}

/// Runs `audit verify` as the DPO on the damaged folder and classifies the outcome.
fn judge(dir: &Path, acknowledged: u64, case: &str, t: &mut Tally) {
    t.cases += 1;
    let out = Command::cargo_bin("medvault")
        .unwrap()
        .env_clear()
        .env("MEDVAULT_STORE", dir)
        .env("MEDVAULT_USER", "dpo")
        .env("MEDVAULT_PASSPHRASE", DPO_PASS)
        .args(["audit", "verify", "--json"])
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("caught panic") {
        t.engine_panics_caught.push(case.to_string());
    }
    match out.status.code() {
        Some(0) => {
            // Nothing may be missing: the DPO's unlock is the only new event.
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let size = v["size"].as_u64().unwrap_or(0);
            let records = v["records_checked"].as_u64();
            if size < acknowledged + 1 || records.is_none() {
                t.silent_losses.push(format!("{case}: verify OK with {size} events (acknowledged {acknowledged})"));
            } else {
                t.verified_intact += 1;
            }
        }
        Some(4) => t.integrity_exit_4 += 1,
        Some(1) | Some(3) if stderr.starts_with("medvault: ") && !stderr.contains("panicked") => {
            t.typed_error += 1;
            let first: String = stderr.lines().next().unwrap_or("").chars().filter(|c| !c.is_ascii_digit()).collect();
            *t.messages.entry(first).or_default() += 1;
        }
        other => t
            .process_panics
            .push(format!("{case}: exit {other:?}: {}", stderr.lines().take(3).collect::<Vec<_>>().join(" | "))),
    }
}

fn offsets(len: usize, tail: usize) -> Vec<usize> {
    let mut o: Vec<usize> = (0..48).map(|i| i * len / 48).collect();
    o.extend((0..512.min(len)).step_by(16)); // headers: commit slots, magic, lengths
    let start = len.saturating_sub(tail);
    o.extend((start..len).step_by((tail / 48).max(1))); // the newest commit
    o.sort_unstable();
    o.dedup();
    o.retain(|x| *x < len);
    o
}

fn corpus(engine: Engine, main_file: &str, live_journal: bool) -> Tally {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    let acknowledged = if live_journal {
        build_killed(&dir)
    } else {
        let (size, store) = build(&dir, engine);
        drop(store); // no close(): the read stays the newest commit
        size
    };
    let pristine = files(&dir);
    let mut t = Tally::default();
    // The untouched store verifies with everything present.
    judge(&dir, acknowledged, "pristine", &mut t);
    assert_eq!(t.verified_intact, 1, "{engine}: the pristine store must verify: {t:?}");
    restore(&dir, &pristine);

    let data: Vec<(PathBuf, usize)> =
        pristine.iter().filter(|(p, _)| !p.ends_with("medvault.owner")).map(|(p, b)| (p.clone(), b.len())).collect();
    for (rel, len) in &data {
        if *len == 0 {
            continue;
        }
        let main = rel.ends_with(main_file);
        let tail = if main { 16 * 1024 } else { 512 };
        let offs = if main { offsets(*len, tail) } else { offsets(*len, tail).into_iter().step_by(4).collect() };
        for off in offs {
            for bit in [0u8, 5] {
                restore(&dir, &pristine);
                let mut bytes = pristine[rel].clone();
                bytes[off] ^= 1 << bit;
                std::fs::write(dir.join(rel), &bytes).unwrap();
                judge(&dir, acknowledged, &format!("flip {} @{off} bit {bit}", rel.display()), &mut t);
            }
        }
        if main {
            for i in 0..8 {
                let off = i * len / 8;
                restore(&dir, &pristine);
                let mut bytes = pristine[rel].clone();
                let end = (off + 4096).min(*len);
                bytes[off..end].fill(0);
                std::fs::write(dir.join(rel), &bytes).unwrap();
                judge(&dir, acknowledged, &format!("zero {} @{off}", rel.display()), &mut t);
            }
            let mut lengths: Vec<usize> = (0..14).map(|i| i * len / 14).collect();
            lengths.extend([
                len - 1,
                len.saturating_sub(100),
                len.saturating_sub(4096),
                len.saturating_sub(8192),
                len / 2 + 1,
            ]);
            lengths.sort_unstable();
            lengths.dedup();
            for cut in lengths {
                restore(&dir, &pristine);
                let f = std::fs::OpenOptions::new().write(true).open(dir.join(rel)).unwrap();
                f.set_len(cut as u64).unwrap();
                judge(&dir, acknowledged, &format!("truncate {} to {cut}", rel.display()), &mut t);
            }
        }
        restore(&dir, &pristine);
        std::fs::remove_file(dir.join(rel)).unwrap();
        judge(&dir, acknowledged, &format!("delete {}", rel.display()), &mut t);
    }
    t
}

fn run(engine: Engine, main_file: &str, live_journal: bool) {
    let t = corpus(engine, main_file, live_journal);
    println!(
        "{engine} (damaged file: {main_file}): {} cases: {} verified intact, {} integrity failures (exit 4), {} other typed errors, \
         {} engine panics caught at the boundary, {} process panics, {} silent losses",
        t.cases,
        t.verified_intact,
        t.integrity_exit_4,
        t.typed_error,
        t.engine_panics_caught.len(),
        t.process_panics.len(),
        t.silent_losses.len()
    );
    for (m, n) in &t.messages {
        println!("  {n} x {m}");
    }
    for c in &t.engine_panics_caught {
        println!("  engine panic caught (exit 4): {c}");
    }
    assert!(t.process_panics.is_empty(), "{engine}: panics or signals: {:#?}", t.process_panics);
    assert!(t.silent_losses.is_empty(), "{engine}: silent losses: {:#?}", t.silent_losses);
    assert!(t.integrity_exit_4 > 0, "{engine}: the corpus detected nothing: {t:?}");
}

#[test]
fn redb_store_corruption_corpus() {
    // Dropped: everything is in the database file and the journal is empty. Killed: everything
    // since the opening checkpoint is only in the journal.
    run(Engine::Redb, "medvault.redb", false);
    run(Engine::Redb, "medvault.journal", true);
}

#[test]
fn sled_store_corruption_corpus() {
    run(Engine::Sled, "db", false);
}
