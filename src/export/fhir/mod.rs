//! FHIR R4 (4.0.1) rendering of a patient export: a `collection` Bundle with the Patient (the
//! INS matricule as identifier only when the identity status is QUAL), reports as
//! DocumentReference, lab results as Observation (LOINC, UCUM), other exams as DiagnosticReport,
//! and the access history as AuditEvent. Every revision is included: each carries its revision
//! in `meta.versionId`; a newer report revision `replaces` the older one, older ones are
//! `superseded`.

pub mod types;

use super::PatientExport;
use crate::AttachmentInfo;
use crate::audit::{Action, AuditEvent as Event, Outcome, Purpose};
use crate::model::{
    Entry, EntryId, Exam, ExamKind, Identity, IdentityStatus, Interpretation, Report, ReportKind, Section, Sex,
};
use base64::Engine;
use sha2::{Digest, Sha256};
use types::*;

/// A stable `urn:uuid:` for a resource, derived from its identifying parts.
fn urn(parts: &[&str]) -> String {
    let h = Sha256::digest(parts.join("/").as_bytes());
    let x = hex::encode(&h[..16]);
    format!("urn:uuid:{}-{}-4{}-8{}-{}", &x[..8], &x[8..12], &x[13..16], &x[17..20], &x[20..32])
}

fn subject(x: &PatientExport) -> Reference {
    Reference::to(format!("Patient/{}", x.patient))
}

fn meta(revision: u32, at: &crate::model::Timestamp) -> Meta {
    Meta { version_id: Some(revision.to_string()), last_updated: Some(at.to_string()), tag: Vec::new() }
}

/// FHIR id of one revision of an entry.
fn rev_id(e: &EntryId, rev: u32) -> String {
    format!("{e}-r{rev}")
}

/// The Patient resource of one identity revision.
pub(crate) fn patient(x: &PatientExport, rev: &Entry<Identity>) -> Patient {
    let i = &rev.content;
    let mut name = vec![HumanName {
        use_: Some("official".into()),
        family: Some(i.birth_name.clone()),
        given: i.first_names.clone(),
        ..HumanName::default()
    }];
    if let Some(u) = &i.used_name {
        name.push(HumanName {
            use_: Some("usual".into()),
            family: Some(u.clone()),
            given: i.first_names.iter().take(1).cloned().collect(),
            ..HumanName::default()
        });
    }
    // Only a qualified identity may be shared with its INS matricule.
    let identifier = match (i.identity_status, &i.ins_matricule, &i.ins_oid) {
        (IdentityStatus::QUAL, Some(m), Some(oid)) => {
            vec![Identifier { use_: "official".into(), system: format!("urn:oid:{oid}"), value: m.clone() }]
        }
        _ => Vec::new(),
    };
    let mut telecom = Vec::new();
    if let Some(p) = &i.phone {
        telecom.push(ContactPoint { system: "phone".into(), value: p.clone() });
    }
    if let Some(m) = &i.email {
        telecom.push(ContactPoint { system: "email".into(), value: m.clone() });
    }
    let mut m = meta(rev.revision, &rev.recorded_at);
    m.tag.push(Coding::new(
        "urn:medvault:identity-status",
        &format!("{:?}", i.identity_status),
        Some("Statut de l'identité INS"),
    ));
    Patient {
        resource_type: "Patient",
        id: x.patient.to_string(),
        meta: m,
        extension: vec![Extension {
            url: "http://hl7.org/fhir/StructureDefinition/patient-birthPlace".into(),
            value_address: Address {
                text: Some(format!("INSEE {}", i.birth_place_insee)),
                district: Some(i.birth_place_insee.clone()),
            },
        }],
        identifier,
        name,
        telecom,
        gender: match i.sex {
            Sex::F => "female",
            Sex::M => "male",
            _ => "unknown",
        },
        birth_date: i.birth_date.to_string(),
        deceased_date_time: i.date_of_death.map(|d| d.to_string()),
        address: i.address.iter().map(|a| Address { text: Some(a.clone()), district: None }).collect(),
        contact: i
            .emergency_contact
            .iter()
            .map(|c| PatientContact { name: HumanName { text: Some(c.clone()), ..HumanName::default() } })
            .collect(),
    }
}

fn report_loinc(kind: ReportKind) -> (&'static str, &'static str) {
    match kind {
        ReportKind::Consultation => ("11488-4", "Consult note"),
        ReportKind::Operative => ("11504-8", "Surgical operation note"),
        ReportKind::HospitalStay => ("18842-5", "Discharge summary"),
        _ => ("51852-2", "Letter"),
    }
}

