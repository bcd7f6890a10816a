//! Anchors kept outside the store: signed checkpoints written to a folder the store's host
//! should not be able to rewrite (other media, a mounted archive). A local witness catches an
//! engine that loses its newest commits; only an anchor kept elsewhere catches someone who
//! replaces the store *and* its witness with an older copy.
//!
//! Layout: `<anchor dir>/<store id>/checkpoint-<size, 20 digits>.json` (the JSON of
//! [`Checkpoint::to_json`]), written to a temporary name, fsynced, renamed, and the folder
//! fsynced. Files are never rewritten; the newest is the one with the largest size.

use super::checkpoint::Checkpoint;
use crate::error::{Error, Result, StorageError};
use crate::model::StoreId;
use std::io::Write;
use std::path::{Path, PathBuf};

fn folder(anchor_dir: &Path, store: StoreId) -> PathBuf {
    anchor_dir.join(store.to_string())
}

/// Writes `cp` as a new anchor file; returns its path.
pub(crate) fn export(anchor_dir: &Path, cp: &Checkpoint) -> Result<PathBuf> {
    let dir = folder(anchor_dir, cp.head.store);
    crate::storage::engine::create_dir_durably(&dir)?;
    let path = dir.join(format!("checkpoint-{:020}.json", cp.head.size));
    if path.exists() {
        return Ok(path);
    }
    let tmp = dir.join(format!(".checkpoint-{:020}.tmp", cp.head.size));
    let io = |e| Error::Storage(StorageError::from_io(e));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(cp.to_json().as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    crate::storage::engine::fsync_dir(&dir)?;
    Ok(path)
}

/// Every anchor of `store` in `anchor_dir` that parses, in no particular order.
pub(crate) fn list(anchor_dir: &Path, store: StoreId) -> Result<Vec<Checkpoint>> {
    let Ok(entries) = std::fs::read_dir(folder(anchor_dir, store)) else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("checkpoint-") && name.ends_with(".json") {
            let text = std::fs::read_to_string(e.path()).map_err(|e| Error::Storage(StorageError::from_io(e)))?;
            if let Ok(cp) = Checkpoint::from_json(&text) {
                out.push(cp);
            }
        }
    }
    Ok(out)
}

/// The newest anchor of `store` in `anchor_dir` (`None`: none yet).
pub(crate) fn latest(anchor_dir: &Path, store: StoreId) -> Result<Option<Checkpoint>> {
    let dir = folder(anchor_dir, store);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(None) };
    let newest = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let size = name.strip_prefix("checkpoint-")?.strip_suffix(".json")?.parse::<u64>().ok()?;
            Some((size, e.path()))
        })
        .max_by_key(|(size, _)| *size);
    let Some((_, path)) = newest else { return Ok(None) };
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Storage(StorageError::from_io(e)))?;
    Checkpoint::from_json(&text).map(Some)
}

/// Moves the anchors of `store` that `keep` refuses into the subfolder `superseded-<label>`
/// (kept, not deleted: they record the log as it was before a forced restore). Returns how
/// many were moved.
pub(crate) fn set_aside(
    anchor_dir: &Path,
    store: StoreId,
    label: &str,
    keep: impl Fn(&Checkpoint) -> bool,
) -> Result<usize> {
    let dir = folder(anchor_dir, store);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(0) };
    let io = |e| Error::Storage(StorageError::from_io(e));
    let aside = dir.join(format!("superseded-{label}"));
    let mut moved = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("checkpoint-") && name.ends_with(".json")) {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).map_err(io)?;
        if Checkpoint::from_json(&text).is_ok_and(|cp| keep(&cp)) {
            continue;
        }
        crate::storage::engine::create_dir_durably(&aside)?;
        std::fs::rename(e.path(), aside.join(&name)).map_err(io)?;
        moved += 1;
    }
    if moved > 0 {
        crate::storage::engine::fsync_dir(&dir)?;
    }
    Ok(moved)
}
