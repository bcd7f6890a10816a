//! The calls made with a session: users, patients, sections, care team, opposition,
//! break-glass, exports, audit. Each is authorized and audited as the same call in Rust.

use crate::abi::{guard, optional_text, out_ok, put, put_string, secret, text};
use crate::error::FfiError;
use crate::{MvSession, ops};
use std::ffi::c_char;

/// Runs `f` and writes its text result to `out` (checked first).
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn returning(out: *mut *mut c_char, f: impl FnOnce() -> Result<String, FfiError>) -> i32 {
    guard(|| {
        out_ok(out, "out_json")?;
        let s = f()?;
        // SAFETY: checked not NULL; writable by the caller's guarantee.
        unsafe { put_string(out, s) }
    })
}

/// Adds a user with the roles of `roles_json` (an array of role names) and an initial
/// passphrase. `*out_json`: `{"user": ID, "created": [...], "pending": [...]}` (`pending`:
/// keys a holder delivers at their next unlock).
///
/// # Safety
/// Strings are NUL-terminated and valid during the call; `passphrase` points to
/// `passphrase_len` bytes; `out_json` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mv_user_add(
    session: MvSession,
    name: *const c_char,
    roles_json: *const c_char,
    passphrase: *const u8,
    passphrase_len: usize,
    out_json: *mut *mut c_char,
) -> i32 {
    // SAFETY: the caller's guarantees on every pointer argument.
    unsafe {
        returning(out_json, || {
            let (name, roles, pass) = (
                text(name, "name")?,
                text(roles_json, "roles_json")?,
                secret(passphrase, passphrase_len, "passphrase")?,
            );
            ops::user_add(session, name, roles, &pass)
        })
    }
}

/// Creates a patient from an identity (docs/json.md); `*out_id` is the new patient's id.
///
/// # Safety
/// `identity_json` is NUL-terminated and valid during the call; `out_id` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mv_patient_create(
    session: MvSession,
    identity_json: *const c_char,
    out_id: *mut *mut c_char,
) -> i32 {
    // SAFETY: the caller's guarantees.
    unsafe { returning(out_id, || ops::patient_create(session, text(identity_json, "identity_json")?)) }
}

/// Finds patients: `{"ins": "..."}` or `{"birth_name": "...", "birth_date": "YYYY-MM-DD"}`.
/// `*out_json`: `{"patients": [ID, ...]}`.
///
/// # Safety
/// `query_json` is NUL-terminated and valid during the call; `out_json` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mv_patient_find(
    session: MvSession,
    query_json: *const c_char,
    out_json: *mut *mut c_char,
) -> i32 {
    // SAFETY: the caller's guarantees.
    unsafe { returning(out_json, || ops::patient_find(session, text(query_json, "query_json")?)) }
}

/// Reads a section (`identity`, `reports`, `exams`) of a patient: every revision, oldest first,
/// as `medvault read --json` prints it. The read is audited before anything is returned; a
/// denied read returns `MV_ERR_DENIED` and no data.
///
/// # Safety
/// Strings are NUL-terminated and valid during the call; `out_json` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mv_read(
    session: MvSession,
    patient: *const c_char,
    section: *const c_char,
    out_json: *mut *mut c_char,
) -> i32 {
    // SAFETY: the caller's guarantees.
    unsafe { returning(out_json, || ops::read(session, text(patient, "patient")?, text(section, "section")?)) }
}

/// Writes to a section: a new report or exam (`entry` NULL), a corrected revision of `entry`
/// (with `reason`), or a new identity revision (`reason` required). `*out_json`:
/// `{"entry_id": ID or null, "revision": N}`.
///
/// # Safety
/// Strings are NUL-terminated and valid during the call (`entry` and `reason` may be NULL);
/// `out_json` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mv_write(
    session: MvSession,
    patient: *const c_char,
    section: *const c_char,
    content_json: *const c_char,
    entry: *const c_char,
    reason: *const c_char,
    out_json: *mut *mut c_char,
) -> i32 {
    // SAFETY: the caller's guarantees.
    unsafe {
        returning(out_json, || {
            ops::write(
                session,
                text(patient, "patient")?,
                text(section, "section")?,
                text(content_json, "content_json")?,
                optional_text(entry, "entry")?,
                optional_text(reason, "reason")?,
            )
        })
    }
}

