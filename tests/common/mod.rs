//! Shared fixtures: a small practice with one user of every role, on any backend.
#![allow(dead_code)]

use medvault::CareMember;
use medvault::backend::{Backend, MemoryBackend};
use medvault::synthetic::Synth;
use medvault::{AccessContext, Date, Identity, RecoveryShare, Session, Store, StoreOptions};
use std::sync::Arc;

pub const PASS: &[u8] = b"test passphrase 1";

/// Users of the fixture, by role.
pub const USERS: &[(&str, &str)] = &[
    ("admin", "admin"),
    ("claire", "secretary"),
    ("dr_martin", "physician"),
    ("ines", "nurse"),
    ("labo", "biologist"),
    ("dpo", "auditor"),
];

pub struct Practice {
    pub store: Store,
    pub shares: Vec<RecoveryShare>,
    pub backend: Arc<dyn Backend>,
    /// The folder or server schema the store lives in, removed when the practice is dropped.
    pub place: Place,
}

/// What holds a practice's store, kept for as long as the practice.
#[derive(Default)]
pub enum Place {
    #[default]
    Memory,
    Folder(tempfile::TempDir),
    #[allow(dead_code)]
    Server(medvault::testing::TestSchema),
}

/// The backends the API test suite runs on (see [`every_backend!`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Memory,
    Redb,
    Sled,
    Postgres,
}

impl Kind {
    /// Whether this backend can run here: a PostgreSQL server must be reachable (with
    /// `CI=true`, an unreachable server fails the test instead).
    pub fn available(self, test: &str) -> bool {
        if self != Kind::Postgres {
            return true;
        }
        static REACHABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        let ok = *REACHABLE.get_or_init(|| medvault::testing::TestSchema::new("probe").is_some());
        if !ok {
            eprintln!("{test}: skipped on PostgreSQL (no server reachable)");
        }
        ok
    }
}

