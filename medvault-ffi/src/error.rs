//! Status codes (stable: a code never changes meaning) and the message of the last failure on
//! the calling thread. Messages come from medvault's errors, which never hold plaintext, or
//! name the argument at fault.
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::ffi::CString;

/// Success: the outputs are set.
pub const MV_OK: i32 = 0;
/// A required pointer argument was NULL.
pub const MV_ERR_NULL_POINTER: i32 = 1;
/// A handle that is not (or no longer) open, or of the wrong kind.
pub const MV_ERR_INVALID_HANDLE: i32 = 2;
/// A string argument is not valid UTF-8.
pub const MV_ERR_INVALID_UTF8: i32 = 3;
/// A JSON argument does not parse into its shape (docs/json.md).
pub const MV_ERR_INVALID_JSON: i32 = 4;
/// An argument breaks a documented rule (a malformed id, an unknown section, ...).
pub const MV_ERR_INVALID_INPUT: i32 = 5;
/// Access denied (and audited): no role of the user may do this, or the patient's rules
/// (care team, opposition) forbid it.
pub const MV_ERR_DENIED: i32 = 6;
/// No such patient, entry, user or store.
pub const MV_ERR_NOT_FOUND: i32 = 7;
/// Wrong user name or passphrase, or the account is locked out or revoked.
pub const MV_ERR_AUTHENTICATION: i32 = 8;
/// The storage failed (disk, server); nothing acknowledged is lost.
pub const MV_ERR_STORAGE: i32 = 9;
/// An integrity failure: damaged or tampered data, a ciphertext not where it belongs.
pub const MV_ERR_INTEGRITY: i32 = 10;
/// Another process holds the embedded store (use a server store for several workstations).
pub const MV_ERR_STORE_BUSY: i32 = 11;
/// It exists already (a patient with this INS, a user with this name, an output file).
pub const MV_ERR_ALREADY_EXISTS: i32 = 12;
/// An output file could not be written.
pub const MV_ERR_OUTPUT: i32 = 13;
/// A panic inside the library, caught at the boundary (a bug: please report it).
pub const MV_ERR_PANIC: i32 = 98;
/// Any other failure.
pub const MV_ERR_OTHER: i32 = 99;

/// A failure: its code and its message.
#[derive(Debug)]
pub struct FfiError {
    pub code: i32,
    pub message: String,
}

impl FfiError {
    pub fn new(code: i32, message: impl Into<String>) -> FfiError {
        FfiError { code, message: message.into() }
    }
    pub fn null(argument: &str) -> FfiError {
        FfiError::new(MV_ERR_NULL_POINTER, format!("argument `{argument}` is NULL"))
    }
    pub fn utf8(argument: &str) -> FfiError {
        FfiError::new(MV_ERR_INVALID_UTF8, format!("argument `{argument}` is not valid UTF-8"))
    }
    pub fn handle(kind: &str) -> FfiError {
        FfiError::new(MV_ERR_INVALID_HANDLE, format!("not an open {kind} handle"))
    }
    pub fn input(message: impl Into<String>) -> FfiError {
        FfiError::new(MV_ERR_INVALID_INPUT, message)
    }
}

impl From<medvault::Error> for FfiError {
    fn from(e: medvault::Error) -> FfiError {
        use medvault::Error as E;
        use medvault::model::InvalidInput;
        let code = match &e {
            E::Authentication => MV_ERR_AUTHENTICATION,
            E::Denied(_) | E::KeyPending(_) => MV_ERR_DENIED,
            E::Invalid(InvalidInput::Json { .. }) => MV_ERR_INVALID_JSON,
            E::Invalid(_) | E::Policy(_) => MV_ERR_INVALID_INPUT,
            E::NotFound(_) => MV_ERR_NOT_FOUND,
            E::AlreadyExists(_) => MV_ERR_ALREADY_EXISTS,
            E::Integrity(_) | E::Decrypt => MV_ERR_INTEGRITY,
            E::Storage(medvault::StorageError::StoreBusy { .. }) => MV_ERR_STORE_BUSY,
            E::Storage(_) | E::AuditUnavailable(_) => MV_ERR_STORAGE,
            E::Output(io) if io.kind() == std::io::ErrorKind::AlreadyExists => MV_ERR_ALREADY_EXISTS,
            E::Output(_) => MV_ERR_OUTPUT,
            _ => MV_ERR_OTHER,
        };
        FfiError::new(code, e.to_string())
    }
}

impl From<medvault::model::InvalidInput> for FfiError {
    fn from(e: medvault::model::InvalidInput) -> FfiError {
        medvault::Error::Invalid(e).into()
    }
}

thread_local! {
    static LAST: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Records `e` as the calling thread's last failure and returns its code.
pub fn fail(e: FfiError) -> i32 {
    // A message with an interior NUL (none is made so) is cut there rather than lost.
    let text = e.message.split('\0').next().unwrap_or_default().to_string();
    LAST.with(|l| *l.borrow_mut() = CString::new(text).ok());
    e.code
}

/// Clears the calling thread's last failure (at the start of every call).
pub fn clear() {
    LAST.with(|l| *l.borrow_mut() = None);
}

/// A copy of the calling thread's last failure message.
pub fn last() -> Option<CString> {
    LAST.with(|l| l.borrow().clone())
}
