//! The audit tree's stored state (its frontier): decoded, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frontier) = medvault::testing::audit::decode_frontier(data) {
        let _ = frontier.root();
    }
});
