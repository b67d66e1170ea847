//! The raw handle's lifecycle: [`ZooKeeper`] owns (or borrows) a C
//! `zhandle_t` and is the only caller of `zookeeper_init*`/`zookeeper_close`.
//!
//! Every call on the handle takes the read side of the handle lock through
//! `ZooKeeper::handle`; `close` takes the write side, swaps the pointer out
//! and calls `zookeeper_close` once, after which the callback contexts C can
//! no longer reach are freed. Called on the C completion thread (which
//! `zookeeper_close` joins), the close is handed to a helper thread.
//! Raw access for C/C++ code sharing the session: `as_raw`, `from_raw`,
//! `borrow_raw`.

use super::callback::{self, GlobalContext, Registry, SessionSignal};
use crate::error::{check, Argument, Error, Result};
use crate::types::{ClientId, WatchedEvent};
use parking_lot::{RwLock, RwLockReadGuard};
use std::ffi::CStr;
use std::os::raw::{c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The C handle pointer; null once closed.
pub(crate) struct RawHandle(pub(crate) *mut zk_sys::zhandle_t);
// SAFETY: the multithreaded C client's handle is usable from any thread; the
// pointer is only dereferenced by C while the RwLock guards against close.
unsafe impl Send for RawHandle {}
// SAFETY: as above.
unsafe impl Sync for RawHandle {}

/// The global watcher's context, freed by the closer.
struct GlobalPtr(*mut GlobalContext);
// SAFETY: the context is only freed by the closer, after the C threads end.
unsafe impl Send for GlobalPtr {}
// SAFETY: as above; GlobalContext's contents are Send + Sync.
unsafe impl Sync for GlobalPtr {}

/// The state behind one session handle, shared by every clone of the
/// `Arc` (the handle, and closures that must close it from a callback).
pub(crate) struct HandleState {
    /// The C handle; read-locked by every call, write-locked by the close.
    pub(in crate::client) zh: RwLock<RawHandle>,
    /// Set once by `close` (or drop): later calls fail with `Closed`.
    closing: AtomicBool,
    /// Whether this handle closes its `zhandle_t` (false for `borrow_raw`).
    owned: bool,
    /// The global watcher's context (null for a handle made by C).
    global: parking_lot::Mutex<GlobalPtr>,
    /// Callback contexts still held by C, freed at close.
    pub(in crate::client) registry: Option<Arc<Registry>>,
    /// Session state changes, for `wait_connected` (None for a handle made by C).
    pub(in crate::client) signal: Option<Arc<SessionSignal>>,
    /// A SASL session's callbacks and password, which C references until
    /// `zookeeper_close`; dropped (password zeroed) with this state.
    #[cfg(zk_sasl)]
    _sasl: Option<Box<super::sasl::SaslKeep>>,
}

impl HandleState {
    /// Closes the C handle (waiting for in-flight synchronous calls), then
    /// frees the contexts C can no longer reach.
    fn finish_close(&self) -> Result<()> {
        let mut zh = self.zh.write();
        let raw = std::mem::replace(&mut zh.0, std::ptr::null_mut());
        if raw.is_null() {
            return Err(Error::Closed);
        }
        // SAFETY: raw is a live handle, closed exactly once (the pointer was
        // swapped out under the write lock), not from a C callback thread.
        let rc = unsafe { zk_sys::zookeeper_close(raw) };
        drop(zh);
        if let Some(registry) = &self.registry {
            registry.settle();
        }
        let global = std::mem::replace(&mut self.global.lock().0, std::ptr::null_mut());
        if !global.is_null() {
            // SAFETY: created by Box::into_raw at init; the C threads that
            // could call the global watcher are joined by zookeeper_close.
            drop(unsafe { Box::from_raw(global) });
        }
        check(rc)
    }
}

/// A ZooKeeper session handle (the C client's `zhandle_t`), `Send + Sync`.
///
/// Like C, [`ZooKeeper::init`] returns at once: the connection is made in
/// the background and announced to the watcher by a SESSION event with state
/// CONNECTED ([`ZooKeeper::wait_connected`] waits for it). Dropping the handle
/// closes the session; a handle that did not create its `zhandle_t` (see
/// [`ZooKeeper::borrow_raw`]) never closes it.
pub struct ZooKeeper {
    pub(in crate::client) inner: Arc<HandleState>,
}

/// The arguments of `zookeeper_init2`, checked by the builder.
pub(in crate::client) struct InitArgs<'a> {
    pub(in crate::client) hosts: &'a CStr,
    pub(in crate::client) watcher: Option<Box<dyn Fn(WatchedEvent) + Send + Sync>>,
    pub(in crate::client) recv_timeout_ms: c_int,
    pub(in crate::client) client_id: Option<ClientId>,
    pub(in crate::client) flags: c_int,
    pub(in crate::client) log_to_rust: bool,
    /// TLS or SASL (checked by the builder), or plaintext. Only read when
    /// the C client has TLS or SASL (cfg `zk_tls`, `zk_sasl`, set by
    /// build.rs; the check refuses it otherwise).
    #[cfg_attr(not(any(zk_tls, zk_sasl)), allow(dead_code))]
    pub(in crate::client) security: &'a super::secure::Security,
}

