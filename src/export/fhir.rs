//! FHIR R4 (4.0.1) rendering of a patient export: a `collection` Bundle with the Patient (the
//! INS matricule as identifier only when the identity status is QUAL), reports as
//! DocumentReference, lab results as Observation (LOINC, UCUM), other exams as DiagnosticReport,
//! and the access history as AuditEvent. Every revision is included: older revisions carry their
//! version in `meta.versionId` and newer ones point back with `relatesTo` / a note.

use super::PatientExport;
use crate::audit::{Action, AuditEvent, Outcome, Purpose};
use crate::model::{Entry, Exam, ExamKind, Identity, IdentityStatus, Interpretation, Report, ReportKind, Sex};
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A stable `urn:uuid:` for a resource, derived from its identifying parts.
fn urn(parts: &[&str]) -> String {
    let h = Sha256::digest(parts.join("/").as_bytes());
    let x = hex::encode(&h[..16]);
    format!("urn:uuid:{}-{}-4{}-8{}-{}", &x[..8], &x[8..12], &x[13..16], &x[17..20], &x[20..32])
}

fn entry(parts: &[&str], resource: Value) -> Value {
    json!({ "fullUrl": urn(parts), "resource": resource })
}

/// `Patient/<id>` reference.
fn subject(e: &PatientExport) -> Value {
    json!({ "reference": format!("Patient/{}", e.patient) })
}

/// The Patient resource of one identity revision.
pub fn patient(e: &PatientExport, rev: &Entry<Identity>) -> Value {
    let i = &rev.content;
    let mut names = vec![json!({ "use": "official", "family": i.birth_name, "given": i.first_names })];
    if let Some(u) = &i.used_name {
        names.push(
            json!({ "use": "usual", "family": u, "given": i.first_names.first().into_iter().collect::<Vec<_>>() }),
        );
    }
    let mut p = json!({
        "resourceType": "Patient",
        "id": e.patient.to_string(),
        "meta": {
            "versionId": rev.revision.to_string(),
            "lastUpdated": rev.recorded_at.to_string(),
            "tag": [{ "system": "urn:medvault:identity-status", "code": format!("{:?}", i.identity_status), "display": "Statut de l'identité INS" }]
        },
        "name": names,
        "gender": match i.sex { Sex::F => "female", Sex::M => "male", _ => "unknown" },
        "birthDate": i.birth_date.to_string(),
        "extension": [{
            "url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
            "valueAddress": { "district": i.birth_place_insee, "text": format!("INSEE {}", i.birth_place_insee) }
        }]
    });
    // Only a qualified identity may be shared with its INS matricule.
    if i.identity_status == IdentityStatus::QUAL
        && let (Some(m), Some(oid)) = (&i.ins_matricule, &i.ins_oid)
    {
        p["identifier"] = json!([{ "use": "official", "system": format!("urn:oid:{oid}"), "value": m }]);
    }
    let mut telecom = Vec::new();
    if let Some(ph) = &i.phone {
        telecom.push(json!({ "system": "phone", "value": ph }));
    }
    if let Some(m) = &i.email {
        telecom.push(json!({ "system": "email", "value": m }));
    }
    if !telecom.is_empty() {
        p["telecom"] = json!(telecom);
    }
    if let Some(a) = &i.address {
        p["address"] = json!([{ "text": a }]);
    }
    if let Some(d) = i.date_of_death {
        p["deceasedDateTime"] = json!(d.to_string());
    }
    if let Some(c) = &i.emergency_contact {
        p["contact"] = json!([{ "name": { "text": c } }]);
    }
    p
}

fn report_loinc(kind: ReportKind) -> (&'static str, &'static str) {
    match kind {
        ReportKind::Consultation => ("11488-4", "Consult note"),
        ReportKind::Operative => ("11504-8", "Surgical operation note"),
        ReportKind::HospitalStay => ("18842-5", "Discharge summary"),
        _ => ("51852-2", "Letter"),
    }
}

/// FHIR id of one revision of an entry.
fn rev_id(e: &crate::model::EntryId, rev: u32) -> String {
    format!("{e}-r{rev}")
}

