//! Records checked against the log in both directions: every write event commits to the digest
//! of each record it wrote, so a record deleted, rolled back to an older revision, replaced or
//! planted through raw storage access is reported by `verify`, with the event that names it.
//! The same holds for the signed records the log names by presence (checkpoints, signed head).

mod common;

use assert_cmd::Command;
use common::{PASS, Practice, ctx};
use medvault::CareMember;
use medvault::backend::{Backend, Batch, MemoryBackend, Space};
use medvault::{Store, StoreOptions, SystemClock, VerifyReport};
use std::sync::Arc;

fn setup() -> (Arc<MemoryBackend>, Practice, medvault::PatientId, medvault::EntryId) {
    let mem = Arc::new(MemoryBackend::new());
    let options = StoreOptions { checkpoint_interval: 16, ..StoreOptions::insecure_fast_for_tests() };
    let practice = Practice::on(mem.clone(), options);
    let (p, entry) = practice.corrected_patient();
    (mem, practice, p, entry)
}

fn verify(mem: &Arc<MemoryBackend>) -> VerifyReport {
    let store = Store::open_with_backend(mem.clone(), Arc::new(SystemClock)).unwrap();
    store.unlock("dpo", PASS, ctx()).unwrap().verify_audit(None).unwrap()
}

fn keys(mem: &MemoryBackend, space: Space, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    mem.scan_prefix(space, prefix).unwrap()
}

/// The stored revisions of a report entry (reports section code 0x02), oldest first.
fn revisions(mem: &MemoryBackend, p: medvault::PatientId, entry: medvault::EntryId) -> Vec<(Vec<u8>, Vec<u8>)> {
    let prefix = [p.0.as_slice(), &[0x02], &entry.0].concat();
    let found = keys(mem, Space::Records, &prefix);
    assert_eq!(found.len(), 2, "the fixture's report has two revisions");
    found
}

fn apply(mem: &MemoryBackend, f: impl FnOnce(&mut Batch)) {
    let mut b = Batch::new();
    f(&mut b);
    mem.apply(&b).unwrap();
}

fn assert_caught(report: &VerifyReport, needle: &str) {
    assert!(!report.is_ok(), "tampering went unnoticed");
    assert!(
        report.problems.iter().any(|p| p.what.contains(needle) && p.what.contains("event")),
        "expected a problem mentioning {needle:?} and its event: {:?}",
        report.problems
    );
}

#[test]
fn an_untouched_store_checks_every_record() {
    let (mem, practice, _, _) = setup();
    drop(practice);
    let report = verify(&mem);
    assert!(report.is_ok(), "{:?}", report.problems);
    let records = report.records_checked.expect("stores created by this release are checked");
    assert!(records > 30, "{records} records checked");
}

#[test]
fn a_deleted_newest_revision_is_caught() {
    let (mem, practice, p, entry) = setup();
    drop(practice);
    let revisions = revisions(&mem, p, entry);
    apply(&mem, |b| b.delete(Space::Records, revisions[1].0.clone()));
    assert_caught(&verify(&mem), "missing (deleted)");
}

#[test]
fn a_revision_rolled_back_to_older_bytes_is_caught() {
    let (mem, practice, p, entry) = setup();
    drop(practice);
    let revisions = revisions(&mem, p, entry);
    // The patient header is rewritten on every write: put back its older bytes.
    let header_now = mem.get(Space::Patients, &p.0).unwrap().unwrap();
    apply(&mem, |b| b.put(Space::Records, revisions[1].0.clone(), revisions[0].1.clone()));
    assert_caught(&verify(&mem), "differs from what event");
    apply(&mem, |b| b.put(Space::Records, revisions[1].0.clone(), revisions[1].1.clone()));
    assert!(verify(&mem).is_ok());
    let mut older = header_now.clone();
    let n = older.len();
    older[n - 1] ^= 1;
    apply(&mem, |b| b.put(Space::Patients, p.0.to_vec(), older));
    assert_caught(&verify(&mem), "differs from what event");
}

