//! Several OS processes on one PostgreSQL store: each appends to the one audit log and writes
//! the same patients' files at once. Afterwards the log verifies, has no gap, and holds every
//! operation a process was told succeeded; a process killed mid-run leaves the store
//! consistent for the others.
//!
//! The test binary runs itself as the workers (`child`, selected by environment variables).
#![cfg(feature = "postgres")]

mod common;

use common::{PASS, ctx};
use medvault::synthetic::Synth;
use medvault::{Action, AuditQuery, CareMember, Date, FindQuery, Outcome, PatientId, Store, StoreLocation};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};

const WORKERS: usize = 4;
const OPS: usize = 500;

fn doctor(i: usize) -> String {
    format!("doc{i}")
}

/// One worker: `OPS` mixed audited operations as its own physician; prints `ack ACTION` for
/// each acknowledged one, and `entry PATIENT ENTRY` for each report written.
fn work(url: &str, me: usize, ops: usize, shared: &[PatientId]) {
    let store = Store::open_at(&StoreLocation::parse(url)).unwrap();
    let s = store.unlock(&doctor(me), PASS, ctx()).unwrap();
    let mut synth = Synth::new(1_000 + me as u64);
    let mut mine: Vec<(PatientId, Option<String>)> = Vec::new();
    let d = Date::parse("2026-11-02").unwrap();
    for n in 0..ops {
        let pick = |k: usize| shared[(n + k) % shared.len()];
        match n % 6 {
            0 => {
                let id = synth.identity();
                let ins = id.ins_matricule.clone();
                let p = s.create_patient(id).unwrap();
                println!("ack {:?}", Action::PatientCreate);
                mine.push((p, ins));
            }
            1 | 4 => {
                // Reports on the shared patients: every worker writes the same files.
                let p = pick(me);
                let e = s.append_report(p, synth.report("Dr Worker", d)).unwrap();
                println!("ack {:?}", Action::Write);
                println!("entry {p} {e}");
            }
            2 => {
                s.read_reports(pick(me + 1)).unwrap();
                println!("ack {:?}", Action::Read);
            }
            3 => {
                let Some((p, Some(ins))) = mine.last().cloned() else { continue };
                assert_eq!(s.find_patient(&FindQuery::InsMatricule(ins)).unwrap(), vec![p]);
                println!("ack {:?}", Action::Search);
            }
            _ => {
                s.read_identity(pick(me + 2)).unwrap();
                println!("ack {:?}", Action::Read);
            }
        }
    }
    println!("finished");
}

/// The worker entry point: does nothing unless run by `spawn`.
#[test]
fn child() {
    let (Ok(url), Ok(me), Ok(ops), Ok(shared)) = (
        std::env::var("MEDVAULT_WORKER_URL"),
        std::env::var("MEDVAULT_WORKER_ID"),
        std::env::var("MEDVAULT_WORKER_OPS"),
        std::env::var("MEDVAULT_WORKER_SHARED"),
    ) else {
        return;
    };
    let shared: Vec<PatientId> = shared.split(',').map(|p| PatientId::parse(p).unwrap()).collect();
    work(&url, me.parse().unwrap(), ops.parse().unwrap(), &shared);
}

fn spawn(url: &str, me: usize, ops: usize, shared: &[PatientId]) -> Child {
    let ids: Vec<String> = shared.iter().map(ToString::to_string).collect();
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads", "1"])
        .env("MEDVAULT_WORKER_URL", url)
        .env("MEDVAULT_WORKER_ID", me.to_string())
        .env("MEDVAULT_WORKER_OPS", ops.to_string())
        .env("MEDVAULT_WORKER_SHARED", ids.join(","))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A store with `WORKERS` physicians and four patients all of them care for.
fn practice(url: &str) -> (Store, Vec<PatientId>) {
    let location = StoreLocation::parse(url);
    let (store, _) =
        Store::create_at(&location, "admin", PASS, medvault::StoreOptions::insecure_fast_for_tests()).unwrap();
    let admin = store.unlock("admin", PASS, ctx()).unwrap();
    admin.add_user("dpo", &["auditor".into()], PASS).unwrap();
    for i in 0..WORKERS {
        admin.add_user(&doctor(i), &["physician".into()], PASS).unwrap();
    }
    let first = store.unlock(&doctor(0), PASS, ctx()).unwrap();
    let mut synth = Synth::new(7);
    let shared: Vec<PatientId> = (0..4)
        .map(|_| {
            let p = first.create_patient(synth.identity()).unwrap();
            for i in 1..WORKERS {
                first.care_team_add(p, &CareMember::User(doctor(i))).unwrap();
            }
            p
        })
        .collect();
    (store, shared)
}

/// What a worker printed: acknowledged operations by action, and the reports it wrote.
#[derive(Default)]
struct Acks {
    by_action: BTreeMap<String, u64>,
    entries: Vec<(String, String)>,
    finished: bool,
}

fn acks(stdout: &str) -> Acks {
    let mut a = Acks::default();
    for line in stdout.lines() {
        // The harness prints `test child ... ` without a newline before the worker's first line.
        let line = line.rsplit("... ").next().unwrap_or(line);
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("ack"), Some(action), None) => *a.by_action.entry(action.to_string()).or_default() += 1,
            (Some("entry"), Some(p), Some(e)) => a.entries.push((p.to_string(), e.to_string())),
            (Some("finished"), None, None) => a.finished = true,
            _ => {}
        }
    }
    a
}

