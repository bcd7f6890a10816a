//! The checked-in header is what cbindgen makes of the sources today. After changing the ABI:
//! `MEDVAULT_BLESS_HEADER=1 cargo test -p medvault-ffi --test header`, and review the diff.

#[test]
fn the_checked_in_header_is_up_to_date() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).unwrap();
    let generated = cbindgen::generate_with_config(dir, config).unwrap();
    let mut fresh = Vec::new();
    generated.write(&mut fresh);
    let path = dir.join("include").join("medvault.h");
    if std::env::var_os("MEDVAULT_BLESS_HEADER").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == fresh,
        "include/medvault.h is out of date: run MEDVAULT_BLESS_HEADER=1 cargo test -p medvault-ffi --test header"
    );
    let text = String::from_utf8(fresh).unwrap();
    for f in ["mv_store_create", "mv_session_unlock", "mv_read", "mv_write", "mv_string_free", "MV_ERR_DENIED"] {
        assert!(text.contains(f), "{f} missing from the header");
    }
}
