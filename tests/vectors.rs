//! Decoder failure vectors. Every file `tests/data/vectors/fail_<decoder>_<case>.<ext>` is fed to
//! the decoder its name names and must be refused with a typed error: never accepted, never a
//! panic. Binary vectors are hex; text vectors are the text itself. Each decoder also has an
//! `ok_<decoder>` vector that must decode, so that a decoder refusing everything fails here.
//!
//! The binary vectors derive from real encodings (truncated, extended, overwritten); the
//! ignored test `regenerate_binary_vectors` writes them again:
//! `cargo test --test vectors -- --ignored regenerate`.

mod common;

use medvault::audit::{AuditEvent, Checkpoint, EventProof};
use medvault::backend::Space;
use medvault::export::extract::verify_extract;
use medvault::testing::keyring::{Signed, StoreHeader, UserRecord};
use medvault::{Date, Object, PatientId, Policy, RecoveryShare, Timestamp};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vectors")
}

/// Runs one decoder over some bytes: `Ok(())` when it accepts them.
fn decode(decoder: &str, bytes: &[u8]) -> Result<(), String> {
    let text = || String::from_utf8_lossy(bytes).into_owned();
    let e = |r: Result<(), medvault::Error>| r.map_err(|e| e.to_string());
    let c = |r: Result<(), medvault::InvalidInput>| r.map_err(|e| e.to_string());
    use medvault::testing::codec::decode as codec;
    match decoder {
        "audit_event" => e(AuditEvent::decode(bytes).map(drop)),
        "checkpoint" => e(codec::<Checkpoint>(bytes, Object::Checkpoint).map(drop)),
        "checkpoint_json" => e(Checkpoint::from_json(&text()).map(drop)),
        "event_proof" => e(EventProof::from_bytes(bytes).map(drop)),
        "user_record" => e(codec::<UserRecord>(bytes, Object::UserRecord).map(drop)),
        "store_header" => e(codec::<Signed<StoreHeader>>(bytes, Object::StoreHeader).map(drop)),
        "audit_tree" => e(medvault::testing::audit::decode_frontier(bytes).map(drop)),
        "recovery_share" => e(RecoveryShare::parse(&text()).map(drop)),
        "policy" => e(Policy::from_json(&text()).map(drop)),
        "date" => c(Date::parse(text().trim_end_matches('\n')).map(drop)),
        "timestamp" => c(Timestamp::parse(text().trim_end_matches('\n')).map(drop)),
        "patient_id" => c(PatientId::parse(&text()).map(drop)),
        "extract" => e(verify_extract(&text(), None).map(drop)),
        other => Err(format!("no decoder named {other}")),
    }
}

/// (decoder, case, bytes) of every vector file with this prefix.
fn vectors(prefix: &str) -> Vec<(String, String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(prefix) else { continue };
        let (stem, ext) = rest.rsplit_once('.').unwrap();
        let raw = std::fs::read(&path).unwrap();
        let bytes = if ext == "hex" { hex::decode(String::from_utf8(raw).unwrap().trim()).unwrap() } else { raw };
        // The decoder is the longest known name the stem starts with.
        let decoder = DECODERS.iter().filter(|d| stem.starts_with(*d)).max_by_key(|d| d.len()).unwrap();
        out.push((decoder.to_string(), name.clone(), bytes));
    }
    out.sort();
    out
}

const DECODERS: &[&str] = &[
    "audit_event",
    "checkpoint",
    "checkpoint_json",
    "event_proof",
    "user_record",
    "store_header",
    "audit_tree",
    "recovery_share",
    "policy",
    "date",
    "timestamp",
    "patient_id",
    "extract",
];