/// Checks the store after the workers (events from `base` on): the log verifies with no gap, and every acknowledged
/// operation is in it (the count of each worker's successful events of each action is at
/// least what it was told succeeded; exactly, for workers that finished) and every
/// acknowledged report reads back.
fn check(store: &Store, shared: &[PatientId], base: u64, all: &[(usize, Acks)]) -> u64 {
    let dpo = store.unlock("dpo", PASS, ctx()).unwrap();
    let report = dpo.verify_audit(None).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.signed_size, report.size, "every event is under a signed head");
    let mut acknowledged = 0;
    for (me, acks) in all {
        // Every page, newest first, until the first event.
        let mut events = Vec::new();
        loop {
            let before_seq = events.last().map(|e: &medvault::AuditEvent| e.seq);
            let page = dpo
                .audit_query(&AuditQuery { user: Some(doctor(*me)), before_seq, limit: 1000, ..Default::default() })
                .unwrap();
            if page.is_empty() {
                break;
            }
            events.extend(page);
        }
        for (action, n) in &acks.by_action {
            let logged = events
                .iter()
                .filter(|e| e.seq >= base && format!("{:?}", e.action) == *action && e.outcome == Outcome::Success)
                .count() as u64;
            if acks.finished {
                assert_eq!(logged, *n, "worker {me}: {action}");
            } else {
                assert!(logged >= *n, "worker {me}: {action}: {logged} logged, {n} acknowledged");
            }
            acknowledged += n;
        }
    }
    let reader = store.unlock(&doctor(0), PASS, ctx()).unwrap();
    let mut stored = Vec::new();
    for p in shared {
        for e in reader.read_reports(*p).unwrap() {
            stored.push((p.to_string(), e.entry_id.to_string()));
        }
    }
    for (me, acks) in all {
        for entry in &acks.entries {
            assert!(stored.contains(entry), "worker {me}: acknowledged report {entry:?} is missing");
        }
    }
    acknowledged
}

#[test]
fn four_processes_append_to_one_log_without_gap_or_loss() {
    if std::env::var("MEDVAULT_WORKER_URL").is_ok() {
        return;
    }
    let Some(schema) = medvault::testing::TestSchema::new("procs") else { return };
    let (store, shared) = practice(schema.url());
    let base = store.audit_size();
    let started = std::time::Instant::now();
    let children: Vec<(usize, Child)> = (0..WORKERS).map(|i| (i, spawn(schema.url(), i, OPS, &shared))).collect();
    let mut all = Vec::new();
    for (i, child) in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "worker {i} failed: {}", String::from_utf8_lossy(&out.stderr));
        let a = acks(&stdout);
        assert!(a.finished, "worker {i} did not finish");
        all.push((i, a));
    }
    let elapsed = started.elapsed();
    let acknowledged = check(&store, &shared, base, &all);
    assert!(acknowledged >= (WORKERS * OPS * 5 / 6) as u64, "{acknowledged} operations acknowledged");
    let events = store.audit_size();
    println!(
        "{WORKERS} processes x {OPS} operations: {acknowledged} acknowledged, {events} events, verified, in {:.1} s",
        elapsed.as_secs_f64()
    );
}

#[test]
fn a_worker_killed_mid_run_leaves_the_store_consistent() {
    if std::env::var("MEDVAULT_WORKER_URL").is_ok() {
        return;
    }
    let Some(schema) = medvault::testing::TestSchema::new("kill") else { return };
    let (store, shared) = practice(schema.url());
    let base = store.audit_size();
    let mut victim = spawn(schema.url(), 0, 100_000, &shared);
    let survivor = spawn(schema.url(), 1, 200, &shared);
    // Let the victim get going, then kill it (SIGKILL: no unwinding, its transaction and its
    // lease die with its connections).
    std::thread::sleep(std::time::Duration::from_millis(1500));
    victim.kill().unwrap();
    let victim_out = victim.wait_with_output().unwrap();
    let out = survivor.wait_with_output().unwrap();
    assert!(out.status.success(), "the survivor failed: {}", String::from_utf8_lossy(&out.stderr));
    let victim_acks = acks(&String::from_utf8_lossy(&victim_out.stdout));
    assert!(!victim_acks.finished);
    let survivor_acks = acks(&String::from_utf8_lossy(&out.stdout));
    assert!(survivor_acks.finished);
    // A third process appends after both.
    let late = spawn(schema.url(), 2, 30, &shared).wait_with_output().unwrap();
    assert!(late.status.success(), "a later worker failed: {}", String::from_utf8_lossy(&late.stderr));
    let late_acks = acks(&String::from_utf8_lossy(&late.stdout));
    let acknowledged = check(&store, &shared, base, &[(0, victim_acks), (1, survivor_acks), (2, late_acks)]);
    println!("killed worker: {acknowledged} operations acknowledged in all, store verified");
}
