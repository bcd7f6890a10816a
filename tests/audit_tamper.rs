//! Tampering with the audit log through raw storage access, each kind caught by `verify` with the
//! first bad sequence number.

mod common;

use common::{PASS, Practice, ctx};
use medvault::audit::{Agent, AuditEvent, Entity};
use medvault::backend::{Backend, Batch, MemoryBackend, Space};
use medvault::testing::merkle::{self, Frontier};
use medvault::{Action, Checkpoint, Outcome, Purpose, Store, StoreOptions, SystemClock, VerifyReport};
use std::sync::Arc;

fn setup() -> (Arc<MemoryBackend>, Practice) {
    let mem = Arc::new(MemoryBackend::new());
    let options = StoreOptions { checkpoint_interval: 8, ..StoreOptions::insecure_fast_for_tests() };
    let practice = Practice::on(mem.clone(), options);
    for i in 0..4 {
        let p = practice.patient(i);
        practice.session("ines").read_exams(p).unwrap();
    }
    (mem, practice)
}

/// Reopens the store from the raw backend (tampering happens while it is closed) and verifies.
fn verify(mem: &Arc<MemoryBackend>, anchor: Option<&Checkpoint>) -> VerifyReport {
    let store = Store::open_with_backend(mem.clone(), Arc::new(SystemClock)).unwrap();
    store.unlock("dpo", PASS, ctx()).unwrap().verify_audit(anchor).unwrap()
}

fn event_at(mem: &MemoryBackend, seq: u64) -> Vec<u8> {
    mem.get(Space::AuditEvents, &seq.to_be_bytes()).unwrap().unwrap()
}

fn put(mem: &MemoryBackend, space: Space, key: Vec<u8>, value: Vec<u8>) {
    let mut b = Batch::new();
    b.put(space, key, value);
    mem.apply(&b).unwrap();
}

fn delete(mem: &MemoryBackend, space: Space, key: Vec<u8>) {
    let mut b = Batch::new();
    b.delete(space, key);
    mem.apply(&b).unwrap();
}

#[test]
fn an_untouched_log_verifies() {
    let (mem, practice) = setup();
    let size = practice.store.audit_size();
    drop(practice);
    let report = verify(&mem, None);
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.size, size + 1, "every event plus the DPO's unlock");
    assert!(report.checkpoints_checked >= 3);
}

#[test]
fn an_edited_event_is_found() {
    let (mem, _practice) = setup();
    let mut v = event_at(&mem, 10);
    let last = v.len() - 1;
    v[last - 3] ^= 0x20;
    put(&mem, Space::AuditEvents, 10u64.to_be_bytes().to_vec(), v);
    let report = verify(&mem, None);
    assert_eq!(report.first_bad_seq(), Some(10), "{:?}", report.problems);
}

#[test]
fn an_edited_event_with_recomputed_hashes_is_found_by_the_signatures() {
    let (mem, _practice) = setup();
    // The forger re-encodes a plausible event and rewrites its leaf: only signed roots remain.
    let mut ev = AuditEvent::decode(&event_at(&mem, 12)).unwrap();
    ev.outcome = if ev.outcome == Outcome::Success { Outcome::Denied } else { Outcome::Success };
    let bytes = ev.encode().unwrap();
    let leaf = merkle::leaf_hash(&bytes);
    put(&mem, Space::AuditEvents, 12u64.to_be_bytes().to_vec(), bytes);
    let mut k = vec![0u8];
    k.extend_from_slice(&12u64.to_be_bytes());
    put(&mem, Space::AuditNodes, k, leaf.to_vec());
    let report = verify(&mem, None);
    let bad = report.first_bad_seq().expect("forgery not found");
    assert!(bad <= 12, "first bad {bad}: {:?}", report.problems);
    assert!(report.problems.iter().any(|p| p.what.contains("differs from")), "{:?}", report.problems);
}

#[test]
fn a_deleted_event_is_found() {
    let (mem, _practice) = setup();
    delete(&mem, Space::AuditEvents, 7u64.to_be_bytes().to_vec());
    let report = verify(&mem, None);
    assert_eq!(report.first_bad_seq(), Some(7), "{:?}", report.problems);
}

