//! Assembling a patient's resources, as NDJSON lines (relative references, `Patient/<id>`) or as
//! a `collection` Bundle (every reference rewritten to the `urn:uuid:` fullUrl of the entry it
//! points at, as FHIR R4 requires for references inside a Bundle to resolve), and checking
//! either: every reference resolves, no resource appears twice, no replaced document is current.

use super::types::{Bundle, BundleEntry, Meta, Resource};
use super::{PatientExport, audit_event, document_reference, exam, patient, provenance, urn};
use crate::export::revision_groups;
use crate::model::Section;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Every resource of a patient export, references relative (`Patient/<id>`): the NDJSON form.
pub fn resources(x: &PatientExport) -> Vec<Resource> {
    let mut out = Vec::new();
    let pid = x.patient.to_string();
    let patient_ref = format!("Patient/{pid}");
    if let Some(current) = x.identity.iter().max_by_key(|r| r.revision) {
        out.push(Resource::Patient(Box::new(patient(x, current))));
    }
    let mut provenances = Vec::new();
    for group in revision_groups(&x.identity) {
        for (i, rev) in group.iter().enumerate() {
            let replaced = i.checked_sub(1).map(|j| Resource::Patient(Box::new(patient(x, group[j]))));
            provenances.push(Resource::Provenance(Box::new(provenance(x, &patient_ref, rev, replaced))));
        }
    }
    for group in revision_groups(&x.reports) {
        for rev in &group {
            let latest = Some(rev.revision) == group.last().map(|r| r.revision);
            let d = document_reference(x, rev, latest);
            let target = format!("DocumentReference/{}", d.id);
            out.push(Resource::DocumentReference(Box::new(d)));
            provenances.push(Resource::Provenance(Box::new(provenance(x, &target, rev, None))));
        }
    }
    for group in revision_groups(&x.exams) {
        let Some(current) = group.last() else { continue };
        let resource = exam(x, current);
        let target = format!("{}/{}", resource.resource_type(), resource.id());
        out.push(resource);
        for a in x.attachments.iter().filter(|a| a.section == Section::Exams && a.entry == current.entry_id) {
            out.push(Resource::DocumentReference(Box::new(super::exam_attachment(x, a, &target))));
        }
        for (i, rev) in group.iter().enumerate() {
            let replaced = i.checked_sub(1).map(|j| exam(x, group[j]));
            provenances.push(Resource::Provenance(Box::new(provenance(x, &target, rev, replaced))));
        }
    }
    out.extend(provenances);
    for e in &x.access_history {
        out.push(Resource::AuditEvent(Box::new(audit_event(x, e))));
    }
    out
}

/// Rewrites every literal reference found in `map` (recursively), leaving the others: to
/// fullUrls when assembling a Bundle, back to `Type/id` when importing one.
pub(crate) fn rewrite(v: &mut Value, map: &BTreeMap<String, String>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o.iter_mut() {
                if k == "reference"
                    && let Value::String(s) = child
                    && let Some(u) = map.get(s.as_str())
                {
                    *s = u.clone();
                } else {
                    rewrite(child, map);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| rewrite(c, map)),
        _ => {}
    }
}

/// The whole export as a FHIR R4 `collection` Bundle whose references all resolve.
pub fn bundle(x: &PatientExport) -> Bundle {
    let pid = x.patient.to_string();
    let all = resources(x);
    let map: BTreeMap<String, String> = all
        .iter()
        .map(|r| {
            let key = format!("{}/{}", r.resource_type(), r.id());
            let u = urn(&[&pid, r.resource_type(), r.id()]);
            (key, u)
        })
        .collect();
    let entry = all
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
            rewrite(&mut v, &map);
            BundleEntry { full_url: urn(&[&pid, r.resource_type(), r.id()]), resource: v }
        })
        .collect();
    Bundle {
        resource_type: "Bundle",
        id: urn(&[&pid, "bundle", &x.exported_at.to_string()]).trim_start_matches("urn:uuid:").to_string(),
        meta: Meta { last_updated: Some(x.exported_at.to_string()), ..Meta::default() },
        type_: "collection",
        timestamp: x.exported_at.to_string(),
        entry,
    }
}

