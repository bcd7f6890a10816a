//! One test per bug found and fixed, named after it.

mod common;

use common::{PASS, Practice, ctx};
use medvault::backend::{Backend, Batch, MemoryBackend, Space};
use medvault::{Engine, Error, Store, StoreOptions, SystemClock};
use std::sync::Arc;

/// A stored audit tree state whose hash count did not match its size was accepted, and the
/// next append panicked in `Frontier::push`.
#[test]
fn a_frontier_with_too_few_hashes_is_an_integrity_error_not_a_panic() {
    let mem = Arc::new(MemoryBackend::new());
    let practice = Practice::on(mem.clone(), StoreOptions::insecure_fast_for_tests());
    drop(practice);
    let bad = medvault::testing::codec::encode(&(
        1u16,
        &medvault::testing::merkle::Frontier { size: 7, hashes: vec![[0; 32]] },
    ))
    .unwrap();
    let mut b = Batch::new();
    b.put(Space::Meta, b"audit-tree".to_vec(), bad);
    mem.apply(&b).unwrap();
    match Store::open_with_backend(mem, Arc::new(SystemClock)) {
        Err(Error::Integrity(e)) => {
            assert_eq!((e.object, e.seq), (medvault::Object::AuditTree, Some(7)), "{e}");
            assert!(e.to_string().contains("hash count"), "{e}");
        }
        other => panic!("expected an integrity error, got {:?}", other.map(|_| ())),
    }
}

/// Opening a store whose engine lost its newest commits "for verification" let the auditor's
/// own unlock overwrite the witness, after which the loss was no longer visible.
#[test]
fn the_witness_of_a_lost_tail_survives_the_auditors_verification() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    let practice = Practice::in_dir(&dir, Engine::Redb);
    let p = practice.patient(1);
    drop(practice);
    let older = std::fs::read(dir.join("medvault.redb")).unwrap();
    {
        let store = Store::open(&dir).unwrap();
        store.unlock("dr_martin", PASS, ctx()).unwrap().read_reports(p).unwrap();
    }
    // The engine file loses its newest commits; the witness saw them.
    std::fs::write(dir.join("medvault.redb"), older).unwrap();
    assert!(matches!(Store::open(&dir), Err(Error::Integrity(_))));
    let store = Store::open_for_verification(&dir).unwrap();
    let report = store.unlock("dpo", PASS, ctx()).unwrap().verify_audit(None).unwrap();
    assert!(report.problems.iter().any(|p| p.what.contains("acknowledged events lost")), "{:?}", report.problems);
    drop(store);
    assert!(matches!(Store::open(&dir), Err(Error::Integrity(_))), "the witness still tells the loss");
}

/// A second process got sled's "could not acquire lock ... WouldBlock" text, which code could
/// not match.
#[test]
fn a_store_in_use_is_a_typed_store_busy_error_on_both_engines() {
    for engine in [Engine::Redb, Engine::Sled] {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("store");
        let options = StoreOptions { engine, ..StoreOptions::insecure_fast_for_tests() };
        let (_held, _) = Store::create(&dir, "admin", PASS, options).unwrap();
        match Store::open(&dir) {
            Err(e) => {
                assert!(
                    matches!(e.storage(), Some(medvault::StorageError::StoreBusy { holder: Some(_) })),
                    "{engine}: {e:?}"
                );
                assert!(!e.to_string().contains("WouldBlock"), "{e}");
            }
            Ok(_) => panic!("{engine}: a second opener must be refused"),
        }
    }
}

/// A refused `create` (a passphrase too short) used to leave a half-made store folder behind,
/// so that the corrected retry was told "a store already exists".
#[test]
fn a_refused_create_leaves_no_store_behind() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    let refused = Store::create(&dir, "admin", b"short", StoreOptions::insecure_fast_for_tests());
    assert!(matches!(refused, Err(Error::Invalid(_))), "a short passphrase is refused");
    assert!(medvault::testing::engine::detect(&dir).unwrap().is_none());
    Store::create(&dir, "admin", PASS, StoreOptions::insecure_fast_for_tests()).unwrap();
}

/// An erasure refused under a litigation hold put the hold's free-text reason in the error, and
/// so in the refusal's audit detail; a refusal inside the retention period put a date derived
/// from the birth or death date there. Refusals now name the rule only.
#[test]
fn an_erasure_refusal_repeats_neither_the_hold_reason_nor_a_date() {
    let practice = Practice::new();
    let p = practice.patient(3);
    let claire = practice.session("claire");
    let err = claire.erase_patient(p).unwrap_err();
    assert!(matches!(err, Error::Denied(medvault::Denied::Retention { .. })), "{err}");
    let msg = err.to_string();
    let has_date =
        (0..msg.len().saturating_sub(9)).any(|i| msg.get(i..i + 10).is_some_and(|w| medvault::Date::parse(w).is_ok()));
    assert!(!has_date, "{msg}");
    claire.set_hold(p, Some("Contentieux Lefebvre contre la clinique")).unwrap();
    let err = claire.erase_patient(p).unwrap_err();
    assert!(matches!(err, Error::Denied(medvault::Denied::LitigationHold)), "{err}");
    assert!(!err.to_string().contains("Lefebvre"), "{err}");
}

/// Dates were parsed by hand: `"+123-+1-+1"` was accepted as a date.
#[test]
fn signed_and_short_date_fields_are_refused() {
    for bad in ["+123-+1-+1", "+1985-02-01", "1985-2-1"] {
        assert!(medvault::Date::parse(bad).is_err(), "{bad}");
    }
}
