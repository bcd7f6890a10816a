//! Embedded engines on disk: which engine a store folder holds, how it is opened, and the
//! file-system chores every engine needs (directory fsyncs, the owner file, panics caught at the
//! boundary).
//!
//! A store folder holds a descriptor `MEDVAULT` (text: `medvault store`, `engine: redb|sled`),
//! written and fsynced before the engine's files. Stores of the first release (sled, no
//! descriptor) are recognised by sled's `conf` and `db` files.
// Re-exported by the `testing` module only; private otherwise.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub))]

use super::{Backend, RedbBackend, SledBackend, StorageResult};
use crate::error::StorageError;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Name of the descriptor file in a store folder.
pub(crate) const DESCRIPTOR: &str = "MEDVAULT";
/// Name of the file naming the process that has the store open.
pub(crate) const OWNER: &str = "medvault.owner";

/// The embedded storage engines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Engine {
    /// redb: copy-on-write B-trees, checksummed commits, one fsync per durable commit. The
    /// default for new stores.
    #[default]
    Redb,
    /// sled 0.34: the first release's engine, still supported.
    Sled,
}

impl Engine {
    /// Stable name (`redb`, `sled`).
    pub fn name(self) -> &'static str {
        match self {
            Engine::Redb => "redb",
            Engine::Sled => "sled",
        }
    }
    /// Parses a name.
    pub fn parse(s: &str) -> Option<Engine> {
        match s {
            "redb" => Some(Engine::Redb),
            "sled" => Some(Engine::Sled),
            _ => None,
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The anchor folder named by the store's descriptor (`anchor-dir: PATH`), if any.
pub(crate) fn anchor_dir(dir: &Path) -> Option<PathBuf> {
    let text = fs::read_to_string(dir.join(DESCRIPTOR)).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("anchor-dir:"))
        .map(|p| PathBuf::from(p.trim()))
        .filter(|p| !p.as_os_str().is_empty())
}

/// Sets (or, with `None`, removes) the anchor folder in the store's descriptor, atomically.
pub(crate) fn set_anchor_dir(dir: &Path, anchor: Option<&Path>) -> StorageResult<()> {
    let engine = detect(dir)?.ok_or(StorageError::Engine {
        engine: "medvault",
        what: "no store in this folder",
        source: None,
    })?;
    write_descriptor(dir, engine, anchor)
}

fn write_descriptor(dir: &Path, engine: Engine, anchor: Option<&Path>) -> StorageResult<()> {
    let tmp = dir.join(format!("{DESCRIPTOR}.tmp"));
    {
        let mut f = File::create(&tmp).map_err(StorageError::from_io)?;
        write!(f, "medvault store\nengine: {}\n", engine.name()).map_err(StorageError::from_io)?;
        if let Some(a) = anchor {
            writeln!(f, "anchor-dir: {}", a.display()).map_err(StorageError::from_io)?;
        }
        f.sync_all().map_err(StorageError::from_io)?;
    }
    fs::rename(&tmp, dir.join(DESCRIPTOR)).map_err(StorageError::from_io)?;
    fsync_dir(dir)
}

/// Which engine the store folder `dir` holds (`None`: no store there).
pub fn detect(dir: &Path) -> StorageResult<Option<Engine>> {
    match fs::read_to_string(dir.join(DESCRIPTOR)) {
        Ok(text) => {
            let engine =
                text.lines().find_map(|l| l.strip_prefix("engine:")).and_then(|e| Engine::parse(e.trim())).ok_or(
                    StorageError::Corrupted { engine: "medvault", what: "the store descriptor names no known engine" },
                )?;
            Ok(Some(engine))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if dir.join("conf").exists() || dir.join("db").exists() {
                Ok(Some(Engine::Sled))
            } else if dir.join(super::redb_backend::FILE).exists() {
                Ok(Some(Engine::Redb))
            } else {
                Ok(None)
            }
        }
        Err(e) => Err(StorageError::from_io(e)),
    }
}

/// Creates the folder (and its missing parents, each made durable in its own parent), writes
/// the descriptor, and opens a new, empty engine there.
pub(crate) fn create(dir: &Path, engine: Engine) -> StorageResult<Arc<dyn Backend>> {
    if detect(dir)?.is_some() {
        return Err(StorageError::Engine {
            engine: "medvault",
            what: "a store already exists in this folder",
            source: None,
        });
    }
    create_dir_durably(dir)?;
    if engine == Engine::Redb {
        // Created here, and only here: opening an existing store never creates its file.
        RedbBackend::create_file(dir)?;
    }
    write_descriptor(dir, engine, None)?;
    Ok(match engine {
        Engine::Redb => Arc::new(RedbBackend::open(dir)?),
        // sled creates its files at first open (and `SledBackend::open` fsyncs them).
        Engine::Sled => Arc::new(SledBackend::open(dir)?),
    })
}

/// Opens the store folder `dir` with the engine it holds.
pub fn open(dir: &Path) -> StorageResult<Option<(Engine, Arc<dyn Backend>)>> {
    match detect(dir)? {
        Some(engine) => Ok(Some((engine, open_engine(dir, engine)?))),
        None => Ok(None),
    }
}

fn open_engine(dir: &Path, engine: Engine) -> StorageResult<Arc<dyn Backend>> {
    let data = match engine {
        Engine::Redb => dir.join(super::redb_backend::FILE),
        Engine::Sled => dir.join("db"),
    };
    if !data.exists() {
        return Err(StorageError::Corrupted { engine: engine.name(), what: "the engine's data file is missing" });
    }
    Ok(match engine {
        Engine::Redb => Arc::new(RedbBackend::open(dir)?),
        Engine::Sled => Arc::new(SledBackend::open(dir)?),
    })
}

/// `mkdir -p`, then fsync of each created folder's parent, so that an acknowledged `init`
/// survives a power cut.
pub(crate) fn create_dir_durably(dir: &Path) -> StorageResult<()> {
    let mut missing: Vec<PathBuf> = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.as_os_str().is_empty() || d.exists() {
            break;
        }
        missing.push(d.to_path_buf());
        cur = d.parent();
    }
    fs::create_dir_all(dir).map_err(StorageError::from_io)?;
    for d in missing.iter().rev() {
        if let Some(parent) = d.parent().filter(|p| !p.as_os_str().is_empty()) {
            fsync_dir(parent)?;
        }
    }
    Ok(())
}

