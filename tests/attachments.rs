//! Attachments: keys, audit, erasure and every tampering case, on a real redb folder and in
//! memory. (The 1 GiB round trip and its memory are in `attachment_large.rs`.)

mod common;

use common::Practice;
use medvault::attachment::CHUNK_SIZE;
use medvault::backend::{Backend, Batch, Space};
use medvault::{
    Action, AttachmentId, Date, Engine, EntryId, Error, IdentityStatus, ManualClock, PatientId, Section, Session,
    StoreOptions, Timestamp,
};

/// Three full chunks and a short one.
fn content() -> Vec<u8> {
    (0..3 * CHUNK_SIZE + 1234).map(|i| (i * 7 % 251) as u8).collect()
}

fn rows(backend: &dyn Backend, space: Space) -> Vec<(Vec<u8>, Vec<u8>)> {
    backend.scan_prefix(space, &[]).unwrap()
}

fn put(backend: &dyn Backend, space: Space, key: &[u8], value: &[u8]) {
    let mut b = Batch::new();
    b.put(space, key.to_vec(), value.to_vec());
    backend.apply(&b).unwrap();
}

fn delete(backend: &dyn Backend, space: Space, key: &[u8]) {
    let mut b = Batch::new();
    b.delete(space, key.to_vec());
    backend.apply(&b).unwrap();
}

fn read(s: &Session, p: PatientId, entry: EntryId, id: AttachmentId) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    s.read_attachment(p, Section::Reports, entry, id, &mut out).map(|_| out)
}

fn problems(practice: &Practice) -> Vec<String> {
    let dpo = practice.session("dpo");
    dpo.verify_audit(None).unwrap().problems.into_iter().map(|p| p.what).collect()
}

/// A patient with a report carrying one attachment.
fn setup(practice: &Practice) -> (PatientId, EntryId, AttachmentId) {
    let p = practice.patient(3);
    let doc = practice.session("dr_martin");
    let entry = doc
        .append_report(p, medvault::synthetic::Synth::new(4).report("Dr Martin", Date::parse("2026-11-03").unwrap()))
        .unwrap();
    let id = doc
        .attach(p, Section::Reports, entry, "courrier-dupont.pdf", "application/pdf", &mut content().as_slice())
        .unwrap();
    (p, entry, id)
}

#[test]
fn round_trip_listing_audit_and_rights() {
    let dir = tempfile::tempdir().unwrap();
    let practice = Practice::in_dir(&dir.path().join("s"), Engine::Redb);
    let (p, entry, id) = setup(&practice);
    let doc = practice.session("dr_martin");
    assert_eq!(read(&doc, p, entry, id).unwrap(), content());
    let list = doc.attachments(p, Section::Reports).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].name.as_str(), list[0].size, list[0].entry),
        ("courrier-dupont.pdf", content().len() as u64, entry)
    );
    // The file name stays out of Debug.
    assert!(!format!("{:?}", list[0]).contains("dupont"));
    // An empty attachment is one empty chunk.
    let empty = doc.attach(p, Section::Reports, entry, "vide.txt", "text/plain", &mut [].as_slice()).unwrap();
    assert_eq!(read(&doc, p, entry, empty).unwrap(), Vec::<u8>::new());
    // Exactly one chunk's worth.
    let one = vec![9u8; CHUNK_SIZE];
    let full =
        doc.attach(p, Section::Reports, entry, "plein.bin", "application/octet-stream", &mut one.as_slice()).unwrap();
    assert_eq!(read(&doc, p, entry, full).unwrap(), one);

    // The DPO holds no clinical key: refused, and audited.
    let dpo = practice.session("dpo");
    assert!(matches!(read(&dpo, p, entry, id), Err(Error::Denied(_))));
    // The nurse may read reports but not write them.
    let ines = practice.session("ines");
    assert_eq!(read(&ines, p, entry, id).unwrap(), content());
    assert!(matches!(
        ines.attach(p, Section::Reports, entry, "x.pdf", "application/pdf", &mut [1u8].as_slice()),
        Err(Error::Denied(_))
    ));
    // Bad input: typed errors, nothing written.
    let before = rows(practice.backend.as_ref(), Space::Attachments).len();
    for (name, ty) in [("", "application/pdf"), ("a.pdf", "pdf"), (&*"n".repeat(300), "application/pdf")] {
        assert!(matches!(
            doc.attach(p, Section::Reports, entry, name, ty, &mut [1u8].as_slice()),
            Err(Error::Invalid(_))
        ));
    }
    assert!(matches!(
        doc.attach(p, Section::Identity, EntryId::IDENTITY, "a.pdf", "application/pdf", &mut [1u8].as_slice()),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        doc.attach(p, Section::Reports, EntryId::random(), "a.pdf", "application/pdf", &mut [1u8].as_slice()),
        Err(Error::NotFound(_))
    ));
    assert_eq!(rows(practice.backend.as_ref(), Space::Attachments).len(), before);

    // Every add and read is in the log, with the attachment id.
    let events = dpo.audit_query(&medvault::AuditQuery { patient: Some(p), ..Default::default() }).unwrap();
    let attach_events: Vec<_> = events.iter().filter(|e| e.action == Action::Attach).collect();
    assert!(attach_events.iter().any(|e| e.detail.as_deref() == Some(&*format!("attachment {id} begun"))));
    assert!(
        attach_events
            .iter()
            .any(|e| e.detail.as_deref().is_some_and(|d| d.starts_with(&format!("attachment {id} complete"))))
    );
    assert!(
        events.iter().any(|e| e.action == Action::Read && e.detail.as_deref() == Some(&*format!("attachment {id}")))
    );
    assert!(problems(&practice).is_empty(), "{:?}", problems(&practice));
}

