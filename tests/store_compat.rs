//! Backward compatibility: stores written by earlier releases must open, unlock, decrypt and
//! verify in every later release. The fixtures are frozen once released:
//! - tests/data/golden/store-v1.txt: the first release (store format 1, sled), key by key;
//! - tests/data/golden/store-v2-redb: the second release's redb folder (still store format 1);
//! - tests/data/golden/store-v3.txt: store format 3 (patient keys, revisions of format 2), key
//!   by key;
//! - tests/data/golden/store-v4.txt: store format 4 (per-user signing keys), key by key.
//!
//! `MEDVAULT_BLESS=1 cargo test --test store_compat` writes the current format's fixture only.

use medvault::backend::{Backend, Batch, MemoryBackend, Space};
use medvault::{
    AccessContext, Date, Exam, ExamKind, Identity, IdentityStatus, Report, ReportKind, Section, Sex, Store,
    StoreOptions,
};
use std::collections::BTreeSet;
use std::sync::Arc;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden/store-v1.txt");
const FIXTURE_V3: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden/store-v3.txt");
const FIXTURE_CURRENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden/store-v4.txt");

fn ctx() -> AccessContext {
    AccessContext::treatment("compat")
}

fn write_fixture() {
    let mem = Arc::new(MemoryBackend::new());
    let (store, _shares) =
        Store::create_with_backend(mem.clone(), "admin", b"golden admin pass", StoreOptions::insecure_fast_for_tests())
            .unwrap();
    fill(&store);
    let mut out = String::new();
    for (k, v) in mem.snapshot() {
        out.push_str(&format!("{} {}\n", hex::encode(k), hex::encode(v)));
    }
    std::fs::write(FIXTURE_CURRENT, out).unwrap();
}

/// The content of every golden store: a doctor, a DPO, one patient with a corrected report and
/// an exam; from format 3 on, also a litigation hold with its reason and a break-glass access.
/// Closes the store.
fn fill(store: &Store) {
    let admin = store.unlock("admin", b"golden admin pass", ctx()).unwrap();
    admin.add_user("doc", &["physician".into()], b"golden doctor pass").unwrap();
    admin.add_user("dpo", &["auditor".into()], b"golden dpo pass").unwrap();
    let doc = store.unlock("doc", b"golden doctor pass", ctx()).unwrap();
    let identity = Identity {
        birth_name: "GOLDEN".into(),
        first_names: vec!["Fixture".into()],
        birth_date: Date::parse("1980-01-02").unwrap(),
        sex: Sex::U,
        birth_place_insee: "75056".into(),
        used_name: None,
        ins_matricule: None,
        ins_oid: None,
        identity_status: IdentityStatus::PROV,
        address: None,
        phone: None,
        email: None,
        insurance: None,
        emergency_contact: None,
        date_of_death: None,
    };
    let p = doc.create_patient(identity).unwrap();
    let d = Date::parse("2026-11-22").unwrap();
    let r = Report {
        kind: ReportKind::Letter,
        author: "Dr Golden".into(),
        date: d,
        title: "Courrier".into(),
        body: "Texte du courrier".into(),
    };
    let e = doc.append_report(p, r.clone()).unwrap();
    let mut corrected = r.clone();
    corrected.body = "Texte corrigé".into();
    doc.write(p, Some(e), corrected, Some("correction")).unwrap();
    let exam = Exam {
        kind: ExamKind::Lab,
        code_system: Some("http://loinc.org".into()),
        code: Some("718-7".into()),
        label: "Hémoglobine".into(),
        value: Some("13.2".into()),
        unit: Some("g/dL".into()),
        reference_range: None,
        interpretation: None,
        text: None,
        date: d,
        performer: "Labo".into(),
    };
    doc.append_exam(p, exam).unwrap();
    doc.set_hold(p, Some("Contentieux golden")).unwrap();
    doc.break_glass(p, "Urgence golden : appel du centre 15", None).unwrap();
    drop((doc, admin));
    store.clone().close().unwrap();
}

/// The format 1 fixture, key by key.
fn v1_batch() -> Batch {
    dump_batch(FIXTURE)
}

/// A fixture dumped key by key.
fn dump_batch(path: &str) -> Batch {
    let text = std::fs::read_to_string(path).expect("fixture");
    let mut batch = Batch::new();
    for line in text.lines() {
        let (k, v) = line.split_once(' ').unwrap();
        let k = hex::decode(k).unwrap();
        let space = Space::ALL.into_iter().find(|s| *s as u8 == k[0]).expect("known keyspace");
        batch.put(space, k[1..].to_vec(), hex::decode(v).unwrap());
    }
    batch
}

