//! Backups: a consistent snapshot taken while others work, checked with no store and no
//! passphrase, restored into a new folder that verifies and reads back; incremental backups
//! chained to it; a damaged or truncated backup, a broken chain, a chain that does not extend
//! its earlier logs, and a backup older than an anchored checkpoint are refused. On redb
//! folders; a backup taken under load, and one taken while writers go on, also from a store
//! on a PostgreSQL server (where one is reachable).

mod common;

use common::{PASS, Practice, ctx};
use medvault::backup::{ForcedRestore, restore, restore_forced, verify_backup};
use medvault::synthetic::Synth;
use medvault::{AuditQuery, Date, Engine, Store, StoreOptions};
use std::path::Path;

fn on_disk(dir: &Path) -> Practice {
    Practice::in_dir_with(dir, StoreOptions { engine: Engine::Redb, ..StoreOptions::insecure_fast_for_tests() })
}

fn take(practice: &Practice, user: &str) -> Vec<u8> {
    let mut out = Vec::new();
    practice.session(user).backup(&mut out).unwrap();
    out
}

#[test]
fn a_backup_taken_under_load_restores_verifies_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let practice = on_disk(&dir.path().join("store"));
    under_load(&practice, dir.path());
}

/// The same from a store on a PostgreSQL server (its snapshot is a REPEATABLE READ
/// transaction), restored into a folder.
#[test]
fn a_backup_of_a_server_store_taken_under_load_restores_verifies_and_reads_back() {
    if !common::Kind::Postgres.available("backup") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    under_load(&Practice::of(common::Kind::Postgres), dir.path());
}

fn under_load(practice: &Practice, dir: &Path) {
    let patients: Vec<_> = (0..4).map(|i| practice.patient(i)).collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (bytes, written) = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let doc = practice.session("dr_martin");
            let mut synth = Synth::new(99);
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let p = patients[n as usize % patients.len()];
                doc.append_report(p, synth.report("Dr Martin", Date::parse("2026-11-20").unwrap())).unwrap();
                n += 1;
            }
            n
        });
        let reader = s.spawn(|| {
            let nurse = practice.session("ines");
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for p in &patients {
                    nurse.read_exams(*p).unwrap();
                }
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        let bytes = take(practice, "admin");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap();
        (bytes, writer.join().unwrap())
    });
    assert!(written > 0, "the writer worked during the backup");
    let key = practice.store.verification_key();
    let checked = verify_backup(&mut [&mut bytes.as_slice()], Some(&key)).unwrap();
    assert!(checked.key_given && checked.events > 0 && checked.records > 0);
    println!(
        "backup: {} bytes, {} records, {} events, {written} reports written meanwhile",
        bytes.len(),
        checked.records,
        checked.events
    );

    let restored_dir = dir.join("restored");
    let r = restore(&mut [&mut bytes.as_slice()], &restored_dir, Engine::Redb, Some(&key), None).unwrap();
    assert_eq!((r.records, r.events), (checked.records, checked.events));
    let restored = Store::open(&restored_dir).unwrap();
    let dpo = restored.unlock("dpo", PASS, ctx()).unwrap();
    let report = dpo.verify_audit(None).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    // The backup event is in the snapshot, and every patient reads back in every section.
    let backups = dpo
        .audit_query(&AuditQuery { action: Some(medvault::Action::Backup), limit: 10, ..Default::default() })
        .unwrap();
    assert_eq!(backups.len(), 1);
    let doc = restored.unlock("dr_martin", PASS, ctx()).unwrap();
    let mut reports = 0;
    for p in &patients {
        assert_eq!(doc.read_identity(*p).unwrap().len(), 1);
        reports += doc.read_reports(*p).unwrap().len();
        assert_eq!(doc.read_exams(*p).unwrap().len(), 1);
    }
    assert!(reports >= patients.len(), "{reports} reports");
    // Restoring over an existing store is refused.
    assert!(restore(&mut [&mut bytes.as_slice()], &restored_dir, Engine::Redb, Some(&key), None).is_err());
}