/// A reader that fails after some bytes: the attachment is abandoned and nothing stays.
struct Failing(usize);
impl std::io::Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0 == 0 {
            return Err(std::io::Error::other("the scanner was unplugged"));
        }
        let n = buf.len().min(self.0);
        buf[..n].fill(1);
        self.0 -= n;
        Ok(n)
    }
}

#[test]
fn an_interrupted_attach_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let practice = Practice::in_dir(&dir.path().join("s"), Engine::Redb);
    let (p, entry, _) = setup(&practice);
    let (a0, c0) = (
        rows(practice.backend.as_ref(), Space::Attachments).len(),
        rows(practice.backend.as_ref(), Space::AttachmentChunks).len(),
    );
    let doc = practice.session("dr_martin");
    let r = doc.attach(p, Section::Reports, entry, "scan.tif", "image/tiff", &mut Failing(40 * CHUNK_SIZE + 5));
    assert!(matches!(r, Err(Error::Output(_))), "{r:?}");
    assert_eq!(rows(practice.backend.as_ref(), Space::Attachments).len(), a0);
    assert_eq!(rows(practice.backend.as_ref(), Space::AttachmentChunks).len(), c0);
    assert_eq!(doc.attachments(p, Section::Reports).unwrap().len(), 1);
    assert!(problems(&practice).is_empty(), "{:?}", problems(&practice));
}

