//! The witness file (docs/format.md §7), of either layout: whatever its bytes, reading it
//! returns the newest intact mark or none, and never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((_, mark)) = medvault::testing::witness_mark(data) {
        assert!(mark.len() <= medvault::testing::WITNESS_MAX_PAYLOAD, "a mark longer than a slot holds");
    }
});
