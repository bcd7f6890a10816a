//! The one place where structures become bytes.
//!
//! Every stored structure goes through [`encode`] / [`decode`]: bincode 2.0.1 in one fixed
//! configuration (little endian, fixed-width integers, 16 MiB limit). Decoding is strict: a value
//! followed by trailing bytes is rejected, so each byte string has exactly one meaning.
//! bincode is declared unmaintained (RUSTSEC-2025-0141); this module is the seam where a
//! replacement (e.g. postcard 1.x) would go, with the golden fixtures in `tests/` proving that
//! the bytes stay the same. docs/format.md specifies the resulting encoding.
// Re-exported by the `testing` module only; private otherwise.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub))]

use crate::error::{Error, Fault, IntegrityError, Object, Result};
use serde::{Serialize, de::DeserializeOwned};

/// Largest encoded structure accepted, in bytes.
pub(crate) const MAX_ENCODED_LEN: usize = 16 * 1024 * 1024;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_little_endian().with_fixed_int_encoding().with_limit::<MAX_ENCODED_LEN>()
}

/// Encodes a value in the store's fixed binary encoding.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    bincode::serde::encode_to_vec(value, config()).map_err(Error::Encode)
}

/// Decodes a value, rejecting trailing bytes. `object` names the structure in the error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], object: Object) -> Result<T> {
    let (value, used) = bincode::serde::decode_from_slice(bytes, config())
        .map_err(|_| IntegrityError::new(object, Fault::Undecodable))?;
    if used != bytes.len() {
        return Err(IntegrityError::new(object, Fault::TrailingBytes(bytes.len() - used)).into());
    }
    Ok(value)
}

/// The format of a versioned structure: its first two bytes (u16 LE), 0 if there are fewer.
/// Decoders use it to pick the layout of that format before decoding.
pub(crate) fn leading_format(bytes: &[u8]) -> u16 {
    match bytes {
        [a, b, ..] => u16::from_le_bytes([*a, *b]),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Sample {
        a: u16,
        b: String,
        c: Option<[u8; 4]>,
    }

    #[test]
    fn fixed_layout_is_stable() {
        let bytes = encode(&Sample { a: 0x0102, b: "hé".into(), c: Some([9, 8, 7, 6]) }).unwrap();
        // u16 LE, u64 LE length + UTF-8, option tag 1 + 4 raw bytes.
        assert_eq!(hex::encode(&bytes), "0201030000000000000068c3a901".to_owned() + "09080706");
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = encode(&Sample { a: 1, b: String::new(), c: None }).unwrap();
        bytes.push(0);
        assert!(matches!(decode::<Sample>(&bytes, Object::Structure), Err(Error::Integrity(_))));
    }

    #[test]
    fn truncated_bytes_are_rejected() {
        let bytes = encode(&Sample { a: 1, b: "xyz".into(), c: None }).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode::<Sample>(&bytes[..cut], Object::Structure).is_err(), "cut at {cut}");
        }
    }
}
