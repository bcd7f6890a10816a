//! medvault through its public API: one store, one physician, one session per thread.

use crate::measure::{self, Counters, Pick, Spent};
use crate::workload::{Contender, Res, Worker};
use medvault::backend::Space;
use medvault::synthetic::Synth;
use medvault::{
    AccessContext, Date, Durability, Engine, FindQuery, Identity, KdfParams, PatientId, Report, Session, Store,
    StoreLocation, StoreOptions,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const USER: &str = "dr_bench";
pub const PASS: &[u8] = b"dr_bench: benchmark passphrase";
const ADMIN_PASS: &[u8] = b"admin: benchmark passphrase";

fn e(err: medvault::Error) -> String {
    format!("medvault: {err}")
}

/// Patients whose synthetic INS repeats an earlier patient's (random fake NIRs collide among a
/// million patients, and medvault refuses a second patient with the same INS): they are loaded
/// without one, in every contender.
static REPEATED_INS: std::sync::OnceLock<std::collections::HashSet<usize>> = std::sync::OnceLock::new();

fn synthetic(i: usize) -> Identity {
    Synth::new(0x5EED_0000 + i as u64).identity()
}

/// Finds the patients among the first `n` whose INS repeats an earlier one. Call once, first.
pub fn prepare_identities(n: usize) {
    let mut seen = std::collections::HashSet::new();
    let repeated =
        (0..n).filter(|i| synthetic(*i).ins_matricule.as_ref().is_some_and(|m| !seen.insert(m.clone()))).collect();
    let _ = REPEATED_INS.set(repeated);
}

/// Patient `i`'s synthetic identity: the same for every contender.
pub fn identity(i: usize) -> Identity {
    let mut id = synthetic(i);
    if REPEATED_INS.get().is_some_and(|r| r.contains(&i)) {
        id.ins_matricule = None;
        id.ins_oid = None;
        id.identity_status = medvault::IdentityStatus::VALI;
    }
    id
}

/// The benchmark's 4 KiB report.
pub fn report(body: &str) -> Res<Report> {
    let mut r = Synth::new(7).report("Dr Bench", Date::parse("2026-11-23").map_err(|x| x.to_string())?);
    r.body = body.to_string();
    Ok(r)
}

/// Where a store's bytes are counted.
pub enum Place {
    Folder(PathBuf),
    Server(crate::pg::Schema),
}

impl Place {
    pub fn location(&self) -> StoreLocation {
        match self {
            Place::Folder(dir) => StoreLocation::Folder(dir.clone()),
            Place::Server(schema) => StoreLocation::Server(schema.store_url()),
        }
    }

    pub fn bytes(&self) -> u64 {
        match self {
            Place::Folder(dir) => measure::disk_bytes(dir),
            Place::Server(schema) => schema.bytes(),
        }
    }
}

/// A medvault store of the benchmark's patients.
pub struct Medvault {
    pub store: Store,
    place: Place,
    pub ids: Vec<PatientId>,
    engine: Engine,
}

fn context() -> AccessContext {
    AccessContext::treatment("bench")
}

impl Medvault {
    /// Creates a store in `dir` and loads `patients` (an identity each, and one report each if
    /// `body` is given) through one physician's session, flushed once at the end.
    pub fn load(
        dir: &Path,
        engine: Engine,
        kdf: KdfParams,
        patients: usize,
        body: Option<&str>,
    ) -> Res<(Medvault, Spent)> {
        Self::load_at(Place::Folder(dir.to_path_buf()), engine, kdf, patients, body, 1)
    }

    /// The same at `place`, by `threads` sessions at once (on a server, where every commit is
    /// a round trip, concurrent sessions share transactions).
    pub fn load_at(
        place: Place,
        engine: Engine,
        kdf: KdfParams,
        patients: usize,
        body: Option<&str>,
        threads: usize,
    ) -> Res<(Medvault, Spent)> {
        let start = Counters::now();
        let options = StoreOptions { engine, kdf, ..StoreOptions::default() };
        let (store, _shares) = Store::create_at(&place.location(), "admin", ADMIN_PASS, options).map_err(e)?;
        {
            let admin = store.unlock("admin", ADMIN_PASS, AccessContext::operations("bench")).map_err(e)?;
            admin.add_user(USER, &["physician".to_string()], PASS).map_err(e)?;
            admin.add_user("dpo", &["auditor".to_string()], PASS).map_err(e)?;
        }
        let report = body.map(report).transpose()?;
        let threads = threads.max(1);
        let loaded: Vec<Res<Vec<(usize, PatientId)>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (store, report) = (&store, &report);
                    scope.spawn(move || -> Res<Vec<(usize, PatientId)>> {
                        let mut s = store.unlock(USER, PASS, context()).map_err(e)?;
                        s.set_durability(Durability::Buffered);
                        let mut mine = Vec::new();
                        for i in (t..patients).step_by(threads) {
                            let p = s.create_patient(identity(i)).map_err(e)?;
                            if let Some(r) = report {
                                s.append_report(p, r.clone()).map_err(e)?;
                            }
                            mine.push((i, p));
                        }
                        Ok(mine)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a loading thread panicked".into()))).collect()
        });
        let mut ids = vec![None; patients];
        for part in loaded {
            for (i, p) in part? {
                ids[i] = Some(p);
            }
        }
        let ids: Vec<PatientId> = ids.into_iter().flatten().collect();
        store.flush().map_err(e)?;
        Ok((Medvault { store, place, ids, engine }, start.since()))
    }

    /// Closes the store and opens it again: the size a store keeps at rest (an engine may hold
    /// space between two durable commits that it gives back when it closes).
    pub fn reopen(self) -> Res<Medvault> {
        let Medvault { store, place, ids, engine } = self;
        drop(store);
        let store = Store::open_at(&place.location()).map_err(e)?;
        Ok(Medvault { store, place, ids, engine })
    }

    /// A new session of `user`, durable.
    pub fn session(&self, user: &str) -> Res<Session> {
        self.store.unlock(user, PASS, context()).map_err(e)
    }

    /// W5: `lookups` audited searches by INS among patients that have one; latencies.
    pub fn find_by_ins(&self, lookups: usize) -> Res<Vec<Duration>> {
        let s = self.session(USER)?;
        let mut pick = Pick::new(5);
        let mut out = Vec::with_capacity(lookups);
        while out.len() < lookups {
            let i = pick.below(self.ids.len());
            let Some(ins) = identity(i).ins_matricule.clone() else { continue };
            let t = Instant::now();
            let found = s.find_patient(&FindQuery::InsMatricule(ins)).map_err(e)?;
            out.push(t.elapsed());
            if !found.contains(&self.ids[i]) {
                return Err(format!("medvault: patient {i} not found by INS"));
            }
        }
        Ok(out)
    }

    /// W8: gives patient 0 `entries` reports in all, then times `runs` exports of their file.
    pub fn export(&self, entries: usize, body: &str, runs: usize) -> Res<Vec<Duration>> {
        let mut s = self.session(USER)?;
        s.set_durability(Durability::Buffered);
        let p = self.ids[0];
        let have = s.read_reports(p).map_err(e)?.len();
        let r = report(body)?;
        for _ in have..entries {
            s.append_report(p, r.clone()).map_err(e)?;
        }
        self.store.flush().map_err(e)?;
        let mut out = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            let x = s.export_patient(p).map_err(e)?;
            out.push(t.elapsed());
            if x.reports.len() < entries {
                return Err(format!("medvault: export holds {} reports, not {entries}", x.reports.len()));
            }
        }
        Ok(out)
    }

    /// Logical bytes by keyspace (rows, key bytes, value bytes), before the engine lays them
    /// out in pages: where W10's disk goes. Read a page of rows at a time (`scan_pages`), so
    /// that the tally does not hold a keyspace in memory (at 1,000,000 patients the audit
    /// events alone are 728 MB).
    pub fn breakdown(&self) -> Res<Vec<(Space, u64, u64, u64)>> {
        let backend = medvault::testing::backend(&self.store);
        let mut out = Vec::new();
        for space in Space::ALL {
            let (mut rows, mut keys, mut values) = (0u64, 0u64, 0u64);
            medvault::testing::scan_pages(backend.as_ref(), space, &[], |page| {
                rows += page.len() as u64;
                keys += page.iter().map(|(k, _)| k.len() as u64).sum::<u64>();
                values += page.iter().map(|(_, v)| v.len() as u64).sum::<u64>();
                Ok::<(), medvault::backend::StorageError>(())
            })
            .map_err(|x| format!("medvault: {x}"))?;
            if rows > 0 {
                out.push((space, rows, keys, values));
            }
        }
        Ok(out)
    }
}

