//! Attachments of entries (scanned letters, PDFs, images): their stored form, the chunked
//! encryption of their content, and the check `verify` makes of their chunks.
//!
//! Layout (docs/format.md §3.8):
//! - `Attachments[patient ‖ section ‖ entry ‖ attachment]` = `codec(StoredAttachment)`: the
//!   attachment's data key wrapped under the entry's patient key (binding `AttachmentKey`), its
//!   description sealed under the data key (`AttachmentMeta`), and, once complete, the number of
//!   chunks, the plaintext size and the chain digest of the chunk ciphertexts. This record is
//!   written by audited operations only and `verify` checks it against the log like any record.
//! - `AttachmentChunks[… ‖ attachment ‖ index (u32 BE)]` = one chunk: `nonce ‖ ciphertext ‖ tag`
//!   of at most [`CHUNK_SIZE`] plaintext bytes, sealed under the data key with the binding
//!   `AttachmentChunk { place, index, last }`. Every chunk but the last holds exactly
//!   `CHUNK_SIZE` bytes; an empty attachment is one empty last chunk.
//!
//! What this makes detectable, with the key: a chunk moved to another index or attachment
//! (binding), a dropped tail (the new last chunk was sealed with `last = false`), a chunk
//! appended after the last (the description's count); without the key, `verify` checks every
//! chunk of a complete attachment against the chain digest of its description.

use crate::codec;
use crate::crypto::aad::AttachmentPlace;
use crate::crypto::{Binding, Key32, aead};
use crate::error::{Error, Fault, IntegrityError, Object, Result};
use crate::model::{InvalidInput, Timestamp, check_text};
use crate::storage::{Backend, Space};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Format of a stored attachment description.
pub(crate) const ATTACHMENT_FORMAT: u16 = 1;
/// Plaintext bytes per chunk: 64 KiB less 256 bytes, so that a sealed chunk (28 bytes more)
/// and its key fit one 64 KiB allocation of redb's page allocator (a full 64 KiB chunk took
/// 128 KiB there).
pub const CHUNK_SIZE: usize = 64 * 1024 - 256;
/// Largest attachment accepted: 4 GiB.
pub const MAX_ATTACHMENT_BYTES: u64 = 4 << 30;
/// Longest file name kept with an attachment, in bytes.
pub const MAX_ATTACHMENT_NAME: usize = 255;
/// Longest media type, in bytes.
pub const MAX_MEDIA_TYPE: usize = 127;
/// Chunks written per engine transaction while an attachment streams in (1 MiB).
pub(crate) const CHUNKS_PER_BATCH: usize = 16;

/// Where an attachment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum AttachmentState {
    /// Begun and not finished: its chunks may be partly written. Never read.
    Pending,
    /// Every chunk written.
    Complete {
        /// Number of chunks (at least 1).
        chunks: u32,
        /// Plaintext bytes.
        size: u64,
        /// [`Chain`] digest of the chunk ciphertexts, in order.
        chain: [u8; 32],
    },
}

/// An attachment as stored: ciphertext and public counts only.
#[serde_with::serde_as]
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredAttachment {
    pub format: u16,
    pub state: AttachmentState,
    /// Generation of the patient key wrapping the data key.
    pub generation: u32,
    #[serde_as(as = "serde_with::Bytes")]
    pub wrapped_key: Vec<u8>,
    /// `codec(Description)` sealed under the data key.
    #[serde_as(as = "serde_with::Bytes")]
    pub description: Vec<u8>,
}

impl StoredAttachment {
    pub(crate) fn decode(bytes: &[u8]) -> Result<StoredAttachment> {
        let s: StoredAttachment = codec::decode(bytes, Object::Attachment)?;
        if s.format != ATTACHMENT_FORMAT {
            return Err(IntegrityError::new(Object::Attachment, Fault::UnsupportedFormat(s.format.into())).into());
        }
        Ok(s)
    }
}

/// What is sealed about an attachment besides its content.
#[derive(Serialize, Deserialize)]
pub(crate) struct Description {
    pub name: String,
    pub media_type: String,
    pub added_at: Timestamp,
    pub added_by: String,
}

impl Description {
    pub(crate) fn seal(&self, key: &Key32, place: AttachmentPlace) -> Result<Vec<u8>> {
        let plain = zeroize::Zeroizing::new(codec::encode(self)?);
        Ok(aead::seal(key, &Binding::AttachmentMeta { place }, &plain))
    }
    pub(crate) fn open(key: &Key32, place: AttachmentPlace, sealed: &[u8]) -> Result<Description> {
        let plain = aead::open(key, &Binding::AttachmentMeta { place }, sealed)?;
        codec::decode(&plain, Object::Attachment).map_err(|_| Error::Decrypt)
    }
}

