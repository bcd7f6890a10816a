//! How fast does a DPO get one patient's accesses out of a large log?
//!
//! Builds a sled store with N audit events (default 1,000,000; `MEDVAULT_BENCH_EVENTS`) spread
//! over 20,000 patients and 50 users, then times, side by side in one run, the indexed query for
//! one patient (newest 100 events) against a full scan of the log filtered the same way.
//! Run: `cargo bench --bench audit_query`.

use medvault::Durability;
use medvault::audit::{Action, Agent, AuditQuery, Entity, Outcome, Purpose};
use medvault::backend::{Backend, Batch, Order, SledBackend, Space};
use medvault::model::{PatientId, Section, StoreId};
use medvault::synthetic::Synth;
use medvault::testing::Committer;
use medvault::testing::audit::{AuditLog, EventDraft};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let n: u64 = std::env::var("MEDVAULT_BENCH_EVENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let backend: Arc<dyn Backend> = Arc::new(SledBackend::open(dir.path()).expect("sled"));
    let committer = Committer::new(backend.clone());
    let log = AuditLog::load(backend.as_ref(), StoreId::random(), 256, Arc::new(medvault::SystemClock)).expect("log");
    let patients: Vec<PatientId> = (0..20_000).map(|_| PatientId::random()).collect();
    let mut synth = Synth::new(42);
    let started = Instant::now();
    let mut written = 0u64;
    while written < n {
        let chunk = (n - written).min(2_000);
        let drafts = (0..chunk)
            .map(|_| {
                let p = patients[synth.below(patients.len() as u64) as usize];
                let user = format!("user{:02}", synth.below(50));
                let agent = Agent {
                    user: None,
                    name: user,
                    roles: vec!["physician".into()],
                    session: None,
                    workstation: "bench".into(),
                };
                EventDraft::new(Action::Read, Outcome::Success, agent, Purpose::Treatment).entity(Entity {
                    patient: Some(p),
                    section: Some(Section::Reports),
                    ..Entity::default()
                })
            })
            .collect();
        let _ = log
            .append(&committer, drafts, Batch::new(), None, Durability::Buffered)
            .expect("append")
            .durable(&log, &committer)
            .expect("durable");
        written += chunk;
    }
    committer.sync_all().expect("flush");
    println!(
        "built {n} events in {:.1} s ({:.0} events/s)",
        started.elapsed().as_secs_f64(),
        n as f64 / started.elapsed().as_secs_f64()
    );

    // The patient with the most events is the worst case for the indexed query.
    let target = patients[0];
    let mut indexed = Vec::new();
    let mut got = 0;
    for _ in 0..50 {
        let t = Instant::now();
        got = AuditQuery { patient: Some(target), limit: 100, ..Default::default() }
            .run(backend.as_ref())
            .expect("query")
            .len();
        indexed.push(t.elapsed());
    }
    let all = AuditQuery { patient: Some(target), limit: 100_000, ..Default::default() }
        .run(backend.as_ref())
        .expect("query")
        .len();
    let mut scans = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let mut lo = Vec::new();
        let mut hits = 0usize;
        loop {
            let page = backend.range(Space::AuditEvents, &lo, None, Order::Ascending, 10_000).expect("scan");
            for (_, v) in &page {
                let e = medvault::AuditEvent::decode(v).expect("event");
                hits += usize::from(e.entity.patient == Some(target));
            }
            match page.last() {
                Some((k, _)) if page.len() == 10_000 => {
                    lo = k.clone();
                    lo.push(0);
                }
                _ => break,
            }
        }
        assert_eq!(hits, all);
        scans.push(t.elapsed());
    }
    let (qi, qs) = (median(indexed), median(scans));
    println!("patient with {all} events; newest {got} returned");
    println!("indexed query (median of 50): {:.3} ms", qi.as_secs_f64() * 1e3);
    println!("full scan     (median of 3):  {:.1} ms", qs.as_secs_f64() * 1e3);
    println!("ratio scan / indexed: {:.0}x", qs.as_secs_f64() / qi.as_secs_f64());
    group_commit();
}

/// Group commit: durable appends from 8 threads share flushes; one thread pays one each.
fn group_commit() {
    let run = |threads: usize, per_thread: usize| {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend: Arc<dyn Backend> = Arc::new(SledBackend::open(dir.path()).expect("sled"));
        let committer = Committer::new(backend.clone());
        let log =
            AuditLog::load(backend.as_ref(), StoreId::random(), 256, Arc::new(medvault::SystemClock)).expect("log");
        let t = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    for _ in 0..per_thread {
                        let agent = Agent {
                            user: None,
                            name: "u".into(),
                            roles: vec![],
                            session: None,
                            workstation: "bench".into(),
                        };
                        let d = EventDraft::new(Action::Read, Outcome::Success, agent, Purpose::Treatment);
                        let _ = log
                            .append(&committer, vec![d], Batch::new(), None, Durability::Immediate)
                            .expect("append")
                            .durable(&log, &committer)
                            .expect("durable");
                    }
                });
            }
        });
        let (transactions, syncs) = committer.stats();
        let (applied, flushes) = (threads as u64 * per_thread as u64, syncs.min(transactions));
        (t.elapsed(), applied, flushes)
    };
    let (t1, a1, f1) = run(1, 800);
    let (t8, a8, f8) = run(8, 100);
    println!("durable appends, 1 thread:  {a1} commits, {f1} flushes, {:.0} commits/s", a1 as f64 / t1.as_secs_f64());
    println!(
        "durable appends, 8 threads: {a8} commits, {f8} flushes, {:.0} commits/s ({:.1} commits per flush)",
        a8 as f64 / t8.as_secs_f64(),
        a8 as f64 / f8.max(1) as f64
    );
}
