//! The witness: a small file beside the engine's files that records, after every durable group
//! commit, an opaque mark given by the audit log (its tree size and root). It lives outside the
//! engine, so that an engine which silently drops its newest commits (a torn or corrupted log
//! tail) is caught at open: the store must still hold what the witness says was acknowledged.
//!
//! Layout (docs/format.md §7): two slots of 512 bytes, slot 0 at offset 0 and slot 1 at offset
//! 4096, each in a 4 KiB block of its own; slot `counter % 2` is overwritten in place and
//! `fdatasync`ed, so a torn write (even of a whole 4 KiB physical sector) damages only the slot
//! being written and the other still holds the previous mark. A slot is `"MVWITNS2" ‖ counter
//! u64 LE ‖ len u16 LE ‖ payload ‖ zero padding ‖ SHA-256(all previous bytes of the slot)` (the
//! last 32 bytes). On Linux the slot is written with `O_DIRECT` where the file system and device
//! take a 512-byte write, so that a mark sends 512 bytes to the device instead of a 4 KiB page;
//! elsewhere, or once such a write is refused as misaligned, through the page cache. Files of
//! the first layout (two 256-byte `"MVWITNS1"` slots at offsets 0 and 256) are read, and
//! converted at open by writing the newest mark to slot 1 first.
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
const MAGIC: &[u8; 8] = b"MVWITNS2";
const SLOT: usize = 512;
/// Where slot 1 starts: each slot has a 4 KiB block of its own.
const BLOCK: usize = 4096;
/// Length of a witness file of the current layout.
const FILE_LEN: usize = BLOCK + SLOT;
/// The first layout: two slots of 256 bytes, one after the other.
const MAGIC_1: &[u8; 8] = b"MVWITNS1";
const SLOT_1: usize = 256;
/// Bytes of a slot that are not payload: magic, counter, length, hash.
const SLOT_OVERHEAD: usize = 8 + 8 + 2 + 32;
/// Largest payload a slot holds.
pub(crate) const MAX_PAYLOAD: usize = SLOT - SLOT_OVERHEAD;

/// The witness file of one store.
pub struct WitnessFile {
    state: Mutex<State>,
}

struct State {
    file: File,
    counter: u64,
    /// A second handle opened with `O_DIRECT`, while the file system takes such writes.
    direct: Option<Direct>,
}

fn slot_bytes(counter: u64, payload: &[u8]) -> [u8; SLOT] {
    let mut s = [0u8; SLOT];
    fill_slot(&mut s, MAGIC, counter, payload);
    s
}

/// Writes a slot of `s.len()` bytes (zeros where the payload ends) into `s`.
fn fill_slot(s: &mut [u8], magic: &[u8; 8], counter: u64, payload: &[u8]) {
    let size = s.len();
    s[..8].copy_from_slice(magic);
    s[8..16].copy_from_slice(&counter.to_le_bytes());
    s[16..18].copy_from_slice(&(payload.len() as u16).to_le_bytes());
    s[18..18 + payload.len()].copy_from_slice(payload);
    let digest = Sha256::digest(&s[..size - 32]);
    s[size - 32..].copy_from_slice(&digest);
}

/// A slot of `size` bytes with `magic` at the start of `s`, if intact.
fn parse_slot(s: &[u8], magic: &[u8; 8], size: usize) -> Option<(u64, Vec<u8>)> {
    let s = s.get(..size)?;
    if &s[..8] != magic || Sha256::digest(&s[..size - 32]).as_slice() != &s[size - 32..] {
        return None;
    }
    let counter = u64::from_le_bytes(s[8..16].try_into().ok()?);
    let len = u16::from_le_bytes([s[16], s[17]]) as usize;
    (len <= size - SLOT_OVERHEAD).then(|| (counter, s[18..18 + len].to_vec()))
}

/// Every intact slot of either layout in `bytes`.
fn intact_slots(bytes: &[u8]) -> impl Iterator<Item = (u64, Vec<u8>)> + '_ {
    [(0, MAGIC, SLOT), (BLOCK, MAGIC, SLOT), (0, MAGIC_1, SLOT_1), (SLOT_1, MAGIC_1, SLOT_1)]
        .into_iter()
        .filter_map(|(at, magic, size)| parse_slot(bytes.get(at..)?, magic, size))
}

/// The intact slot with the largest counter.
pub(crate) fn newest(bytes: &[u8]) -> Option<(u64, Vec<u8>)> {
    intact_slots(bytes).max_by_key(|(c, _)| *c)
}