#[test]
fn every_fail_vector_is_refused_and_every_ok_vector_accepted() {
    let fails = vectors("fail_");
    let oks = vectors("ok_");
    for d in DECODERS {
        assert!(fails.iter().any(|(x, _, _)| x == d), "no fail vector for {d}");
        assert!(oks.iter().any(|(x, _, _)| x == d), "no ok vector for {d}");
    }
    for (decoder, name, bytes) in &oks {
        let r = std::panic::catch_unwind(|| decode(decoder, bytes));
        assert!(matches!(r, Ok(Ok(()))), "{name}: {r:?}");
    }
    let mut refused = 0;
    for (decoder, name, bytes) in &fails {
        match std::panic::catch_unwind(|| decode(decoder, bytes)) {
            Ok(Err(_)) => refused += 1,
            Ok(Ok(())) => panic!("{name} was accepted"),
            Err(_) => panic!("{name} panicked"),
        }
    }
    println!("{refused} fail vectors refused, {} ok vectors accepted, 0 panics", oks.len());
}

/// Writes the binary vectors from real encodings of a fresh store.
#[test]
#[ignore = "regenerates tests/data/vectors; run by hand"]
fn regenerate_binary_vectors() {
    let practice = common::Practice::new();
    let p = practice.patient(7);
    practice.session("ines").read_reports(p).unwrap();
    let dpo = practice.session("dpo");
    let proof = dpo.prove_event(3).unwrap().to_bytes().unwrap();
    let checkpoint = medvault::testing::codec::encode(&dpo.export_checkpoint().unwrap()).unwrap();
    let b = &practice.backend;
    let event = b.get(Space::AuditEvents, &3u64.to_be_bytes()).unwrap().unwrap();
    let user = b.scan_prefix(Space::Users, &[]).unwrap().remove(0).1;
    let header = b.get(Space::Meta, b"header").unwrap().unwrap();
    let tree = b.get(Space::Meta, b"audit-tree").unwrap().unwrap();
    let samples: [(&str, Vec<u8>); 6] = [
        ("audit_event", event),
        ("checkpoint", checkpoint),
        ("event_proof", proof),
        ("user_record", user),
        ("store_header", header),
        ("audit_tree", tree),
    ];
    let text_samples = [
        ("checkpoint_json", "txt", dpo.export_checkpoint().unwrap().to_json()),
        ("recovery_share", "txt", practice.shares[0].to_text().to_string()),
        (
            "extract",
            "jsonl",
            dpo.audit_extract(&medvault::export::extract::ExtractFilter { patient: Some(p), ..Default::default() })
                .unwrap(),
        ),
    ];
    for (decoder, ext, ok) in text_samples {
        assert!(decode(decoder, ok.as_bytes()).is_ok(), "{decoder}: the sample does not decode");
        std::fs::write(dir().join(format!("ok_{decoder}.{ext}")), &ok).unwrap();
        let cut = ok.len() / 2;
        let cases = [("empty", String::new()), ("truncated_half", ok[..cut].to_string())];
        for (case, text) in cases {
            assert!(decode(decoder, text.as_bytes()).is_err(), "{decoder}/{case} is accepted");
            std::fs::write(dir().join(format!("fail_{decoder}_{case}.{ext}")), text).unwrap();
        }
    }
    for (decoder, ok) in samples {
        assert!(decode(decoder, &ok).is_ok(), "{decoder}: the sample does not decode");
        std::fs::write(dir().join(format!("ok_{decoder}.hex")), hex::encode(&ok) + "\n").unwrap();
        let mut cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            ("one_byte", ok[..1].to_vec()),
            ("truncated_half", ok[..ok.len() / 2].to_vec()),
            ("truncated_last_byte", ok[..ok.len() - 1].to_vec()),
            ("trailing_byte", [ok.as_slice(), &[0]].concat()),
            ("all_ff", vec![0xFF; ok.len()]),
        ];
        // A format version no release wrote (every structure starts with its u16 format). Only
        // decoders that check the format themselves get this case: the store header and a
        // checkpoint are decoded first and their format checked by the code that loads them.
        let mut format = ok.clone();
        format[..2].copy_from_slice(&999u16.to_le_bytes());
        if decode(decoder, &format).is_err() {
            cases.push(("unknown_format", format));
        }
        for (case, bytes) in cases {
            assert!(decode(decoder, &bytes).is_err(), "{decoder}/{case} is accepted");
            std::fs::write(dir().join(format!("fail_{decoder}_{case}.hex")), hex::encode(&bytes) + "\n").unwrap();
        }
    }
}
