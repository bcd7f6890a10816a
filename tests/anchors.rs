//! What the local witness cannot catch, and the anchor folder can: the whole store folder,
//! witness included, replaced by an older copy of itself. With an anchor folder configured,
//! every close writes a signed checkpoint there, and `verify` checks the log extends the newest.

mod common;

use common::{PASS, ctx};
use medvault::{Store, StoreOptions};
use std::path::Path;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() && e.file_name() != "medvault.owner" {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn an_older_copy_of_the_whole_folder_passes_the_witness_but_not_the_anchor() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    let anchors = root.path().join("usb-key");
    let options = StoreOptions { anchor_dir: Some(anchors.clone()), ..StoreOptions::insecure_fast_for_tests() };
    let (store, _) = Store::create(&dir, "admin", PASS, options).unwrap();
    let admin = store.unlock("admin", PASS, ctx()).unwrap();
    admin.add_user("dpo", &["auditor".into()], PASS).unwrap();
    drop(admin);
    store.close().unwrap();
    let old = root.path().join("old-copy");
    copy_dir(&dir, &old);

    // More work, then close: a newer anchor.
    let store = Store::open(&dir).unwrap();
    let dpo = store.unlock("dpo", PASS, ctx()).unwrap();
    assert!(dpo.verify_audit(None).unwrap().anchored, "the configured anchor folder is used");
    drop(dpo);
    store.close().unwrap();
    let written = std::fs::read_dir(anchors.join(Store::open(&dir).unwrap().id().to_string())).unwrap().count();
    assert!(written >= 2, "each close wrote an anchor ({written})");

    // The attacker puts back the older folder, witness and all: the witness agrees with it...
    std::fs::remove_dir_all(&dir).unwrap();
    copy_dir(&old, &dir);
    let store = Store::open(&dir).expect("a consistent older copy opens: the witness cannot tell");
    // ...but the anchor kept elsewhere does not.
    let report = store.unlock("dpo", PASS, ctx()).unwrap().verify_audit(None).unwrap();
    assert!(!report.is_ok(), "rollback to an older copy went unnoticed");
    assert!(report.problems.iter().any(|p| p.what.contains("rolled back")), "{:?}", report.problems);
}
