//! Arbitrary sequences of operations through the public API, over a fault-injecting in-memory
//! backend, checked against a model: an operation that succeeded is never lost, one that failed
//! adds at most what it attempted, content reads back as written, and once the faults are
//! lifted the log verifies. No sequence may panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use medvault::backend::MemoryBackend;
use medvault::synthetic::Synth;
use medvault::testing::{Faults, FaultyBackend};
use medvault::{Date, EntryId, PatientId, Section};
use practice::{PASS, ctx, practice};
use std::sync::Arc;

mod practice;

/// What the model knows of one patient: reports acknowledged, reports attempted, attachments.
struct Patient {
    id: PatientId,
    reports: (usize, usize),
    entries: Vec<EntryId>,
    attachments: Vec<(EntryId, medvault::AttachmentId, Vec<u8>)>,
}

fuzz_target!(|data: &[u8]| {
    let mem = Arc::new(MemoryBackend::new());
    let faulty = Arc::new(FaultyBackend::new(mem));
    let Some(store) = practice(faulty.clone()) else { return };
    let (Ok(doc), Ok(dpo)) = (store.unlock("doc", PASS, ctx()), store.unlock("dpo", PASS, ctx())) else { return };
    let date = Date::parse("2026-11-02").expect("a valid date");
    let mut patients: Vec<Patient> = Vec::new();
    let mut faults_armed = false;
    for op in data.chunks(3).take(64) {
        let (code, a, b) = (op[0] % 8, op.get(1).copied().unwrap_or(0), op.get(2).copied().unwrap_or(0));
        let pick = |n: usize| if n == 0 { None } else { Some(a as usize % n) };
        match code {
            0 => {
                if let Ok(id) = doc.create_patient(Synth::new(u64::from(a) << 8 | u64::from(b)).identity()) {
                    patients.push(Patient { id, reports: (0, 0), entries: Vec::new(), attachments: Vec::new() });
                }
            }
            1 => {
                let Some(i) = pick(patients.len()) else { continue };
                let p = &mut patients[i];
                p.reports.1 += 1;
                if let Ok(e) = doc.append_report(p.id, Synth::new(u64::from(b)).report("Dr Fuzz", date)) {
                    p.reports.0 += 1;
                    p.entries.push(e);
                }
            }
            2 => {
                let Some(i) = pick(patients.len()) else { continue };
                let p = &patients[i];
                if let Ok(entries) = doc.read_reports(p.id) {
                    assert!(
                        (p.reports.0..=p.reports.1).contains(&entries.len()),
                        "{} reports read, {:?} acknowledged/attempted",
                        entries.len(),
                        p.reports
                    );
                }
            }
            3 => {
                let Some(i) = pick(patients.len()) else { continue };
                let p = &mut patients[i];
                let Some(&entry) = p.entries.get(b as usize % p.entries.len().max(1)) else { continue };
                let content: Vec<u8> = (0..usize::from(b) * 700).map(|k| (k % 251) as u8).collect();
                if let Ok(id) =
                    doc.attach(p.id, Section::Reports, entry, "scan.pdf", "application/pdf", &mut content.as_slice())
                {
                    p.attachments.push((entry, id, content));
                }
            }
            4 => {
                let Some(i) = pick(patients.len()) else { continue };
                let p = &patients[i];
                let Some((entry, id, content)) = p.attachments.get(b as usize % p.attachments.len().max(1)) else {
                    continue;
                };
                let mut out = Vec::new();
                if doc.read_attachment(p.id, Section::Reports, *entry, *id, &mut out).is_ok() {
                    assert_eq!(&out, content, "an attachment read back differs");
                }
            }
            5 => {
                faults_armed = true;
                faulty.set(match b % 3 {
                    0 => Faults { disk_full: true, ..Faults::default() },
                    1 => Faults { fail_after_batches: Some(u64::from(a % 4)), ..Faults::default() },
                    _ => Faults { fail_flush: true, ..Faults::default() },
                });
            }
            6 => {
                faulty.set(Faults::default());
            }
            _ => {
                faulty.set(Faults::default());
                // A log whose appends failed may refuse further work (fail closed); a log that
                // never saw a fault must verify.
                if !faults_armed {
                    let report = dpo.verify_audit(None).expect("verify runs on a sound store");
                    assert!(report.is_ok(), "{:?}", report.problems);
                }
            }
        }
    }
});
