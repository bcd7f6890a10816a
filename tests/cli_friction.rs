//! What a secretary and a DPO meet in their first hour at the command line: short ids, usage
//! errors, paging, the commands that list what others change (care team, keys, roles), the
//! withdrawal of an opposition, `--json` meaning output everywhere and `--input` for files,
//! and `verify-extract` that does not pass an extract it could not authenticate.

mod cli_harness;

use cli_harness::{Cli, data};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn patient_ids_may_be_shortened_to_the_digits_tables_show() {
    let cli = Cli::new();
    let p = cli.patient();
    let short = &p[..8];
    let ident = cli.json("claire", &["read", short, "--section", "identity"]);
    assert_eq!(ident[0]["birth_name"], "LEFEBVRE");
    let team = cli.json("claire", &["care-team", "list", short]);
    assert_eq!(team["patient"], p.as_str(), "the whole id comes back");
    let log = cli.json("dpo", &["audit", "log", "--patient", short, "--action", "read"]);
    assert!(!log.as_array().unwrap().is_empty());
    // Too short, not hex, or no patient: a clear error, nothing done.
    let out = cli.cmd("claire").args(["read", &p[..3], "--section", "identity"]).assert().code(1).get_output().clone();
    assert!(stderr(&out).contains("first 4 or more"), "{}", stderr(&out));
    cli.cmd("claire").args(["read", "zzzzzzzz", "--section", "identity"]).assert().code(1);
    let absent = if p.starts_with("ffff") { "0000" } else { "ffff" };
    let out = cli.cmd("claire").args(["read", absent, "--section", "identity"]).assert().code(1).get_output().clone();
    assert!(stderr(&out).contains("no patient id starts with"), "{}", stderr(&out));
}

#[test]
fn usage_errors_exit_2_and_name_what_is_missing() {
    let cli = Cli::new();
    // No store, no user, a search with no criterion, a missing option.
    let mut c = cli.cmd("claire");
    c.env_remove("MEDVAULT_STORE");
    let out = c.args(["patient", "find", "--ins", "1"]).assert().code(2).get_output().clone();
    assert!(stderr(&out).contains("no store given"));
    let mut c = cli.cmd("claire");
    c.env_remove("MEDVAULT_USER");
    c.args(["patient", "find", "--ins", "1"]).assert().code(2);
    cli.cmd("claire").args(["patient", "find"]).assert().code(2);
    let p = cli.patient();
    let out = cli
        .cmd("claire")
        .args(["write", &p, "--section", "identity", "--input", &data("identity.json")])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(stderr(&out).contains("--reason"));
    cli.cmd("claire").args(["read", &p]).assert().code(2);
    // An unknown action names the known ones.
    let out = cli.cmd("dpo").args(["audit", "log", "--action", "login"]).assert().code(1).get_output().clone();
    assert!(stderr(&out).contains("unlock") && stderr(&out).contains("read"), "{}", stderr(&out));
}

#[test]
fn the_audit_log_offers_a_next_page_only_when_there_may_be_one() {
    let cli = Cli::new();
    cli.patient();
    let full = cli.cmd("dpo").args(["audit", "log", "--limit", "2"]).assert().success().get_output().clone();
    assert!(stderr(&full).contains("next page: --before"), "{}", stderr(&full));
    let all = cli.cmd("dpo").args(["audit", "log", "--limit", "1000"]).assert().success().get_output().clone();
    assert!(!stderr(&all).contains("next page"), "{}", stderr(&all));
}

#[test]
fn json_means_output_and_input_files_come_with_input() {
    let cli = Cli::new();
    let created = cli.json("claire", &["patient", "create", "--input", &data("identity.json")]);
    let p = created["patient"].as_str().unwrap().to_string();
    assert_eq!(p.len(), 32);
    cli.cmd("claire").args(["care-team", "add", &p, "martin"]).assert().success();
    let w = cli.json("martin", &["write", &p, "--section", "reports", "--input", &data("report.json")]);
    assert_eq!(
        (w["patient"].as_str(), w["section"].as_str(), w["revision"].as_u64()),
        (Some(p.as_str()), Some("reports"), Some(1))
    );
    assert_eq!(w["entry_id"].as_str().map(str::len), Some(32));
    // The old spelling is a usage error, not a silent misreading.
    cli.cmd("claire").args(["patient", "create", "--json", &data("identity.json")]).assert().code(2);
}

