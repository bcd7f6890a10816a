//! Typed FHIR R4 (4.0.1) structures, limited to the elements medvault writes. Field names follow
//! the specification (camelCase on the wire); empty lists and absent values are omitted, as FHIR
//! requires (no empty arrays, no nulls).

use serde::Serialize;

fn none<T>(v: &Option<T>) -> bool {
    v.is_none()
}

/// Coding.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Coding {
    /// Code system URI.
    #[serde(skip_serializing_if = "none")]
    pub system: Option<String>,
    /// Code.
    pub code: String,
    /// Display text.
    #[serde(skip_serializing_if = "none")]
    pub display: Option<String>,
}

impl Coding {
    /// A coding with a system.
    pub fn new(system: &str, code: &str, display: Option<&str>) -> Coding {
        Coding { system: Some(system.to_string()), code: code.to_string(), display: display.map(str::to_string) }
    }
}

/// CodeableConcept.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct CodeableConcept {
    /// Codings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub coding: Vec<Coding>,
    /// Text.
    #[serde(skip_serializing_if = "none")]
    pub text: Option<String>,
}

/// Reference.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Reference {
    /// Literal reference (`Patient/<id>`).
    #[serde(skip_serializing_if = "none")]
    pub reference: Option<String>,
    /// Logical reference (a user's login).
    #[serde(skip_serializing_if = "none")]
    pub identifier: Option<Identifier>,
    /// Display text.
    #[serde(skip_serializing_if = "none")]
    pub display: Option<String>,
}

impl Reference {
    /// A literal reference.
    pub fn to(reference: String) -> Reference {
        Reference { reference: Some(reference), ..Reference::default() }
    }
    /// A display-only reference.
    pub fn display(text: &str) -> Reference {
        Reference { display: Some(text.to_string()), ..Reference::default() }
    }
}

/// Meta.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// Version.
    #[serde(skip_serializing_if = "none")]
    pub version_id: Option<String>,
    /// Last update (instant).
    #[serde(skip_serializing_if = "none")]
    pub last_updated: Option<String>,
    /// Tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tag: Vec<Coding>,
}

/// Identifier.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Identifier {
    /// `official`.
    #[serde(rename = "use")]
    pub use_: String,
    /// Kind of identifier (`INS-NIR`, `INS-NIA`).
    #[serde(rename = "type", skip_serializing_if = "none")]
    pub type_: Option<CodeableConcept>,
    /// Namespace (`urn:oid:...`).
    pub system: String,
    /// Value.
    pub value: String,
}

/// HumanName.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct HumanName {
    /// `official` / `usual`.
    #[serde(rename = "use", skip_serializing_if = "none")]
    pub use_: Option<String>,
    /// Text form.
    #[serde(skip_serializing_if = "none")]
    pub text: Option<String>,
    /// Family name.
    #[serde(skip_serializing_if = "none")]
    pub family: Option<String>,
    /// Given names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub given: Vec<String>,
}

/// ContactPoint.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ContactPoint {
    /// `phone` / `email`.
    pub system: String,
    /// Value.
    pub value: String,
}

/// Address.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Address {
    /// Text.
    #[serde(skip_serializing_if = "none")]
    pub text: Option<String>,
    /// District (the INSEE code of a birth place).
    #[serde(skip_serializing_if = "none")]
    pub district: Option<String>,
}

/// Extension (only `valueAddress` is used).
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    /// Definition URL.
    pub url: String,
    /// Value.
    pub value_address: Address,
}

/// Patient.contact.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PatientContact {
    /// Name.
    pub name: HumanName,
}

/// Patient.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    /// `Patient`.
    pub resource_type: &'static str,
    /// Id.
    pub id: String,
    /// Meta.
    pub meta: Meta,
    /// Extensions (birth place).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    /// Identifiers (the INS, for QUAL identities only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    /// Names.
    pub name: Vec<HumanName>,
    /// Phone, e-mail.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub telecom: Vec<ContactPoint>,
    /// `female` / `male` / `unknown`.
    pub gender: &'static str,
    /// Birth date.
    pub birth_date: String,
    /// Date of death.
    #[serde(skip_serializing_if = "none")]
    pub deceased_date_time: Option<String>,
    /// Addresses.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub address: Vec<Address>,
    /// Emergency contact.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contact: Vec<PatientContact>,
}

/// Attachment.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// MIME type.
    pub content_type: String,
    /// Language.
    #[serde(skip_serializing_if = "none")]
    pub language: Option<String>,
    /// Title.
    pub title: String,
    /// Creation (dateTime).
    pub creation: String,
    /// Base64 content (absent for a file attachment: its content is read on its own).
    #[serde(skip_serializing_if = "none")]
    pub data: Option<String>,
    /// Size in bytes of the content.
    #[serde(skip_serializing_if = "none")]
    pub size: Option<u64>,
}

