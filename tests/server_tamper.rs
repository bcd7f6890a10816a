//! Tampering by whoever administers the PostgreSQL server, in plain SQL on the store's schema:
//! an edited or deleted audit event, a truncated log, a deleted or rolled-back record, a
//! planted row, the whole schema put back to an older state. `verify` reports each (the same
//! checks as on the embedded engines; a server store has no witness file, so a consistent
//! older state is caught by a checkpoint kept outside the server). Each test uses its own
//! schema.
#![cfg(feature = "postgres")]

mod common;

use common::{Kind, PASS, Place, Practice, ctx};
use medvault::backend::Space;
use medvault::{Store, StoreLocation, StoreOptions, VerifyReport};

/// A practice on its own schema, a corrected report, an opposition; `None` without a server
/// (skipped with a message; with `CI=true` a missing server fails instead).
fn setup(test: &str) -> Option<(Practice, String, String, medvault::PatientId)> {
    if !Kind::Postgres.available(test) {
        return None;
    }
    let options = StoreOptions { checkpoint_interval: 16, ..StoreOptions::insecure_fast_for_tests() };
    let practice = Practice::with(Kind::Postgres, options);
    let (p, _) = practice.corrected_patient();
    let Place::Server(schema) = &practice.place else { panic!("a server practice") };
    let (name, url) = (schema.name().to_string(), schema.url().to_string());
    Some((practice, name, url, p))
}

/// The server as its administrator reaches it: a plain connection, the store's schema.
fn sql(schema: &str) -> postgres::Client {
    let mut c = medvault::testing::postgres_test_server()
        .parse::<postgres::Config>()
        .unwrap()
        .connect(postgres::NoTls)
        .unwrap();
    c.batch_execute(&format!("SET search_path TO {schema}")).unwrap();
    c
}

/// A fresh process's verification of the store at `url`.
fn verify(url: &str) -> VerifyReport {
    let store = Store::open_at(&StoreLocation::parse(url)).unwrap();
    store.unlock("dpo", PASS, ctx()).unwrap().verify_audit(None).unwrap()
}

fn space(s: Space) -> i16 {
    s as i16
}

#[test]
fn an_untouched_server_store_verifies_every_event_and_record() {
    let Some((practice, _, url, _)) = setup("untouched") else { return };
    let size = practice.store.audit_size();
    let report = verify(&url);
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.size, size + 1, "every event plus the DPO's unlock");
    assert!(report.records_checked.is_some_and(|n| n > 30), "{:?}", report.records_checked);
    assert!(report.checkpoints_checked >= 2, "{} checkpoints", report.checkpoints_checked);
}

#[test]
fn an_event_edited_in_sql_is_found() {
    let Some((_practice, schema, url, _)) = setup("edited") else { return };
    let mut c = sql(&schema);
    // Flip one bit of event 10's stored bytes, in place.
    let n = c
        .execute(
            "UPDATE medvault_kv SET v = set_byte(v, length(v) - 4, get_byte(v, length(v) - 4) # 32) \
             WHERE space = $1 AND k = $2",
            &[&space(Space::AuditEvents), &10u64.to_be_bytes().as_slice()],
        )
        .unwrap();
    assert_eq!(n, 1);
    let report = verify(&url);
    assert_eq!(report.first_bad_seq(), Some(10), "{:?}", report.problems);
}

#[test]
fn events_deleted_or_the_log_truncated_in_sql_are_found() {
    let Some((practice, schema, url, _)) = setup("truncated") else { return };
    let mut c = sql(&schema);
    // (The practice keeps the schema: dropping it would drop the schema.)
    let size = practice.store.audit_size();
    // One event from the middle.
    c.execute(
        "DELETE FROM medvault_kv WHERE space = $1 AND k = $2",
        &[&space(Space::AuditEvents), &7u64.to_be_bytes().as_slice()],
    )
    .unwrap();
    assert!(!verify(&url).is_ok(), "a deleted event went unnoticed");
    // The last three events, and every index row and tree node past them.
    let from = (size - 3).to_be_bytes();
    let n = c
        .execute(
            "DELETE FROM medvault_kv WHERE space = $1 AND k >= $2",
            &[&space(Space::AuditEvents), &from.as_slice()],
        )
        .unwrap();
    assert!(n >= 3);
    let report = verify(&url);
    assert!(!report.is_ok(), "a truncated log went unnoticed");
}