#[test]
fn every_tampering_is_detected() {
    let mut caught = 0;
    type Tamper = fn(&dyn Backend, &[(Vec<u8>, Vec<u8>)], &[(Vec<u8>, Vec<u8>)]);
    let cases: Vec<(&str, Tamper)> = vec![
        ("a flipped byte in a chunk", |b, c, _| {
            let mut v = c[1].1.clone();
            v[40] ^= 1;
            put(b, Space::AttachmentChunks, &c[1].0, &v);
        }),
        ("two chunks swapped", |b, c, _| {
            put(b, Space::AttachmentChunks, &c[0].0, &c[1].1);
            put(b, Space::AttachmentChunks, &c[1].0, &c[0].1);
        }),
        ("the last chunk deleted", |b, c, _| delete(b, Space::AttachmentChunks, &c[3].0)),
        ("a middle chunk deleted", |b, c, _| delete(b, Space::AttachmentChunks, &c[2].0)),
        ("cut to its first chunks, the description kept", |b, c, _| {
            delete(b, Space::AttachmentChunks, &c[3].0);
            delete(b, Space::AttachmentChunks, &c[2].0);
        }),
        ("a chunk of another attachment put in its place", |b, c, other| {
            put(b, Space::AttachmentChunks, &c[0].0, &other[0].1);
        }),
        ("a chunk appended after the last", |b, c, _| {
            let mut k = c[3].0.clone();
            let n = k.len();
            k[n - 1] += 1;
            put(b, Space::AttachmentChunks, &k, &c[2].1);
        }),
        ("the description replaced by another attachment's", |b, c, other| {
            let rows = b.scan_prefix(Space::Attachments, &[]).unwrap();
            let prefix = &c[0].0[..c[0].0.len() - 4];
            let other_prefix = &other[0].0[..other[0].0.len() - 4];
            let theirs = rows.iter().find(|(k, _)| k == other_prefix).unwrap();
            put(b, Space::Attachments, prefix, &theirs.1);
        }),
        ("the description deleted", |b, c, _| delete(b, Space::Attachments, &c[0].0[..c[0].0.len() - 4])),
    ];
    for (what, tamper) in cases {
        let dir = tempfile::tempdir().unwrap();
        let practice = Practice::in_dir(&dir.path().join("s"), Engine::Redb);
        let (p, entry, id) = setup(&practice);
        let doc = practice.session("dr_martin");
        let other = doc
            .attach(p, Section::Reports, entry, "autre.pdf", "application/pdf", &mut vec![5u8; 1000].as_slice())
            .unwrap();
        let backend = practice.backend.as_ref();
        let prefix: Vec<u8> = [p.0.as_slice(), &[Section::Reports.code()], &entry.0, &id.0].concat();
        let other_prefix: Vec<u8> = [p.0.as_slice(), &[Section::Reports.code()], &entry.0, &other.0].concat();
        let chunks = backend.scan_prefix(Space::AttachmentChunks, &prefix).unwrap();
        let other_chunks = backend.scan_prefix(Space::AttachmentChunks, &other_prefix).unwrap();
        assert_eq!(chunks.len(), 4);
        tamper(backend, &chunks, &other_chunks);
        let r = read(&doc, p, entry, id);
        let found = problems(&practice);
        if what == "a chunk appended after the last" {
            // The content read is the one written (the description counts the chunks); the
            // planted chunk is verify's to find.
            assert_eq!(r.as_deref().ok(), Some(content().as_slice()), "{what}");
        } else {
            assert!(
                matches!(r, Err(Error::Integrity(_) | Error::NotFound(_) | Error::Decrypt)),
                "{what}: read gave {:?}",
                r.map(|v| v.len())
            );
        }
        assert!(!found.is_empty(), "{what}: verify found nothing");
        println!(
            "{what}: read: {}; verify: {}",
            r.err().map(|e| e.to_string()).unwrap_or("content intact".into()),
            found[0]
        );
        caught += 1;
    }
    assert_eq!(caught, 9);
}

#[test]
fn erasure_removes_attachments_with_their_entry() {
    // A file written in 2006 is past its 20-year retention period (CSP R1112-7) in 2026.
    let clock = std::sync::Arc::new(ManualClock::new(Timestamp::parse("2006-05-10T10:00:00Z").unwrap()));
    let options = StoreOptions { clock: clock.clone(), ..StoreOptions::insecure_fast_for_tests() };
    let practice = Practice::on(std::sync::Arc::new(medvault::backend::MemoryBackend::new()), options);
    let doc = practice.session("dr_martin");
    let mut identity = common::identity(5);
    identity.birth_date = Date::parse("1960-03-04").unwrap();
    (identity.ins_matricule, identity.ins_oid, identity.identity_status) = (None, None, IdentityStatus::PROV);
    let p = doc.create_patient(identity).unwrap();
    let entry = doc
        .append_report(p, medvault::synthetic::Synth::new(6).report("Dr Martin", Date::parse("2006-05-10").unwrap()))
        .unwrap();
    let id = doc.attach(p, Section::Reports, entry, "radio.jpg", "image/jpeg", &mut content().as_slice()).unwrap();
    let kept = practice.patient(9);
    let kept_entry = doc
        .append_report(
            kept,
            medvault::synthetic::Synth::new(10).report("Dr Martin", Date::parse("2006-05-10").unwrap()),
        )
        .unwrap();
    doc.attach(kept, Section::Reports, kept_entry, "autre.jpg", "image/jpeg", &mut content().as_slice()).unwrap();
    assert_eq!(read(&doc, p, entry, id).unwrap(), content());
    clock.set(Timestamp::parse("2026-12-01T10:00:00Z").unwrap());
    doc.erase_patient(p).unwrap();
    let b = practice.backend.as_ref();
    for space in [Space::Attachments, Space::AttachmentChunks, Space::PatientKeys] {
        assert!(b.scan_prefix(space, &p.0).unwrap().is_empty(), "{space:?}");
        assert!(!b.scan_prefix(space, &kept.0).unwrap().is_empty(), "{space:?} of the other patient");
    }
    assert!(read(&doc, p, entry, id).is_err());
    assert!(problems(&practice).is_empty(), "{:?}", problems(&practice));
}