/// DocumentReference.context.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DocumentContext {
    /// Resources the document belongs to.
    pub related: Vec<Reference>,
}

/// DocumentReference.content.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DocumentContent {
    /// The document.
    pub attachment: Attachment,
}

/// DocumentReference.relatesTo.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RelatesTo {
    /// `replaces`.
    pub code: String,
    /// The replaced revision.
    pub target: Reference,
}

/// DocumentReference.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DocumentReference {
    /// `DocumentReference`.
    pub resource_type: &'static str,
    /// Id.
    pub id: String,
    /// Meta.
    pub meta: Meta,
    /// `current` / `superseded`.
    pub status: &'static str,
    /// `final` / `amended`.
    pub doc_status: &'static str,
    /// Kind (LOINC).
    #[serde(rename = "type")]
    pub type_: CodeableConcept,
    /// The patient.
    pub subject: Reference,
    /// When recorded (instant).
    pub date: String,
    /// Author.
    pub author: Vec<Reference>,
    /// Title.
    pub description: String,
    /// Revisions replaced.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub relates_to: Vec<RelatesTo>,
    /// Body.
    pub content: Vec<DocumentContent>,
    /// What the document belongs to (a file attached to an exam).
    #[serde(skip_serializing_if = "none")]
    pub context: Option<DocumentContext>,
}

/// Quantity (UCUM).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Quantity {
    /// Value.
    pub value: f64,
    /// Unit as written.
    #[serde(skip_serializing_if = "none")]
    pub unit: Option<String>,
    /// `http://unitsofmeasure.org`.
    #[serde(skip_serializing_if = "none")]
    pub system: Option<String>,
    /// UCUM code.
    #[serde(skip_serializing_if = "none")]
    pub code: Option<String>,
}

/// Observation.referenceRange.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReferenceRange {
    /// Text form.
    pub text: String,
}

/// Annotation.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Annotation {
    /// Text.
    pub text: String,
}

/// Observation.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    /// `Observation`.
    pub resource_type: &'static str,
    /// Id.
    pub id: String,
    /// Meta.
    pub meta: Meta,
    /// `final` / `amended`.
    pub status: &'static str,
    /// `laboratory`.
    pub category: Vec<CodeableConcept>,
    /// LOINC code.
    pub code: CodeableConcept,
    /// The patient.
    pub subject: Reference,
    /// Date of the exam.
    pub effective_date_time: String,
    /// When recorded.
    pub issued: String,
    /// The lab.
    pub performer: Vec<Reference>,
    /// Numeric value.
    #[serde(skip_serializing_if = "none")]
    pub value_quantity: Option<Quantity>,
    /// Textual value.
    #[serde(skip_serializing_if = "none")]
    pub value_string: Option<String>,
    /// Interpretation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interpretation: Vec<CodeableConcept>,
    /// Notes (revision history).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
    /// Reference range.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reference_range: Vec<ReferenceRange>,
}

/// DiagnosticReport.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticReport {
    /// `DiagnosticReport`.
    pub resource_type: &'static str,
    /// Id.
    pub id: String,
    /// Meta.
    pub meta: Meta,
    /// `final` / `amended`.
    pub status: &'static str,
    /// `RAD` (imaging) or `OTH` (other), HL7 v2 table 0074.
    pub category: Vec<CodeableConcept>,
    /// What exam.
    pub code: CodeableConcept,
    /// The patient.
    pub subject: Reference,
    /// Date of the exam.
    pub effective_date_time: String,
    /// When recorded.
    pub issued: String,
    /// Who performed it.
    pub performer: Vec<Reference>,
    /// Report text.
    #[serde(skip_serializing_if = "none")]
    pub conclusion: Option<String>,
}

/// AuditEvent.agent.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AuditAgent {
    /// Kind of participant (a human user).
    #[serde(rename = "type")]
    pub type_: CodeableConcept,
    /// Who.
    pub who: Reference,
    /// Roles.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub role: Vec<CodeableConcept>,
    /// Always true: the user who asked.
    pub requestor: bool,
}

/// AuditEvent.source.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AuditSource {
    /// The store (`medvault store <id>`).
    pub site: String,
    /// Workstation.
    pub observer: Reference,
    /// Kind of source (`4`, application server).
    #[serde(rename = "type")]
    pub type_: Vec<Coding>,
}

/// AuditEvent.entity.detail.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuditDetail {
    /// Name.
    #[serde(rename = "type")]
    pub type_: String,
    /// Value.
    pub value_string: String,
}

/// AuditEvent.entity.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AuditEntity {
    /// The patient.
    pub what: Reference,
    /// `1` (person).
    #[serde(rename = "type")]
    pub type_: Coding,
    /// Section and entry.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub detail: Vec<AuditDetail>,
}

