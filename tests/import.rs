//! `import fhir`: export all, import into a new store, export again: the same content; a second
//! import adds nothing; a dry run writes nothing; a Bundle imports too; a broken file is an
//! error naming the file and line, and nothing is written.

mod common;
use common::every_backend;

use common::Practice;
use medvault::export::bulk::export_all;
use medvault::import::import_fhir;
use medvault::synthetic::Synth;
use medvault::{Date, ExamKind};
use serde_json::Value;
use std::path::Path;

/// A practice whose files have history: corrected identities, reports and results, an imaging
/// exam.
fn practice_with_history(kind: common::Kind) -> Practice {
    let practice = Practice::of(kind);
    let doc = practice.session("dr_martin");
    for seed in 0..5 {
        let p = practice.patient(200 + seed);
        let mut synth = Synth::new(900 + seed);
        if seed % 2 == 0 {
            let mut id = doc.read_identity(p).unwrap().pop().unwrap().content;
            id.used_name = Some("MARTIN-DURAND".into());
            doc.update_identity(p, id, "nom d'usage sur pièce d'identité").unwrap();
            let r = doc.read_reports(p).unwrap().remove(0);
            let mut c = r.content.clone();
            c.body.push_str("\nAddendum : tension contrôlée.");
            doc.write(p, Some(r.entry_id), c, Some("addendum")).unwrap();
            let e = doc.read_exams(p).unwrap().remove(0);
            let mut c = e.content.clone();
            c.value = Some("9.8".into());
            doc.write(p, Some(e.entry_id), c, Some("valeur recontrôlée")).unwrap();
        }
        let mut imaging = synth.lab_result("Cabinet de radiologie", Date::parse("2026-10-12").unwrap());
        imaging.kind = ExamKind::Imaging;
        imaging.value = None;
        imaging.unit = None;
        imaging.reference_range = None;
        imaging.interpretation = None;
        imaging.text = Some("Radiographie thoracique : pas d'anomalie.".into());
        doc.append_exam(p, imaging).unwrap();
    }
    practice
}

/// Every resource of an export folder but the access history, with what differs between
/// stores by design (ids, references, recording times, the store id in user identifiers)
/// taken out, sorted.
fn content(dir: &Path) -> Vec<String> {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(o) => {
                for k in ["id", "reference", "lastUpdated", "versionId", "date", "issued", "recorded", "fullUrl"] {
                    o.remove(k);
                }
                o.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            // Professionals are named within their store: `urn:medvault:store:<id>:user`.
            Value::String(t) if t.starts_with("urn:medvault:store:") => *t = "urn:medvault:store:…:user".into(),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.file_name().is_some_and(|n| n == "AuditEvent.ndjson") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let mut v: Value = serde_json::from_str(line).unwrap();
            strip(&mut v);
            out.push(v.to_string());
        }
    }
    out.sort();
    out
}

every_backend! {
fn export_import_export_gives_the_same_content_and_a_second_import_adds_nothing(kind) {
    let a = practice_with_history(kind);
    let first = tempfile::tempdir().unwrap();
    let summary = export_all(&a.session("dr_martin"), first.path(), false, |_, _| {}).unwrap();
    assert_eq!(summary.patients, 5);
    let b = Practice::of(kind);
    let doc = b.session("dr_martin");
    // A dry run says what would be done and writes nothing.
    let dry = import_fhir(&doc, first.path(), true, &mut |_, _| {}).unwrap();
    assert_eq!((dry.patients_created, dry.report_revisions, dry.exam_revisions), (5, 8, 13));
    assert!(doc.patient_ids().unwrap().is_empty(), "a dry run created patients");
    let r = import_fhir(&doc, first.path(), false, &mut |_, _| {}).unwrap();
    println!("import: {r:?}");
    assert_eq!((r.patients_created, r.patients_present), (5, 0));
    assert_eq!((r.report_revisions, r.exam_revisions, r.entries_present), (8, 13, 0));
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    // A second run adds nothing.
    let again = import_fhir(&doc, first.path(), false, &mut |_, _| {}).unwrap();
    assert_eq!((again.patients_created, again.patients_present), (0, 5));
    assert_eq!((again.report_revisions, again.exam_revisions, again.entries_present), (0, 0, 15));
    assert_eq!(doc.patient_ids().unwrap().len(), 5);
    // Export again: the same content.
    let second = tempfile::tempdir().unwrap();
    export_all(&doc, second.path(), false, |_, _| {}).unwrap();
    let (x, y) = (content(first.path()), content(second.path()));
    assert_eq!(x.len(), y.len());
    for (l, r) in x.iter().zip(&y) {
        assert_eq!(l, r);
    }
    // Everything went through the audited path: each created patient and written revision is
    // in the log.
    let log = b.session("dpo").audit_query(&medvault::AuditQuery::default()).unwrap();
    let creates = log.iter().filter(|e| e.action == medvault::Action::PatientCreate).count();
    assert_eq!(creates, 5);
    assert!(b.session("dpo").verify_audit(None).unwrap().is_ok());
}
}

#[test]
fn a_bundle_imports_and_what_is_not_imported_is_said() {
    let a = practice_with_history(common::Kind::Memory);
    let doc = a.session("dr_martin");
    let p = doc.patient_ids().unwrap()[0];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("copy.json");
    let bundle = medvault::export::fhir::bundle(&doc.export_patient(p).unwrap());
    std::fs::write(&file, serde_json::to_string(&bundle).unwrap()).unwrap();
    let b = Practice::new();
    let r = import_fhir(&b.session("dr_martin"), &file, false, &mut |_, _| {}).unwrap();
    assert_eq!(r.patients_created, 1);
    assert!(r.report_revisions >= 1 && r.exam_revisions >= 2);
    // The copy's access history is not imported, and the report says so.
    assert!(
        r.skipped.iter().any(|s| s.what.contains("AuditEvent") && s.why.contains("access history")),
        "{:?}",
        r.skipped
    );
    let imported = b.session("dr_martin").patient_ids().unwrap()[0];
    let before = doc.read_identity(p).unwrap();
    let after = b.session("dr_martin").read_identity(imported).unwrap();
    assert_eq!(before.len(), after.len(), "identity revisions");
    assert_eq!(before.last().unwrap().content.birth_name, after.last().unwrap().content.birth_name);
}

#[test]
fn a_broken_file_is_refused_whole_naming_the_file_and_line() {
    let a = practice_with_history(common::Kind::Memory);
    let dir = tempfile::tempdir().unwrap();
    export_all(&a.session("dr_martin"), dir.path(), false, |_, _| {}).unwrap();
    let obs = dir.path().join("Observation.ndjson");
    let mut text = std::fs::read_to_string(&obs).unwrap();
    text.push_str("{\"resourceType\": \"Observation\", \"secret\": \"LEFEBVRE\"\n");
    std::fs::write(&obs, text).unwrap();
    let b = Practice::new();
    let err = import_fhir(&b.session("dr_martin"), dir.path(), false, &mut |_, _| {}).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, medvault::Error::Invalid(_)), "{err}");
    assert!(msg.contains("Observation.ndjson:") && msg.contains("not JSON"), "{msg}");
    assert!(!msg.contains("LEFEBVRE"), "the message repeats the file's content");
    assert!(b.session("dr_martin").patient_ids().unwrap().is_empty(), "something was written");
}
