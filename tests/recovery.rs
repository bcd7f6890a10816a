//! Losing every passphrase does not lose the data.

mod common;
use common::every_backend;

use common::{Practice, ctx};
use medvault::{Error, RecoveryShare};

every_backend! {
fn k_shares_restore_access_after_every_passphrase_is_lost_and_k_minus_one_fail(kind) {
    let practice = Practice::of(kind);
    let p = practice.patient(11);
    let expected = practice.session("dr_martin").read_exams(p).unwrap();
    // Shares travel as text.
    let texts: Vec<String> = practice.shares.iter().map(|s| s.to_text().to_string()).collect();
    let shares: Vec<RecoveryShare> = texts.iter().map(|t| RecoveryShare::parse(t).unwrap()).collect();
    assert_eq!(shares.len(), 5);
    // k - 1 shares: refused, nothing changes.
    let r = practice.store.recover(&shares[..2], "dr_martin", b"recovered passphrase", ctx());
    assert!(matches!(r, Err(Error::Recovery(_))), "{r:?}");
    assert!(practice.store.unlock("dr_martin", b"recovered passphrase", ctx()).is_err());
    // k shares (any k): the physician and the administrator get their access back.
    practice.store.recover(&shares[2..5], "dr_martin", b"recovered passphrase", ctx()).unwrap();
    practice
        .store
        .recover(&[shares[0].clone(), shares[2].clone(), shares[4].clone()], "admin", b"new admin passphrase", ctx())
        .unwrap();
    let doc = practice.store.unlock("dr_martin", b"recovered passphrase", ctx()).unwrap();
    assert_eq!(doc.read_exams(p).unwrap(), expected);
    assert_eq!(doc.read_reports(p).unwrap().len(), 1);
    assert_eq!(doc.read_identity(p).unwrap().len(), 1);
    let admin = practice.store.unlock("admin", b"new admin passphrase", ctx()).unwrap();
    admin.add_user("nouvelle", &["secretary".into()], b"initial passphrase").unwrap();
    // The old passphrase no longer opens anything.
    assert!(practice.store.unlock("dr_martin", common::PASS, ctx()).is_err());
}
}

every_backend! {
fn shares_of_another_store_or_mixed_thresholds_are_refused(kind) {
    let a = Practice::of(kind);
    let b = Practice::of(kind);
    let r = a.store.recover(&b.shares[..3], "admin", b"whatever passphrase", ctx());
    assert!(matches!(r, Err(Error::Recovery(_))), "{r:?}");
    let mixed = vec![a.shares[0].clone(), a.shares[1].clone(), b.shares[2].clone()];
    assert!(a.store.recover(&mixed, "admin", b"whatever passphrase", ctx()).is_err());
}
}
