//! The C ABI called as C would call it: the tour through it, a denied read, and every kind of
//! bad argument (NULL, unknown or closed handles, invalid UTF-8, invalid JSON), each an error
//! code and a message, never a crash.

#![deny(clippy::undocumented_unsafe_blocks)]

use medvault_ffi::*;
use std::ffi::{CStr, CString, c_char};
use std::ptr::{null, null_mut};

const FAST: &str = r#"{"kdf_memory_kib": 64, "kdf_passes": 1, "kdf_lanes": 1}"#;
const MARKER: &str = "Zéphyrine-Marqueur";

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// Takes a returned string, freeing it.
fn take(p: *mut c_char) -> String {
    assert!(!p.is_null());
    // SAFETY: a string this library returned, not freed before.
    let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string();
    // SAFETY: freed once.
    unsafe { mv_string_free(p) };
    s
}

fn last_error() -> String {
    take(mv_last_error())
}

struct Practice {
    _dir: tempfile::TempDir,
    store: MvStore,
}

fn unlock(store: MvStore, user: &str, pass: &str) -> (i32, MvSession) {
    let mut s = 0;
    // SAFETY: valid strings and buffers; `s` writable.
    let rc = unsafe {
        mv_session_unlock(
            store,
            c(user).as_ptr(),
            pass.as_ptr(),
            pass.len(),
            c("poste-1").as_ptr(),
            c("treatment").as_ptr(),
            &mut s,
        )
    };
    (rc, s)
}

fn session(store: MvStore, user: &str) -> MvSession {
    let (rc, s) = unlock(store, user, &format!("{user}: passphrase"));
    assert_eq!(rc, MV_OK, "{}", last_error());
    s
}

/// A new store at `location` with administrator `admin` (cheap key stretching).
fn create(location: &str) -> MvStore {
    let pass = "admin: passphrase";
    let (mut store, mut json) = (0, null_mut());
    // SAFETY: valid strings and buffers; outputs writable.
    let rc = unsafe {
        mv_store_create(
            c(location).as_ptr(),
            c("admin").as_ptr(),
            pass.as_ptr(),
            pass.len(),
            c(FAST).as_ptr(),
            &mut store,
            &mut json,
        )
    };
    assert_eq!(rc, MV_OK, "{}", last_error());
    let shares: serde_json::Value = serde_json::from_str(&take(json)).unwrap();
    assert_eq!(shares["recovery_shares"].as_array().map(Vec::len), Some(5));
    store
}

fn practice() -> Practice {
    let dir = tempfile::tempdir().unwrap();
    let store = create(&dir.path().join("store").display().to_string());
    let admin = session(store, "admin");
    for (user, role) in [("claire", "secretary"), ("dr_martin", "physician"), ("dpo", "auditor")] {
        let pass = format!("{user}: passphrase");
        let mut out = null_mut();
        let roles = c(&format!("[\"{role}\"]"));
        // SAFETY: valid strings and buffers; output writable.
        let rc = unsafe { mv_user_add(admin, c(user).as_ptr(), roles.as_ptr(), pass.as_ptr(), pass.len(), &mut out) };
        assert_eq!(rc, MV_OK, "{}", last_error());
        take(out);
    }
    assert_eq!(mv_session_close(admin), MV_OK);
    // Holders deliver keys at unlock.
    for user in ["claire", "dr_martin"] {
        assert_eq!(mv_session_close(session(store, user)), MV_OK);
    }
    Practice { _dir: dir, store }
}

const IDENTITY: &str = r#"{"birth_name": "LEFEBVRE", "first_names": ["Camille"], "birth_date": "1984-03-12",
 "sex": "F", "birth_place_insee": "75056", "identity_status": "PROV", "phone": "06 12 34 56 78"}"#;

fn exam() -> String {
    format!(
        r#"{{"kind": "lab", "code_system": "http://loinc.org", "code": "718-7", "label": "{MARKER}",
        "value": "13.2", "unit": "g/dL", "date": "2026-11-22", "performer": "Laboratoire Central"}}"#
    )
}