/// Checks an attachment's name and media type (`type/subtype`, RFC 6838 characters).
pub(crate) fn validate(name: &str, media_type: &str) -> std::result::Result<(), InvalidInput> {
    check_text("attachment name", name, MAX_ATTACHMENT_NAME)?;
    if name.chars().any(char::is_control) {
        return Err(InvalidInput::Rule("an attachment name holds no control characters"));
    }
    check_text("media type", media_type, MAX_MEDIA_TYPE)?;
    let token = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b));
    match media_type.split_once('/') {
        Some((t, s)) if token(t) && token(s) => Ok(()),
        _ => {
            Err(InvalidInput::Malformed { field: "media type", expected: "type/subtype (for example application/pdf)" })
        }
    }
}

/// Running digest of an attachment's chunk ciphertexts: SHA-256 of
/// `"medvault/attachment-chain/v1"` then, for each chunk in order, its length (u32 LE) and bytes.
pub(crate) struct Chain(Sha256);

impl Chain {
    pub(crate) fn new() -> Chain {
        Chain(Sha256::new_with_prefix(b"medvault/attachment-chain/v1"))
    }
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        // A chunk is at most CHUNK_SIZE + 28 bytes; longer ones are cut to a length that
        // cannot match any chunk medvault wrote.
        self.0.update(u32::try_from(chunk.len()).unwrap_or(u32::MAX).to_le_bytes());
        self.0.update(chunk);
    }
    pub(crate) fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// Seals chunk `index` of an attachment.
pub(crate) fn seal_chunk(key: &Key32, place: AttachmentPlace, index: u32, last: bool, plain: &[u8]) -> Vec<u8> {
    aead::seal(key, &Binding::AttachmentChunk { place, index, last }, plain)
}

/// Opens chunk `index` of an attachment of `chunks` chunks and `size` bytes, checking its
/// length against its position.
pub(crate) fn open_chunk(
    key: &Key32,
    place: AttachmentPlace,
    index: u32,
    chunks: u32,
    size: u64,
    sealed: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    let last = index.checked_add(1) == Some(chunks);
    let broken = |why| Error::from(IntegrityError::new(Object::AttachmentChunk, Fault::Broken(why)));
    let plain = aead::open(key, &Binding::AttachmentChunk { place, index, last }, sealed)
        .map_err(|_| broken("a chunk does not open at its place (edited, moved, swapped or cut short)"))?;
    let expected = if last { size.checked_sub(u64::from(index) * CHUNK_SIZE as u64) } else { Some(CHUNK_SIZE as u64) };
    if Some(plain.len() as u64) != expected {
        return Err(broken("a chunk's length does not match its place"));
    }
    Ok(plain)
}

/// What `verify` found in the attachments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ChunkCheck {
    /// Complete attachments whose chunks were checked.
    pub attachments: u64,
    /// Chunks checked.
    pub chunks: u64,
    /// Attachments begun and never completed (an interrupted `attach`).
    pub interrupted: u64,
    /// What is wrong.
    pub problems: Vec<String>,
}

/// One attachment being walked: its description's state, the chunks seen so far.
struct Walk {
    prefix: Vec<u8>,
    state: AttachmentState,
    next: u32,
    chain: Chain,
    reported: bool,
}

impl Walk {
    fn new(prefix: Vec<u8>, state: AttachmentState) -> Walk {
        Walk { prefix, state, next: 0, chain: Chain::new(), reported: false }
    }
    fn finish(self, out: &mut ChunkCheck) {
        let name = hex::encode(&self.prefix);
        match self.state {
            AttachmentState::Pending => out.interrupted += 1,
            AttachmentState::Complete { chunks, chain, .. } => {
                out.attachments += 1;
                if self.reported {
                } else if self.next < chunks {
                    out.problems.push(format!("attachment {name}: chunks {}..{chunks} are missing", self.next));
                } else if self.chain.finish() != chain {
                    out.problems.push(format!("attachment {name}: its chunks differ from what was written"));
                }
            }
        }
    }
}

