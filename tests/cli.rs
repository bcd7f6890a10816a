//! The command line, as administrators use it: every command, its exit code and its JSON.

mod cli_harness;

use assert_cmd::Command;
use cli_harness::{Cli, data, pass};
use std::path::Path;

#[test]
fn patients_are_created_found_written_and_read_with_documented_json() {
    let cli = Cli::new();
    let p = cli.patient();
    let found = cli.json("claire", &["patient", "find", "--ins", "284237505612384"]);
    assert_eq!(found["patients"][0], p.as_str());
    let found = cli.json("claire", &["patient", "find", "--name", "Lefebvre", "--birth-date", "1984-03-12"]);
    assert_eq!(found["patients"][0], p.as_str());
    let w = cli.json("martin", &["write", &p, "--section", "reports", "--input", &data("report.json")]);
    assert_eq!(w["revision"], 1);
    let entry = w["entry_id"].as_str().unwrap().to_string();
    let w2 = cli.json(
        "martin",
        &["write", &p, "--section", "reports", "--input", &data("report.json"), "--entry", &entry, "--reason", "typo"],
    );
    assert_eq!(w2["revision"], 2);
    cli.json("martin", &["write", &p, "--section", "exams", "--input", &data("exam.json")]);
    cli.json(
        "claire",
        &["write", &p, "--section", "identity", "--input", &data("identity.json"), "--reason", "rectification"],
    );

    let id = cli.json("claire", &["read", &p, "--section", "identity"]);
    let last = id.as_array().unwrap().last().unwrap();
    for field in [
        "birth_name",
        "first_names",
        "birth_date",
        "sex",
        "birth_place_insee",
        "ins_matricule",
        "ins_oid",
        "identity_status",
        "used_name",
        "address",
        "phone",
        "email",
        "entry_id",
        "revision",
        "recorded_at",
        "recorded_by",
        "reason",
    ] {
        assert!(last.get(field).is_some(), "identity JSON lacks {field}");
    }
    assert_eq!(last["revision"], 2);
    assert_eq!(last["first_names"][1], "Marie");
    let reps = cli.json("ines", &["read", &p, "--section", "reports"]);
    assert_eq!(reps.as_array().unwrap().len(), 2);
    for field in ["kind", "author", "date", "title", "body", "entry_id", "revision", "recorded_at"] {
        assert!(reps[0].get(field).is_some(), "report JSON lacks {field}");
    }
    let exams = cli.json("ines", &["read", &p, "--section", "exams"]);
    for field in ["kind", "code_system", "code", "label", "value", "unit", "reference_range", "date", "performer"] {
        assert!(exams[0].get(field).is_some(), "exam JSON lacks {field}");
    }
    // Human output too.
    let out = cli.cmd("ines").args(["read", &p, "--section", "exams"]).assert().success().get_output().stdout.clone();
    assert!(String::from_utf8_lossy(&out).contains("Hémoglobine"));
}

#[test]
fn a_denied_read_exits_3_and_prints_no_clinical_data() {
    let cli = Cli::new();
    let p = cli.patient();
    cli.cmd("martin").args(["write", &p, "--section", "exams", "--input", &data("exam.json")]).assert().success();
    let out =
        cli.cmd("claire").args(["read", &p, "--section", "exams", "--json"]).assert().code(3).get_output().clone();
    let all = [out.stdout, out.stderr].concat();
    let text = String::from_utf8_lossy(&all);
    assert!(text.contains("access denied"), "{text}");
    for clinical in ["Hémoglobine", "13.2", "718-7"] {
        assert!(!text.contains(clinical), "{clinical} printed on a denied read");
    }
    // The DPO holds no clinical key either.
    cli.cmd("dpo").args(["read", &p, "--section", "identity"]).assert().code(3);
    // Not in the care team, then break-glass.
    cli.cmd("alice")
        .args(["user", "add", "oncall", "--role", "physician"])
        .env("MEDVAULT_NEW_PASSPHRASE", pass("oncall"))
        .assert()
        .success();
    cli.cmd("martin").args(["patient", "find", "--ins", "284237505612384"]).assert().success(); // delivers keys
    cli.cmd("oncall").args(["read", &p, "--section", "exams"]).assert().code(3);
    cli.cmd("oncall").args(["break-glass", &p, "--reason", "short"]).assert().code(1);
    let bg = cli
        .json("oncall", &["break-glass", &p, "--reason", "Appel de nuit, douleur thoracique, résultats nécessaires"]);
    cli.cmd("oncall").args(["read", &p, "--section", "exams"]).assert().success();
    let pending = cli.json("dpo", &["audit", "break-glass", "--pending"]);
    assert_eq!(pending[0]["seq"], bg["break_glass"]);
    let seq = bg["break_glass"].as_u64().unwrap().to_string();
    cli.cmd("dpo").args(["audit", "review", &seq]).assert().success();
    assert_eq!(cli.json("dpo", &["audit", "break-glass", "--pending"]).as_array().unwrap().len(), 0);
    // Opposition.
    cli.cmd("claire").args(["oppose", &p, "ines"]).assert().success();
    cli.cmd("ines").args(["read", &p, "--section", "reports"]).assert().code(3);
    cli.cmd("claire").args(["care-team", "remove", &p, "martin"]).assert().success();
    cli.cmd("martin").args(["read", &p, "--section", "reports"]).assert().code(3);
}

