//! An audit event's bytes (formats 1, 2 and 3): decoded, never a panic; what decodes encodes back
//! to exactly the bytes it came from (one byte string per event, in every format).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = medvault::AuditEvent::decode(data) {
        assert_eq!(event.encode().ok().as_deref(), Some(data), "an event decoded from bytes it does not encode to");
        let _ = serde_json::to_string(&event);
    }
});
