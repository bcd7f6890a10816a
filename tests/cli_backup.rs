//! `medvault backup`, `backup verify` and `restore` through the binary: exit codes, owner-only
//! files, and a damaged backup refused with exit 4.

mod cli_harness;

use assert_cmd::Command;
use cli_harness::Cli;

fn bare() -> Command {
    let mut c = Command::cargo_bin("medvault").unwrap();
    c.env_clear();
    c
}

#[test]
fn backup_verify_and_restore_from_the_command_line() {
    let cli = Cli::new();
    let p = cli.patient();
    let dir = cli._dir.path();
    let file = dir.join("cabinet.backup");
    cli.cmd("alice").args(["backup", "--out", file.to_str().unwrap()]).assert().success();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // Never over an existing file without --force; a nurse may not take one (exit 3).
    cli.cmd("alice").args(["backup", "--out", file.to_str().unwrap()]).assert().failure();
    cli.cmd("ines").args(["backup", "--out", dir.join("n").to_str().unwrap()]).assert().code(3);
    let key = String::from_utf8(cli.cmd("dpo").args(["audit", "key"]).assert().success().get_output().stdout.clone())
        .unwrap();
    let key = key.trim();
    // Checked with no store and no passphrase.
    let ok = bare().args(["backup", "verify", file.to_str().unwrap(), "--key", key]).assert().success();
    let out = String::from_utf8_lossy(&ok.get_output().stdout).to_string();
    assert!(out.starts_with("backup OK") && out.contains("alice"), "{out}");
    // A flipped byte: refused, exit 4, and restore writes nothing.
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x01;
    let damaged = dir.join("damaged.backup");
    std::fs::write(&damaged, &bytes).unwrap();
    bare().args(["backup", "verify", damaged.to_str().unwrap(), "--key", key]).assert().code(4);
    let target = dir.join("restored");
    bare()
        .args(["restore", damaged.to_str().unwrap(), "--into", target.to_str().unwrap(), "--key", key])
        .assert()
        .code(4);
    assert!(!target.exists());
    // An incremental backup after more work, checked and restored as a chain.
    cli.json("martin", &["write", &p, "--section", "reports", "--input", &cli_harness::data("report.json")]);
    let incr = dir.join("lundi.backup");
    cli.cmd("dpo")
        .args(["backup", "--out", incr.to_str().unwrap(), "--since", file.to_str().unwrap()])
        .assert()
        .success();
    assert!(std::fs::metadata(&incr).unwrap().len() < std::fs::metadata(&file).unwrap().len());
    bare().args(["backup", "verify", file.to_str().unwrap(), incr.to_str().unwrap(), "--key", key]).assert().success();
    bare().args(["backup", "verify", incr.to_str().unwrap(), "--key", key]).assert().code(4);
    let chained = dir.join("restored-chain");
    bare()
        .args(["restore", file.to_str().unwrap(), incr.to_str().unwrap(), "--into", chained.to_str().unwrap()])
        .args(["--key", key])
        .assert()
        .success();
    let mut read = cli.cmd("martin");
    let out =
        read.env("MEDVAULT_STORE", &chained).args(["read", &p, "--section", "reports", "--json"]).assert().success();
    let reports: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(reports.as_array().map(Vec::len), Some(1), "the report written after the full backup: {reports}");
    // The intact one restores, and the restored store reads back and verifies.
    bare()
        .args(["restore", file.to_str().unwrap(), "--into", target.to_str().unwrap(), "--key", key])
        .assert()
        .success();
    let mut read = cli.cmd("martin");
    read.env("MEDVAULT_STORE", &target).args(["read", &p, "--section", "identity"]).assert().success();
    let mut verify = cli.cmd("dpo");
    verify.env("MEDVAULT_STORE", &target).args(["audit", "verify"]).assert().success();
}

#[test]
fn an_older_backup_is_refused_over_an_anchor_unless_an_administrator_forces_it() {
    let cli = Cli::new();
    let p = cli.patient();
    let dir = cli._dir.path();
    let old = dir.join("old.backup");
    cli.cmd("alice").args(["backup", "--out", old.to_str().unwrap()]).assert().success();
    let anchors = dir.join("anchors");
    cli.cmd("dpo").args(["audit", "anchor-dir", anchors.to_str().unwrap()]).assert().success();
    cli.cmd("claire").args(["care-team", "add", &p, "dpo"]).assert().success();
    cli.cmd("dpo").args(["audit", "anchor-dir", anchors.to_str().unwrap()]).assert().success();
    let target = dir.join("restored");
    let restore = |user: &str, extra: &[&str]| {
        let mut c = cli.cmd(user);
        c.env("MEDVAULT_STORE", &target).args([
            "restore",
            old.to_str().unwrap(),
            "--anchor-dir",
            anchors.to_str().unwrap(),
        ]);
        c.args(extra);
        c
    };
    // Refused (exit 4), nothing created; --force needs a reason (usage, exit 2).
    restore("alice", &[]).assert().code(4);
    assert!(!target.exists());
    restore("alice", &["--force"]).assert().code(2);
    // A nurse cannot force it (exit 3), an administrator can: the restored log says so.
    restore("ines", &["--force", "--reason", "serveur perdu, dernière sauvegarde saine"]).assert().code(3);
    assert!(!target.exists());
    restore("alice", &["--force", "--reason", "serveur perdu, dernière sauvegarde saine"]).assert().success();
    let mut log = cli.cmd("dpo");
    log.env("MEDVAULT_STORE", &target).args(["audit", "log", "--action", "restore-forced", "--json"]);
    let out = log.assert().success().get_output().stdout.clone();
    let events: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(events.as_array().unwrap().len(), 1);
    assert!(!String::from_utf8_lossy(&out).contains("serveur perdu"));
}