#[test]
fn bad_json_is_refused_naming_the_field_and_changes_nothing() {
    let cli = Cli::new();
    let p = cli.patient();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            r#"{"kind": "consultation", "author": "Dr", "date": "2026-11-22", "title": "T", "body": "B", "colour": "red"}"#,
            "unknown field `colour`",
        ),
        (r#"{"kind": "consultation", "author": "Dr", "date": "2026-11-22", "title": "T"}"#, "missing field `body`"),
        (
            r#"{"kind": "consultation", "author": "Dr", "date": "2026-13-45", "title": "T", "body": "B"}"#,
            "field `date`: date must be written YYYY-MM-DD and exist",
        ),
        (
            r#"{"kind": "surgery", "author": "Dr", "date": "2026-11-22", "title": "T", "body": "B"}"#,
            "field `kind`: is not one of the allowed values (expected one of `consultation`",
        ),
        (
            r#"{"kind": "consultation", "author": "Dr", "date": "2026-11-22", "title": 4242424242, "body": "B"}"#,
            "field `title`: has the wrong type (expected a string)",
        ),
        (r#"{"kind": "consultation", "#, "EOF"),
    ];
    let before = cli.newest_seq();
    for (i, (text, needle)) in cases.iter().enumerate() {
        let f = dir.path().join(format!("bad{i}.json"));
        std::fs::write(&f, text).unwrap();
        let out = cli
            .cmd("martin")
            .args(["write", &p, "--section", "reports", "--input", f.to_str().unwrap()])
            .assert()
            .code(1)
            .get_output()
            .stderr
            .clone();
        let msg = String::from_utf8_lossy(&out);
        assert!(msg.contains(needle), "case {i}: {msg}");
        for value in ["2026-13-45", "surgery", "4242424242"] {
            assert!(!msg.contains(value), "case {i}: a value of the file is echoed: {msg}");
        }
    }
    cli.cmd("martin").args(["write", &p, "--section", "reports", "--input", "/nonexistent/file.json"]).assert().code(1);
    // Nothing was unlocked, written or audited: only the DPO's own unlock and query since.
    assert_eq!(cli.newest_seq(), before + 2);
    let reps = cli.json("martin", &["read", &p, "--section", "reports"]);
    assert!(reps.as_array().unwrap().is_empty());
    // Invalid content (valid JSON) is refused by the library with the field named.
    let f = dir.path().join("blank.json");
    std::fs::write(&f, r#"{"kind": "consultation", "author": " ", "date": "2026-11-22", "title": "T", "body": "B"}"#)
        .unwrap();
    let out = cli
        .cmd("martin")
        .args(["write", &p, "--section", "reports", "--input", f.to_str().unwrap()])
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8_lossy(&out).contains("author"));
    // Usage errors exit 2.
    cli.cmd("martin").args(["read", &p]).assert().code(2);
    cli.cmd("martin").args(["frobnicate"]).assert().code(2);
}