/// Opens the file `name` in `dir` for reading and writing, creating it if missing, and reads it
/// whole: (the file, its bytes, whether it was created). The caller makes a creation durable.
pub(crate) fn open_side_file(dir: &Path, name: &str) -> StorageResult<(File, Vec<u8>, bool)> {
    let path = dir.join(name);
    let created = !path.exists();
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(StorageError::from_io)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bytes).map_err(StorageError::from_io)?;
    Ok((file, bytes, created))
}

/// fsync of a folder (makes created, renamed and removed names durable).
pub(crate) fn fsync_dir(dir: &Path) -> StorageResult<()> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(StorageError::from_io)
}

/// Records this process as the store's holder (best effort: the engine's lock is the real
/// exclusion; this file only names the holder in [`StorageError::StoreBusy`]).
pub(crate) fn write_owner(dir: &Path) {
    let host = fs::read_to_string("/etc/hostname").unwrap_or_default();
    let _ = fs::write(dir.join(OWNER), format!("pid {} on {}\n", std::process::id(), host.trim()));
}

/// The process id named by the owner file, if any.
pub(crate) fn read_owner(dir: &Path) -> Option<u32> {
    let text = fs::read_to_string(dir.join(OWNER)).ok()?;
    text.lines().next()?.strip_prefix("pid ")?.split_whitespace().next()?.parse().ok()
}

/// Runs an engine call, turning a panic inside the engine into [`StorageError::Corrupted`]:
/// engines panic on some damaged files, and damaged bytes must never take the process down.
pub(crate) fn guarded<T>(engine: &'static str, f: impl FnOnce() -> StorageResult<T>) -> StorageResult<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            tracing::error!(engine, "the storage engine panicked on its own files");
            Err(StorageError::Corrupted { engine, what: "the engine failed on its own files (caught panic)" })
        }
    }
}
