//! Key rotation, Tink's four stages; revocation followed by rotation; a resumable rewrap.

mod common;
use common::every_backend;

use common::{PASS, Practice, ctx};
use medvault::synthetic::Synth;
use medvault::testing::crypto::Key32;
use medvault::testing::open_with as testing_open_with;
use medvault::{Date, Error, PatientId, Section};

fn report(practice: &Practice, p: PatientId, seed: u64) {
    let d = Date::parse("2026-11-22").unwrap();
    practice.session("dr_martin").append_report(p, Synth::new(seed).report("Dr", d)).unwrap();
}

/// The rows of a keyspace for the patient's reports: (key, the u32 LE after the value's format).
/// Records: the key_version (a format 2 revision's patient key generation); PatientKeys: the
/// wrapping section key version (docs/format.md §4).
fn report_rows(practice: &Practice, p: PatientId, space: medvault::backend::Space) -> Vec<(Vec<u8>, u32)> {
    let mut prefix = p.0.to_vec();
    prefix.push(Section::Reports as u8);
    let rows = practice.backend.scan_prefix(space, &prefix).unwrap();
    rows.into_iter().map(|(k, v)| (k, u32::from_le_bytes([v[2], v[3], v[4], v[5]]))).collect()
}

fn record_versions(practice: &Practice, p: PatientId) -> Vec<u32> {
    report_rows(practice, p, medvault::backend::Space::Records).into_iter().map(|(_, v)| v).collect()
}

/// (generation, wrapping section key version) of every patient key of the patient's reports.
fn patient_key_versions(practice: &Practice, p: PatientId) -> Vec<(u32, u32)> {
    let rows = report_rows(practice, p, medvault::backend::Space::PatientKeys);
    // key: patient ‖ section ‖ generation u32 BE
    rows.into_iter().map(|(k, v)| (u32::from_be_bytes([k[17], k[18], k[19], k[20]]), v)).collect()
}

every_backend! {
fn the_four_stages_keep_every_entry_readable(kind) {
    let practice = Practice::of(kind);
    let p = practice.patient(1); // one report under v1
    let admin = practice.session("admin");
    // Stage 1: old primary.
    assert_eq!(record_versions(&practice, p), vec![1]);
    // Stage 2: new key added, not primary: writes still use v1, readers already hold v2.
    let v2 = admin.add_key_version(Section::Reports).unwrap();
    assert_eq!(v2, 2);
    report(&practice, p, 2);
    assert_eq!(record_versions(&practice, p).iter().filter(|v| **v == 1).count(), 2);
    let nurse = practice.session("ines");
    assert_eq!(nurse.read_reports(p).unwrap().len(), 2);
    // Stage 3: new primary: new writes use v2; everything stays readable.
    admin.promote_key_version(Section::Reports, 2).unwrap();
    report(&practice, p, 3);
    let mut versions = record_versions(&practice, p);
    versions.sort();
    assert_eq!(versions, vec![1, 1, 2], "new data under a new patient key");
    assert_eq!(patient_key_versions(&practice, p), vec![(1, 1), (2, 2)]);
    assert_eq!(practice.session("ines").read_reports(p).unwrap().len(), 3);
    // Stage 4: old disabled: refused until the data keys are rewrapped, then allowed.
    let err = admin.retire_key_versions(Section::Reports, 2).unwrap_err();
    assert!(err.to_string().contains("run the rewrap first"), "{err}");
    let progress = practice.session("dr_martin").rewrap_section(Section::Reports, usize::MAX, |_, _| {}).unwrap();
    assert_eq!((progress.rewrapped, progress.remaining), (1, 0), "one patient key, no data key");
    assert_eq!(patient_key_versions(&practice, p), vec![(1, 2), (2, 2)]);
    admin.retire_key_versions(Section::Reports, 2).unwrap();
    let nurse = practice.session("ines");
    assert_eq!(nurse.read_reports(p).unwrap().len(), 3);
    // A session opened after retirement no longer holds v1.
    let copied: Vec<Key32> = medvault::testing::held_keys(&nurse);
    let store_id = practice.store.id();
    let keys: Vec<&Key32> = copied.iter().collect();
    assert_eq!(testing_open_with(practice.backend.as_ref(), store_id, &keys, p, Section::Reports).unwrap(), 3);
}
}

