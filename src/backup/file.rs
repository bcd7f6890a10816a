//! The backup file format (docs/format.md §10): writing with a running hash, and a streaming
//! parser that hands each record to its caller and checks the framing, the count and the hash.

use crate::error::{Error, Fault, IntegrityError, Object, Result, StorageError};
use crate::model::{StoreId, Timestamp};
use crate::storage::Space;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};

const MAGIC: &[u8; 8] = b"MVBACKUP";
const FORMAT: u16 = 1;
/// Largest key or value a backup may hold (the engines' own limits are lower).
const MAX_ITEM: u32 = 1 << 30;

const END: u8 = 0;
const PUT: u8 = 1;
const DELETE: u8 = 2;

pub(super) fn io(e: std::io::Error) -> Error {
    Error::Storage(StorageError::from_io(e))
}

pub(super) fn damaged(why: &'static str) -> Error {
    IntegrityError::new(Object::Backup, Fault::Broken(why)).into()
}

/// What a file's header and trailer say.
#[derive(Clone, Debug)]
pub(super) struct FileInfo {
    pub store: StoreId,
    pub taken_at: Timestamp,
    /// The SHA-256 of the backup this one is relative to (`None`: a full backup).
    pub base: Option<[u8; 32]>,
    /// Puts and deletes.
    pub records: u64,
    /// This file's own SHA-256 (its last 32 bytes).
    pub digest: [u8; 32],
}

/// One record of a file.
pub(super) enum Record {
    Put(Space, Vec<u8>, Vec<u8>),
    Delete(Space, Vec<u8>),
}

/// Writes a backup file, hashing as it goes.
pub(super) struct Writer<'a> {
    out: &'a mut dyn Write,
    hash: Sha256,
    records: u64,
}

impl<'a> Writer<'a> {
    pub(super) fn start(
        out: &'a mut dyn Write,
        store: StoreId,
        taken_at: Timestamp,
        base: Option<[u8; 32]>,
    ) -> Result<Writer<'a>> {
        let mut w = Writer { out, hash: Sha256::new(), records: 0 };
        w.raw(MAGIC)?;
        w.raw(&FORMAT.to_le_bytes())?;
        w.raw(&store.0)?;
        w.raw(&taken_at.0.to_le_bytes())?;
        match base {
            None => w.raw(&[0])?,
            Some(d) => {
                w.raw(&[1])?;
                w.raw(&d)?;
            }
        }
        Ok(w)
    }

    fn raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.hash.update(bytes);
        self.out.write_all(bytes).map_err(io)
    }

    pub(super) fn put(&mut self, space: Space, key: &[u8], value: &[u8]) -> Result<()> {
        self.raw(&[PUT, space as u8])?;
        self.raw(&(key.len() as u32).to_le_bytes())?;
        self.raw(key)?;
        self.raw(&(value.len() as u32).to_le_bytes())?;
        self.raw(value)?;
        self.records += 1;
        Ok(())
    }

    pub(super) fn delete(&mut self, space: Space, key: &[u8]) -> Result<()> {
        self.raw(&[DELETE, space as u8])?;
        self.raw(&(key.len() as u32).to_le_bytes())?;
        self.raw(key)?;
        self.records += 1;
        Ok(())
    }

    /// Writes the end marker, the count and the hash; returns (records, hash).
    pub(super) fn finish(mut self) -> Result<(u64, [u8; 32])> {
        self.raw(&[END])?;
        let n = self.records;
        self.raw(&n.to_le_bytes())?;
        let digest: [u8; 32] = self.hash.finalize().into();
        self.out.write_all(&digest).map_err(io)?;
        self.out.flush().map_err(io)?;
        Ok((n, digest))
    }
}

/// Reads exactly `n` bytes, hashing them. The buffer grows with the bytes actually read: a
/// damaged length allocates nothing.
fn take(r: &mut dyn Read, hash: &mut Sha256, n: usize) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(n as u64).read_to_end(&mut buf).map_err(io)?;
    if buf.len() != n {
        return Err(damaged("the backup ends early (truncated)"));
    }
    hash.update(&buf);
    Ok(buf)
}

fn take_array<const N: usize>(r: &mut dyn Read, hash: &mut Sha256) -> Result<[u8; N]> {
    take(r, hash, N)?.try_into().map_err(|_| damaged("the backup ends early (truncated)"))
}

fn take_item(r: &mut dyn Read, hash: &mut Sha256) -> Result<Vec<u8>> {
    let len = u32::from_le_bytes(take_array(r, hash)?);
    if len > MAX_ITEM {
        return Err(damaged("a key or value longer than any store holds"));
    }
    take(r, hash, len as usize)
}

/// Parses a backup file, handing every record to `on` in file order. The hash is checked
/// only at the end: a caller must discard what it built if this fails.
pub(super) fn parse(r: &mut dyn Read, on: &mut dyn FnMut(Record) -> Result<()>) -> Result<FileInfo> {
    let mut hash = Sha256::new();
    if take_array::<8>(r, &mut hash)? != *MAGIC {
        return Err(damaged("not a medvault backup"));
    }
    let format = u16::from_le_bytes(take_array(r, &mut hash)?);
    if format != FORMAT {
        return Err(IntegrityError::new(Object::Backup, Fault::UnsupportedFormat(format.into())).into());
    }
    let store = StoreId(take_array(r, &mut hash)?);
    let taken_at = Timestamp(i64::from_le_bytes(take_array(r, &mut hash)?));
    let base = match take_array::<1>(r, &mut hash)?[0] {
        0 => None,
        1 => Some(take_array::<32>(r, &mut hash)?),
        _ => return Err(damaged("unknown backup kind")),
    };
    let mut records = 0u64;
    loop {
        let tag = take_array::<1>(r, &mut hash)?[0];
        if tag == END {
            break;
        }
        let code = take_array::<1>(r, &mut hash)?[0];
        let space = Space::ALL.into_iter().find(|s| *s as u8 == code).ok_or_else(|| damaged("unknown keyspace"))?;
        let key = take_item(r, &mut hash)?;
        match tag {
            PUT => on(Record::Put(space, key, take_item(r, &mut hash)?))?,
            DELETE if base.is_some() => on(Record::Delete(space, key))?,
            _ => return Err(damaged("unknown record tag")),
        }
        records += 1;
    }
    let announced = u64::from_le_bytes(take_array(r, &mut hash)?);
    let digest: [u8; 32] = hash.finalize().into();
    let mut stored = [0u8; 32];
    r.read_exact(&mut stored).map_err(|_| damaged("the backup ends early (truncated)"))?;
    let mut rest = [0u8; 1];
    if r.read(&mut rest).map_err(io)? != 0 {
        return Err(damaged("bytes follow the backup's hash"));
    }
    if stored != digest {
        return Err(damaged("the backup was modified: its SHA-256 differs from the one it carries"));
    }
    if announced != records {
        return Err(damaged("the backup holds another number of records than it announces"));
    }
    Ok(FileInfo { store, taken_at, base, records, digest })
}
