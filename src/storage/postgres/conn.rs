//! One connection to the store's schema and the statements it runs. Each statement is
//! prepared once per connection and kept: a statement sent as text is parsed and described in
//! a round trip of its own every time, which doubles the round trips of a read.
//!
//! Every statement is portable SQL except where noted (docs/format.md §1.2 lists the
//! PostgreSQL-specific choices and what a compatible engine needs instead).

use super::engine_error;
use crate::error::StorageError;
use crate::storage::{Batch, Op, Order, Pair, Space, StorageResult};
use postgres::{Client, Statement};
use std::collections::{BTreeMap, HashMap};

const GET: &str = "SELECT v FROM medvault_kv WHERE space = $1 AND k = $2";
/// PostgreSQL-specific: `unnest` of an array parameter. One primary-key lookup per key, whatever
/// the statistics say: the `LATERAL` subquery is kept apart by `OFFSET 0`, so the planner
/// cannot turn it into a scan of the whole keyspace (which `k = ANY($2)` becomes in the
/// generic plan of a prepared statement).
const GET_MANY: &str = "SELECT w.k, t.v FROM unnest($2::bytea[]) AS w(k), \
                        LATERAL (SELECT v FROM medvault_kv WHERE space = $1 AND k = w.k OFFSET 0) AS t";
const RANGE_ASC: &str = "SELECT k, v FROM medvault_kv WHERE space = $1 AND k >= $2 ORDER BY k ASC LIMIT $3";
const RANGE_DESC: &str = "SELECT k, v FROM medvault_kv WHERE space = $1 AND k >= $2 ORDER BY k DESC LIMIT $3";
const RANGE_ASC_HI: &str =
    "SELECT k, v FROM medvault_kv WHERE space = $1 AND k >= $2 AND k < $3 ORDER BY k ASC LIMIT $4";
const RANGE_DESC_HI: &str =
    "SELECT k, v FROM medvault_kv WHERE space = $1 AND k >= $2 AND k < $3 ORDER BY k DESC LIMIT $4";
/// Advances the sequencer, which takes its row lock (an `UPDATE` of one row: standard SQL, and
/// a write intent on SERIALIZABLE engines) until the transaction ends.
const BUMP_SEQUENCER: &str = "UPDATE medvault_sequencer SET groups = groups + 1 WHERE id = 1";
/// PostgreSQL-specific: `unnest` of array parameters (one statement for the whole batch).
const DELETE: &str = "DELETE FROM medvault_kv t USING unnest($1::smallint[], $2::bytea[]) AS d(space, k) \
                      WHERE t.space = d.space AND t.k = d.k";
/// PostgreSQL-specific: `unnest`, and `ON CONFLICT ... DO UPDATE` (an upsert).
const UPSERT: &str = "INSERT INTO medvault_kv (space, k, v) SELECT * FROM unnest($1::smallint[], $2::bytea[], $3::bytea[]) \
                      ON CONFLICT (space, k) DO UPDATE SET v = EXCLUDED.v";

/// A connection and the statements prepared on it.
pub(super) struct Conn {
    client: Client,
    prepared: HashMap<&'static str, Statement>,
}

/// Why a batch failed: before its transaction began (nothing that could commit was sent; safe
/// to retry on another connection), by a serialization failure or deadlock (the server rolled
/// the whole transaction back: safe to run again), or otherwise after it began.
pub(super) enum Failed {
    ToBegin(StorageError),
    Serialization(StorageError),
    After(StorageError),
}

impl Failed {
    pub(super) fn into_error(self) -> StorageError {
        match self {
            Failed::ToBegin(e) | Failed::Serialization(e) | Failed::After(e) => e,
        }
    }
}

/// A failure inside a transaction, told apart: a serialization failure (SQLSTATE 40001, what
/// SERIALIZABLE engines report when concurrent transactions conflict) or a deadlock (40P01)
/// may be run again; anything else may not.
fn inside(what: &'static str) -> impl FnOnce(postgres::Error) -> Failed {
    move |e| {
        let retry = matches!(
            e.code(),
            Some(c) if *c == postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
                || *c == postgres::error::SqlState::T_R_DEADLOCK_DETECTED
        );
        let err = engine_error(what)(e);
        if retry { Failed::Serialization(err) } else { Failed::After(err) }
    }
}

impl Conn {
    pub(super) fn new(client: Client) -> Conn {
        Conn { client, prepared: HashMap::new() }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// The connection itself, for statements run once (snapshots, migrations).
    pub(super) fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// `sql`, prepared on this connection (once).
    fn statement(&mut self, sql: &'static str) -> StorageResult<Statement> {
        if let Some(s) = self.prepared.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).map_err(engine_error("could not prepare a statement"))?;
        self.prepared.insert(sql, s.clone());
        Ok(s)
    }

