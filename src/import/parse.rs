//! FHIR R4 JSON to medvault's model: the resources `export` writes (Patient, DocumentReference,
//! Observation, DiagnosticReport, Provenance), from NDJSON files or a Bundle, grouped per
//! patient with every entry's chain of revisions (oldest first, each with its reason).
//!
//! Nothing here writes, and no error message repeats a value read from the files (only
//! resource ids, file names, line numbers and field names).

use crate::model::{
    Date, Exam, ExamKind, Identity, IdentityStatus, Interpretation, Report, ReportKind, SectionContent, Sex,
};
use serde_json::Value;
use std::collections::BTreeMap;

/// One revision to write: its content and why it replaced the previous one.
#[derive(Clone)]
pub(crate) struct Revision<T> {
    pub content: T,
    pub reason: Option<String>,
}

/// An entry's revisions, oldest first; `source` names the resource (for the report).
pub(crate) struct Chain<T> {
    pub source: String,
    pub revisions: Vec<Revision<T>>,
}

/// Everything about one patient in the files.
pub(crate) struct PatientFile {
    pub source: String,
    pub identity: Chain<Identity>,
    pub reports: Vec<Chain<Report>>,
    pub exams: Vec<Chain<Exam>>,
}

/// A resource not imported, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    /// `Type/id` (or file and line).
    pub what: String,
    /// Why.
    pub why: String,
}

fn skip(what: &str, why: &str) -> Skipped {
    Skipped { what: what.to_string(), why: why.to_string() }
}

/// Content read from a resource, checked against the model's own rules (the message names the
/// field and the rule, never the value).
fn checked<T: SectionContent>(read: Result<T, &'static str>) -> Result<T, String> {
    let content = read.map_err(str::to_string)?;
    content.validate().map_err(|e| format!("refused by the model's rules: {e}"))?;
    Ok(content)
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

fn date(v: &Value) -> Option<Date> {
    v.as_str().and_then(|s| s.get(..10)).and_then(|s| Date::parse(s).ok())
}

fn key(r: &Value) -> String {
    format!("{}/{}", r["resourceType"].as_str().unwrap_or("?"), r["id"].as_str().unwrap_or("?"))
}

/// The Identity a Patient resource describes.
fn identity(p: &Value) -> Result<Identity, &'static str> {
    let names = p["name"].as_array().ok_or("no name")?;
    let official = names.iter().find(|n| n["use"] == "official").or(names.first()).ok_or("no name")?;
    let birth_name = text(&official["family"]).ok_or("no family name")?;
    let first_names: Vec<String> =
        official["given"].as_array().map(|g| g.iter().filter_map(text).collect()).unwrap_or_default();
    let used_name = names.iter().find(|n| n["use"] == "usual").and_then(|n| text(&n["family"]));
    let sex = match p["gender"].as_str() {
        Some("female") => Sex::F,
        Some("male") => Sex::M,
        _ => Sex::U,
    };
    let birth_date = date(&p["birthDate"]).ok_or("no birth date")?;
    let birth_place_insee = p["extension"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["url"] == "http://hl7.org/fhir/StructureDefinition/patient-birthPlace")
        .and_then(|e| text(&e["valueAddress"]["district"]))
        .ok_or("no birth place (INSEE code): the INS identity rules require one")?;
    let ins = p["identifier"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["system"].as_str().is_some_and(|s| s.starts_with("urn:oid:1.2.250.1.213.1.4.")));
    let tagged = p["meta"]["tag"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["system"] == "urn:medvault:identity-status")
        .and_then(|t| t["code"].as_str());
    let identity_status = match tagged {
        Some("PROV") => IdentityStatus::PROV,
        Some("VALI") => IdentityStatus::VALI,
        Some("QUAL") => IdentityStatus::QUAL,
        Some("RECUP") => IdentityStatus::RECUP,
        // From another system: an INS read from a file is not verified here.
        _ if ins.is_some() => IdentityStatus::RECUP,
        _ => IdentityStatus::PROV,
    };
    let telecom = |system: &str| {
        p["telecom"].as_array().into_iter().flatten().find(|t| t["system"] == system).and_then(|t| text(&t["value"]))
    };
    Ok(Identity {
        birth_name,
        first_names,
        birth_date,
        sex,
        birth_place_insee,
        used_name,
        ins_matricule: ins.and_then(|i| text(&i["value"])),
        ins_oid: ins.and_then(|i| i["system"].as_str()).and_then(|s| s.strip_prefix("urn:oid:")).map(str::to_string),
        identity_status,
        address: p["address"].as_array().and_then(|a| a.first()).and_then(|a| text(&a["text"])),
        phone: telecom("phone"),
        email: telecom("email"),
        insurance: None,
        emergency_contact: p["contact"].as_array().and_then(|c| c.first()).and_then(|c| text(&c["name"]["text"])),
        date_of_death: date(&p["deceasedDateTime"]),
    })
}

