//! Everything the C client calls back into: the global watcher, one-shot
//! path watchers and async completions, as `extern "C"` trampolines.
//!
//! Rules kept here:
//! - no panic crosses into C: each user callback runs under `catch_unwind`,
//!   a panic is logged (target "zkha") and the handle goes on;
//! - a callback context is freed exactly once: a completion after its single
//!   call; a path watcher after its final call (a node event — the C client
//!   also calls it, without removing it, on every session event); whatever
//!   is still outstanding when an owned handle is closed is settled by
//!   [`Registry::settle`] (completions get `ZCLOSING`, watchers are freed),
//!   since the multithreaded C client may drop queued completions at close;
//! - the thread-local "in a callback" flag lets the handle refuse what would
//!   block the completion thread on itself.

use super::ptr_hash::PtrHash;
use crate::error::{Error, ErrorCode};
use crate::types::{EventType, State, WatchedEvent};
use parking_lot::{Condvar, Mutex};
use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

thread_local! {
    static CALLBACK_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Whether the current thread is inside a zkha callback (the C client's
/// completion thread, or a closing thread settling completions).
pub fn in_callback() -> bool {
    CALLBACK_DEPTH.with(|d| d.get() > 0)
}

/// Marks the current thread as being in a callback while alive. Trampolines
/// hold one for their whole body, not just the user's call: freeing a
/// context drops the user's closure, and with it possibly the last reference
/// to a handle, whose close must then be deferred (see `ZooKeeper::close`).
pub(crate) struct CallbackScope(());

impl CallbackScope {
    pub(crate) fn enter() -> CallbackScope {
        CALLBACK_DEPTH.with(|d| d.set(d.get() + 1));
        CallbackScope(())
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        CALLBACK_DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// Runs a user callback: marks the thread, catches and logs a panic.
pub(crate) fn run_user<R>(what: &str, f: impl FnOnce() -> R) -> Option<R> {
    let scope = CallbackScope::enter();
    let result = catch_unwind(AssertUnwindSafe(f));
    drop(scope);
    match result {
        Ok(r) => Some(r),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            log::error!(target: "zkha", "{what} panicked (caught at the C boundary): {msg}");
            None
        }
    }
}

pub(crate) fn event_from_c(type_: c_int, state: c_int, path: *const c_char) -> WatchedEvent {
    let path = if path.is_null() {
        String::new()
    } else {
        // SAFETY: the C client passes a NUL-terminated path valid during the call.
        unsafe { CStr::from_ptr(path) }
            .to_string_lossy()
            .into_owned()
    };
    WatchedEvent {
        event_type: EventType::from_raw(type_),
        state: State::from_raw(state),
        path,
    }
}

/// Frees (or completes with `ZCLOSING`) one outstanding context.
type Settle = unsafe fn(*mut c_void);

/// Outstanding callback contexts of one owned handle, keyed by address.
/// The hash is `ptr_hash`'s: one multiply instead of SipHash, the same map
/// and the same settle-once protocol (only the bucket order differs).
#[derive(Default)]
pub(crate) struct Registry {
    outstanding: Mutex<HashMap<usize, Settle, PtrHash>>,
}

impl Registry {
    fn insert(&self, ptr: *mut c_void, settle: Settle) {
        self.outstanding.lock().insert(ptr as usize, settle);
    }

    /// Whether `ptr` was outstanding (and is now taken by the caller).
    fn take(&self, ptr: *mut c_void) -> bool {
        self.outstanding.lock().remove(&(ptr as usize)).is_some()
    }

    /// Settles every outstanding context. Only once the C client can no
    /// longer call any of them (after `zookeeper_close` returned).
    pub(crate) fn settle(&self) {
        let all: Vec<(usize, Settle)> = self.outstanding.lock().drain().collect();
        for (ptr, settle) in all {
            // SAFETY: each entry was inserted with the settle function of its
            // own type and removed from the map above, so it runs once.
            unsafe { settle(ptr as *mut c_void) };
        }
    }

    /// Number of outstanding contexts (for tests and leak checks).
    pub(crate) fn len(&self) -> usize {
        self.outstanding.lock().len()
    }
}

// ---------------------------------------------------------------------------
// The global watcher.

/// Session state as last reported to the global watcher, for waiters.
#[derive(Default)]
pub(crate) struct SessionSignal {
    pub state: Mutex<c_int>,
    pub changed: Condvar,
}

/// The context passed to `zookeeper_init`: the user's watcher and the
/// session signal. Owned by the handle, freed after `zookeeper_close`.
pub(crate) struct GlobalContext {
    pub watcher: Option<Box<dyn Fn(WatchedEvent) + Send + Sync>>,
    pub signal: Arc<SessionSignal>,
}

pub(crate) extern "C" fn global_watcher(
    _zh: *mut zk_sys::zhandle_t,
    type_: c_int,
    state: c_int,
    path: *const c_char,
    ctx: *mut c_void,
) {
    let _scope = CallbackScope::enter();
    let _ = catch_unwind(|| {
        if ctx.is_null() {
            return;
        }
        // SAFETY: ctx is the handle's GlobalContext, freed only after
        // zookeeper_close has joined the threads that call this.
        let global = unsafe { &*(ctx as *const GlobalContext) };
        let event = event_from_c(type_, state, path);
        if let Some(watcher) = &global.watcher {
            run_user("the global watcher", || watcher(event));
        }
        if type_ == zk_sys::consts::ZOO_SESSION_EVENT {
            *global.signal.state.lock() = state;
            global.signal.changed.notify_all();
        }
    });
}

// ---------------------------------------------------------------------------
// One-shot path watchers.

pub(crate) type PathWatcher = Box<dyn FnMut(WatchedEvent) + Send>;

pub(crate) struct WatchContext {
    callback: PathWatcher,
    registry: Option<Arc<Registry>>,
}

/// Boxes a path watcher for C; registered so an owned handle frees it at close.
pub(crate) fn new_watch(callback: PathWatcher, registry: Option<&Arc<Registry>>) -> *mut c_void {
    let ptr = Box::into_raw(Box::new(WatchContext {
        callback,
        registry: registry.cloned(),
    })) as *mut c_void;
    if let Some(r) = registry {
        r.insert(ptr, drop_watch);
    }
    ptr
}

/// Frees a watch context that C never registered (its call failed).
pub(crate) fn discard_watch(ptr: *mut c_void) {
    // SAFETY: ptr came from new_watch and C holds no reference to it.
    let ctx = unsafe { &*(ptr as *const WatchContext) };
    if ctx.registry.as_ref().is_none_or(|r| r.take(ptr)) {
        // SAFETY: taken from the registry (or unregistered): freed once here.
        unsafe { drop_watch(ptr) };
    }
}

/// Frees a watch context whose async call completed without registering
/// it (C will never call it), unless close took it first. Unlike
/// `discard_watch` it reads nothing through `ptr` before taking it from the
/// registry: at close, `Registry::settle` may already have freed it.
pub(crate) fn forget_watch(registry: Option<&Arc<Registry>>, ptr: *mut c_void) {
    if registry.is_none_or(|r| r.take(ptr)) {
        // SAFETY: ptr came from new_watch, C never registered it, and it
        // was taken from the registry (or never in one): freed once here.
        unsafe { drop_watch(ptr) };
    }
}

// SAFETY: callers pass a pointer from `new_watch` that C will not use again.
unsafe fn drop_watch(ptr: *mut c_void) {
    // SAFETY: (caller) ptr is a WatchContext from new_watch, freed once.
    drop(unsafe { Box::from_raw(ptr as *mut WatchContext) });
}

pub(crate) extern "C" fn path_watcher(
    _zh: *mut zk_sys::zhandle_t,
    type_: c_int,
    state: c_int,
    path: *const c_char,
    ctx: *mut c_void,
) {
    // Held until the context is freed below: the user's closure may own the
    // last reference to this very handle (then closed by a helper thread,
    // since C has yet to call other watchers of this event, and this thread
    // must be joined first).
    let _scope = CallbackScope::enter();
    let _ = catch_unwind(|| {
        if ctx.is_null() {
            return;
        }
        let event = event_from_c(type_, state, path);
        // A node event (or NOTWATCHING) removes the watch from the C client's
        // tables: this is its last call. Session events leave it in place.
        let last = type_ != zk_sys::consts::ZOO_SESSION_EVENT;
        {
            // SAFETY: ctx is a live WatchContext: freed only below on its last
            // call, or at close after the C threads are joined.
            let watch = unsafe { &mut *(ctx as *mut WatchContext) };
            run_user("a path watcher", || (watch.callback)(event));
        }
        if last {
            discard_watch(ctx);
        }
    });
}

// ---------------------------------------------------------------------------
// Async completions.

/// Buffers a call keeps until its completion (multi results, which C
/// writes at completion time).
pub(crate) struct Keep {
    pub data: Box<dyn std::any::Any + Send>,
    /// The error for a call settled at close (instead of plain `ZCLOSING`),
    /// made from `data` once C can no longer write into it.
    pub closing: fn(&(dyn std::any::Any + Send)) -> Error,
}

pub(crate) struct CompletionContext<T> {
    callback: Box<dyn FnOnce(Result<T, Error>) + Send>,
    registry: Option<Arc<Registry>>,
    pub keep: Option<Keep>,
}

pub(crate) fn new_completion<T: 'static>(
    callback: Box<dyn FnOnce(Result<T, Error>) + Send>,
    registry: Option<&Arc<Registry>>,
    keep: Option<Keep>,
) -> *mut c_void {
    let ptr = Box::into_raw(Box::new(CompletionContext {
        callback,
        registry: registry.cloned(),
        keep,
    })) as *mut c_void;
    if let Some(r) = registry {
        r.insert(ptr, settle_completion::<T>);
    }
    ptr
}

// SAFETY: callers pass a `new_completion::<T>` pointer C can no longer call.
unsafe fn settle_completion<T>(ptr: *mut c_void) {
    let _scope = CallbackScope::enter();
    // SAFETY: (caller) ptr is a CompletionContext<T>, taken from the registry.
    let ctx = unsafe { Box::from_raw(ptr as *mut CompletionContext<T>) };
    let error = ctx
        .keep
        .as_ref()
        .map_or(Error::Zk(ErrorCode::Closing), |k| (k.closing)(&*k.data));
    let callback = ctx.callback;
    run_user("an async completion", || callback(Err(error)));
}

/// Takes ownership of a completion context on its one call from C; `None`
/// if it was already settled.
///
/// # Safety
/// `ptr` must come from `new_completion::<T>` and be called back by C once.
pub(crate) unsafe fn take_completion<T>(ptr: *const c_void) -> Option<Box<CompletionContext<T>>> {
    let ptr = ptr as *mut c_void;
    // SAFETY: (caller) ptr is a live CompletionContext<T>.
    let registry = unsafe { &(*(ptr as *const CompletionContext<T>)).registry };
    if registry.as_ref().is_none_or(|r| r.take(ptr)) {
        // SAFETY: taken from the registry, so owned here alone.
        Some(unsafe { Box::from_raw(ptr as *mut CompletionContext<T>) })
    } else {
        None
    }
}

/// Completes with `result` (on the C completion thread).
#[allow(clippy::boxed_local)] // the box C held, freed here
pub(crate) fn complete<T>(ctx: Box<CompletionContext<T>>, result: Result<T, Error>) {
    // Held while the context (and the user's closure) is dropped too.
    let _scope = CallbackScope::enter();
    let callback = ctx.callback;
    run_user("an async completion", || callback(result));
}

/// Frees a completion context that C never took (the call failed at once).
pub(crate) fn discard_completion<T>(ptr: *mut c_void) {
    // SAFETY: ptr came from new_completion::<T>; C holds no reference to it.
    if let Some(ctx) = unsafe { take_completion::<T>(ptr) } {
        drop(ctx);
    }
}
