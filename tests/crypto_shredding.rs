//! Erasure is crypto-shredding: once a patient is erased, their ciphertexts, wherever a copy of
//! them survives, open with no key any user holds, because the patient keys that wrapped their
//! data keys are gone. Shown on a real redb store folder copied before the erasure.

mod common;

use common::{PASS, Practice, USERS, ctx};
use medvault::backend::Space;
use medvault::synthetic::Synth;
use medvault::testing::crypto::Key32;
use medvault::testing::{backend, held_keys, open_records_with};
use medvault::{Date, Engine, IdentityStatus, ManualClock, Section, Store, StoreOptions, Timestamp};
use std::path::Path;
use std::sync::Arc;

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn an_erased_patient_opens_from_no_copy_with_any_key_of_any_user() {
    let dir = tempfile::tempdir().unwrap();
    let (live_dir, copy_dir) = (dir.path().join("cabinet"), dir.path().join("copy"));
    // Files written in 2006 are past their 20-year retention (CSP R1112-7) by 2026-05-10.
    let clock = Arc::new(ManualClock::new(Timestamp::parse("2006-05-10T10:00:00Z").unwrap()));
    let options = StoreOptions { engine: Engine::Redb, clock, ..StoreOptions::insecure_fast_for_tests() };
    let practice = Practice::in_dir_with(&live_dir, options);
    let doc = practice.session("dr_martin");
    let adult = |seed: u64| {
        let mut id = common::identity(seed);
        id.birth_date = Date::parse("1960-03-04").unwrap();
        (id.ins_matricule, id.ins_oid, id.identity_status) = (None, None, IdentityStatus::PROV);
        id
    };
    let file = |seed: u64| {
        let p = doc.create_patient(adult(seed)).unwrap();
        let mut s = Synth::new(seed);
        let d = Date::parse("2006-05-10").unwrap();
        doc.append_report(p, s.report("Dr Martin", d)).unwrap();
        doc.append_exam(p, s.lab_result("Labo Central", d)).unwrap();
        p
    };
    let (erased, kept) = (file(1), file(2));
    doc.update_identity(erased, adult(3), "nom d'usage corrigé").unwrap();
    // Every key every user of the store holds: what anyone could have copied out of a session.
    let held: Vec<Key32> = USERS.iter().flat_map(|(user, _)| held_keys(&practice.session(user))).collect();
    let keys: Vec<&Key32> = held.iter().collect();
    let id = practice.store.id();
    drop((doc, practice));

    // A copy of the whole folder (a backup, a stolen disk image) taken before the erasure.
    copy_folder(&live_dir, &copy_dir);
    let live = Store::open(&live_dir).unwrap();
    let doc = live.unlock("dr_martin", PASS, ctx()).unwrap();
    doc.erase_patient(erased).unwrap();
    let copy = Store::open(&copy_dir).unwrap();
    let (now, then) = (backend(&live), backend(&copy));

    let mut shredded = 0;
    for section in Section::ALL {
        let in_copy = open_records_with(then.as_ref(), then.as_ref(), id, &keys, erased, section).unwrap();
        assert!(in_copy > 0, "{section}: the copy still holds its own patient keys (the test can fail)");
        // The copy's ciphertexts, with every key and what the erased store still holds: nothing.
        assert_eq!(
            open_records_with(then.as_ref(), now.as_ref(), id, &keys, erased, section).unwrap(),
            0,
            "{section} of the erased patient opened from the copy"
        );
        shredded += in_copy;
        // The other patient's copies still open with the live store's patient keys.
        assert!(open_records_with(then.as_ref(), now.as_ref(), id, &keys, kept, section).unwrap() > 0, "{section}");
    }
    assert!(shredded >= 4, "identity (two revisions), report and exam");
    // Nothing of the erased patient's key material or ciphertext is left in the store.
    for space in [Space::PatientKeys, Space::Records] {
        assert!(now.scan_prefix(space, &erased.0).unwrap().is_empty(), "{space:?}");
        assert!(!then.scan_prefix(space, &erased.0).unwrap().is_empty(), "{space:?} in the copy");
    }
    // The erasure is in the log, which still verifies (records included).
    let report = live.unlock("dpo", PASS, ctx()).unwrap().verify_audit(None).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(doc.read_reports(kept).unwrap().len(), 1);
}
