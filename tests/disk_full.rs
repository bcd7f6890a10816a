//! Disk full, on a real file system: each embedded engine's store lives on a small tmpfs,
//! reports are written until the disk is full. The failing write returns a typed `DiskFull`
//! error and changes nothing; once space returns the store opens, verifies, holds every
//! acknowledged report, and accepts writes again. Mounting needs root (as in CI); elsewhere the
//! on-disk part is skipped with a message, and the fault-backend test below still runs.

mod common;

use common::{PASS, Practice, ctx};
use medvault::backend::{Backend, MemoryBackend, Space};
use medvault::synthetic::Synth;
use medvault::testing::{Faults, FaultyBackend};
use medvault::{Date, Engine, Error, StorageError, Store, StoreOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?.keep();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn is_disk_full(e: &Error) -> bool {
    matches!(e.storage(), Some(StorageError::DiskFull(_)))
}

const CHILD_VAR: &str = "MEDVAULT_DISK_FULL_DIR";

/// The child: fills the disk through the store, prints each acknowledged report and how the
/// first failure was typed, then exits without closing (sled can wait forever in its drop for
/// writes the full disk refused: a process that hit a full disk on sled must be restarted).
#[test]
#[ignore = "run by a_full_disk_is_a_typed_error_and_the_store_recovers_on_both_engines"]
fn disk_full_child() {
    let Some(dir) = std::env::var_os(CHILD_VAR) else { return };
    let dir = PathBuf::from(dir);
    let store = Store::open(&dir.join("store")).unwrap();
    let doc = store.unlock("dr_martin", PASS, ctx()).unwrap();
    let p = medvault::PatientId::parse(&std::fs::read_to_string(dir.join("patient")).unwrap()).unwrap();
    let free = fs_free(&dir);
    std::fs::write(dir.join("filler"), vec![0u8; free.saturating_sub(600 * 1024) as usize]).unwrap();
    let mut synth = Synth::new(5);
    let d = Date::parse("2026-11-22").unwrap();
    let mut out = String::new();
    for _ in 0..2000 {
        let mut r = synth.report("Dr Plein", d);
        r.body = "Texte du compte rendu. ".repeat(1200); // ~27 KiB
        match doc.append_report(p, r) {
            Ok(e) => out.push_str(&format!("ACK {e}\n")),
            Err(e) => {
                out.push_str(&format!("FAILED disk_full={} message={e}\n", is_disk_full(&e)));
                break;
            }
        }
    }
    print!("{out}");
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    std::process::exit(0);
}

fn fill_and_recover(engine: Engine, mount: &Path) {
    let dir = mount.join("store");
    let p = {
        let practice = Practice::in_dir(&dir, engine);
        let p = practice.patient(1);
        practice.store.close().unwrap();
        p
    };
    std::fs::write(mount.join("patient"), p.to_string()).unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "disk_full_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, mount)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let acked: Vec<&str> = stdout.lines().filter_map(|l| l.strip_prefix("ACK ")).collect();
    let failure = stdout
        .lines()
        .find(|l| l.starts_with("FAILED"))
        .unwrap_or_else(|| panic!("{engine}: the disk never filled: {stdout}"));
    assert!(failure.contains("disk_full=true"), "{engine}: a full disk is a typed DiskFull error: {failure}");
    assert!(failure.contains("disk full"), "{engine}: the message says so: {failure}");
    // Space returns; the store opens, verifies and holds every acknowledged report.
    std::fs::remove_file(mount.join("filler")).unwrap();
    let store = Store::open(&dir).unwrap_or_else(|e| panic!("{engine}: reopen after disk full: {e}"));
    let dpo = store.unlock("dpo", PASS, ctx()).unwrap();
    let report = dpo.verify_audit(None).unwrap();
    assert!(report.is_ok(), "{engine}: {:?}", report.problems);
    let doc = store.unlock("dr_martin", PASS, ctx()).unwrap();
    let stored: Vec<String> = doc.read_reports(p).unwrap().into_iter().map(|e| e.entry_id.to_string()).collect();
    for e in &acked {
        assert!(stored.iter().any(|s| s == e), "{engine}: acknowledged report {e} lost");
    }
    doc.append_report(p, Synth::new(6).report("Dr Plein", Date::parse("2026-11-22").unwrap())).unwrap();
    println!("{engine}: {} reports acknowledged before the disk was full; all present after recovery", acked.len());
}

fn fs_free(path: &Path) -> u64 {
    let out = Command::new("df").args(["--output=avail", "-B1"]).arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().nth(1).and_then(|l| l.trim().parse().ok()).unwrap_or(0)
}

#[test]
fn a_full_disk_is_a_typed_error_and_the_store_recovers_on_both_engines() {
    for engine in [Engine::Redb, Engine::Sled] {
        let Some(fs) = Tmpfs::mount("24m") else {
            assert!(std::env::var_os("CI").is_none(), "CI runs as root and must mount the test tmpfs");
            println!("skipped: cannot mount a tmpfs here (needs root); the fault-backend test still runs");
            return;
        };
        fill_and_recover(engine, &fs.0);
    }
}

#[test]
fn a_full_disk_reported_by_the_backend_changes_nothing() {
    let mem = Arc::new(MemoryBackend::new());
    let faulty = Arc::new(FaultyBackend::new(mem.clone()));
    let practice = Practice::on(faulty.clone(), StoreOptions::insecure_fast_for_tests());
    let p = practice.patient(1);
    let doc = practice.session("dr_martin");
    let before = mem.snapshot();
    faulty.set(Faults { disk_full: true, ..Faults::default() });
    let d = Date::parse("2026-11-22").unwrap();
    let err = doc.append_report(p, Synth::new(1).report("Dr X", d)).unwrap_err();
    assert!(is_disk_full(&err), "{err:?}");
    assert!(is_disk_full(&doc.read_reports(p).unwrap_err()));
    assert_eq!(mem.snapshot(), before, "a failed write left something behind");
    faulty.set(Faults::default());
    doc.append_report(p, Synth::new(1).report("Dr X", d)).unwrap();
    assert!(mem.scan_prefix(Space::Records, &p.0).unwrap().len() >= 3);
}