/// The DocumentReference of one report revision.
pub(crate) fn document_reference(x: &PatientExport, r: &Entry<Report>, latest: bool) -> DocumentReference {
    let c = &r.content;
    let (code, display) = report_loinc(c.kind);
    DocumentReference {
        resource_type: "DocumentReference",
        id: rev_id(&r.entry_id, r.revision),
        meta: meta(r.revision, &r.recorded_at),
        status: if latest { "current" } else { "superseded" },
        doc_status: if r.revision > 1 { "amended" } else { "final" },
        type_: CodeableConcept {
            coding: vec![Coding::new("http://loinc.org", code, Some(display))],
            text: Some(display.into()),
        },
        subject: subject(x),
        date: r.recorded_at.to_string(),
        author: vec![Reference::display(&c.author)],
        description: c.title.clone(),
        relates_to: if r.revision > 1 {
            vec![RelatesTo {
                code: "replaces".into(),
                target: Reference::to(format!("DocumentReference/{}", rev_id(&r.entry_id, r.revision - 1))),
            }]
        } else {
            Vec::new()
        },
        content: std::iter::once(DocumentContent {
            attachment: Attachment {
                content_type: "text/plain; charset=utf-8".into(),
                language: Some("fr".into()),
                title: c.title.clone(),
                creation: format!("{}T00:00:00Z", c.date),
                data: Some(base64::engine::general_purpose::STANDARD.encode(c.body.as_bytes())),
                size: None,
            },
        })
        // The entry's attached files go with its current revision.
        .chain(
            x.attachments
                .iter()
                .filter(|a| latest && a.section == Section::Reports && a.entry == r.entry_id)
                .map(|a| DocumentContent { attachment: file_attachment(a) }),
        )
        .collect(),
        context: None,
    }
}

/// A file attached to an entry, described (its content is read with `read --attachment`).
fn file_attachment(a: &AttachmentInfo) -> Attachment {
    Attachment {
        content_type: a.media_type.clone(),
        language: None,
        title: a.name.clone(),
        creation: a.added_at.to_string(),
        data: None,
        size: Some(a.size),
    }
}

/// A file attached to an exam, as a DocumentReference related to the exam's resource.
fn exam_attachment(x: &PatientExport, a: &AttachmentInfo, exam_resource: &str) -> DocumentReference {
    DocumentReference {
        resource_type: "DocumentReference",
        id: format!("att-{}", a.id),
        meta: Meta::default(),
        status: "current",
        doc_status: "final",
        type_: CodeableConcept { coding: Vec::new(), text: Some("Pièce jointe".into()) },
        subject: subject(x),
        date: a.added_at.to_string(),
        author: vec![Reference::display(&a.added_by)],
        description: a.name.clone(),
        relates_to: Vec::new(),
        content: vec![DocumentContent { attachment: file_attachment(a) }],
        context: Some(DocumentContext { related: vec![Reference::to(exam_resource.to_string())] }),
    }
}

fn interpretation_code(i: Interpretation) -> &'static str {
    match i {
        Interpretation::N => "N",
        Interpretation::L => "L",
        Interpretation::H => "H",
        Interpretation::LL => "LL",
        Interpretation::HH => "HH",
        _ => "A",
    }
}

