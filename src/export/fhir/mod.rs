//! FHIR R4 (4.0.1) rendering of a patient export: the Patient (the INS matricule as identifier,
//! typed INS-NIR or INS-NIA, only when the identity status is QUAL), reports as
//! DocumentReference, lab results as Observation (LOINC, UCUM), other exams as DiagnosticReport,
//! the access history as AuditEvent, and the history of every revision as Provenance.
//!
//! History stays history: one current resource per patient and per exam (its revision in
//! `meta.versionId`), and for each revision a Provenance naming who wrote it, when and why, the
//! version it replaced contained in it; every revision of a report is its own document, the
//! newer one `replaces` the older, which is `superseded`. [`bundle`] assembles a `collection`
//! Bundle whose references all resolve to its entries; [`check_bundle`] checks that.

mod assemble;
pub mod types;

pub(crate) use assemble::rewrite as rewrite_references;
pub use assemble::{bundle, check_bundle, check_resources, resources};

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
            // French INS identifier types (FR Core, table fr-v2-0203).
            let (code, display) = if oid.ends_with(".4.9") {
                ("INS-NIA", "NIA (numéro identifiant attente)")
            } else {
                ("INS-NIR", "NIR définitif")
            };
            vec![Identifier {
                use_: "official".into(),
                type_: Some(CodeableConcept {
                    coding: vec![Coding::new(
                        "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203",
                        code,
                        Some(display),
                    )],
                    text: None,
                }),
                system: format!("urn:oid:{oid}"),
                value: m.clone(),
            }]
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
pub(crate) fn exam(x: &PatientExport, r: &Entry<Exam>) -> Resource {
    let c = &r.content;
    let coding = match (&c.code_system, &c.code) {
        (Some(sys), Some(code)) => vec![Coding::new(sys, code, Some(&c.label))],
        _ => Vec::new(),
    };
    let code = CodeableConcept { coding, text: Some(c.label.clone()) };
    let status = if r.revision > 1 { "amended" } else { "final" };
    // One resource per exam: its revisions are its versions (Provenance keeps the replaced ones).
    let id = r.entry_id.to_string();
    if c.kind != ExamKind::Lab {
        return Resource::DiagnosticReport(Box::new(DiagnosticReport {
            resource_type: "DiagnosticReport",
            id,
            meta: meta(r.revision, &r.recorded_at),
            status,
            category: vec![CodeableConcept {
                coding: vec![if c.kind == ExamKind::Imaging {
                    Coding::new("http://terminology.hl7.org/CodeSystem/v2-0074", "RAD", Some("Radiology"))
                } else {
                    Coding::new("http://terminology.hl7.org/CodeSystem/v2-0074", "OTH", Some("Other"))
                }],
                text: None,
            }],
            code,
            subject: subject(x),
            effective_date_time: c.date.to_string(),
            issued: r.recorded_at.to_string(),
            performer: vec![Reference::display(&c.performer)],
            conclusion: c.text.clone(),
        }));
    }
    let mut note = Vec::new();
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

/// How the Bundle names a professional: `Dr Jean Martin (médecin généraliste)`, with the login
/// as identifier.
pub(crate) fn staff_reference(x: &PatientExport, login: &str) -> Reference {
    let display = match x.staff.get(login) {
        Some(crate::StaffMember { full_name: Some(n), profession: Some(p), .. }) => format!("{n} ({p})"),
        _ => login.to_string(),
    };
    Reference {
        identifier: Some(Identifier {
            use_: "usual".into(),
            type_: None,
            system: format!("urn:medvault:store:{}:user", x.store),
            value: login.to_string(),
        }),
        display: Some(display),
        reference: None,
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
    // The identity is one entry per patient: its id says nothing, its revision does.
    if let Some(en) = e.entity.entry.filter(|en| *en != EntryId::IDENTITY) {
        detail.push(AuditDetail { type_: "entry".into(), value_string: en.to_string() });
    }
    if let Some(rev) = e.entity.revision {
        detail.push(AuditDetail { type_: "revision".into(), value_string: rev.to_string() });
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
            type_: CodeableConcept {
                coding: vec![Coding::new(
                    "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                    "humanuser",
                    Some("human user"),
                )],
                text: None,
            },
            who: staff_reference(x, &e.agent.name),
            role: e.agent.roles.iter().map(|r| CodeableConcept { coding: Vec::new(), text: Some(r.clone()) }).collect(),
            requestor: true,
        }],
        source: AuditSource {
            site: format!("medvault store {}", x.store),
            observer: Reference::display(&e.agent.workstation),
            type_: vec![Coding::new(
                "http://terminology.hl7.org/CodeSystem/security-source-type",
                "4",
                Some("Application Server"),
            )],
        },
        entity: vec![AuditEntity {
            what: subject(x),
            type_: Coding::new("http://terminology.hl7.org/CodeSystem/audit-entity-type", "1", Some("Person")),
            detail,
        }],
    }
}

/// The Provenance of one revision of a resource (`target`, e.g. `Patient/<id>`): who wrote it,
/// when, why; with the version it replaced contained in it.
pub(crate) fn provenance<T>(x: &PatientExport, target: &str, rev: &Entry<T>, replaced: Option<Resource>) -> Provenance {
    let (code, display) = if rev.revision == 1 { ("CREATE", "create") } else { ("UPDATE", "revise") };
    let mut contained = Vec::new();
    let mut entity = Vec::new();
    if let Some(mut old) = replaced {
        let local = format!("r{}", rev.revision - 1);
        old.strip_version();
        set_id(&mut old, &local);
        contained.push(old);
        entity.push(ProvenanceEntity { role: "revision", what: Reference::to(format!("#{local}")) });
    }
    let id_part = target.rsplit('/').next().unwrap_or(target);
    Provenance {
        resource_type: "Provenance",
        id: format!("prov-{id_part}-r{}", rev.revision),
        contained,
        target: vec![Reference::to(target.to_string())],
        recorded: rev.recorded_at.to_string(),
        reason: rev.reason.iter().map(|r| CodeableConcept { coding: Vec::new(), text: Some(r.clone()) }).collect(),
        activity: CodeableConcept {
            coding: vec![Coding::new("http://terminology.hl7.org/CodeSystem/v3-DataOperation", code, Some(display))],
            text: None,
        },
        agent: vec![ProvenanceAgent {
            type_: CodeableConcept {
                coding: vec![Coding::new(
                    "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                    "author",
                    Some("Author"),
                )],
                text: None,
            },
            who: staff_reference(x, &rev.recorded_by),
        }],
        entity,
    }
}

/// Gives a (contained) resource another id.
fn set_id(r: &mut Resource, id: &str) {
    let slot = match r {
        Resource::Patient(p) => &mut p.id,
        Resource::DocumentReference(p) => &mut p.id,
        Resource::Observation(p) => &mut p.id,
        Resource::DiagnosticReport(p) => &mut p.id,
        Resource::AuditEvent(p) => &mut p.id,
        Resource::Provenance(p) => &mut p.id,
    };
    *slot = id.to_string();
}