#[test]
fn a_deleted_patient_is_caught() {
    let (mem, practice, p, _) = setup();
    drop(practice);
    let rows = keys(&mem, Space::Records, &p.0);
    apply(&mem, |b| {
        for (k, _) in rows {
            b.delete(Space::Records, k);
        }
        b.delete(Space::Patients, p.0.to_vec());
    });
    assert_caught(&verify(&mem), "missing (deleted)");
}

#[test]
fn a_deleted_opposition_or_care_team_member_is_caught() {
    let (mem, practice, p, _) = setup();
    // Deleting the opposition lets the opposed nurse read: verify must say so.
    let opposition = keys(&mem, Space::Oppositions, &p.0);
    assert_eq!(opposition.len(), 1);
    apply(&mem, |b| b.delete(Space::Oppositions, opposition[0].0.clone()));
    assert!(practice.session("ines").read_reports(p).is_ok(), "the deletion took effect");
    drop(practice);
    assert_caught(&verify(&mem), "Oppositions record");

    let (mem, practice, p, _) = setup();
    drop(practice);
    let team = keys(&mem, Space::CareTeam, &p.0);
    apply(&mem, |b| b.delete(Space::CareTeam, team[0].0.clone()));
    assert_caught(&verify(&mem), "CareTeam record");
}

#[test]
fn planted_records_are_caught() {
    let (mem, practice, p, _) = setup();
    let other = practice.patient(2);
    drop(practice);
    // An opposition copied onto another patient, and a made-up care-team member.
    let opposition = keys(&mem, Space::Oppositions, &p.0).remove(0);
    let mut planted_key = other.0.to_vec();
    planted_key.extend_from_slice(&opposition.0[16..]);
    apply(&mem, |b| b.put(Space::Oppositions, planted_key, opposition.1.clone()));
    let report = verify(&mem);
    assert!(report.problems.iter().any(|p| p.what.contains("planted")), "{:?}", report.problems);
}

#[test]
fn deleted_checkpoints_are_caught() {
    let (mem, practice, _, _) = setup();
    drop(practice);
    let checkpoints = keys(&mem, Space::Checkpoints, &[]);
    assert!(!checkpoints.is_empty(), "the fixture crosses a checkpoint interval");
    apply(&mem, |b| {
        for (k, _) in &checkpoints {
            b.delete(Space::Checkpoints, k.clone());
        }
    });
    assert_caught(&verify(&mem), "Checkpoints record");
}

#[test]
fn on_a_real_store_the_cli_exits_4_for_a_deleted_opposition() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let (store, _) = Store::create(&store_dir, "admin", PASS, StoreOptions::insecure_fast_for_tests()).unwrap();
    let admin = store.unlock("admin", PASS, ctx()).unwrap();
    for (name, role) in [("doc", "physician"), ("nurse", "nurse"), ("dpo", "auditor")] {
        admin.add_user(name, &[role.into()], PASS).unwrap();
    }
    let doc = store.unlock("doc", PASS, ctx()).unwrap();
    let p = doc.create_patient(common::identity(3)).unwrap();
    doc.care_team_add(p, &CareMember::User("nurse".into())).unwrap();
    doc.record_opposition(p, "nurse").unwrap();
    drop((admin, doc));
    store.close().unwrap();
    {
        let (_, raw) = medvault::testing::engine::open(&store_dir).unwrap().unwrap();
        let k = raw.scan_prefix(Space::Oppositions, &p.0).unwrap().remove(0).0;
        let mut b = Batch::new();
        b.delete(Space::Oppositions, k);
        raw.apply(&b).unwrap();
        raw.flush().unwrap();
    }
    let out = Command::cargo_bin("medvault")
        .unwrap()
        .env_clear()
        .env("MEDVAULT_STORE", &store_dir)
        .env("MEDVAULT_USER", "dpo")
        .env("MEDVAULT_PASSPHRASE", std::str::from_utf8(PASS).unwrap())
        .args(["audit", "verify"])
        .assert()
        .code(4)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8_lossy(&out);
    assert!(err.contains("Oppositions record") && err.contains("missing (deleted)"), "{err}");
}
