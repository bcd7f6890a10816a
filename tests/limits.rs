//! Input limits (docs/limits.md): beyond each, a typed error naming the field and its limit,
//! and nothing written.

mod cli_harness;
mod common;
use common::every_backend;

use common::Practice;
use medvault::backend::Space;
use medvault::synthetic::Synth;
use medvault::{Date, Error, InvalidInput};

every_backend! {
fn over_long_fields_are_refused_and_change_nothing(kind) {
    let practice = Practice::of(kind);
    let p = practice.patient(1);
    let doc = practice.session("dr_martin");
    let rows = || practice.backend.scan_prefix(Space::Records, &[]).unwrap().len();
    let before = rows();
    let mut id = common::identity(2);
    id.first_names = vec!["Jean".into(); 11];
    assert!(matches!(doc.create_patient(id), Err(Error::Invalid(InvalidInput::Rule(_)))));
    let mut id = common::identity(3);
    id.address = Some("rue ".repeat(126));
    assert!(matches!(
        doc.create_patient(id),
        Err(Error::Invalid(InvalidInput::TooLong { field: "address", max: 500 }))
    ));
    let d = Date::parse("2026-11-02").unwrap();
    let mut exam = Synth::new(4).lab_result("Labo", d);
    exam.unit = Some("u".repeat(51));
    assert!(matches!(doc.append_exam(p, exam), Err(Error::Invalid(InvalidInput::TooLong { field: "unit", max: 50 }))));
    let mut report = Synth::new(5).report("Dr Martin", d);
    report.body = "x".repeat(4 * 1024 * 1024 + 1);
    assert!(matches!(doc.append_report(p, report), Err(Error::Invalid(InvalidInput::TooLong { field: "body", .. }))));
    assert_eq!(rows(), before);
}
}

#[test]
fn an_over_large_json_input_is_refused_before_parsing() {
    let cli = cli_harness::Cli::new();
    let p = cli.patient();
    let big = cli._dir.path().join("big.json");
    std::fs::write(&big, vec![b' '; 10 * 1024 * 1024 + 1]).unwrap();
    let out = cli
        .cmd("martin")
        .args(["write", &p, "--section", "reports", "--input", big.to_str().unwrap()])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("JSON input") && text.contains("10485760"), "{text}");
    let reports = cli.json("martin", &["read", &p, "--section", "reports"]);
    assert_eq!(reports.as_array().unwrap().len(), 0);
}