#[test]
fn swapped_events_are_found() {
    let (mem, _practice) = setup();
    let (a, b) = (event_at(&mem, 20), event_at(&mem, 21));
    put(&mem, Space::AuditEvents, 20u64.to_be_bytes().to_vec(), b);
    put(&mem, Space::AuditEvents, 21u64.to_be_bytes().to_vec(), a);
    let report = verify(&mem, None);
    assert_eq!(report.first_bad_seq(), Some(20), "{:?}", report.problems);
}

#[test]
fn a_truncated_tail_is_found() {
    let (mem, practice) = setup();
    let size = practice.store.audit_size();
    drop(practice);
    for seq in size - 5..size {
        delete(&mem, Space::AuditEvents, seq.to_be_bytes().to_vec());
    }
    let report = verify(&mem, None);
    assert_eq!(report.first_bad_seq(), Some(size - 5), "{:?}", report.problems);
}

#[test]
fn a_forged_event_appended_with_consistent_hashes_is_found_and_never_signed() {
    let (mem, practice) = setup();
    let size = practice.store.audit_size();
    drop(practice);
    let forged = AuditEvent {
        format: 1,
        seq: size,
        recorded_at: medvault::Timestamp::now(),
        action: Action::Read,
        outcome: Outcome::Success,
        agent: Agent {
            user: None,
            name: "dr_martin".into(),
            roles: vec!["physician".into()],
            session: None,
            workstation: "x".into(),
        },
        purpose: Purpose::Treatment,
        entity: Entity::default(),
        detail: None,
        writes: Vec::new(),
    };
    let bytes = forged.encode().unwrap();
    let (format, mut frontier): (u16, Frontier) = medvault::testing::codec::decode(
        &mem.get(Space::Meta, b"audit-tree").unwrap().unwrap(),
        medvault::Object::AuditTree,
    )
    .unwrap();
    for (level, index, hash) in frontier.push(merkle::leaf_hash(&bytes)) {
        let mut k = vec![level];
        k.extend_from_slice(&index.to_be_bytes());
        put(&mem, Space::AuditNodes, k, hash.to_vec());
    }
    put(&mem, Space::AuditEvents, size.to_be_bytes().to_vec(), bytes);
    put(&mem, Space::Meta, b"audit-tree".to_vec(), medvault::testing::codec::encode(&(format, &frontier)).unwrap());
    // Honest sessions keep working but refuse to sign over the forgery.
    let report = verify(&mem, None);
    assert_eq!(report.first_bad_seq(), Some(size), "{:?}", report.problems);
    let report = verify(&mem, None);
    assert_eq!(report.first_bad_seq(), Some(size), "still caught after more appends: {:?}", report.problems);
}

#[test]
fn replacing_the_store_with_an_older_copy_is_caught_by_an_anchor() {
    let (mem, practice) = setup();
    let old_copy = mem.snapshot();
    let old_size = practice.store.audit_size();
    for i in 10..13 {
        practice.patient(i);
    }
    let anchor_json = practice.session("dpo").export_checkpoint().unwrap().to_json();
    let anchor = Checkpoint::from_json(&anchor_json).unwrap();
    assert!(verify(&mem, Some(&anchor)).is_ok(), "the current log extends its own anchor");
    drop(practice);
    mem.restore(old_copy.clone());
    // Without the anchor the older copy is self-consistent: that is why anchors exist.
    assert!(verify(&mem, None).is_ok());
    mem.restore(old_copy);
    let report = verify(&mem, Some(&anchor));
    let bad = report.first_bad_seq().expect("rollback not found");
    // The DPO's unlock is appended before verification runs, at `old_size`.
    assert!(bad >= old_size && bad <= old_size + 1, "first bad {bad}, copy taken at {old_size}: {:?}", report.problems);
    // An anchor from another store is refused.
    let other = Practice::new();
    let foreign = other.session("dpo").export_checkpoint().unwrap();
    assert!(!verify(&mem, Some(&foreign)).is_ok());
}

