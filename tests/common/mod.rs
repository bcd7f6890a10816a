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
}

pub fn ctx() -> AccessContext {
    AccessContext::treatment("test-workstation")
}

impl Practice {
    /// A practice on an in-memory backend.
    pub fn new() -> Practice {
        Self::on(Arc::new(MemoryBackend::new()), StoreOptions::insecure_fast_for_tests())
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
        Practice { store, shares, backend }
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

pub fn identity(seed: u64) -> Identity {
    Synth::new(seed).identity()
}