#[test]
fn a_damaged_truncated_or_foreign_backup_is_refused_and_restores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let practice = on_disk(&dir.path().join("store"));
    practice.patient(1);
    let bytes = take(&practice, "dpo");
    let key = practice.store.verification_key();
    assert!(verify_backup(&mut [&mut bytes.as_slice()], Some(&key)).is_ok());
    // Flipped bytes: the first and last 64, then a spread over the whole file.
    let n = bytes.len();
    let mut positions: Vec<usize> = (0..64).chain(n - 64..n).collect();
    positions.extend((0..400).map(|i| 64 + i * (n - 128) / 400));
    let mut refused = 0;
    for &i in &positions {
        let mut b = bytes.clone();
        b[i] ^= 0x01;
        assert!(verify_backup(&mut [&mut b.as_slice()], Some(&key)).is_err(), "flip at {i} of {n} accepted");
        refused += 1;
    }
    // Truncated anywhere, or with a byte added.
    for cut in [0, 1, 9, n / 3, n / 2, n - 33, n - 1] {
        assert!(verify_backup(&mut [&mut &bytes[..cut]], Some(&key)).is_err(), "cut at {cut} accepted");
        refused += 1;
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(verify_backup(&mut [&mut longer.as_slice()], Some(&key)).is_err());
    // Another store's key.
    let other = Practice::new().store.verification_key();
    assert!(verify_backup(&mut [&mut bytes.as_slice()], Some(&other)).is_err());
    // A damaged backup restores nothing.
    let mut b = bytes.clone();
    b[n / 2] ^= 0x40;
    let target = dir.path().join("restored");
    assert!(restore(&mut [&mut b.as_slice()], &target, Engine::Redb, Some(&key), None).is_err());
    assert!(!target.exists(), "nothing written for a refused backup");
    println!("{refused} damaged or truncated copies of a {n}-byte backup refused, 0 accepted");
}

#[test]
fn a_backup_older_than_an_anchor_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let anchors = dir.path().join("anchors");
    let practice = on_disk(&dir.path().join("store"));
    practice.patient(1);
    let old = take(&practice, "dpo");
    practice.patient(2);
    // The DPO anchors a checkpoint after the old backup.
    practice.session("dpo").set_anchor_dir(Some(&anchors)).unwrap();
    let new = take(&practice, "dpo");
    let key = practice.store.verification_key();
    let err = restore(&mut [&mut old.as_slice()], &dir.path().join("a"), Engine::Redb, Some(&key), Some(&anchors))
        .unwrap_err();
    assert!(err.to_string().contains("older than the anchored checkpoint"), "{err}");
    assert!(!dir.path().join("a").exists());
    // Without the anchor folder it restores (the operator chose not to check), and a backup
    // taken after the anchor restores with it.
    restore(&mut [&mut old.as_slice()], &dir.path().join("b"), Engine::Redb, Some(&key), None).unwrap();
    restore(&mut [&mut new.as_slice()], &dir.path().join("c"), Engine::Sled, Some(&key), Some(&anchors)).unwrap();
    let report = Store::open(&dir.path().join("c")).unwrap().unlock("dpo", PASS, ctx()).unwrap().verify_audit(None);
    assert!(report.unwrap().is_ok());
}

#[test]
fn a_forced_restore_of_an_older_backup_is_audited_with_its_reason_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let anchors = dir.path().join("anchors");
    let practice = on_disk(&dir.path().join("store"));
    practice.patient(1);
    let old = take(&practice, "admin");
    practice.patient(2);
    practice.session("dpo").set_anchor_dir(Some(&anchors)).unwrap();
    let key = practice.store.verification_key();
    let reason = "Disque du serveur perdu le 4 décembre, dernière sauvegarde saine";
    let force = |to: &str, admin: &'static str, pass: &'static [u8]| {
        let forced = ForcedRestore { admin, passphrase: pass, reason };
        restore_forced(&mut [&mut old.as_slice()], &dir.path().join(to), Engine::Redb, Some(&key), &anchors, forced)
    };
    // A wrong passphrase, or a user who is no administrator: refused, and no folder stays.
    assert!(force("x", "admin", b"wrong passphrase").is_err());
    assert!(matches!(force("y", "ines", PASS), Err(medvault::Error::Denied(_))));
    assert!(!dir.path().join("x").exists() && !dir.path().join("y").exists());
    // A reason is required.
    let short = ForcedRestore { admin: "admin", passphrase: PASS, reason: "  " };
    let z = dir.path().join("z");
    assert!(matches!(
        restore_forced(&mut [&mut old.as_slice()], &z, Engine::Redb, Some(&key), &anchors, short),
        Err(medvault::Error::Invalid(_))
    ));
    assert!(!z.exists());

    let anchored = std::fs::read_dir(&anchors).unwrap().flatten().next().unwrap().path();
    let before: Vec<_> = std::fs::read_dir(&anchored).unwrap().flatten().map(|e| e.file_name()).collect();
    let report = force("restored", "admin", PASS).unwrap();
    assert!(report.forced_over.is_some_and(|size| size > report.events), "{:?}", report.forced_over);
    // The anchors it went back over are kept aside, not deleted.
    let aside = anchored.join(format!("superseded-{}", report.events));
    assert_eq!(std::fs::read_dir(&aside).unwrap().count(), before.len());

    // The override is in the restored log, the reason is not written in clear anywhere.
    let restored = Store::open(&dir.path().join("restored")).unwrap();
    let dpo = restored.unlock("dpo", PASS, ctx()).unwrap();
    let events =
        dpo.audit_query(&AuditQuery { action: Some(medvault::Action::RestoreForced), ..Default::default() }).unwrap();
    assert_eq!(events.len(), 1);
    let detail = events[0].detail.clone().unwrap_or_default();
    assert!(detail.contains("reason sealed") && !detail.contains("Disque"), "{detail}");
    assert!(dpo.verify_audit(None).unwrap().is_ok());
    drop(dpo);
    restored.close().unwrap();
    for e in std::fs::read_dir(dir.path().join("restored")).unwrap().flatten() {
        let bytes = std::fs::read(e.path()).unwrap();
        assert!(!bytes.windows(6).any(|w| w == b"Disque"), "{:?} holds the reason", e.file_name());
    }
}