/// `verify` reads the log a page of 4,096 events at a time, ahead of the checks: damage
/// on either side of a page boundary, and in a later page, is found at its own sequence number.
#[test]
fn damage_across_verify_pages_is_found_where_it_is() {
    let mem = Arc::new(MemoryBackend::new());
    let practice = Practice::on(mem.clone(), StoreOptions::insecure_fast_for_tests());
    let p = practice.patient(0);
    let ines = practice.session("ines");
    while practice.store.audit_size() < 2 * 4096 + 300 {
        ines.read_exams(p).unwrap();
    }
    drop(ines);
    drop(practice);
    let pristine = mem.scan_prefix(Space::AuditEvents, &[]).unwrap();
    assert!(verify(&mem, None).is_ok(), "untouched log of {} events", pristine.len());
    let restore =
        |seq: u64| put(&mem, Space::AuditEvents, seq.to_be_bytes().to_vec(), pristine[seq as usize].1.clone());
    let mut caught = 0;
    for seq in [4095u64, 4096, 4097, 8191, 8192, 8200] {
        let mut v = event_at(&mem, seq);
        let at = v.len() / 2;
        v[at] ^= 0x01;
        put(&mem, Space::AuditEvents, seq.to_be_bytes().to_vec(), v);
        assert_eq!(verify(&mem, None).first_bad_seq(), Some(seq), "edited event {seq}");
        restore(seq);
        delete(&mem, Space::AuditEvents, seq.to_be_bytes().to_vec());
        assert_eq!(verify(&mem, None).first_bad_seq(), Some(seq), "deleted event {seq}");
        restore(seq);
        caught += 2;
    }
    assert_eq!(caught, 12);
    assert!(verify(&mem, None).is_ok(), "restored log verifies again");
}

/// On a real redb store, with a log of more whole pages than `verify` has reading threads (so
/// that each reads several) and a short page at the end: an event edited or deleted in a whole
/// page, in a page a reader reaches on its second round, and in the last, short page is found
/// at its own sequence number, the store closed and reopened from disk around each change.
#[test]
fn damage_in_any_page_of_a_long_log_on_redb_is_found_where_it_is() {
    use medvault::backend::RedbBackend;
    use medvault::testing::audit::EventDraft;
    const PAGE: u64 = 4096;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let open = || Arc::new(RedbBackend::open(&path).unwrap());
    {
        let practice = Practice::on(open(), StoreOptions::insecure_fast_for_tests());
        let p = practice.patient(0);
        let ines = practice.session("ines");
        while practice.store.audit_size() < 10 * PAGE + 300 {
            let drafts = (0..5_000)
                .map(|_| {
                    let agent = Agent {
                        user: None,
                        name: "ines".into(),
                        roles: vec!["physician".into()],
                        session: None,
                        workstation: "test".into(),
                    };
                    EventDraft::new(Action::Read, Outcome::Success, agent, Purpose::Treatment)
                        .entity(Entity { patient: Some(p), ..Entity::default() })
                })
                .collect();
            medvault::testing::append_events(&ines, drafts).unwrap();
        }
    }
    let verify_on_disk = || {
        let store = Store::open_with_backend(open(), Arc::new(SystemClock)).unwrap();
        store.unlock("dpo", PASS, ctx()).unwrap().verify_audit(None).unwrap()
    };
    let change = |f: &dyn Fn(&mut Batch)| {
        let b = open();
        let mut batch = Batch::new();
        f(&mut batch);
        b.apply(&batch).unwrap();
        b.flush().unwrap();
    };
    let untouched = verify_on_disk();
    assert!(untouched.is_ok(), "untouched log: {:?}", untouched.problems);
    let mut caught = 0;
    for seq in [PAGE + 17, 8 * PAGE + 5, 10 * PAGE + 100] {
        let key = seq.to_be_bytes().to_vec();
        let pristine = open().get(Space::AuditEvents, &key).unwrap().expect("the event is there");
        let mut edited = pristine.clone();
        let at = edited.len() / 2;
        edited[at] ^= 0x01;
        change(&|b| b.put(Space::AuditEvents, key.clone(), edited.clone()));
        assert_eq!(verify_on_disk().first_bad_seq(), Some(seq), "edited event {seq}");
        change(&|b| b.delete(Space::AuditEvents, key.clone()));
        assert_eq!(verify_on_disk().first_bad_seq(), Some(seq), "deleted event {seq}");
        change(&|b| b.put(Space::AuditEvents, key.clone(), pristine.clone()));
        caught += 2;
    }
    assert_eq!(caught, 6);
    assert!(verify_on_disk().is_ok(), "restored log verifies again");
}