#[test]
fn care_team_list_opposition_withdrawal_keys_list_and_user_roles() {
    let cli = Cli::new();
    let p = cli.patient();
    let team = cli.json("claire", &["care-team", "list", &p]);
    let members: Vec<&str> = team["care_team"].as_array().unwrap().iter().filter_map(|m| m.as_str()).collect();
    assert!(members.contains(&"martin") && members.contains(&"role:nurse"), "{members:?}");

    // An opposition shuts the nurse out; its withdrawal lets her back in.
    cli.cmd("ines").args(["read", &p, "--section", "reports"]).assert().success();
    cli.cmd("claire").args(["oppose", &p, "ines"]).assert().success();
    cli.cmd("ines").args(["read", &p, "--section", "reports"]).assert().code(3);
    cli.cmd("claire").args(["oppose", &p, "ines", "--withdraw"]).assert().success();
    cli.cmd("ines").args(["read", &p, "--section", "reports"]).assert().success();
    let withdrawn = cli.json("dpo", &["audit", "log", "--action", "opposition-withdraw"]);
    assert_eq!(withdrawn.as_array().map(Vec::len), Some(1));

    // Keys: one primary version per section; a rotation shows.
    let keys = cli.json("alice", &["keys", "list"]);
    let primaries = keys.as_array().unwrap().iter().filter(|k| k["primary"] == true).count();
    assert_eq!(primaries, 3, "{keys}");
    assert!(keys.as_array().unwrap().iter().all(|k| k["held"] == false), "an administrator holds no section key");
    cli.cmd("alice").args(["keys", "rotate", "--section", "exams"]).assert().success();
    let keys = cli.json("martin", &["keys", "list"]);
    let exams: Vec<_> = keys.as_array().unwrap().iter().filter(|k| k["section"] == "exams").collect();
    assert_eq!(exams.len(), 2);
    assert!(exams[1]["primary"] == true && exams[0]["primary"] == false, "{exams:?}");

    // Roles: the secretary becomes a nurse as well.
    let changed = cli.json("alice", &["user", "roles", "claire", "--role", "secretary", "--role", "nurse"]);
    assert_eq!(changed["roles"].as_array().map(Vec::len), Some(2));
    let users = cli.json("alice", &["user", "list"]);
    let claire = users.as_array().unwrap().iter().find(|u| u["name"] == "claire").unwrap().clone();
    assert!(claire.to_string().contains("nurse"), "{claire}");
}

#[test]
fn verify_extract_needs_the_key_or_says_it_checks_consistency_only() {
    let cli = Cli::new();
    cli.patient();
    let file = cli._dir.path().join("extract.ndjson");
    cli.cmd("dpo").args(["audit", "extract", "--out", file.to_str().unwrap()]).assert().success();
    let key = String::from_utf8(cli.cmd("dpo").args(["audit", "key"]).assert().success().get_output().stdout.clone())
        .unwrap()
        .trim()
        .to_string();
    // No key: a usage error, not a pass.
    let out = cli.cmd("dpo").args(["verify-extract", file.to_str().unwrap()]).assert().code(2).get_output().clone();
    assert!(stderr(&out).contains("--key") && stderr(&out).contains("--no-key"), "{}", stderr(&out));
    cli.cmd("dpo").args(["verify-extract", file.to_str().unwrap(), "--no-key"]).assert().success();
    let ok = cli.json("dpo", &["verify-extract", file.to_str().unwrap(), "--key", &key]);
    assert_eq!((ok["ok"].as_bool(), ok["key_given"].as_bool()), (Some(true), Some(true)));
    assert!(ok["events"].as_u64().is_some_and(|n| n > 5), "{ok}");
}

