//! Verifiable audit extracts for a regulator or a court: the selected events, an inclusion proof
//! for each against a signed checkpoint, the directory-signed certificate of the user key that
//! signed, and a signature over the whole file, so that a third party checks it with the
//! store's directory public key alone ([`verify_extract`], no store) and learns who signed it.
//!
//! NDJSON, one object a line:
//! 1. `{"type":"header","format":"medvault-audit-extract-v2","store","created_at","created_by","filter","count"}`
//! 2. `count` × `{"type":"event","seq","event":<AuditEvent>,"leaf":<base64 of the stored bytes>,"proof":[<hex>…]}`
//! 3. `{"type":"checkpoint","checkpoint":<checkpoint JSON>,"signer":<certificate JSON or null>}`
//! 4. `{"type":"signature","sha256":<hex of every byte before this line>,"signature":<hex>}` —
//!    Ed25519 by the checkpoint's signer over `"medvault/extract/v1" || sha256`.
//!
//! Format v1 (earlier releases) has no `signer`: its checkpoint and file are signed by the store
//! audit key, which the verifier must then give.
//!
//! Verifiers MUST check every line and every proof byte: a flipped byte anywhere, a removed
//! event or another store's key fails with a reason.

use crate::audit::merkle::{self, Hash};
use crate::audit::{Action, AuditEvent, AuditQuery, Checkpoint, Entity, Outcome};
use crate::crypto::keys::verify_signature;
use crate::error::{Denied, Error, Fault, IntegrityError, Object, Result};
use crate::keyring::Signed;
use crate::keyring::signers::{SignedBy, SignerCert, TrustedSigners};
use crate::model::{PatientId, StoreId, Timestamp};
use crate::session::Session;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Which events an extract holds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExtractFilter {
    /// Only this patient.
    pub patient: Option<PatientId>,
    /// From this time.
    pub since: Option<Timestamp>,
    /// Before this time.
    pub until: Option<Timestamp>,
}

/// What a successful verification established.
#[derive(Clone, Debug, Serialize)]
pub struct ExtractReport {
    /// Store the extract comes from.
    pub store: StoreId,
    /// Events proven.
    pub events: usize,
    /// Size of the log the checkpoint signs.
    pub checkpoint_size: u64,
    /// The key that verified it.
    pub key: String,
    /// Whether that key was given by the verifier (else taken from the file itself).
    pub key_given: bool,
    /// Who signed the checkpoint and the file (only when a key was given: without one, the
    /// certificate in the file proves nothing).
    pub signed_by: Option<SignedBy>,
}

/// JSON of a signer certificate (hex keys, millisecond times).
pub(crate) fn cert_json(cert: &Signed<SignerCert>) -> Value {
    let c = &cert.body;
    json!({
        "format": c.format,
        "store": c.store.to_string(),
        "user": c.user.to_string(),
        "name": c.name,
        "public": hex::encode(c.public),
        "from_ms": c.from.0,
        "until_ms": c.until.map(|t| t.0),
        "signature": hex::encode(&cert.signature),
    })
}

/// Parses [`cert_json`] (the signature is checked later, against the verifier's key).
pub(crate) fn cert_from_json(v: &Value, line: usize) -> Result<Signed<SignerCert>> {
    let text =
        |name: &'static str| -> Result<&str> { field(v, name, line)?.as_str().ok_or_else(|| bad_at(line, name)) };
    let fail = |what: &'static str| bad_at(line, what);
    let body = SignerCert {
        format: field(v, "format", line)?.as_u64().and_then(|f| u16::try_from(f).ok()).ok_or_else(|| fail("format"))?,
        store: StoreId::parse(text("store")?).map_err(|_| fail("signer store"))?,
        user: crate::model::UserId::parse(text("user")?).map_err(|_| fail("signer user"))?,
        name: text("name")?.to_string(),
        public: hex32(text("public")?, line, "signer public key")?,
        from: Timestamp(field(v, "from_ms", line)?.as_i64().ok_or_else(|| fail("from_ms"))?),
        until: match field(v, "until_ms", line)? {
            Value::Null => None,
            t => Some(Timestamp(t.as_i64().ok_or_else(|| fail("until_ms"))?)),
        },
    };
    let signature = hex::decode(text("signature")?).map_err(|_| fail("signer signature"))?;
    Ok(Signed { body, signature })
}

