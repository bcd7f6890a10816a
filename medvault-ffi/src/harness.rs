//! For the fuzz target `ffi_json` (fuzz/): the JSON entry points called through the C ABI,
//! pointers and all, from safe code, on a practice built once per process. Each call checks
//! the contract: a known status code, never a caught panic; on error no output and a message;
//! on success an output that is valid JSON, freed with `mv_string_free`.

use crate::*;
use std::ffi::CString;
use std::ptr::null_mut;
use std::sync::OnceLock;

/// A store with a secretary, a physician and an auditor, one patient and one report.
pub struct Fixture {
    admin: MvSession,
    secretary: MvSession,
    physician: MvSession,
    auditor: MvSession,
    patient: CString,
}

const FAST: &str = r#"{"kdf_memory_kib": 64, "kdf_passes": 1, "kdf_lanes": 1}"#;

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap_or_default()
}

fn check(rc: i32, out: *mut c_char, json: bool) {
    assert_ne!(rc, MV_ERR_PANIC, "a panic reached the boundary");
    let known = [
        MV_OK,
        MV_ERR_NULL_POINTER,
        MV_ERR_INVALID_HANDLE,
        MV_ERR_INVALID_UTF8,
        MV_ERR_INVALID_JSON,
        MV_ERR_INVALID_INPUT,
        MV_ERR_DENIED,
        MV_ERR_NOT_FOUND,
        MV_ERR_ALREADY_EXISTS,
    ];
    assert!(known.contains(&rc), "unexpected status {rc}");
    if rc == MV_OK {
        assert!(!out.is_null(), "success without output");
        // SAFETY: a string this library just returned.
        let text = unsafe { CStr::from_ptr(out) }.to_str().map(str::to_string);
        // SAFETY: freed once.
        unsafe { mv_string_free(out) };
        let text = text.unwrap_or_else(|_| panic!("output is not UTF-8"));
        if json {
            assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok(), "output is not JSON");
        }
    } else {
        assert!(out.is_null(), "an output on error");
        let message = mv_last_error();
        assert!(!message.is_null(), "an error without a message");
        // SAFETY: a string this library just returned, freed once.
        unsafe { mv_string_free(message) };
    }
}

fn session(store: MvStore, user: &str) -> MvSession {
    let pass = format!("{user}: fuzz passphrase");
    let mut s = 0;
    // SAFETY: valid strings and buffer; output writable.
    let rc = unsafe {
        mv_session_unlock(
            store,
            cstr(user).as_ptr(),
            pass.as_ptr(),
            pass.len(),
            cstr("fuzz").as_ptr(),
            cstr("treatment").as_ptr(),
            &mut s,
        )
    };
    assert_eq!(rc, MV_OK, "fixture: unlock {user}");
    s
}

/// The practice, built on first use in a fresh folder under the temporary directory.
pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("medvault-ffi-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let location = cstr(&dir.join("store").display().to_string());
        let pass = "admin: fuzz passphrase";
        let (mut store, mut out) = (0, null_mut());
        // SAFETY: valid strings and buffer; outputs writable.
        let rc = unsafe {
            mv_store_create(
                location.as_ptr(),
                cstr("admin").as_ptr(),
                pass.as_ptr(),
                pass.len(),
                cstr(FAST).as_ptr(),
                &mut store,
                &mut out,
            )
        };
        check(rc, out, true);
        let admin = session(store, "admin");
        for (user, role) in [("claire", "secretary"), ("doc", "physician"), ("dpo", "auditor")] {
            let pass = format!("{user}: fuzz passphrase");
            let mut out = null_mut();
            // SAFETY: valid strings and buffer; output writable.
            let rc = unsafe {
                mv_user_add(
                    admin,
                    cstr(user).as_ptr(),
                    cstr(&format!("[\"{role}\"]")).as_ptr(),
                    pass.as_ptr(),
                    pass.len(),
                    &mut out,
                )
            };
            check(rc, out, true);
        }
        let (secretary, physician, auditor) = (session(store, "claire"), session(store, "doc"), session(store, "dpo"));
        let identity = r#"{"birth_name": "MARTIN", "first_names": ["Lou"], "birth_date": "1990-01-01", "sex": "U",
            "birth_place_insee": "75056", "identity_status": "PROV"}"#;
        let mut id = null_mut();
        // SAFETY: valid strings; output writable.
        let rc = unsafe { mv_patient_create(physician, cstr(identity).as_ptr(), &mut id) };
        assert_eq!(rc, MV_OK, "fixture: patient");
        // SAFETY: a string this library returned, copied then freed once.
        let patient = unsafe { CStr::from_ptr(id) }.to_owned();
        // SAFETY: freed once.
        unsafe { mv_string_free(id) };
        Fixture { admin, secretary, physician, auditor, patient }
    })
}

/// Calls the entry point chosen by `which` with `input` as its JSON argument (cut at its
/// first NUL; invalid UTF-8 kept), as each role in turn where roles matter.
pub fn call(which: u8, input: &[u8]) {
    let f = fixture();
    let end = input.iter().position(|b| *b == 0).unwrap_or(input.len());
    let Ok(text) = CString::new(&input[..end]) else { return };
    let p = f.patient.as_ptr();
    let sessions = [f.secretary, f.physician, f.auditor];
    let s = sessions[usize::from(which / 8) % sessions.len()];
    let mut out = null_mut();
    // SAFETY: every pointer is a valid NUL-terminated string or a writable output.
    let (rc, json) = unsafe {
        match which % 8 {
            0 => (mv_patient_create(s, text.as_ptr(), &mut out), false),
            1 => (mv_patient_find(s, text.as_ptr(), &mut out), true),
            2 => (mv_write(s, p, cstr("reports").as_ptr(), text.as_ptr(), null(), null(), &mut out), true),
            3 => (mv_write(s, p, cstr("exams").as_ptr(), text.as_ptr(), null(), null(), &mut out), true),
            4 => (
                mv_write(s, p, cstr("identity").as_ptr(), text.as_ptr(), null(), cstr("fuzz").as_ptr(), &mut out),
                true,
            ),
            5 => (mv_audit_query(s, text.as_ptr(), &mut out), true),
            6 => (mv_user_add(f.admin, cstr("fuzzed").as_ptr(), text.as_ptr(), b"x".as_ptr(), 1, &mut out), true),
            _ => (mv_read(s, text.as_ptr(), text.as_ptr(), &mut out), true),
        }
    };
    check(rc, out, json);
}

use std::ptr::null;