/// Everything the golden content promises: find, read every section, verify (records included
/// once a baseline exists).
fn check_golden(store: &Store) {
    let doc = store.unlock("doc", b"golden doctor pass", ctx()).unwrap();
    let p = doc
        .find_patient(&medvault::FindQuery::BirthNameAndDate("Golden".into(), Date::parse("1980-01-02").unwrap()))
        .unwrap();
    assert_eq!(p.len(), 1);
    let reports = doc.read_reports(p[0]).unwrap();
    assert_eq!(
        reports.iter().map(|r| r.content.body.as_str()).collect::<Vec<_>>(),
        vec!["Texte du courrier", "Texte corrigé"]
    );
    assert_eq!(doc.read_exams(p[0]).unwrap()[0].content.value.as_deref(), Some("13.2"));
    assert_eq!(doc.read_identity(p[0]).unwrap()[0].content.birth_name, "GOLDEN");
    let report = store.unlock("dpo", b"golden dpo pass", ctx()).unwrap().verify_audit(None).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert!(report.size > 10);
    assert!(report.records_checked.is_some_and(|n| n > 10), "records are checked against the log");
}

#[test]
fn a_format_1_store_opens_decrypts_and_verifies() {
    let mem = Arc::new(MemoryBackend::new());
    mem.apply(&v1_batch()).unwrap();
    let store = Store::open_with_backend(mem.clone(), Arc::new(medvault::SystemClock)).unwrap();
    check_golden(&store);
    // The first unlock by a user holding the audit key recorded the baseline, once.
    let events = mem.scan_prefix(Space::AuditEvents, &[]).unwrap();
    let baselines = events
        .iter()
        .filter(|(_, v)| medvault::AuditEvent::decode(v).unwrap().action == medvault::Action::RecordBaseline)
        .count();
    assert_eq!(baselines, 1);
    // The log now holds the fixture's events of format 1 and this release's of format 3, and
    // verified whole (check_golden).
    assert_eq!(event_formats(&mem), BTreeSet::from([1, 3]));
}

/// The formats of the events a store holds.
fn event_formats(backend: &MemoryBackend) -> BTreeSet<u16> {
    let events = backend.scan_prefix(Space::AuditEvents, &[]).unwrap();
    events.iter().map(|(_, v)| medvault::AuditEvent::decode(v).unwrap().format).collect()
}

#[test]
fn a_first_release_sled_folder_opens_verifies_and_migrates_to_redb() {
    let dir = tempfile::tempdir().unwrap();
    let sled_dir = dir.path().join("cabinet");
    {
        // As the first release left it: sled's files, no descriptor, no witness.
        let sled = medvault::backend::SledBackend::open(&sled_dir).unwrap();
        sled.apply(&v1_batch()).unwrap();
        sled.flush().unwrap();
    }
    assert!(!sled_dir.join("MEDVAULT").exists());
    let store = Store::open(&sled_dir).unwrap();
    assert_eq!(store.engine(), Some(medvault::Engine::Sled));
    check_golden(&store);
    store.close().unwrap();
    let redb_dir = dir.path().join("cabinet-redb");
    let r = medvault::migrate(&sled_dir, &redb_dir, medvault::Engine::Redb).unwrap();
    assert!(r.records > 50 && r.events > 10, "{r:?}");
    let copy = Store::open(&redb_dir).unwrap();
    assert_eq!(copy.engine(), Some(medvault::Engine::Redb));
    check_golden(&copy);
    // A second migration to the same place is refused; the source still opens.
    assert!(medvault::migrate(&sled_dir, &redb_dir, medvault::Engine::Redb).is_err());
    drop(copy);
    check_golden(&Store::open(&sled_dir).unwrap());
}

#[test]
fn a_format_3_store_opens_decrypts_and_verifies() {
    check_patient_key_store(FIXTURE_V3);
}

#[test]
fn a_format_4_store_opens_decrypts_and_verifies() {
    if std::env::var_os("MEDVAULT_BLESS").is_some() {
        write_fixture();
    }
    check_patient_key_store(FIXTURE_CURRENT);
}

/// A store of format 3 gives its users keys of their own at an administrator's unlock: heads
/// signed before name no one (the shared store key), heads signed after name their signer.
#[test]
fn a_format_3_store_moves_to_per_user_signing_keys() {
    let mem = Arc::new(MemoryBackend::new());
    mem.apply(&dump_batch(FIXTURE_V3)).unwrap();
    assert!(mem.scan_prefix(Space::Signers, &[]).unwrap().is_empty());
    let store = Store::open_with_backend(mem.clone(), Arc::new(medvault::SystemClock)).unwrap();
    assert!(store.audit_key_is_shared());
    // Before any administrator unlocks, users sign with the shared key.
    let doc = store.unlock("doc", b"golden doctor pass", ctx()).unwrap();
    let key = medvault::testing::signing_key(&doc).unwrap();
    assert_eq!(key.verifying_key(), store.audit_public_key());
    drop(doc);
    drop(store.unlock("admin", b"golden admin pass", ctx()).unwrap());
    assert_eq!(mem.scan_prefix(Space::Signers, &[]).unwrap().len(), 3, "admin, doc and dpo enrolled");
    let doc = store.unlock("doc", b"golden doctor pass", ctx()).unwrap();
    let key = medvault::testing::signing_key(&doc).unwrap();
    assert_ne!(key.verifying_key(), store.audit_public_key());
    doc.patient_ids().unwrap();
    doc.export_checkpoint().unwrap_err(); // not an auditor: refused, and the refusal is signed
    drop(doc);
    let report = store.unlock("dpo", b"golden dpo pass", ctx()).unwrap().verify_audit(None).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    let by: Vec<String> = report.signed_by.iter().map(|h| h.signer.to_string()).collect();
    assert!(by.contains(&"the store audit key".to_string()), "{by:?}");
    assert!(by.contains(&"dpo".to_string()), "{by:?}");
    check_golden(&store);
}

