//! An event's inclusion proof (formats 1 and 2), decoded and verified against a fixed key.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(proof) = medvault::EventProof::from_bytes(data) {
        let _ = proof.verify(&[7u8; 32]);
    }
});
