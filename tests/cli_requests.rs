//! The DPO working alone at the command line: a request registered with who asked and for
//! what, answered by a sealed copy the register remembers, closed requests still listed; the
//! copy names professionals as their administrator set them, and `verify-copy` authenticates it.

mod cli_harness;

use cli_harness::Cli;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn a_request_goes_from_register_to_sealed_answer_and_stays_listed() {
    let cli = Cli::new();
    let p = cli.patient();
    cli.cmd("alice")
        .args(["user", "profile", "martin", "--full-name", "Dr Paul Martin", "--profession", "cardiologue"])
        .assert()
        .success();
    let users = cli.json("alice", &["user", "list"]);
    let martin = users.as_array().unwrap().iter().find(|u| u["name"] == "martin").unwrap();
    assert_eq!(
        (martin["full_name"].as_str(), martin["profession"].as_str()),
        (Some("Dr Paul Martin"), Some("cardiologue"))
    );
    // Received three days ago by post from the patient's guardian.
    let received = medvault::Timestamp(medvault::Timestamp::now().0 - 3 * 86_400_000).to_string();
    let out = cli
        .cmd("dpo")
        .args([
            "requests",
            "add",
            &p[..8],
            "--kind",
            "copy",
            "--received",
            &received,
            "--requester",
            "legal_representative",
        ])
        .assert()
        .success()
        .get_output()
        .clone();
    let id = String::from_utf8(out.stdout.clone()).unwrap().trim().to_string();
    assert!(stderr(&out).contains("CSP L1111-7: 8 days"), "{}", stderr(&out));
    // An unknown requester is a clear error listing the valid ones, and registers nothing.
    let out = cli
        .cmd("dpo")
        .args(["requests", "add", &p, "--kind", "copy", "--requester", "cousin"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert!(stderr(&out).contains("legal_representative"), "{}", stderr(&out));
    assert_eq!(cli.json("dpo", &["requests", "list"]).as_array().unwrap().len(), 1);
    // The physician answers it: a sealed copy, recorded in the register.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copie.html");
    let out = cli
        .cmd("martin")
        .args(["requests", "answer", &id, "--format", "html", "--out", copy.to_str().unwrap()])
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(stderr(&out).contains("answered"), "{}", stderr(&out));
    let page = std::fs::read_to_string(&copy).unwrap();
    assert!(page.contains("Dr Paul Martin (cardiologue)"), "the copy names the professional");
    // Closed: gone from the open list, kept with its answer in the whole register.
    assert!(cli.json("dpo", &["requests", "list"]).as_array().unwrap().is_empty());
    let all = cli.json("dpo", &["requests", "list", "--all"]);
    let r = &all[0];
    assert_eq!((r["id"].as_str(), r["requester"].as_str()), (Some(id.as_str()), Some("legal_representative")));
    assert_eq!(r["answer"]["by"], "martin");
    assert_eq!(r["answer"]["export"]["format"], "html");
    let sha = r["answer"]["export"]["sha256"].as_str().unwrap().to_string();
    // The copy checks with the practice's key, and its hash is the one the register holds.
    let key = cli.stdout("dpo", &["audit", "key"]);
    let checked = cli.json("dpo", &["verify-copy", copy.to_str().unwrap(), "--key", &key]);
    assert_eq!(checked["report"]["sha256"], sha.as_str());
    assert_eq!(checked["report"]["signed_by"]["name"], "martin");
    // No key: a usage error; a changed copy: an integrity failure (exit 4).
    cli.cmd("dpo").args(["verify-copy", copy.to_str().unwrap()]).assert().code(2);
    std::fs::write(&copy, page.replacen("cardiologue", "cardiologie", 1)).unwrap();
    cli.cmd("dpo").args(["verify-copy", copy.to_str().unwrap(), "--key", &key]).assert().code(4);
    // A second answer is refused; another request closed as refused is listed as such.
    cli.cmd("martin").args(["requests", "answer", &id, "--out", "-"]).assert().code(1);
    let rect = cli.stdout("dpo", &["requests", "add", &p, "--kind", "rectification"]);
    cli.cmd("dpo").args(["requests", "close", &rect, "--resolution", "refused"]).assert().success();
    let all = cli.json("dpo", &["requests", "list", "--all"]);
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert!(all.as_array().unwrap().iter().any(|r| r["answer"]["resolution"] == "refused"));
}

/// `import fhir` at the command line: a dry run, the import, a second run that adds nothing.
#[test]
fn import_fhir_from_an_export_folder_is_idempotent() {
    let source = Cli::new();
    let p = source.patient();
    source
        .cmd("martin")
        .args(["write", &p, "--section", "reports", "--input", &cli_harness::data("report.json")])
        .assert()
        .success();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("export");
    source.cmd("martin").args(["export", "all", "--out", out.to_str().unwrap()]).assert().success();
    let target = Cli::new();
    let dry = target.json("martin", &["import", "fhir", out.to_str().unwrap(), "--dry-run"]);
    assert_eq!((dry["dry_run"].as_bool(), dry["patients_created"].as_u64()), (Some(true), Some(1)));
    // Nothing was written by the dry run: the import creates the patient.
    let done = target.json("martin", &["import", "fhir", out.to_str().unwrap()]);
    assert_eq!((done["patients_created"].as_u64(), done["report_revisions"].as_u64()), (Some(1), Some(1)));
    let again = target.json("martin", &["import", "fhir", out.to_str().unwrap()]);
    assert_eq!((again["patients_created"].as_u64(), again["patients_present"].as_u64()), (Some(0), Some(1)));
    assert_eq!((again["report_revisions"].as_u64(), again["entries_present"].as_u64()), (Some(0), Some(1)));
    // A folder without FHIR files: a clear error, exit 1.
    let empty = tempfile::tempdir().unwrap();
    let err = target
        .cmd("martin")
        .args(["import", "fhir", empty.path().to_str().unwrap()])
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert!(stderr(&err).contains("no .ndjson or .json file"), "{}", stderr(&err));
}
