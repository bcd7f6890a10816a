//! Every decoder of stored or imported bytes must return an error, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use medvault::audit::{AuditEvent, Checkpoint};
use medvault::testing::keyring::{Signed, SignerRecord, StoreHeader, UserRecord};

fuzz_target!(|data: &[u8]| {
    let _ = AuditEvent::decode(data);
    let _ = medvault::testing::audit::decode_frontier(data);
    let _ = medvault::testing::codec::decode::<Checkpoint>(data, medvault::Object::Structure);
    let _ = medvault::testing::codec::decode::<UserRecord>(data, medvault::Object::Structure);
    let _ = medvault::testing::codec::decode::<Signed<StoreHeader>>(data, medvault::Object::Structure);
    let _ = medvault::testing::codec::decode::<SignerRecord>(data, medvault::Object::Structure);
    let _ = medvault::backup::verify_backup(&mut [&mut &data[..]], None);
    if let Ok(proof) = medvault::EventProof::from_bytes(data) {
        let _ = proof.verify(&[7u8; 32]);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Checkpoint::from_json(text);
        let _ = medvault::RecoveryShare::parse(text);
        let _ = medvault::Policy::from_json(text);
        let _ = serde_json::from_str::<medvault::Identity>(text);
    }
});
