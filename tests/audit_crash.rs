//! Crash consistency: a child process doing audited reads and writes (every fifth report over
//! 200 KiB) is killed with SIGKILL at random moments: 50 rounds on the default engine (redb),
//! 15 on sled. After each kill the store reopens (its witness agrees), the log verifies with
//! every record checked, and every access whose call had returned (acknowledged on the child's
//! stdout) is in the log and every acknowledged report is readable.

mod common;

use common::{PASS, Practice, ctx};
use medvault::{Action, AuditQuery, Date, Engine, Outcome, Store};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DIR_VAR: &str = "MEDVAULT_CRASH_DIR";

/// The child: runs until killed, acknowledging each returned call on stdout.
#[test]
#[ignore = "run by sigkill_at_random_moments_loses_no_acknowledged_access"]
fn crash_child_process() {
    let Some(dir) = std::env::var_os(DIR_VAR) else {
        return;
    };
    let store = Store::open(std::path::Path::new(&dir)).unwrap();
    let doc = store.unlock("dr_martin", PASS, ctx()).unwrap();
    let p = medvault::PatientId::parse(&std::fs::read_to_string(std::path::Path::new(&dir).join("patient")).unwrap())
        .unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "SESSION {}", doc.id()).unwrap();
    let mut synth = medvault::synthetic::Synth::new(std::process::id() as u64);
    let d = Date::parse("2026-11-22").unwrap();
    for i in 0u64.. {
        if i % 3 == 0 {
            let mut r = synth.report("Dr Crash", d);
            if i % 15 == 0 {
                r.body = "Compte rendu opératoire détaillé. ".repeat(6200); // over 200 KiB
            }
            let e = doc.append_report(p, r).unwrap();
            writeln!(out, "W {e}").unwrap();
        } else {
            doc.read_reports(p).unwrap();
            writeln!(out, "R {i}").unwrap();
        }
        out.flush().unwrap();
    }
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_access_on_redb() {
    sigkill_rounds(Engine::Redb, 50);
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_access_on_sled() {
    sigkill_rounds(Engine::Sled, 15);
}

fn sigkill_rounds(engine: Engine, rounds: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    {
        let practice = Practice::in_dir(&store_dir, engine);
        let p = practice.patient(1);
        std::fs::write(store_dir.join("patient"), p.to_string()).unwrap();
        practice.store.close().unwrap();
    }
    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    println!("crash test seed {seed}");
    let exe = std::env::current_exe().unwrap();
    let mut total_acks = 0;
    for round in 0..rounds {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(30 + seed % 400);
        let mut child = Command::new(&exe)
            .args(["--ignored", "--exact", "crash_child_process", "--nocapture", "--test-threads=1"])
            .env(DIR_VAR, &store_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader =
            std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<String>>());
        let started = Instant::now();
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        let session = lines.iter().find_map(|l| l.strip_prefix("SESSION ")).map(str::to_string);
        let writes: Vec<&str> = lines.iter().filter_map(|l| l.strip_prefix("W ")).collect();
        let reads = lines.iter().filter(|l| l.starts_with("R ")).count();
        total_acks += writes.len() + reads;

        let store =
            Store::open(&store_dir).unwrap_or_else(|e| panic!("round {round}: reopen after SIGKILL at {delay:?}: {e}"));
        let dpo = store.unlock("dpo", PASS, ctx()).unwrap();
        let report = dpo.verify_audit(None).unwrap();
        assert!(report.is_ok(), "round {round} (killed after {:?}): {:?}", started.elapsed(), report.problems);
        assert!(report.records_checked.is_some(), "round {round}: records checked against the log");
        let Some(session) = session else { continue };
        let q = AuditQuery { user: Some("dr_martin".into()), limit: 100_000, ..Default::default() };
        let events: Vec<_> = dpo
            .audit_query(&q)
            .unwrap()
            .into_iter()
            .filter(|e| e.agent.session.map(|s| s.to_string()) == Some(session.clone()))
            .collect();
        let logged_reads = events.iter().filter(|e| e.action == Action::Read && e.outcome == Outcome::Success).count();
        assert!(logged_reads >= reads, "round {round}: {reads} reads acknowledged, {logged_reads} in the log");
        let logged_writes: Vec<String> = events
            .iter()
            .filter(|e| e.action == Action::Write)
            .filter_map(|e| e.entity.entry.map(|x| x.to_string()))
            .collect();
        for w in &writes {
            assert!(logged_writes.iter().any(|l| l == w), "round {round}: acknowledged write {w} missing from the log");
        }
        let doc = store.unlock("dr_martin", PASS, ctx()).unwrap();
        let p = medvault::PatientId::parse(&std::fs::read_to_string(store_dir.join("patient")).unwrap()).unwrap();
        let stored: Vec<String> = doc.read_reports(p).unwrap().iter().map(|e| e.entry_id.to_string()).collect();
        for w in &writes {
            assert!(stored.contains(&w.to_string()), "round {round}: acknowledged report {w} lost");
        }
        drop((doc, dpo));
        store.close().unwrap();
    }
    println!("{engine}: {total_acks} acknowledged accesses over {rounds} kills, 0 lost");
    assert!(total_acks > rounds, "the children did work before being killed ({total_acks} acknowledgements)");
}
