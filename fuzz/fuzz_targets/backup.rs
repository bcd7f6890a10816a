//! A backup file (and a chain of two), checked with no store: refused or accepted, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = medvault::backup::verify_backup(&mut [&mut &data[..]], None);
    let (a, b) = data.split_at(data.len() / 2);
    let _ = medvault::backup::verify_backup(&mut [&mut &a[..], &mut &b[..]], Some(&[3u8; 32]));
});
