//! The seal that authenticates a patient copy (HTML): anyone holding the practice's published
//! verification key (`medvault audit key`) checks with [`verify_copy`] (`medvault verify-copy`),
//! with no store, that not one byte of the page changed since the practice made it, and who made it.
//!
//! The unsealed page ends with [`SEAL_PLACEHOLDER`]. Sealing replaces it with a block `B`: a
//! readable `<section class="seal" id="authenticite">` followed by `<!--medvault-seal:J-->`,
//! where `J` is the standard base64 of a JSON object:
//! `{"format":"medvault-patient-copy-v1","store","patient","sha256","signed_at_ms","signature","signer"}`.
//! `sha256` is the SHA-256 of the unsealed page; `signature` is Ed25519, by the exporting
//! user's certified key (`signer`, as in audit extracts), over
//! `"medvault/patient-copy/v1" ‖ sha256 ‖ signed_at_ms (i64 LE) ‖ patient (16)`.
//! The readable section is a function of `J` alone: the verifier renders it again and requires
//! the same bytes, so that every byte of the file is checked.

use super::PatientExport;
use super::extract::{cert_from_json, cert_json, field};
use super::fr;
use super::html::{self, SEAL_PLACEHOLDER};
use crate::crypto::keys::verify_signature;
use crate::error::{Error, Fault, IntegrityError, Object, Result};
use crate::keyring::signers::{SignedBy, TrustedSigners};
use crate::model::{PatientId, StoreId, Timestamp};
use crate::session::Session;
use base64::Engine;
use maud::html;
use serde::Serialize;
use serde_json::{Value, json};

use sha2::{Digest, Sha256};

/// Format name inside the seal.
pub const FORMAT: &str = "medvault-patient-copy-v1";
const DOMAIN: &[u8] = b"medvault/patient-copy/v1";
const OPEN: &str = "<!--medvault-seal:";
const CLOSE: &str = "-->";

fn message(sha256: &[u8], signed_at: Timestamp, patient: PatientId) -> Vec<u8> {
    [DOMAIN, sha256, &signed_at.0.to_le_bytes(), &patient.0].concat()
}

/// The seal's JSON. Verification rebuilds it from the values it parsed and requires the same
/// bytes, so that no field has two spellings (upper-case hex, spaces, escapes) that pass.
fn seal_json(
    store: StoreId,
    patient: PatientId,
    sha256: &[u8],
    signed_at: Timestamp,
    signature: &[u8; 64],
    cert: &crate::keyring::Signed<crate::keyring::signers::SignerCert>,
) -> String {
    json!({
        "format": FORMAT,
        "store": store.to_string(),
        "patient": patient.to_string(),
        "sha256": hex::encode(sha256),
        "signed_at_ms": signed_at.0,
        "signature": hex::encode(signature),
        "signer": cert_json(cert),
    })
    .to_string()
}

/// The readable part of the seal (a function of the seal's JSON only).
fn readable(sha256: &str, signed_at: Timestamp, signer_name: &str) -> String {
    html! {
        section.seal id="authenticite" {
            h2 { "Authenticité de cette copie" }
            p { "Copie scellée le " (fr::date_time(signed_at)) " (heure de Paris) par le compte « " (signer_name)
                " », avec sa clé de signature certifiée par le cabinet." }
            p { "Empreinte SHA-256 de la copie : " code { (sha256) } }
            p { "Pour vérifier qu'aucun caractère n'a été modifié : " code { "medvault verify-copy FICHIER --key CLÉ" }
                ", où CLÉ est la clé de vérification que le cabinet publie (" code { "medvault audit key" } ")." }
        }
    }
    .into_string()
}

/// The patient's copy (RGPD art. 15, CSP L1111-7) as a sealed HTML page, with the export it
/// renders. Audited like [`Session::export_patient`]; signed with this user's certified key.
impl Session {
    /// Exports the patient's file, renders it in French and seals it.
    pub fn patient_copy_html(&self, patient: PatientId) -> Result<(PatientExport, String)> {
        self.sealed_copy(patient).map(|(x, page, _)| (x, page))
    }

    /// [`Session::patient_copy_html`], with the SHA-256 (hex) its seal signs.
    pub(crate) fn sealed_copy(&self, patient: PatientId) -> Result<(PatientExport, String, String)> {
        let x = self.export_patient(patient)?;
        let unsealed = html::page(&x);
        let signer = self.live_signer()?;
        let cert = self
            .signer_cert_of(&signer.verifying_key())?
            .ok_or_else(|| Error::Integrity(IntegrityError::new(Object::SignerCert, Fault::Missing)))?;
        let digest = Sha256::digest(unsealed.as_bytes());
        let signed_at = self.now();
        let signature = signer.sign(&message(&digest, signed_at, patient));
        let seal = seal_json(x.store, patient, &digest, signed_at, &signature, &cert);
        let block = format!(
            "{}{OPEN}{}{CLOSE}",
            readable(&hex::encode(digest), signed_at, &cert.body.name),
            base64::engine::general_purpose::STANDARD.encode(seal)
        );
        let sealed = unsealed.replacen(SEAL_PLACEHOLDER, &block, 1);
        Ok((x, sealed, hex::encode(digest)))
    }
}