/// The Observation (lab result) or DiagnosticReport (other exams) of one exam revision.
pub(crate) fn exam(x: &PatientExport, r: &Entry<Exam>, latest: bool) -> Resource {
    let c = &r.content;
    let coding = match (&c.code_system, &c.code) {
        (Some(sys), Some(code)) => vec![Coding::new(sys, code, Some(&c.label))],
        _ => Vec::new(),
    };
    let code = CodeableConcept { coding, text: Some(c.label.clone()) };
    let status = if r.revision > 1 { "amended" } else { "final" };
    let id = rev_id(&r.entry_id, r.revision);
    if c.kind != ExamKind::Lab {
        return Resource::DiagnosticReport(Box::new(DiagnosticReport {
            resource_type: "DiagnosticReport",
            id,
            meta: meta(r.revision, &r.recorded_at),
            status,
            code,
            subject: subject(x),
            effective_date_time: c.date.to_string(),
            issued: r.recorded_at.to_string(),
            performer: vec![Reference::display(&c.performer)],
            conclusion: c.text.clone(),
        }));
    }
    let mut note = Vec::new();
    if !latest {
        note.push(Annotation { text: format!("Révision {} remplacée par une révision ultérieure", r.revision) });
    }
    if let Some(reason) = &r.reason {
        note.push(Annotation { text: format!("Correction : {reason}") });
    }
    let numeric =
        c.value.as_deref().and_then(|v| v.trim().replace(',', ".").parse::<f64>().ok()).filter(|f| f.is_finite());
    let value_quantity = numeric.map(|value| Quantity {
        value,
        unit: c.unit.clone(),
        system: c.unit.as_ref().map(|_| "http://unitsofmeasure.org".to_string()),
        code: c.unit.clone(),
    });
    Resource::Observation(Box::new(Observation {
        resource_type: "Observation",
        id,
        meta: meta(r.revision, &r.recorded_at),
        status,
        category: vec![CodeableConcept {
            coding: vec![Coding::new("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory", None)],
            text: None,
        }],
        code,
        subject: subject(x),
        effective_date_time: c.date.to_string(),
        issued: r.recorded_at.to_string(),
        performer: vec![Reference::display(&c.performer)],
        value_string: if numeric.is_none() { c.value.clone() } else { None },
        value_quantity,
        interpretation: c
            .interpretation
            .map(|i| CodeableConcept {
                coding: vec![Coding::new(
                    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                    interpretation_code(i),
                    None,
                )],
                text: None,
            })
            .into_iter()
            .collect(),
        note,
        reference_range: c.reference_range.iter().map(|t| ReferenceRange { text: t.clone() }).collect(),
    }))
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
pub(crate) fn audit_event(x: &PatientExport, e: &Event) -> AuditEvent {
    const ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
    let (code, display) = dicom_type(e.action);
    let mut purpose = vec![Coding::new(ACT_REASON, purpose_code(e.purpose), None)];
    if e.purpose == Purpose::Emergency || e.action == Action::BreakGlass {
        purpose.push(Coding::new(ACT_REASON, "BTG", Some("break the glass")));
    }
    let mut detail = Vec::new();
    if let Some(s) = e.entity.section {
        detail.push(AuditDetail { type_: "section".into(), value_string: s.name().into() });
    }
    if let Some(en) = e.entity.entry {
        detail.push(AuditDetail { type_: "entry".into(), value_string: en.to_string() });
    }
    AuditEvent {
        resource_type: "AuditEvent",
        id: format!("seq-{}", e.seq),
        type_: Coding::new("http://dicom.nema.org/resources/ontology/DCM", code, Some(display)),
        subtype: vec![Coding::new("urn:medvault:action", e.action.name(), None)],
        action: e.action.fhir_action(),
        recorded: e.recorded_at.to_string(),
        outcome: match e.outcome {
            Outcome::Success => "0",
            Outcome::Denied => "4",
            _ => "8",
        },
        outcome_desc: e.detail.clone(),
        purpose_of_event: vec![CodeableConcept { coding: purpose, text: None }],
        agent: vec![AuditAgent {
            who: Reference::display(&e.agent.name),
            role: e.agent.roles.iter().map(|r| CodeableConcept { coding: Vec::new(), text: Some(r.clone()) }).collect(),
            requestor: true,
        }],
        source: AuditSource { observer: Reference::display(&e.agent.workstation) },
        entity: vec![AuditEntity {
            what: subject(x),
            type_: Coding::new("http://terminology.hl7.org/CodeSystem/audit-entity-type", "1", Some("Person")),
            detail,
        }],
    }
}

/// The whole export as a FHIR R4 `collection` Bundle.
pub fn bundle(x: &PatientExport) -> Bundle {
    let pid = x.patient.to_string();
    let mut entry = Vec::new();
    let mut push = |parts: &[&str], resource: Resource| entry.push(BundleEntry { full_url: urn(parts), resource });
    for rev in &x.identity {
        push(&[&pid, "Patient", &rev.revision.to_string()], Resource::Patient(Box::new(patient(x, rev))));
    }
    for r in &x.reports {
        let latest = !x.reports.iter().any(|o| o.entry_id == r.entry_id && o.revision > r.revision);
        let d = document_reference(x, r, latest);
        push(&[&pid, "DocumentReference", &d.id.clone()], Resource::DocumentReference(Box::new(d)));
    }
    for r in &x.exams {
        let latest = !x.exams.iter().any(|o| o.entry_id == r.entry_id && o.revision > r.revision);
        let resource = exam(x, r, latest);
        let target = match &resource {
            Resource::DiagnosticReport(d) => format!("DiagnosticReport/{}", d.id),
            Resource::Observation(o) => format!("Observation/{}", o.id),
            _ => String::new(),
        };
        push(&[&pid, "Exam", &rev_id(&r.entry_id, r.revision)], resource);
        for a in x.attachments.iter().filter(|a| latest && a.section == Section::Exams && a.entry == r.entry_id) {
            let d = exam_attachment(x, a, &target);
            push(&[&pid, "DocumentReference", &d.id.clone()], Resource::DocumentReference(Box::new(d)));
        }
    }
    for e in &x.access_history {
        push(&[&pid, "AuditEvent", &e.seq.to_string()], Resource::AuditEvent(Box::new(audit_event(x, e))));
    }
    Bundle {
        resource_type: "Bundle",
        id: urn(&[&pid, "bundle", &x.exported_at.to_string()]).trim_start_matches("urn:uuid:").to_string(),
        meta: Meta { last_updated: Some(x.exported_at.to_string()), ..Meta::default() },
        type_: "collection",
        timestamp: x.exported_at.to_string(),
        entry,
    }
}
