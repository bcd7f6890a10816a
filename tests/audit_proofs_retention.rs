//! Inclusion proofs checked without a store, and retention that keeps the log verifiable.

mod common;
use common::every_backend;

use common::{Practice, ctx};
use medvault::audit::EventProof;
use medvault::backend::{Backend, MemoryBackend, Space};
use medvault::{ManualClock, StoreOptions, Timestamp};
use std::sync::Arc;

every_backend! {
fn an_event_proof_verifies_alone_and_every_corruption_fails(kind) {
    let practice = Practice::of(kind);
    let p = practice.patient(1);
    practice.session("ines").read_exams(p).unwrap();
    let dpo = practice.session("dpo");
    let public = practice.store.verification_key();
    let size = practice.store.audit_size();
    for seq in [0, 5, size - 1] {
        let proof = dpo.prove_event(seq).unwrap();
        let bytes = proof.to_bytes().unwrap();
        let ev = EventProof::from_bytes(&bytes).unwrap().verify(&public).unwrap();
        assert_eq!(ev.0.seq, seq);
        assert!(matches!(ev.1, medvault::audit::SignedBy::User { .. }), "{:?}", ev.1);
        // Trailing or missing bytes.
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(EventProof::from_bytes(&longer).is_err());
        assert!(EventProof::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        // Any flipped byte.
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            let ok = EventProof::from_bytes(&b).and_then(|p| p.verify(&public));
            assert!(ok.is_err(), "flip at {i} accepted");
        }
        // A path element removed or added.
        let mut short = proof.clone();
        if !short.path.is_empty() {
            short.path.pop();
            assert!(short.verify(&public).is_err());
        }
        let mut extra = proof.clone();
        extra.path.push([0; 32]);
        assert!(extra.verify(&public).is_err());
        // Another store's key.
        assert!(proof.verify(&Practice::of(kind).store.verification_key()).is_err());
    }
}
}

#[test]
fn pruning_removes_old_payloads_but_the_log_still_verifies() {
    let clock = Arc::new(ManualClock::new(Timestamp::parse("2026-01-01").unwrap()));
    let mem = Arc::new(MemoryBackend::new());
    let options = StoreOptions {
        clock: clock.clone(),
        audit_retention_days: Some(180),
        checkpoint_interval: 16,
        ..StoreOptions::insecure_fast_for_tests()
    };
    let practice = Practice::on(mem.clone(), options);
    let p = practice.patient(1);
    let old = practice.store.audit_size();
    clock.advance_millis(200 * 86_400_000);
    practice.session("ines").read_exams(p).unwrap();
    let dpo = practice.session("dpo");
    let pruned = dpo.prune_audit().unwrap();
    assert_eq!(pruned, old, "every event older than 180 days");
    assert!(mem.get(Space::AuditEvents, &0u64.to_be_bytes()).unwrap().is_none());
    assert!(mem.get(Space::AuditEvents, &old.to_be_bytes()).unwrap().is_some());
    let report = dpo.verify_audit(None).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.pruned, old);
    // Queries skip pruned events; recent ones remain.
    let recent = dpo.audit_query(&medvault::AuditQuery { patient: Some(p), ..Default::default() }).unwrap();
    assert!(recent.iter().all(|e| e.seq >= old) && !recent.is_empty());
    // Deleting a recent event and pretending it was pruned does not pass.
    let mut b = medvault::backend::Batch::new();
    b.delete(Space::AuditEvents, (old + 1).to_be_bytes().to_vec());
    mem.apply(&b).unwrap();
    assert_eq!(dpo.verify_audit(None).unwrap().first_bad_seq(), Some(old + 1));
    let _ = ctx();
}

every_backend! {
fn a_store_without_retention_refuses_to_prune(kind) {
    let practice = Practice::of(kind);
    assert!(practice.session("dpo").prune_audit().unwrap_err().to_string().contains("keeps every audit event"));
    assert!(practice.session("claire").prune_audit().is_err());
}
}
