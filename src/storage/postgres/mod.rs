//! The PostgreSQL backend: one store in one schema of a database that several processes, on
//! several workstations, open at once.
//!
//! The server holds what every other backend holds: ciphertexts, pseudonymous ids, keys of the
//! index keyspaces and the audit log's public metadata. All encryption stays in the library.
//!
//! Layout (docs/format.md §1.2, created by the migrations in [`schema`]):
//! - `medvault_kv(space smallint, k bytea, v bytea, primary key (space, k))`: every keyspace
//!   in one table; `bytea` compares byte by byte, so key order is the other backends' order.
//! - `medvault_sequencer(id = 1, groups bigint)`: one row. Every batch that states an
//!   expectation (the audit log's groups) first bumps `groups` (its `UPDATE` holds the row's
//!   lock until commit), then checks the expectation, then writes: checked batches of every
//!   process are serialized by that row lock, and a batch staged on a stale tree fails
//!   ([`StorageError::Conflict`]) instead of forking the log.
//! - `medvault_schema(version, applied_at)`: the migrations applied.
//!
//! Several processes: the writer lease ([`Backend::lock_writers`]) is a PostgreSQL session-level
//! advisory lock held on a connection of its own, across transactions; a process holds it from
//! the moment it stages an audit event (or takes a record's write lock) until every operation
//! it staged is committed. The lease is what keeps processes from staging on each other's
//! trees; the sequencer check is what makes the log safe even without it.
//!
//! Durability: every `apply` is one transaction committed with `synchronous_commit = on`, so
//! `flush` has nothing left to do.
// Re-exported by the `testing` module only; private otherwise.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub))]

mod conn;
mod connect;
pub(crate) mod schema;
#[cfg(any(test, feature = "testing"))]
pub(crate) mod testdb;

use super::{Backend, Batch, Order, Pair, Space, StorageResult};
use crate::error::StorageError;
use conn::{Conn, Failed};
use connect::Target;
use parking_lot::Mutex;
use postgres::Client;

pub use connect::is_server_url;

const ENGINE: &str = "postgresql";
/// Connections kept open for reads and writes (the lease has one more of its own).
const POOL: usize = 16;
/// Runs of a batch the server rolled back for a serialization failure or a deadlock.
const SERIALIZATION_RETRIES: u64 = 8;

fn engine_error(what: &'static str) -> impl FnOnce(postgres::Error) -> StorageError {
    move |e| StorageError::Engine { engine: ENGINE, what, source: Some(Box::new(e)) }
}

/// A store in a PostgreSQL schema.
pub struct PostgresBackend {
    target: Target,
    pool: Mutex<Vec<Conn>>,
    lease: Mutex<Option<Client>>,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBackend").field("server", &self.target.describe()).finish_non_exhaustive()
    }
}

impl PostgresBackend {
    /// Connects to the store at `url` (`postgres://` or `postgresql://`; an optional `schema`
    /// parameter names the schema, `medvault` by default), creating the schema and its tables,
    /// or migrating them, as needed. TLS: `sslmode=require` (verified against the system's
    /// trust store); `disable` and the default `prefer` connect without TLS.
    pub fn open(url: &str) -> StorageResult<PostgresBackend> {
        let target = Target::parse(url)?;
        let mut client = target.connect()?;
        schema::migrate(&mut client, &target.schema)?;
        Ok(PostgresBackend { target, pool: Mutex::new(vec![Conn::new(client)]), lease: Mutex::new(None) })
    }

    /// The schema this store lives in.
    pub fn schema(&self) -> &str {
        &self.target.schema
    }

    /// The server and schema, without credentials (for messages).
    pub fn describe(&self) -> String {
        self.target.describe()
    }

    /// A pooled connection, or a fresh one if none is free; `true` if it came from the pool
    /// (and may have been closed by the server since it was last used).
    fn checkout(&self) -> StorageResult<(Conn, bool)> {
        match self.pool.lock().pop() {
            Some(c) if !c.is_closed() => Ok((c, true)),
            _ => Ok((Conn::new(self.target.connect()?), false)),
        }
    }