struct MvWorker {
    session: Session,
    ids: Vec<PatientId>,
    report: Report,
}

impl Contender for Medvault {
    fn commit_stats(&self) -> Option<(u64, u64)> {
        Some(medvault::testing::commit_stats(&self.store))
    }

    fn name(&self) -> String {
        match self.place {
            Place::Folder(_) => format!("medvault ({})", self.engine),
            Place::Server(_) => "medvault (postgresql)".into(),
        }
    }

    fn worker(&self, _id: usize, _relaxed: bool) -> Res<Box<dyn Worker + Send + '_>> {
        // Reads are durable whatever the setting: no access returns data before its audit
        // event is on disk. `relaxed` has nothing to relax.
        let session = self.session(USER)?;
        Ok(Box::new(MvWorker { session, ids: self.ids.clone(), report: report("")? }))
    }

    fn patients(&self) -> usize {
        self.ids.len()
    }

    fn disk_bytes(&self) -> u64 {
        self.place.bytes()
    }
}

impl Worker for MvWorker {
    fn read(&mut self, i: usize) -> Res<()> {
        let got = self.session.read_reports(self.ids[i]).map_err(e)?;
        if got.is_empty() {
            return Err(format!("medvault: patient {i} has no report"));
        }
        Ok(())
    }

    fn write(&mut self, i: usize, body: &str) -> Res<()> {
        if self.report.body.len() != body.len() {
            self.report.body = body.to_string();
        }
        self.session.append_report(self.ids[i], self.report.clone()).map(|_| ()).map_err(e)
    }
}