fn sign_message(digest: &[u8]) -> Vec<u8> {
    [b"medvault/extract/v1".as_slice(), digest].concat()
}

impl Session {
    /// Builds an audit extract (auditors). Audited as an export, before the extract is returned;
    /// the checkpoint it is proven against covers that export event.
    pub fn audit_extract(&self, filter: &ExtractFilter) -> Result<String> {
        let ent = Entity { patient: filter.patient, ..Entity::default() };
        self.require(self.header().policy.may_audit(&self.user.roles), Action::Export, ent.clone(), Denied::Audit)?;
        let signer = self.live_signer()?;
        let q =
            AuditQuery { patient: filter.patient, since: filter.since, until: filter.until, ..AuditQuery::default() };
        let events = self.audit_events(&q)?;
        let draft = self
            .draft(Action::Export, Outcome::Success, ent)
            .detail(format!("audit extract of {} events", events.len()));
        self.commit(vec![draft], crate::storage::Batch::new())?;
        let cp = self.sign_checkpoint(signer.clone())?;
        let mut out = String::new();
        let header = json!({
            "type": "header",
            "format": "medvault-audit-extract-v2",
            "store": self.header().store.to_string(),
            "created_at": self.now().to_string(),
            "created_by": self.user.name,
            "filter": filter,
            "count": events.len(),
        });
        out.push_str(&header.to_string());
        out.push('\n');
        for e in &events {
            let proof = self.event_proof(e.seq, cp.clone())?;
            let line = json!({
                "type": "event",
                "seq": e.seq,
                "event": e,
                "leaf": base64::engine::general_purpose::STANDARD.encode(&proof.event),
                "proof": proof.path.iter().map(hex::encode).collect::<Vec<_>>(),
            });
            out.push_str(&line.to_string());
            out.push('\n');
        }
        let cp_json: Value = serde_json::from_str(&cp.to_json()).map_err(Error::Json)?;
        let cert = self.signer_cert(&cp)?;
        let signer_json = cert.as_ref().map_or(Value::Null, cert_json);
        out.push_str(&json!({ "type": "checkpoint", "checkpoint": cp_json, "signer": signer_json }).to_string());
        out.push('\n');
        let digest = Sha256::digest(out.as_bytes());
        let sig = signer.sign(&sign_message(&digest));
        out.push_str(
            &json!({ "type": "signature", "sha256": hex::encode(digest), "signature": hex::encode(sig) }).to_string(),
        );
        out.push('\n');
        Ok(out)
    }
}

/// The extract is damaged or forged (no line named).
fn bad(why: &'static str) -> Error {
    IntegrityError::new(Object::Extract, Fault::Broken(why)).into()
}

/// The extract is damaged or forged at `line` (1-based).
fn bad_at(line: usize, what: &'static str) -> Error {
    IntegrityError::new(Object::Extract, Fault::AtLine { line, what }).into()
}

pub(crate) fn field<'a>(v: &'a Value, name: &'static str, line: usize) -> Result<&'a Value> {
    v.get(name).ok_or_else(|| IntegrityError::new(Object::Extract, Fault::MissingField { line, field: name }).into())
}

fn hex32(s: &str, line: usize, what: &'static str) -> Result<Hash> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).map_err(|_| bad_at(line, what))?;
    Ok(out)
}