/// Adds (`remove` 0) or removes (`remove` 1) a care-team member: a user name, or `role:NAME`.
///
/// # Safety
/// Strings are NUL-terminated and valid during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mv_care_team(
    session: MvSession,
    patient: *const c_char,
    member: *const c_char,
    remove: i32,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's guarantees.
        let (patient, member) = unsafe { (text(patient, "patient")?, text(member, "member")?) };
        ops::care_team(session, patient, member, remove != 0)
    })
}

/// A patient's care team: `{"care_team": ["dr_martin", "role:nurse", ...]}`.
///
/// # Safety
/// `patient` is NUL-terminated and valid during the call; `out_json` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mv_care_team_list(
    session: MvSession,
    patient: *const c_char,
    out_json: *mut *mut c_char,
) -> i32 {
    // SAFETY: the caller's guarantees.
    unsafe { returning(out_json, || ops::care_team_list(session, text(patient, "patient")?)) }
}

/// Records (`withdraw` 0) or withdraws (`withdraw` 1) a patient's opposition to one user.
///
/// # Safety
/// Strings are NUL-terminated and valid during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mv_opposition(
    session: MvSession,
    patient: *const c_char,
    user: *const c_char,
    withdraw: i32,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's guarantees.
        let (patient, user) = unsafe { (text(patient, "patient")?, text(user, "user")?) };
        ops::opposition(session, patient, user, withdraw != 0)
    })
}

/// Opens emergency access to a patient for `hours` (0: the default, 4), with a justification
/// sealed to its author and the auditors. `*out_json`: `{"break_glass": SEQ}`.
///
/// # Safety
/// Strings are NUL-terminated and valid during the call; `out_json` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mv_break_glass(
    session: MvSession,
    patient: *const c_char,
    justification: *const c_char,
    hours: u32,
    out_json: *mut *mut c_char,
) -> i32 {
    // SAFETY: the caller's guarantees.
    unsafe {
        returning(out_json, || {
            ops::break_glass(session, text(patient, "patient")?, text(justification, "justification")?, hours)
        })
    }
}

/// A patient's copy with its access history (`format`: `fhir`, `json`, `html`), audited as an
/// export. To a new file at `path` (readable by its owner only; an existing file is never
/// replaced) when `path` is not NULL, else into `*out_buf` / `*out_len`, freed with
/// `mv_buffer_free(buf, len)` (`out_buf` and `out_len` may be NULL with a path).
///
/// # Safety
/// Strings are NUL-terminated and valid during the call; without a path, `out_buf` and
/// `out_len` are writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mv_export_patient(
    session: MvSession,
    patient: *const c_char,
    format: *const c_char,
    path: *const c_char,
    out_buf: *mut *mut u8,
    out_len: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's guarantees.
        let (patient, format, path) =
            unsafe { (text(patient, "patient")?, text(format, "format")?, optional_text(path, "path")?) };
        if let Some(path) = path {
            return ops::export_patient_to(session, patient, format, path);
        }
        out_ok(out_buf, "out_buf")?;
        out_ok(out_len, "out_len")?;
        let bytes = ops::export_patient(session, patient, format)?.into_boxed_slice();
        let len = bytes.len();
        let ptr = Box::into_raw(bytes).cast::<u8>();
        // SAFETY: both checked not NULL; writable by the caller's guarantee. The buffer is
        // freed by `mv_buffer_free(ptr, len)`.
        unsafe {
            put(out_buf, ptr);
            put(out_len, len);
        }
        Ok(())
    })
}

/// Audit events, newest first. `query_json` may be NULL (the latest 100) or an object of
/// optional fields: `patient`, `section`, `user`, `action`, `outcome`, `since`, `until`
/// (RFC 3339), `before_seq`, `limit`. `*out_json`: an array of events (docs/json.md).
///
/// # Safety
/// `query_json` is NULL or NUL-terminated and valid during the call; `out_json` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mv_audit_query(
    session: MvSession,
    query_json: *const c_char,
    out_json: *mut *mut c_char,
) -> i32 {
    // SAFETY: the caller's guarantees.
    unsafe { returning(out_json, || ops::audit_query(session, optional_text(query_json, "query_json")?)) }
}

/// Verifies the audit log and every record against it. `MV_OK` means the check ran:
/// `*out_json` is `{"ok": true|false, "report": {...}}`, `report.problems` naming what failed.
///
/// # Safety
/// `out_json` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mv_audit_verify(session: MvSession, out_json: *mut *mut c_char) -> i32 {
    // SAFETY: the caller's guarantee.
    unsafe { returning(out_json, || ops::audit_verify(session)) }
}
