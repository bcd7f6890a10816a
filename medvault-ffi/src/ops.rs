//! What each C entry point does, in safe Rust: arguments already checked and converted (text,
//! byte slices, handles), results as JSON text or bytes. Every call goes through medvault's
//! public API, so it is authorized and audited exactly as from Rust. The fuzz target
//! `ffi_json` drives these functions with arbitrary JSON.
#![forbid(unsafe_code)]

use crate::error::FfiError;
use crate::handles;
use medvault::audit::{Action, Outcome, Purpose};
use medvault::model::{Exam, Identity, Report, Section};
use medvault::{
    AccessContext, AuditQuery, CareMember, Date, Engine, EntryId, FindQuery, KdfParams, PatientId, Store,
    StoreLocation, StoreOptions, Timestamp,
};
use serde::Deserialize;
use serde_json::json;

type R<T> = Result<T, FfiError>;

fn to_json<T: serde::Serialize>(v: &T) -> R<String> {
    serde_json::to_string(v).map_err(|e| FfiError::from(medvault::Error::Json(e)))
}

fn patient(id: &str) -> R<PatientId> {
    Ok(PatientId::parse(id)?)
}

fn section(name: &str) -> R<Section> {
    Ok(Section::parse(name)?)
}

/// The options of a new store (every field optional; docs/integration.md).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Options {
    engine: Option<String>,
    kdf_memory_kib: Option<u32>,
    kdf_passes: Option<u32>,
    kdf_lanes: Option<u32>,
    recovery_shares: Option<u8>,
    recovery_threshold: Option<u8>,
    audit_retention_days: Option<u32>,
}

/// Creates a store; its handle and the recovery shares (`{"store", "recovery_shares": [...]}`).
pub fn store_create(location: &str, admin: &str, passphrase: &[u8], options: Option<&str>) -> R<(u64, String)> {
    let o: Options = match options {
        Some(text) => medvault::json::parse(text, "options")?,
        None => Options::default(),
    };
    let d = StoreOptions::default();
    let engine = match o.engine.as_deref() {
        Some(name) => Engine::parse(name).ok_or_else(|| FfiError::input("engine is one of redb, sled"))?,
        None => d.engine,
    };
    let kdf = KdfParams {
        m_kib: o.kdf_memory_kib.unwrap_or(d.kdf.m_kib),
        t: o.kdf_passes.unwrap_or(d.kdf.t),
        p: o.kdf_lanes.unwrap_or(d.kdf.p),
    };
    let options = StoreOptions {
        engine,
        kdf,
        recovery_shares: o.recovery_shares.unwrap_or(d.recovery_shares),
        recovery_threshold: o.recovery_threshold.unwrap_or(d.recovery_threshold),
        audit_retention_days: o.audit_retention_days.or(d.audit_retention_days),
        ..d
    };
    let (store, shares) = Store::create_at(&StoreLocation::parse(location), admin, passphrase, options)?;
    let texts: Vec<String> = shares.iter().map(|s| s.to_text().to_string()).collect();
    let out = to_json(&json!({"store": store.id().to_string(), "recovery_shares": texts}))?;
    Ok((handles::add_store(store), out))
}

pub fn store_open(location: &str) -> R<u64> {
    Ok(handles::add_store(Store::open_at(&StoreLocation::parse(location))?))
}

/// Closes a store handle: signs a closing checkpoint and flushes (only flushes if a call on
/// another thread still uses the store). Its files are released once its sessions are closed.
pub fn store_close(store: u64) -> R<()> {
    let store = handles::take_store(store)?;
    match std::sync::Arc::try_unwrap(store) {
        Ok(store) => Ok(store.close()?),
        Err(shared) => Ok(shared.flush()?),
    }
}

pub fn unlock(store: u64, user: &str, passphrase: &[u8], workstation: &str, purpose: &str) -> R<u64> {
    let store = handles::store(store)?;
    let purpose: Purpose = medvault::json::parse(&to_json(&purpose)?, "purpose")?;
    let session = store.unlock(user, passphrase, AccessContext { workstation: workstation.to_string(), purpose })?;
    Ok(handles::add_session(session))
}