#[test]
fn the_tour_through_the_abi_with_a_denied_read() {
    let p = practice();
    let claire = session(p.store, "claire");
    let mut id = null_mut();
    // SAFETY: valid strings; output writable.
    assert_eq!(unsafe { mv_patient_create(claire, c(IDENTITY).as_ptr(), &mut id) }, MV_OK, "{}", last_error());
    let patient = take(id);
    // SAFETY: valid strings.
    assert_eq!(unsafe { mv_care_team(claire, c(&patient).as_ptr(), c("dr_martin").as_ptr(), 0) }, MV_OK);
    let mut out = null_mut();
    let find = c(r#"{"birth_name": "Lefebvre", "birth_date": "1984-03-12"}"#);
    // SAFETY: valid strings; output writable.
    assert_eq!(unsafe { mv_patient_find(claire, find.as_ptr(), &mut out) }, MV_OK);
    assert!(take(out).contains(&patient));

    let doc = session(p.store, "dr_martin");
    let mut out = null_mut();
    // SAFETY: valid strings (NULL entry and reason: a new exam); output writable.
    let rc = unsafe {
        mv_write(doc, c(&patient).as_ptr(), c("exams").as_ptr(), c(&exam()).as_ptr(), null(), null(), &mut out)
    };
    assert_eq!(rc, MV_OK, "{}", last_error());
    let written: serde_json::Value = serde_json::from_str(&take(out)).unwrap();
    assert_eq!(written["revision"], 1);
    let mut out = null_mut();
    // SAFETY: valid strings; output writable.
    assert_eq!(unsafe { mv_read(doc, c(&patient).as_ptr(), c("exams").as_ptr(), &mut out) }, MV_OK);
    assert!(take(out).contains(MARKER));

    // The secretary reads the identity, and is refused the exams: a code, no data.
    let mut out = null_mut();
    // SAFETY: valid strings; output writable.
    assert_eq!(unsafe { mv_read(claire, c(&patient).as_ptr(), c("identity").as_ptr(), &mut out) }, MV_OK);
    assert!(take(out).contains("LEFEBVRE"));
    let mut out = null_mut();
    // SAFETY: valid strings; output writable.
    assert_eq!(unsafe { mv_read(claire, c(&patient).as_ptr(), c("exams").as_ptr(), &mut out) }, MV_ERR_DENIED);
    assert!(out.is_null(), "a denied read returns no data");
    let denied = last_error();
    assert!(denied.contains("denied") && !denied.contains(MARKER), "{denied}");

    // The DPO sees both reads, the refusal among them, and the log verifies.
    let dpo = session(p.store, "dpo");
    let mut out = null_mut();
    let q = c(&format!(r#"{{"patient": "{patient}", "action": "read"}}"#));
    // SAFETY: valid strings; output writable.
    assert_eq!(unsafe { mv_audit_query(dpo, q.as_ptr(), &mut out) }, MV_OK, "{}", last_error());
    let events: Vec<serde_json::Value> = serde_json::from_str(&take(out)).unwrap();
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0]["outcome"], "denied");
    let mut out = null_mut();
    // SAFETY: output writable.
    assert_eq!(unsafe { mv_audit_verify(dpo, &mut out) }, MV_OK);
    let report: serde_json::Value = serde_json::from_str(&take(out)).unwrap();
    assert_eq!(report["ok"], true, "{report}");

    // The patient's copy, to a buffer and to a file.
    let (mut buf, mut len) = (null_mut(), 0usize);
    // SAFETY: valid strings; outputs writable.
    let rc = unsafe { mv_export_patient(doc, c(&patient).as_ptr(), c("fhir").as_ptr(), null(), &mut buf, &mut len) };
    assert_eq!(rc, MV_OK, "{}", last_error());
    // SAFETY: the buffer and length just returned.
    let bundle = unsafe { std::slice::from_raw_parts(buf, len) }.to_vec();
    // SAFETY: freed once, with its length.
    unsafe { mv_buffer_free(buf, len) };
    assert!(String::from_utf8(bundle).unwrap().contains("\"Bundle\""));
    let file = p._dir.path().join("copie.html");
    let path = c(&file.display().to_string());
    // SAFETY: valid strings; NULL outputs are allowed with a path.
    let rc = unsafe {
        mv_export_patient(doc, c(&patient).as_ptr(), c("html").as_ptr(), path.as_ptr(), null_mut(), null_mut())
    };
    assert_eq!(rc, MV_OK, "{}", last_error());
    assert!(std::fs::read_to_string(&file).unwrap().contains("LEFEBVRE"));
    // SAFETY: as above; the file exists now and is never replaced.
    let rc = unsafe {
        mv_export_patient(doc, c(&patient).as_ptr(), c("html").as_ptr(), path.as_ptr(), null_mut(), null_mut())
    };
    assert_eq!(rc, MV_ERR_ALREADY_EXISTS);

    for s in [claire, doc, dpo] {
        assert_eq!(mv_session_close(s), MV_OK);
    }
    assert_eq!(mv_store_close(p.store), MV_OK);
}

#[test]
fn null_pointers_are_errors_naming_the_argument() {
    let p = practice();
    let s = session(p.store, "claire");
    let mut out = null_mut();
    // SAFETY: every pointer is NULL or valid; NULL is what is tested.
    unsafe {
        assert_eq!(mv_patient_create(s, null(), &mut out), MV_ERR_NULL_POINTER);
        assert!(last_error().contains("identity_json"));
        assert_eq!(mv_patient_create(s, c(IDENTITY).as_ptr(), null_mut()), MV_ERR_NULL_POINTER);
        assert_eq!(mv_read(s, null(), c("identity").as_ptr(), &mut out), MV_ERR_NULL_POINTER);
        assert_eq!(mv_read(s, c("00").as_ptr(), null(), &mut out), MV_ERR_NULL_POINTER);
        assert_eq!(mv_write(s, null(), null(), null(), null(), null(), &mut out), MV_ERR_NULL_POINTER);
        assert_eq!(mv_care_team(s, null(), null(), 0), MV_ERR_NULL_POINTER);
        assert_eq!(mv_opposition(s, null(), null(), 0), MV_ERR_NULL_POINTER);
        assert_eq!(mv_break_glass(s, null(), null(), 0, &mut out), MV_ERR_NULL_POINTER);
        assert_eq!(mv_patient_find(s, null(), &mut out), MV_ERR_NULL_POINTER);
        assert_eq!(mv_audit_verify(s, null_mut()), MV_ERR_NULL_POINTER);
        assert_eq!(
            mv_export_patient(s, c("00").as_ptr(), c("json").as_ptr(), null(), null_mut(), null_mut()),
            MV_ERR_NULL_POINTER
        );
        let mut h = 0;
        assert_eq!(mv_store_open(null(), &mut h), MV_ERR_NULL_POINTER);
        assert_eq!(
            mv_session_unlock(
                p.store,
                c("claire").as_ptr(),
                null(),
                3,
                c("w").as_ptr(),
                c("treatment").as_ptr(),
                &mut h
            ),
            MV_ERR_NULL_POINTER
        );
        assert!(last_error().contains("passphrase"));
        mv_string_free(null_mut());
        mv_buffer_free(null_mut(), 0);
    }
    assert!(out.is_null(), "no output on error");
}

#[test]
fn unknown_closed_and_wrong_kind_handles_are_errors() {
    let p = practice();
    let s = session(p.store, "claire");
    let mut out = null_mut();
    for bad in [0, u64::MAX, 987_654_321, p.store] {
        // SAFETY: valid strings; output writable.
        assert_eq!(unsafe { mv_patient_create(bad, c(IDENTITY).as_ptr(), &mut out) }, MV_ERR_INVALID_HANDLE);
    }
    assert!(last_error().contains("session"));
    let (rc, _) = unlock(s, "claire", "claire: passphrase");
    assert_eq!(rc, MV_ERR_INVALID_HANDLE, "a session handle is not a store handle");
    assert_eq!(mv_session_close(s), MV_OK);
    assert_eq!(mv_session_close(s), MV_ERR_INVALID_HANDLE, "closed twice");
    // SAFETY: valid strings; output writable.
    assert_eq!(unsafe { mv_read(s, c("00").as_ptr(), c("identity").as_ptr(), &mut out) }, MV_ERR_INVALID_HANDLE);
    assert_eq!(mv_store_close(p.store), MV_OK);
    assert_eq!(mv_store_close(p.store), MV_ERR_INVALID_HANDLE);
    assert!(out.is_null());
}

#[test]
fn invalid_utf8_and_invalid_json_are_errors_that_never_repeat_the_input() {
    let p = practice();
    let s = session(p.store, "claire");
    let mut out = null_mut();
    let not_utf8 = CString::new(vec![b'{', 0xff, 0xfe, b'}']).unwrap();
    // SAFETY: valid NUL-terminated buffers; output writable.
    unsafe {
        assert_eq!(mv_patient_create(s, not_utf8.as_ptr(), &mut out), MV_ERR_INVALID_UTF8);
        assert!(last_error().contains("identity_json"));
        for bad in [
            format!(r#"{{"birth_name": {MARKER}"#),
            format!(r#"{{"birth_name": 12, "first_names": ["{MARKER}"]}}"#),
            format!(r#"{{"sex": "{MARKER}"}}"#),
            "[]".to_string(),
            String::new(),
        ] {
            assert_eq!(mv_patient_create(s, c(&bad).as_ptr(), &mut out), MV_ERR_INVALID_JSON, "{bad}");
            let message = last_error();
            assert!(message.contains("identity JSON") && !message.contains(MARKER), "{message}");
        }
        assert_eq!(mv_patient_find(s, c(r#"{"ins": 1}"#).as_ptr(), &mut out), MV_ERR_INVALID_JSON);
        assert_eq!(mv_patient_find(s, c(r#"{"birth_name": "X"}"#).as_ptr(), &mut out), MV_ERR_INVALID_INPUT);
        assert_eq!(mv_audit_query(s, c(r#"{"colour": 1}"#).as_ptr(), &mut out), MV_ERR_INVALID_JSON);
        assert_eq!(mv_read(s, c("not-an-id").as_ptr(), c("identity").as_ptr(), &mut out), MV_ERR_INVALID_INPUT);
        assert_eq!(mv_read(s, c(&"ab".repeat(16)).as_ptr(), c("xrays").as_ptr(), &mut out), MV_ERR_INVALID_INPUT);
        let mut h = 0;
        let pass = "claire: passphrase";
        let rc = mv_session_unlock(
            p.store,
            c("claire").as_ptr(),
            pass.as_ptr(),
            pass.len(),
            c("w").as_ptr(),
            c(MARKER).as_ptr(),
            &mut h,
        );
        assert_eq!(rc, MV_ERR_INVALID_JSON);
        assert!(!last_error().contains(MARKER));
        let wrong = "wrong passphrase";
        let rc = mv_session_unlock(
            p.store,
            c("claire").as_ptr(),
            wrong.as_ptr(),
            wrong.len(),
            c("w").as_ptr(),
            c("treatment").as_ptr(),
            &mut h,
        );
        assert_eq!(rc, MV_ERR_AUTHENTICATION);
    }
    assert!(out.is_null());
    // A successful call clears the last error.
    let mut id = null_mut();
    // SAFETY: valid strings; output writable.
    assert_eq!(unsafe { mv_patient_create(s, c(IDENTITY).as_ptr(), &mut id) }, MV_OK);
    take(id);
    assert!(mv_last_error().is_null());
}

#[test]
fn one_session_serves_several_threads_at_once() {
    let p = practice();
    let claire = session(p.store, "claire");
    let mut id = null_mut();
    // SAFETY: valid strings; output writable.
    assert_eq!(unsafe { mv_patient_create(claire, c(IDENTITY).as_ptr(), &mut id) }, MV_OK);
    let patient = take(id);
    let reads: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let patient = patient.clone();
                scope.spawn(move || {
                    (0..10)
                        .filter(|_| {
                            let mut out = null_mut();
                            // SAFETY: valid strings; output writable.
                            let rc = unsafe { mv_read(claire, c(&patient).as_ptr(), c("identity").as_ptr(), &mut out) };
                            rc == MV_OK && take(out).contains("LEFEBVRE")
                        })
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(reads, 40);
    assert_eq!(mv_session_close(claire), MV_OK);
}

#[test]
fn the_version_is_the_crate_version() {
    // SAFETY: a static NUL-terminated string.
    let v = unsafe { CStr::from_ptr(mv_version()) }.to_str().unwrap();
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
}

/// A store at a server URL works through the ABI as a folder does (skipped without a server,
/// unless `CI=true`).
#[test]
fn a_store_on_a_postgresql_server() {
    let Some(schema) = medvault::testing::TestSchema::new("ffi") else { return };
    let store = create(schema.url());
    let admin = session(store, "admin");
    let mut out = null_mut();
    let dpo_pass = "dpo: passphrase";
    // SAFETY: valid strings and buffers; output writable.
    let rc = unsafe {
        mv_user_add(admin, c("dpo").as_ptr(), c(r#"["auditor"]"#).as_ptr(), dpo_pass.as_ptr(), dpo_pass.len(), &mut out)
    };
    assert_eq!(rc, MV_OK, "{}", last_error());
    take(out);
    assert_eq!(mv_session_close(admin), MV_OK);
    assert_eq!(mv_store_close(store), MV_OK);
    // Another handle on the same server store: the DPO verifies the log.
    let mut again = 0;
    // SAFETY: a valid string; output writable.
    assert_eq!(unsafe { mv_store_open(c(schema.url()).as_ptr(), &mut again) }, MV_OK, "{}", last_error());
    let dpo = session(again, "dpo");
    let mut out = null_mut();
    // SAFETY: output writable.
    assert_eq!(unsafe { mv_audit_verify(dpo, &mut out) }, MV_OK);
    assert!(take(out).contains(r#""ok":true"#));
    assert_eq!(mv_session_close(dpo), MV_OK);
    assert_eq!(mv_store_close(again), MV_OK);
}