/// What a successful check of a copy established.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct CopyReport {
    /// Store the copy comes from.
    pub store: StoreId,
    /// Patient.
    pub patient: PatientId,
    /// SHA-256 of the unsealed page.
    pub sha256: String,
    /// When it was sealed.
    pub signed_at: Timestamp,
    /// Who sealed it (only when a key was given: without one, the certificate in the file
    /// proves nothing).
    pub signed_by: Option<SignedBy>,
    /// Whether the verifier gave the store's key.
    pub key_given: bool,
}

fn bad(why: &'static str) -> Error {
    IntegrityError::new(Object::PatientCopy, Fault::Broken(why)).into()
}

fn text<'a>(v: &'a Value, name: &'static str) -> Result<&'a str> {
    field(v, name, 0)?.as_str().ok_or_else(|| bad("a seal field is not text"))
}

/// Checks a sealed copy with no store. `key` is the store's directory (verification) key as the
/// practice published it; without it, only the file's consistency with itself is checked.
pub fn verify_copy(page: &str, key: Option<&[u8; 32]>) -> Result<CopyReport> {
    let open = page.rfind(OPEN).ok_or_else(|| bad("no seal: not a sealed medvault patient copy"))?;
    if page.matches(OPEN).count() != 1 {
        return Err(bad("more than one seal"));
    }
    let json_start = open + OPEN.len();
    let close = page[json_start..].find(CLOSE).map(|i| json_start + i).ok_or_else(|| bad("the seal is cut"))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&page[json_start..close])
        .map_err(|_| bad("the seal is not base64"))?;
    let seal: Value = serde_json::from_slice(&raw).map_err(|_| bad("the seal is not JSON"))?;
    if seal["format"] != FORMAT {
        return Err(bad("unknown seal format"));
    }
    let store = StoreId::parse(text(&seal, "store")?).map_err(|_| bad("the seal's store id"))?;
    let patient = PatientId::parse(text(&seal, "patient")?).map_err(|_| bad("the seal's patient id"))?;
    let sha_hex = text(&seal, "sha256")?;
    let signed_at =
        Timestamp(field(&seal, "signed_at_ms", 0)?.as_i64().ok_or_else(|| bad("the seal's time is not a number"))?);
    let cert = cert_from_json(field(&seal, "signer", 0)?, 0)?;
    // The readable part must be exactly what the seal's data renders.
    let shown = readable(sha_hex, signed_at, &cert.body.name);
    let start = open.checked_sub(shown.len()).ok_or_else(|| bad("the seal's readable part was modified"))?;
    if page.get(start..open) != Some(shown.as_str()) {
        return Err(bad("the seal's readable part was modified"));
    }
    let unsealed = [&page[..start], SEAL_PLACEHOLDER, &page[close + CLOSE.len()..]].concat();
    let digest = Sha256::digest(unsealed.as_bytes());
    if hex::encode(digest) != sha_hex {
        return Err(bad("the copy was modified: its SHA-256 differs from the sealed one"));
    }
    let signature: [u8; 64] = hex::decode(text(&seal, "signature")?)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("the signature is not 64 bytes of hex"))?;
    if !verify_signature(&cert.body.public, &message(&digest, signed_at, patient), &signature) {
        return Err(bad("the seal's signature does not verify (a forged or modified copy)"));
    }
    if cert.body.store != store {
        return Err(bad("the signer belongs to another store"));
    }
    let canonical = seal_json(store, patient, &digest, signed_at, &signature, &cert);
    if base64::engine::general_purpose::STANDARD.encode(canonical) != page[json_start..close] {
        return Err(bad("the seal is not in its one canonical form (a modified copy)"));
    }
    let signed_by = match key {
        Some(k) => {
            let trusted = TrustedSigners::offline(store, k, Some(&cert)).map_err(|_| {
                bad("the signer's certificate does not verify with this key (another practice's key, or a forged copy)")
            })?;
            Some(trusted.check(&cert.body.public, signed_at)?)
        }
        None => None,
    };
    Ok(CopyReport { store, patient, sha256: sha_hex.to_string(), signed_at, signed_by, key_given: key.is_some() })
}