    /// Returns a connection to the pool, unless it failed.
    fn checkin(&self, client: Conn, ok: bool) {
        if ok && !client.is_closed() {
            let mut pool = self.pool.lock();
            if pool.len() < POOL {
                pool.push(client);
            }
        }
    }

    /// Whether `client`, taken from the pool, turned out to be closed by the server (it
    /// restarted, or ended the session): the pool is emptied, since its other connections
    /// are as old, and the caller may retry once on a fresh connection.
    fn was_stale(&self, client: &Conn, pooled: bool) -> bool {
        if pooled && client.is_closed() {
            self.pool.lock().clear();
            return true;
        }
        false
    }

    /// Runs the read `f` on a pooled connection; a read that failed because its pooled
    /// connection was closed meanwhile (a server restart) is retried once on a fresh one.
    fn read<R>(&self, f: impl Fn(&mut Conn) -> StorageResult<R>) -> StorageResult<R> {
        let (mut client, pooled) = self.checkout()?;
        let mut result = f(&mut client);
        if result.is_err() && self.was_stale(&client, pooled) {
            client = Conn::new(self.target.connect()?);
            result = f(&mut client);
        }
        self.checkin(client, result.is_ok());
        result
    }
}

impl Backend for PostgresBackend {
    fn get(&self, space: Space, key: &[u8]) -> StorageResult<Option<Vec<u8>>> {
        self.read(|c| c.get(space, key))
    }

    fn get_many(&self, space: Space, keys: &[&[u8]]) -> StorageResult<Vec<Option<Vec<u8>>>> {
        self.read(|c| c.get_many(space, keys))
    }

    fn range(
        &self,
        space: Space,
        lo: &[u8],
        hi: Option<&[u8]>,
        order: Order,
        limit: usize,
    ) -> StorageResult<Vec<Pair>> {
        self.read(|c| c.range(space, lo, hi, order, limit))
    }

    fn apply(&self, batch: &Batch) -> StorageResult<()> {
        if batch.is_empty() && batch.expectation().is_none() {
            return Ok(());
        }
        let (mut client, pooled) = self.checkout()?;
        // Only a batch whose pooled connection was found closed at `BEGIN` is retried on a new
        // connection: once its statements were sent it may have committed, and its caller is
        // told it failed (it is not acknowledged; the audit log reloads what the server
        // holds). A batch the server rolled back for a serialization failure or a deadlock
        // (SERIALIZABLE engines) is run again, a few times.
        let mut result = client.apply(batch);
        if matches!(result, Err(Failed::ToBegin(_))) && self.was_stale(&client, pooled) {
            client = Conn::new(self.target.connect()?);
            result = client.apply(batch);
        }
        let mut retries = 0;
        while matches!(result, Err(Failed::Serialization(_))) && retries < SERIALIZATION_RETRIES {
            retries += 1;
            std::thread::sleep(std::time::Duration::from_millis(retries * 2));
            result = client.apply(batch);
        }
        self.checkin(client, result.is_ok());
        result.map_err(Failed::into_error)
    }

    fn flush(&self) -> StorageResult<()> {
        // Every apply committed with synchronous_commit = on.
        Ok(())
    }

    fn shared(&self) -> bool {
        true
    }

    fn lock_writers(&self) -> StorageResult<()> {
        let mut slot = self.lease.lock();
        // A lease connection kept from an earlier take may have been closed by the server
        // meanwhile (a restart): one more try on a fresh connection.
        for attempt in 0..2 {
            if slot.as_ref().is_none_or(Client::is_closed) {
                let mut c = self.target.connect()?;
                // A process that holds the lease and hangs must not stop the others forever.
                c.batch_execute("SET lock_timeout = '30s'").map_err(engine_error("could not configure the lease"))?;
                *slot = Some(c);
            }
            let Some(client) = slot.as_mut() else { return Err(StorageError::LeaseTimeout) };
            // The simple query protocol: one round trip (the key is an integer, not text).
            match client.batch_execute(&format!("SELECT pg_advisory_lock({})", self.target.lease_key)) {
                Ok(_) => return Ok(()),
                Err(e) if e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) => {
                    return Err(StorageError::LeaseTimeout);
                }
                Err(e) => {
                    let stale = client.is_closed();
                    *slot = None;
                    if !stale || attempt == 1 {
                        return Err(engine_error("could not take the writer lease")(e));
                    }
                }
            }
        }
        Err(StorageError::LeaseTimeout)
    }

    fn unlock_writers(&self) -> StorageResult<()> {
        let mut slot = self.lease.lock();
        let Some(client) = slot.as_mut() else { return Ok(()) };
        if let Err(e) = client.batch_execute(&format!("SELECT pg_advisory_unlock({})", self.target.lease_key)) {
            // Closing the connection releases the lock on the server.
            *slot = None;
            return Err(engine_error("could not release the writer lease")(e));
        }
        Ok(())
    }

    fn snapshot(&self) -> StorageResult<Option<Box<dyn Backend>>> {
        let mut client = Conn::new(self.target.connect()?);
        client
            .client()
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT 1")
            .map_err(engine_error("could not begin a snapshot"))?;
        Ok(Some(Box::new(Snapshot { client: Mutex::new(client) })))
    }
}

