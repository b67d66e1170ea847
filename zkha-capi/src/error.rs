//! Error codes, the per-thread message, and the guard every `extern "C"`
//! function runs its body in (no panic crosses the boundary).

use std::cell::RefCell;
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int};
use std::panic::{catch_unwind, AssertUnwindSafe};
use zkha::error::Argument;

/// Success.
pub const ZKHA_OK: c_int = 0;
/// A required pointer argument was NULL (the message names it).
pub const ZKHA_ERR_NULL: c_int = -1001;
/// A string argument was not valid UTF-8 (the message names it).
pub const ZKHA_ERR_UTF8: c_int = -1002;
/// The hosts (connect) string is empty or malformed.
pub const ZKHA_ERR_HOSTS: c_int = -1003;
/// The master path is not an absolute ZooKeeper path ("/a/b"), or is "/".
pub const ZKHA_ERR_PATH: c_int = -1004;
/// A timeout or interval is out of range (e.g. zero).
pub const ZKHA_ERR_BAD_TIMEOUT: c_int = -1005;
/// The node data is too large.
pub const ZKHA_ERR_DATA: c_int = -1006;
/// Authentication or ACL settings (digest, TLS files, SASL credentials)
/// were refused; the message never holds a secret.
pub const ZKHA_ERR_AUTH: c_int = -1007;
/// Another argument was refused (an unknown profile, mode, a name, a
/// priority, a combination the profile rules out): the message says which.
pub const ZKHA_ERR_INVALID: c_int = -1008;
/// Not master now (`zkha_elector_token`, `zkha_elector_lease_remaining_ms`).
pub const ZKHA_ERR_NOT_MASTER: c_int = -1010;
/// The elector has stopped (`zkha_elector_stop`, the session it was given
/// expired, or its candidacy failed: the message says why); it will not
/// become master again.
pub const ZKHA_ERR_STOPPED: c_int = -1011;
/// The ZooKeeper handle is closed.
pub const ZKHA_ERR_CLOSED: c_int = -1012;
/// The ensemble stayed unreachable longer than the elector waits for it.
pub const ZKHA_ERR_TIMEOUT: c_int = -1013;
/// No TLS session could be established (handshake, certificates).
pub const ZKHA_ERR_TLS: c_int = -1014;
/// SASL authentication failed.
pub const ZKHA_ERR_SASL: c_int = -1015;
/// The C client could not make a handle, or a thread could not be started.
pub const ZKHA_ERR_INIT: c_int = -1016;
/// The call is not allowed from this elector's own callback (e.g.
/// `zkha_elector_free`, which waits for the callback's thread).
pub const ZKHA_ERR_IN_CALLBACK: c_int = -1017;
/// zkha panicked inside the call (a bug: please report it with the
/// message). The call did nothing more; the handles stay usable or
/// freeable.
pub const ZKHA_ERR_PANIC: c_int = -1018;
/// Any other failure (the message says what).
pub const ZKHA_ERR_OTHER: c_int = -1099;

/// A failure on its way to C: the code and the message.
pub(crate) struct Failure {
    pub code: c_int,
    pub message: String,
}

impl Failure {
    pub(crate) fn new(code: c_int, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl From<zkha::Error> for Failure {
    fn from(e: zkha::Error) -> Failure {
        Failure::new(code_of(&e), e.to_string())
    }
}

/// The C code for a zkha error: the C client's own code (ZNONODE, …) for
/// ZooKeeper errors, a `ZKHA_ERR_*` code for the rest.
pub(crate) fn code_of(e: &zkha::Error) -> c_int {
    use zkha::Error as E;
    if let Some(code) = e.code() {
        return code.raw();
    }
    match e {
        E::InvalidArgument { argument, .. } => match argument {
            Argument::Hosts => ZKHA_ERR_HOSTS,
            Argument::Path => ZKHA_ERR_PATH,
            Argument::Timeout => ZKHA_ERR_BAD_TIMEOUT,
            Argument::Data => ZKHA_ERR_DATA,
            Argument::Acl | Argument::Auth => ZKHA_ERR_AUTH,
            _ => ZKHA_ERR_INVALID,
        },
        E::Init(_) | E::Thread(_) => ZKHA_ERR_INIT,
        E::Closed => ZKHA_ERR_CLOSED,
        E::Stopped => ZKHA_ERR_STOPPED,
        E::NotMaster { .. } => ZKHA_ERR_NOT_MASTER,
        E::Timeout(_) => ZKHA_ERR_TIMEOUT,
        E::Tls(_) => ZKHA_ERR_TLS,
        E::SaslAuth(_) => ZKHA_ERR_SASL,
        _ => ZKHA_ERR_OTHER,
    }
}

thread_local! {
    /// The message of the last failing call on this thread.
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

fn set_last_error(message: &str) {
    // A NUL inside a message (from a value echoed in it) would cut it
    // short in C: shown as U+FFFD instead.
    let text = CString::new(message.replace('\0', "\u{fffd}")).unwrap_or_default();
    LAST_ERROR.with(|last| *last.borrow_mut() = Some(text));
}

/// Runs an `extern "C"` function's body: its `Ok` value is returned as is
/// (`ZKHA_OK`, or a non-negative answer); a failure sets this thread's
/// message and returns its code; a panic is caught and becomes
/// `ZKHA_ERR_PANIC`, naming the function.
pub(crate) fn guard(
    function: &'static str,
    body: impl FnOnce() -> Result<c_int, Failure>,
) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(failure)) => {
            set_last_error(&format!("{function}: {}", failure.message));
            failure.code
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_owned());
            set_last_error(&format!("{function}: zkha panicked (a bug): {what}"));
            ZKHA_ERR_PANIC
        }
    }
}