/// Checks every chunk against the description of its attachment: each complete attachment has
/// exactly its chunks, in order, with the chain digest it recorded; no chunk lies outside an
/// attachment. Reads the chunks a page at a time.
pub(crate) fn check_chunks(backend: &dyn Backend) -> Result<ChunkCheck> {
    let mut out = ChunkCheck::default();
    let mut described = std::collections::BTreeMap::new();
    for (k, v) in backend.scan_prefix(Space::Attachments, &[])? {
        match StoredAttachment::decode(&v) {
            Ok(s) => {
                described.insert(k, s.state);
            }
            Err(_) => out.problems.push(format!("attachment {}: its description does not decode", hex::encode(&k))),
        }
    }
    let mut walk: Option<Walk> = None;
    crate::storage::scan_pages(backend, Space::AttachmentChunks, &[], |page| -> Result<()> {
        for (k, v) in page {
            out.chunks += 1;
            let Some((prefix, index)) = k.split_last_chunk::<4>() else {
                out.problems.push(format!("attachment chunk {} under a malformed key", hex::encode(k)));
                continue;
            };
            let index = u32::from_be_bytes(*index);
            if walk.as_ref().is_none_or(|w| w.prefix != prefix) {
                if let Some(w) = walk.take() {
                    w.finish(&mut out);
                }
                match described.remove(prefix) {
                    Some(state) => walk = Some(Walk::new(prefix.to_vec(), state)),
                    None => {
                        out.problems.push(format!(
                            "attachment chunk {} belongs to no attachment (planted or left by a purge)",
                            hex::encode(k)
                        ));
                        continue;
                    }
                }
            }
            let Some(w) = walk.as_mut() else { continue };
            if let AttachmentState::Complete { chunks, .. } = w.state
                && !w.reported
            {
                if index != w.next || index >= chunks {
                    let what = if index >= chunks {
                        format!("chunk {index} lies beyond its last chunk ({})", chunks.saturating_sub(1))
                    } else {
                        format!("chunk {index} found where chunk {} was expected", w.next)
                    };
                    out.problems.push(format!("attachment {}: {what}", hex::encode(prefix)));
                    w.reported = true;
                } else {
                    w.chain.push(v);
                }
            }
            w.next = index.saturating_add(1);
        }
        Ok(())
    })?;
    if let Some(w) = walk.take() {
        w.finish(&mut out);
    }
    for (prefix, state) in described {
        Walk::new(prefix, state).finish(&mut out);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AttachmentId, EntryId, PatientId, Section, StoreId};

    fn place(n: u8) -> AttachmentPlace {
        AttachmentPlace {
            store: StoreId([1; 16]),
            patient: PatientId([2; 16]),
            section: Section::Reports,
            entry: EntryId([3; 16]),
            attachment: AttachmentId([n; 16]),
        }
    }

    #[test]
    fn a_chunk_opens_only_at_its_place() {
        let key = Key32::random();
        let plain = vec![7u8; CHUNK_SIZE];
        let sealed = seal_chunk(&key, place(1), 0, false, &plain);
        let size = 2 * CHUNK_SIZE as u64;
        assert_eq!(open_chunk(&key, place(1), 0, 2, size, &sealed).unwrap().as_slice(), plain.as_slice());
        // Another index, another attachment, or presented as the last chunk: refused.
        assert!(open_chunk(&key, place(1), 1, 3, 3 * CHUNK_SIZE as u64, &sealed).is_err());
        assert!(open_chunk(&key, place(2), 0, 2, size, &sealed).is_err());
        assert!(open_chunk(&key, place(1), 0, 1, CHUNK_SIZE as u64, &sealed).is_err());
        let mut flipped = sealed.clone();
        flipped[20] ^= 1;
        assert!(open_chunk(&key, place(1), 0, 2, size, &flipped).is_err());
        // A last chunk whose length disagrees with the recorded size: refused.
        let last = seal_chunk(&key, place(1), 1, true, &[1, 2, 3]);
        assert!(open_chunk(&key, place(1), 1, 2, CHUNK_SIZE as u64 + 3, &last).is_ok());
        assert!(open_chunk(&key, place(1), 1, 2, CHUNK_SIZE as u64 + 4, &last).is_err());
    }

    #[test]
    fn names_and_media_types() {
        assert!(validate("lettre.pdf", "application/pdf").is_ok());
        assert!(validate("scan.dcm", "application/dicom").is_ok());
        assert!(validate("", "application/pdf").is_err());
        assert!(validate("a\nb", "application/pdf").is_err());
        assert!(validate(&"x".repeat(256), "application/pdf").is_err());
        for bad in ["pdf", "application/", "/pdf", "text/html; charset=utf-8", "a/b/c"] {
            assert!(validate("x", bad).is_err(), "{bad}");
        }
    }
}
