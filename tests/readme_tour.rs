//! The README's five-minute tour runs as written.

#[test]
fn the_readme_tour_runs_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find("## Five-minute tour").expect("tour section");
    let block = &readme[start..];
    let code_start = block.find("```bash\n").expect("bash block") + "```bash\n".len();
    let code = &block[code_start..code_start + block[code_start..].find("\n```\n").expect("end of block")];
    assert!(code.contains("medvault audit verify"));
    let dir = tempfile::tempdir().unwrap();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_medvault")).parent().unwrap().to_path_buf();
    // The first line builds the release binary; here the test's binary stands in for it.
    let script = format!("set -euo pipefail\ncargo() {{ :; }}\nexport PATH=\"{}:$PATH\"\n{code}\n", bin.display());
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env_remove("MEDVAULT_STORE")
        .env_remove("MEDVAULT_USER")
        .env_remove("MEDVAULT_PASSPHRASE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tour failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("=== RECOVERY SHARES"), "{stdout}");
    assert!(stdout.contains("Hémoglobine"), "{stdout}");
    assert!(stdout.contains("refused (exit code 3)"), "{stdout}");
    assert!(stdout.contains("audit log OK"), "{stdout}");
}
