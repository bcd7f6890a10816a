//! Where a store lives: a folder (embedded engines, one process at a time) or a PostgreSQL URL
//! (a server several processes and workstations share).

use crate::backend::Backend;
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::{RecoveryShare, Store, StoreOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A store's location.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreLocation {
    /// A folder holding an embedded engine's files.
    Folder(PathBuf),
    /// A `postgres://` or `postgresql://` URL (its optional `schema` parameter names the
    /// schema, `medvault` by default).
    Server(String),
}

impl StoreLocation {
    /// A server URL if `text` starts with `postgres://` or `postgresql://`, else a folder.
    pub fn parse(text: impl AsRef<Path>) -> StoreLocation {
        let path = text.as_ref();
        match path.to_str() {
            Some(s) if s.starts_with("postgres://") || s.starts_with("postgresql://") => {
                StoreLocation::Server(s.to_string())
            }
            _ => StoreLocation::Folder(path.to_path_buf()),
        }
    }

    /// Whether the location is a server.
    pub fn is_server(&self) -> bool {
        matches!(self, StoreLocation::Server(_))
    }

    /// The folder, for an embedded store.
    pub fn folder(&self) -> Option<&Path> {
        match self {
            StoreLocation::Folder(p) => Some(p),
            StoreLocation::Server(_) => None,
        }
    }

    /// Connects to the server's store (creating its schema if needed).
    pub(crate) fn server_backend(url: &str) -> Result<Arc<dyn Backend>> {
        #[cfg(feature = "postgres")]
        {
            Ok(Arc::new(crate::backend::PostgresBackend::open(url)?))
        }
        #[cfg(not(feature = "postgres"))]
        {
            let _ = url;
            Err(crate::error::StorageError::Engine {
                engine: "postgresql",
                what: "this medvault was built without the postgres feature",
                source: None,
            }
            .into())
        }
    }
}

/// Shows a server URL without its password.
impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Folder(p) => write!(f, "{}", p.display()),
            StoreLocation::Server(url) => f.write_str(&redact(url)),
        }
    }
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreLocation({self})")
    }
}

/// `scheme://user:password@rest` → `scheme://user:***@rest`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (auth, host) = match rest.split_once('@') {
        Some(parts) => parts,
        None => return url.to_string(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

impl Store {
    /// Creates a store at `location` (a folder on `options.engine`, or a server schema) with
    /// its first administrator; see [`Store::create`].
    pub fn create_at(
        location: &StoreLocation,
        admin: &str,
        passphrase: &[u8],
        options: StoreOptions,
    ) -> Result<(Store, Vec<RecoveryShare>)> {
        match location {
            StoreLocation::Folder(dir) => Store::create(dir, admin, passphrase, options),
            StoreLocation::Server(url) => {
                if options.anchor_dir.is_some() {
                    return Err(Error::Invalid(crate::model::InvalidInput::Rule(
                        "an anchor folder is set on embedded stores only; give the anchor folder to `audit checkpoint --anchor-dir` instead",
                    )));
                }
                Store::create_with_backend(StoreLocation::server_backend(url)?, admin, passphrase, options)
            }
        }
    }

    /// Opens the store at `location`; see [`Store::open`].
    pub fn open_at(location: &StoreLocation) -> Result<Store> {
        match location {
            StoreLocation::Folder(dir) => Store::open(dir),
            StoreLocation::Server(url) => {
                let clock: Arc<dyn Clock> = Arc::new(SystemClock);
                Store::open_with_backend(StoreLocation::server_backend(url)?, clock)
            }
        }
    }

    /// Opens the store at `location` for a full verification; see
    /// [`Store::open_for_verification`] (a server store has no witness file).
    pub fn open_for_verification_at(location: &StoreLocation) -> Result<Store> {
        match location {
            StoreLocation::Folder(dir) => Store::open_for_verification(dir),
            StoreLocation::Server(_) => Store::open_at(location),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_told_apart_and_passwords_never_shown() {
        let s = StoreLocation::parse("postgres://medvault:s3cret@db:5432/cabinet?schema=a");
        assert!(s.is_server());
        assert_eq!(s.to_string(), "postgres://medvault:***@db:5432/cabinet?schema=a");
        assert!(!format!("{s:?}").contains("s3cret"));
        let f = StoreLocation::parse("/var/lib/medvault/cabinet");
        assert_eq!(f.folder(), Some(Path::new("/var/lib/medvault/cabinet")));
        assert_eq!(StoreLocation::parse("postgresql://h/db").to_string(), "postgresql://h/db");
    }
}
