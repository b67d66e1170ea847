//! The per-thread buffer the blocking reads (`zoo_get`, `zoo_getconfig`)
//! hand to C: allocated once per thread, never zeroed, copied out after the
//! call.

use std::cell::RefCell;
use std::os::raw::{c_char, c_int};

thread_local! {
    /// Buffer for synchronous reads: 1 MiB of capacity, allocated once per
    /// thread and never zeroed (only bytes C writes are read).
    static READ_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a buffer of at least `len` writable bytes.
pub(in crate::client) fn with_read_buffer<R>(
    len: usize,
    f: impl FnOnce(*mut c_char, c_int) -> R,
) -> R {
    READ_BUFFER.with(|b| {
        let mut b = b.borrow_mut();
        if b.capacity() < len {
            let used = b.len();
            b.reserve_exact(len - used);
        }
        f(b.as_mut_ptr() as *mut c_char, len as c_int)
    })
}

/// Reads `len` bytes C wrote at the start of the thread's read buffer.
pub(in crate::client) fn copy_read_buffer(len: c_int) -> Vec<u8> {
    if len <= 0 {
        return Vec::new();
    }
    // SAFETY: C wrote `len` bytes (no more than the buffer's capacity) at the
    // start of the buffer during the call that just returned.
    READ_BUFFER
        .with(|b| unsafe { std::slice::from_raw_parts(b.borrow().as_ptr(), len as usize).to_vec() })
}

/// The first read's size: the largest value a default server accepts, and
/// room for more.
pub(in crate::client) const DEFAULT_READ: usize = crate::validate::MAX_DATA_LEN + 1024;