/// A read-only view of a store as of one moment: a `REPEATABLE READ` transaction kept open
/// (its snapshot is taken by the `SELECT 1` that follows `BEGIN`).
struct Snapshot {
    client: Mutex<Conn>,
}

impl Backend for Snapshot {
    fn get(&self, space: Space, key: &[u8]) -> StorageResult<Option<Vec<u8>>> {
        self.client.lock().get(space, key)
    }
    fn get_many(&self, space: Space, keys: &[&[u8]]) -> StorageResult<Vec<Option<Vec<u8>>>> {
        self.client.lock().get_many(space, keys)
    }
    fn range(
        &self,
        space: Space,
        lo: &[u8],
        hi: Option<&[u8]>,
        order: Order,
        limit: usize,
    ) -> StorageResult<Vec<Pair>> {
        self.client.lock().range(space, lo, hi, order, limit)
    }
    fn apply(&self, _: &Batch) -> StorageResult<()> {
        Err(StorageError::Engine { engine: ENGINE, what: "a snapshot is read-only", source: None })
    }
    fn flush(&self) -> StorageResult<()> {
        Ok(())
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let _ = self.client.lock().client().batch_execute("ROLLBACK");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch the server aborts as a deadlock victim (SQLSTATE 40P01: rolled back whole) is
    /// run again and lands; the other transaction goes through too.
    #[test]
    fn a_batch_aborted_as_a_deadlock_victim_is_run_again() {
        let Some(schema) = testdb::TestSchema::new("deadlock") else { return };
        let b = PostgresBackend::open(schema.url()).unwrap();
        let mut seed = Batch::new();
        seed.put(Space::Meta, b"tree".to_vec(), b"t0".to_vec());
        seed.put(Space::Records, b"k1".to_vec(), b"v0".to_vec());
        b.apply(&seed).unwrap();
        // Another client takes the row of k1, the batch below takes the sequencer and waits
        // for k1, then the other client waits for the sequencer: a cycle. The batch has waited
        // longest, so the server's deadlock check (after deadlock_timeout) picks it.
        let mut other = Target::parse(schema.url()).unwrap().connect().unwrap();
        let take_k1 =
            format!("BEGIN; UPDATE medvault_kv SET v = v WHERE space = {} AND k = 'k1'::bytea", Space::Records as i16);
        other.batch_execute(&take_k1).unwrap();
        let landed = std::thread::scope(|s| {
            let batch_thread = s.spawn(|| {
                let mut batch = Batch::new();
                batch.put(Space::Records, b"k1".to_vec(), b"v1".to_vec());
                batch.put(Space::Meta, b"tree".to_vec(), b"t1".to_vec());
                batch.expect(Space::Meta, b"tree".to_vec(), Some(b"t0".to_vec()));
                b.apply(&batch)
            });
            std::thread::sleep(std::time::Duration::from_millis(300));
            other.batch_execute("UPDATE medvault_sequencer SET groups = groups WHERE id = 1; COMMIT").unwrap();
            batch_thread.join().unwrap()
        });
        landed.unwrap();
        assert_eq!(b.get(Space::Meta, b"tree").unwrap(), Some(b"t1".to_vec()));
        assert_eq!(b.get(Space::Records, b"k1").unwrap(), Some(b"v1".to_vec()));
    }
}
