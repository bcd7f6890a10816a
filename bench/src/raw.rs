//! The floor: the same bytes in the bare engines, no encryption, no Merkle tree, no signature,
//! no index; an audited read is a read plus an appended audit record, made durable with the
//! same group commit and the same syncs (one per group) as medvault.

use crate::group::Group;
use crate::measure;
use crate::workload::{Contender, Res, Worker};
use redb::{ReadableDatabase, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const REPORTS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("reports");
const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");

/// One queued audit record, and the report it goes with (writes).
struct Item {
    seq: u64,
    record: Vec<u8>,
    report: Option<(u64, Vec<u8>)>,
}

/// Which engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawEngine {
    Redb,
    Sled,
}

enum Db {
    Redb(redb::Database),
    Sled { reports: sled::Tree, audit: sled::Tree, db: sled::Db },
}

/// A bare engine holding the benchmark's reports and audit records.
pub struct Raw {
    engine: RawEngine,
    dir: PathBuf,
    db: Db,
    patients: usize,
    seq: AtomicU64,
    group: Group<Item>,
}

fn s(e: impl std::fmt::Display) -> String {
    format!("raw engine: {e}")
}

/// An audit record of about the size a practice would write (who, where, what, when).
fn record(user: &str, action: &str, patient: usize) -> Vec<u8> {
    format!("{{\"at\":1795000000,\"user\":\"{user}\",\"workstation\":\"poste\",\"action\":\"{action}\",\"outcome\":\"success\",\"patient\":{patient},\"section\":\"reports\"}}").into_bytes()
}

impl Db {
    /// Opens (or creates) the engine's files in `dir`.
    fn open(engine: RawEngine, dir: &Path) -> Res<Db> {
        Ok(match engine {
            RawEngine::Redb => Db::Redb(redb::Database::create(dir.join("raw.redb")).map_err(s)?),
            RawEngine::Sled => {
                let db = sled::open(dir.join("raw.sled")).map_err(s)?;
                let reports = db.open_tree("reports").map_err(s)?;
                let audit = db.open_tree("audit").map_err(s)?;
                Db::Sled { reports, audit, db }
            }
        })
    }
}

impl Raw {
    /// Creates the engine's files in `dir` and loads one report per patient.
    pub fn load(engine: RawEngine, dir: &Path, patients: usize, report: &str) -> Res<Raw> {
        std::fs::create_dir_all(dir).map_err(s)?;
        let db = Db::open(engine, dir)?;
        match &db {
            Db::Redb(db) => {
                for chunk in (0..patients).collect::<Vec<_>>().chunks(1000) {
                    let tx = db.begin_write().map_err(s)?;
                    {
                        let mut t = tx.open_table(REPORTS).map_err(s)?;
                        for &i in chunk {
                            t.insert((i as u64, 0), report.as_bytes()).map_err(s)?;
                        }
                        tx.open_table(AUDIT).map_err(s)?;
                    }
                    tx.commit().map_err(s)?;
                }
            }
            Db::Sled { reports, db, .. } => {
                for i in 0..patients {
                    reports.insert(key(i as u64, 0), report.as_bytes()).map_err(s)?;
                }
                db.flush().map_err(s)?;
            }
        }
        Ok(Raw { engine, dir: dir.to_path_buf(), db, patients, seq: AtomicU64::new(1), group: Group::new() })
    }

    /// Closes the engine and opens its files again: the size a store keeps at rest.
    pub fn reopen(self) -> Res<Raw> {
        let Raw { engine, dir, db, patients, seq, group } = self;
        drop(db);
        let db = Db::open(engine, &dir)?;
        Ok(Raw { engine, dir, db, patients, seq, group })
    }