#[test]
fn only_administrators_and_auditors_take_backups_and_refusals_are_audited() {
    let practice = Practice::new();
    let nurse = practice.session("ines");
    let mut out = Vec::new();
    let err = nurse.backup(&mut out).unwrap_err();
    assert!(err.is_denied(), "{err}");
    assert!(out.is_empty(), "nothing written");
    let denied = practice
        .session("dpo")
        .audit_query(&AuditQuery { action: Some(medvault::Action::Backup), limit: 10, ..Default::default() })
        .unwrap();
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].outcome, medvault::Outcome::Denied);
}

/// Reads a chain of backups held in memory.
fn check(files: &[&Vec<u8>], key: &[u8; 32]) -> medvault::Result<medvault::backup::BackupReport> {
    let mut slices: Vec<&[u8]> = files.iter().map(|f| f.as_slice()).collect();
    let mut chain: Vec<&mut dyn std::io::Read> = slices.iter_mut().map(|s| s as &mut dyn std::io::Read).collect();
    verify_backup(&mut chain, Some(key))
}

fn since(practice: &Practice, user: &str, base: &[&Vec<u8>]) -> Vec<u8> {
    let mut slices: Vec<&[u8]> = base.iter().map(|f| f.as_slice()).collect();
    let mut chain: Vec<&mut dyn std::io::Read> = slices.iter_mut().map(|s| s as &mut dyn std::io::Read).collect();
    let mut out = Vec::new();
    practice.session(user).backup_since(&mut chain, &mut out).unwrap();
    out
}