pub fn session_close(session: u64) -> R<()> {
    handles::take_session(session).map(drop)
}

/// Adds a user (`roles_json`: an array of role names); `{"user", "created", "pending"}`.
pub fn user_add(session: u64, name: &str, roles_json: &str, passphrase: &[u8]) -> R<String> {
    let s = handles::session(session)?;
    let roles: Vec<String> = medvault::json::parse(roles_json, "roles")?;
    let added = s.add_user(name, &roles, passphrase)?;
    let kinds = |k: &[medvault::KeyKind]| k.iter().map(|k| format!("{k:?}")).collect::<Vec<_>>();
    to_json(&json!({"user": added.id.to_string(), "created": kinds(&added.created), "pending": kinds(&added.pending)}))
}

pub fn patient_create(session: u64, identity_json: &str) -> R<String> {
    let s = handles::session(session)?;
    let identity: Identity = medvault::json::parse(identity_json, "identity")?;
    Ok(s.create_patient(identity)?.to_string())
}

/// `{"ins": "..."}` or `{"birth_name": "...", "birth_date": "YYYY-MM-DD"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Find {
    ins: Option<String>,
    birth_name: Option<String>,
    birth_date: Option<String>,
}

pub fn patient_find(session: u64, query_json: &str) -> R<String> {
    let s = handles::session(session)?;
    let q: Find = medvault::json::parse(query_json, "search")?;
    let query = match (q.ins, q.birth_name, q.birth_date) {
        (Some(ins), None, None) => FindQuery::InsMatricule(ins),
        (None, Some(name), Some(date)) => FindQuery::BirthNameAndDate(name, Date::parse(&date)?),
        _ => return Err(FfiError::input("a search gives `ins` alone, or `birth_name` with `birth_date`")),
    };
    let found = s.find_patient(&query)?;
    to_json(&json!({"patients": found.iter().map(ToString::to_string).collect::<Vec<_>>()}))
}

/// Every revision of a section, oldest first (the shape of `read --json`).
pub fn read(session: u64, patient_id: &str, section_name: &str) -> R<String> {
    let s = handles::session(session)?;
    let p = patient(patient_id)?;
    match section(section_name)? {
        Section::Identity => to_json(&medvault::json::views(&s.read_identity(p)?)),
        Section::Reports => to_json(&medvault::json::views(&s.read_reports(p)?)),
        _ => to_json(&medvault::json::views(&s.read_exams(p)?)),
    }
}

/// Writes a new entry, or a corrected revision of `entry` (with its `reason`); for the identity
/// section, a new revision of the identity (`reason` required). `{"entry_id", "revision"}`.
pub fn write(
    session: u64,
    patient_id: &str,
    section_name: &str,
    content_json: &str,
    entry: Option<&str>,
    reason: Option<&str>,
) -> R<String> {
    let s = handles::session(session)?;
    let p = patient(patient_id)?;
    let entry = entry.map(EntryId::parse).transpose()?;
    let (id, revision) = match section(section_name)? {
        Section::Identity => {
            let identity: Identity = medvault::json::parse(content_json, "identity")?;
            let Some(reason) = reason else {
                return Err(FfiError::input("a new identity revision needs a reason"));
            };
            let revision = s.update_identity(p, identity, reason)?;
            (None, revision)
        }
        Section::Reports => {
            let report: Report = medvault::json::parse(content_json, "report")?;
            let (id, revision) = s.write(p, entry, report, reason)?;
            (Some(id), revision)
        }
        _ => {
            let exam: Exam = medvault::json::parse(content_json, "exam")?;
            let (id, revision) = s.write(p, entry, exam, reason)?;
            (Some(id), revision)
        }
    };
    to_json(&json!({"entry_id": id.map(|i| i.to_string()), "revision": revision}))
}

