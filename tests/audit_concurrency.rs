//! Concurrent sessions: gap-free sequence numbers, a log that verifies, shared flushes.

mod common;

use common::{PASS, Practice, ctx};
use medvault::backend::{Backend, MemoryBackend, SledBackend, Space};
use medvault::{Date, StoreOptions};
use std::sync::Arc;

fn hammer(practice: &Practice, threads: usize, per_thread: usize) {
    let patients: Vec<_> = (0..8).map(|i| practice.patient(i)).collect();
    let patients = Arc::new(patients);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let patients = patients.clone();
            let user = ["dr_martin", "ines", "claire", "labo"][t % 4];
            let s = practice.store.unlock(user, PASS, ctx()).unwrap();
            scope.spawn(move || {
                let mut synth = medvault::synthetic::Synth::new(t as u64);
                let d = Date::parse("2026-11-22").unwrap();
                for i in 0..per_thread {
                    let p = patients[(t + i) % patients.len()];
                    match (i % 5, user) {
                        (0, "dr_martin") => {
                            s.append_report(p, synth.report("Dr M", d)).unwrap();
                        }
                        (0, "labo") => {
                            s.append_exam(p, synth.lab_result("Labo", d)).unwrap();
                        }
                        (1, _) => drop(s.read_identity(p).unwrap()),
                        (2, "claire") => assert!(s.read_exams(p).is_err()),
                        (2, _) => drop(s.read_exams(p)),
                        _ => drop(s.read_reports(p)),
                    }
                }
            });
        }
    });
}

fn assert_gap_free(backend: &dyn Backend, at_least: u64) {
    let events = backend.scan_prefix(Space::AuditEvents, &[]).unwrap();
    assert!(events.len() as u64 >= at_least, "{} events", events.len());
    for (i, (k, _)) in events.iter().enumerate() {
        assert_eq!(k.as_slice(), (i as u64).to_be_bytes(), "gap at {i}");
    }
}

#[test]
fn eight_threads_times_a_thousand_accesses_leave_a_gap_free_verified_log() {
    let mem = Arc::new(MemoryBackend::new());
    let practice = Practice::on(mem.clone(), StoreOptions::insecure_fast_for_tests());
    let before = practice.store.audit_size();
    hammer(&practice, 8, 1000);
    assert_gap_free(mem.as_ref(), before + 8000);
    let report = practice.session("dpo").verify_audit(None).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

#[test]
fn concurrent_durable_appends_on_sled_verify_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let sled = Arc::new(SledBackend::open(dir.path()).unwrap());
    let practice = Practice::on(sled.clone(), StoreOptions::insecure_fast_for_tests());
    let before = practice.store.audit_size();
    hammer(&practice, 8, 60);
    assert_gap_free(sled.as_ref(), before + 480);
    drop(practice);
    drop(sled);
    let store = medvault::Store::open(dir.path()).unwrap();
    let report = store.unlock("dpo", PASS, ctx()).unwrap().verify_audit(None).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}