/// Checks an extract with no store: every event's inclusion proof against the signed checkpoint,
/// the checkpoint's signature, and the signature over the whole file. `key` is the store's audit
/// public key as published by its DPO; without it the key inside the file is used, which only
/// proves internal consistency (the report says so).
pub fn verify_extract(text: &str, key: Option<&[u8; 32]>) -> Result<ExtractReport> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    if lines.len() < 3 || !text.ends_with('\n') {
        return Err(bad("truncated extract: a header, a checkpoint and a signature line are needed"));
    }
    let sig_line = lines[lines.len() - 1];
    let signed_len = text.len() - sig_line.len();
    let sig: Value =
        serde_json::from_str(sig_line).map_err(|_| bad_at(lines.len(), "the signature line is not JSON"))?;
    if sig["type"] != "signature" {
        return Err(bad("the last line is not the signature"));
    }
    // Canonical form only: lower-case hex, so that no byte of the file can change unnoticed.
    for f in ["sha256", "signature"] {
        if sig[f].as_str().is_some_and(|s| s.chars().any(|c| c.is_ascii_uppercase())) {
            return Err(bad_at(lines.len(), "signature fields must be lower-case hex"));
        }
    }
    let digest = Sha256::digest(&text.as_bytes()[..signed_len]);
    let claimed = hex32(
        field(&sig, "sha256", lines.len())?.as_str().unwrap_or(""),
        lines.len(),
        "sha256 is not 32 bytes of hex",
    )?;
    if claimed != digest.as_slice() {
        return Err(bad("the file was modified: its SHA-256 differs from the signed one"));
    }
    let cp_line: Value = serde_json::from_str(lines[lines.len() - 2])
        .map_err(|_| bad_at(lines.len() - 1, "the checkpoint line is not JSON"))?;
    if cp_line["type"] != "checkpoint" {
        return Err(bad("the line before the signature is not the checkpoint"));
    }
    let cp = Checkpoint::from_json(&field(&cp_line, "checkpoint", lines.len() - 1)?.to_string())
        .map_err(|_| bad_at(lines.len() - 1, "the checkpoint does not parse"))?;
    let header: Value = serde_json::from_str(lines[0]).map_err(|_| bad_at(1, "the header line is not JSON"))?;
    let v2 = match header["format"].as_str() {
        Some("medvault-audit-extract-v2") => true,
        Some("medvault-audit-extract-v1") => false,
        _ => return Err(bad("not a medvault audit extract (header)")),
    };
    if header["type"] != "header" {
        return Err(bad("not a medvault audit extract (header)"));
    }
    let cert = match (v2, cp_line.get("signer")) {
        (true, None) => {
            return Err(IntegrityError::new(
                Object::Extract,
                Fault::MissingField { line: lines.len() - 1, field: "signer" },
            )
            .into());
        }
        (true, Some(Value::Null)) | (false, None) => None,
        (true, Some(c)) => Some(cert_from_json(c, lines.len() - 1)?),
        (false, Some(_)) => return Err(bad_at(lines.len() - 1, "a format v1 extract names no signer")),
    };
    let sig_bytes: [u8; 64] = hex::decode(field(&sig, "signature", lines.len())?.as_str().unwrap_or(""))
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("signature is not 64 bytes of hex"))?;
    if !verify_signature(&cp.signer, &sign_message(&claimed), &sig_bytes) {
        return Err(bad("the extract's signature does not verify with its checkpoint's key (a forged file)"));
    }
    let key_given = key.is_some();
    let public = key.copied().unwrap_or(cp.signer);
    let signers = match key {
        Some(k) => TrustedSigners::offline(cp.head.store, k, cert.as_ref()).map_err(|_| {
            bad("the signer's certificate does not verify with this key (another store's key, or a forged file)")
        })?,
        None => TrustedSigners::offline(cp.head.store, &cp.signer, None)?,
    };
    let by = cp.verify(&signers, cp.head.store).map_err(|_| {
        bad_at(lines.len() - 1, "the checkpoint does not verify with this key (another store's key, or a forged file)")
    })?;
    if header["store"].as_str() != Some(cp.head.store.to_string().as_str()) {
        return Err(bad("header and checkpoint name different stores"));
    }
    let count = field(&header, "count", 1)?.as_u64().ok_or_else(|| bad("header count is not a number"))? as usize;
    let event_lines = &lines[1..lines.len() - 2];
    if event_lines.len() != count {
        return Err(bad_at(1, "the header announces another number of events than the file holds"));
    }
    let mut last_seq: Option<u64> = None;
    for (i, line) in event_lines.iter().enumerate() {
        let n = i + 2;
        let v: Value = serde_json::from_str(line).map_err(|_| bad_at(n, "not JSON"))?;
        if v["type"] != "event" {
            return Err(bad_at(n, "not an event"));
        }
        let seq = field(&v, "seq", n)?.as_u64().ok_or_else(|| bad_at(n, "seq is not a number"))?;
        if last_seq.is_some_and(|l| seq <= l) {
            return Err(bad_at(n, "events out of order"));
        }
        last_seq = Some(seq);
        let leaf_data = base64::engine::general_purpose::STANDARD
            .decode(field(&v, "leaf", n)?.as_str().unwrap_or(""))
            .map_err(|_| bad_at(n, "leaf is not base64"))?;
        let proof = field(&v, "proof", n)?
            .as_array()
            .ok_or_else(|| bad_at(n, "proof is not a list"))?
            .iter()
            .map(|h| hex32(h.as_str().unwrap_or(""), n, "a proof element is not 32 bytes of hex"))
            .collect::<Result<Vec<Hash>>>()?;
        let leaf = merkle::leaf_hash(&leaf_data);
        if !merkle::verify_inclusion(seq, cp.head.size, &leaf, &proof, &cp.head.root) {
            return Err(Error::Integrity(
                IntegrityError::new(
                    Object::Extract,
                    Fault::AtLine { line: n, what: "its inclusion proof does not lead to the signed root" },
                )
                .at(seq),
            ));
        }
        let stored: AuditEvent = AuditEvent::decode(&leaf_data).map_err(|_| bad_at(n, "the leaf does not decode"))?;
        if stored.seq != seq {
            return Err(bad_at(n, "the proven event has another sequence number"));
        }
        let shown = serde_json::to_value(&stored).map_err(Error::Json)?;
        if &shown != field(&v, "event", n)? {
            return Err(Error::Integrity(
                IntegrityError::new(
                    Object::Extract,
                    Fault::AtLine { line: n, what: "the readable event differs from the proven one" },
                )
                .at(seq),
            ));
        }
    }
    Ok(ExtractReport {
        store: cp.head.store,
        events: count,
        checkpoint_size: cp.head.size,
        key: hex::encode(public),
        key_given,
        signed_by: key_given.then_some(by),
    })
}