every_backend! {
fn after_revocation_and_rotation_copied_keys_open_nothing_new(kind) {
    let practice = Practice::of(kind);
    let p = practice.patient(2);
    // The nurse copies everything her session holds, then is revoked.
    let nurse = practice.session("ines");
    let copied: Vec<Key32> = medvault::testing::held_keys(&nurse);
    drop(nurse);
    let admin = practice.session("admin");
    admin.revoke_user("ines").unwrap();
    for section in [Section::Identity, Section::Reports, Section::Exams] {
        admin.rotate_section_key(section).unwrap();
    }
    // Sessions unlocked after the rotation write under the new versions.
    let q = {
        let doc = practice.session("dr_martin");
        let q = doc.create_patient(Synth::new(7).identity()).unwrap();
        doc.append_report(q, Synth::new(8).report("Dr", Date::parse("2026-11-23").unwrap())).unwrap();
        doc.append_exam(q, Synth::new(9).lab_result("L", Date::parse("2026-11-23").unwrap())).unwrap();
        q
    };
    report(&practice, p, 10);
    let keys: Vec<&Key32> = copied.iter().collect();
    let id = practice.store.id();
    for section in Section::ALL {
        assert_eq!(
            testing_open_with(practice.backend.as_ref(), id, &keys, q, section).unwrap(),
            0,
            "{section} of a new patient"
        );
    }
    // The copies still open what existed before (they were legitimately readable then) ...
    assert_eq!(testing_open_with(practice.backend.as_ref(), id, &keys, p, Section::Reports).unwrap(), 1);
    // ... but not the report written after rotation.
    assert_eq!(practice.session("dr_martin").read_reports(p).unwrap().len(), 2);
    // Current users read everything, old and new.
    let doc = practice.session("dr_martin");
    assert_eq!(doc.read_exams(p).unwrap().len(), 1);
    assert_eq!(doc.read_exams(q).unwrap().len(), 1);
    assert!(matches!(practice.store.unlock("ines", PASS, ctx()), Err(Error::Authentication)));
}
}

every_backend! {
fn a_rewrap_interrupted_midway_resumes_without_loss(kind) {
    let practice = Practice::of(kind);
    let patients: Vec<_> = (0..4).map(|i| practice.patient(i)).collect();
    for (i, p) in patients.iter().enumerate() {
        report(&practice, *p, 100 + i as u64);
    }
    let before: Vec<_> = patients.iter().map(|p| practice.session("dr_martin").read_reports(*p).unwrap()).collect();
    practice.session("admin").rotate_section_key(Section::Reports).unwrap();
    let doc = practice.session("dr_martin");
    let mut seen = Vec::new();
    let first = doc.rewrap_section(Section::Reports, 3, |done, total| seen.push((done, total))).unwrap();
    // One patient key per patient (each holds two reports' data keys).
    assert_eq!((first.rewrapped, first.remaining), (3, 1));
    assert_eq!(seen.last(), Some(&(3, 4)));
    // "Interrupted": a new session resumes where the last one stopped.
    drop(doc);
    let doc = practice.session("dr_martin");
    let second = doc.rewrap_section(Section::Reports, usize::MAX, |_, _| {}).unwrap();
    assert_eq!((second.rewrapped, second.remaining), (1, 0));
    let after: Vec<_> = patients.iter().map(|p| doc.read_reports(*p).unwrap()).collect();
    assert_eq!(before, after);
    practice.session("admin").retire_key_versions(Section::Reports, 2).unwrap();
    assert_eq!(practice.session("ines").read_reports(patients[0]).unwrap().len(), 2);
    let report = practice.session("dpo").verify_audit(None).unwrap();
    assert!(report.is_ok());
}
}

every_backend! {
fn users_added_after_a_retirement_get_only_live_versions(kind) {
    let practice = Practice::of(kind);
    let p = practice.patient(3);
    let admin = practice.session("admin");
    admin.rotate_section_key(Section::Reports).unwrap();
    practice.session("dr_martin").rewrap_section(Section::Reports, usize::MAX, |_, _| {}).unwrap();
    admin.retire_key_versions(Section::Reports, 2).unwrap();
    admin.add_user("nouvelle", &["nurse".into()], PASS).unwrap();
    drop(practice.session("dr_martin")); // delivers what a holder has
    let users = admin.list_users().unwrap();
    let nouvelle = users.iter().find(|u| u.name == "nouvelle").unwrap();
    assert!(nouvelle.pending_keys.is_empty(), "retired versions are not pending: {:?}", nouvelle.pending_keys);
    practice.session("dr_martin").care_team_add(p, &medvault::CareMember::User("nouvelle".into())).unwrap();
    assert_eq!(practice.session("nouvelle").read_reports(p).unwrap().len(), 1);
}
}

every_backend! {
fn a_session_opened_before_a_rotation_picks_the_new_version_up_by_itself(kind) {
    let practice = Practice::of(kind);
    let p = practice.patient(4);
    let doc = practice.session("dr_martin");
    let nurse = practice.session("ines");
    practice.session("admin").rotate_section_key(Section::Reports).unwrap();
    // The long-lived session writes under v2 (it refreshes its keys when v2 is missing) ...
    doc.append_report(p, Synth::new(5).report("Dr", Date::parse("2026-11-24").unwrap())).unwrap();
    assert!(record_versions(&practice, p).contains(&2));
    // ... and another long-lived session reads it.
    assert_eq!(nurse.read_reports(p).unwrap().len(), 2);
}
}
