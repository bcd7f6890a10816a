//! A signed checkpoint, as stored (binary) and as anchored or exported (JSON).
#![no_main]
use libfuzzer_sys::fuzz_target;
use medvault::Checkpoint;

fuzz_target!(|data: &[u8]| {
    let _ = medvault::testing::codec::decode::<Checkpoint>(data, medvault::Object::Checkpoint);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Checkpoint::from_json(text);
    }
});
