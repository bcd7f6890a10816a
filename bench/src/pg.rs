//! The server column: medvault on PostgreSQL against what a practice would build instead on
//! the same server, plain PostgreSQL with an audit table written in the same transaction as
//! each access (synchronous_commit on: a commit returns once its WAL is flushed). Each
//! contender lives in a schema of its own, dropped at the end.

use crate::measure::Pick;
use crate::workload::{Contender, Res, Worker};
use postgres::{Client, NoTls, Statement};
use std::time::{Duration, Instant};

fn e(err: postgres::Error) -> String {
    format!("postgresql: {err}")
}

/// The server's URL without medvault's `schema` parameter, and a connection to it.
pub fn connect(base: &str, schema: Option<&str>) -> Res<Client> {
    let mut config: postgres::Config = base.parse().map_err(e)?;
    config.connect_timeout(Duration::from_secs(5));
    let mut c = config.connect(NoTls).map_err(e)?;
    if let Some(s) = schema {
        c.batch_execute(&format!("SET search_path TO {s}")).map_err(e)?;
    }
    Ok(c)
}

/// The server's version, or why it cannot be reached.
pub fn version(base: &str) -> Res<String> {
    let mut c = connect(base, None)?;
    let row = c.query_one("SHOW server_version", &[]).map_err(e)?;
    Ok(row.get(0))
}

/// A schema of the benchmark's own on the server, dropped (with everything in it) on drop.
pub struct Schema {
    base: String,
    pub name: String,
}

impl Schema {
    pub fn new(base: &str, label: &str) -> Schema {
        Schema { base: base.to_string(), name: format!("mvbench_{label}_{}", std::process::id()) }
    }

    /// A medvault store URL for this schema.
    pub fn store_url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}schema={}", self.base, self.name)
    }

    /// Bytes the server holds for the schema's tables, indexes and TOAST.
    pub fn bytes(&self) -> u64 {
        let query = "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
                     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'";
        connect(&self.base, None)
            .and_then(|mut c| c.query_one(query, &[&self.name]).map_err(e))
            .map_or(0, |row| row.get::<_, i64>(0).max(0) as u64)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut c) = connect(&self.base, None) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

const TABLES: &str = "
CREATE TABLE patient(id bigint PRIMARY KEY, ins text, identity text NOT NULL);
CREATE INDEX patient_ins ON patient(ins);
CREATE TABLE report(id bigserial PRIMARY KEY, patient bigint NOT NULL, body text NOT NULL);
CREATE INDEX report_patient ON report(patient);
CREATE TABLE audit(seq bigserial PRIMARY KEY, at timestamptz NOT NULL, usr text NOT NULL,
  workstation text NOT NULL, action text NOT NULL, outcome text NOT NULL, patient bigint, section text);
";

/// Plain PostgreSQL: the peer of medvault on the same server.
pub struct PlainPg {
    pub schema: Schema,
    patients: usize,
}

