//! Crash at every durability point. A [`CrashBackend`] keeps what was applied apart from what
//! was made durable; for each operation (a write of a 200 KiB report, a read, a group commit of
//! buffered writes closed by a read, an attachment of 40 chunks) the test counts the durability points (applies and
//! flushes) of a clean run, then replays the operation crashing after 0, 1, ..., n of them. After
//! each crash the surviving (durable) state must open, verify (records against the log
//! included, so nothing is half-visible), and hold every operation acknowledged before the crash.

mod common;

use common::{PASS, Practice, ctx};
use medvault::synthetic::Synth;
use medvault::testing::CrashBackend;
use medvault::{Date, Durability, PatientId, Section, Store, StoreOptions, SystemClock};
use std::collections::BTreeMap;
use std::sync::Arc;

type State = BTreeMap<Vec<u8>, Vec<u8>>;

/// A practice with one patient, flushed: the state every replay starts from.
fn base() -> (State, PatientId) {
    let backend = Arc::new(CrashBackend::new());
    let practice = Practice::on(backend.clone(), StoreOptions::insecure_fast_for_tests());
    let p = practice.patient(1);
    practice.store.flush().unwrap();
    (backend.durable_state(), p)
}

fn big_report() -> medvault::Report {
    let mut r = Synth::new(3).report("Dr Crash", Date::parse("2026-11-22").unwrap());
    r.body = "Compte rendu opératoire détaillé. ".repeat(6200); // ~200 KiB
    assert!(r.body.len() > 200 * 1024);
    r
}

/// What an operation acknowledged before the crash.
#[derive(Default, Debug)]
struct Acked {
    reports_written: Vec<medvault::EntryId>,
    reads: usize,
    attachments: Vec<(medvault::EntryId, medvault::AttachmentId)>,
}

/// An attachment of 40 chunks: its chunks take two engine transactions before the last one.
fn scan() -> Vec<u8> {
    (0..40 * medvault::attachment::CHUNK_SIZE - 99).map(|i| (i % 239) as u8).collect()
}

fn attach(s: &medvault::Session, p: PatientId, a: &mut Acked) -> medvault::Result<()> {
    let entry = s.read_reports(p)?[0].entry_id;
    let id = s.attach(p, Section::Reports, entry, "scan.pdf", "application/pdf", &mut scan().as_slice())?;
    a.attachments.push((entry, id));
    Ok(())
}

type Op = fn(&medvault::Session, PatientId, &mut Acked) -> medvault::Result<()>;

fn write_big(s: &medvault::Session, p: PatientId, a: &mut Acked) -> medvault::Result<()> {
    a.reports_written.push(s.append_report(p, big_report())?);
    Ok(())
}

fn read(s: &medvault::Session, p: PatientId, a: &mut Acked) -> medvault::Result<()> {
    s.read_reports(p)?;
    a.reads += 1;
    Ok(())
}

/// Three buffered writes share the flush of the read that follows: acknowledged writes are
/// durable only once that read is acknowledged (the documented meaning of Buffered).
fn group(s: &medvault::Session, p: PatientId, a: &mut Acked) -> medvault::Result<()> {
    let mut synth = Synth::new(11);
    let d = Date::parse("2026-11-22").unwrap();
    let mut pending = Vec::new();
    for _ in 0..3 {
        pending.push(s.append_report(p, synth.report("Dr Groupe", d))?);
    }
    s.read_reports(p)?;
    a.reads += 1;
    a.reports_written.extend(pending);
    Ok(())
}

/// Runs `op` on a fresh copy of `state`, crashing after `crash_after` durability points.
/// Returns the backend and what was acknowledged.
fn run(
    state: &State,
    p: PatientId,
    op: Op,
    buffered: bool,
    crash_after: Option<u64>,
) -> (Arc<CrashBackend>, Acked, u64) {
    let backend = Arc::new(CrashBackend::from_state(state.clone()));
    let store = Store::open_with_backend(backend.clone(), Arc::new(SystemClock)).unwrap();
    let mut session = store.unlock("dr_martin", PASS, ctx()).unwrap();
    if buffered {
        session.set_durability(Durability::Buffered);
    }
    let start = backend.ops();
    backend.crash_after(crash_after);
    let mut acked = Acked::default();
    let _ = op(&session, p, &mut acked);
    let points = backend.ops() - start;
    (backend, acked, points)
}