/// Runs a test on every backend: `every_backend! { fn name(kind) { ... } }` makes a module
/// `name` with one test per backend (`name::memory`, `name::redb`, `name::sled`,
/// `name::postgres`); the body builds its practice with [`Practice::of`] or [`Practice::with`].
#[allow(unused_macros)]
macro_rules! every_backend {
    ($(#[$m:meta])* fn $name:ident($kind:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(#[$m])*
            fn run($kind: $crate::common::Kind) $body
            #[test]
            fn memory() {
                run($crate::common::Kind::Memory)
            }
            #[test]
            fn redb() {
                run($crate::common::Kind::Redb)
            }
            #[test]
            fn sled() {
                run($crate::common::Kind::Sled)
            }
            #[test]
            fn postgres() {
                if $crate::common::Kind::Postgres.available(stringify!($name)) {
                    run($crate::common::Kind::Postgres)
                }
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use every_backend;

pub fn ctx() -> AccessContext {
    AccessContext::treatment("test-workstation")
}

impl Practice {
    /// A practice on an in-memory backend.
    pub fn new() -> Practice {
        Self::on(Arc::new(MemoryBackend::new()), StoreOptions::insecure_fast_for_tests())
    }

    /// A practice on a backend of this kind (a fresh folder or server schema), with the fast
    /// test options.
    pub fn of(kind: Kind) -> Practice {
        Self::with(kind, StoreOptions::insecure_fast_for_tests())
    }

    /// A practice on a backend of this kind, with the given options.
    pub fn with(kind: Kind, options: StoreOptions) -> Practice {
        match kind {
            Kind::Memory => Self::on(Arc::new(MemoryBackend::new()), options),
            Kind::Redb | Kind::Sled => {
                let dir = tempfile::tempdir().unwrap();
                let engine = if kind == Kind::Redb { medvault::Engine::Redb } else { medvault::Engine::Sled };
                let mut p = Self::in_dir_with(&dir.path().join("store"), StoreOptions { engine, ..options });
                p.place = Place::Folder(dir);
                p
            }
            Kind::Postgres => {
                let schema = medvault::testing::TestSchema::new("api").expect("a PostgreSQL server (checked before)");
                let location = medvault::StoreLocation::parse(schema.url());
                let (store, shares) = Store::create_at(&location, "admin", PASS, options).unwrap();
                let backend = medvault::testing::backend(&store);
                let mut p = Self::populate(store, shares, backend);
                p.place = Place::Server(schema);
                p
            }
        }
    }

    /// A practice on a given backend; every user has received every key they are entitled to.
    pub fn on(backend: Arc<dyn Backend>, options: StoreOptions) -> Practice {
        let (store, shares) = Store::create_with_backend(backend.clone(), "admin", PASS, options).unwrap();
        Self::populate(store, shares, backend)
    }

    /// A practice in a store folder on an embedded engine (with its witness).
    pub fn in_dir(dir: &std::path::Path, engine: medvault::Engine) -> Practice {
        Self::in_dir_with(dir, StoreOptions { engine, ..StoreOptions::insecure_fast_for_tests() })
    }

    /// A practice in a store folder, with the given options.
    pub fn in_dir_with(dir: &std::path::Path, options: StoreOptions) -> Practice {
        let (store, shares) = Store::create(dir, "admin", PASS, options).unwrap();
        let backend = medvault::testing::backend(&store);
        Self::populate(store, shares, backend)
    }

    fn populate(store: Store, shares: Vec<RecoveryShare>, backend: Arc<dyn Backend>) -> Practice {
        let admin = store.unlock("admin", PASS, ctx()).unwrap();
        for (name, role) in &USERS[1..] {
            admin.add_user(name, &[role.to_string()], PASS).unwrap();
        }
        // Holders deliver pending keys at unlock: the secretary holds identity and reports
        // first, the physician exams.
        drop(store.unlock("claire", PASS, ctx()).unwrap());
        drop(store.unlock("dr_martin", PASS, ctx()).unwrap());
        Practice { store, shares, backend, place: Place::Memory }
    }

    pub fn session(&self, user: &str) -> Session {
        self.store.unlock(user, PASS, ctx()).unwrap()
    }

    /// A patient with one report and one exam, written by the physician.
    pub fn patient(&self, seed: u64) -> medvault::PatientId {
        let mut s = Synth::new(seed);
        let doc = self.session("dr_martin");
        let p = doc.create_patient(s.identity()).unwrap();
        // The whole practice cares for fixture patients; access tests build their own teams.
        for user in ["claire", "ines", "labo"] {
            doc.care_team_add(p, &CareMember::User(user.into())).unwrap();
        }
        let d = Date::parse("2026-11-02").unwrap();
        doc.append_report(p, s.report("Dr Martin", d)).unwrap();
        doc.append_exam(p, s.lab_result("Labo Central", d)).unwrap();
        p
    }
}

impl Practice {
    /// The tamper tests' fixture: patient 1 with a corrected report (two revisions) and an
    /// opposition of theirs to the nurse. Returns the patient and the report's entry.
    pub fn corrected_patient(&self) -> (medvault::PatientId, medvault::EntryId) {
        let p = self.patient(1);
        let doc = self.session("dr_martin");
        let report = doc.read_reports(p).unwrap().remove(0);
        let mut corrected = report.content.clone();
        corrected.title = "Compte rendu corrigé".into();
        doc.write(p, Some(report.entry_id), corrected, Some("faute de frappe")).unwrap();
        doc.record_opposition(p, "ines").unwrap();
        (p, report.entry_id)
    }
}

pub fn identity(seed: u64) -> Identity {
    Synth::new(seed).identity()
}

/// A practice whose clock is in summer time, a patient with a corrected report and a corrected
/// lab result, a refusal and a break-glass access (the patient-copy and browser tests);
/// returns the practice, the patient and the sealed copy.
pub fn copy_fixture(kind: Kind) -> (Practice, medvault::PatientId, String) {
    let clock = Arc::new(medvault::ManualClock::new(medvault::Timestamp::parse("2026-07-14T08:00:00Z").unwrap()));
    let practice =
        Practice::with(kind, StoreOptions { clock: clock.clone(), ..StoreOptions::insecure_fast_for_tests() });
    let admin = practice.session("admin");
    admin.set_profile("dr_martin", "Dr Jean Martin", "médecin généraliste").unwrap();
    admin.add_user("oncall", &["physician".into()], PASS).unwrap();
    drop(admin);
    let p = practice.patient(11);
    let doc = practice.session("dr_martin");
    let rep = doc.read_reports(p).unwrap().remove(0);
    let mut r = rep.content.clone();
    r.title = "Consultation du 2 novembre (corrigée)".into();
    clock.advance_millis(3_600_000);
    doc.write(p, Some(rep.entry_id), r, Some("erreur de date")).unwrap();
    let exam = doc.read_exams(p).unwrap().remove(0);
    let mut e = exam.content.clone();
    e.interpretation = Some(medvault::Interpretation::LL);
    doc.write(p, Some(exam.entry_id), e, Some("résultat contrôlé")).unwrap();
    // The secretary may not read exams: a refusal.
    practice.session("claire").read_exams(p).unwrap_err();
    // At 23:30 Paris time (21:30 UTC in summer), an emergency access.
    clock.set(medvault::Timestamp::parse("2026-07-14T21:30:00Z").unwrap());
    let oncall = practice.session("oncall");
    oncall.break_glass(p, "Appel nocturne du centre 15, dossier nécessaire", None).unwrap();
    oncall.read_exams(p).unwrap();
    clock.set(medvault::Timestamp::parse("2026-07-15T09:00:00Z").unwrap());
    let (_, page) = practice.session("dr_martin").patient_copy_html(p).unwrap();
    (practice, p, page)
}
