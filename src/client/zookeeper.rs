//! [`ZooKeeper`]: a safe handle over the C client's `zhandle_t`, call for
//! call like the C API (`zookeeper_init`, `zoo_create`, `zoo_wexists`, …).

use crate::client::callback::{self, GlobalContext, Registry, SessionSignal};
use crate::client::raw::{acl_from_c, strings_from_c, CAcl};
use crate::error::{check, Argument, Error, ErrorCode, Result};
use crate::types::{Acl, ClientId, CreateMode, Stat, State, WatchedEvent};
use crate::validate::{c_path, c_text, check_data, check_hosts, check_timeout_ms};
use parking_lot::{RwLock, RwLockReadGuard};
use std::cell::RefCell;
use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// `zookeeper_init` flag: allow connecting to read-only servers.
pub const ZOO_READONLY: i32 = 1;
/// `zookeeper_init` flag: do not log the client environment at init.
pub const ZOO_NO_LOG_CLIENTENV: i32 = 2;

/// Which watches `remove_all_watches` removes (`ZooWatcherType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatcherType {
    /// ZWATCHTYPE_CHILD.
    Children,
    /// ZWATCHTYPE_DATA.
    Data,
    /// ZWATCHTYPE_ANY.
    Any,
}

impl WatcherType {
    fn raw(self) -> zk_sys::ZooWatcherType {
        match self {
            WatcherType::Children => zk_sys::ZWATCHTYPE_CHILD,
            WatcherType::Data => zk_sys::ZWATCHTYPE_DATA,
            WatcherType::Any => zk_sys::ZWATCHTYPE_ANY,
        }
    }
}

pub(crate) struct RawHandle(pub(crate) *mut zk_sys::zhandle_t);
// SAFETY: the multithreaded C client's handle is usable from any thread; the
// pointer is only dereferenced by C while the RwLock guards against close.
unsafe impl Send for RawHandle {}
// SAFETY: as above.
unsafe impl Sync for RawHandle {}

struct GlobalPtr(*mut GlobalContext);
// SAFETY: the context is only freed by the closer, after the C threads end.
unsafe impl Send for GlobalPtr {}
// SAFETY: as above; GlobalContext's contents are Send + Sync.
unsafe impl Sync for GlobalPtr {}

pub(crate) struct Shared {
    pub(crate) zh: RwLock<RawHandle>,
    closing: AtomicBool,
    owned: bool,
    global: parking_lot::Mutex<GlobalPtr>,
    pub(crate) registry: Option<Arc<Registry>>,
    signal: Option<Arc<SessionSignal>>,
}

impl Shared {
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
    shared: Arc<Shared>,
}

/// Options for [`ZooKeeper::builder`]: the arguments of `zookeeper_init2`.
pub struct ZooKeeperBuilder {
    hosts: String,
    recv_timeout_ms: i64,
    client_id: Option<ClientId>,
    watcher: Option<Box<dyn Fn(WatchedEvent) + Send + Sync>>,
    log_to_rust: bool,
    flags: i32,
}

impl ZooKeeperBuilder {
    /// Requested session timeout (default 5000 ms, the seed design's, S1).
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.recv_timeout_ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        self
    }

    /// Requested session timeout in milliseconds (must be positive).
    pub fn session_timeout_ms(mut self, ms: i64) -> Self {
        self.recv_timeout_ms = ms;
        self
    }

    /// Reattach to this session (`clientid` argument).
    pub fn client_id(mut self, id: ClientId) -> Self {
        self.client_id = Some(id);
        self
    }

    /// The global watcher, called on the C completion thread.
    pub fn watcher(mut self, watcher: impl Fn(WatchedEvent) + Send + Sync + 'static) -> Self {
        self.watcher = Some(Box::new(watcher));
        self
    }

    /// Route this handle's C log lines into the `log` crate (target
    /// "zookeeper"), installed at init through `zookeeper_init2` so no line
    /// escapes to the log stream. The level filter stays `set_debug_level`'s.
    pub fn log_to_rust(mut self, on: bool) -> Self {
        self.log_to_rust = on;
        self
    }

    /// `zookeeper_init` flags: 0, [`ZOO_READONLY`], [`ZOO_NO_LOG_CLIENTENV`].
    pub fn flags(mut self, flags: i32) -> Self {
        self.flags = flags;
        self
    }

    /// `zookeeper_init2`: returns at once, before the session is established.
    pub fn init(self) -> Result<ZooKeeper> {
        ZooKeeper::init_inner(self)
    }

    /// `init`, then wait until connected.
    pub fn connect(self, timeout: Duration) -> Result<ZooKeeper> {
        let zk = self.init()?;
        zk.wait_connected(timeout)?;
        Ok(zk)
    }
}

