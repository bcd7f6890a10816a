//! `attach`, `read --attachments`, `read --attachment --out` and `export patient --attachments`
//! through the binary.

mod cli_harness;

use cli_harness::{Cli, data};

#[test]
fn attach_list_read_and_export_from_the_command_line() {
    let cli = Cli::new();
    let p = cli.patient();
    let dir = cli._dir.path();
    let w = cli.json("martin", &["write", &p, "--section", "reports", "--input", &data("report.json")]);
    let entry = w["entry_id"].as_str().unwrap().to_string();
    let scan: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let file = dir.join("lettre de Mme X.pdf");
    std::fs::write(&file, &scan).unwrap();

    let v = cli
        .json("martin", &["attach", &p, "--section", "reports", "--entry", &entry, "--file", file.to_str().unwrap()]);
    let id = v["attachment"].as_str().unwrap().to_string();
    // A missing file changes nothing (exit 1), and the nurse may not write reports (exit 3).
    cli.cmd("martin")
        .args([
            "attach",
            &p,
            "--section",
            "reports",
            "--entry",
            &entry,
            "--file",
            dir.join("absent.pdf").to_str().unwrap(),
        ])
        .assert()
        .code(1);
    cli.cmd("ines")
        .args(["attach", &p, "--section", "reports", "--entry", &entry, "--file", file.to_str().unwrap()])
        .assert()
        .code(3);

    let list = cli.json("ines", &["read", &p, "--section", "reports", "--attachments"]);
    assert_eq!(list[0]["attachment"], id.as_str());
    assert_eq!(list[0]["name"], "lettre de Mme X.pdf");
    assert_eq!(list[0]["media_type"], "application/pdf");
    assert_eq!(list[0]["size"], 200_000);

    // `read --attachment`, by the nurse, into `out`.
    let read_to = |attachment: &str, out: &std::path::Path| {
        let mut c = cli.cmd("ines");
        c.args(["read", &p, "--section", "reports", "--entry", &entry, "--attachment", attachment, "--out"]);
        c.arg(out);
        c
    };
    let out = dir.join("copie.pdf");
    read_to(&id, &out).assert().success();
    assert_eq!(std::fs::read(&out).unwrap(), scan);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // Not over an existing file without --force; an unknown attachment leaves no file.
    read_to(&id, &out).assert().failure();
    let missing = dir.join("none.pdf");
    read_to(&"0".repeat(32), &missing).assert().failure();
    assert!(!missing.exists());

    // The patient's copy lists it (FHIR Attachment, HTML) and writes its content beside it.
    let bundle = dir.join("copy.json");
    let files = dir.join("pieces");
    cli.cmd("martin")
        .args(["export", "patient", &p, "--out", bundle.to_str().unwrap(), "--attachments", files.to_str().unwrap()])
        .assert()
        .success();
    let b: serde_json::Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    let attachments: Vec<&serde_json::Value> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "DocumentReference")
        .flat_map(|e| e["resource"]["content"].as_array().unwrap())
        .map(|c| &c["attachment"])
        .filter(|a| a["size"].is_number())
        .collect();
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0]["title"], "lettre de Mme X.pdf");
    assert_eq!(attachments[0]["contentType"], "application/pdf");
    let written = std::fs::read(files.join(format!("{id}-lettre_de_Mme_X.pdf"))).unwrap();
    assert_eq!(written, scan);
    let html = dir.join("copy.html");
    cli.cmd("martin")
        .args(["export", "patient", &p, "--format", "html", "--out", html.to_str().unwrap()])
        .assert()
        .success();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains(&format!("data-attachment=\"{id}\"")) && page.contains("lettre de Mme X.pdf"));
}
