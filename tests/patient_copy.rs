//! The patient's copy as a patient reads it: French throughout, Paris time, professionals by
//! name and profession, codes in words, print-safe marks, replaced versions labelled, and a
//! seal that `verify_copy` checks without the store (one changed byte anywhere fails).

mod common;
use common::every_backend;

use common::Practice;
use common::copy_fixture as copy;
use medvault::audit::SignedBy;
use medvault::export::html::{MARK_EMERGENCY, MARK_REFUSED, MARK_REPLACED};
use medvault::export::seal::verify_copy;

every_backend! {
fn the_copy_is_in_french_with_paris_time_names_words_and_print_safe_marks(kind) {
    let (_practice, _p, page) = copy(kind);
    for french in [
        "Copie du dossier médical",
        "par Dr Jean Martin (médecin généraliste)",
        "15/07/2026 à 11:00", // the copy's time: 09:00 UTC in summer
        "14/07/2026 à 23:30", // the emergency access, in Paris time
        "accès en urgence (bris de glace)",
        "consultation",
        "très bas (valeur critique)",
        "Sexe",
        "Lieu de naissance",
        "Courriel",
        "secrétaire médicale",
        "révision 1 — VERSION REMPLACÉE le 14/07/2026 à 11:00 par la révision 2",
        "(en vigueur)",
        "erreur de date",
    ] {
        assert!(page.contains(french), "the copy lacks {french:?}");
    }
    // Every coloured state is also written: a black-and-white print keeps it.
    for mark in [MARK_EMERGENCY, MARK_REFUSED, MARK_REPLACED] {
        assert!(page.contains(mark), "mark {mark:?} missing");
    }
    assert!(page.contains("@media print") && page.contains("thead{display:table-header-group}"));
    // No raw code or English word of the audit vocabulary reaches the patient.
    for raw in [
        ">read<", ">denied<", ">success<", ">treatment<", ">emergency<", ">secretary<", ">physician<", ">LL<",
        ">N<", "identity<", "reports<", "exams<", "T08:00:00", "Z<", "break-glass #",
    ] {
        assert!(!page.contains(raw), "raw code {raw:?} in the copy");
    }
}
}

every_backend! {
fn a_sealed_copy_verifies_with_the_practice_key_and_fails_on_any_change(kind) {
    let (practice, p, page) = copy(kind);
    let key = practice.store.verification_key();
    let r = verify_copy(&page, Some(&key)).unwrap();
    assert_eq!(r.patient, p);
    assert!(matches!(r.signed_by, Some(SignedBy::User { ref name, .. }) if name == "dr_martin"), "{:?}", r.signed_by);
    // Without the key: consistent, but it says nothing about who.
    let unkeyed = verify_copy(&page, None).unwrap();
    assert!(!unkeyed.key_given && unkeyed.signed_by.is_none());
    // Another practice's key refuses it.
    let other = Practice::new();
    assert!(verify_copy(&page, Some(&other.store.verification_key())).is_err());
    // One changed byte anywhere (page, readable seal, seal data) fails; so do cuts.
    let bytes = page.as_bytes();
    let step = (bytes.len() / 400).max(1);
    let (mut tried, mut caught) = (0, 0);
    for i in (0..bytes.len()).step_by(step).chain([bytes.len() - 5, bytes.len() - 40]) {
        let mut b = bytes.to_vec();
        b[i] = if b[i] == b'x' { b'y' } else { b'x' };
        let Ok(text) = String::from_utf8(b) else { continue };
        tried += 1;
        if verify_copy(&text, Some(&key)).is_err() {
            caught += 1;
        }
    }
    println!("patient copy: {caught} of {tried} one-byte changes caught");
    assert_eq!(caught, tried);
    assert!(tried > 300);
    for cut in [10, page.len() / 2, page.len() - 30] {
        assert!(verify_copy(&page[..cut], Some(&key)).is_err(), "cut at {cut}");
    }
    // Another spelling of the same seal (upper-case hex decodes to the same signature bytes) is
    // refused: the seal has one canonical form (found by the `patient_copy` fuzz target).
    let open = page.find("<!--medvault-seal:").unwrap() + "<!--medvault-seal:".len();
    let close = open + page[open..].find("-->").unwrap();
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut seal: serde_json::Value = serde_json::from_slice(&engine.decode(&page[open..close]).unwrap()).unwrap();
    seal["signature"] = seal["signature"].as_str().unwrap().to_uppercase().into();
    let respelled = format!("{}{}{}", &page[..open], engine.encode(seal.to_string()), &page[close..]);
    assert!(verify_copy(&respelled, Some(&key)).is_err(), "a re-spelled seal passed");
    // The unsealed page is not a copy.
    let unsealed = medvault::export::html::page(&practice.session("dr_martin").export_patient(p).unwrap());
    assert!(verify_copy(&unsealed, Some(&key)).is_err());
}
}
