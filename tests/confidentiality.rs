//! No plaintext on disk (store folder, backup, migrated copy), in tracing output, in errors or
//! in `Debug`.

mod common;

use medvault::{
    AccessContext, Date, Exam, ExamKind, Identity, IdentityStatus, Report, ReportKind, Sex, Store, StoreOptions,
};
use std::io::Write;
use std::sync::{Arc, Mutex};

const MARKERS: &[&str] = &[
    "ZQXBIRTHNAME",
    "ZQXFIRSTNAME",
    "ZQXUSEDNAME",
    "ZQXADDRESS",
    "ZQXPHONE",
    "ZQXMAIL",
    "ZQXINSURANCE",
    "ZQXCONTACT",
    "ZQXAUTHOR",
    "ZQXTITLE",
    "ZQXBODY",
    "ZQXLABEL",
    "ZQXVALUE",
    "ZQXUNIT",
    "ZQXRANGE",
    "ZQXTEXT",
    "ZQXPERFORMER",
    "ZQXREASON",
    "ZQXCODE",
    "ZQXJUSTIFICATION",
    "ZQXHOLDREASON",
    "ZQXATTACHNAME",
    "ZQXATTACHTYPE",
    "ZQXATTACHCONTENT",
];

fn marked_identity() -> Identity {
    let body = "2841275112345";
    let key = 97 - body.parse::<u64>().unwrap() % 97;
    Identity {
        birth_name: "ZQXBIRTHNAME".into(),
        first_names: vec!["ZQXFIRSTNAME".into()],
        birth_date: Date::parse("1984-12-01").unwrap(),
        sex: Sex::F,
        birth_place_insee: "75056".into(),
        used_name: Some("ZQXUSEDNAME".into()),
        ins_matricule: Some(format!("{body}{key:02}")),
        ins_oid: Some("1.2.250.1.213.1.4.8".into()),
        identity_status: IdentityStatus::QUAL,
        address: Some("ZQXADDRESS".into()),
        phone: Some("ZQXPHONE".into()),
        email: Some("ZQXMAIL".into()),
        insurance: Some("ZQXINSURANCE".into()),
        emergency_contact: Some("ZQXCONTACT".into()),
        date_of_death: None,
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);
impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn scan_dir(dir: &std::path::Path, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).unwrap();
        for n in needles {
            if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                found.push(format!("{n} in {}", entry.display()));
            }
        }
    }
    found
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

/// Writes a marker into every field of every section, attachment and free text, reads them
/// back, and collects the Debug and error output of it all; ends with a backup in `dir`.
fn play_everything(store: &Store, dir: &std::path::Path, debug_output: &mut String) {
    let ctx = AccessContext::treatment("poste-1");
    let admin = store.unlock("admin", b"admin passphrase", ctx.clone()).unwrap();
    admin.add_user("doc", &["physician".into()], b"doctor passphrase").unwrap();
    let doc = store.unlock("doc", b"doctor passphrase", ctx.clone()).unwrap();
    let p = doc.create_patient(marked_identity()).unwrap();
    let d = Date::parse("2026-11-22").unwrap();
    let report = Report {
        kind: ReportKind::Consultation,
        author: "ZQXAUTHOR".into(),
        date: d,
        title: "ZQXTITLE".into(),
        body: "ZQXBODY".into(),
    };
    let e = doc.append_report(p, report.clone()).unwrap();
    doc.write(p, Some(e), report, Some("ZQXREASON")).unwrap();
    let exam = Exam {
        kind: ExamKind::Lab,
        code_system: Some("http://loinc.org".into()),
        code: Some("ZQXCODE".into()),
        label: "ZQXLABEL".into(),
        value: Some("ZQXVALUE".into()),
        unit: Some("ZQXUNIT".into()),
        reference_range: Some("ZQXRANGE".into()),
        interpretation: None,
        text: Some("ZQXTEXT".into()),
        date: d,
        performer: "ZQXPERFORMER".into(),
    };
    doc.append_exam(p, exam).unwrap();
    // An attachment: its name, media type and content (spread over chunks) stay sealed.
    let scan: Vec<u8> = "ZQXATTACHCONTENT courrier ".repeat(8000).into_bytes();
    let att = doc
        .attach(
            p,
            medvault::Section::Reports,
            e,
            "ZQXATTACHNAME.pdf",
            "application/ZQXATTACHTYPE",
            &mut scan.as_slice(),
        )
        .unwrap();
    let listed_attachments = doc.attachments(p, medvault::Section::Reports).unwrap();
    assert_eq!(listed_attachments[0].name, "ZQXATTACHNAME.pdf");
    debug_output.push_str(&format!("{listed_attachments:?}{att:?}"));
    // Free text typed by people: a break-glass justification and a litigation-hold reason.
    admin.add_user("dpo", &["auditor".into()], b"dpo passphrase").unwrap();
    admin.add_user("other", &["physician".into()], b"other passphrase").unwrap();
    drop(store.unlock("doc", b"doctor passphrase", ctx.clone()).unwrap());
    let other = store.unlock("other", b"other passphrase", ctx.clone()).unwrap();
    other.break_glass(p, "ZQXJUSTIFICATION patient inconscient, appel du centre 15", None).unwrap();
    doc.set_hold(p, Some("ZQXHOLDREASON contentieux en cours")).unwrap();
    // Their readers read them: the author, and the DPO; another physician does not.
    let dpo = store.unlock("dpo", b"dpo passphrase", ctx.clone()).unwrap();
    let listed = dpo.break_glass_list(false).unwrap();
    assert!(listed[0].justification.as_deref().is_some_and(|j| j.starts_with("ZQXJUSTIFICATION")));
    let held = |s: &medvault::Session| match s.retention_status(p).unwrap() {
        medvault::rights::Retention::Hold { reason } => reason,
        other => panic!("{other:?}"),
    };
    assert!(held(&doc).is_some_and(|r| r.starts_with("ZQXHOLDREASON")), "the author reads it");
    assert_eq!(held(&other), None, "a colleague who is not a reader does not");
    let statuses = (doc.retention_status(p).unwrap(), other.retention_status(p).unwrap());
    debug_output.push_str(&format!("{listed:?}{statuses:?}"));
    // The DPO's verifiable extract and its CSV hold neither.
    let extract = dpo.audit_extract(&medvault::export::extract::ExtractFilter::default()).unwrap();
    debug_output.push_str(&extract);
    debug_output.push_str(&medvault::export::extract::events_csv(&extract).unwrap());
    drop((other, dpo));
    // Everything reads back, and its Debug output shows nothing.
    let ids = doc.read_identity(p).unwrap();
    let reps = doc.read_reports(p).unwrap();
    let exams = doc.read_exams(p).unwrap();
    assert_eq!(ids[0].content.birth_name, "ZQXBIRTHNAME");
    assert_eq!(reps.len(), 2);
    debug_output.push_str(&format!(
        "{ids:?}{reps:?}{exams:?}{:?}{:?}{:?}{doc:?}",
        ids[0].content, reps[0].content, exams[0].content
    ));
    // An error about bad content names the field, not the value.
    let mut bad = marked_identity();
    bad.ins_matricule = Some("ZQXBIRTHNAME12".into());
    debug_output.push_str(&doc.update_identity(p, bad, "ZQXREASON").unwrap_err().to_string());
    // A backup holds none of it either.
    let mut backup = Vec::new();
    admin.backup(&mut backup).unwrap();
    let backup_file = dir.join("store.backup");
    std::fs::write(&backup_file, &backup).unwrap();
}