impl ZooKeeper {
    /// `zookeeper_init2` with checked arguments: the only place a handle is
    /// created. An OS failure (C's NULL return) is [`Error::Init`] with `errno`.
    pub(in crate::client) fn open(args: InitArgs<'_>) -> Result<ZooKeeper> {
        let signal = Arc::new(SessionSignal::default());
        let global = Box::into_raw(Box::new(GlobalContext {
            watcher: args.watcher,
            signal: signal.clone(),
        }));
        let raw_id = args.client_id.map(ClientId::to_raw);
        let id_ptr = raw_id.as_ref().map_or(std::ptr::null(), |r| r as *const _);
        let log_cb: zk_sys::log_callback_fn = if args.log_to_rust {
            Some(crate::logging::log_bridge)
        } else {
            None
        };
        #[cfg(zk_sasl)]
        let sasl = match &args.security.sasl {
            Some(creds) => Some(super::sasl::SaslKeep::new(creds).inspect_err(|_| {
                // SAFETY: C never saw the context.
                drop(unsafe { Box::from_raw(global) });
            })?),
            None => None,
        };
        #[cfg(zk_tls)]
        let tls = match &args.security.tls {
            Some(files) => Some(super::secure::tls_cert_arg(files).inspect_err(|_| {
                // SAFETY: C never saw the context.
                drop(unsafe { Box::from_raw(global) });
            })?),
            None => None,
        };
        #[allow(unused_mut)]
        let mut zh = std::ptr::null_mut();
        #[allow(unused_mut)]
        let mut done = false;
        #[cfg(zk_tls)]
        if let Some(cert) = &tls {
            // SAFETY: valid C strings (C copies the certificate argument);
            // the watcher context outlives the handle; the clientid is copied.
            zh = unsafe {
                zk_sys::zookeeper_init_ssl(
                    args.hosts.as_ptr(),
                    cert.as_ptr(),
                    Some(callback::global_watcher),
                    args.recv_timeout_ms,
                    id_ptr,
                    global as *mut c_void,
                    args.flags,
                )
            };
            if !zh.is_null() && log_cb.is_some() {
                // zookeeper_init_ssl takes no log callback: set it at once.
                // SAFETY: live handle; the bridge is a plain function.
                unsafe { zk_sys::zoo_set_log_callback(zh, log_cb) };
            }
            done = true;
        }
        #[cfg(zk_sasl)]
        if let Some(keep) = &sasl {
            let mut params = keep.params();
            // SAFETY: valid C strings (copied by C); `params.callbacks` and
            // their context live in `keep`, kept by the handle state until
            // after zookeeper_close; the watcher context likewise.
            zh = unsafe {
                zk_sys::zookeeper_init_sasl(
                    args.hosts.as_ptr(),
                    Some(callback::global_watcher),
                    args.recv_timeout_ms,
                    id_ptr,
                    global as *mut c_void,
                    args.flags,
                    log_cb,
                    &mut params,
                )
            };
            done = true;
        }
        if !done {
            // SAFETY: valid C strings; the callback and its context (freed only
            // after zookeeper_close) outlive the handle; the clientid is copied.
            zh = unsafe {
                zk_sys::zookeeper_init2(
                    args.hosts.as_ptr(),
                    Some(callback::global_watcher),
                    args.recv_timeout_ms,
                    id_ptr,
                    global as *mut c_void,
                    args.flags,
                    log_cb,
                )
            };
        }
        if zh.is_null() {
            let err = std::io::Error::last_os_error();
            // SAFETY: C did not keep the context: init failed.
            drop(unsafe { Box::from_raw(global) });
            return Err(Error::Init(err));
        }
        Ok(ZooKeeper {
            inner: Arc::new(HandleState {
                zh: RwLock::new(RawHandle(zh)),
                closing: AtomicBool::new(false),
                owned: true,
                global: parking_lot::Mutex::new(GlobalPtr(global)),
                registry: Some(Arc::new(Registry::default())),
                signal: Some(signal),
                #[cfg(zk_sasl)]
                _sasl: sasl,
            }),
        })
    }

    /// Takes ownership of a handle made by C/C++ code: closed on drop (its C
    /// watcher context stays the C side's to free).
    ///
    /// # Safety
    /// `zh` must be a live handle from `zookeeper_init*` that nobody else
    /// closes or uses after this handle is closed.
    // SAFETY: the caller's contract above; nothing is dereferenced here.
    pub unsafe fn from_raw(zh: *mut zk_sys::zhandle_t) -> ZooKeeper {
        Self::wrap_raw(zh, true)
    }

