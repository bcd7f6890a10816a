//! A backup file (and a chain of two): the decoder on every input, then, for what decodes
//! (a valid hash), the whole check with no store. Refused or accepted, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use medvault::testing::parse_backup;

fuzz_target!(|data: &[u8]| {
    if parse_backup(data).is_ok() {
        let _ = medvault::backup::verify_backup(&mut [&mut &data[..]], None);
    }
    let (a, b) = data.split_at(data.len() / 2);
    if parse_backup(a).is_ok() && parse_backup(b).is_ok() {
        let _ = medvault::backup::verify_backup(&mut [&mut &a[..], &mut &b[..]], Some(&[3u8; 32]));
    }
});
