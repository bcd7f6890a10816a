//! Every stored record a store reads back: one row of a small practice (chosen by the first
//! two bytes among every row of every keyspace, audit log included) is replaced by the fuzzed
//! bytes; then every user unlocks, reads, lists attachments, exports and verifies. Each may
//! fail with an error; none may panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use medvault::backend::{Backend, Batch, MemoryBackend, Space};
use medvault::synthetic::Synth;
use medvault::{Date, Section};
use practice::{PASS, ctx, practice};
use std::sync::Arc;

mod practice;

fuzz_target!(|data: &[u8]| {
    let [a, b, value @ ..] = data else { return };
    let mem = Arc::new(MemoryBackend::new());
    let Some(store) = practice(mem.clone()) else { return };
    let doc = store.unlock("doc", PASS, ctx()).expect("doc unlocks");
    let p = doc.create_patient(Synth::new(1).identity()).expect("patient");
    let d = Date::parse("2026-11-02").expect("date");
    let entry = doc.append_report(p, Synth::new(2).report("Dr Fuzz", d)).expect("report");
    doc.append_exam(p, Synth::new(3).lab_result("Labo", d)).expect("exam");
    doc.attach(p, Section::Reports, entry, "a.pdf", "application/pdf", &mut [1u8, 2, 3].as_slice()).expect("attach");
    drop(doc);
    let mut rows = Vec::new();
    for space in Space::ALL {
        for (k, _) in mem.scan_prefix(space, &[]).expect("scan") {
            rows.push((space, k));
        }
    }
    let (space, key) = rows[(usize::from(*a) << 8 | usize::from(*b)) % rows.len()].clone();
    let mut batch = Batch::new();
    batch.put(space, key, value.to_vec());
    mem.apply(&batch).expect("planted");
    for user in ["admin", "doc", "dpo"] {
        let Ok(s) = store.unlock(user, PASS, ctx()) else { continue };
        let _ = s.read_identity(p);
        let _ = s.read_reports(p);
        let _ = s.read_exams(p);
        let _ = s.attachments(p, Section::Reports);
        let _ = s.export_patient(p);
        let _ = s.verify_audit(None);
    }
});
