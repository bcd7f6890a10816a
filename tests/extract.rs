//! Verifiable audit extracts: they verify without a store; a flipped byte, a removed event or
//! another store's key fails with a reason.

mod common;
use common::every_backend;

use common::Practice;
use medvault::export::extract::{ExtractFilter, events_csv, verify_extract};

fn extract() -> (Practice, String, [u8; 32]) {
    let practice = Practice::new();
    let p = practice.patient(1);
    practice.session("ines").read_exams(p).unwrap();
    assert!(practice.session("claire").read_exams(p).is_err());
    let dpo = practice.session("dpo");
    let text = dpo.audit_extract(&ExtractFilter { patient: Some(p), ..Default::default() }).unwrap();
    let key = practice.store.verification_key();
    (practice, text, key)
}

every_backend! {
fn an_extract_verifies_with_the_stores_key_and_nothing_else(kind) {
    let (practice, text, key) = extract();
    let report = verify_extract(&text, Some(&key)).unwrap();
    assert!(report.key_given);
    assert_eq!(report.store, practice.store.id());
    assert!(report.events >= 8, "{} events", report.events);
    assert_eq!(text.lines().count(), report.events + 3);
    // Without a key it is internally consistent, and says so.
    assert!(!verify_extract(&text, None).unwrap().key_given);
    let csv = events_csv(&text).unwrap();
    assert_eq!(csv.lines().count(), report.events + 1);
    // Another store's key is refused, with the reason.
    let other = Practice::of(kind).store.verification_key();
    let err = verify_extract(&text, Some(&other)).unwrap_err().to_string();
    assert!(err.contains("does not verify with this key"), "{err}");
}
}

#[test]
fn flipping_any_byte_fails() {
    let (_p, text, key) = extract();
    let bytes = text.as_bytes();
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x20] {
            let mut b = bytes.to_vec();
            b[i] ^= mask;
            let Ok(t) = String::from_utf8(b) else { continue }; // not UTF-8: rejected before parsing
            assert!(verify_extract(&t, Some(&key)).is_err(), "byte {i} ^ {mask:#x} accepted");
        }
    }
}

#[test]
fn removing_an_event_fails_with_a_reason() {
    let (_p, text, key) = extract();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for i in 1..lines.len() - 2 {
        let without: String = lines.iter().enumerate().filter(|(n, _)| *n != i).map(|(_, l)| *l).collect();
        let err = verify_extract(&without, Some(&key)).unwrap_err().to_string();
        assert!(err.contains("modified"), "removing line {i}: {err}");
    }
    // Even with the header's count and the file hash "fixed", the signature stands in the way.
    let truncated: String = lines[..lines.len() - 1].concat();
    assert!(verify_extract(&truncated, Some(&key)).is_err());
}
