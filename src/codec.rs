//! The one place where structures become bytes.
//!
//! Every stored structure goes through [`encode`] / [`decode`]: bincode 2.0.1 in one fixed
//! configuration (little endian, fixed-width integers, 16 MiB limit). Decoding is strict: a value
//! followed by trailing bytes is rejected, so each byte string has exactly one meaning. Audit
//! events of format 3 use the compact variant ([`encode_compact`] / [`decode_compact`]: the same
//! layout with variable-width integers), whose decoder also rejects any integer not written in
//! its shortest form, so each meaning has exactly one byte string too.
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

fn compact_config() -> impl bincode::config::Config {
    bincode::config::standard().with_little_endian().with_variable_int_encoding().with_limit::<MAX_ENCODED_LEN>()
}

/// Encodes a value in the compact encoding (variable-width integers; docs/format.md §2).
pub(crate) fn encode_compact<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    bincode::serde::encode_to_vec(value, compact_config()).map_err(Error::Encode)
}

/// Decodes a value of the compact encoding, rejecting trailing bytes and any integer longer than
/// its shortest form (the value's own encoding must be exactly `bytes`).
pub(crate) fn decode_compact<T: Serialize + DeserializeOwned>(bytes: &[u8], object: Object) -> Result<T> {
    let (value, used) = bincode::serde::decode_from_slice(bytes, compact_config())
        .map_err(|_| IntegrityError::new(object, Fault::Undecodable))?;
    if used != bytes.len() {
        return Err(IntegrityError::new(object, Fault::TrailingBytes(bytes.len() - used)).into());
    }
    // A longer form of an integer decodes to the same value; only the shortest is accepted, so
    // the shortest encoding of what was decoded must be as long as what was read.
    let mut size = bincode::enc::write::SizeWriter::default();
    bincode::serde::encode_into_writer(&value, &mut size, compact_config()).map_err(Error::Encode)?;
    if size.bytes_written != used {
        return Err(IntegrityError::new(object, Fault::Undecodable).into());
    }
    Ok(value)
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
    fn compact_layout_is_stable() {
        let bytes = encode_compact(&Sample { a: 0x0102, b: "hé".into(), c: Some([9, 8, 7, 6]) }).unwrap();
        // u16 0x0102 > 250: marker 251 then u16 LE; length 3 in one byte; option tag, 4 raw bytes.
        assert_eq!(hex::encode(&bytes), "fb02010368c3a90109080706");
        let small = encode_compact(&Sample { a: 7, b: String::new(), c: None }).unwrap();
        assert_eq!(hex::encode(&small), "070000");
        assert_eq!(decode_compact::<Sample>(&bytes, Object::Structure).unwrap().a, 0x0102);
    }

    #[test]
    fn compact_rejects_longer_forms_and_trailing_bytes() {
        // 7 written as marker 251 + u16: same value, longer form.
        let long = hex::decode("fb07000000").unwrap();
        assert!(matches!(decode_compact::<Sample>(&long, Object::Structure), Err(Error::Integrity(_))));
        // A string length written in a longer form.
        let long_len = hex::decode("07fb000000").unwrap();
        assert!(matches!(decode_compact::<Sample>(&long_len, Object::Structure), Err(Error::Integrity(_))));
        let mut bytes = encode_compact(&Sample { a: 1, b: "x".into(), c: None }).unwrap();
        assert!(decode_compact::<Sample>(&bytes, Object::Structure).is_ok());
        bytes.push(0);
        assert!(matches!(decode_compact::<Sample>(&bytes, Object::Structure), Err(Error::Integrity(_))));
        let bytes = encode_compact(&Sample { a: 300, b: "xyz".into(), c: Some([1; 4]) }).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode_compact::<Sample>(&bytes[..cut], Object::Structure).is_err(), "cut at {cut}");
        }
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
