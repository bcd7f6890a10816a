//! The FHIR Bundle of a patient copy against R4's rules, checked by medvault's own stricter
//! check (`fhir::check_bundle`) and by hand: references resolve to entries' fullUrls, one
//! Patient and one current result however often they were corrected (history in Provenance),
//! AuditEvents with agent.type and source.site, no all-zero entry id, a typed INS identifier.

mod common;
use common::every_backend;

use common::Practice;
use medvault::IdentityStatus;
use medvault::export::fhir;
use medvault::synthetic::Synth;
use serde_json::Value;

/// A patient with a QUAL identity corrected once, a corrected report and a corrected lab
/// result, read by several people; the Bundle of their copy, as JSON.
fn corrected_bundle(practice: &Practice) -> Value {
    let doc = practice.session("dr_martin");
    let mut synth = Synth::new(41);
    let mut identity = loop {
        let i = synth.identity();
        if i.ins_matricule.is_some() {
            break i;
        }
    };
    identity.identity_status = IdentityStatus::QUAL;
    let p = doc.create_patient(identity.clone()).unwrap();
    let mut corrected = identity.clone();
    corrected.used_name = Some("NOM-D-USAGE".into());
    doc.update_identity(p, corrected, "nom d'usage ajouté sur pièce d'identité").unwrap();
    let d = medvault::Date::parse("2026-11-02").unwrap();
    let report = doc.append_report(p, synth.report("Dr Martin", d)).unwrap();
    let lab = doc.append_exam(p, synth.lab_result("Labo Central", d)).unwrap();
    let r = doc.read_reports(p).unwrap().remove(0);
    let mut c = r.content.clone();
    c.title = "Titre corrigé".into();
    doc.write(p, Some(report), c, Some("faute de frappe")).unwrap();
    let e = doc.read_exams(p).unwrap().remove(0);
    let mut c = e.content.clone();
    c.value = Some("13.1".into());
    doc.write(p, Some(lab), c, Some("erreur de saisie du résultat")).unwrap();
    doc.read_identity(p).unwrap();
    serde_json::to_value(fhir::bundle(&doc.export_patient(p).unwrap())).unwrap()
}

fn of_type<'a>(b: &'a Value, kind: &str) -> Vec<&'a Value> {
    b["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).filter(|r| r["resourceType"] == kind).collect()
}

every_backend! {
fn a_corrected_file_yields_a_bundle_whose_references_resolve_and_whose_history_is_provenance(kind) {
    let practice = Practice::of(kind);
    let b = corrected_bundle(&practice);
    assert_eq!(fhir::check_bundle(&b), Vec::<String>::new());
    // Every literal reference is the fullUrl of an entry.
    let urls: Vec<&str> = b["entry"].as_array().unwrap().iter().map(|e| e["fullUrl"].as_str().unwrap()).collect();
    let text = b.to_string();
    assert!(!text.contains("\"reference\":\"Patient/"), "a relative reference is left in the Bundle");
    // One Patient, its current version; the replaced one contained in the Provenance of r2.
    let patients = of_type(&b, "Patient");
    assert_eq!(patients.len(), 1, "an identity correction must not yield two Patient resources");
    assert_eq!(patients[0]["meta"]["versionId"], "2");
    let ins = &patients[0]["identifier"][0];
    assert_eq!(ins["type"]["coding"][0]["code"], "INS-NIR");
    assert_eq!(ins["system"], "urn:oid:1.2.250.1.213.1.4.8");
    let provenances = of_type(&b, "Provenance");
    let identity_r2 = provenances
        .iter()
        .find(|p| p["contained"][0]["resourceType"] == "Patient")
        .expect("the replaced identity is kept in a Provenance");
    assert_eq!(identity_r2["activity"]["coding"][0]["code"], "UPDATE");
    assert_eq!(identity_r2["reason"][0]["text"], "nom d'usage ajouté sur pièce d'identité");
    assert!(identity_r2["contained"][0]["meta"].get("versionId").is_none());
    assert!(urls.contains(&identity_r2["target"][0]["reference"].as_str().unwrap()));
    // One current lab result, amended; the replaced value kept in its Provenance.
    let obs = of_type(&b, "Observation");
    assert_eq!(obs.len(), 1, "a corrected result must not leave two current results");
    assert_eq!(obs[0]["status"], "amended");
    assert_eq!(obs[0]["valueQuantity"]["value"], 13.1);
    assert!(provenances.iter().any(|p| p["contained"][0]["resourceType"] == "Observation"
        && p["contained"][0]["status"] == "final"));
    // Reports: every revision its own document, the older superseded.
    let docs = of_type(&b, "DocumentReference");
    assert_eq!(docs.iter().filter(|d| d["status"] == "current").count(), 1);
    assert_eq!(docs.iter().filter(|d| d["status"] == "superseded").count(), 1);
    // AuditEvents: agent.type, source.site, no all-zero entry id.
    let events = of_type(&b, "AuditEvent");
    assert!(events.len() > 5);
    for e in &events {
        assert_eq!(e["agent"][0]["type"]["coding"][0]["code"], "humanuser");
        assert!(e["source"]["site"].as_str().unwrap().starts_with("medvault store "));
        assert!(e["agent"][0]["who"]["identifier"]["value"].is_string());
    }
    assert!(!text.contains("00000000000000000000000000000000"), "an all-zero entry id is exported");
    assert_eq!(of_type(&b, "Bundle").len(), 0);
}
}

#[test]
fn the_stricter_check_catches_dangling_references_duplicates_and_two_current_documents() {
    let practice = Practice::new();
    let b = corrected_bundle(&practice);
    assert!(fhir::check_bundle(&b).is_empty());
    // A relative reference in a Bundle of urn:uuid fullUrls does not resolve.
    let mut dangling = b.clone();
    let entries = dangling["entry"].as_array_mut().unwrap();
    let obs = entries.iter_mut().find(|e| e["resource"]["resourceType"] == "Observation").unwrap();
    obs["resource"]["subject"]["reference"] = "Patient/123".into();
    assert!(fhir::check_bundle(&dangling).iter().any(|p| p.contains("does not resolve")));
    // The same Patient twice (what an identity correction used to produce).
    let mut twice = b.clone();
    let patient =
        twice["entry"].as_array().unwrap().iter().find(|e| e["resource"]["resourceType"] == "Patient").cloned();
    let mut copy = patient.unwrap();
    copy["fullUrl"] = "urn:uuid:00000000-0000-4000-8000-000000000001".into();
    twice["entry"].as_array_mut().unwrap().push(copy);
    assert!(fhir::check_bundle(&twice).iter().any(|p| p.contains("appears twice")));
    // A replaced document left current.
    let mut current = b.clone();
    for e in current["entry"].as_array_mut().unwrap() {
        if e["resource"]["status"] == "superseded" {
            e["resource"]["status"] = "current".into();
        }
    }
    assert!(fhir::check_bundle(&current).iter().any(|p| p.contains("still current")));
}
