//! A minimal raw zk-sys session for tests that exercise the C client itself:
//! a C watcher that records every event, and a few synchronous calls.
#![allow(dead_code)]

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_void};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use zk_sys::consts::*;

/// One watcher call: (type, state, path).
pub type Event = (c_int, c_int, String);

#[derive(Default)]
struct Events {
    list: Mutex<Vec<Event>>,
    cv: Condvar,
}

extern "C" fn record_event(
    _zh: *mut zk_sys::zhandle_t,
    type_: c_int,
    state: c_int,
    path: *const c_char,
    ctx: *mut c_void,
) {
    // No panic may cross into C.
    let _ = std::panic::catch_unwind(|| {
        let path = if path.is_null() {
            String::new()
        } else {
            // SAFETY: the C client passes a NUL-terminated path valid for this call.
            unsafe { CStr::from_ptr(path) }
                .to_string_lossy()
                .into_owned()
        };
        // SAFETY: ctx is the `Events` owned by the RawSession, which outlives the
        // handle (zookeeper_close runs before it is dropped).
        let events = unsafe { &*(ctx as *const Events) };
        events.list.lock().unwrap().push((type_, state, path));
        events.cv.notify_all();
    });
}

/// A C client handle with a recording global watcher; closed on drop.
pub struct RawSession {
    pub zh: *mut zk_sys::zhandle_t,
    events: Arc<Events>,
}

// SAFETY: the multithreaded C client's handle may be used from any thread.
unsafe impl Send for RawSession {}
// SAFETY: as above; the recorded events are behind a Mutex.
unsafe impl Sync for RawSession {}

/// Keeps the C client's own log to warnings and errors during tests.
pub fn quiet_c_log() {
    // SAFETY: sets a process-wide integer in the C client.
    unsafe { zk_sys::zoo_set_debug_level(zk_sys::ZOO_LOG_LEVEL_WARN) };
}

impl RawSession {
    /// `zookeeper_init(hosts, watcher, timeout_ms, clientid, ctx, 0)`.
    pub fn init(
        hosts: &str,
        timeout_ms: c_int,
        clientid: Option<&zk_sys::clientid_t>,
    ) -> RawSession {
        quiet_c_log();
        let events = Arc::new(Events::default());
        let hosts = CString::new(hosts).unwrap();
        let cid = clientid.map_or(std::ptr::null(), |c| c as *const _);
        // SAFETY: valid C strings and callback; the context outlives the handle.
        let zh = unsafe {
            zk_sys::zookeeper_init(
                hosts.as_ptr(),
                Some(record_event),
                timeout_ms,
                cid,
                Arc::as_ptr(&events) as *mut c_void,
                0,
            )
        };
        assert!(
            !zh.is_null(),
            "zookeeper_init failed: {}",
            std::io::Error::last_os_error()
        );
        RawSession { zh, events }
    }

    /// `init` then wait for SESSION/CONNECTED.
    pub fn connect(hosts: &str, timeout_ms: c_int) -> RawSession {
        let s = Self::init(hosts, timeout_ms, None);
        s.wait_for(
            ZOO_SESSION_EVENT,
            ZOO_CONNECTED_STATE,
            Duration::from_secs(30),
        )
        .expect("no SESSION/CONNECTED event within 30 s");
        s
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.list.lock().unwrap().clone()
    }

    /// Waits for an event (type, state) not yet consumed by a previous wait;
    /// returns its index.
    pub fn wait_for(&self, type_: c_int, state: c_int, timeout: Duration) -> Option<usize> {
        self.wait_for_after(0, type_, state, timeout)
    }

