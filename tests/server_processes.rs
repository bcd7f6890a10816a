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
use medvault::{Action, AuditQuery, CareMember, Date, FindQuery, Outcome, PatientId, Session, Store, StoreLocation};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};

const WORKERS: usize = 4;
const OPS: usize = 500;

fn doctor(i: usize) -> String {
    format!("doc{i}")
}

/// One worker: `OPS` mixed audited operations as its own physician; prints `ack ACTION` for
/// each acknowledged one, and `entry PATIENT ENTRY` for each report written. A `tolerant`
/// worker (used across a server restart) prints `error N` for an operation that failed and
/// goes on; any other worker stops at the first failure.
fn work(url: &str, me: usize, ops: usize, shared: &[PatientId], tolerant: bool) {
    let started = std::time::Instant::now();
    let (_store, s) = loop {
        let opened = Store::open_at(&StoreLocation::parse(url)).and_then(|store| {
            let s = store.unlock(&doctor(me), PASS, ctx())?;
            Ok((store, s))
        });
        match opened {
            Ok(pair) => break pair,
            Err(e) if tolerant && started.elapsed() < std::time::Duration::from_secs(60) => {
                eprintln!("open: {e}");
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => panic!("worker {me} could not open the store: {e}"),
        }
    };
    let mut synth = Synth::new(1_000 + me as u64);
    let mut mine: Vec<(PatientId, Option<String>)> = Vec::new();
    for n in 0..ops {
        match step(&s, &mut synth, &mut mine, shared, me, n) {
            Ok(()) => {}
            Err(e) if tolerant => {
                println!("error {n}");
                eprintln!("operation {n}: {e}");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => panic!("worker {me}, operation {n}: {e}"),
        }
    }
    println!("finished");
}

/// Operation `n` of worker `me`; prints what was acknowledged.
fn step(
    s: &Session,
    synth: &mut Synth,
    mine: &mut Vec<(PatientId, Option<String>)>,
    shared: &[PatientId],
    me: usize,
    n: usize,
) -> medvault::Result<()> {
    let pick = |k: usize| shared[(n + k) % shared.len()];
    match n % 6 {
        0 => {
            let id = synth.identity();
            let ins = id.ins_matricule.clone();
            let p = s.create_patient(id)?;
            println!("ack {:?}", Action::PatientCreate);
            mine.push((p, ins));
        }
        1 | 4 => {
            // Reports on the shared patients: every worker writes the same files.
            let p = pick(me);
            let e = s.append_report(p, synth.report("Dr Worker", Date::parse("2026-11-02")?))?;
            println!("ack {:?}", Action::Write);
            println!("entry {p} {e}");
        }
        2 => {
            s.read_reports(pick(me + 1))?;
            println!("ack {:?}", Action::Read);
        }
        3 => {
            let Some((p, Some(ins))) = mine.last().cloned() else { return Ok(()) };
            assert_eq!(s.find_patient(&FindQuery::InsMatricule(ins))?, vec![p]);
            println!("ack {:?}", Action::Search);
        }
        _ => {
            s.read_identity(pick(me + 2))?;
            println!("ack {:?}", Action::Read);
        }
    }
    Ok(())
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
    let tolerant = std::env::var("MEDVAULT_WORKER_TOLERANT").is_ok();
    work(&url, me.parse().unwrap(), ops.parse().unwrap(), &shared, tolerant);
}

fn spawn(url: &str, me: usize, ops: usize, shared: &[PatientId]) -> Child {
    worker(url, me, ops, shared).spawn().unwrap()
}

fn worker(url: &str, me: usize, ops: usize, shared: &[PatientId]) -> Command {
    let ids: Vec<String> = shared.iter().map(ToString::to_string).collect();
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "child", "--nocapture", "--test-threads", "1"])
        .env("MEDVAULT_WORKER_URL", url)
        .env("MEDVAULT_WORKER_ID", me.to_string())
        .env("MEDVAULT_WORKER_OPS", ops.to_string())
        .env("MEDVAULT_WORKER_SHARED", ids.join(","))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
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
    /// Operations that failed (tolerant workers only): each may or may not have committed.
    errors: Vec<usize>,
    /// Operations acknowledged after the last failure.
    acks_after_errors: u64,
    finished: bool,
}

