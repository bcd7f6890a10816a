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
//!   expectation (the audit log's groups) locks it `FOR UPDATE` first, then checks the
//!   expectation, then writes and bumps `groups`: checked batches of every process are
//!   serialized by that row lock, and a batch staged on a stale tree fails ([`StorageError::Conflict`])
//!   instead of forking the log.
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

mod connect;
pub(crate) mod schema;
#[cfg(any(test, feature = "testing"))]
pub(crate) mod testdb;

use super::{Backend, Batch, Op, Order, Pair, Space, StorageResult};
use crate::error::StorageError;
use connect::Target;
use parking_lot::Mutex;
use postgres::Client;
use std::collections::BTreeMap;

pub use connect::is_server_url;

const ENGINE: &str = "postgresql";
/// Connections kept open for reads and writes (the lease has one more of its own).
const POOL: usize = 4;

fn engine_error(what: &'static str) -> impl FnOnce(postgres::Error) -> StorageError {
    move |e| StorageError::Engine { engine: ENGINE, what, source: Some(Box::new(e)) }
}

/// A store in a PostgreSQL schema.
pub struct PostgresBackend {
    target: Target,
    pool: Mutex<Vec<Client>>,
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
        Ok(PostgresBackend { target, pool: Mutex::new(vec![client]), lease: Mutex::new(None) })
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
    fn checkout(&self) -> StorageResult<(Client, bool)> {
        match self.pool.lock().pop() {
            Some(c) if !c.is_closed() => Ok((c, true)),
            _ => Ok((self.target.connect()?, false)),
        }
    }

