//! What a practice would build instead: SQLCipher 4 (AES-256, per-page HMAC) in WAL mode, with
//! an audit table written in the same transaction as each access, before the data is handed out.

use crate::measure::{self, Pick};
use crate::workload::{Contender, Res, Worker};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const KEY: &str = "x'2DD29CA851E7B56E4697B0E1F08507293D761A05CE4D1B628663F411A8086D99'";

fn e(err: rusqlite::Error) -> String {
    format!("sqlcipher: {err}")
}

/// A SQLCipher database of the benchmark's patients.
pub struct SqlCipher {
    dir: PathBuf,
    path: PathBuf,
    patients: usize,
}

fn connect(path: &Path, full: bool) -> Res<Connection> {
    let c = Connection::open(path).map_err(e)?;
    // A raw key: SQLCipher's PBKDF2 would only slow the opening, not the workload.
    c.pragma_update(None, "key", KEY).map_err(e)?;
    c.pragma_update(None, "journal_mode", "WAL").map_err(e)?;
    c.pragma_update(None, "synchronous", if full { "FULL" } else { "NORMAL" }).map_err(e)?;
    c.busy_timeout(Duration::from_secs(30)).map_err(e)?;
    Ok(c)
}

const SCHEMA: &str = "
CREATE TABLE patient(id INTEGER PRIMARY KEY, ins TEXT, identity TEXT NOT NULL);
CREATE INDEX patient_ins ON patient(ins);
CREATE TABLE report(id INTEGER PRIMARY KEY, patient INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX report_patient ON report(patient);
CREATE TABLE audit(seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, user TEXT NOT NULL,
  workstation TEXT NOT NULL, action TEXT NOT NULL, outcome TEXT NOT NULL, patient INTEGER, section TEXT);
CREATE INDEX audit_patient ON audit(patient, seq);
CREATE INDEX audit_user ON audit(user, seq);
";

impl SqlCipher {
    /// Creates the database in `dir` and loads `patients` (identity, INS, one report each).
    /// `identity(i)` gives patient `i`'s (INS, identity text).
    pub fn load(
        dir: &Path,
        patients: usize,
        identity: &dyn Fn(usize) -> (String, String),
        report: &str,
        with_report: bool,
    ) -> Res<SqlCipher> {
        std::fs::create_dir_all(dir).map_err(|x| x.to_string())?;
        let path = dir.join("practice.db");
        let mut c = connect(&path, true)?;
        c.execute_batch(SCHEMA).map_err(e)?;
        for chunk in (0..patients).collect::<Vec<_>>().chunks(1000) {
            let tx = c.transaction().map_err(e)?;
            {
                let mut p =
                    tx.prepare_cached("INSERT INTO patient(id, ins, identity) VALUES (?1, ?2, ?3)").map_err(e)?;
                let mut r = tx.prepare_cached("INSERT INTO report(patient, body) VALUES (?1, ?2)").map_err(e)?;
                for &i in chunk {
                    let (ins, text) = identity(i);
                    p.execute(params![i as i64, ins, text]).map_err(e)?;
                    if with_report {
                        r.execute(params![i as i64, report]).map_err(e)?;
                    }
                }
            }
            tx.commit().map_err(e)?;
        }
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").map_err(e)?;
        Ok(SqlCipher { dir: dir.to_path_buf(), path, patients })
    }

    /// W5: `lookups` audited searches by INS; returns the latencies.
    pub fn find_by_ins(&self, ins: &dyn Fn(usize) -> String, lookups: usize) -> Res<Vec<Duration>> {
        let mut c = connect(&self.path, true)?;
        let mut pick = Pick::new(5);
        let mut out = Vec::with_capacity(lookups);
        for _ in 0..lookups {
            let wanted = ins(pick.below(self.patients));
            let t = Instant::now();
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(e)?;
            tx.execute(
                "INSERT INTO audit(at, user, workstation, action, outcome, patient, section)
                 VALUES (strftime('%s','now'), 'sophie', 'accueil', 'search', 'success', NULL, 'identity')",
                [],
            )
            .map_err(e)?;
            let found: Option<i64> =
                tx.query_row("SELECT id FROM patient WHERE ins = ?1", [&wanted], |r| r.get(0)).optional().map_err(e)?;
            tx.commit().map_err(e)?;
            out.push(t.elapsed());
            if found.is_none() {
                return Err(format!("sqlcipher: INS {wanted} not found"));
            }
        }
        Ok(out)
    }
}

struct SqlWorker {
    c: Connection,
    user: String,
}

impl Contender for SqlCipher {
    fn name(&self) -> String {
        "SQLCipher 4 (WAL)".into()
    }

    fn worker(&self, id: usize, relaxed: bool) -> Res<Box<dyn Worker + Send + '_>> {
        Ok(Box::new(SqlWorker { c: connect(&self.path, !relaxed)?, user: format!("dr_{id}") }))
    }

    fn patients(&self) -> usize {
        self.patients
    }

    fn disk_bytes(&self) -> u64 {
        measure::disk_bytes(&self.dir)
    }
}

impl SqlWorker {
    fn audit(tx: &rusqlite::Transaction<'_>, user: &str, action: &str, patient: usize) -> Res<()> {
        tx.prepare_cached(
            "INSERT INTO audit(at, user, workstation, action, outcome, patient, section)
             VALUES (strftime('%s','now'), ?1, 'poste', ?2, 'success', ?3, 'reports')",
        )
        .map_err(e)?
        .execute(params![user, action, patient as i64])
        .map_err(e)?;
        Ok(())
    }
}

impl Worker for SqlWorker {
    fn read(&mut self, i: usize) -> Res<()> {
        // The audit row first, in the same transaction; the data leaves after the commit.
        let tx = self.c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(e)?;
        Self::audit(&tx, &self.user, "read", i)?;
        let mut bytes = 0;
        {
            let mut q = tx.prepare_cached("SELECT body FROM report WHERE patient = ?1").map_err(e)?;
            let mut rows = q.query([i as i64]).map_err(e)?;
            while let Some(row) = rows.next().map_err(e)? {
                let body: String = row.get(0).map_err(e)?;
                bytes += body.len();
            }
        }
        tx.commit().map_err(e)?;
        if bytes == 0 {
            return Err(format!("sqlcipher: patient {i} has no report"));
        }
        Ok(())
    }

    fn write(&mut self, i: usize, report: &str) -> Res<()> {
        let tx = self.c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(e)?;
        tx.prepare_cached("INSERT INTO report(patient, body) VALUES (?1, ?2)")
            .map_err(e)?
            .execute(params![i as i64, report])
            .map_err(e)?;
        Self::audit(&tx, &self.user, "write", i)?;
        tx.commit().map_err(e)
    }
}