    pub(super) fn get(&mut self, space: Space, key: &[u8]) -> StorageResult<Option<Vec<u8>>> {
        let get = self.statement(GET)?;
        let row = self.client.query_opt(&get, &[&(space as i16), &key]).map_err(engine_error("read failed"))?;
        Ok(row.map(|r| r.get(0)))
    }

    pub(super) fn get_many(&mut self, space: Space, keys: &[&[u8]]) -> StorageResult<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let s = self.statement(GET_MANY)?;
        let rows = self.client.query(&s, &[&(space as i16), &keys]).map_err(engine_error("read failed"))?;
        let found: HashMap<Vec<u8>, Vec<u8>> = rows.into_iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(keys.iter().map(|k| found.get(*k).cloned()).collect())
    }

    pub(super) fn range(
        &mut self,
        space: Space,
        lo: &[u8],
        hi: Option<&[u8]>,
        order: Order,
        limit: usize,
    ) -> StorageResult<Vec<Pair>> {
        if limit == 0 || hi.is_some_and(|h| h <= lo) {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let space = space as i16;
        let rows = match (hi, order) {
            (Some(hi), order) => {
                let sql = if order == Order::Ascending { RANGE_ASC_HI } else { RANGE_DESC_HI };
                let s = self.statement(sql)?;
                self.client.query(&s, &[&space, &lo, &hi, &limit])
            }
            (None, order) => {
                let sql = if order == Order::Ascending { RANGE_ASC } else { RANGE_DESC };
                let s = self.statement(sql)?;
                self.client.query(&s, &[&space, &lo, &limit])
            }
        }
        .map_err(engine_error("range read failed"))?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Commits `batch` in one transaction: its expectation checked under the sequencer's row
    /// lock, then its deletes and writes, one statement each.
    pub(super) fn apply(&mut self, batch: &Batch) -> Result<(), Failed> {
        // Everything the transaction needs is prepared before it begins: a connection the
        // server closed fails here, where nothing was sent that could commit.
        let statements = [BUMP_SEQUENCER, GET, DELETE, UPSERT]
            .map(|sql| self.statement(sql))
            .into_iter()
            .collect::<StorageResult<Vec<Statement>>>()
            .map_err(Failed::ToBegin)?;
        let [bump, get, delete, upsert] = statements.as_slice() else {
            return Err(Failed::ToBegin(StorageError::Engine {
                engine: super::ENGINE,
                what: "statement preparation",
                source: None,
            }));
        };
        let mut tx =
            self.client.transaction().map_err(|e| Failed::ToBegin(engine_error("could not begin a transaction")(e)))?;
        let result = (|| {
            if let Some(expect) = batch.expectation() {
                // The sequencer row first: every checked batch of every process waits here for
                // the one before it to commit, so the value read next (a statement of its own,
                // so with a snapshot taken after the wait) is the latest committed one.
                tx.execute(bump, &[]).map_err(inside("could not advance the sequencer"))?;
                let found: Option<Vec<u8>> = tx
                    .query_opt(get, &[&(expect.space as i16), &expect.key])
                    .map_err(inside("read failed"))?
                    .map(|r| r.get(0));
                if found != expect.value {
                    // Dropping the transaction rolls it back, the sequencer's step with it.
                    return Err(Failed::After(StorageError::Conflict));
                }
            }
            let (mut del_s, mut del_k, mut put_s, mut put_k, mut put_v) = (vec![], vec![], vec![], vec![], vec![]);
            for ((s, k), v) in coalesce(batch) {
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
                tx.execute(delete, &[&del_s, &del_k]).map_err(inside("delete failed"))?;
            }
            if !put_s.is_empty() {
                tx.execute(upsert, &[&put_s, &put_k, &put_v]).map_err(inside("write failed"))?;
            }
            Ok(())
        })();
        result?;
        // A serialization failure at commit also means the server rolled everything back.
        tx.commit().map_err(inside("commit failed"))
    }
}

/// The last operation on each key of a batch (the batch's effect; PostgreSQL refuses to touch
/// one row twice in a statement).
pub(super) fn coalesce(batch: &Batch) -> BTreeMap<(i16, &[u8]), Option<&[u8]>> {
    let mut last = BTreeMap::new();
    for op in batch.ops() {
        match op {
            Op::Put(s, k, v) => last.insert((*s as i16, k.as_slice()), Some(v.as_slice())),
            Op::Delete(s, k) => last.insert((*s as i16, k.as_slice()), None),
        };
    }
    last
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
