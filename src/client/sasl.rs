//! The Cyrus SASL side of a SASL session (feature `sasl`): our callbacks
//! (user, password, realm) and their context, which must outlive the C
//! handle (`zoo_sasl_params_t.callbacks` is only referenced), and the
//! once-per-process `sasl_client_init`.

use super::secure::Sasl;
use crate::error::{Argument, Error, Result};
use std::ffi::CString;
use std::os::raw::{c_char, c_int, c_uint, c_ulong, c_void};
use std::sync::OnceLock;

/// The callbacks array and what they answer, kept by the handle until its
/// `zhandle_t` is closed; the password buffer is zeroed on drop.
pub(crate) struct SaslKeep {
    user: CString,
    /// A `sasl_secret_t` (length, then bytes): u64 words for alignment.
    secret: Vec<u64>,
    callbacks: Vec<zk_sys::sasl_callback_t>,
    /// The `zoo_sasl_params_t` strings (C copies them, but keeping them
    /// costs nothing).
    service: CString,
    host: CString,
    mechanism: CString,
}

// SAFETY: the raw pointers inside `callbacks` point into this same value
// (heap buffers that do not move); C reads them from its I/O thread only
// while the handle lives, and nothing mutates them.
unsafe impl Send for SaslKeep {}
// SAFETY: as above: read-only after construction.
unsafe impl Sync for SaslKeep {}

impl Drop for SaslKeep {
    fn drop(&mut self) {
        for w in self.secret.iter_mut() {
            // SAFETY: a valid, aligned element; volatile so the zeroing of
            // the password stays.
            unsafe { std::ptr::write_volatile(w, 0) };
        }
    }
}

/// `sasl_client_init(NULL)` once per process (Cyrus SASL loads its
/// mechanism plugins there).
fn init_library() -> Result<()> {
    static INIT: OnceLock<c_int> = OnceLock::new();
    // SAFETY: called once (OnceLock), with no callbacks.
    let rc = *INIT.get_or_init(|| unsafe { zk_sys::sasl_client_init(std::ptr::null()) });
    if rc == zk_sys::SASL_OK as c_int {
        Ok(())
    } else {
        Err(Error::SaslAuth(format!(
            "sasl_client_init failed ({rc}): Cyrus SASL or its plugins are missing \
             (Debian: libsasl2-2, libsasl2-modules)"
        )))
    }
}

// The C type of `sasl_callback_t::proc`: each callback above is cast to it
// and called back by Cyrus SASL with its real signature (the C idiom).
type ProcFn = unsafe extern "C" fn() -> c_int;

impl SaslKeep {
    /// Builds the callbacks for `sasl` (checked already by `Security::check`).
    pub(crate) fn new(sasl: &Sasl) -> Result<Box<SaslKeep>> {
        init_library()?;
        let text = |s: &str| {
            CString::new(s).map_err(|_| Error::invalid(Argument::Auth, "SASL text holds a NUL"))
        };
        let pw = sasl.password.expose().as_bytes();
        let header = std::mem::size_of::<c_ulong>();
        let words = (header + pw.len() + 1).div_ceil(8);
        let mut secret = vec![0u64; words];
        // SAFETY: `secret` has room for the length word plus the bytes and a
        // NUL (sasl_secret_t: unsigned long len; unsigned char data[]).
        unsafe {
            let base = secret.as_mut_ptr() as *mut u8;
            (base as *mut c_ulong).write(pw.len() as c_ulong);
            std::ptr::copy_nonoverlapping(pw.as_ptr(), base.add(header), pw.len());
        }
        let mut keep = Box::new(SaslKeep {
            user: text(&sasl.user)?,
            secret,
            callbacks: Vec::new(),
            service: text(&sasl.service)?,
            host: text(&sasl.host)?,
            mechanism: text(&sasl.mechanism)?,
        });
        let ctx = &*keep as *const SaslKeep as *mut c_void;
        let entry = |id: u32, f: ProcFn| zk_sys::sasl_callback_t {
            id: id as c_ulong,
            proc_: Some(f),
            context: ctx,
        };
        // SAFETY (each transmute): Cyrus SASL calls a callback with the
        // signature its id implies; the array stores them as `int (*)(void)`.
        let simple: ProcFn = unsafe {
            std::mem::transmute::<
                unsafe extern "C" fn(*mut c_void, c_int, *mut *const c_char, *mut c_uint) -> c_int,
                ProcFn,
            >(simple_cb)
        };
        // SAFETY: as above.
        let pass: ProcFn = unsafe {
            std::mem::transmute::<
                unsafe extern "C" fn(
                    *mut zk_sys::sasl_conn_t,
                    *mut c_void,
                    c_int,
                    *mut *mut zk_sys::sasl_secret_t,
                ) -> c_int,
                ProcFn,
            >(pass_cb)
        };
        // SAFETY: as above.
        let realm: ProcFn = unsafe {
            std::mem::transmute::<
                unsafe extern "C" fn(
                    *mut c_void,
                    c_int,
                    *mut *const c_char,
                    *mut *const c_char,
                ) -> c_int,
                ProcFn,
            >(realm_cb)
        };
        keep.callbacks = vec![
            entry(zk_sys::SASL_CB_USER, simple),
            entry(zk_sys::SASL_CB_AUTHNAME, simple),
            entry(zk_sys::SASL_CB_PASS, pass),
            entry(zk_sys::SASL_CB_GETREALM, realm),
            zk_sys::sasl_callback_t {
                id: zk_sys::SASL_CB_LIST_END as c_ulong,
                proc_: None,
                context: std::ptr::null_mut(),
            },
        ];
        Ok(keep)
    }