/// The Report a DocumentReference holds (its first content is the text).
fn report(d: &Value) -> Result<Report, &'static str> {
    let kind = match d["type"]["coding"][0]["code"].as_str() {
        Some("11488-4") => ReportKind::Consultation,
        Some("11504-8") => ReportKind::Operative,
        Some("18842-5") => ReportKind::HospitalStay,
        Some("51852-2") => ReportKind::Letter,
        _ => return Err("not a report of a known kind (LOINC document type)"),
    };
    let att = &d["content"][0]["attachment"];
    let data = att["data"].as_str().ok_or("the report's text is not in the file")?;
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.decode(data).map_err(|_| "the report's text is not base64")?;
    Ok(Report {
        kind,
        author: text(&d["author"][0]["display"]).ok_or("no author")?,
        date: date(&att["creation"]).or_else(|| date(&d["date"])).ok_or("no date")?,
        title: text(&d["description"]).or_else(|| text(&att["title"])).ok_or("no title")?,
        body: String::from_utf8(body).map_err(|_| "the report's text is not UTF-8")?,
    })
}

/// The Exam an Observation or DiagnosticReport describes.
fn exam(r: &Value) -> Result<Exam, &'static str> {
    let coding = &r["code"]["coding"][0];
    let label = text(&r["code"]["text"]).or_else(|| text(&coding["display"])).ok_or("no exam label")?;
    let lab = r["resourceType"] == "Observation";
    let kind = match (lab, r["category"][0]["coding"][0]["code"].as_str()) {
        (true, _) => ExamKind::Lab,
        (false, Some("RAD")) => ExamKind::Imaging,
        (false, _) => ExamKind::Other,
    };
    let q = &r["valueQuantity"];
    let value = match q["value"].as_f64() {
        Some(v) => Some(format!("{v}")),
        None => text(&r["valueString"]),
    };
    let interpretation = match r["interpretation"][0]["coding"][0]["code"].as_str() {
        None => None,
        Some("N") => Some(Interpretation::N),
        Some("L") => Some(Interpretation::L),
        Some("H") => Some(Interpretation::H),
        Some("LL") => Some(Interpretation::LL),
        Some("HH") => Some(Interpretation::HH),
        Some(_) => Some(Interpretation::A),
    };
    Ok(Exam {
        kind,
        code_system: text(&coding["system"]),
        code: text(&coding["code"]),
        label,
        value: if lab { value } else { None },
        unit: if lab { text(&q["unit"]) } else { None },
        reference_range: text(&r["referenceRange"][0]["text"]),
        interpretation,
        text: if lab { None } else { text(&r["conclusion"]) },
        date: date(&r["effectiveDateTime"]).ok_or("no exam date")?,
        performer: text(&r["performer"][0]["display"]).ok_or("no performer")?,
    })
}

/// Resources read from the files, by `Type/id`, in reading order.
pub(crate) struct Resources {
    pub items: Vec<Value>,
}

impl Resources {
    /// Adds a Bundle's entries, their `urn:uuid:` references turned back into `Type/id`.
    pub(crate) fn add_bundle(&mut self, b: &Value) {
        let entries = b["entry"].as_array().map(Vec::as_slice).unwrap_or_default();
        let map: BTreeMap<String, String> =
            entries.iter().filter_map(|e| Some((e["fullUrl"].as_str()?.to_string(), key(&e["resource"])))).collect();
        for e in entries {
            let mut r = e["resource"].clone();
            crate::export::fhir::rewrite_references(&mut r, &map);
            self.items.push(r);
        }
    }
}

/// The revision number a Provenance records (`prov-…-r<k>`), for ordering.
fn provenance_revision(p: &Value) -> u32 {
    p["id"].as_str().and_then(|id| id.rsplit_once("-r")).and_then(|(_, n)| n.parse().ok()).unwrap_or(0)
}