    /// Waits for an event (type, state) at index `from` or later.
    pub fn wait_for_after(
        &self,
        from: usize,
        type_: c_int,
        state: c_int,
        timeout: Duration,
    ) -> Option<usize> {
        let deadline = Instant::now() + timeout;
        let mut list = self.events.list.lock().unwrap();
        loop {
            if let Some(i) = list
                .iter()
                .skip(from)
                .position(|e| e.0 == type_ && e.1 == state)
            {
                return Some(from + i);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            list = self.events.cv.wait_timeout(list, deadline - now).unwrap().0;
        }
    }

    pub fn client_id(&self) -> zk_sys::clientid_t {
        // SAFETY: zh is a live handle; the result points into it and is copied.
        unsafe { *zk_sys::zoo_client_id(self.zh) }
    }

    pub fn state(&self) -> c_int {
        // SAFETY: zh is a live handle.
        unsafe { zk_sys::zoo_state(self.zh) }
    }

    pub fn current_server(&self) -> String {
        // SAFETY: zh is a live handle; the returned C string is copied at once.
        unsafe { CStr::from_ptr(zk_sys::zoo_get_current_server(self.zh)) }
            .to_string_lossy()
            .into_owned()
    }

    /// `zoo_create` with the open ACL; returns the created path or the rc.
    pub fn create(&self, path: &str, data: &[u8], mode: c_int) -> Result<String, c_int> {
        let cpath = CString::new(path).unwrap();
        let mut buf = vec![0 as c_char; path.len() + 64];
        // SAFETY: valid path, data and output buffer of the given lengths;
        // ZOO_OPEN_ACL_UNSAFE is a static of the C client that it only reads.
        let rc = unsafe {
            zk_sys::zoo_create(
                self.zh,
                cpath.as_ptr(),
                data.as_ptr() as *const c_char,
                data.len() as c_int,
                std::ptr::addr_of_mut!(zk_sys::ZOO_OPEN_ACL_UNSAFE),
                mode,
                buf.as_mut_ptr(),
                buf.len() as c_int,
            )
        };
        if rc != zk_sys::ZOK {
            return Err(rc);
        }
        // SAFETY: on ZOK the C client wrote a NUL-terminated path into buf.
        Ok(unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned())
    }

    /// `zoo_get` without watch; returns (data, stat) or the rc.
    pub fn get(&self, path: &str) -> Result<(Vec<u8>, zk_sys::Stat), c_int> {
        let cpath = CString::new(path).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let mut len = buf.len() as c_int;
        let mut stat = zk_sys::Stat::default();
        // SAFETY: valid path, buffer of `len` bytes and Stat out-parameter.
        let rc = unsafe {
            zk_sys::zoo_get(
                self.zh,
                cpath.as_ptr(),
                0,
                buf.as_mut_ptr() as *mut c_char,
                &mut len,
                &mut stat,
            )
        };
        if rc != zk_sys::ZOK {
            return Err(rc);
        }
        buf.truncate(len.max(0) as usize);
        Ok((buf, stat))
    }

    /// `zoo_exists` without watch; `Ok(None)` for ZNONODE.
    pub fn exists(&self, path: &str) -> Result<Option<zk_sys::Stat>, c_int> {
        let cpath = CString::new(path).unwrap();
        let mut stat = zk_sys::Stat::default();
        // SAFETY: valid path and Stat out-parameter.
        let rc = unsafe { zk_sys::zoo_exists(self.zh, cpath.as_ptr(), 0, &mut stat) };
        match rc {
            zk_sys::ZOK => Ok(Some(stat)),
            zk_sys::ZNONODE => Ok(None),
            rc => Err(rc),
        }
    }

    /// `zookeeper_close`; returns its rc.
    pub fn close(mut self) -> c_int {
        let zh = std::mem::replace(&mut self.zh, std::ptr::null_mut());
        // SAFETY: zh is live and closed exactly once (Drop sees null).
        unsafe { zk_sys::zookeeper_close(zh) }
    }
}

impl Drop for RawSession {
    fn drop(&mut self) {
        if !self.zh.is_null() {
            // SAFETY: zh is live and closed exactly once.
            unsafe { zk_sys::zookeeper_close(self.zh) };
        }
    }
}

/// Waits until `f` holds or `timeout` passes; returns whether it held.
/// With `ZKHA_TEST_FAIL_FAST` set (mutation testing does), the first test
/// that fails ends the whole test binary: a mutant that breaks everything
/// would otherwise make every test wait out its own deadline. Only panics
/// of test threads count (libtest names them after the test), not those
/// of zkha's threads, which the code under test may catch on purpose.
pub fn fail_fast() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if std::env::var_os("ZKHA_TEST_FAIL_FAST").is_none() {
        return;
    }
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("");
            if !name.is_empty() && name != "main" && !name.starts_with("zkha") {
                eprintln!("ZKHA_TEST_FAIL_FAST: {name} failed, ending the test binary");
                kill_children();
                std::process::exit(101);
            }
        }));
    });
}

/// SIGKILLs this process's children (the `zkha run`s a test started):
/// `exit` runs no destructor, and they must not outlive the test binary.
/// Their watchdogs then stop their commands.
fn kill_children() {
    let me = std::process::id().to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(") ")
            .and_then(|(_, r)| r.split(' ').nth(1));
        if ppid == Some(me.as_str()) {
            // SAFETY: signals a child process of this test binary.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    fail_fast();
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The example binary `name` (`cargo test` builds examples; a filtered run
/// may not have, so build it then).
pub fn example(name: &str) -> std::path::PathBuf {
    // target/debug/deps/<test> -> target/debug/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    if !path.exists() {
        let ok = std::process::Command::new(env!("CARGO"))
            .args(["build", "--example", name])
            .status()
            .unwrap()
            .success();
        assert!(ok, "cannot build example {name}");
    }
    path
}