/// AuditEvent.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// `AuditEvent`.
    pub resource_type: &'static str,
    /// Id (`seq-<n>`).
    pub id: String,
    /// DICOM type.
    #[serde(rename = "type")]
    pub type_: Coding,
    /// medvault's action.
    pub subtype: Vec<Coding>,
    /// C / R / U / D / E.
    pub action: &'static str,
    /// When.
    pub recorded: String,
    /// 0 success, 4 denied, 8 error.
    pub outcome: &'static str,
    /// Reason of a denial, justification of an emergency.
    #[serde(skip_serializing_if = "none")]
    pub outcome_desc: Option<String>,
    /// Purpose (TREAT, ETREAT + BTG, ...).
    pub purpose_of_event: Vec<CodeableConcept>,
    /// Who.
    pub agent: Vec<AuditAgent>,
    /// Where.
    pub source: AuditSource,
    /// On what.
    pub entity: Vec<AuditEntity>,
}

/// Any resource medvault exports.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Resource {
    /// Patient.
    Patient(Box<Patient>),
    /// DocumentReference.
    DocumentReference(Box<DocumentReference>),
    /// Observation.
    Observation(Box<Observation>),
    /// DiagnosticReport.
    DiagnosticReport(Box<DiagnosticReport>),
    /// AuditEvent.
    AuditEvent(Box<AuditEvent>),
    /// Provenance.
    Provenance(Box<Provenance>),
}

impl Resource {
    /// The resource type name (the NDJSON file it belongs to).
    pub fn resource_type(&self) -> &'static str {
        match self {
            Resource::Patient(r) => r.resource_type,
            Resource::DocumentReference(r) => r.resource_type,
            Resource::Observation(r) => r.resource_type,
            Resource::DiagnosticReport(r) => r.resource_type,
            Resource::AuditEvent(r) => r.resource_type,
            Resource::Provenance(r) => r.resource_type,
        }
    }
    /// The resource's id.
    pub fn id(&self) -> &str {
        match self {
            Resource::Patient(r) => &r.id,
            Resource::DocumentReference(r) => &r.id,
            Resource::Observation(r) => &r.id,
            Resource::DiagnosticReport(r) => &r.id,
            Resource::AuditEvent(r) => &r.id,
            Resource::Provenance(r) => &r.id,
        }
    }
    /// Drops `meta.versionId` and `meta.lastUpdated` (a contained resource may not carry them).
    pub fn strip_version(&mut self) {
        let meta = match self {
            Resource::Patient(r) => &mut r.meta,
            Resource::DocumentReference(r) => &mut r.meta,
            Resource::Observation(r) => &mut r.meta,
            Resource::DiagnosticReport(r) => &mut r.meta,
            Resource::AuditEvent(_) | Resource::Provenance(_) => return,
        };
        meta.version_id = None;
        meta.last_updated = None;
    }
}

/// Provenance.agent.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ProvenanceAgent {
    /// `author`.
    #[serde(rename = "type")]
    pub type_: CodeableConcept,
    /// Who.
    pub who: Reference,
}

/// Provenance.entity.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ProvenanceEntity {
    /// `revision`: the version this one replaced.
    pub role: &'static str,
    /// The replaced version (a contained resource, `#r1`).
    pub what: Reference,
}

/// Provenance: who wrote one revision of a resource, when and why; a replaced version's
/// content is contained in the Provenance of the revision that replaced it.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// `Provenance`.
    pub resource_type: &'static str,
    /// Id (`prov-<resource>-r<revision>`).
    pub id: String,
    /// The replaced version, when this revision replaced one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contained: Vec<Resource>,
    /// The resource (its current version).
    pub target: Vec<Reference>,
    /// When the revision was written.
    pub recorded: String,
    /// Why (the correction's reason).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reason: Vec<CodeableConcept>,
    /// CREATE or UPDATE.
    pub activity: CodeableConcept,
    /// Who wrote it.
    pub agent: Vec<ProvenanceAgent>,
    /// The version it replaced.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entity: Vec<ProvenanceEntity>,
}

/// Bundle.entry.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BundleEntry {
    /// `urn:uuid:...`; every reference inside the Bundle to this resource is this URN.
    pub full_url: String,
    /// The resource, its references rewritten to the entries' `fullUrl`s.
    pub resource: serde_json::Value,
}

/// Bundle.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// `Bundle`.
    pub resource_type: &'static str,
    /// Id.
    pub id: String,
    /// Meta.
    pub meta: Meta,
    /// `collection`.
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// When assembled.
    pub timestamp: String,
    /// Entries.
    pub entry: Vec<BundleEntry>,
}