/// `init` on a terminal asks for the administrator's passphrase twice: a typo would lock the
/// only administrator out. (Run under `script`, which gives the command a terminal.)
#[test]
fn init_on_a_terminal_asks_for_the_passphrase_twice() {
    if std::process::Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` (util-linux) to give the command a terminal");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("medvault");
    let init = |store: &std::path::Path, typed: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new("script")
            .args([
                "-qec",
                &format!("{} init --admin alice --kdf-memory-kib 64 --kdf-passes 1 --kdf-lanes 1", bin.display()),
                "/dev/null",
            ])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("MEDVAULT_STORE", store)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(typed.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string())
    };
    let typo = dir.path().join("typo");
    let (code, out) = init(&typo, "alice passphrase one\nalice passphrase two\n");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("Repeat it") && out.contains("differ"), "{out}");
    assert!(!typo.join("medvault.store").exists() && std::fs::read_dir(&typo).map_or(true, |mut d| d.next().is_none()));
    let good = dir.path().join("good");
    let (code, out) = init(&good, "alice passphrase one\nalice passphrase one\n");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("RECOVERY SHARES"), "{out}");
}

#[test]
fn completions_manual_version_and_no_colour() {
    let cli = Cli::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = cli.cmd("claire").args(["completions", shell]).assert().success().get_output().stdout.clone();
        let script = String::from_utf8(out).unwrap();
        assert!(script.contains("care-team") && script.contains("verify-extract"), "{shell}");
    }
    let page = cli.cmd("claire").arg("man").assert().success().get_output().stdout.clone();
    assert!(String::from_utf8_lossy(&page).contains(".TH medvault 1"));
    let dir = cli._dir.path().join("man1");
    cli.cmd("claire").args(["man", "--out", dir.to_str().unwrap()]).assert().success();
    assert!(dir.join("medvault-read.1").exists() && dir.join("medvault-audit-log.1").exists());
    let v = cli.cmd("claire").arg("--version").assert().success().get_output().stdout.clone();
    assert_eq!(String::from_utf8_lossy(&v).trim(), format!("medvault {}", env!("CARGO_PKG_VERSION")));
    // Logs carry no colour codes when asked not to (and off a terminal).
    let fresh = cli._dir.path().join("fresh");
    let out = cli
        .cmd("alice")
        .env("MEDVAULT_LOG", "debug")
        .env("NO_COLOR", "1")
        .env("MEDVAULT_STORE", &fresh)
        .args(["init", "--admin", "alice", "--kdf-memory-kib", "64", "--kdf-passes", "1", "--kdf-lanes", "1"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&out.stderr).contains("store created"), "the log was written");
    assert!(!out.stderr.contains(&0x1b) && !out.stdout.contains(&0x1b), "an escape sequence was printed");
}

#[test]
fn the_dpo_report_gives_its_figures_as_json() {
    let cli = Cli::new();
    let p = cli.patient();
    cli.cmd("claire").args(["read", &p, "--section", "exams"]).assert().code(3);
    let r = cli.json("dpo", &["audit", "report", "--since", "2000-01-01", "--until", "2100-01-01"]);
    assert!(r["accesses"].as_u64().is_some_and(|n| n >= 2), "{r}");
    assert!(r["accesses_per_user"].as_array().is_some_and(|u| !u.is_empty()), "{r}");
    assert!(r["findings"].is_array() && r["break_glass"].is_array(), "{r}");
    let denied = r["denied"].as_array().unwrap();
    assert!(denied.iter().any(|e| e["agent"]["name"] == "claire" && e["entity"]["section"] == "exams"), "{r}");
    // The page still needs --out; the figures and the page are each audited as a query.
    cli.cmd("dpo").args(["audit", "report", "--since", "2000-01-01", "--until", "2100-01-01"]).assert().code(2);
    let q = cli.json("dpo", &["audit", "log", "--action", "audit-query", "--by", "dpo"]);
    assert!(q.as_array().unwrap().iter().any(|e| e["detail"].as_str().is_some_and(|d| d.starts_with("DPO report"))));
}

#[test]
fn a_new_user_is_told_who_delivers_their_keys_and_a_holder_delivers_in_one_command() {
    let cli = Cli::new();
    let p = cli.patient();
    cli.json("martin", &["write", &p, "--section", "reports", "--input", &data("report.json")]);
    let out = cli
        .cmd("alice")
        .args(["user", "add", "paul", "--role", "nurse"])
        .env("MEDVAULT_NEW_PASSPHRASE", cli_harness::pass("paul"))
        .assert()
        .success()
        .get_output()
        .clone();
    let said = stderr(&out);
    assert!(said.contains("cannot read yet") && said.contains("martin"), "{said}");
    // (The administrator holds no clinical key: their commands deliver nothing.)
    let users = cli.json("alice", &["user", "list"]);
    let paul = users.as_array().unwrap().iter().find(|u| u["name"] == "paul").unwrap().clone();
    assert!(paul["pending_keys"].as_array().is_some_and(|k| !k.is_empty()), "{paul}");
    assert!(paul["deliverable_by"].as_array().unwrap().iter().any(|u| u == "martin"), "{paul}");
    cli.cmd("alice").args(["care-team", "add", &p, "paul"]).assert().success();
    // Until a holder unlocks, paul holds no reports key.
    cli.cmd("paul").args(["read", &p, "--section", "reports"]).assert().failure();
    let out = cli.cmd("martin").args(["user", "deliver"]).assert().success().get_output().clone();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("delivered to paul"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    cli.cmd("paul").args(["read", &p, "--section", "reports"]).assert().success();
    let users = cli.json("alice", &["user", "list"]);
    let paul = users.as_array().unwrap().iter().find(|u| u["name"] == "paul").unwrap().clone();
    assert_eq!(paul["pending_keys"].as_array().map(Vec::len), Some(0), "{paul}");
    let again = cli.cmd("martin").args(["user", "deliver"]).assert().success().get_output().clone();
    assert!(stderr(&again).contains("nobody was waiting"), "{}", stderr(&again));
}

/// Long jobs show a progress bar on a terminal, and print nothing of it into pipes and scripts.
#[test]
fn long_jobs_show_progress_on_a_terminal_only() {
    let cli = Cli::new();
    cli.patient();
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("full.mvbackup");
    for (user, args, bar) in [
        ("dpo", vec!["audit", "verify"], "verifying the audit log"),
        ("alice", vec!["backup", "--out", backup.to_str().unwrap()], "writing the backup"),
        ("dpo", vec!["backup", "verify", backup.to_str().unwrap()], "checking the backup"),
    ] {
        let Some(out) = cli.in_terminal(user, 120, &args) else {
            eprintln!("skipped: no `script` (util-linux) to give the command a terminal");
            return;
        };
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {shown}");
        assert!(shown.contains(bar), "no progress bar on a terminal for {args:?}: {shown}");
        // The same job in a pipe: no bar, no terminal control codes.
        if args[1] == "--out" {
            std::fs::remove_file(&backup).unwrap();
        }
        let piped = cli.cmd(user).args(&args).assert().success().get_output().clone();
        let text = format!("{}{}", String::from_utf8_lossy(&piped.stdout), stderr(&piped));
        assert!(!text.contains(bar) && !text.contains('\u{1b}'), "{args:?} printed its bar into a pipe: {text}");
    }
}

/// `audit log` in a 100-column terminal: no line wider than the terminal, no time, action or
/// id cut in two; columns that do not fit are left out and named.
#[test]
fn the_audit_log_fits_a_100_column_terminal_without_cutting_words() {
    let cli = Cli::new();
    let p = cli.patient();
    cli.cmd("claire").args(["read", &p, "--section", "exams"]).assert().code(3);
    cli.cmd("dpo")
        .args(["audit", "report", "--since", "2026-01-01", "--until", "2030-01-01", "--out", "-"])
        .assert()
        .success();
    let Some(out) = cli.in_terminal("dpo", 100, &["audit", "log", "--limit", "12"]) else {
        eprintln!("skipped: no `script` (util-linux) to give the command a terminal");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(out.status.success(), "{text}");
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with('│') && !l.contains("seq")).collect();
    for line in text.lines() {
        assert!(line.chars().count() <= 100, "wider than the terminal: {line}");
    }
    // Each event's first line carries its whole time and action.
    let firsts: Vec<&&str> = rows
        .iter()
        .filter(|l| l.split('┆').next().is_some_and(|c| c.trim_matches(['│', ' ']).parse::<u64>().is_ok()))
        .collect();
    assert_eq!(firsts.len(), 12, "{text}");
    for l in &firsts {
        let cells: Vec<&str> = l.split('┆').map(|c| c.trim_matches(['│', ' '])).collect();
        assert_eq!(cells[1].len(), 19, "time cut: {l}");
        assert!(medvault::Action::parse(cells[3]).is_ok(), "action cut: {l}");
    }
    // Wrapped details break between words only.
    let details: String = rows
        .iter()
        .filter_map(|l| l.rsplit('┆').next())
        .map(|c| c.trim_matches(['│', ' ']))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(details.contains("DPO report"), "{text}");
    assert!(text.contains("too narrow for: role"), "{text}");
}