thread_local! {
    /// Buffer for synchronous reads: 1 MiB of capacity, allocated once per
    /// thread and never zeroed (only bytes C writes are read).
    static READ_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a buffer of at least `len` writable bytes.
fn with_read_buffer<R>(len: usize, f: impl FnOnce(*mut c_char, c_int) -> R) -> R {
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
fn copy_read_buffer(len: c_int) -> Vec<u8> {
    if len <= 0 {
        return Vec::new();
    }
    // SAFETY: C wrote `len` bytes (no more than the buffer's capacity) at the
    // start of the buffer during the call that just returned.
    READ_BUFFER
        .with(|b| unsafe { std::slice::from_raw_parts(b.borrow().as_ptr(), len as usize).to_vec() })
}

const DEFAULT_READ: usize = crate::validate::MAX_DATA_LEN + 1024;

impl ZooKeeper {
    /// Options for a new handle, starting from the seed design's values.
    pub fn builder(hosts: &str) -> ZooKeeperBuilder {
        ZooKeeperBuilder {
            hosts: hosts.to_owned(),
            recv_timeout_ms: 5000,
            client_id: None,
            watcher: None,
            log_to_rust: false,
            flags: 0,
        }
    }

    /// `zookeeper_init(hosts, watcher, recv_timeout, clientid, context, flags)`,
    /// returning at once like C. The watcher gets every event of the session
    /// and of `watch = true` calls, with exactly the C values. An OS failure
    /// (C's NULL return) is [`Error::Init`] with `errno`.
    pub fn init(
        hosts: &str,
        watcher: impl Fn(WatchedEvent) + Send + Sync + 'static,
        recv_timeout_ms: i32,
        client_id: Option<ClientId>,
        flags: i32,
    ) -> Result<ZooKeeper> {
        let mut b = Self::builder(hosts)
            .watcher(watcher)
            .session_timeout_ms(recv_timeout_ms.into())
            .flags(flags);
        b.client_id = client_id;
        b.init()
    }

    fn init_inner(b: ZooKeeperBuilder) -> Result<ZooKeeper> {
        check_hosts(&b.hosts)?;
        let timeout = check_timeout_ms(b.recv_timeout_ms, "session timeout")?;
        if b.flags & !(ZOO_READONLY | ZOO_NO_LOG_CLIENTENV) != 0 {
            return Err(Error::invalid(
                Argument::Other,
                format!("unknown zookeeper_init flags {:#x}", b.flags),
            ));
        }
        let hosts = c_text(&b.hosts, Argument::Hosts)?;
        let signal = Arc::new(SessionSignal::default());
        let global = Box::into_raw(Box::new(GlobalContext {
            watcher: b.watcher,
            signal: signal.clone(),
        }));
        let raw_id = b.client_id.map(ClientId::to_raw);
        let id_ptr = raw_id.as_ref().map_or(std::ptr::null(), |r| r as *const _);
        let log_cb: zk_sys::log_callback_fn = if b.log_to_rust {
            Some(crate::logging::log_bridge)
        } else {
            None
        };
        // SAFETY: valid C strings; the callback and its context (freed only
        // after zookeeper_close) outlive the handle; the clientid is copied.
        let zh = unsafe {
            zk_sys::zookeeper_init2(
                hosts.as_ptr(),
                Some(callback::global_watcher),
                timeout,
                id_ptr,
                global as *mut c_void,
                b.flags,
                log_cb,
            )
        };
        if zh.is_null() {
            let err = std::io::Error::last_os_error();
            // SAFETY: C did not keep the context: init failed.
            drop(unsafe { Box::from_raw(global) });
            return Err(Error::Init(err));
        }
        Ok(ZooKeeper {
            shared: Arc::new(Shared {
                zh: RwLock::new(RawHandle(zh)),
                closing: AtomicBool::new(false),
                owned: true,
                global: parking_lot::Mutex::new(GlobalPtr(global)),
                registry: Some(Arc::new(Registry::default())),
                signal: Some(signal),
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
            shared: Arc::new(Shared {
                zh: RwLock::new(RawHandle(zh)),
                closing: AtomicBool::new(false),
                owned,
                global: parking_lot::Mutex::new(GlobalPtr(std::ptr::null_mut())),
                registry: owned.then(|| Arc::new(Registry::default())),
                signal: None,
            }),
        }
    }

    /// The raw `zhandle_t*`, for C/C++ code sharing this session. Valid until
    /// this handle is closed; do not close it from C.
    pub fn as_raw(&self) -> *mut zk_sys::zhandle_t {
        self.shared.zh.read().0
    }

    /// The live C handle, guarded against a concurrent close.
    pub(crate) fn handle(&self) -> Result<RwLockReadGuard<'_, RawHandle>> {
        if self.shared.closing.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        // On the completion thread a blocking read could wait on a closer that
        // is itself joining this thread: a failed try means "closing".
        let guard = if callback::in_callback() {
            self.shared.zh.try_read().ok_or(Error::Closed)?
        } else {
            self.shared.zh.read()
        };
        if guard.0.is_null() {
            return Err(Error::Closed);
        }
        Ok(guard)
    }

    pub(crate) fn registry(&self) -> Option<&Arc<Registry>> {
        self.shared.registry.as_ref()
    }

    /// Closes the session (`zookeeper_close`), returning C's result. Never
    /// closes twice: a second call is [`Error::Closed`]. In-flight async calls
    /// complete with [`ErrorCode::Closing`]. Called from a callback (the C
    /// completion thread, which `zookeeper_close` must join), the close is
    /// handed to a helper thread and this returns `Ok(())` at once; the same
    /// holds for dropping the last reference there, including a reference
    /// owned by a watcher or completion closure, freed after its last call.
    /// The helper frees the handle's callback contexts only after
    /// `zookeeper_close` has joined the completion thread, so C never calls
    /// a freed context (other watchers of the same event still run).
    pub fn close(&self) -> Result<()> {
        if !self.shared.owned {
            return Err(Error::invalid(
                Argument::Other,
                "a borrowed handle is closed by its C owner",
            ));
        }
        if self.shared.closing.swap(true, Ordering::AcqRel) {
            return Err(Error::Closed);
        }
        if callback::in_callback() {
            let shared = self.shared.clone();
            std::thread::Builder::new()
                .name("zkha-close".into())
                .spawn(move || {
                    if let Err(e) = shared.finish_close() {
                        log::warn!(target: "zkha", "deferred zookeeper_close: {e}");
                    }
                })
                .map_err(|e| {
                    Error::invalid(
                        Argument::Other,
                        format!("cannot start the closing thread: {e}"),
                    )
                })?;
            return Ok(());
        }
        self.shared.finish_close()
    }

    /// Whether `close` was called (or the handle dropped).
    pub fn is_closed(&self) -> bool {
        self.shared.closing.load(Ordering::Acquire)
    }

    /// Waits until the session is connected (SESSION/CONNECTED, or READONLY).
    /// Expiry and auth failure end the wait with their error.
    pub fn wait_connected(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.state()? {
                State::Connected | State::ReadOnly => return Ok(()),
                State::Expired => return Err(Error::Zk(ErrorCode::SessionExpired)),
                State::AuthFailed => return Err(Error::Zk(ErrorCode::AuthFailed)),
                _ => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout("waiting for the session to connect"));
            }
            let wait = (deadline - now).min(Duration::from_millis(50));
            match &self.shared.signal {
                Some(signal) => {
                    let mut state = signal.state.lock();
                    if *state != zk_sys::consts::ZOO_CONNECTED_STATE {
                        signal.changed.wait_for(&mut state, wait);
                    }
                }
                None => std::thread::sleep(wait),
            }
        }
    }

    /// `zoo_state`.
    pub fn state(&self) -> Result<State> {
        let zh = self.handle()?;
        // SAFETY: live handle.
        Ok(State::from_raw(unsafe { zk_sys::zoo_state(zh.0) }))
    }

    /// `zoo_recv_timeout`: the negotiated session timeout, in ms, once connected.
    pub fn recv_timeout(&self) -> Result<i32> {
        let zh = self.handle()?;
        // SAFETY: live handle.
        Ok(unsafe { zk_sys::zoo_recv_timeout(zh.0) })
    }

    /// `is_unrecoverable`: the session is expired or auth failed; only a new
    /// handle helps.
    pub fn is_unrecoverable(&self) -> Result<bool> {
        let zh = self.handle()?;
        // SAFETY: live handle.
        Ok(unsafe { zk_sys::is_unrecoverable(zh.0) } == zk_sys::ZINVALIDSTATE)
    }

    /// `zoo_client_id`: the session's id and password (valid once connected).
    pub fn client_id(&self) -> Result<ClientId> {
        let zh = self.handle()?;
        // SAFETY: live handle; the struct is copied at once.
        let raw = unsafe { &*zk_sys::zoo_client_id(zh.0) };
        Ok(ClientId::from_raw(raw))
    }

    /// `zoo_get_current_server`: `host:port` being used (or tried).
    pub fn current_server(&self) -> Result<String> {
        let zh = self.handle()?;
        // SAFETY: live handle; the returned text is copied at once.
        let p = unsafe { zk_sys::zoo_get_current_server(zh.0) };
        Ok(crate::client::raw::string_from_c(p))
    }

    /// `zoo_set_servers`: a new server list (rebalances clients).
    pub fn set_servers(&self, hosts: &str) -> Result<()> {
        check_hosts(hosts)?;
        if hosts.contains('/') {
            return Err(Error::invalid(
                Argument::Hosts,
                "set_servers takes no chroot",
            ));
        }
        let c = c_text(hosts, Argument::Hosts)?;
        let zh = self.handle()?;
        // SAFETY: live handle, valid C string.
        check(unsafe { zk_sys::zoo_set_servers(zh.0, c.as_ptr()) })
    }

    // ---------------------------------------------------------------------
    // Synchronous operations.

    /// `zoo_create` (or `zoo_create_ttl`): returns the created path (with
    /// the sequence suffix for sequential modes).
    pub fn create(&self, path: &str, data: &[u8], acl: &[Acl], mode: CreateMode) -> Result<String> {
        self.create_inner(path, data, acl, mode, None)
    }

    /// `zoo_create2` (or `zoo_create2_ttl`): the created path and its Stat.
    pub fn create2(
        &self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        mode: CreateMode,
    ) -> Result<(String, Stat)> {
        let mut stat = zk_sys::Stat::default();
        let p = self.create_inner(path, data, acl, mode, Some(&mut stat))?;
        Ok((p, stat.into()))
    }

    fn create_inner(
        &self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        mode: CreateMode,
        stat: Option<&mut zk_sys::Stat>,
    ) -> Result<String> {
        let cpath = c_path(path, mode.is_sequential())?;
        check_data(data)?;
        let ttl = mode.ttl();
        if matches!(
            mode,
            CreateMode::PersistentWithTtl { .. } | CreateMode::PersistentSequentialWithTtl { .. }
        ) && ttl <= 0
        {
            return Err(Error::invalid(
                Argument::Timeout,
                format!("TTL must be positive, got {ttl} ms"),
            ));
        }
        let mut cacl = CAcl::new(acl)?;
        let vector = cacl.vector();
        let mut out = vec![0 as c_char; path.len() + 32];
        let zh = self.handle()?;
        let value = data.as_ptr() as *const c_char;
        let len = data.len() as c_int;
        // SAFETY: live handle; valid path, `len` bytes of data, ACL vector and
        // output buffer of the given size, all alive during the call.
        let rc = unsafe {
            match (stat, ttl > 0) {
                (None, false) => zk_sys::zoo_create(
                    zh.0,
                    cpath.as_ptr(),
                    value,
                    len,
                    &vector,
                    mode.raw(),
                    out.as_mut_ptr(),
                    out.len() as c_int,
                ),
                (None, true) => zk_sys::zoo_create_ttl(
                    zh.0,
                    cpath.as_ptr(),
                    value,
                    len,
                    &vector,
                    mode.raw(),
                    ttl,
                    out.as_mut_ptr(),
                    out.len() as c_int,
                ),
                (Some(s), false) => zk_sys::zoo_create2(
                    zh.0,
                    cpath.as_ptr(),
                    value,
                    len,
                    &vector,
                    mode.raw(),
                    out.as_mut_ptr(),
                    out.len() as c_int,
                    s,
                ),
                (Some(s), true) => zk_sys::zoo_create2_ttl(
                    zh.0,
                    cpath.as_ptr(),
                    value,
                    len,
                    &vector,
                    mode.raw(),
                    ttl,
                    out.as_mut_ptr(),
                    out.len() as c_int,
                    s,
                ),
            }
        };
        check(rc)?;
        // SAFETY: on success C wrote a NUL-terminated path into `out`.
        Ok(unsafe { CStr::from_ptr(out.as_ptr()) }
            .to_string_lossy()
            .into_owned())
    }

    /// `zoo_delete`; `version` -1 matches any version.
    pub fn delete(&self, path: &str, version: i32) -> Result<()> {
        let cpath = c_path(path, false)?;
        let zh = self.handle()?;
        // SAFETY: live handle, valid path.
        check(unsafe { zk_sys::zoo_delete(zh.0, cpath.as_ptr(), version) })
    }

    /// `zoo_exists`: the Stat, or `None` for no node. `watch` sets a watch
    /// reported to the global watcher.
    pub fn exists(&self, path: &str, watch: bool) -> Result<Option<Stat>> {
        let cpath = c_path(path, false)?;
        let mut stat = zk_sys::Stat::default();
        let zh = self.handle()?;
        // SAFETY: live handle, valid path and Stat out-parameter.
        let rc = unsafe { zk_sys::zoo_exists(zh.0, cpath.as_ptr(), watch as c_int, &mut stat) };
        exists_result(rc, stat)
    }

    /// `zoo_wexists`: like `exists`, with a one-shot watcher of its own. It
    /// is called on session events while set, and last on the node event.
    pub fn wexists(
        &self,
        path: &str,
        watcher: impl FnMut(WatchedEvent) + Send + 'static,
    ) -> Result<Option<Stat>> {
        let cpath = c_path(path, false)?;
        let mut stat = zk_sys::Stat::default();
        let zh = self.handle()?;
        let ctx = callback::new_watch(Box::new(watcher), self.registry());
        // SAFETY: live handle, valid path, our trampoline with its context.
        let rc = unsafe {
            zk_sys::zoo_wexists(
                zh.0,
                cpath.as_ptr(),
                Some(callback::path_watcher),
                ctx,
                &mut stat,
            )
        };
        // C registers the watch only when the call succeeds (ZOK: data watch,
        // ZNONODE: exists watch).
        if rc != zk_sys::ZOK && rc != zk_sys::ZNONODE {
            callback::discard_watch(ctx);
        }
        exists_result(rc, stat)
    }

    /// `zoo_get`: the whole value (any size up to the server's limit; never
    /// truncated) and its Stat.
    pub fn get(&self, path: &str, watch: bool) -> Result<(Vec<u8>, Stat)> {
        self.get_inner(path, |zh, cpath, buf, len, stat| {
            // SAFETY: (caller) live handle, valid path, buffer and Stat.
            unsafe { zk_sys::zoo_get(zh, cpath, watch as c_int, buf, len, stat) }
        })
    }

    /// `zoo_wget`: like `get`, with a one-shot watcher of its own.
    pub fn wget(
        &self,
        path: &str,
        watcher: impl FnMut(WatchedEvent) + Send + 'static,
    ) -> Result<(Vec<u8>, Stat)> {
        let mut watcher: Option<callback::PathWatcher> = Some(Box::new(watcher));
        let registry = self.registry().cloned();
        self.get_inner(path, move |zh, cpath, buf, len, stat| {
            // A retry for a larger value re-registers the same watcher.
            let ctx = match watcher.take() {
                Some(w) => callback::new_watch(w, registry.as_ref()),
                None => std::ptr::null_mut(),
            };
            // SAFETY: (caller) live handle, valid path, buffer and Stat;
            // our trampoline with its context.
            let rc = unsafe {
                zk_sys::zoo_wget(zh, cpath, Some(callback::path_watcher), ctx, buf, len, stat)
            };
            if rc != zk_sys::ZOK && !ctx.is_null() {
                callback::discard_watch(ctx);
            }
            rc
        })
    }

    fn get_inner(
        &self,
        path: &str,
        mut call: impl FnMut(
            *mut zk_sys::zhandle_t,
            *const c_char,
            *mut c_char,
            *mut c_int,
            *mut zk_sys::Stat,
        ) -> c_int,
    ) -> Result<(Vec<u8>, Stat)> {
        let cpath = c_path(path, false)?;
        let zh = self.handle()?;
        let mut want = DEFAULT_READ;
        loop {
            let mut stat = zk_sys::Stat::default();
            let (rc, len) = with_read_buffer(want, |buf, cap| {
                let mut len = cap;
                let rc = call(zh.0, cpath.as_ptr(), buf, &mut len, &mut stat);
                (rc, len)
            });
            check(rc)?;
            // A server allowing values beyond the buffer: read again, bigger.
            if stat.dataLength as usize > want {
                want = stat.dataLength as usize;
                continue;
            }
            return Ok((copy_read_buffer(len), stat.into()));
        }
    }

    /// `zoo_set`; `version` -1 matches any version.
    pub fn set(&self, path: &str, data: &[u8], version: i32) -> Result<()> {
        let cpath = c_path(path, false)?;
        check_data(data)?;
        let zh = self.handle()?;
        // SAFETY: live handle, valid path and `data.len()` bytes.
        check(unsafe {
            zk_sys::zoo_set(
                zh.0,
                cpath.as_ptr(),
                data.as_ptr() as *const c_char,
                data.len() as c_int,
                version,
            )
        })
    }

    /// `zoo_set2`: like `set`, returning the new Stat.
    pub fn set2(&self, path: &str, data: &[u8], version: i32) -> Result<Stat> {
        let cpath = c_path(path, false)?;
        check_data(data)?;
        let mut stat = zk_sys::Stat::default();
        let zh = self.handle()?;
        // SAFETY: live handle, valid path, data and Stat out-parameter.
        check(unsafe {
            zk_sys::zoo_set2(
                zh.0,
                cpath.as_ptr(),
                data.as_ptr() as *const c_char,
                data.len() as c_int,
                version,
                &mut stat,
            )
        })?;
        Ok(stat.into())
    }

    /// `zoo_get_children`.
    pub fn get_children(&self, path: &str, watch: bool) -> Result<Vec<String>> {
        self.children(path, Children::Plain { watch, stat: false })
            .map(|(c, _)| c)
    }

    /// `zoo_get_children2`: the children and the parent's Stat.
    pub fn get_children2(&self, path: &str, watch: bool) -> Result<(Vec<String>, Stat)> {
        self.children(path, Children::Plain { watch, stat: true })
    }

    /// `zoo_wget_children`: with a one-shot watcher of its own.
    pub fn wget_children(
        &self,
        path: &str,
        watcher: impl FnMut(WatchedEvent) + Send + 'static,
    ) -> Result<Vec<String>> {
        self.children(
            path,
            Children::Watch {
                watcher: Box::new(watcher),
                stat: false,
            },
        )
        .map(|(c, _)| c)
    }

    /// `zoo_wget_children2`: with a one-shot watcher, and the parent's Stat.
    pub fn wget_children2(
        &self,
        path: &str,
        watcher: impl FnMut(WatchedEvent) + Send + 'static,
    ) -> Result<(Vec<String>, Stat)> {
        self.children(
            path,
            Children::Watch {
                watcher: Box::new(watcher),
                stat: true,
            },
        )
    }

    fn children(&self, path: &str, call: Children) -> Result<(Vec<String>, Stat)> {
        let cpath = c_path(path, false)?;
        let mut v = zk_sys::String_vector::default();
        let mut stat = zk_sys::Stat::default();
        let zh = self.handle()?;
        let (zh, p) = (zh.0, cpath.as_ptr());
        // SAFETY: (all four calls) live handle (guard held), valid path,
        // vector and Stat out-parameters; our trampoline with its context.
        let rc = match call {
            Children::Plain { watch, stat: false } => unsafe {
                zk_sys::zoo_get_children(zh, p, watch as c_int, &mut v)
            },
            // SAFETY: as above.
            Children::Plain { watch, stat: true } => unsafe {
                zk_sys::zoo_get_children2(zh, p, watch as c_int, &mut v, &mut stat)
            },
            Children::Watch {
                watcher,
                stat: with_stat,
            } => {
                let ctx = callback::new_watch(watcher, self.registry());
                let w: zk_sys::watcher_fn = Some(callback::path_watcher);
                let rc = if with_stat {
                    // SAFETY: as above, with our trampoline and its context.
                    unsafe { zk_sys::zoo_wget_children2(zh, p, w, ctx, &mut v, &mut stat) }
                } else {
                    // SAFETY: as above, with our trampoline and its context.
                    unsafe { zk_sys::zoo_wget_children(zh, p, w, ctx, &mut v) }
                };
                if rc != zk_sys::ZOK {
                    callback::discard_watch(ctx);
                }
                rc
            }
        };
        check(rc)?;
        let children = strings_from_c(&v);
        // SAFETY: C allocated the vector's contents on success; freed once.
        unsafe { zk_sys::deallocate_String_vector(&mut v) };
        Ok((children, stat.into()))
    }

    /// `zoo_get_acl`: the node's ACL and Stat.
    pub fn get_acl(&self, path: &str) -> Result<(Vec<Acl>, Stat)> {
        let cpath = c_path(path, false)?;
        let mut v = zk_sys::ACL_vector::default();
        let mut stat = zk_sys::Stat::default();
        let zh = self.handle()?;
        // SAFETY: live handle, valid path, vector and Stat out-parameters.
        check(unsafe { zk_sys::zoo_get_acl(zh.0, cpath.as_ptr(), &mut v, &mut stat) })?;
        let acl = acl_from_c(&v);
        // SAFETY: C allocated the vector's contents on success; freed once.
        unsafe { zk_sys::deallocate_ACL_vector(&mut v) };
        Ok((acl, stat.into()))
    }

    /// `zoo_set_acl`; `version` is the ACL version (-1: any).
    pub fn set_acl(&self, path: &str, version: i32, acl: &[Acl]) -> Result<()> {
        let cpath = c_path(path, false)?;
        let mut cacl = CAcl::new(acl)?;
        let vector = cacl.vector();
        let zh = self.handle()?;
        // SAFETY: live handle, valid path and ACL vector.
        check(unsafe { zk_sys::zoo_set_acl(zh.0, cpath.as_ptr(), version, &vector) })
    }

    /// `zoo_add_auth`, waiting for the server's answer. With a wrong
    /// credential the server ends the session (state AUTH_FAILED). From a
    /// callback: [`Error::CalledFromCallback`] (the answer is delivered on
    /// the completion thread).
    pub fn add_auth(&self, scheme: &str, cert: &[u8]) -> Result<()> {
        if scheme.is_empty() {
            return Err(Error::invalid(Argument::Acl, "empty auth scheme"));
        }
        let cscheme = c_text(scheme, Argument::Acl)?;
        let (tx, rx) = mpsc::sync_channel::<Result<()>>(1);
        crate::client::async_ops::refuse_in_callback("add_auth")?;
        {
            let zh = self.handle()?;
            let ctx = callback::new_completion::<()>(
                Box::new(move |r| drop(tx.send(r))),
                self.registry(),
                None,
            );
            // SAFETY: live handle, valid scheme and `cert.len()` bytes; our
            // completion trampoline with its context.
            let rc = unsafe {
                zk_sys::zoo_add_auth(
                    zh.0,
                    cscheme.as_ptr(),
                    cert.as_ptr() as *const c_char,
                    cert.len() as c_int,
                    Some(crate::client::async_ops::void_done),
                    ctx,
                )
            };
            if rc != zk_sys::ZOK {
                callback::discard_completion::<()>(ctx);
                return check(rc);
            }
        }
        rx.recv().unwrap_or(Err(Error::Closed))
    }

    /// `zoo_async` (sync): waits until the server the client is connected to
    /// has caught up with the leader for `path`. From a callback:
    /// [`Error::CalledFromCallback`]; use [`ZooKeeper::async_sync`] there.
    pub fn sync(&self, path: &str) -> Result<()> {
        let (tx, rx) = mpsc::sync_channel::<Result<String>>(1);
        crate::client::async_ops::refuse_in_callback("sync")?;
        self.async_sync(path, move |r| drop(tx.send(r)))?;
        rx.recv().unwrap_or(Err(Error::Closed)).map(|_| ())
    }

    /// `zoo_getconfig`: the ensemble configuration text and its Stat.
    pub fn getconfig(&self, watch: bool) -> Result<(String, Stat)> {
        let zh = self.handle()?;
        let mut stat = zk_sys::Stat::default();
        let (rc, len) = with_read_buffer(DEFAULT_READ, |buf, cap| {
            let mut len = cap;
            // SAFETY: live handle, buffer of `len` bytes, Stat out-parameter.
            let rc =
                unsafe { zk_sys::zoo_getconfig(zh.0, watch as c_int, buf, &mut len, &mut stat) };
            (rc, len)
        });
        check(rc)?;
        Ok((
            String::from_utf8_lossy(&copy_read_buffer(len)).into_owned(),
            stat.into(),
        ))
    }

    /// `zoo_remove_all_watches`: removes the watches of `kind` on `path`
    /// (`local`: even without a server). The C client calls removed watchers
    /// no more (no NOTWATCHING event), so their closures are freed at close.
    pub fn remove_all_watches(&self, path: &str, kind: WatcherType, local: bool) -> Result<()> {
        let cpath = c_path(path, false)?;
        let zh = self.handle()?;
        // SAFETY: live handle, valid path.
        check(unsafe {
            zk_sys::zoo_remove_all_watches(zh.0, cpath.as_ptr(), kind.raw(), local as c_int)
        })
    }

    /// Callback contexts still held for C (path watchers not yet fired,
    /// completions not yet called): for leak checks.
    pub fn outstanding_callbacks(&self) -> usize {
        self.registry().map_or(0, |r| r.len())
    }
}

enum Children {
    Plain {
        watch: bool,
        stat: bool,
    },
    Watch {
        watcher: callback::PathWatcher,
        stat: bool,
    },
}

fn exists_result(rc: c_int, stat: zk_sys::Stat) -> Result<Option<Stat>> {
    match rc {
        zk_sys::ZOK => Ok(Some(stat.into())),
        zk_sys::ZNONODE => Ok(None),
        rc => check(rc).map(|_| None),
    }
}

/// Closes an owned handle not closed yet. On a callback thread (including
/// the freeing of a watcher or completion closure that owned the last
/// reference) the close is deferred to a helper thread, as in `close`.
impl Drop for ZooKeeper {
    fn drop(&mut self) {
        if self.shared.owned && !self.shared.closing.load(Ordering::Acquire) {
            if let Err(e) = self.close() {
                log::debug!(target: "zkha", "zookeeper_close on drop: {e}");
            }
        }
    }
}

impl std::fmt::Debug for ZooKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZooKeeper")
            .field("zh", &self.shared.zh.try_read().map(|g| g.0))
            .field("owned", &self.shared.owned)
            .field("closed", &self.is_closed())
            .finish()
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<ZooKeeper>();
}