fn check_patient_key_store(fixture: &str) {
    let mem = Arc::new(MemoryBackend::new());
    mem.apply(&dump_batch(fixture)).unwrap();
    let revisions = mem.scan_prefix(Space::Records, &[]).unwrap();
    assert!(revisions.iter().all(|(_, v)| v[..2] == [2, 0]), "every revision is of format 2");
    assert!(mem.scan_prefix(Space::PatientKeys, &[]).unwrap().len() >= 3, "one patient key per section");
    assert_eq!(event_formats(&mem), BTreeSet::from([2]), "the fixture's events");
    let store = Store::open_with_backend(mem.clone(), Arc::new(medvault::SystemClock)).unwrap();
    check_golden(&store);
    assert_eq!(event_formats(&mem), BTreeSet::from([2, 3]), "format 3 events after format 2 ones, verified");
    // Sealed notes: the hold reason and the justification open for their readers.
    let doc = store.unlock("doc", b"golden doctor pass", ctx()).unwrap();
    let p = doc.patient_ids().unwrap()[0];
    let reason = match doc.retention_status(p).unwrap() {
        medvault::rights::Retention::Hold { reason } => reason,
        other => panic!("{other:?}"),
    };
    assert_eq!(reason.as_deref(), Some("Contentieux golden"));
    let dpo = store.unlock("dpo", b"golden dpo pass", ctx()).unwrap();
    let listed = dpo.break_glass_list(false).unwrap();
    assert_eq!(listed[0].justification.as_deref(), Some("Urgence golden : appel du centre 15"));
}

#[test]
fn the_rewrap_moves_a_format_1_store_under_patient_keys() {
    let mem = Arc::new(MemoryBackend::new());
    mem.apply(&v1_batch()).unwrap();
    let store = Store::open_with_backend(mem.clone(), Arc::new(medvault::SystemClock)).unwrap();
    let doc = store.unlock("doc", b"golden doctor pass", ctx()).unwrap();
    let held = medvault::testing::held_keys(&doc);
    let keys: Vec<_> = held.iter().collect();
    let p = doc.patient_ids().unwrap()[0];
    let (id, no_patient_keys) = (store.id(), MemoryBackend::new());
    let opened = |section, key_source: &dyn Backend| {
        medvault::testing::open_records_with(mem.as_ref(), key_source, id, &keys, p, section).unwrap()
    };
    // Format 1: every revision opens with a section key alone; erasing it would only delete rows.
    for section in Section::ALL {
        assert!(opened(section, &no_patient_keys) > 0, "{section}");
    }
    for section in Section::ALL {
        let r = doc.rewrap_section(section, usize::MAX, |_, _| {}).unwrap();
        assert!(r.rewrapped > 0 && r.remaining == 0, "{section}: {r:?}");
    }
    // Now every data key is under a patient key: without it, no section key opens anything.
    for section in Section::ALL {
        assert_eq!(opened(section, &no_patient_keys), 0, "{section}");
        assert!(opened(section, mem.as_ref()) > 0, "{section}");
    }
    drop(doc);
    check_golden(&store);
}

const REDB_FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden/store-v2-redb");

#[test]
fn a_format_2_redb_store_opens_decrypts_and_verifies() {
    // Frozen: written by the second release (redb, store format 1). Opening writes (events, witness): work on a copy.
    let dir = tempfile::tempdir().unwrap();
    for name in ["MEDVAULT", "medvault.redb", "medvault.witness"] {
        std::fs::copy(std::path::Path::new(REDB_FIXTURE).join(name), dir.path().join(name)).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.engine(), Some(medvault::Engine::Redb));
    check_golden(&store);
    drop(store);
    // Its witness was of the first layout (two 256-byte slots); it now has the second (two
    // 512-byte slots, 4 KiB apart) and still tells what was acknowledged.
    let witness = std::fs::read(dir.path().join("medvault.witness")).unwrap();
    assert_eq!(std::fs::metadata(std::path::Path::new(REDB_FIXTURE).join("medvault.witness")).unwrap().len(), 512);
    assert_eq!(witness.len(), 4096 + 512);
    assert!(witness.starts_with(b"MVWITNS2") || witness[4096..].starts_with(b"MVWITNS2"));
    check_golden(&Store::open(dir.path()).unwrap());
    // The database file of the fixture, put back: the converted witness saw newer events.
    std::fs::copy(std::path::Path::new(REDB_FIXTURE).join("medvault.redb"), dir.path().join("medvault.redb")).unwrap();
    assert!(matches!(Store::open(dir.path()), Err(medvault::Error::Integrity(_))), "the loss goes unnoticed");
}
