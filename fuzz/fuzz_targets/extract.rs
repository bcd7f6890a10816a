//! The audit-extract verifier reads files from outside: it must reject, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = medvault::export::extract::verify_extract(text, None);
        let _ = medvault::export::extract::verify_extract(text, Some(&[7u8; 32]));
    }
    let _ = medvault::audit::EventProof::from_bytes(data);
});
