//! The CLI test harness: a store with one user of each role, driven through the binary.
#![allow(dead_code)]

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/cli");

pub struct Cli {
    pub _dir: tempfile::TempDir,
    pub store: PathBuf,
}

impl Cli {
    /// A store with admin `alice` and one user of each role; cheap key stretching for speed.
    pub fn new() -> Cli {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let cli = Cli { _dir: dir, store };
        let out = cli
            .cmd("alice")
            .args([
                "init",
                "--admin",
                "alice",
                "--kdf-memory-kib",
                "64",
                "--kdf-passes",
                "1",
                "--kdf-lanes",
                "1",
                "--json",
            ])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["recovery_shares"].as_array().unwrap().len(), 5);
        std::fs::write(
            cli._dir.path().join("shares.txt"),
            v["recovery_shares"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string() + "\n")
                .collect::<String>(),
        )
        .unwrap();
        for (name, role) in [("claire", "secretary"), ("martin", "physician"), ("ines", "nurse"), ("dpo", "auditor")] {
            cli.cmd("alice")
                .args(["user", "add", name, "--role", role])
                .env("MEDVAULT_NEW_PASSPHRASE", pass(name))
                .assert()
                .success();
        }
        // Holders deliver pending keys when they unlock.
        cli.cmd("claire").args(["patient", "find", "--ins", "284237505612384"]).assert().success();
        cli
    }

    pub fn cmd(&self, user: &str) -> Command {
        let mut c = Command::cargo_bin("medvault").unwrap();
        c.env_clear()
            .env("MEDVAULT_STORE", &self.store)
            .env("MEDVAULT_USER", user)
            .env("MEDVAULT_PASSPHRASE", pass(user))
            .env("MEDVAULT_WORKSTATION", "cli-test");
        c
    }

    /// Runs a command with `--json` and parses its output.
    pub fn json(&self, user: &str, args: &[&str]) -> Value {
        let mut c = self.cmd(user);
        c.args(args).arg("--json");
        let out = c.assert().success().get_output().stdout.clone();
        serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out)))
    }

    /// Runs a command that must succeed and returns its standard output, trimmed.
    pub fn stdout(&self, user: &str, args: &[&str]) -> String {
        let out = self.cmd(user).args(args).assert().success().get_output().stdout.clone();
        String::from_utf8(out).unwrap().trim().to_string()
    }

    /// Runs `medvault ARGS` as `user` in a terminal of `cols` columns (under util-linux
    /// `script`); `None` when `script` is missing. The terminal's output is in `stdout`.
    pub fn in_terminal(&self, user: &str, cols: u16, args: &[&str]) -> Option<std::process::Output> {
        std::process::Command::new("script").arg("--version").output().ok()?;
        let bin = assert_cmd::cargo::cargo_bin("medvault");
        let line = format!("stty cols {cols}; {} {}", bin.display(), args.join(" "));
        let out = std::process::Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("MEDVAULT_STORE", &self.store)
            .env("MEDVAULT_USER", user)
            .env("MEDVAULT_PASSPHRASE", pass(user))
            .env("TERM", "xterm")
            .output()
            .unwrap();
        Some(out)
    }

    pub fn patient(&self) -> String {
        let v = self.json("claire", &["patient", "create", "--input", &data("identity.json")]);
        let p = v["patient"].as_str().unwrap().to_string();
        self.cmd("claire").args(["care-team", "add", &p, "martin"]).assert().success();
        self.cmd("claire").args(["care-team", "add", &p, "role:nurse"]).assert().success();
        p
    }

    pub fn newest_seq(&self) -> u64 {
        self.json("dpo", &["audit", "log", "--limit", "1"])[0]["seq"].as_u64().unwrap()
    }
}

pub fn pass(user: &str) -> String {
    format!("{user} passphrase for tests")
}

pub fn data(name: &str) -> String {
    Path::new(DATA).join(name).display().to_string()
}