/// The DocumentReference of one report revision.
pub fn document_reference(x: &PatientExport, r: &Entry<Report>, latest: bool) -> Value {
    let c = &r.content;
    let (code, display) = report_loinc(c.kind);
    let mut d = json!({
        "resourceType": "DocumentReference",
        "id": rev_id(&r.entry_id, r.revision),
        "meta": { "versionId": r.revision.to_string(), "lastUpdated": r.recorded_at.to_string() },
        "status": if latest { "current" } else { "superseded" },
        "docStatus": if r.revision > 1 { "amended" } else { "final" },
        "type": { "coding": [{ "system": "http://loinc.org", "code": code, "display": display }], "text": display },
        "subject": subject(x),
        "date": r.recorded_at.to_string(),
        "author": [{ "display": c.author }],
        "description": c.title,
        "content": [{
            "attachment": {
                "contentType": "text/plain; charset=utf-8",
                "language": "fr",
                "title": c.title,
                "creation": format!("{}T00:00:00Z", c.date),
                "data": base64::engine::general_purpose::STANDARD.encode(c.body.as_bytes())
            }
        }]
    });
    if r.revision > 1 {
        d["relatesTo"] = json!([{ "code": "replaces", "target": { "reference": format!("DocumentReference/{}", rev_id(&r.entry_id, r.revision - 1)) } }]);
    }
    d
}

/// The Observation (lab result) or DiagnosticReport (other exams) of one exam revision.
pub fn exam(x: &PatientExport, r: &Entry<Exam>, latest: bool) -> Value {
    let c = &r.content;
    let mut coding = Vec::new();
    if let (Some(sys), Some(code)) = (&c.code_system, &c.code) {
        coding.push(json!({ "system": sys, "code": code, "display": c.label }));
    }
    let code =
        if coding.is_empty() { json!({ "text": c.label }) } else { json!({ "coding": coding, "text": c.label }) };
    let status = if r.revision > 1 { "amended" } else { "final" };
    let mut note = Vec::new();
    if !latest {
        note.push(json!({ "text": format!("Révision {} remplacée par une révision ultérieure", r.revision) }));
    }
    if let Some(reason) = &r.reason {
        note.push(json!({ "text": format!("Correction : {reason}") }));
    }
    let meta = json!({ "versionId": r.revision.to_string(), "lastUpdated": r.recorded_at.to_string() });
    if c.kind != ExamKind::Lab {
        let mut d = json!({
            "resourceType": "DiagnosticReport",
            "id": rev_id(&r.entry_id, r.revision),
            "meta": meta,
            "status": status,
            "code": code,
            "subject": subject(x),
            "effectiveDateTime": c.date.to_string(),
            "issued": r.recorded_at.to_string(),
            "performer": [{ "display": c.performer }]
        });
        if let Some(t) = &c.text {
            d["conclusion"] = json!(t);
        }
        return d;
    }
    let mut o = json!({
        "resourceType": "Observation",
        "id": rev_id(&r.entry_id, r.revision),
        "meta": meta,
        "status": status,
        "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory" }] }],
        "code": code,
        "subject": subject(x),
        "effectiveDateTime": c.date.to_string(),
        "issued": r.recorded_at.to_string(),
        "performer": [{ "display": c.performer }]
    });
    let numeric =
        c.value.as_deref().and_then(|v| v.trim().replace(',', ".").parse::<f64>().ok()).filter(|f| f.is_finite());
    match (numeric, &c.unit) {
        (Some(v), Some(u)) => {
            o["valueQuantity"] = json!({ "value": v, "unit": u, "system": "http://unitsofmeasure.org", "code": u })
        }
        (Some(v), None) => o["valueQuantity"] = json!({ "value": v }),
        (None, _) => {
            if let Some(v) = &c.value {
                o["valueString"] = json!(v);
            }
        }
    }
    if let Some(rr) = &c.reference_range {
        o["referenceRange"] = json!([{ "text": rr }]);
    }
    if let Some(i) = c.interpretation {
        let code = match i {
            Interpretation::N => "N",
            Interpretation::L => "L",
            Interpretation::H => "H",
            Interpretation::LL => "LL",
            Interpretation::HH => "HH",
            _ => "A",
        };
        o["interpretation"] = json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": code }] }]);
    }
    if !note.is_empty() {
        o["note"] = json!(note);
    }
    o
}