    /// Returns a connection to the pool, unless it failed.
    fn checkin(&self, client: Client, ok: bool) {
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
    fn was_stale(&self, client: &Client, pooled: bool) -> bool {
        if pooled && client.is_closed() {
            self.pool.lock().clear();
            return true;
        }
        false
    }

    /// Runs the read `f` on a pooled connection; a read that failed because its pooled
    /// connection was closed meanwhile (a server restart) is retried once on a fresh one.
    fn read<R>(&self, f: impl Fn(&mut Client) -> StorageResult<R>) -> StorageResult<R> {
        let (mut client, pooled) = self.checkout()?;
        let mut result = f(&mut client);
        if result.is_err() && self.was_stale(&client, pooled) {
            client = self.target.connect()?;
            result = f(&mut client);
        }
        self.checkin(client, result.is_ok());
        result
    }

    fn get_on(client: &mut Client, space: Space, key: &[u8]) -> StorageResult<Option<Vec<u8>>> {
        let row = client
            .query_opt("SELECT v FROM medvault_kv WHERE space = $1 AND k = $2", &[&(space as i16), &key])
            .map_err(engine_error("read failed"))?;
        Ok(row.map(|r| r.get(0)))
    }

    fn range_on(
        client: &mut Client,
        space: Space,
        lo: &[u8],
        hi: Option<&[u8]>,
        order: Order,
        limit: usize,
    ) -> StorageResult<Vec<Pair>> {
        if limit == 0 || hi.is_some_and(|h| h <= lo) {
            return Ok(Vec::new());
        }
        let dir = match order {
            Order::Ascending => "ASC",
            Order::Descending => "DESC",
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let space = space as i16;
        let rows = match hi {
            Some(hi) => client.query(
                &format!(
                    "SELECT k, v FROM medvault_kv WHERE space = $1 AND k >= $2 AND k < $3 ORDER BY k {dir} LIMIT $4"
                ),
                &[&space, &lo, &hi, &limit],
            ),
            None => client.query(
                &format!("SELECT k, v FROM medvault_kv WHERE space = $1 AND k >= $2 ORDER BY k {dir} LIMIT $3"),
                &[&space, &lo, &limit],
            ),
        }
        .map_err(engine_error("range read failed"))?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

/// The last operation on each key of a batch (the batch's effect; PostgreSQL refuses to touch
/// one row twice in a statement).
fn coalesce(batch: &Batch) -> BTreeMap<(i16, &[u8]), Option<&[u8]>> {
    let mut last = BTreeMap::new();
    for op in batch.ops() {
        match op {
            Op::Put(s, k, v) => last.insert((*s as i16, k.as_slice()), Some(v.as_slice())),
            Op::Delete(s, k) => last.insert((*s as i16, k.as_slice()), None),
        };
    }
    last
}

/// Why a batch failed: before its transaction began (nothing was sent; safe to retry), or after.
enum Failed {
    ToBegin(StorageError),
    After(StorageError),
}

fn apply_on(client: &mut Client, batch: &Batch) -> Result<(), Failed> {
    let mut tx = client.transaction().map_err(|e| Failed::ToBegin(engine_error("could not begin a transaction")(e)))?;
    apply_in(&mut tx, batch).map_err(Failed::After)?;
    tx.commit().map_err(|e| Failed::After(engine_error("commit failed")(e)))
}

fn apply_in(tx: &mut postgres::Transaction<'_>, batch: &Batch) -> StorageResult<()> {
    if let Some(expect) = batch.expectation() {
        // The sequencer row first: every checked batch of every process waits here for the
        // one before it to commit, so the value read next is the latest committed one.
        tx.execute("SELECT groups FROM medvault_sequencer WHERE id = 1 FOR UPDATE", &[])
            .map_err(engine_error("could not lock the sequencer"))?;
        let found: Option<Vec<u8>> = tx
            .query_opt("SELECT v FROM medvault_kv WHERE space = $1 AND k = $2", &[&(expect.space as i16), &expect.key])
            .map_err(engine_error("read failed"))?
            .map(|r| r.get(0));
        if found != expect.value {
            // Dropping the transaction rolls it back.
            return Err(StorageError::Conflict);
        }
        tx.execute("UPDATE medvault_sequencer SET groups = groups + 1 WHERE id = 1", &[])
            .map_err(engine_error("could not advance the sequencer"))?;
    }
    let ops = coalesce(batch);
    let (mut del_s, mut del_k, mut put_s, mut put_k, mut put_v) = (vec![], vec![], vec![], vec![], vec![]);
    for ((s, k), v) in ops {
        match v {
            Some(v) => {
                put_s.push(s);
                put_k.push(k);
                put_v.push(v);
            }
            None => {
                del_s.push(s);
                del_k.push(k);
            }
        }
    }
    if !del_s.is_empty() {
        tx.execute(
            "DELETE FROM medvault_kv t USING unnest($1::smallint[], $2::bytea[]) AS d(space, k) \
             WHERE t.space = d.space AND t.k = d.k",
            &[&del_s, &del_k],
        )
        .map_err(engine_error("delete failed"))?;
    }
    if !put_s.is_empty() {
        tx.execute(
            "INSERT INTO medvault_kv (space, k, v) SELECT * FROM unnest($1::smallint[], $2::bytea[], $3::bytea[]) \
             ON CONFLICT (space, k) DO UPDATE SET v = EXCLUDED.v",
            &[&put_s, &put_k, &put_v],
        )
        .map_err(engine_error("write failed"))?;
    }
    Ok(())
}

impl Backend for PostgresBackend {
    fn get(&self, space: Space, key: &[u8]) -> StorageResult<Option<Vec<u8>>> {
        self.read(|c| Self::get_on(c, space, key))
    }

    fn range(
        &self,
        space: Space,
        lo: &[u8],
        hi: Option<&[u8]>,
        order: Order,
        limit: usize,
    ) -> StorageResult<Vec<Pair>> {
        self.read(|c| Self::range_on(c, space, lo, hi, order, limit))
    }

    fn apply(&self, batch: &Batch) -> StorageResult<()> {
        if batch.is_empty() && batch.expectation().is_none() {
            return Ok(());
        }
        let (mut client, pooled) = self.checkout()?;
        // Only a batch whose pooled connection was found closed at `BEGIN` is retried: once
        // its statements were sent it may have committed, and its caller is told it failed
        // (it is not acknowledged; the audit log reloads what the server holds).
        let mut result = apply_on(&mut client, batch);
        if matches!(result, Err(Failed::ToBegin(_))) && self.was_stale(&client, pooled) {
            client = self.target.connect()?;
            result = apply_on(&mut client, batch);
        }
        self.checkin(client, result.is_ok());
        result.map_err(|(Failed::ToBegin(e) | Failed::After(e))| e)
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
            match client.execute("SELECT pg_advisory_lock($1)", &[&self.target.lease_key]) {
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
        if let Err(e) = client.execute("SELECT pg_advisory_unlock($1)", &[&self.target.lease_key]) {
            // Closing the connection releases the lock on the server.
            *slot = None;
            return Err(engine_error("could not release the writer lease")(e));
        }
        Ok(())
    }

    fn snapshot(&self) -> StorageResult<Option<Box<dyn Backend>>> {
        let mut client = self.target.connect()?;
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT 1")
            .map_err(engine_error("could not begin a snapshot"))?;
        Ok(Some(Box::new(Snapshot { client: Mutex::new(client) })))
    }
}

/// A read-only view of a store as of one moment: a `REPEATABLE READ` transaction kept open
/// (its snapshot is taken by the `SELECT 1` that follows `BEGIN`).
struct Snapshot {
    client: Mutex<Client>,
}

impl Backend for Snapshot {
    fn get(&self, space: Space, key: &[u8]) -> StorageResult<Option<Vec<u8>>> {
        PostgresBackend::get_on(&mut self.client.lock(), space, key)
    }
    fn range(
        &self,
        space: Space,
        lo: &[u8],
        hi: Option<&[u8]>,
        order: Order,
        limit: usize,
    ) -> StorageResult<Vec<Pair>> {
        PostgresBackend::range_on(&mut self.client.lock(), space, lo, hi, order, limit)
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
        let _ = self.client.lock().batch_execute("ROLLBACK");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalescing_keeps_the_last_operation_on_each_key() {
        let mut b = Batch::new();
        b.put(Space::Meta, b"a".to_vec(), b"1".to_vec());
        b.delete(Space::Meta, b"a".to_vec());
        b.put(Space::Users, b"a".to_vec(), b"2".to_vec());
        b.delete(Space::Meta, b"b".to_vec());
        b.put(Space::Meta, b"b".to_vec(), b"3".to_vec());
        let c = coalesce(&b);
        assert_eq!(c.get(&(Space::Meta as i16, &b"a"[..])), Some(&None));
        assert_eq!(c.get(&(Space::Users as i16, &b"a"[..])), Some(&Some(&b"2"[..])));
        assert_eq!(c.get(&(Space::Meta as i16, &b"b"[..])), Some(&Some(&b"3"[..])));
        assert_eq!(c.len(), 3);
    }
}