    /// Uses a handle owned by C/C++ code without taking it over: never
    /// closed by Rust, so a C++ component and Rust code share one session.
    /// Path watchers set through it are freed on their final call (any still
    /// set when the owner closes the handle are not freed).
    ///
    /// # Safety
    /// `zh` must stay live (not closed) as long as the returned value and
    /// any of its pending callbacks exist.
    // SAFETY: the caller's contract above; nothing is dereferenced here.
    pub unsafe fn borrow_raw(zh: *mut zk_sys::zhandle_t) -> ZooKeeper {
        Self::wrap_raw(zh, false)
    }

    fn wrap_raw(zh: *mut zk_sys::zhandle_t, owned: bool) -> ZooKeeper {
        ZooKeeper {
            inner: Arc::new(HandleState {
                zh: RwLock::new(RawHandle(zh)),
                closing: AtomicBool::new(false),
                owned,
                global: parking_lot::Mutex::new(GlobalPtr(std::ptr::null_mut())),
                registry: owned.then(|| Arc::new(Registry::default())),
                signal: None,
                #[cfg(zk_sasl)]
                _sasl: None,
            }),
        }
    }

    /// The raw `zhandle_t*`, for C/C++ code sharing this session. Valid until
    /// this handle is closed; do not close it from C.
    pub fn as_raw(&self) -> *mut zk_sys::zhandle_t {
        self.inner.zh.read().0
    }

    /// The live C handle, guarded against a concurrent close.
    pub(crate) fn handle(&self) -> Result<RwLockReadGuard<'_, RawHandle>> {
        if self.inner.closing.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        // On the completion thread a blocking read could wait on a closer that
        // is itself joining this thread: a failed try means "closing".
        let guard = if callback::in_callback() {
            self.inner.zh.try_read().ok_or(Error::Closed)?
        } else {
            self.inner.zh.read()
        };
        if guard.0.is_null() {
            return Err(Error::Closed);
        }
        Ok(guard)
    }

    /// Where this handle's callback contexts are registered (None when
    /// borrowed: C's owner may close the handle under them).
    pub(crate) fn registry(&self) -> Option<&Arc<Registry>> {
        self.inner.registry.as_ref()
    }

    /// Closes the session (`zookeeper_close`), returning C's result. Never
    /// closes twice: a second call is [`Error::Closed`]. In-flight async calls
    /// complete with [`ErrorCode::Closing`](crate::ErrorCode::Closing).
    /// Called from a callback (the C completion thread, which
    /// `zookeeper_close` must join), the close is
    /// handed to a helper thread and this returns `Ok(())` at once; the same
    /// holds for dropping the last reference there, including a reference
    /// owned by a watcher or completion closure, freed after its last call.
    /// The helper frees the handle's callback contexts only after
    /// `zookeeper_close` has joined the completion thread, so C never calls
    /// a freed context (other watchers of the same event still run).
    pub fn close(&self) -> Result<()> {
        if !self.inner.owned {
            return Err(Error::invalid(
                Argument::Other,
                "a borrowed handle is closed by its C owner",
            ));
        }
        if self.inner.closing.swap(true, Ordering::AcqRel) {
            return Err(Error::Closed);
        }
        if callback::in_callback() {
            let inner = self.inner.clone();
            std::thread::Builder::new()
                .name("zkha-close".into())
                .spawn(move || {
                    if let Err(e) = inner.finish_close() {
                        log::warn!(target: "zkha", "deferred zookeeper_close: {e}");
                    }
                })
                .map_err(Error::Thread)?;
            return Ok(());
        }
        self.inner.finish_close()
    }

    /// Whether `close` was called (or the handle dropped).
    pub fn is_closed(&self) -> bool {
        self.inner.closing.load(Ordering::Acquire)
    }

    /// Callback contexts still held for C (path watchers not yet fired,
    /// completions not yet called): for leak checks.
    pub fn outstanding_callbacks(&self) -> usize {
        self.registry().map_or(0, |r| r.len())
    }
}

/// Closes an owned handle not closed yet. On a callback thread (including
/// the freeing of a watcher or completion closure that owned the last
/// reference) the close is deferred to a helper thread, as in `close`.
impl Drop for ZooKeeper {
    fn drop(&mut self) {
        if self.inner.owned && !self.inner.closing.load(Ordering::Acquire) {
            if let Err(e) = self.close() {
                log::debug!(target: "zkha", "zookeeper_close on drop: {e}");
            }
        }
    }
}

impl std::fmt::Debug for ZooKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZooKeeper")
            .field("zh", &self.inner.zh.try_read().map(|g| g.0))
            .field("owned", &self.inner.owned)
            .field("closed", &self.is_closed())
            .finish()
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<ZooKeeper>();
}
