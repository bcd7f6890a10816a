//! Copying a store to another embedded engine (`medvault migrate --to redb`).
//!
//! The source is opened (which checks its witness) and held exclusively by its engine's lock,
//! so nothing changes during the copy. Every pair of every keyspace is copied in batches, the
//! copy is flushed, compared pair by pair with the source, given a witness of its own, and its
//! audit log verified, before the report is returned. The source is never modified: switching
//! to the copy is the operator's decision.

use crate::audit::log::encode_mark;
use crate::audit::verify;
use crate::error::{Error, Fault, IntegrityError, Object, Result};
use crate::model::InvalidInput;
use crate::storage::witness::WitnessFile;
use crate::storage::{Engine, Order, Space, engine};
use crate::store::Store;
use std::path::{Path, PathBuf};

/// What a migration did.
#[derive(Clone, Debug, serde::Serialize)]
#[non_exhaustive]
pub struct MigrationReport {
    /// Engine of the source.
    pub from: Engine,
    /// Engine of the copy.
    pub to: Engine,
    /// Records copied (and compared).
    pub records: u64,
    /// Audit events in the copy (verified).
    pub events: u64,
    /// Folder of the copy.
    pub dir: PathBuf,
}

impl serde::Serialize for Engine {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Copies the store in `src` to a new store in `dst` on engine `to`, and verifies the copy.
pub fn migrate(src: &Path, dst: &Path, to: Engine) -> Result<MigrationReport> {
    let store = Store::open(src)?;
    let from = store.engine().ok_or(InvalidInput::Rule("only embedded stores can be migrated"))?;
    if from == to {
        return Err(InvalidInput::Rule("the store already uses this engine").into());
    }
    if engine::detect(dst)?.is_some() {
        return Err(Error::store_exists(dst.to_path_buf()));
    }
    let source = store.inner.backend.clone();
    let copy = engine::create(dst, to)?;
    let records = crate::storage::copy_all(source.as_ref(), copy.as_ref())?;
    copy.flush()?;
    // Compare both ways, page by page.
    for space in Space::ALL {
        let mut lo: Vec<u8> = Vec::new();
        loop {
            let rows = crate::storage::page_rows(space);
            let a = source.range(space, &lo, None, Order::Ascending, rows)?;
            let b = copy.range(space, &lo, None, Order::Ascending, rows)?;
            if a != b {
                return Err(IntegrityError::new(
                    Object::MigratedCopy,
                    Fault::Broken("the copy differs from the source"),
                )
                .into());
            }
            match a.last() {
                Some((k, _)) if a.len() == rows => {
                    lo = k.clone();
                    lo.push(0);
                }
                _ => break,
            }
        }
    }
    let h = &store.inner.header;
    let report = verify::verify(copy.as_ref(), h, None, &mut |_| {})?;
    if !report.is_ok() {
        let seq = report.first_bad_seq().unwrap_or(0);
        return Err(IntegrityError::new(Object::MigratedCopy, Fault::Broken("the copy's audit log does not verify"))
            .at(seq)
            .into());
    }
    let root = report.root_hash().ok_or(IntegrityError::new(Object::MigratedCopy, Fault::BadLength))?;
    WitnessFile::open(dst)?.write(&encode_mark(h.store, report.size, &root))?;
    tracing::info!(from = %from, to = %to, records, "store migrated");
    Ok(MigrationReport { from, to, records, events: report.size, dir: dst.to_path_buf() })
}