impl PlainPg {
    /// Creates the tables and loads `patients` (identity, INS, one report each).
    pub fn load(base: &str, patients: usize, identity: &dyn Fn(usize) -> (String, String), body: &str) -> Res<PlainPg> {
        let schema = Schema::new(base, "plain");
        let mut c = connect(base, None)?;
        c.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}; SET search_path TO {0};",
            schema.name
        ))
        .map_err(e)?;
        c.batch_execute(TABLES).map_err(e)?;
        for chunk in (0..patients).collect::<Vec<_>>().chunks(1000) {
            let ids: Vec<i64> = chunk.iter().map(|&i| i as i64).collect();
            let (ins, texts): (Vec<String>, Vec<String>) = chunk.iter().map(|&i| identity(i)).unzip();
            let bodies: Vec<&str> = chunk.iter().map(|_| body).collect();
            let mut tx = c.transaction().map_err(e)?;
            tx.execute(
                "INSERT INTO patient(id, ins, identity) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])",
                &[&ids, &ins, &texts],
            )
            .map_err(e)?;
            tx.execute(
                "INSERT INTO report(patient, body) SELECT * FROM unnest($1::bigint[], $2::text[])",
                &[&ids, &bodies],
            )
            .map_err(e)?;
            tx.commit().map_err(e)?;
        }
        c.batch_execute("ANALYZE").map_err(e)?;
        Ok(PlainPg { schema, patients })
    }

    /// W6's log: `events` reads of `patients` patients by 50 physicians, then the index a
    /// patient's history needs.
    pub fn fill_history(&self, events: u64, patients: usize) -> Res<Duration> {
        let mut c = connect(&self.schema.base, Some(&self.schema.name))?;
        let t = Instant::now();
        c.execute(
            "INSERT INTO audit(at, usr, workstation, action, outcome, patient, section)
             SELECT now(), 'dr_' || (g % 50), 'bench', 'read', 'success', (g * 2654435761) % $2::bigint, 'reports'
             FROM generate_series(1::bigint, $1::bigint) g",
            &[&(events as i64), &(patients.max(1) as i64)],
        )
        .map_err(e)?;
        c.batch_execute("CREATE INDEX audit_patient ON audit(patient, seq); ANALYZE audit").map_err(e)?;
        Ok(t.elapsed())
    }

    /// W6: `queries` audited lookups of one patient's whole history (the lookup is itself
    /// recorded, in the same transaction); latencies and rows found.
    pub fn patient_history(&self, queries: usize, patients: usize) -> Res<(Vec<Duration>, usize)> {
        let mut c = connect(&self.schema.base, Some(&self.schema.name))?;
        let mut pick = Pick::new(7);
        let mut out = Vec::with_capacity(queries);
        let mut found = 0;
        for _ in 0..queries {
            let p = pick.below(patients.max(1)) as i64;
            let t = Instant::now();
            let mut tx = c.transaction().map_err(e)?;
            audit(&mut tx, "dpo", "audit-query", p)?;
            let rows = tx
                .query(
                    "SELECT seq, at, usr, workstation, action, outcome, section FROM audit WHERE patient = $1 ORDER BY seq",
                    &[&p],
                )
                .map_err(e)?;
            tx.commit().map_err(e)?;
            out.push(t.elapsed());
            found += rows.len();
        }
        Ok((out, found))
    }
}

const AUDIT: &str = "INSERT INTO audit(at, usr, workstation, action, outcome, patient, section)
                     VALUES (now(), $1, 'poste', $2, 'success', $3, 'reports')";

fn audit(tx: &mut postgres::Transaction<'_>, user: &str, action: &str, patient: i64) -> Res<()> {
    tx.execute(AUDIT, &[&user, &action, &patient]).map_err(e)?;
    Ok(())
}

/// One thread's connection, its statements prepared once (as a practice's code would).
struct PgWorker {
    c: Client,
    user: String,
    audit: Statement,
    read: Statement,
    write: Statement,
}

impl Contender for PlainPg {
    fn name(&self) -> String {
        "PostgreSQL + audit table".into()
    }

    fn worker(&self, id: usize, _relaxed: bool) -> Res<Box<dyn Worker + Send + '_>> {
        let mut c = connect(&self.schema.base, Some(&self.schema.name))?;
        let audit = c.prepare(AUDIT).map_err(e)?;
        let read = c.prepare("SELECT body FROM report WHERE patient = $1").map_err(e)?;
        let write = c.prepare("INSERT INTO report(patient, body) VALUES ($1, $2)").map_err(e)?;
        Ok(Box::new(PgWorker { c, user: format!("dr_{id}"), audit, read, write }))
    }

    fn patients(&self) -> usize {
        self.patients
    }

    fn disk_bytes(&self) -> u64 {
        self.schema.bytes()
    }
}

impl Worker for PgWorker {
    fn read(&mut self, i: usize) -> Res<()> {
        // The audit row first, in the same transaction; the data leaves after the commit.
        let mut tx = self.c.transaction().map_err(e)?;
        tx.execute(&self.audit, &[&self.user, &"read", &(i as i64)]).map_err(e)?;
        let rows = tx.query(&self.read, &[&(i as i64)]).map_err(e)?;
        tx.commit().map_err(e)?;
        let bytes: usize = rows.iter().map(|r| r.get::<_, &str>(0).len()).sum();
        if bytes == 0 {
            return Err(format!("postgresql: patient {i} has no report"));
        }
        Ok(())
    }

    fn write(&mut self, i: usize, report: &str) -> Res<()> {
        let mut tx = self.c.transaction().map_err(e)?;
        tx.execute(&self.write, &[&(i as i64), &report]).map_err(e)?;
        tx.execute(&self.audit, &[&self.user, &"write", &(i as i64)]).map_err(e)?;
        tx.commit().map_err(e)
    }
}
