//! `zkha demo`, minimal form: the seed design's master node (S1, S5, S6) made
//! with the raw C client on an embedded server, read back and released.

use std::error::Error;
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_void};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use zk_sys::consts::*;
use zkha::testing::TestingServer;

extern "C" fn watcher(
    _zh: *mut zk_sys::zhandle_t,
    type_: c_int,
    state: c_int,
    _p: *const c_char,
    ctx: *mut c_void,
) {
    let _ = std::panic::catch_unwind(|| {
        if type_ == ZOO_SESSION_EVENT {
            // SAFETY: ctx is the Sender owned by `run`, alive until after zookeeper_close.
            let tx = unsafe { &*(ctx as *const mpsc::Sender<c_int>) };
            let _ = tx.send(state);
        }
    });
}

fn check(rc: c_int, what: &str) -> Result<(), Box<dyn Error>> {
    if rc == zk_sys::ZOK {
        return Ok(());
    }
    // SAFETY: zerror returns a static string for any code.
    let text = unsafe { CStr::from_ptr(zk_sys::zerror(rc)) }.to_string_lossy();
    Err(format!("{what} failed: ({rc}){text}").into())
}

pub fn run(hosts: Option<&str>, path: &str) -> Result<(), Box<dyn Error>> {
    let started = Instant::now();
    let step = |msg: &str| println!("[{:>6.2}s] {msg}", started.elapsed().as_secs_f64());
    let parent = match path.rfind('/') {
        Some(i) if i > 0 && !path.ends_with('/') => &path[..i],
        _ => return Err(format!("--path {path:?} must look like /parent/name").into()),
    };
    let server;
    let hosts = match hosts {
        Some(h) => h.to_owned(),
        None => {
            step("starting an embedded ZooKeeper server (Debian's zookeeper 3.8)");
            server = TestingServer::start()?;
            server.connect_string().to_owned()
        }
    };
    step(&format!(
        "zookeeper_init(\"{hosts}\", watcher, 5000, NULL, ctx, 0)"
    ));
    // SAFETY: sets a process-wide integer in the C client.
    unsafe { zk_sys::zoo_set_debug_level(zk_sys::ZOO_LOG_LEVEL_WARN) };
    let (tx, rx) = mpsc::channel::<c_int>();
    let chosts = CString::new(hosts.clone())?;
    // SAFETY: valid C string and callback; `tx` outlives the handle (closed below).
    let zh = unsafe {
        zk_sys::zookeeper_init(
            chosts.as_ptr(),
            Some(watcher),
            5000,
            std::ptr::null(),
            &tx as *const _ as *mut c_void,
            0,
        )
    };
    if zh.is_null() {
        return Err(format!("zookeeper_init failed: {}", std::io::Error::last_os_error()).into());
    }
    let result = (|| -> Result<(), Box<dyn Error>> {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(s) if s == ZOO_CONNECTED_STATE => {}
            Ok(s) => return Err(format!("session state {s} instead of CONNECTED").into()),
            Err(_) => return Err(format!("no connection to {hosts} within 30 s").into()),
        }
        // SAFETY: live handle; the id is copied.
        let id = unsafe { *zk_sys::zoo_client_id(zh) };
        // SAFETY: live handle.
        let timeout = unsafe { zk_sys::zoo_recv_timeout(zh) };
        step(&format!(
            "connected: session 0x{:x}, negotiated timeout {timeout} ms",
            id.client_id
        ));

        let cparent = CString::new(parent)?;
        // SAFETY: valid handle, path and static open ACL; no output buffer.
        let rc = unsafe {
            zk_sys::zoo_create(
                zh,
                cparent.as_ptr(),
                std::ptr::null(),
                -1,
                std::ptr::addr_of_mut!(zk_sys::ZOO_OPEN_ACL_UNSAFE),
                ZOO_PERSISTENT,
                std::ptr::null_mut(),
                0,
            )
        };
        if rc != zk_sys::ZNODEEXISTS {
            check(rc, &format!("create parent {parent}"))?;
        }
        let ip = zkha::net::primary_ip();
        let data = zkha::net::seed_node_data(&ip);
        let cpath = CString::new(path)?;
        // SAFETY: as above, with `data.len()` bytes of data.
        let rc = unsafe {
            zk_sys::zoo_create(
                zh,
                cpath.as_ptr(),
                data.as_ptr() as *const c_char,
                data.len() as c_int,
                std::ptr::addr_of_mut!(zk_sys::ZOO_OPEN_ACL_UNSAFE),
                ZOO_EPHEMERAL,
                std::ptr::null_mut(),
                0,
            )
        };
        check(rc, &format!("become master[{path}]"))?;
        step(&format!(
            "became master: created ephemeral {path} with data \"{ip}\\0\" ({} bytes)",
            data.len()
        ));

        let mut buf = vec![0u8; 1024];
        let mut len = buf.len() as c_int;
        let mut stat = zk_sys::Stat::default();
        // SAFETY: valid path, buffer of `len` bytes, Stat out-parameter.
        let rc = unsafe {
            zk_sys::zoo_get(
                zh,
                cpath.as_ptr(),
                0,
                buf.as_mut_ptr() as *mut c_char,
                &mut len,
                &mut stat,
            )
        };
        check(rc, "zoo_get")?;
        buf.truncate(len.max(0) as usize);
        step(&format!(
            "read back: {:?}, ephemeralOwner 0x{:x} (ours: {}), czxid 0x{:x}",
            String::from_utf8_lossy(&buf),
            stat.ephemeralOwner,
            stat.ephemeralOwner == id.client_id,
            stat.czxid
        ));
        if buf != data {
            return Err("the node's bytes differ from what was written".into());
        }
        Ok(())
    })();
    // SAFETY: zh is live and closed exactly once; `tx` is still alive.
    let rc = unsafe { zk_sys::zookeeper_close(zh) };
    step(&format!(
        "zookeeper_close: rc {rc}; the ephemeral node goes with the session"
    ));
    result?;
    step("done");
    Ok(())
}
