//! The audit-extract verifier reads files from outside: it must reject, never panic. The
//! fuzzed text is tried as a whole file, then as the header and event lines of a file closed
//! by a checkpoint and a file signature made with a fixed key, so that the line parsers behind
//! the hash and signature checks run too.
#![no_main]
use libfuzzer_sys::fuzz_target;
use medvault::audit::{Checkpoint, TreeHead};
use medvault::model::StoreId;
use medvault::testing::crypto::{Key32, SigningSecret};
use serde_json::{Value, json};
use sha2::Digest;

fn signed_around(body: &str) -> Option<String> {
    let key = SigningSecret::from_key(&Key32::from_bytes([7; 32]));
    let head = TreeHead { store: StoreId([1; 16]), size: 4, root: [0; 32], time: medvault::Timestamp(0) };
    let cp = Checkpoint::sign(head, &key).ok()?;
    let cp_json: Value = serde_json::from_str(&cp.to_json()).ok()?;
    let mut out = body.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&json!({ "type": "checkpoint", "checkpoint": cp_json, "signer": null }).to_string());
    out.push('\n');
    let digest = sha2::Sha256::digest(out.as_bytes());
    let sig = key.sign(&[b"medvault/extract/v1".as_slice(), digest.as_slice()].concat());
    out.push_str(
        &json!({ "type": "signature", "sha256": hex::encode(digest), "signature": hex::encode(sig) }).to_string(),
    );
    out.push('\n');
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = medvault::export::extract::verify_extract(text, None);
        let _ = medvault::export::extract::verify_extract(text, Some(&[7u8; 32]));
        if let Some(file) = signed_around(text) {
            let _ = medvault::export::extract::verify_extract(&file, None);
        }
    }
    let _ = medvault::audit::EventProof::from_bytes(data);
});
