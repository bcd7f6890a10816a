//! Files that hold exported plaintext (patient copies, bulk exports, audit extracts, reports).
//!
//! Invariants: such a file is created readable by its owner only (mode 0600 on Unix), never
//! through a symbolic link, and never over an existing file unless the caller asks. Replacing
//! writes a new owner-only file beside the target and renames it over the target when complete,
//! so an existing file's (possibly wider) permissions are not inherited, a symbolic link at the
//! target is replaced rather than followed, and a failure leaves the old file whole.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// An exported file being written. [`PrivateFile::finish`] makes it complete; dropped
/// unfinished, a replacement is discarded and the old file stays.
pub struct PrivateFile {
    file: Option<std::io::BufWriter<File>>,
    /// Where the content is written (the target itself, or a new file beside it).
    written: PathBuf,
    /// The target, when `written` is a temporary file to rename over it.
    target: Option<PathBuf>,
}

fn create_new(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    // `create_new` is O_CREAT | O_EXCL: it fails on any existing path, a symbolic link
    // (even dangling) included, so it never writes through one.
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

impl PrivateFile {
    /// Creates `path`; with `replace`, an existing file there is replaced once this one is
    /// finished. Without it, an existing path is an [`Error::Output`] of kind `AlreadyExists`.
    pub fn create(path: &Path, replace: bool) -> Result<PrivateFile> {
        match create_new(path) {
            Ok(f) => {
                Ok(PrivateFile { file: Some(std::io::BufWriter::new(f)), written: path.to_path_buf(), target: None })
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && replace => {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let suffix = hex::encode(crate::model::random_bytes::<8>());
                let temp = path.with_file_name(format!(".{name}.{suffix}.tmp"));
                let f = create_new(&temp).map_err(Error::Output)?;
                Ok(PrivateFile {
                    file: Some(std::io::BufWriter::new(f)),
                    written: temp,
                    target: Some(path.to_path_buf()),
                })
            }
            Err(e) => Err(Error::Output(e)),
        }
    }

    /// Abandons the file: what was written is removed (a file it was to replace stays).
    pub fn discard(mut self) {
        self.file = None;
        let _ = std::fs::remove_file(&self.written);
        self.target = None;
    }

    /// Flushes and syncs the file and, when it replaces another, renames it over that one.
    pub fn finish(mut self) -> Result<()> {
        if let Some(w) = self.file.take() {
            let f = w.into_inner().map_err(|e| Error::Output(e.into_error()))?;
            f.sync_all().map_err(Error::Output)?;
        }
        if let Some(target) = self.target.take() {
            std::fs::rename(&self.written, &target).map_err(Error::Output)?;
        }
        Ok(())
    }
}

impl Write for PrivateFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.file {
            Some(w) => w.write(buf),
            None => Err(std::io::Error::other("file already finished")),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for PrivateFile {
    fn drop(&mut self) {
        // An unfinished replacement is discarded; the old file stays as it was.
        if self.target.is_some() {
            self.file = None;
            let _ = std::fs::remove_file(&self.written);
        }
    }
}

/// Writes `bytes` to a new owner-only file at `path` (see [`PrivateFile::create`]).
pub fn write_private(path: &Path, bytes: &[u8], replace: bool) -> Result<()> {
    let mut f = PrivateFile::create(path, replace)?;
    f.write_all(bytes).map_err(Error::Output)?;
    f.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_only_never_over_a_file_never_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("copie.html");
        write_private(&path, b"one", false).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let err = write_private(&path, b"two", false).unwrap_err();
        assert!(matches!(&err, Error::Output(e) if e.kind() == std::io::ErrorKind::AlreadyExists), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        // Replacing: the new content, owner-only even if the old file was world-readable.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        write_private(&path, b"two", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            // A symbolic link at the target is not followed, with or without replace.
            let victim = dir.path().join("victim");
            std::fs::write(&victim, b"untouched").unwrap();
            let link = dir.path().join("link.json");
            std::os::unix::fs::symlink(&victim, &link).unwrap();
            assert!(write_private(&link, b"x", false).is_err());
            write_private(&link, b"x", true).unwrap();
            assert_eq!(std::fs::read(&victim).unwrap(), b"untouched");
            assert!(!std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        }
        // An unfinished replacement leaves the old file and no temporary file behind.
        let mut f = PrivateFile::create(&path, true).unwrap();
        f.write_all(b"partial").unwrap();
        drop(f);
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }
}
