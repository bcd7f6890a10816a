//! Store URLs and connections: which server, which schema, TLS or not.

use super::{ENGINE, engine_error};
use crate::error::StorageError;
use postgres::Client;
use postgres::config::{Host, SslMode};
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The schema a store lives in when its URL names none.
pub(crate) const DEFAULT_SCHEMA: &str = "medvault";

/// Whether a store location is a server URL rather than a folder.
pub fn is_server_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// A parsed store URL.
pub(super) struct Target {
    config: postgres::Config,
    tls: Option<MakeRustlsConnect>,
    pub(super) schema: String,
    /// The advisory-lock key of this store's writer lease (derived from its schema).
    pub(super) lease_key: i64,
}

fn bad_url(what: &'static str) -> StorageError {
    StorageError::Engine { engine: ENGINE, what, source: None }
}

/// Whether `name` is a schema name medvault accepts: lower-case ASCII letters, digits and `_`,
/// not starting with a digit, at most 63 bytes (PostgreSQL's identifier limit). Such a name
/// needs no quoting.
pub(crate) fn valid_schema(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Target {
    /// Parses `postgres[ql]://user[:password]@host[:port]/database[?param=value&...]`. The
    /// `schema` parameter is medvault's own and is taken out; the others are PostgreSQL's.
    pub(super) fn parse(url: &str) -> Result<Target, StorageError> {
        if !is_server_url(url) {
            return Err(bad_url("a server store URL starts with postgres:// or postgresql://"));
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut schema = DEFAULT_SCHEMA.to_string();
        let mut kept = Vec::new();
        for param in query.split('&').filter(|p| !p.is_empty()) {
            match param.strip_prefix("schema=") {
                Some(s) => schema = s.to_string(),
                None => kept.push(param),
            }
        }
        if !valid_schema(&schema) {
            return Err(bad_url(
                "the schema parameter must be lower-case letters, digits and _, not starting with a digit, at most 63 bytes",
            ));
        }
        let rebuilt = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
        // The parser's error may quote the URL, password included: it is not kept.
        let mut config: postgres::Config =
            rebuilt.parse().map_err(|_| bad_url("the store URL is not a valid PostgreSQL connection URL"))?;
        if config.get_application_name().is_none() {
            config.application_name("medvault");
        }
        config.connect_timeout(Duration::from_secs(10));
        let tls = match config.get_ssl_mode() {
            SslMode::Require => {
                let (connector, _) = MakeRustlsConnect::with_native_certs()
                    .map_err(|_| bad_url("sslmode=require, but no trusted certificate could be loaded"))?;
                Some(connector)
            }
            _ => None,
        };
        let mut h = Sha256::new();
        h.update(b"medvault writer lease\0");
        h.update(config.get_dbname().unwrap_or("").as_bytes());
        h.update(b"\0");
        h.update(schema.as_bytes());
        let digest = h.finalize();
        let mut key = [0u8; 8];
        key.copy_from_slice(&digest[..8]);
        Ok(Target { config, tls, schema, lease_key: i64::from_be_bytes(key) })
    }

    /// A new connection, its `search_path` set to the store's schema and its commits durable.
    pub(super) fn connect(&self) -> Result<Client, StorageError> {
        let mut client = match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(postgres::NoTls),
        }
        .map_err(engine_error("could not connect to the server"))?;
        client
            .batch_execute(&format!("SET search_path TO {}; SET synchronous_commit TO on", self.schema))
            .map_err(engine_error("could not configure the connection"))?;
        Ok(client)
    }

    /// The server, database, user and schema, never the password.
    pub(super) fn describe(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!(
            "postgresql://{}@{host}:{port}/{} (schema {})",
            self.config.get_user().unwrap_or(""),
            self.config.get_dbname().unwrap_or(""),
            self.schema
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_and_the_schema_taken_out() {
        let t = Target::parse("postgres://u:secret@db.example:6543/cabinet?schema=site_a&sslmode=disable").unwrap();
        assert_eq!(t.schema, "site_a");
        let d = t.describe();
        assert_eq!(d, "postgresql://u@db.example:6543/cabinet (schema site_a)");
        assert!(!d.contains("secret"));
        assert_eq!(Target::parse("postgresql://u@h/db").unwrap().schema, DEFAULT_SCHEMA);
    }

    #[test]
    fn bad_urls_and_schemas_are_refused_without_echoing_them() {
        for url in ["/var/lib/store", "postgres://u@h/db?schema=Robert'); DROP", "postgres://u@h/db?schema=1a"] {
            let e = Target::parse(url).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("postgresql"), "{url}: {e}");
            assert!(!e.contains("DROP") && !e.contains("1a") && !e.contains("/var"), "{e}");
        }
        let e = Target::parse("postgres://u:hunter2@h:notaport/db").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(!e.contains("hunter2"), "{e}");
        assert!(!e.is_empty());
        // Different schemas, different leases.
        let a = Target::parse("postgres://u@h/db?schema=a").unwrap();
        let b = Target::parse("postgres://u@h/db?schema=b").unwrap();
        assert_ne!(a.lease_key, b.lease_key);
    }
}
