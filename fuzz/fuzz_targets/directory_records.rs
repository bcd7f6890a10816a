//! The signed directory: the store header, user records and user signing keys. The first byte
//! picks the decoder, so each is reached on its own.
#![no_main]
use libfuzzer_sys::fuzz_target;
use medvault::Object;
use medvault::testing::codec::decode;
use medvault::testing::keyring::{Signed, SignerRecord, StoreHeader, UserRecord};

fuzz_target!(|data: &[u8]| {
    let Some((which, bytes)) = data.split_first() else { return };
    match which % 3 {
        0 => drop(decode::<Signed<StoreHeader>>(bytes, Object::Structure)),
        1 => drop(decode::<UserRecord>(bytes, Object::Structure)),
        _ => drop(decode::<SignerRecord>(bytes, Object::Structure)),
    }
});