    /// The `zoo_sasl_params_t` for `zookeeper_init_sasl`, pointing into self.
    pub(crate) fn params(&self) -> zk_sys::zoo_sasl_params_t {
        zk_sys::zoo_sasl_params_t {
            service: self.service.as_ptr(),
            host: self.host.as_ptr(),
            mechlist: self.mechanism.as_ptr(),
            callbacks: self.callbacks.as_ptr(),
        }
    }
}

/// SASL_CB_USER / SASL_CB_AUTHNAME: the user name.
// SAFETY: called by Cyrus SASL only, with the `context` we registered (a
// live `SaslKeep`) and its own out-parameters; nulls are refused. Nothing
// in it can panic, so no panic crosses into C.
unsafe extern "C" fn simple_cb(
    context: *mut c_void,
    _id: c_int,
    result: *mut *const c_char,
    len: *mut c_uint,
) -> c_int {
    if context.is_null() || result.is_null() {
        return zk_sys::SASL_BADPARAM;
    }
    // SAFETY: `context` is the SaslKeep the handle keeps alive; `result`
    // (and `len` when not null) are out-parameters Cyrus SASL provides.
    unsafe {
        let keep = &*(context as *const SaslKeep);
        *result = keep.user.as_ptr();
        if !len.is_null() {
            *len = keep.user.as_bytes().len() as c_uint;
        }
    }
    zk_sys::SASL_OK as c_int
}

/// SASL_CB_PASS: the password, as the `sasl_secret_t` in our context.
// SAFETY: as `simple_cb`; the secret handed out lives in the `SaslKeep`,
// which outlives the handle.
unsafe extern "C" fn pass_cb(
    conn: *mut zk_sys::sasl_conn_t,
    context: *mut c_void,
    _id: c_int,
    psecret: *mut *mut zk_sys::sasl_secret_t,
) -> c_int {
    if conn.is_null() || context.is_null() || psecret.is_null() {
        return zk_sys::SASL_BADPARAM;
    }
    // SAFETY: as in `simple_cb`; Cyrus SASL only reads the secret.
    unsafe {
        let keep = &*(context as *const SaslKeep);
        *psecret = keep.secret.as_ptr() as *mut zk_sys::sasl_secret_t;
    }
    zk_sys::SASL_OK as c_int
}

/// SASL_CB_GETREALM: the server's first offered realm (ZooKeeper offers
/// one, `zk-sasl-md5`), or none.
// SAFETY: called by Cyrus SASL only, with its own (possibly null) realm
// list and out-parameter; nothing in it can panic.
unsafe extern "C" fn realm_cb(
    _context: *mut c_void,
    _id: c_int,
    availrealms: *mut *const c_char,
    result: *mut *const c_char,
) -> c_int {
    if result.is_null() {
        return zk_sys::SASL_BADPARAM;
    }
    // SAFETY: Cyrus SASL passes a NULL-terminated array (or NULL) and an
    // out-parameter.
    unsafe {
        *result = if availrealms.is_null() {
            std::ptr::null()
        } else {
            *availrealms
        };
    }
    zk_sys::SASL_OK as c_int
}
