//! The witness: a small file beside the engine's files that records, after every durable group
//! commit, an opaque mark given by the audit log (its tree size and root). It lives outside the
//! engine, so that an engine which silently drops its newest commits (a torn or corrupted log
//! tail) is caught at open: the store must still hold what the witness says was acknowledged.
//!
//! Layout (docs/format.md §7): two slots of 256 bytes; slot `counter % 2` is overwritten in place
//! and `fdatasync`ed, so a torn write damages only the slot being written and the other still
//! holds the previous mark. A slot is `"MVWITNS1" ‖ counter u64 LE ‖ len u16 LE ‖ payload ‖
//! zero padding ‖ SHA-256(all previous bytes of the slot)` (the last 32 bytes).
// Re-exported by the `testing` module only; private otherwise.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub))]

use crate::error::StorageError;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::StorageResult;

/// File name of the witness in a store folder.
pub(crate) const WITNESS_FILE: &str = "medvault.witness";
const MAGIC: &[u8; 8] = b"MVWITNS1";
const SLOT: usize = 256;
/// Largest payload a slot holds.
pub(crate) const MAX_PAYLOAD: usize = SLOT - 8 - 8 - 2 - 32;

/// The witness file of one store.
pub struct WitnessFile {
    state: Mutex<(File, u64)>,
}

fn slot_bytes(counter: u64, payload: &[u8]) -> [u8; SLOT] {
    let mut s = [0u8; SLOT];
    s[..8].copy_from_slice(MAGIC);
    s[8..16].copy_from_slice(&counter.to_le_bytes());
    s[16..18].copy_from_slice(&(payload.len() as u16).to_le_bytes());
    s[18..18 + payload.len()].copy_from_slice(payload);
    let digest = Sha256::digest(&s[..SLOT - 32]);
    s[SLOT - 32..].copy_from_slice(&digest);
    s
}

fn parse_slot(s: &[u8]) -> Option<(u64, Vec<u8>)> {
    if s.len() != SLOT || &s[..8] != MAGIC || Sha256::digest(&s[..SLOT - 32]).as_slice() != &s[SLOT - 32..] {
        return None;
    }
    let counter = u64::from_le_bytes(s[8..16].try_into().ok()?);
    let len = u16::from_le_bytes([s[16], s[17]]) as usize;
    (len <= MAX_PAYLOAD).then(|| (counter, s[18..18 + len].to_vec()))
}

/// What a witness file holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WitnessRead {
    /// No witness file, or one that has recorded nothing yet.
    Missing,
    /// Neither slot is intact.
    Damaged,
    /// The newest intact mark.
    Mark(Vec<u8>),
}

/// Reads the newest intact mark of the witness in `dir`.
pub(crate) fn read(dir: &Path) -> StorageResult<WitnessRead> {
    let mut bytes = Vec::new();
    match File::open(dir.join(WITNESS_FILE)) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes).map_err(StorageError::from_io)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(WitnessRead::Missing),
        Err(e) => return Err(StorageError::from_io(e)),
    }
    let best = bytes.chunks(SLOT).take(2).filter_map(parse_slot).max_by_key(|(c, _)| *c);
    Ok(match best {
        Some((_, payload)) if payload.is_empty() => WitnessRead::Missing,
        Some((_, payload)) => WitnessRead::Mark(payload),
        None if bytes.is_empty() => WitnessRead::Missing,
        None => WitnessRead::Damaged,
    })
}

impl WitnessFile {
    /// Opens (or creates, durably) the witness in `dir`.
    pub fn open(dir: &Path) -> StorageResult<WitnessFile> {
        let (mut file, bytes, created) = super::engine::open_side_file(dir, WITNESS_FILE)?;
        let counter = bytes.chunks(SLOT).take(2).filter_map(parse_slot).map(|(c, _)| c).max().unwrap_or(0);
        if created || bytes.is_empty() {
            // Slot 0 holds an empty mark ("nothing acknowledged yet"), so that a torn first
            // write still leaves one intact slot.
            file.write_all(&slot_bytes(0, &[])).map_err(StorageError::from_io)?;
            file.sync_all().map_err(StorageError::from_io)?;
            super::engine::fsync_dir(dir)?;
        }
        Ok(WitnessFile { state: Mutex::new((file, counter)) })
    }

    /// Durably records `payload` as the newest mark.
    pub fn write(&self, payload: &[u8]) -> StorageResult<()> {
        if payload.len() > MAX_PAYLOAD {
            return Err(StorageError::Engine { engine: "witness", what: "mark too large", source: None });
        }
        let mut st = self.state.lock();
        let counter = st.1 + 1;
        let slot = slot_bytes(counter, payload);
        let offset = (counter % 2) * SLOT as u64;
        let f = &mut st.0;
        f.seek(SeekFrom::Start(offset)).map_err(StorageError::from_io)?;
        f.write_all(&slot).map_err(StorageError::from_io)?;
        f.sync_data().map_err(StorageError::from_io)?;
        st.1 = counter;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_intact_slot_wins_and_a_torn_slot_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), WitnessRead::Missing);
        let w = WitnessFile::open(dir.path()).unwrap();
        assert_eq!(read(dir.path()).unwrap(), WitnessRead::Missing, "a new witness has recorded nothing");
        w.write(b"one").unwrap();
        w.write(b"two").unwrap();
        assert_eq!(read(dir.path()).unwrap(), WitnessRead::Mark(b"two".to_vec()));
        // Tear the newest slot (counter 2 lives in slot 0): the previous mark remains.
        let mut bytes = std::fs::read(dir.path().join(WITNESS_FILE)).unwrap();
        bytes[20] ^= 1;
        std::fs::write(dir.path().join(WITNESS_FILE), &bytes).unwrap();
        assert_eq!(read(dir.path()).unwrap(), WitnessRead::Mark(b"one".to_vec()));
        bytes[SLOT + 20] ^= 1;
        std::fs::write(dir.path().join(WITNESS_FILE), &bytes).unwrap();
        assert_eq!(read(dir.path()).unwrap(), WitnessRead::Damaged);
        // A torn first write leaves the empty initial mark.
        let fresh = tempfile::tempdir().unwrap();
        let w2 = WitnessFile::open(fresh.path()).unwrap();
        w2.write(b"first").unwrap();
        let mut b2 = std::fs::read(fresh.path().join(WITNESS_FILE)).unwrap();
        b2[SLOT + 18] ^= 1;
        std::fs::write(fresh.path().join(WITNESS_FILE), &b2).unwrap();
        assert_eq!(read(fresh.path()).unwrap(), WitnessRead::Missing);
        drop(w);
        // Reopening continues the counter from the newest intact slot.
        std::fs::write(dir.path().join(WITNESS_FILE), slot_bytes(7, b"seven")).unwrap();
        let w = WitnessFile::open(dir.path()).unwrap();
        w.write(b"eight").unwrap();
        assert_eq!(read(dir.path()).unwrap(), WitnessRead::Mark(b"eight".to_vec()));
    }
}