/// What a witness file holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WitnessRead {
    /// No witness file, or one that has recorded nothing yet.
    Missing,
    /// No slot is intact.
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
    Ok(match newest(&bytes) {
        Some((_, payload)) if payload.is_empty() => WitnessRead::Missing,
        Some((_, payload)) => WitnessRead::Mark(payload),
        None if bytes.is_empty() => WitnessRead::Missing,
        None => WitnessRead::Damaged,
    })
}

impl WitnessFile {
    /// Opens (or creates, durably) the witness in `dir`.
    pub fn open(dir: &Path) -> StorageResult<WitnessFile> {
        Self::open_with(dir, true)
    }

    /// [`WitnessFile::open`]; `direct: false` keeps every write in the page cache.
    fn open_with(dir: &Path, direct: bool) -> StorageResult<WitnessFile> {
        let (mut file, bytes, created) = super::engine::open_side_file(dir, WITNESS_FILE)?;
        let found = newest(&bytes);
        let mut counter = found.as_ref().map_or(0, |(c, _)| *c);
        let io = StorageError::from_io;
        if created || bytes.is_empty() {
            // Slot 0 holds an empty mark ("nothing acknowledged yet"), so that a torn first
            // write still leaves one intact slot; slot 1's block is there from the start, so
            // that no later write changes the file's length.
            let mut fresh = vec![0u8; FILE_LEN];
            fresh[..SLOT].copy_from_slice(&slot_bytes(0, &[]));
            file.write_all(&fresh).map_err(io)?;
            file.sync_all().map_err(io)?;
            super::engine::fsync_dir(dir)?;
        } else if bytes.len() < FILE_LEN {
            // The first layout (or a file cut short): the newest mark goes to slot 1 first,
            // with an odd counter, so the next write (to slot 0) only overwrites older slots.
            counter |= 1;
            let payload = found.map(|(_, p)| p).unwrap_or_default();
            file.seek(SeekFrom::Start(BLOCK as u64)).map_err(io)?;
            file.write_all(&slot_bytes(counter, &payload)).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        let direct = if direct { Direct::open(&dir.join(WITNESS_FILE)) } else { None };
        Ok(WitnessFile { state: Mutex::new(State { file, counter, direct }) })
    }

    /// Durably records `payload` as the newest mark.
    pub fn write(&self, payload: &[u8]) -> StorageResult<()> {
        if payload.len() > MAX_PAYLOAD {
            return Err(StorageError::Engine { engine: "witness", what: "mark too large", source: None });
        }
        let mut st = self.state.lock();
        let counter = st.counter + 1;
        let slot = slot_bytes(counter, payload);
        let offset = (counter % 2) * BLOCK as u64;
        st.write_slot(offset, &slot).map_err(StorageError::from_io)?;
        st.counter = counter;
        Ok(())
    }

    /// Whether marks are written with `O_DIRECT`.
    #[cfg(test)]
    fn is_direct(&self) -> bool {
        self.state.lock().direct.is_some()
    }
}

impl State {
    /// Writes `slot` at `offset` and `fdatasync`s it: through the direct handle if there is one
    /// (dropped for good, and the write done again through the page cache, if the file system
    /// refuses the write as misaligned), else through the page cache.
    fn write_slot(&mut self, offset: u64, slot: &[u8; SLOT]) -> std::io::Result<()> {
        if let Some(d) = &mut self.direct {
            match d.write(offset, slot) {
                Ok(()) => return d.file.sync_data(),
                Err(e) if e.raw_os_error() == Direct::MISALIGNED => self.direct = None,
                Err(e) => return Err(e),
            }
        }
        self.file.seek(SeekFrom::Start(offset))?;
        self.file.write_all(slot)?;
        self.file.sync_data()
    }
}

/// A handle on the witness opened with `O_DIRECT`, and a buffer aligned for it.
struct Direct {
    file: File,
    buf: Vec<u8>,
    /// Tests only: the next write is refused as misaligned, as a file system without
    /// `O_DIRECT` support for this file would.
    #[cfg(test)]
    refuse: bool,
}

impl Direct {
    /// The address, length and offset alignment asked for: a 4 KiB page covers every logical
    /// sector size in use for the buffer's address; length and offset are the slot's.
    const ALIGN: usize = 4096;
    /// The error a file system gives for an `O_DIRECT` write it cannot take (`EINVAL`).
    #[cfg(target_os = "linux")]
    const MISALIGNED: Option<i32> = Some(libc::EINVAL);
    #[cfg(not(target_os = "linux"))]
    const MISALIGNED: Option<i32> = None;

