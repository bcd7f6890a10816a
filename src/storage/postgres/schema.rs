//! Versioned migrations of a store's schema.
//!
//! Each migration runs once, in order, the missing ones in one transaction; `medvault_schema` records the
//! versions applied. A process that finds a newer version than it knows refuses the store
//! rather than guess. Concurrent openers wait for each other on a transaction-level advisory
//! lock (PostgreSQL-specific; an engine without one would use a lock row in a table created
//! beforehand).

use super::{ENGINE, engine_error};
use crate::error::StorageError;
use postgres::Client;

/// The migrations, in order: version `i + 1` is `MIGRATIONS[i]`. Never edit one that shipped;
/// add the next.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: every keyspace in one table, the sequencer row.
    "CREATE TABLE medvault_kv (
         space smallint NOT NULL,
         k bytea NOT NULL,
         v bytea NOT NULL,
         PRIMARY KEY (space, k)
     );
     CREATE TABLE medvault_sequencer (
         id smallint PRIMARY KEY CHECK (id = 1),
         groups bigint NOT NULL
     );
     INSERT INTO medvault_sequencer (id, groups) VALUES (1, 0);",
];

/// Creates the schema and applies every migration it lacks.
pub(crate) fn migrate(client: &mut Client, schema: &str) -> Result<(), StorageError> {
    let mut tx = client.transaction().map_err(engine_error("could not begin the migration"))?;
    // One migrator at a time per database (the key is medvault's, constant).
    tx.batch_execute(&format!(
        "SELECT pg_advisory_xact_lock(7306086164545381427);
         CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS medvault_schema (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .map_err(engine_error("could not create the schema"))?;
    let current: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM medvault_schema", &[])
        .map_err(engine_error("could not read the schema version"))?
        .get(0);
    let known = MIGRATIONS.len() as i32;
    if current > known {
        return Err(StorageError::Engine {
            engine: ENGINE,
            what: "the database schema is newer than this medvault: upgrade medvault",
            source: None,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        let version = i as i32 + 1;
        tx.batch_execute(sql).map_err(engine_error("a migration failed"))?;
        tx.execute("INSERT INTO medvault_schema (version) VALUES ($1)", &[&version])
            .map_err(engine_error("could not record a migration"))?;
        tracing::info!(version, "store schema migrated");
    }
    tx.commit().map_err(engine_error("could not commit the migration"))
}