fn acks(stdout: &str) -> Acks {
    let mut a = Acks::default();
    for line in stdout.lines() {
        // The harness prints `test child ... ` without a newline before the worker's first line.
        let line = line.rsplit("... ").next().unwrap_or(line);
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("ack"), Some(action), None) => {
                *a.by_action.entry(action.to_string()).or_default() += 1;
                a.acks_after_errors += 1;
            }
            (Some("error"), Some(n), None) => {
                a.errors.push(n.parse().unwrap_or(usize::MAX));
                a.acks_after_errors = 0;
            }
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
            // An operation that failed may have committed before the failure reached its
            // worker: exact counts only for workers that finished without one.
            if acks.finished && acks.errors.is_empty() {
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

/// Four workers at once on the store at `url`; afterwards the log verifies with no gap and
/// holds every acknowledged operation, each exactly once.
fn four_processes(url: &str, label: &str) {
    let (store, shared) = practice(url);
    let base = store.audit_size();
    let started = std::time::Instant::now();
    let children: Vec<(usize, Child)> = (0..WORKERS).map(|i| (i, spawn(url, i, OPS, &shared))).collect();
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
        "{label}: {WORKERS} processes x {OPS} operations: {acknowledged} acknowledged, {events} events, verified, in {:.1} s",
        elapsed.as_secs_f64()
    );
}

#[test]
fn four_processes_append_to_one_log_without_gap_or_loss() {
    if std::env::var("MEDVAULT_WORKER_URL").is_ok() {
        return;
    }
    let Some(schema) = medvault::testing::TestSchema::new("procs") else { return };
    four_processes(schema.url(), "read committed");
}

/// The same under SERIALIZABLE, the isolation PostgreSQL-compatible distributed engines run:
/// transactions the server aborts for a serialization conflict are run again, and nothing is
/// lost or doubled.
#[test]
fn four_processes_under_serializable_isolation() {
    if std::env::var("MEDVAULT_WORKER_URL").is_ok() {
        return;
    }
    let Some(schema) = medvault::testing::TestSchema::new("serial") else { return };
    let url = format!("{}&options=-c%20default_transaction_isolation%3Dserializable", schema.url());
    // The option reaches the server: every session of the store runs SERIALIZABLE.
    let base = url.split("&schema=").next().unwrap_or(&url).to_string()
        + url.split("&options=").nth(1).map(|o| format!("&options={o}")).as_deref().unwrap_or("");
    let mut probe = base.parse::<postgres::Config>().unwrap().connect(postgres::NoTls).unwrap();
    let level: String = probe.query_one("SHOW default_transaction_isolation", &[]).unwrap().get(0);
    assert_eq!(level, "serializable");
    four_processes(&url, "serializable");
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

/// A PostgreSQL server of this test's own, in a temporary folder, so that stopping it does not
/// disturb the other tests on the shared server. Run as the `postgres` account when the test
/// runs as root (the server refuses root). Stopped (immediately) on drop.
struct PrivateServer {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    port: u16,
}

impl PrivateServer {
    /// The server's binaries: `pg_config --bindir`, else Debian's layout.
    fn binaries() -> Option<std::path::PathBuf> {
        let from_pg_config = Command::new("pg_config")
            .arg("--bindir")
            .output()
            .ok()
            .map(|o| std::path::PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
        let debian = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .max();
        [from_pg_config, debian].into_iter().flatten().find(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
    }

    /// A new server, started; `None` (after saying why) when the binaries are missing and `CI`
    /// is not `true`.
    fn start() -> Option<PrivateServer> {
        let Some(bin) = Self::binaries() else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but the PostgreSQL server binaries (initdb, pg_ctl) are not installed"
            );
            eprintln!("skipped: no PostgreSQL server binaries (initdb, pg_ctl) to run a private server");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let server = PrivateServer { dir, bin, port };
        if Self::as_root() {
            let status = Command::new("chown").arg("postgres:").arg(server.dir.path()).status().unwrap();
            assert!(status.success(), "could not give the server folder to the postgres account");
        }
        server.run("initdb", &["-D", &server.data(), "-U", "postgres", "--auth=trust", "--no-instructions"]);
        server.up();
        Some(server)
    }

    fn as_root() -> bool {
        Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Runs one of the server's programs (as `postgres` when root), asserting it succeeded.
    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut command = if Self::as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = command.args(args).stdin(Stdio::null()).output().unwrap();
        assert!(
            out.status.success(),
            "{program} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the server and waits until it accepts connections.
    fn up(&self) {
        let options = format!("-c listen_addresses=127.0.0.1 -p {} -k {}", self.port, self.dir.path().display());
        let log = self.dir.path().join("server.log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-l", &log, "-o", &options, "-w", "-t", "60", "start"]);
    }

    /// Stops the server the way a crash or a power cut would: no checkpoint, every client cut
    /// off; at the next start the server recovers from its write-ahead log.
    fn crash(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
    }

    fn url(&self, schema: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable&schema={schema}", self.port)
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.data();
        let mut command = if Self::as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
            c
        } else {
            Command::new(&pg_ctl)
        };
        let _ = command.args(["-D", &data, "-m", "immediate", "-w", "stop"]).output();
    }
}

#[test]
fn a_server_restart_mid_run_loses_nothing_acknowledged() {
    if std::env::var("MEDVAULT_WORKER_URL").is_ok() {
        return;
    }
    let Some(server) = PrivateServer::start() else { return };
    let url = server.url("restart");
    let (store, shared) = practice(&url);
    let base = store.audit_size();
    // Each worker's output is read as it comes, so that the server goes down once every
    // worker is under way.
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let readers: Vec<(usize, Child, std::thread::JoinHandle<String>)> = (0..WORKERS)
        .map(|i| {
            let mut child = worker(&url, i, 400, &shared).env("MEDVAULT_WORKER_TOLERANT", "1").spawn().unwrap();
            let stdout = child.stdout.take().unwrap();
            let acked = acked.clone();
            let reader = std::thread::spawn(move || {
                use std::io::BufRead;
                let mut all = String::new();
                let mut mine = 0;
                for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                    if line.contains("ack ") && mine < 20 {
                        mine += 1;
                        if mine == 20 {
                            acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                    all.push_str(&line);
                    all.push('\n');
                }
                all
            });
            (i, child, reader)
        })
        .collect();
    let waiting = std::time::Instant::now();
    while acked.load(std::sync::atomic::Ordering::SeqCst) < WORKERS {
        assert!(waiting.elapsed() < std::time::Duration::from_secs(120), "the workers did not get going");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Mid-run: the server goes down hard, stays down a moment, and comes back.
    server.crash();
    std::thread::sleep(std::time::Duration::from_millis(500));
    server.up();
    let mut all = Vec::new();
    let mut failed = 0;
    for (i, child, reader) in readers {
        let out = child.wait_with_output().unwrap();
        let stdout = reader.join().unwrap();
        assert!(out.status.success(), "worker {i} failed: {}", String::from_utf8_lossy(&out.stderr));
        let a = acks(&stdout);
        assert!(a.finished, "worker {i} did not finish");
        // Work resumed after the restart: the worker's last operations were acknowledged.
        assert!(a.acks_after_errors > 0, "worker {i} made no progress after the restart");
        failed += a.errors.len();
        all.push((i, a));
    }
    assert!(failed > 0, "the restart happened after the workers finished: no operation saw it");
    // The store opened before the restart is used as is: its connections are re-established.
    let acknowledged = check(&store, &shared, base, &all);
    // And a store opened afresh sees the same log.
    let reopened = Store::open_at(&StoreLocation::parse(&url)).unwrap();
    assert_eq!(reopened.audit_size(), store.audit_size());
    println!(
        "server restart mid-run: {acknowledged} operations acknowledged, {failed} failed while the server was down, none lost; {} events verified",
        store.audit_size()
    );
}