/// CSV of an extract's events, for spreadsheets (not verifiable by itself).
pub fn events_csv(text: &str) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::Output(e.into());
    w.write_record(["seq", "time", "user", "roles", "action", "outcome", "purpose", "patient", "section", "detail"])
        .map_err(fail)?;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).map_err(|_| bad("an event line is not JSON"))?;
        if v["type"] != "event" {
            continue;
        }
        let e: AuditEvent =
            serde_json::from_value(v["event"].clone()).map_err(|_| bad("an event line holds no readable event"))?;
        w.write_record([
            e.seq.to_string(),
            e.recorded_at.to_string(),
            spreadsheet_safe(&e.agent.name),
            spreadsheet_safe(&e.agent.roles.join(" ")),
            e.action.name().to_string(),
            e.outcome.name().to_string(),
            e.purpose.name().to_string(),
            e.entity.patient.map(|p| p.to_string()).unwrap_or_default(),
            e.entity.section.map(|s| s.name()).unwrap_or("").to_string(),
            spreadsheet_safe(e.detail.as_deref().unwrap_or("")),
        ])
        .map_err(fail)?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Output(e.into_error()))?;
    String::from_utf8(bytes).map_err(|_| bad("the CSV is not UTF-8"))
}

/// A free-text cell a spreadsheet will not run as a formula (OWASP CSV injection): a leading
/// `=`, `+`, `-`, `@`, tab or carriage return gets a `'` in front.
fn spreadsheet_safe(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::spreadsheet_safe;

    #[test]
    fn formulas_are_neutralised_and_plain_text_kept() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(spreadsheet_safe("dr_martin"), "dr_martin");
    }
}