fn dicom_type(a: Action) -> (&'static str, &'static str) {
    match a {
        Action::Export => ("110106", "Export"),
        Action::Search => ("110112", "Query"),
        Action::Unlock => ("110114", "User Authentication"),
        Action::BreakGlass | Action::BreakGlassReview => ("110113", "Security Alert"),
        _ => ("110110", "Patient Record"),
    }
}

fn purpose_code(p: Purpose) -> &'static str {
    match p {
        Purpose::Treatment => "TREAT",
        Purpose::Emergency => "ETREAT",
        Purpose::Billing => "HPAYMT",
        Purpose::PatientRequest => "PATRQT",
        Purpose::Legal => "HLEGAL",
        _ => "HOPERAT",
    }
}

/// The AuditEvent of one access-history row. Break-glass accesses carry the `BTG` purpose.
pub fn audit_event(x: &PatientExport, e: &AuditEvent) -> Value {
    let (code, display) = dicom_type(e.action);
    let mut purpose = vec![
        json!({ "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": purpose_code(e.purpose) }),
    ];
    let break_glass = e.purpose == Purpose::Emergency || e.action == Action::BreakGlass;
    if break_glass {
        purpose.push(json!({ "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "BTG", "display": "break the glass" }));
    }
    let mut entity = json!({ "what": subject(x), "type": { "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person" } });
    let mut details = Vec::new();
    if let Some(s) = e.entity.section {
        details.push(json!({ "type": "section", "valueString": s.name() }));
    }
    if let Some(en) = e.entity.entry {
        details.push(json!({ "type": "entry", "valueString": en.to_string() }));
    }
    if !details.is_empty() {
        entity["detail"] = json!(details);
    }
    let mut ev = json!({
        "resourceType": "AuditEvent",
        "id": format!("seq-{}", e.seq),
        "type": { "system": "http://dicom.nema.org/resources/ontology/DCM", "code": code, "display": display },
        "subtype": [{ "system": "urn:medvault:action", "code": e.action.name() }],
        "action": e.action.fhir_action(),
        "recorded": e.recorded_at.to_string(),
        "outcome": match e.outcome { Outcome::Success => "0", Outcome::Denied => "4", _ => "8" },
        "purposeOfEvent": [{ "coding": purpose }],
        "agent": [{
            "who": { "display": e.agent.name },
            "role": e.agent.roles.iter().map(|r| json!({ "text": r })).collect::<Vec<_>>(),
            "requestor": true
        }],
        "source": { "observer": { "display": e.agent.workstation } },
        "entity": [entity]
    });
    if let Some(d) = &e.detail {
        ev["outcomeDesc"] = json!(d);
    }
    ev
}

/// The whole export as a FHIR R4 `collection` Bundle.
pub fn bundle(x: &PatientExport) -> Value {
    let pid = x.patient.to_string();
    let mut entries = Vec::new();
    for rev in &x.identity {
        entries.push(entry(&[&pid, "Patient", &rev.revision.to_string()], patient(x, rev)));
    }
    for r in &x.reports {
        let latest = !x.reports.iter().any(|o| o.entry_id == r.entry_id && o.revision > r.revision);
        entries.push(entry(
            &[&pid, "DocumentReference", &rev_id(&r.entry_id, r.revision)],
            document_reference(x, r, latest),
        ));
    }
    for r in &x.exams {
        let latest = !x.exams.iter().any(|o| o.entry_id == r.entry_id && o.revision > r.revision);
        entries.push(entry(&[&pid, "Exam", &rev_id(&r.entry_id, r.revision)], exam(x, r, latest)));
    }
    for e in &x.access_history {
        entries.push(entry(&[&pid, "AuditEvent", &e.seq.to_string()], audit_event(x, e)));
    }
    json!({
        "resourceType": "Bundle",
        "id": urn(&[&pid, "bundle", &x.exported_at.to_string()]).trim_start_matches("urn:uuid:").to_string(),
        "meta": { "lastUpdated": x.exported_at.to_string() },
        "type": "collection",
        "timestamp": x.exported_at.to_string(),
        "entry": entries
    })
}
