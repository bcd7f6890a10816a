//! The sealed-copy verifier reads files from outside: it must reject, never panic, and a real
//! sealed copy with any byte changed must be rejected. The fuzzed data is tried as a whole
//! file, then as a list of (position, byte) edits applied to a genuine sealed copy.
#![no_main]
use libfuzzer_sys::fuzz_target;
use medvault::export::seal::verify_copy;
use std::sync::OnceLock;

mod practice;
use practice::{PASS, ctx, practice};

/// A genuine sealed copy and the key that checks it.
fn genuine() -> Option<&'static (String, [u8; 32])> {
    static COPY: OnceLock<Option<(String, [u8; 32])>> = OnceLock::new();
    COPY.get_or_init(|| {
        let store = practice(std::sync::Arc::new(medvault::backend::MemoryBackend::new()))?;
        let doc = store.unlock("doc", PASS, ctx()).ok()?;
        let p = doc.create_patient(medvault::synthetic::Synth::new(1).identity()).ok()?;
        let (_, page) = doc.patient_copy_html(p).ok()?;
        Some((page, store.verification_key()))
    })
    .as_ref()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = verify_copy(text, None);
        let _ = verify_copy(text, Some(&[7u8; 32]));
    }
    let Some((page, key)) = genuine() else { return };
    let mut bytes = page.as_bytes().to_vec();
    for edit in data.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([edit[0], edit[1]])) * bytes.len() / 65_536;
        bytes[at] = edit[2];
    }
    if let Ok(edited) = String::from_utf8(bytes) {
        let verdict = verify_copy(&edited, Some(key));
        assert!(edited == *page || verdict.is_err(), "an edited copy passed its seal check");
    }
});
