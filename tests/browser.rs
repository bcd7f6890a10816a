//! The patient copy and the DPO report as a browser renders and prints them: headless Chromium
//! (Debian's package, installed by `.ci/run`) takes a screenshot and prints each page to PDF;
//! the printed text (poppler's `pdftotext`) must be French, carry the written marks that colour
//! shows on screen, hold no raw code, and repeat table headers on each printed page (the print
//! style sheet at work). Without Chromium the test is skipped locally and fails under CI.

mod common;

use common::{Kind, copy_fixture};
use medvault::Timestamp;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tool(name: &str) -> Option<PathBuf> {
    let out = Command::new("sh").args(["-c", &format!("command -v {name}")]).output().ok()?;
    out.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Chromium and pdftotext, or a skip (a failure under CI).
fn tools() -> Option<(PathBuf, PathBuf)> {
    let found = (tool("chromium").or_else(|| tool("chromium-browser")), tool("pdftotext"));
    match found {
        (Some(c), Some(p)) => Some((c, p)),
        _ => {
            assert!(std::env::var_os("CI").is_none(), "CI must install chromium and poppler-utils (see .ci/run)");
            eprintln!("skipped: chromium or pdftotext missing");
            None
        }
    }
}

/// Renders `page` with Chromium: a screenshot and a printed PDF; returns the PDF's text.
fn render(chromium: &Path, pdftotext: &Path, dir: &Path, name: &str, page: &str) -> String {
    let html = dir.join(format!("{name}.html"));
    std::fs::write(&html, page).unwrap();
    let url = format!("file://{}", html.display());
    let profile = dir.join(format!("{name}-profile"));
    let chrome = |arg: String| {
        let out = Command::new(chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(["--window-size=1280,1800", &arg, &url])
            .output()
            .unwrap();
        assert!(out.status.success(), "chromium {arg}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let png = dir.join(format!("{name}.png"));
    chrome(format!("--screenshot={}", png.display()));
    let shot = std::fs::read(&png).unwrap();
    assert!(shot.starts_with(b"\x89PNG\r\n\x1a\n") && shot.len() > 20_000, "{name}: blank screenshot?");
    let pdf = dir.join(format!("{name}.pdf"));
    chrome(format!("--print-to-pdf={}", pdf.display()));
    let out = Command::new(pdftotext).arg(&pdf).arg("-").output().unwrap();
    assert!(out.status.success());
    // Lines wrap where the page is narrow: compare words, not line breaks.
    let text = String::from_utf8(out.stdout).unwrap().split_whitespace().collect::<Vec<_>>().join(" ");
    println!("{name}: screenshot {} bytes, printed {} characters", shot.len(), text.len());
    text
}

/// Raw codes and English words of the audit vocabulary: none may reach a reader.
const RAW: &[&str] =
    &["treatment", "success", "denied", "secretary", "physician", "break-glass", "patient-request", "T21:30", ".000Z"];

#[test]
fn chromium_renders_and_prints_the_copy_and_the_report_in_french() {
    let Some((chromium, pdftotext)) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (practice, p, _) = copy_fixture(Kind::Memory);
    // Enough accesses for the history to span several printed pages.
    let nurse = practice.session("ines");
    for _ in 0..60 {
        nurse.read_identity(p).unwrap();
    }
    let (_, copy) = practice.session("dr_martin").patient_copy_html(p).unwrap();
    assert!(copy.contains("@media print"), "print style sheet missing");
    let text = render(&chromium, &pdftotext, dir.path(), "copie", &copy);
    for french in [
        "Copie du dossier médical",
        "Dr Jean Martin (médecin généraliste)",
        "14/07/2026 à 23:30",
        "⚠ URGENCE",
        "✖ REFUSÉ",
        "VERSION REMPLACÉE",
        "très bas (valeur critique)",
        "Authenticité de cette copie",
    ] {
        assert!(text.contains(french), "the printed copy lacks {french:?}");
    }
    for raw in RAW {
        assert!(!text.contains(raw), "the printed copy shows the raw code {raw:?}");
    }
    // The history's header row is printed again on every page the table spans.
    let headers = text.matches("Date et heure").count();
    assert!(headers >= 2, "table headers not repeated on printed pages ({headers})");

    let dpo = practice.session("dpo");
    let report =
        dpo.audit_report(Timestamp::parse("2026-07-14").unwrap(), Timestamp::parse("2026-07-16").unwrap()).unwrap();
    assert!(report.contains("@media print"), "print style sheet missing from the report");
    let text = render(&chromium, &pdftotext, dir.path(), "rapport", &report);
    for french in
        ["Rapport d'audit des accès", "Points d'attention", "accès de nuit", "À REVOIR", "hors équipe de soins"]
    {
        assert!(text.contains(french), "the printed report lacks {french:?}");
    }
    for raw in RAW {
        assert!(!text.contains(raw), "the printed report shows the raw code {raw:?}");
    }
}