#[test]
fn incremental_backups_hold_only_changes_and_chain_to_their_base() {
    let dir = tempfile::tempdir().unwrap();
    let practice = on_disk(&dir.path().join("store"));
    let patients: Vec<_> = (0..6).map(|i| practice.patient(i)).collect();
    let key = practice.store.verification_key();
    let full = take(&practice, "admin");
    // Changes: a new report, a care-team member removed (a delete), a new patient.
    let doc = practice.session("dr_martin");
    doc.append_report(patients[0], Synth::new(5).report("Dr Martin", Date::parse("2026-11-21").unwrap())).unwrap();
    doc.care_team_remove(patients[1], &medvault::CareMember::User("labo".into())).unwrap();
    let newcomer = practice.patient(40);
    let first = since(&practice, "admin", &[&full]);
    doc.append_report(newcomer, Synth::new(6).report("Dr Martin", Date::parse("2026-11-22").unwrap())).unwrap();
    let second = since(&practice, "dpo", &[&full, &first]);
    drop(doc);
    println!("full {} bytes, incrementals {} and {} bytes", full.len(), first.len(), second.len());
    assert!(first.len() * 2 < full.len() && second.len() * 2 < full.len(), "incrementals hold only changes");

    let report = check(&[&full, &first, &second], &key).unwrap();
    assert_eq!(report.files, 3);
    // A broken chain: a link skipped, the order swapped, an incremental alone, a flipped byte.
    assert!(check(&[&full, &second], &key).is_err());
    assert!(check(&[&full, &second, &first], &key).is_err());
    assert!(check(&[&first], &key).is_err());
    let mut flipped = first.clone();
    let n = flipped.len();
    flipped[n / 2] ^= 0x01;
    assert!(check(&[&full, &flipped, &second], &key).is_err());

    // The chain restores the latest state.
    let target = dir.path().join("restored");
    let mut slices: Vec<&[u8]> = vec![&full, &first, &second];
    let mut chain: Vec<&mut dyn std::io::Read> = slices.iter_mut().map(|s| s as &mut dyn std::io::Read).collect();
    restore(&mut chain, &target, Engine::Redb, Some(&key), None).unwrap();
    let restored = Store::open(&target).unwrap();
    let doc = restored.unlock("dr_martin", PASS, ctx()).unwrap();
    assert_eq!(doc.read_reports(patients[0]).unwrap().len(), 2);
    assert_eq!(doc.read_reports(newcomer).unwrap().len(), 2);
    let report = restored.unlock("dpo", PASS, ctx()).unwrap().verify_audit(None).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

#[test]
fn an_incremental_from_a_forked_store_does_not_extend_its_chain() {
    let dir = tempfile::tempdir().unwrap();
    let practice = on_disk(&dir.path().join("store"));
    practice.patient(1);
    let key = practice.store.verification_key();
    let full = take(&practice, "admin");
    practice.patient(2);
    let first = since(&practice, "admin", &[&full]);
    // The full backup restored elsewhere and worked on: same store id, another history.
    let fork_dir = dir.path().join("fork");
    restore(&mut [&mut full.as_slice()], &fork_dir, Engine::Redb, Some(&key), None).unwrap();
    let fork = Practice {
        store: Store::open(&fork_dir).unwrap(),
        shares: Vec::new(),
        backend: std::sync::Arc::new(medvault::backend::MemoryBackend::new()),
        place: Default::default(),
    };
    fork.patient(3);
    let forked = since(&fork, "admin", &[&full, &first]);
    let err = check(&[&full, &first, &forked], &key).unwrap_err();
    assert!(err.to_string().contains("does not extend"), "{err}");
}

/// A sink that, once the backup has written its header and some records (it is reading its
/// snapshot), has another session write a report and waits (at most 20 s) for that write to be
/// acknowledged.
struct WriteDuringBackup {
    out: Vec<u8>,
    writer: Option<medvault::Session>,
    patient: medvault::PatientId,
    acknowledged: Option<bool>,
}

impl std::io::Write for WriteDuringBackup {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(doc) = self.writer.take_if(|_| self.out.len() > 4096) {
            let (tx, rx) = std::sync::mpsc::channel();
            let p = self.patient;
            std::thread::spawn(move || {
                let r = doc.append_report(p, Synth::new(9).report("Dr Martin", Date::parse("2026-11-03").unwrap()));
                let _ = tx.send(r.is_ok());
            });
            self.acknowledged = Some(rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap_or(false));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn writers_go_on_while_a_backup_reads_its_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let practice = on_disk(&dir.path().join("store"));
    writers_go_on(&practice, dir.path());
}

#[test]
fn writers_go_on_while_a_backup_reads_a_server_snapshot() {
    if !common::Kind::Postgres.available("backup") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    writers_go_on(&Practice::of(common::Kind::Postgres), dir.path());
}

fn writers_go_on(practice: &Practice, dir: &Path) {
    let p = practice.patient(1);
    // The writer's session is opened first: its unlock is audited too.
    let writer = Some(practice.session("dr_martin"));
    let mut sink = WriteDuringBackup { out: Vec::new(), writer, patient: p, acknowledged: None };
    practice.session("admin").backup(&mut sink).unwrap();
    assert_eq!(sink.acknowledged, Some(true), "a write waited for the backup to finish");
    // The backup holds the store as of its snapshot: one report, not the one written meanwhile.
    let key = practice.store.verification_key();
    let restored = dir.join("restored");
    restore(&mut [&mut sink.out.as_slice()], &restored, Engine::Redb, Some(&key), None).unwrap();
    let store = Store::open(&restored).unwrap();
    assert_eq!(store.unlock("dr_martin", PASS, ctx()).unwrap().read_reports(p).unwrap().len(), 1);
    assert_eq!(practice.session("dr_martin").read_reports(p).unwrap().len(), 2);
}