    #[cfg(target_os = "linux")]
    fn open(path: &Path) -> Option<Direct> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_DIRECT).open(path).ok()?;
        Some(Direct {
            file,
            buf: vec![0u8; SLOT + Self::ALIGN],
            #[cfg(test)]
            refuse: false,
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn open(_: &Path) -> Option<Direct> {
        None
    }

    #[cfg(target_os = "linux")]
    fn write(&mut self, offset: u64, slot: &[u8; SLOT]) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        #[cfg(test)]
        if self.refuse {
            return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
        }
        let start = (Self::ALIGN - self.buf.as_ptr() as usize % Self::ALIGN) % Self::ALIGN;
        let aligned = &mut self.buf[start..start + SLOT];
        aligned.copy_from_slice(slot);
        self.file.write_all_at(aligned, offset)
    }

    #[cfg(not(target_os = "linux"))]
    fn write(&mut self, _: u64, _: &[u8; SLOT]) -> std::io::Result<()> {
        Err(std::io::Error::other("no O_DIRECT here"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flip(dir: &Path, at: usize) {
        let mut bytes = std::fs::read(dir.join(WITNESS_FILE)).unwrap();
        bytes[at] ^= 1;
        std::fs::write(dir.join(WITNESS_FILE), &bytes).unwrap();
    }

    #[test]
    fn the_newest_intact_slot_wins_and_a_torn_slot_falls_back_with_and_without_o_direct() {
        for direct in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            assert_eq!(read(dir.path()).unwrap(), WitnessRead::Missing);
            let w = WitnessFile::open_with(dir.path(), direct).unwrap();
            // O_DIRECT is used wherever the file system takes it, and only if asked for.
            let available = Direct::open(&dir.path().join(WITNESS_FILE)).is_some();
            assert_eq!(w.is_direct(), direct && available);
            assert_eq!(read(dir.path()).unwrap(), WitnessRead::Missing, "a new witness has recorded nothing");
            assert_eq!(std::fs::metadata(dir.path().join(WITNESS_FILE)).unwrap().len(), FILE_LEN as u64);
            w.write(b"one").unwrap();
            w.write(b"two").unwrap();
            assert_eq!(read(dir.path()).unwrap(), WitnessRead::Mark(b"two".to_vec()), "direct {direct}");
            // Counter 2 lives in slot 0, counter 1 in slot 1, a block further.
            let bytes = std::fs::read(dir.path().join(WITNESS_FILE)).unwrap();
            assert_eq!(parse_slot(&bytes, MAGIC, SLOT), Some((2, b"two".to_vec())));
            assert_eq!(parse_slot(&bytes[BLOCK..], MAGIC, SLOT), Some((1, b"one".to_vec())));
            assert_eq!(bytes.len(), FILE_LEN, "writes never change the file's length");
            // Tear the newest slot: the previous mark remains; tear both: damaged.
            flip(dir.path(), 20);
            assert_eq!(read(dir.path()).unwrap(), WitnessRead::Mark(b"one".to_vec()));
            flip(dir.path(), BLOCK + 20);
            assert_eq!(read(dir.path()).unwrap(), WitnessRead::Damaged);
            drop(w);
            // A torn first write leaves the empty initial mark.
            let fresh = tempfile::tempdir().unwrap();
            let w2 = WitnessFile::open_with(fresh.path(), direct).unwrap();
            w2.write(b"first").unwrap();
            flip(fresh.path(), BLOCK + 18);
            assert_eq!(read(fresh.path()).unwrap(), WitnessRead::Missing);
            // Reopening continues the counter from the newest intact slot.
            let mut seven = vec![0u8; FILE_LEN];
            seven[BLOCK..].copy_from_slice(&slot_bytes(7, b"seven"));
            std::fs::write(dir.path().join(WITNESS_FILE), &seven).unwrap();
            let w = WitnessFile::open_with(dir.path(), direct).unwrap();
            w.write(b"eight").unwrap();
            assert_eq!(read(dir.path()).unwrap(), WitnessRead::Mark(b"eight".to_vec()));
            let bytes = std::fs::read(dir.path().join(WITNESS_FILE)).unwrap();
            assert_eq!(parse_slot(&bytes, MAGIC, SLOT), Some((8, b"eight".to_vec())));
        }
    }

    #[test]
    fn a_refused_direct_write_is_done_again_through_the_page_cache_and_later_ones_too() {
        let dir = tempfile::tempdir().unwrap();
        let w = WitnessFile::open_with(dir.path(), true).unwrap();
        if !w.is_direct() {
            return; // this file system has no O_DIRECT: the buffered path is the other test's
        }
        w.write(b"direct").unwrap();
        assert_eq!(read(dir.path()).unwrap(), WitnessRead::Mark(b"direct".to_vec()));
        if let Some(d) = w.state.lock().direct.as_mut() {
            d.refuse = true;
        }
        w.write(b"refused").unwrap();
        assert!(!w.is_direct(), "a refused O_DIRECT write drops the direct handle");
        assert_eq!(read(dir.path()).unwrap(), WitnessRead::Mark(b"refused".to_vec()));
        w.write(b"buffered").unwrap();
        assert_eq!(read(dir.path()).unwrap(), WitnessRead::Mark(b"buffered".to_vec()));
        let bytes = std::fs::read(dir.path().join(WITNESS_FILE)).unwrap();
        assert_eq!(parse_slot(&bytes[BLOCK..], MAGIC, SLOT), Some((3, b"buffered".to_vec())));
        assert_eq!(parse_slot(&bytes, MAGIC, SLOT), Some((2, b"refused".to_vec())));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// One flipped bit anywhere in the file: the reader returns the newest mark, or the one
        /// before it when the flip lies in the newest slot; never another, never a panic.
        #[test]
        fn one_flipped_bit_leaves_the_newest_mark_or_the_one_before(
            payloads in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 1..64), 1..6),
            at in 0..FILE_LEN,
            bit in 0..8u8,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let w = WitnessFile::open(dir.path()).unwrap();
            for p in &payloads {
                w.write(p).unwrap();
            }
            let mut bytes = std::fs::read(dir.path().join(WITNESS_FILE)).unwrap();
            bytes[at] ^= 1 << bit;
            std::fs::write(dir.path().join(WITNESS_FILE), &bytes).unwrap();
            let n = payloads.len();
            let last = WitnessRead::Mark(payloads[n - 1].clone());
            let before = if n >= 2 { WitnessRead::Mark(payloads[n - 2].clone()) } else { WitnessRead::Missing };
            let newest_slot = (n % 2) * BLOCK..(n % 2) * BLOCK + SLOT;
            let got = read(dir.path()).unwrap();
            if newest_slot.contains(&at) {
                proptest::prop_assert_eq!(got, before);
            } else {
                proptest::prop_assert_eq!(got, last);
            }
        }
    }

    /// A slot of the first layout.
    fn slot_1(counter: u64, payload: &[u8]) -> Vec<u8> {
        let mut s = vec![0u8; SLOT_1];
        fill_slot(&mut s, MAGIC_1, counter, payload);
        s
    }

    #[test]
    fn a_witness_of_the_first_layout_is_read_and_converted_without_a_window() {
        for (newest_counter, direct) in [(4u64, true), (5, true), (4, false), (5, false)] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(WITNESS_FILE);
            // Counter c lives in slot c % 2 of the first layout.
            let (older, newer) = (slot_1(newest_counter - 1, b"older"), slot_1(newest_counter, b"newer"));
            let old = if newest_counter % 2 == 0 { [newer, older].concat() } else { [older, newer].concat() };
            std::fs::write(&path, &old).unwrap();
            assert_eq!(read(dir.path()).unwrap(), WitnessRead::Mark(b"newer".to_vec()));
            let w = WitnessFile::open_with(dir.path(), direct).unwrap();
            // Opening copied the newest mark to slot 1 and left the old slots as they were.
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(bytes.len(), FILE_LEN);
            assert_eq!(&bytes[..2 * SLOT_1], &old[..]);
            assert_eq!(parse_slot(&bytes[BLOCK..], MAGIC, SLOT), Some((newest_counter | 1, b"newer".to_vec())));
            assert_eq!(read(dir.path()).unwrap(), WitnessRead::Mark(b"newer".to_vec()));
            // The first write goes to slot 0, over the old slots; torn, the copy still holds.
            w.write(b"next").unwrap();
            assert_eq!(read(dir.path()).unwrap(), WitnessRead::Mark(b"next".to_vec()));
            flip(dir.path(), 300);
            assert_eq!(read(dir.path()).unwrap(), WitnessRead::Mark(b"newer".to_vec()));
        }
    }
}
