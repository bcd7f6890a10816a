//! Reading the caller's pointers and writing the outputs, and the guard every entry point runs
//! its body in (errors and panics become status codes).

use crate::error::{self, FfiError, MV_ERR_OTHER, MV_ERR_PANIC, MV_OK};
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use zeroize::Zeroizing;

/// Runs `body`, turning a failure or a panic into a status code and the thread's last error.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), FfiError>) -> i32 {
    error::clear();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => MV_OK,
        Ok(Err(e)) => error::fail(e),
        Err(_) => error::fail(FfiError::new(MV_ERR_PANIC, "internal error (a panic was caught at the boundary)")),
    }
}

/// The text at `ptr`.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid and unchanged during
/// the call.
pub(crate) unsafe fn text<'a>(ptr: *const c_char, argument: &str) -> Result<&'a str, FfiError> {
    if ptr.is_null() {
        return Err(FfiError::null(argument));
    }
    // SAFETY: not NULL, and the caller guarantees a NUL-terminated string valid for the call.
    let c = unsafe { CStr::from_ptr(ptr) };
    c.to_str().map_err(|_| FfiError::utf8(argument))
}

/// The text at `ptr`, or `None` for NULL.
///
/// # Safety
/// As [`text`].
pub(crate) unsafe fn optional_text<'a>(ptr: *const c_char, argument: &str) -> Result<Option<&'a str>, FfiError> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller's guarantee, passed on.
    unsafe { text(ptr, argument) }.map(Some)
}

/// A copy of the `len` bytes at `ptr`, zeroized when dropped.
///
/// # Safety
/// `ptr` is NULL or points to `len` readable bytes valid during the call.
pub(crate) unsafe fn secret(ptr: *const u8, len: usize, argument: &str) -> Result<Zeroizing<Vec<u8>>, FfiError> {
    if ptr.is_null() {
        return Err(FfiError::null(argument));
    }
    // SAFETY: not NULL, and the caller guarantees `len` readable bytes for the call.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    Ok(Zeroizing::new(bytes.to_vec()))
}

/// Checks that an output pointer is not NULL.
pub(crate) fn out_ok<T>(out: *mut T, argument: &str) -> Result<(), FfiError> {
    if out.is_null() { Err(FfiError::null(argument)) } else { Ok(()) }
}

/// Stores `value` at `out`.
///
/// # Safety
/// `out` is not NULL (checked by [`out_ok`] first) and points to writable memory for a `T`.
pub(crate) unsafe fn put<T>(out: *mut T, value: T) {
    // SAFETY: the caller checked `out` and guarantees it is writable.
    unsafe { out.write(value) }
}

/// A string the caller will free with `mv_string_free`.
pub(crate) fn owned(s: String) -> Result<*mut c_char, FfiError> {
    // JSON escapes NUL and ids never hold one: an interior NUL is an internal error.
    CString::new(s).map(CString::into_raw).map_err(|_| FfiError::new(MV_ERR_OTHER, "a result held a NUL byte"))
}

/// Writes `s` to `out` as a string the caller frees with `mv_string_free`.
///
/// # Safety
/// As [`put`]: `out` checked not NULL and writable.
pub(crate) unsafe fn put_string(out: *mut *mut c_char, s: String) -> Result<(), FfiError> {
    let p = owned(s)?;
    // SAFETY: the caller's guarantee, passed on.
    unsafe { put(out, p) };
    Ok(())
}