#[test]
fn audit_commands_log_verify_anchor_and_a_tampered_store_exits_4() {
    let cli = Cli::new();
    let p = cli.patient();
    cli.cmd("ines").args(["read", &p, "--section", "identity"]).assert().success();
    let log = cli.json("dpo", &["audit", "log", "--patient", &p]);
    let first = &log.as_array().unwrap()[0];
    for field in ["seq", "recorded_at", "action", "outcome", "agent", "purpose", "entity"] {
        assert!(first.get(field).is_some(), "audit JSON lacks {field}");
    }
    let by_user = cli.json("dpo", &["audit", "log", "--by", "ines", "--action", "read", "--outcome", "success"]);
    assert_eq!(by_user.as_array().unwrap().len(), 1);
    let csv = cli
        .cmd("dpo")
        .args(["audit", "log", "--format", "csv", "--since", "2000-01-01"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8_lossy(&csv).starts_with("seq,time,user,roles,action,outcome"));
    let report = cli.json("dpo", &["audit", "verify"]);
    assert_eq!(report["problems"].as_array().unwrap().len(), 0);
    let anchor = cli._dir.path().join("anchor.json");
    cli.cmd("dpo").args(["audit", "checkpoint", "--out", anchor.to_str().unwrap()]).assert().success();
    cli.cmd("dpo").args(["audit", "verify", "--against", anchor.to_str().unwrap()]).assert().success();
    cli.cmd("claire").args(["audit", "log"]).assert().code(3);

    // A regulator's extract, checked with no store at all.
    let extract = cli._dir.path().join("extract.ndjson");
    let csv_out = cli._dir.path().join("extract.csv");
    cli.cmd("dpo")
        .args([
            "audit",
            "extract",
            "--patient",
            &p,
            "--out",
            extract.to_str().unwrap(),
            "--csv",
            csv_out.to_str().unwrap(),
        ])
        .assert()
        .success();
    let key = String::from_utf8(cli.cmd("dpo").args(["audit", "key"]).assert().success().get_output().stdout.clone())
        .unwrap();
    let verify = |file: &Path, key: &str| {
        Command::cargo_bin("medvault")
            .unwrap()
            .env_clear()
            .args(["verify-extract", file.to_str().unwrap(), "--key", key.trim()])
            .assert()
    };
    let ok = verify(&extract, &key).success().get_output().stdout.clone();
    assert!(String::from_utf8_lossy(&ok).contains("signed by dpo"), "{}", String::from_utf8_lossy(&ok));
    let mut bytes = std::fs::read(&extract).unwrap();
    bytes[40] ^= 0x01;
    let forged = cli._dir.path().join("forged.ndjson");
    std::fs::write(&forged, bytes).unwrap();
    let out = verify(&forged, &key).code(4).get_output().stderr.clone();
    assert!(String::from_utf8_lossy(&out).contains("extract rejected"));
    assert!(std::fs::read_to_string(&csv_out).unwrap().starts_with("seq,time,user"));

    // Tamper with one stored event through the raw database, then verify.
    {
        let (_, backend) = medvault::testing::engine::open(&cli.store).unwrap().unwrap();
        use medvault::backend::{Batch, Space};
        let mut v = backend.get(Space::AuditEvents, &3u64.to_be_bytes()).unwrap().unwrap();
        let n = v.len();
        v[n - 2] ^= 0x01;
        let mut b = Batch::new();
        b.put(Space::AuditEvents, 3u64.to_be_bytes().to_vec(), v);
        backend.apply(&b).unwrap();
        backend.flush().unwrap();
    }
    let out = cli.cmd("dpo").args(["audit", "verify"]).assert().code(4).get_output().stderr.clone();
    assert!(String::from_utf8_lossy(&out).contains("first bad sequence number 3"), "{}", String::from_utf8_lossy(&out));
}

#[test]
fn user_and_key_commands() {
    let cli = Cli::new();
    let p = cli.patient();
    let users = cli.json("alice", &["user", "list"]);
    assert_eq!(users.as_array().unwrap().len(), 5);
    assert!(users[0].get("pending_keys").is_some());
    // A wrong passphrase five times locks; an administrator lifts it.
    for _ in 0..5 {
        cli.cmd("ines")
            .env("MEDVAULT_PASSPHRASE", "wrong passphrase")
            .args(["read", &p, "--section", "identity"])
            .assert()
            .code(1);
    }
    cli.cmd("ines").args(["read", &p, "--section", "identity"]).assert().code(3);
    cli.cmd("alice").args(["user", "unlock", "ines"]).assert().success();
    cli.cmd("ines").args(["read", &p, "--section", "identity"]).assert().success();
    // Passphrase change through an fd.
    cli.cmd("ines").args(["user", "passwd"]).env("MEDVAULT_NEW_PASSPHRASE", "ines new passphrase").assert().success();
    cli.cmd("ines").args(["read", &p, "--section", "identity"]).assert().code(1);
    let mut c = cli.cmd("ines");
    c.env_remove("MEDVAULT_PASSPHRASE")
        .args(["--passphrase-fd", "0", "read", &p, "--section", "identity"])
        .write_stdin("ines new passphrase\n");
    c.assert().success();
    // Rotation, rewrap, retire.
    cli.cmd("martin").args(["write", &p, "--section", "exams", "--input", &data("exam.json")]).assert().success();
    cli.cmd("alice").args(["keys", "rotate", "--section", "exams"]).assert().success();
    cli.cmd("martin").args(["keys", "rewrap", "--section", "exams"]).assert().success();
    cli.cmd("alice").args(["keys", "retire", "--section", "exams", "--below", "2"]).assert().success();
    cli.cmd("martin").args(["read", &p, "--section", "exams"]).assert().success();
    // Revocation, then recovery of a user with shares from a file.
    cli.cmd("alice").args(["user", "revoke", "ines"]).assert().success();
    cli.cmd("ines")
        .args(["read", &p, "--section", "identity"])
        .env("MEDVAULT_PASSPHRASE", "ines new passphrase")
        .assert()
        .code(1);
    let shares = cli._dir.path().join("shares.txt");
    cli.cmd("martin")
        .args(["recover", "--share-file", shares.to_str().unwrap()])
        .env("MEDVAULT_NEW_PASSPHRASE", "martin recovered passphrase")
        .assert()
        .success();
    cli.cmd("martin")
        .env("MEDVAULT_PASSPHRASE", "martin recovered passphrase")
        .args(["read", &p, "--section", "exams"])
        .assert()
        .success();
}

#[test]
fn passphrases_never_reach_argv_outputs_the_log_or_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let marker = "PASSMARKER-9f3c1a7e";
    let mut outputs = Vec::new();
    let run = |args: &[&str], user: &str, pass: &str, newpass: Option<&str>| -> Vec<u8> {
        let mut c = Command::cargo_bin("medvault").unwrap();
        c.env_clear()
            .env("MEDVAULT_STORE", &store)
            .env("MEDVAULT_USER", user)
            .env("MEDVAULT_PASSPHRASE", pass)
            .args(args);
        if let Some(n) = newpass {
            c.env("MEDVAULT_NEW_PASSPHRASE", n);
        }
        let out = c.output().unwrap();
        [out.stdout, out.stderr].concat()
    };
    let admin_pass = format!("{marker}-admin");
    let user_pass = format!("{marker}-user");
    outputs.push(run(
        &["init", "--admin", "root", "--kdf-memory-kib", "64", "--kdf-passes", "1", "--kdf-lanes", "1"],
        "root",
        &admin_pass,
        None,
    ));
    outputs.push(run(&["user", "add", "doc", "--role", "physician"], "root", &admin_pass, Some(&user_pass)));
    outputs.push(run(&["patient", "create", "--input", &data("identity.json")], "doc", &user_pass, None));
    outputs.push(run(&["patient", "find", "--ins", "284237505612384"], "doc", &format!("{marker}-wrong"), None));
    outputs.push(run(&["user", "passwd"], "doc", &user_pass, Some(&format!("{marker}-new"))));
    outputs.push(run(&["audit", "log", "--format", "json", "--limit", "1000"], "root", &admin_pass, None));
    outputs.push(run(&["user", "list", "--json"], "root", &admin_pass, None));
    for out in &outputs {
        assert!(
            !String::from_utf8_lossy(out).contains(marker),
            "passphrase in output: {}",
            String::from_utf8_lossy(out)
        );
    }
    let mut files = vec![];
    let mut stack = vec![store.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() { stack.push(p) } else { files.push(p) }
        }
    }
    assert!(!files.is_empty());
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!bytes.windows(marker.len()).any(|w| w == marker.as_bytes()), "passphrase in {}", f.display());
    }
}

