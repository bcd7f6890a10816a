//! `import fhir` reads files from another system: whatever they hold, it must end in a report
//! or a typed error, never a panic, and never write a patient the files do not describe. The
//! fuzzed bytes are imported as an NDJSON file and as a Bundle (dry run and real) by a
//! physician of a store kept across runs.
#![no_main]
use libfuzzer_sys::fuzz_target;
use medvault::Session;

mod practice;
use practice::{PASS, ctx, practice};

thread_local! {
    static SESSION: Option<(medvault::Store, Session)> = {
        let store = practice(std::sync::Arc::new(medvault::backend::MemoryBackend::new()));
        store.and_then(|store| {
            let s = store.unlock("doc", PASS, ctx()).ok()?;
            Some((store, s))
        })
    };
}

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("medvault-fuzz-import-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    SESSION.with(|held| {
        let Some((_, s)) = held else { return };
        for (name, dry_run) in [("input.ndjson", true), ("input.json", true), ("input.ndjson", false)] {
            let path = dir.join(name);
            if std::fs::write(&path, data).is_err() {
                return;
            }
            let before = s.patient_ids().map(|p| p.len()).unwrap_or(0);
            let result = medvault::import::import_fhir(s, &path, dry_run, &mut |_, _| {});
            let after = s.patient_ids().map(|p| p.len()).unwrap_or(0);
            match result {
                Ok(r) => assert_eq!(after - before, if dry_run { 0 } else { r.patients_created as usize }),
                Err(_) => assert_eq!(after, before, "a refused import wrote patients"),
            }
            let _ = std::fs::remove_file(&path);
        }
    });
});