    fn commit(&self, items: Vec<Item>, durable: bool) -> Res<()> {
        let mut records = Vec::with_capacity(items.len());
        let mut reports = Vec::new();
        for it in items {
            records.push((it.seq, it.record));
            reports.extend(it.report);
        }
        let items = records;
        match &self.db {
            Db::Redb(db) => {
                let mut tx = db.begin_write().map_err(s)?;
                tx.set_durability(if durable { redb::Durability::Immediate } else { redb::Durability::None })
                    .map_err(s)?;
                {
                    let mut a = tx.open_table(AUDIT).map_err(s)?;
                    for (k, v) in &items {
                        a.insert(*k, v.as_slice()).map_err(s)?;
                    }
                    let mut r = tx.open_table(REPORTS).map_err(s)?;
                    for (k, v) in &reports {
                        r.insert((*k, self.seq.fetch_add(1, Ordering::Relaxed)), v.as_slice()).map_err(s)?;
                    }
                }
                tx.commit().map_err(s)
            }
            Db::Sled { reports: rt, audit, db } => {
                let mut b = sled::Batch::default();
                for (k, v) in items {
                    b.insert(&k.to_be_bytes(), v);
                }
                audit.apply_batch(b).map_err(s)?;
                for (k, v) in reports {
                    rt.insert(key(k, self.seq.fetch_add(1, Ordering::Relaxed)), v).map_err(s)?;
                }
                if durable {
                    db.flush().map_err(s)?;
                }
                Ok(())
            }
        }
    }

    fn read_reports(&self, i: usize) -> Res<usize> {
        let mut bytes = 0;
        match &self.db {
            Db::Redb(db) => {
                let tx = db.begin_read().map_err(s)?;
                let t = tx.open_table(REPORTS).map_err(s)?;
                for row in t.range((i as u64, 0)..=(i as u64, u64::MAX)).map_err(s)? {
                    bytes += row.map_err(s)?.1.value().len();
                }
            }
            Db::Sled { reports, .. } => {
                for row in reports.scan_prefix((i as u64).to_be_bytes()) {
                    bytes += row.map_err(s)?.1.len();
                }
            }
        }
        Ok(bytes)
    }
}

fn key(patient: u64, n: u64) -> Vec<u8> {
    let mut k = patient.to_be_bytes().to_vec();
    k.extend_from_slice(&n.to_be_bytes());
    k
}

struct RawWorker<'a> {
    raw: &'a Raw,
    user: String,
    relaxed: bool,
}

impl Contender for Raw {
    fn name(&self) -> String {
        match self.engine {
            RawEngine::Redb => "raw redb (floor)".into(),
            RawEngine::Sled => "raw sled (floor)".into(),
        }
    }
    fn worker(&self, id: usize, relaxed: bool) -> Res<Box<dyn Worker + Send + '_>> {
        Ok(Box::new(RawWorker { raw: self, user: format!("dr_{id}"), relaxed }))
    }
    fn patients(&self) -> usize {
        self.patients
    }
    fn disk_bytes(&self) -> u64 {
        measure::disk_bytes(&self.dir)
    }
}

impl Worker for RawWorker<'_> {
    fn read(&mut self, i: usize) -> Res<()> {
        // The audit record is durable before the data is used, as in medvault.
        let seq = self.raw.seq.fetch_add(1, Ordering::Relaxed);
        let item = Item { seq, record: record(&self.user, "read", i), report: None };
        let durable = !self.relaxed;
        self.raw.group.submit(item, |items| self.raw.commit(items, durable))?;
        if self.raw.read_reports(i)? == 0 {
            return Err(format!("raw: patient {i} has no report"));
        }
        Ok(())
    }

    fn write(&mut self, i: usize, report: &str) -> Res<()> {
        // The report rides in the same group as its audit record.
        let seq = self.raw.seq.fetch_add(1, Ordering::Relaxed);
        let item =
            Item { seq, record: record(&self.user, "write", i), report: Some((i as u64, report.as_bytes().to_vec())) };
        self.raw.group.submit(item, |items| self.raw.commit(items, true))
    }
}
