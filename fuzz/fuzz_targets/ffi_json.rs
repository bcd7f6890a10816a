//! The C ABI's JSON entry points (create, find, write in each section, audit query, user roles,
//! read), called through their C signatures as each role: the first byte picks the entry
//! point and the role, the rest is the argument. Every call must return a known status code
//! (never a caught panic), no output with an error, valid JSON with success.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let [which, input @ ..] = data {
        medvault_ffi::harness::call(*which, input);
    }
});