/// A required string argument: NULL and bad UTF-8 are typed errors.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn c_str<'a>(p: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if p.is_null() {
        return Err(Failure::new(ZKHA_ERR_NULL, format!("{what} is NULL")));
    }
    // SAFETY: not NULL, and NUL-terminated by the caller's contract.
    let text = unsafe { CStr::from_ptr(p) };
    text.to_str()
        .map_err(|e| Failure::new(ZKHA_ERR_UTF8, format!("{what} is not UTF-8 ({e})")))
}

/// An optional string argument: NULL is `None`.
///
/// # Safety
/// As [`c_str`].
pub(crate) unsafe fn opt_c_str<'a>(
    p: *const c_char,
    what: &str,
) -> Result<Option<&'a str>, Failure> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: the caller's contract, passed on.
        unsafe { c_str(p, what) }.map(Some)
    }
}

/// A required out-pointer.
pub(crate) fn out_ptr<T>(p: *mut T, what: &str) -> Result<*mut T, Failure> {
    if p.is_null() {
        Err(Failure::new(ZKHA_ERR_NULL, format!("{what} is NULL")))
    } else {
        Ok(p)
    }
}

/// Copies the message of the last failing zkha call on this thread into
/// `buf` (at most `len - 1` bytes and a terminating NUL, cut if longer)
/// and returns the message's full length in bytes, without the NUL, as
/// `snprintf` does: a return value `>= len` means it was cut. Returns 0
/// (and writes an empty string if `len > 0`) when no zkha call failed on
/// this thread yet. `buf` may be NULL when `len` is 0, to learn the
/// length. The message stays until the next failing call on this thread;
/// successful calls leave it. Never fails.
///
/// # Safety
/// `buf` must point to at least `len` writable bytes (or `len` be 0).
#[no_mangle]
pub unsafe extern "C" fn zkha_last_error_message(buf: *mut c_char, len: usize) -> usize {
    let copy = || {
        LAST_ERROR.with(|last| {
            let last = last.borrow();
            let bytes = last.as_ref().map_or(&b""[..], |m| m.as_bytes());
            if !buf.is_null() && len > 0 {
                let n = bytes.len().min(len - 1);
                // SAFETY: the caller gives `len` writable bytes at `buf`; we
                // write `n + 1 <= len` of them, from a buffer that cannot
                // overlap it (ours).
                unsafe {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), n);
                    *buf.add(n) = 0;
                }
            }
            bytes.len()
        })
    };
    catch_unwind(copy).unwrap_or(0)
}

/// A static description of an error code: a `ZKHA_ERR_*` code's meaning,
/// or the C client's own text (`zerror`) for its codes. Never NULL, never
/// freed.
#[no_mangle]
pub extern "C" fn zkha_strerror(code: c_int) -> *const c_char {
    let text: &'static CStr = match code {
        ZKHA_OK => c"ok",
        ZKHA_ERR_NULL => c"a required pointer was NULL",
        ZKHA_ERR_UTF8 => c"a string was not UTF-8",
        ZKHA_ERR_HOSTS => c"bad hosts string",
        ZKHA_ERR_PATH => c"bad path",
        ZKHA_ERR_BAD_TIMEOUT => c"bad timeout or interval",
        ZKHA_ERR_DATA => c"bad node data",
        ZKHA_ERR_AUTH => c"authentication, ACL, TLS or SASL settings refused",
        ZKHA_ERR_INVALID => c"invalid argument",
        ZKHA_ERR_NOT_MASTER => c"not master",
        ZKHA_ERR_STOPPED => c"the elector is stopped",
        ZKHA_ERR_CLOSED => c"the ZooKeeper handle is closed",
        ZKHA_ERR_TIMEOUT => c"the ensemble stayed unreachable",
        ZKHA_ERR_TLS => c"TLS connection failed",
        ZKHA_ERR_SASL => c"SASL authentication failed",
        ZKHA_ERR_INIT => c"cannot make a handle or start a thread",
        ZKHA_ERR_IN_CALLBACK => c"not allowed from this elector's callback",
        ZKHA_ERR_PANIC => c"zkha panicked (a bug)",
        ZKHA_ERR_OTHER => c"error",
        // SAFETY: zerror returns a pointer to a static NUL-terminated
        // string for any int ("unknown error" for codes it does not know).
        zk => return unsafe { zkha::zk_sys::zerror(zk) },
    };
    text.as_ptr()
}

/// Test hook (not in the header): runs `guard` around a panic, so the
/// tests can see that a panic comes back as `ZKHA_ERR_PANIC` with a
/// message, and that the process goes on.
#[no_mangle]
pub extern "C" fn zkha__panic_for_tests() -> c_int {
    guard("zkha__panic_for_tests", || panic!("the test hook's panic"))
}