/// Every literal reference in `v` (not descending into `contained`), with its JSON path.
fn references<'a>(v: &'a Value, path: String, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                match (k.as_str(), child) {
                    ("reference", Value::String(s)) => out.push((path.clone(), s)),
                    ("contained", _) => {}
                    _ => references(child, format!("{path}.{k}"), out),
                }
            }
        }
        Value::Array(a) => a.iter().enumerate().for_each(|(i, c)| references(c, format!("{path}[{i}]"), out)),
        _ => {}
    }
}

/// Checks resources against each other: ids unique per type; every reference resolves (through
/// `resolve`), and every `#local` one to a contained resource of its own; a document another
/// `replaces` is `superseded`; contained resources carry no version.
fn check(items: &[(String, &Value)], resolve: impl Fn(&str) -> bool) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    let mut replaced = BTreeSet::new();
    let mut status: BTreeMap<String, String> = BTreeMap::new();
    for (name, r) in items {
        let (Some(kind), Some(id)) = (r["resourceType"].as_str(), r["id"].as_str()) else {
            problems.push(format!("{name}: no resourceType or id"));
            continue;
        };
        let key = format!("{kind}/{id}");
        if !seen.insert(key.clone()) {
            problems.push(format!("{name}: {key} appears twice"));
        }
        if let Some(s) = r["status"].as_str() {
            status.insert(key.clone(), s.to_string());
        }
        let local: BTreeSet<&str> =
            r["contained"].as_array().into_iter().flatten().filter_map(|c| c["id"].as_str()).collect();
        for c in r["contained"].as_array().into_iter().flatten() {
            if c["meta"].get("versionId").is_some() || c["meta"].get("lastUpdated").is_some() {
                problems.push(format!("{name}: a contained resource carries a version (dom-4)"));
            }
        }
        let mut refs = Vec::new();
        references(r, String::new(), &mut refs);
        for (path, target) in refs {
            let ok = match target.strip_prefix('#') {
                Some(l) => local.contains(l),
                None => resolve(target),
            };
            if !ok {
                problems.push(format!("{name}{path}: reference {target} does not resolve"));
            }
        }
        for rel in r["relatesTo"].as_array().into_iter().flatten() {
            if rel["code"] == "replaces"
                && let Some(t) = rel["target"]["reference"].as_str()
            {
                replaced.insert(t.to_string());
            }
        }
    }
    // `replaces` targets are fullUrls in a Bundle and Type/id in NDJSON: match either.
    let urls: BTreeMap<&str, String> = items.iter().map(|(n, r)| (n.as_str(), type_id(r))).collect();
    for t in replaced {
        let key = urls.get(t.as_str()).cloned().unwrap_or(t.clone());
        if status.get(&key).is_some_and(|s| s != "superseded") {
            problems.push(format!("{key} is replaced by a newer document but still {}", status[&key]));
        }
    }
    problems
}

fn type_id(r: &Value) -> String {
    format!("{}/{}", r["resourceType"].as_str().unwrap_or(""), r["id"].as_str().unwrap_or(""))
}

/// Problems of a Bundle (empty when sound): fullUrls unique, every reference resolves to an
/// entry's fullUrl (R4 §2.36.4: relative references do not resolve against `urn:uuid:`
/// fullUrls), every resource once, no replaced document current.
pub fn check_bundle(b: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let entries = b["entry"].as_array().map(Vec::as_slice).unwrap_or_default();
    let mut urls = BTreeSet::new();
    let mut items = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        match e["fullUrl"].as_str() {
            Some(u) if urls.insert(u.to_string()) => items.push((u.to_string(), &e["resource"])),
            Some(u) => problems.push(format!("entry[{i}]: fullUrl {u} appears twice")),
            None => problems.push(format!("entry[{i}]: no fullUrl")),
        }
    }
    problems.extend(check(&items, |t| urls.contains(t)));
    problems
}

/// Problems of NDJSON resources (every file of an export together): relative references
/// (`Type/id`) resolve to a resource present.
pub fn check_resources(resources: &[Value]) -> Vec<String> {
    let keys: BTreeSet<String> = resources.iter().map(type_id).collect();
    let items: Vec<(String, &Value)> = resources.iter().map(|r| (type_id(r), r)).collect();
    check(&items, |t| keys.contains(t))
}
