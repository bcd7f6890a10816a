//! Long histories: W6 (one patient's history in a log of millions of events), W7 (full
//! verification), and W9 (unlock of a user with a long history since their last unlock).

use crate::measure::{Counters, Pick, Spent};
use crate::mv::{PASS, USER};
use crate::unlock::{Argon2Alone, Series};
use crate::workload::Res;
use medvault::audit::{Action, Agent, AuditQuery, Entity, Outcome, Purpose};
use medvault::model::Section;
use medvault::testing::audit::EventDraft;
use medvault::{AccessContext, KdfParams, PatientId, Store, StoreLocation, StoreOptions};
use std::time::{Duration, Instant};

fn e(err: medvault::Error) -> String {
    format!("medvault: {err}")
}

/// Physicians whose names the log's events carry, in turn.
pub const AGENTS: u64 = 50;
/// Of them, those with an account besides `USER` (`dr_01`...): W9's first unlocks.
const ACCOUNTS: u64 = 6;

/// A store whose log holds `events` reads of `patients` patients by [`AGENTS`] physicians:
/// `USER` and `dr_01`... (the first [`ACCOUNTS`] of those hold accounts too).
pub struct History {
    pub store: Store,
    pub patients: Vec<PatientId>,
    pub events: u64,
    /// How the log was filled (`None`: reopened).
    pub fill: Option<Spent>,
}

impl History {
    pub fn build(location: &StoreLocation, kdf: KdfParams, events: u64, patients: usize) -> Res<History> {
        let options = StoreOptions { kdf, ..StoreOptions::default() };
        let (store, _) = Store::create_at(location, "admin", PASS, options).map_err(e)?;
        {
            let admin = store.unlock("admin", PASS, AccessContext::operations("bench")).map_err(e)?;
            admin.add_user(USER, &["physician".to_string()], PASS).map_err(e)?;
            admin.add_user("dpo", &["auditor".to_string()], PASS).map_err(e)?;
            for n in 1..=ACCOUNTS {
                admin.add_user(&agent_name(n), &["physician".to_string()], PASS).map_err(e)?;
            }
        }
        let ids: Vec<PatientId> = (0..patients.max(1)).map(|_| PatientId::random()).collect();
        let session = store.unlock(USER, PASS, AccessContext::treatment("bench")).map_err(e)?;
        let start = Counters::now();
        let mut pick = Pick::new(6);
        let mut written = 0u64;
        while written < events {
            let chunk = (events - written).min(5_000);
            let drafts = (0..chunk)
                .map(|k| {
                    let agent = Agent {
                        user: None,
                        name: agent_name((written + k) % AGENTS),
                        roles: vec!["physician".into()],
                        session: None,
                        workstation: "bench".into(),
                    };
                    EventDraft::new(Action::Read, Outcome::Success, agent, Purpose::Treatment).entity(Entity {
                        patient: Some(ids[pick.below(ids.len())]),
                        section: Some(Section::Reports),
                        ..Entity::default()
                    })
                })
                .collect();
            medvault::testing::append_events(&session, drafts).map_err(e)?;
            written += chunk;
        }
        let fill = start.since();
        drop(session);
        Ok(History { store, patients: ids, events, fill: Some(fill) })
    }

    /// The log an earlier run left in `dir`; its patients are those of its newest events.
    pub fn reopen(dir: &std::path::Path) -> Res<History> {
        let store = Store::open(dir).map_err(e)?;
        let dpo = store.unlock("dpo", PASS, AccessContext::operations("bench")).map_err(e)?;
        let newest = dpo.audit_query(&AuditQuery { limit: 5_000, ..AuditQuery::default() }).map_err(e)?;
        let mut patients: Vec<PatientId> = newest.iter().filter_map(|ev| ev.entity.patient).collect();
        patients.sort_unstable();
        patients.dedup();
        let events = dpo.export_checkpoint().map_err(e)?.head.size;
        drop(dpo);
        if patients.is_empty() {
            return Err(format!("{}: no patient in the newest events", dir.display()));
        }
        Ok(History { store, patients, events, fill: None })
    }

    /// W9: the first unlock of `USER` (whose last unlock came before the fill) and of each
    /// account `dr_01`... (never unlocked), each after Argon2id alone. Only for a log this run
    /// filled: a reopened one may have been unlocked since.
    pub fn first_unlocks(&self, argon: &Argon2Alone) -> Res<Series> {
        let mut series = Series::default();
        for n in 0..=ACCOUNTS {
            series.sample(argon, || crate::unlock::timed(&self.store, &agent_name(n)))?;
        }
        Ok(series)
    }

    /// W6: `queries` lookups of one patient's whole history by the DPO; latencies.
    pub fn patient_history(&self, queries: usize) -> Res<(Vec<Duration>, usize)> {
        let dpo = self.store.unlock("dpo", PASS, AccessContext::operations("bench")).map_err(e)?;
        let mut pick = Pick::new(7);
        let mut out = Vec::with_capacity(queries);
        let mut found = 0;
        for _ in 0..queries {
            let q = AuditQuery {
                patient: Some(self.patients[pick.below(self.patients.len())]),
                limit: 1_000_000,
                ..AuditQuery::default()
            };
            let t = Instant::now();
            found += dpo.audit_query(&q).map_err(e)?.len();
            out.push(t.elapsed());
        }
        Ok((out, found))
    }

    /// W7: one full verification; (events checked, time).
    pub fn verify(&self) -> Res<(u64, Duration)> {
        let dpo = self.store.unlock("dpo", PASS, AccessContext::operations("bench")).map_err(e)?;
        let t = Instant::now();
        let report = dpo.verify_audit(None).map_err(e)?;
        let d = t.elapsed();
        if !report.problems.is_empty() {
            return Err(format!("medvault: verify found {} problem(s)", report.problems.len()));
        }
        Ok((report.size, d))
    }
}

/// The name the `n`-th physician's events carry (`USER` for 0).
fn agent_name(n: u64) -> String {
    if n == 0 { USER.to_string() } else { format!("dr_{n:02}") }
}
