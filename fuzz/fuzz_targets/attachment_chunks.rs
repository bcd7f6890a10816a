//! Attachment chunks as `verify` and a reader meet them: a store with one attachment whose
//! chunk rows are replaced by fuzzed rows (count, order, bytes). Reading must fail with an
//! error or give back exactly what was written; `verify` must report, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use medvault::backend::{Backend, Batch, MemoryBackend, Space};
use medvault::synthetic::Synth;
use medvault::{Date, Section};
use practice::{PASS, ctx, practice};
use std::sync::Arc;

mod practice;

fuzz_target!(|data: &[u8]| {
    let mem = Arc::new(MemoryBackend::new());
    let Some(store) = practice(mem.clone()) else { return };
    let doc = store.unlock("doc", PASS, ctx()).expect("doc unlocks");
    let p = doc.create_patient(Synth::new(1).identity()).expect("patient");
    let entry = doc
        .append_report(p, Synth::new(2).report("Dr Fuzz", Date::parse("2026-11-02").expect("date")))
        .expect("report");
    let content: Vec<u8> = (0..medvault::attachment::CHUNK_SIZE + 100).map(|i| i as u8).collect();
    let id =
        doc.attach(p, Section::Reports, entry, "a.pdf", "application/pdf", &mut content.as_slice()).expect("attach");
    let rows = mem.scan_prefix(Space::AttachmentChunks, &[]).expect("scan");
    let mut batch = Batch::new();
    for (k, _) in &rows {
        batch.delete(Space::AttachmentChunks, k.clone());
    }
    // Fuzzed rows under the attachment's own prefix: index (1 byte), length (2 bytes), bytes.
    let prefix = &rows[0].0[..rows[0].0.len() - 4];
    let mut rest = data;
    while let [index, l1, l2, tail @ ..] = rest {
        let len = (usize::from(*l1) << 8 | usize::from(*l2)).min(tail.len());
        let mut key = prefix.to_vec();
        key.extend_from_slice(&u32::from(*index).to_be_bytes());
        batch.put(Space::AttachmentChunks, key, tail[..len].to_vec());
        rest = &tail[len..];
    }
    mem.apply(&batch).expect("planted");
    let mut out = Vec::new();
    if doc.read_attachment(p, Section::Reports, entry, id, &mut out).is_ok() {
        assert_eq!(out, content, "a changed attachment was read as valid");
    }
    let dpo = store.unlock("dpo", PASS, ctx()).expect("dpo unlocks");
    let _ = dpo.verify_audit(None);
});