/// `user` names a user; `role:NAME` a role.
fn member(text: &str) -> CareMember {
    match text.strip_prefix("role:") {
        Some(role) => CareMember::Role(role.to_string()),
        None => CareMember::User(text.to_string()),
    }
}

pub fn care_team(session: u64, patient_id: &str, member_name: &str, remove: bool) -> R<()> {
    let s = handles::session(session)?;
    let p = patient(patient_id)?;
    if remove {
        s.care_team_remove(p, &member(member_name))?
    } else {
        s.care_team_add(p, &member(member_name))?
    }
    Ok(())
}

pub fn care_team_list(session: u64, patient_id: &str) -> R<String> {
    let s = handles::session(session)?;
    let members = s.care_team(patient(patient_id)?)?;
    let names: Vec<String> = members.iter().map(CareMember::label).collect();
    to_json(&json!({"care_team": names}))
}

pub fn opposition(session: u64, patient_id: &str, user: &str, withdraw: bool) -> R<()> {
    let s = handles::session(session)?;
    let p = patient(patient_id)?;
    if withdraw {
        s.withdraw_opposition(p, user)?
    } else {
        s.record_opposition(p, user)?
    }
    Ok(())
}

/// Opens emergency access (`hours` 0: the default); `{"break_glass": SEQ}`.
pub fn break_glass(session: u64, patient_id: &str, justification: &str, hours: u32) -> R<String> {
    let s = handles::session(session)?;
    let seq = s.break_glass(patient(patient_id)?, justification, (hours > 0).then_some(hours))?;
    to_json(&json!({"break_glass": seq}))
}

/// A patient's copy (`fhir`, `json` or `html`: the sealed French page), audited as an export.
pub fn export_patient(session: u64, patient_id: &str, format: &str) -> R<Vec<u8>> {
    let s = handles::session(session)?;
    let p = patient(patient_id)?;
    let text = match format {
        "fhir" => to_json(&medvault::export::fhir::bundle(&s.export_patient(p)?))?,
        "json" => s.export_patient(p)?.to_json()?,
        "html" => s.patient_copy_html(p)?.1,
        _ => return Err(FfiError::input("the export format is one of fhir, json, html")),
    };
    Ok(text.into_bytes())
}

/// Writes a patient's copy to a new file readable by its owner only (never replacing one).
pub fn export_patient_to(session: u64, patient_id: &str, format: &str, path: &str) -> R<()> {
    let bytes = zeroize::Zeroizing::new(export_patient(session, patient_id, format)?);
    Ok(medvault::export::files::write_private(std::path::Path::new(path), &bytes, false)?)
}

/// An audit query (every field optional): `{"patient", "section", "user", "action",
/// "outcome", "since", "until", "before_seq", "limit"}`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Query {
    patient: Option<String>,
    section: Option<String>,
    user: Option<String>,
    action: Option<Action>,
    outcome: Option<Outcome>,
    since: Option<String>,
    until: Option<String>,
    before_seq: Option<u64>,
    limit: Option<usize>,
}

pub fn audit_query(session: u64, query_json: Option<&str>) -> R<String> {
    let s = handles::session(session)?;
    let q: Query = match query_json {
        Some(text) => medvault::json::parse(text, "audit query")?,
        None => Query::default(),
    };
    let query = AuditQuery {
        patient: q.patient.as_deref().map(patient).transpose()?,
        section: q.section.as_deref().map(section).transpose()?,
        user: q.user,
        since: q.since.as_deref().map(Timestamp::parse).transpose()?,
        until: q.until.as_deref().map(Timestamp::parse).transpose()?,
        action: q.action,
        outcome: q.outcome,
        before_seq: q.before_seq,
        limit: q.limit.unwrap_or(100),
    };
    to_json(&s.audit_query(&query)?)
}

/// Verifies the whole log and every record against it; the report (`"problems"` empty when
/// everything holds).
pub fn audit_verify(session: u64) -> R<String> {
    let s = handles::session(session)?;
    let report = s.verify_audit(None)?;
    to_json(&json!({"ok": report.is_ok(), "report": report}))
}