fn check_after_crash(backend: &CrashBackend, p: PatientId, acked: &Acked, reads_before: usize, label: &str) {
    let survivor = backend.after_crash();
    let store = Store::open_with_backend(survivor.clone(), Arc::new(SystemClock))
        .unwrap_or_else(|e| panic!("{label}: the durable state does not open: {e}"));
    let dpo = store.unlock("dpo", PASS, ctx()).unwrap();
    let report = dpo.verify_audit(None).unwrap();
    assert!(report.is_ok(), "{label}: {:?}", report.problems);
    assert!(report.records_checked.is_some(), "{label}: records were checked against the log");
    let doc = store.unlock("dr_martin", PASS, ctx()).unwrap();
    let stored: Vec<_> = doc.read_reports(p).unwrap().into_iter().map(|e| e.entry_id).collect();
    for e in &acked.reports_written {
        assert!(stored.contains(e), "{label}: acknowledged report {e} lost");
    }
    for (entry, id) in &acked.attachments {
        let mut out = Vec::new();
        doc.read_attachment(p, Section::Reports, *entry, *id, &mut out)
            .unwrap_or_else(|e| panic!("{label}: acknowledged attachment {id} lost: {e}"));
        assert!(out == scan(), "{label}: attachment {id} reads back different");
    }
    let q = medvault::AuditQuery { patient: Some(p), limit: 100_000, ..Default::default() };
    let reads = dpo
        .audit_query(&q)
        .unwrap()
        .iter()
        .filter(|e| e.action == medvault::Action::Read && e.agent.name == "dr_martin")
        .count();
    // The check's own read is appended after the query; earlier ones are the survivors'.
    assert!(reads >= reads_before + acked.reads, "{label}: acknowledged read lost ({reads} logged)");
}

fn enumerate(name: &str, op: Op, buffered: bool) -> u64 {
    let (state, p) = base();
    let reads_before = {
        let store =
            Store::open_with_backend(Arc::new(CrashBackend::from_state(state.clone())), Arc::new(SystemClock)).unwrap();
        let dpo = store.unlock("dpo", PASS, ctx()).unwrap();
        let q = medvault::AuditQuery { patient: Some(p), limit: 100_000, ..Default::default() };
        dpo.audit_query(&q)
            .unwrap()
            .iter()
            .filter(|e| e.action == medvault::Action::Read && e.agent.name == "dr_martin")
            .count()
    };
    let (_, clean, points) = run(&state, p, op, buffered, None);
    assert!(points >= 2, "{name}: an operation has at least an apply and a flush ({points})");
    assert!(clean.reads + clean.reports_written.len() + clean.attachments.len() > 0);
    for k in 0..=points {
        let (backend, acked, _) = run(&state, p, op, buffered, Some(k));
        check_after_crash(&backend, p, &acked, reads_before, &format!("{name}, crash after {k} of {points} points"));
    }
    println!("{name}: {} crash points, each recovered with every acknowledged operation", points + 1);
    points + 1
}

#[test]
fn a_200_kib_report_write_survives_a_crash_at_every_point() {
    enumerate("write of a 200 KiB report", write_big, false);
}

#[test]
fn a_read_survives_a_crash_at_every_point() {
    enumerate("audited read", read, false);
}

#[test]
fn a_group_commit_survives_a_crash_at_every_point() {
    enumerate("three buffered writes closed by a read", group, true);
}

#[test]
fn an_attachment_survives_a_crash_at_every_point() {
    enumerate("attachment of 40 chunks", attach, false);
}