/// The tests of this file run one at a time: `tracing` caches, per call site, whether anyone
/// listens, and a store created on another thread while the capture's scoped subscriber is
/// being installed could leave the capture deaf to a call site.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn no_marker_reaches_disk_tracing_errors_or_debug() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber =
        tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || writer.clone()).finish();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let mut debug_output = String::new();
    tracing::subscriber::with_default(subscriber, || {
        let (store, _shares) =
            Store::create(&path, "admin", b"admin passphrase", StoreOptions::insecure_fast_for_tests()).unwrap();
        play_everything(&store, dir.path(), &mut debug_output);
        // Scan after flush, while the store is open...
        store.flush().unwrap();
        let found = scan_dir(&path, MARKERS);
        assert!(found.is_empty(), "plaintext on disk after flush: {found:?}");
        store.close().unwrap();
    });
    // ...and after close.
    let found = scan_dir(&path, MARKERS);
    assert!(found.is_empty(), "plaintext on disk after close: {found:?}");
    // A copy to another engine (what `migrate` writes, and what a copied folder holds) too.
    let copy = dir.path().join("copy");
    medvault::migrate(&path, &copy, medvault::Engine::Sled).unwrap();
    let found = scan_dir(&copy, MARKERS);
    assert!(!walk(&copy).is_empty() && found.is_empty(), "plaintext in a migrated copy: {found:?}");
    let backup = std::fs::read(dir.path().join("store.backup")).unwrap();
    assert!(backup.len() > 1000);
    for m in MARKERS {
        assert!(!backup.windows(m.len()).any(|w| w == m.as_bytes()), "{m} in a backup");
    }
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("store created"), "the capture must see the library's tracing: {logs}");
    for m in MARKERS {
        assert!(!logs.contains(m), "{m} in tracing output");
        assert!(!debug_output.contains(m), "{m} in Debug or error output: {debug_output}");
    }
}

/// The same practice on a PostgreSQL server: a raw dump of its schema (`pg_dump`, every row
/// in full, `bytea` as hex) holds no marker, neither as text nor hex-encoded.
#[cfg(feature = "postgres")]
#[test]
fn no_marker_reaches_a_postgresql_server() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(schema) = medvault::testing::TestSchema::new("dump") else { return };
    let dir = tempfile::tempdir().unwrap();
    let location = medvault::StoreLocation::parse(schema.url());
    let (store, _shares) =
        Store::create_at(&location, "admin", b"admin passphrase", StoreOptions::insecure_fast_for_tests()).unwrap();
    let mut debug_output = String::new();
    play_everything(&store, dir.path(), &mut debug_output);
    store.close().unwrap();
    let server = medvault::testing::postgres_test_server();
    let dbname = server.split('?').next().unwrap_or(&server).to_string();
    let out = std::process::Command::new("pg_dump")
        .args(["--no-owner", "--schema", schema.name(), "--dbname", &dbname])
        .output()
        .expect("pg_dump (postgresql-client) must be installed where a server is reachable");
    assert!(out.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&out.stderr));
    let dump = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(dump.contains("copy ") && dump.contains("medvault_kv"), "the dump holds the store's rows");
    let rows = dump.lines().filter(|l| l.contains("\\\\x")).count();
    assert!(rows > 50, "the dump holds the store's rows ({rows})");
    for m in MARKERS {
        assert!(!dump.contains(&m.to_lowercase()), "{m} in the server's dump");
        assert!(!dump.contains(&hex::encode(m.as_bytes())), "{m} hex-encoded in the server's dump");
        assert!(!debug_output.contains(m), "{m} in Debug or error output");
    }
}
