//! Unlock rate limiting with an injectable clock.

mod common;
use common::every_backend;

use common::{PASS, Practice, ctx};
use medvault::{Action, AuditQuery, Denied, Error, ManualClock, StoreOptions, Timestamp};
use std::sync::Arc;

fn locked(r: Result<medvault::Session, Error>) -> bool {
    matches!(r, Err(Error::Denied(Denied::LockedOut(_))))
}

every_backend! {
fn repeated_failures_lock_for_increasing_delays_and_an_admin_can_lift(kind) {
    let clock = Arc::new(ManualClock::new(Timestamp::parse("2026-11-22T09:00:00Z").unwrap()));
    let options = StoreOptions { clock: clock.clone(), ..StoreOptions::insecure_fast_for_tests() };
    let practice = Practice::with(kind, options);
    let store = &practice.store;
    let wrong = b"not the passphrase";
    for _ in 0..4 {
        assert!(matches!(store.unlock("claire", wrong, ctx()), Err(Error::Authentication)));
    }
    // Four failures: not yet locked, the right passphrase works and resets the count.
    drop(store.unlock("claire", PASS, ctx()).unwrap());
    for _ in 0..5 {
        assert!(matches!(store.unlock("claire", wrong, ctx()), Err(Error::Authentication)));
    }
    // Fifth failure: locked for 60 s, even with the right passphrase.
    assert!(locked(store.unlock("claire", PASS, ctx())));
    clock.advance_millis(59_999);
    assert!(locked(store.unlock("claire", PASS, ctx())));
    clock.advance_millis(1);
    // The first lockout is over; five more failures lock for twice as long.
    for _ in 0..5 {
        assert!(matches!(store.unlock("claire", wrong, ctx()), Err(Error::Authentication)));
    }
    clock.advance_millis(60_000);
    assert!(locked(store.unlock("claire", PASS, ctx())), "second lockout lasts 120 s");
    clock.advance_millis(60_000);
    drop(store.unlock("claire", PASS, ctx()).unwrap());

    // Locked again, then lifted by an administrator.
    for _ in 0..5 {
        let _ = store.unlock("claire", wrong, ctx());
    }
    assert!(locked(store.unlock("claire", PASS, ctx())));
    practice.session("admin").lift_lockout("claire").unwrap();
    drop(store.unlock("claire", PASS, ctx()).unwrap());

    // The DPO sees each lockout with its end, and the lift.
    let dpo = practice.session("dpo");
    let about =
        dpo.audit_query(&AuditQuery { user: Some("claire".into()), limit: 1000, ..Default::default() }).unwrap();
    let lockouts: Vec<_> = about.iter().filter(|e| e.action == Action::Lockout).collect();
    assert_eq!(lockouts.len(), 3);
    assert!(lockouts.iter().all(|e| e.detail.as_deref().unwrap_or("").starts_with("locked until 2026-11-22T09:")));
    assert_eq!(about.iter().filter(|e| e.action == Action::LockoutLift).count(), 1);
    // Other users are not affected.
    drop(store.unlock("ines", PASS, ctx()).unwrap());
}
}