#[test]
fn records_deleted_rolled_back_or_planted_in_sql_are_found() {
    let Some((_practice, schema, url, p)) = setup("records") else { return };
    let mut c = sql(&schema);
    // The report's two revisions (reports section code 0x02), oldest first.
    let prefix = [p.0.as_slice(), &[0x02]].concat();
    let rows = c
        .query(
            "SELECT k, v FROM medvault_kv WHERE space = $1 AND substring(k from 1 for 17) = $2 ORDER BY k",
            &[&space(Space::Records), &prefix.as_slice()],
        )
        .unwrap();
    assert_eq!(rows.len(), 2, "the fixture's report has two revisions");
    let (older, newer): (Vec<u8>, Vec<u8>) = (rows[0].get(1), rows[1].get(0));
    // Rolled back: the newest revision's row holds the older revision's bytes.
    c.execute("UPDATE medvault_kv SET v = $3 WHERE space = $1 AND k = $2", &[&space(Space::Records), &newer, &older])
        .unwrap();
    let report = verify(&url);
    assert!(
        report.problems.iter().any(|x| x.what.contains("differs from what event")),
        "a rolled-back revision went unnoticed: {:?}",
        report.problems
    );
    // Deleted.
    c.execute("DELETE FROM medvault_kv WHERE space = $1 AND k = $2", &[&space(Space::Records), &newer]).unwrap();
    let report = verify(&url);
    assert!(
        report.problems.iter().any(|x| x.what.contains("missing (deleted)")),
        "a deleted revision went unnoticed: {:?}",
        report.problems
    );
    // A deleted opposition, and one planted on another patient.
    let opposition = c
        .query("SELECT k, v FROM medvault_kv WHERE space = $1", &[&space(Space::Oppositions)])
        .unwrap()
        .into_iter()
        .map(|r| (r.get::<_, Vec<u8>>(0), r.get::<_, Vec<u8>>(1)))
        .next()
        .unwrap();
    c.execute("DELETE FROM medvault_kv WHERE space = $1", &[&space(Space::Oppositions)]).unwrap();
    let mut planted = vec![0x5a; 16];
    planted.extend_from_slice(&opposition.0[16..]);
    c.execute(
        "INSERT INTO medvault_kv (space, k, v) VALUES ($1, $2, $3)",
        &[&space(Space::Oppositions), &planted, &opposition.1],
    )
    .unwrap();
    let report = verify(&url);
    let found = |s: &str| report.problems.iter().any(|x| x.what.contains(s));
    assert!(found("Oppositions record"), "a deleted opposition went unnoticed: {:?}", report.problems);
    assert!(found("planted"), "a planted opposition went unnoticed: {:?}", report.problems);
}

/// The server's administrator puts back an older state of the whole schema, consistent in
/// itself: nothing in the schema can tell, but a checkpoint the DPO exported and kept outside
/// the server (`audit checkpoint`) can.
#[test]
fn a_whole_schema_rolled_back_is_caught_by_an_exported_checkpoint() {
    if !Kind::Postgres.available("rollback") {
        return;
    }
    let schema = medvault::testing::TestSchema::new("rollback").unwrap();
    let location = StoreLocation::parse(schema.url());
    let (store, _) = Store::create_at(&location, "admin", PASS, StoreOptions::insecure_fast_for_tests()).unwrap();
    let admin = store.unlock("admin", PASS, ctx()).unwrap();
    admin.add_user("dpo", &["auditor".into()], PASS).unwrap();
    drop(admin);
    store.close().unwrap();
    let mut c = sql(schema.name());
    c.batch_execute(
        "CREATE TABLE old_kv AS SELECT * FROM medvault_kv; CREATE TABLE old_seq AS SELECT * FROM medvault_sequencer",
    )
    .unwrap();

    // More work, and a checkpoint the DPO keeps elsewhere.
    let store = Store::open_at(&location).unwrap();
    let dpo = store.unlock("dpo", PASS, ctx()).unwrap();
    let kept = dpo.export_checkpoint().unwrap();
    assert!(dpo.verify_audit(Some(&kept)).unwrap().is_ok());
    drop(dpo);
    store.close().unwrap();

    // The older state, put back row for row.
    c.batch_execute(
        "BEGIN; DELETE FROM medvault_kv; INSERT INTO medvault_kv SELECT * FROM old_kv; \
         DELETE FROM medvault_sequencer; INSERT INTO medvault_sequencer SELECT * FROM old_seq; COMMIT",
    )
    .unwrap();
    let store = Store::open_at(&location).expect("a consistent older state opens");
    let dpo = store.unlock("dpo", PASS, ctx()).unwrap();
    assert!(dpo.verify_audit(None).unwrap().is_ok(), "nothing in the schema itself tells");
    let report = dpo.verify_audit(Some(&kept)).unwrap();
    assert!(!report.is_ok(), "a rollback of the whole schema went unnoticed");
    assert!(report.problems.iter().any(|p| p.what.contains("anchor")), "{:?}", report.problems);
}
