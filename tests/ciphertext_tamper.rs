//! Every stored ciphertext is bound to its place: flipped, moved or swapped, it fails to open.

mod common;

use common::Practice;
use medvault::backend::{Batch, Space};
use medvault::{Date, Error, PatientId, Section};

fn records(practice: &Practice, p: PatientId, section: Section) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut prefix = p.0.to_vec();
    prefix.push(section as u8);
    practice.backend.scan_prefix(Space::Records, &prefix).unwrap()
}

fn put(practice: &Practice, key: &[u8], value: &[u8]) {
    let mut b = Batch::new();
    b.put(Space::Records, key.to_vec(), value.to_vec());
    practice.backend.apply(&b).unwrap();
}

fn read(practice: &Practice, p: PatientId, section: Section) -> Result<usize, Error> {
    let s = practice.session("dr_martin");
    match section {
        Section::Identity => s.read_identity(p).map(|v| v.len()),
        Section::Reports => s.read_reports(p).map(|v| v.len()),
        _ => s.read_exams(p).map(|v| v.len()),
    }
}

#[test]
fn flipping_any_byte_of_a_stored_revision_is_an_error() {
    let practice = Practice::new();
    let p = practice.patient(1);
    let (key, value) = records(&practice, p, Section::Reports).remove(0);
    for i in 0..value.len() {
        let mut v = value.clone();
        v[i] ^= 0x80;
        put(&practice, &key, &v);
        match read(&practice, p, Section::Reports) {
            Err(Error::Decrypt) | Err(Error::KeyPending(_)) => {}
            other => panic!("byte {i}: {other:?}"),
        }
    }
    put(&practice, &key, &value);
    assert_eq!(read(&practice, p, Section::Reports).unwrap(), 1);
}

#[test]
fn swapped_ciphertexts_fail_between_patients_sections_and_revisions() {
    let practice = Practice::new();
    let a = practice.patient(1);
    let b = practice.patient(2);
    // Between patients: a's report under b's key.
    let (ka, va) = records(&practice, a, Section::Reports).remove(0);
    let (kb, vb) = records(&practice, b, Section::Reports).remove(0);
    put(&practice, &kb, &va);
    assert!(matches!(read(&practice, b, Section::Reports), Err(Error::Decrypt)));
    put(&practice, &kb, &vb);
    // Between sections: a report moved to the exams section of the same patient and entry.
    let mut moved = ka.clone();
    moved[16] = Section::Exams as u8;
    put(&practice, &moved, &va);
    assert!(matches!(read(&practice, a, Section::Exams), Err(Error::Decrypt)));
    let mut del = Batch::new();
    del.delete(Space::Records, moved);
    practice.backend.apply(&del).unwrap();
    // Between revisions: revision 1 copied over revision 2 of the same entry.
    let doc = practice.session("dr_martin");
    let reps = doc.read_reports(a).unwrap();
    let mut r = reps[0].content.clone();
    r.title = "Corrigé".into();
    doc.write(a, Some(reps[0].entry_id), r, Some("typo")).unwrap();
    let revs = records(&practice, a, Section::Reports);
    assert_eq!(revs.len(), 2);
    put(&practice, &revs[1].0, &revs[0].1);
    assert!(matches!(read(&practice, a, Section::Reports), Err(Error::Decrypt)));
    // Identity of one patient swapped into another.
    let (kia, via) = records(&practice, a, Section::Identity).remove(0);
    let (kib, _) = records(&practice, b, Section::Identity).remove(0);
    put(&practice, &kib, &via);
    assert!(matches!(read(&practice, b, Section::Identity), Err(Error::Decrypt)));
    let _ = (kia, Date::parse("2026-01-01"));
}

#[test]
fn a_failed_decryption_is_audited_and_returns_nothing() {
    let practice = Practice::new();
    let p = practice.patient(5);
    let (k, mut v) = records(&practice, p, Section::Exams).remove(0);
    let last = v.len() - 1;
    v[last] ^= 1;
    put(&practice, &k, &v);
    let before = practice.store.audit_size();
    assert!(matches!(read(&practice, p, Section::Exams), Err(Error::Decrypt)));
    // unlock + the failed read
    assert_eq!(practice.store.audit_size(), before + 2);
    let dpo = practice.session("dpo");
    let events = dpo
        .audit_query(&medvault::AuditQuery {
            patient: Some(p),
            section: Some(Section::Exams),
            limit: 1,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(events[0].outcome, medvault::Outcome::Error);
}
