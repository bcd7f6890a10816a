//! Fail closed: when the audit append cannot be made durable, nothing is returned and nothing
//! is written.

mod common;

use common::{Practice, ctx};
use medvault::backend::{Backend, MemoryBackend, Space};
use medvault::testing::{Faults, FaultyBackend};
use medvault::{Error, StoreOptions};
use std::sync::Arc;

fn setup() -> (Arc<MemoryBackend>, Arc<FaultyBackend>, Practice) {
    let mem = Arc::new(MemoryBackend::new());
    let faulty = Arc::new(FaultyBackend::new(mem.clone()));
    let practice = Practice::on(faulty.clone(), StoreOptions::insecure_fast_for_tests());
    (mem, faulty, practice)
}

#[test]
fn a_read_whose_audit_append_fails_returns_an_error_and_no_data() {
    let (_mem, faulty, practice) = setup();
    let p = practice.patient(1);
    let doc = practice.session("dr_martin");
    faulty.set(Faults { fail_batches_touching: Some(Space::AuditEvents), ..Faults::default() });
    for r in [
        doc.read_identity(p).map(|v| v.len()),
        doc.read_reports(p).map(|v| v.len()),
        doc.read_exams(p).map(|v| v.len()),
    ] {
        assert!(matches!(r, Err(Error::AuditUnavailable(_))), "{r:?}");
    }
    let found = doc
        .find_patient(&medvault::FindQuery::BirthNameAndDate("X".into(), medvault::Date::parse("2000-01-01").unwrap()));
    assert!(matches!(found, Err(Error::AuditUnavailable(_))));
    // A denied access whose denial cannot be recorded fails as well (and says why).
    let claire = {
        faulty.set(Faults::default());
        practice.session("claire")
    };
    faulty.set(Faults { fail_batches_touching: Some(Space::AuditEvents), ..Faults::default() });
    assert!(matches!(claire.read_exams(p), Err(Error::AuditUnavailable(_))));
    // Unlock itself is audited: it fails closed too.
    assert!(matches!(practice.store.unlock("ines", common::PASS, ctx()), Err(Error::AuditUnavailable(_))));
    faulty.set(Faults::default());
    assert_eq!(doc.read_exams(p).unwrap().len(), 1);
}

#[test]
fn a_read_whose_flush_fails_returns_no_data() {
    let (_mem, faulty, practice) = setup();
    let p = practice.patient(2);
    let doc = practice.session("dr_martin");
    faulty.set(Faults { fail_flush: true, ..Faults::default() });
    assert!(matches!(doc.read_reports(p), Err(Error::AuditUnavailable(_))));
}

#[test]
fn a_write_whose_audit_append_fails_changes_nothing() {
    let (mem, faulty, practice) = setup();
    let p = practice.patient(3);
    let doc = practice.session("dr_martin");
    let before = mem.snapshot();
    let size = practice.store.audit_size();
    faulty.set(Faults { fail_batches_touching: Some(Space::AuditEvents), ..Faults::default() });
    let mut s = medvault::synthetic::Synth::new(5);
    let d = medvault::Date::parse("2026-11-22").unwrap();
    assert!(doc.append_report(p, s.report("Dr X", d)).is_err());
    assert!(doc.append_exam(p, s.lab_result("Labo", d)).is_err());
    assert!(doc.update_identity(p, s.identity(), "correction").is_err());
    assert!(doc.create_patient(s.identity()).is_err());
    assert_eq!(mem.snapshot(), before, "a failed write left something behind");
    assert_eq!(practice.store.audit_size(), size);
    // The same writes succeed once the log is back, and sequence numbers have no gap.
    faulty.set(Faults::default());
    doc.append_report(p, s.report("Dr X", d)).unwrap();
    let events = mem.scan_prefix(Space::AuditEvents, &[]).unwrap();
    for (i, (k, _)) in events.iter().enumerate() {
        assert_eq!(k.as_slice(), (i as u64).to_be_bytes());
    }
}

#[test]
fn buffered_sessions_buffer_writes_only_and_reads_always_wait_for_the_disk() {
    let (_mem, faulty, practice) = setup();
    let p = practice.patient(4);
    let mut bulk = practice.session("dr_martin");
    bulk.set_durability(medvault::Durability::Buffered);
    let normal = practice.session("dr_martin");
    faulty.set(Faults { fail_flush: true, ..Faults::default() });
    // Buffered writes are acknowledged without a flush (a crash may lose this suffix, never
    // leave a gap).
    bulk.create_patient(medvault::synthetic::Synth::new(9).identity()).unwrap();
    // A read returns data only once its event is on disk, whatever the session's durability.
    assert!(matches!(bulk.read_reports(p), Err(Error::AuditUnavailable(_))));
    assert!(matches!(bulk.export_patient(p), Err(Error::AuditUnavailable(_))));
    let q = medvault::FindQuery::BirthNameAndDate("X".into(), medvault::Date::parse("2000-01-01").unwrap());
    assert!(matches!(bulk.find_patient(&q), Err(Error::AuditUnavailable(_))));
    // Immediate (the default): nothing is returned unless the flush succeeds.
    assert!(matches!(normal.read_reports(p), Err(Error::AuditUnavailable(_))));
    assert!(practice.store.flush().is_err());
    faulty.set(Faults::default());
    practice.store.flush().unwrap();
    assert_eq!(bulk.read_reports(p).unwrap().len(), 1);
}