/// Groups resources per patient. Returns the patients and what was left aside, with why.
pub(crate) fn group(res: &Resources) -> (Vec<PatientFile>, Vec<Skipped>) {
    let mut skipped = Vec::new();
    let mut provenance: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for p in res.items.iter().filter(|r| r["resourceType"] == "Provenance") {
        for t in p["target"].as_array().into_iter().flatten().filter_map(|t| t["reference"].as_str()) {
            provenance.entry(t.to_string()).or_default().push(p);
        }
    }
    for list in provenance.values_mut() {
        list.sort_by_key(|p| provenance_revision(p));
    }
    // The revisions of a resource: those its Provenances contain, then itself.
    let history = |r: &Value| -> Vec<(Value, Option<String>)> {
        let k = key(r);
        let provs = provenance.get(&k).map(Vec::as_slice).unwrap_or_default();
        let mut out: Vec<(Value, Option<String>)> =
            provs.iter().filter_map(|p| p["contained"].get(0).cloned().map(|c| (c, None))).collect();
        out.push((r.clone(), None));
        // Revision k's reason is on the Provenance of revision k.
        for (i, slot) in out.iter_mut().enumerate() {
            let rev = i as u32 + 1;
            slot.1 = provs.iter().find(|p| provenance_revision(p) == rev).and_then(|p| text(&p["reason"][0]["text"]));
        }
        out
    };
    let subject = |r: &Value| r["subject"]["reference"].as_str().map(str::to_string);
    let mut patients = Vec::new();
    let mut claimed = std::collections::BTreeSet::new();
    for p in res.items.iter().filter(|r| r["resourceType"] == "Patient") {
        let pk = key(p);
        if !claimed.insert(pk.clone()) {
            skipped.push(skip(&pk, "the same Patient appears twice in the files"));
            continue;
        }
        let mut revisions = Vec::new();
        let mut bad = None;
        for (v, reason) in history(p) {
            match checked(identity(&v)) {
                Ok(content) => revisions.push(Revision { content, reason }),
                Err(e) => bad = Some(e),
            }
        }
        if let Some(why) = bad {
            skipped.push(skip(&pk, &why));
            continue;
        }
        let mut file = PatientFile {
            source: pk.clone(),
            identity: Chain { source: pk.clone(), revisions },
            reports: Vec::new(),
            exams: Vec::new(),
        };
        // Reports: chains linked by `replaces`, oldest first.
        let docs: Vec<&Value> = res
            .items
            .iter()
            .filter(|r| r["resourceType"] == "DocumentReference" && subject(r).as_deref() == Some(pk.as_str()))
            .collect();
        let replaces = |d: &Value| -> Option<String> {
            d["relatesTo"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["code"] == "replaces")
                .and_then(|r| text(&r["target"]["reference"]))
        };
        for root in docs.iter().filter(|d| replaces(d).is_none()) {
            if root["content"][0]["attachment"]["data"].is_null() {
                skipped.push(skip(
                    &key(root),
                    "an attachment's content is not in FHIR files: add it with `attachment add`",
                ));
                continue;
            }
            let mut chain = Chain { source: key(root), revisions: Vec::new() };
            let mut current = Some(*root);
            let mut failed = None;
            while let Some(d) = current {
                if d["content"].as_array().is_some_and(|c| c.len() > 1) {
                    skipped.push(skip(
                        &key(d),
                        "its attached files' content is not in FHIR files (the report itself is imported): add them with `attachment add`",
                    ));
                }
                let reason = provenance.get(&key(d)).and_then(|l| l.last()).and_then(|p| text(&p["reason"][0]["text"]));
                match checked(report(d)) {
                    Ok(content) => chain.revisions.push(Revision { content, reason }),
                    Err(e) => failed = Some(e),
                }
                let k = key(d);
                current = docs.iter().find(|n| replaces(n).as_deref() == Some(k.as_str())).copied();
                if chain.revisions.len() > 1000 {
                    failed = Some("a chain of replaced documents does not end".to_string());
                    break;
                }
            }
            match failed {
                Some(why) => skipped.push(skip(&chain.source, &why)),
                None => file.reports.push(chain),
            }
        }
        for r in res.items.iter().filter(|r| {
            matches!(r["resourceType"].as_str(), Some("Observation" | "DiagnosticReport"))
                && subject(r).as_deref() == Some(pk.as_str())
        }) {
            let mut chain = Chain { source: key(r), revisions: Vec::new() };
            let mut failed = None;
            for (v, reason) in history(r) {
                match checked(exam(&v)) {
                    Ok(content) => chain.revisions.push(Revision { content, reason }),
                    Err(e) => failed = Some(e),
                }
            }
            match failed {
                Some(why) => skipped.push(skip(&chain.source, &why)),
                None => file.exams.push(chain),
            }
        }
        patients.push(file);
    }
    // What belongs to no patient imported, and the kinds not imported at all.
    let imported: std::collections::BTreeSet<&str> = patients.iter().map(|p| p.source.as_str()).collect();
    let mut audit = 0;
    for r in &res.items {
        match r["resourceType"].as_str() {
            Some("Patient" | "Provenance") => {}
            Some("AuditEvent") => audit += 1,
            Some("DocumentReference" | "Observation" | "DiagnosticReport") => {
                if !subject(r).is_some_and(|s| imported.contains(s.as_str())) {
                    skipped.push(skip(&key(r), "its patient is not imported (absent or skipped)"));
                }
            }
            _ => skipped.push(skip(&key(r), "a resource type medvault does not import")),
        }
    }
    if audit > 0 {
        skipped.push(Skipped {
            what: format!("{audit} AuditEvent(s)"),
            why: "another store's access history is not imported: this store's log records the import itself".into(),
        });
    }
    (patients, skipped)
}