#[test]
fn attachments_go_through_backup_restore_and_migration() {
    let dir = tempfile::tempdir().unwrap();
    let practice = Practice::in_dir(&dir.path().join("s"), Engine::Redb);
    let (p, entry, id) = setup(&practice);
    let big: Vec<u8> = (0..40 * CHUNK_SIZE + 17).map(|i| (i % 241) as u8).collect();
    let doc = practice.session("dr_martin");
    let big_id = doc.attach(p, Section::Reports, entry, "irm.dcm", "application/dicom", &mut big.as_slice()).unwrap();
    let mut backup = Vec::new();
    practice.session("admin").backup(&mut backup).unwrap();
    let key = practice.store.verification_key();
    medvault::backup::verify_backup(&mut [&mut backup.as_slice()], Some(&key)).unwrap();
    let restored_dir = dir.path().join("restored");
    medvault::backup::restore(&mut [&mut backup.as_slice()], &restored_dir, Engine::Sled, Some(&key), None).unwrap();
    drop(doc);
    let restored = medvault::Store::open(&restored_dir).unwrap();
    let doc = restored.unlock("dr_martin", common::PASS, common::ctx()).unwrap();
    assert_eq!(read(&doc, p, entry, id).unwrap(), content());
    assert_eq!(read(&doc, p, entry, big_id).unwrap(), big);
    let report = restored.unlock("dpo", common::PASS, common::ctx()).unwrap().verify_audit(None).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.attachment_chunks_checked, 4 + 41);
    drop(doc);
    restored.close().unwrap();
    // Migrating the restored sled store back to redb keeps them too.
    let migrated = dir.path().join("migrated");
    medvault::migrate(&restored_dir, &migrated, Engine::Redb).unwrap();
    let store = medvault::Store::open(&migrated).unwrap();
    let doc = store.unlock("dr_martin", common::PASS, common::ctx()).unwrap();
    assert_eq!(read(&doc, p, entry, big_id).unwrap(), big);
}

#[test]
fn a_storage_failure_mid_attach_loses_nothing_acknowledged() {
    use medvault::testing::{Faults, FaultyBackend};
    let mem = std::sync::Arc::new(medvault::backend::MemoryBackend::new());
    let faulty = std::sync::Arc::new(FaultyBackend::new(mem.clone()));
    let practice = Practice::on(faulty.clone(), StoreOptions::insecure_fast_for_tests());
    let (p, entry, id) = setup(&practice);
    let doc = practice.session("dr_martin");
    // The begin commits, two batches of chunks go in, then every write fails: the attach fails
    // and so does its clean-up, leaving it Pending.
    faulty.set(Faults { fail_after_batches: Some(3), ..Faults::default() });
    let big = vec![3u8; 60 * CHUNK_SIZE];
    assert!(doc.attach(p, Section::Reports, entry, "gros.tif", "image/tiff", &mut big.as_slice()).is_err());
    faulty.set(Faults::default());
    drop(doc);
    drop(practice);
    // Reopened, the store verifies, counts the interrupted attachment, and still holds and reads
    // the one acknowledged before.
    let store = medvault::Store::open_with_backend(mem, std::sync::Arc::new(medvault::SystemClock)).unwrap();
    let dpo = store.unlock("dpo", common::PASS, common::ctx()).unwrap();
    let report = dpo.verify_audit(None).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.attachments_interrupted, 1);
    let doc = store.unlock("dr_martin", common::PASS, common::ctx()).unwrap();
    let listed = doc.attachments(p, Section::Reports).unwrap();
    assert_eq!(listed.iter().map(|a| a.id).collect::<Vec<_>>(), vec![id]);
    assert_eq!(read(&doc, p, entry, id).unwrap(), content());
}
