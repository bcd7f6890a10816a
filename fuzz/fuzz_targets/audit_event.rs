//! An audit event's bytes (formats 1 and 2): decoded, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = medvault::AuditEvent::decode(data) {
        // What decodes re-encodes and is shown without panicking.
        let _ = serde_json::to_string(&event);
    }
});