#[test]
fn the_demo_runs_and_leaves_an_explorable_store() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("medvault")
        .unwrap()
        .env_clear()
        .args(["demo", "--dir", dir.path().join("d").to_str().unwrap(), "--patients", "20"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8_lossy(&out);
    for needle in [
        "no key",
        "not in team",
        "emergency access",
        "break-glass accesses to review: 1",
        "no tampering found",
        "Try next",
    ] {
        assert!(text.contains(needle), "demo output lacks {needle:?}");
    }
    // The printed commands work on the store left behind.
    let store = dir.path().join("d/store");
    Command::cargo_bin("medvault")
        .unwrap()
        .env_clear()
        .env("MEDVAULT_STORE", &store)
        .env("MEDVAULT_USER", "dpo")
        .env("MEDVAULT_PASSPHRASE", "demo-dpo-passphrase")
        .args(["audit", "verify"])
        .assert()
        .success();
    // Pruning needs a retention setting; this store keeps everything.
    Command::cargo_bin("medvault")
        .unwrap()
        .env_clear()
        .env("MEDVAULT_STORE", &store)
        .env("MEDVAULT_USER", "dpo")
        .env("MEDVAULT_PASSPHRASE", "demo-dpo-passphrase")
        .args(["audit", "prune"])
        .assert()
        .code(1);
}

#[test]
fn export_retention_requests_and_report_commands() {
    let cli = Cli::new();
    let p = cli.patient();
    cli.cmd("martin").args(["write", &p, "--section", "exams", "--input", &data("exam.json")]).assert().success();
    let dir = cli._dir.path();
    for (format, needle) in [
        ("fhir", "\"resourceType\": \"Bundle\""),
        ("json", "medvault-patient-export-v1"),
        ("html", "Historique des accès"),
    ] {
        let out = dir.join(format!("copy.{format}"));
        cli.cmd("martin")
            .args(["export", "patient", &p, "--format", format, "--out", out.to_str().unwrap()])
            .assert()
            .success();
        assert!(std::fs::read_to_string(&out).unwrap().contains(needle), "{format}");
    }
    cli.cmd("claire")
        .args(["export", "patient", &p, "--format", "json", "--out", dir.join("x.json").to_str().unwrap()])
        .assert()
        .code(3);
    let bulk = dir.join("bulk");
    cli.cmd("martin").args(["export", "all", "--out", bulk.to_str().unwrap()]).assert().success();
    assert!(std::fs::read_to_string(bulk.join("Patient.ndjson")).unwrap().lines().count() >= 1);
    assert!(std::fs::read_to_string(bulk.join("Observation.ndjson")).unwrap().contains("718-7"));

    // Retention: kept for 20 years; erasure refused with the reason; hold; dry-run purge.
    let st = cli.json("claire", &["retention", "status", &p]);
    assert_eq!(st["status"], "keep");
    let out = cli.cmd("claire").args(["erase", &p]).assert().code(3).get_output().stderr.clone();
    assert!(String::from_utf8_lossy(&out).contains("RGPD art. 17(3)(c)"));
    cli.cmd("claire").args(["retention", "hold", &p, "--reason", "contentieux"]).assert().success();
    assert_eq!(cli.json("claire", &["retention", "status", &p])["status"], "hold");
    cli.cmd("claire").args(["retention", "hold", &p, "--lift"]).assert().success();
    let listed = cli.json("claire", &["retention", "purge", "--dry-run"]);
    assert_eq!(listed[0]["retention"]["status"], "keep");

    // Requests.
    let id = String::from_utf8(
        cli.cmd("claire")
            .args(["requests", "add", &p, "--kind", "copy"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    let list = cli.json("claire", &["requests", "list"]);
    assert_eq!(list[0]["id"], id.trim());
    assert_eq!(cli.json("claire", &["requests", "list", "--overdue"]).as_array().unwrap().len(), 0);
    cli.cmd("claire").args(["requests", "close", id.trim()]).assert().success();
    cli.cmd("claire").args(["requests", "add", &p, "--kind", "gossip"]).assert().code(1);

    // The DPO report.
    let report = dir.join("report.html");
    cli.cmd("dpo")
        .args(["audit", "report", "--since", "2000-01-01", "--until", "2100-01-01", "--out", report.to_str().unwrap()])
        .assert()
        .success();
    assert!(std::fs::read_to_string(&report).unwrap().contains("Rapport d'audit des accès"));
}

#[test]
fn engines_migration_and_anchor_folder() {
    let cli = Cli::new();
    let p = cli.patient();
    // The default engine is redb, named in the store's descriptor.
    let descriptor = std::fs::read_to_string(cli.store.join("MEDVAULT")).unwrap();
    assert!(descriptor.contains("engine: redb"), "{descriptor}");
    // A second process gets a clear "in use" error, not engine text.
    let _held = medvault::Store::open(&cli.store).unwrap();
    let out = cli.cmd("martin").args(["read", &p, "--section", "reports"]).assert().code(1).get_output().stderr.clone();
    let err = String::from_utf8_lossy(&out);
    assert!(err.contains("in use by another process") && err.contains("pid"), "{err}");
    assert!(!err.to_lowercase().contains("wouldblock") && !err.contains("redb"), "{err}");
    drop(_held);

    // Anchors on other media: set by the DPO, written at once and at each close.
    let anchors = cli._dir.path().join("anchors");
    cli.cmd("dpo").args(["audit", "anchor-dir", anchors.to_str().unwrap()]).assert().success();
    let verified = cli.json("dpo", &["audit", "verify"]);
    assert_eq!(verified["anchored"], true, "{verified}");

    // Migrate to sled and back: each copy verifies and reads the same patient.
    let out = cli.cmd("alice").args(["migrate", "--to", "sled"]).assert().success().get_output().stdout.clone();
    assert!(String::from_utf8_lossy(&out).contains("verified"));
    let sled_store = cli._dir.path().join("store-sled");
    assert!(std::fs::read_to_string(sled_store.join("MEDVAULT")).unwrap().contains("engine: sled"));
    let mut read = cli.cmd("martin");
    read.env("MEDVAULT_STORE", &sled_store).args(["read", &p, "--section", "reports", "--json"]);
    read.assert().success();
    let mut verify = cli.cmd("dpo");
    verify.env("MEDVAULT_STORE", &sled_store).args(["audit", "verify"]);
    verify.assert().success();
    let mut again = cli.cmd("alice");
    again.env("MEDVAULT_STORE", &sled_store).args(["migrate", "--to", "sled"]);
    again.assert().code(1);
}

#[test]
fn exported_plaintext_is_owner_only_never_overwritten_and_never_written_through_a_link() {
    use std::os::unix::fs::PermissionsExt;
    let cli = Cli::new();
    let p = cli.patient();
    let dir = cli._dir.path();
    let copy = dir.join("copie.html");
    let export = |out: &std::path::Path, force: bool| {
        let mut cmd = cli.cmd("martin");
        cmd.args(["export", "patient", &p, "--format", "html", "--out", out.to_str().unwrap()]);
        if force {
            cmd.arg("--force");
        }
        cmd.assert()
    };
    export(&copy, false).success();
    assert_eq!(std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777, 0o600);
    // No silent overwrite: refused without --force, the file untouched.
    std::fs::write(&copy, "précédent").unwrap();
    let out = export(&copy, false).code(1).get_output().stderr.clone();
    assert!(String::from_utf8_lossy(&out).contains("--force"), "{}", String::from_utf8_lossy(&out));
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), "précédent");
    export(&copy, true).success();
    assert!(std::fs::read_to_string(&copy).unwrap().contains("Historique des accès"));
    // A symbolic link planted at the output is never followed.
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "intact").unwrap();
    let link = dir.join("link.html");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    export(&link, false).code(1);
    export(&link, true).success();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "intact");
    // `--out -` writes to standard output.
    let stdout = export(std::path::Path::new("-"), false).success().get_output().stdout.clone();
    assert!(String::from_utf8_lossy(&stdout).contains("Historique des accès"));
    // The bulk folder and its files are owner-only too.
    let bulk = dir.join("bulk");
    cli.cmd("martin").args(["export", "all", "--out", bulk.to_str().unwrap()]).assert().success();
    assert_eq!(std::fs::metadata(&bulk).unwrap().permissions().mode() & 0o777, 0o700);
    for f in std::fs::read_dir(&bulk).unwrap() {
        assert_eq!(f.unwrap().metadata().unwrap().permissions().mode() & 0o777, 0o600);
    }
    cli.cmd("martin").args(["export", "all", "--out", bulk.to_str().unwrap()]).assert().code(1);
    cli.cmd("martin").args(["export", "all", "--out", bulk.to_str().unwrap(), "--force"]).assert().success();
}
